//! Which of a deployment's outputs are endpoints nuvola can check for its
//! owner, and how: an `http(s)://` URL gets an HTTP check (status,
//! latency, certificate expiry), a `host:port` a TCP connect. Outputs are
//! whatever the template returned (strings, numbers, lists, objects); lists
//! and objects are looked into, so `endpoints: ["https://…", "https://…"]`
//! gives one check per URL.
//!
//! What is skipped, and why:
//! - a bare IP or name without a port (`node_ip: "1.2.3.4"`): there is no
//!   service to check on it, and a ping needs privileges nuvola does not
//!   take;
//! - text that is neither (a password, a user name, `"3"`), and URLs of
//!   other schemes (`ssh://…`), which nuvola has no check for;
//! - addresses nuvola cannot or must not reach: loopback, link-local,
//!   private (RFC 1918, IPv6 unique local), shared (RFC 6598), unspecified,
//!   broadcast, multicast and documentation ranges, and `localhost` or
//!   single-label names. nuvola probes from its own host across the
//!   internet: such an address names the prober itself or a network it is
//!   not on, so the check would call a healthy service down, and it would
//!   let a user aim nuvola's prober at services inside nuvola's own network.
//!   A DNS name can still resolve to one of those, so the prober checks
//!   the resolved address with [`is_checkable`] before it connects.
//!
//! And how soon an expiring certificate is worth telling ([`tls_expiry`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Map, Value};

/// One checkable endpoint among a deployment's outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where it was found: the output's name, then `[i]` for a list item
    /// and `.key` for an object's field (`endpoints[1]`, `k8s.dashboard`).
    /// The probe target is `endpoint/<deployment id>/<path>`.
    pub path: String,
    pub check: Check,
}

/// How an endpoint is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// GET the URL (as the output gave it, trimmed).
    Http { url: String },
    /// Open a TCP connection; `host` is a DNS name, an IPv4 address or an
    /// IPv6 address without brackets.
    Tcp { host: String, port: u16 },
}

/// Which addresses the prober may be aimed at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reach {
    /// Only addresses routed on the internet (see the module's note): what
    /// a server must do.
    #[default]
    Internet,
    /// Any address, loopback and private ones included: for tests and labs
    /// whose services all run on one host or network, never in production.
    Anywhere,
}

/// The checkable endpoints among `outputs`, in output order.
pub fn checkable(outputs: &Map<String, Value>) -> Vec<Endpoint> {
    checkable_within(outputs, Reach::Internet)
}

/// The endpoints among `outputs` the prober may check within `reach`.
pub fn checkable_within(outputs: &Map<String, Value>, reach: Reach) -> Vec<Endpoint> {
    let mut found = Vec::new();
    for (name, value) in outputs {
        walk(name.clone(), value, reach, &mut found);
    }
    found
}

fn walk(path: String, value: &Value, reach: Reach, found: &mut Vec<Endpoint>) {
    match value {
        Value::String(text) => {
            if let Some(check) = check_within(text, reach) {
                found.push(Endpoint { path, check });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(format!("{path}[{i}]"), item, reach, found);
            }
        }
        Value::Object(fields) => {
            for (key, item) in fields {
                walk(format!("{path}.{key}"), item, reach, found);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The check for one output string, if it is a checkable endpoint.
pub fn check_for(text: &str) -> Option<Check> {
    check_within(text, Reach::Internet)
}

/// The check for one output string, if it is an endpoint within `reach`.
pub fn check_within(text: &str, reach: Reach) -> Option<Check> {
    let anywhere = reach == Reach::Anywhere;
    let text = text.trim();
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let url = url::Url::parse(text).ok()?;
        let reachable = match url.host()? {
            url::Host::Domain(name) => anywhere || is_public_name(name),
            url::Host::Ipv4(ip) => anywhere || is_checkable(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => anywhere || is_checkable(IpAddr::V6(ip)),
        };
        return reachable.then(|| Check::Http { url: text.to_string() });
    }
    let (host, port) = split_host_port(text)?;
    let reachable = match host.parse::<IpAddr>() {
        Ok(ip) => anywhere || is_checkable(ip),
        Err(_) => is_dns_name(host) && (anywhere || is_public_name(host)),
    };
    reachable.then(|| Check::Tcp { host: host.to_string(), port })
}

/// `host:port` or `[v6]:port`, with a port from 1 to 65535.
fn split_host_port(text: &str) -> Option<(&str, u16)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(rest) => {
            let (v6, port) = rest.split_once("]:")?;
            v6.parse::<Ipv6Addr>().ok()?;
            (v6, port)
        }
        None => text.rsplit_once(':')?,
    };
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    (!host.is_empty()).then_some((host, port))
}

/// A DNS name: dot-separated labels of letters, digits and inner hyphens.
fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A name that may resolve on the internet: not `localhost` (nor under
/// it) and with more than one label.
fn is_public_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    name.contains('.') && name != "localhost" && !name.ends_with(".localhost")
}

/// Whether nuvola's prober may check an address: a unicast address routed
/// on the internet (see the module's note for what is left out).
pub fn is_checkable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_checkable_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_checkable_v4(v4),
            None => {
                let first = ip.segments()[0];
                !(ip.is_unspecified()
                    || ip.is_loopback()
                    || ip.is_multicast()
                    || first & 0xffc0 == 0xfe80 // link-local fe80::/10
                    || first & 0xfe00 == 0xfc00 // unique local fc00::/7
                    || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
            }
        },
    }
}

fn is_checkable_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || a >= 240)
}

/// How urgent an expiring TLS certificate is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CertificateSeverity {
    Fine,
    /// Under [`WARN_DAYS`] left: time to renew.
    Warning,
    /// Under [`CRITICAL_DAYS`] left, or expired: clients will refuse it.
    Critical,
}

/// Days left under which an expiring certificate is a warning.
pub const WARN_DAYS: i64 = 14;
/// Days left under which (or expired) it is critical.
pub const CRITICAL_DAYS: i64 = 3;

/// How urgent a certificate with `days_left` whole days of validity is
/// (negative once expired).
pub fn tls_expiry(days_left: i64) -> CertificateSeverity {
    match days_left {
        d if d < CRITICAL_DAYS => CertificateSeverity::Critical,
        d if d < WARN_DAYS => CertificateSeverity::Warning,
        _ => CertificateSeverity::Fine,
    }
}

/// Whole days left between `now` and a certificate's `not_after` (both ms
/// since the epoch), rounded down; negative once expired.
pub fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(86_400_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outputs(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("an object"),
        }
    }

    fn http(path: &str, url: &str) -> Endpoint {
        Endpoint { path: path.into(), check: Check::Http { url: url.into() } }
    }

    fn tcp(path: &str, host: &str, port: u16) -> Endpoint {
        Endpoint { path: path.into(), check: Check::Tcp { host: host.into(), port } }
    }

    #[test]
    fn a_jupyter_deployments_outputs() {
        // As the INFN Cloud Jupyter template returns them.
        let found = checkable(&outputs(json!({
            "jupyter_endpoint": "https://90.147.75.12:8888",
            "grafana_endpoint": "https://90.147.75.12:3000",
            "node_ip": "90.147.75.12",
            "os_users": [{"os_user_name": "cloudadm", "os_user_add_to_sudoers": true}],
            "ssh_account": "cloudadm",
        })));
        assert_eq!(
            found,
            [
                http("jupyter_endpoint", "https://90.147.75.12:8888"),
                http("grafana_endpoint", "https://90.147.75.12:3000"),
            ]
        );
    }

    #[test]
    fn a_kubernetes_cluster_lists_and_objects_are_looked_into() {
        let found = checkable(&outputs(json!({
            "k8s_endpoint": "https://k8s-master.cloud.infn.it:30443",
            "kubeconfig_api": "api.k8s.example.org:6443",
            "node_count": 3,
            "wn_ips": ["10.0.0.5", "10.0.0.6"],
            "endpoints": ["https://longhorn.example.org", "https://dashboard.example.org/ui/"],
            "ingress": {"public": "[2a00:1620:c0:40::12]:443", "private": "192.168.1.10:80"},
            "admin_token": "eyJhbGciOi.J9:bad",
        })));
        assert_eq!(
            found,
            [
                http("k8s_endpoint", "https://k8s-master.cloud.infn.it:30443"),
                tcp("kubeconfig_api", "api.k8s.example.org", 6443),
                http("endpoints[0]", "https://longhorn.example.org"),
                http("endpoints[1]", "https://dashboard.example.org/ui/"),
                tcp("ingress.public", "2a00:1620:c0:40::12", 443),
            ]
        );
    }

    #[test]
    fn host_and_port_forms() {
        assert_eq!(check_for(" 90.147.75.12:22 "), Some(Check::Tcp { host: "90.147.75.12".into(), port: 22 }));
        assert_eq!(check_for("[2a00:1620::1]:8080"), Some(Check::Tcp { host: "2a00:1620::1".into(), port: 8080 }));
        assert_eq!(check_for("HTTPS://Example.org/x"), Some(Check::Http { url: "HTTPS://Example.org/x".into() }));
        assert_eq!(
            check_for("http://[2a00:1620::1]:8080/"),
            Some(Check::Http { url: "http://[2a00:1620::1]:8080/".into() })
        );
        for skipped in [
            "90.147.75.12",          // no port
            "2a00:1620::1",          // an IPv6 address is not host:port
            "[2a00:1620::1]",        // nor with brackets and no port
            "example.org:0",         // no port 0
            "example.org:70000",     // nor over 65535
            "example.org:+80",       // a port is digits
            "cloudadm",              // text
            "Password:s3cret",       // a single label is no internet name
            "ssh://90.147.75.12:22", // no check for other schemes
            "https://",              // no host
            "",
        ] {
            assert_eq!(check_for(skipped), None, "{skipped:?}");
        }
    }

    #[test]
    fn addresses_the_prober_must_not_reach_are_skipped() {
        for unreachable in [
            "https://127.0.0.1:8888",
            "https://localhost:8888",
            "http://app.localhost/",
            "10.0.0.1:22",
            "172.16.4.2:22",
            "192.168.1.1:80",
            "169.254.169.254:80", // link-local: a cloud's metadata service
            "100.64.0.1:80",
            "0.0.0.0:80",
            "255.255.255.255:80",
            "224.0.0.1:80",
            "192.0.2.1:80", // documentation
            "[::1]:80",
            "[fe80::1]:80",
            "[fd00::1]:80",
            "[::]:80",
            "[::ffff:10.0.0.1]:80",
            "[2001:db8::1]:80",
            "http://[fe80::1]/",
        ] {
            assert_eq!(check_for(unreachable), None, "{unreachable:?}");
        }
        assert!(is_checkable("1.2.3.4".parse().unwrap()));
        assert!(is_checkable("2a00:1620:c0:40::12".parse().unwrap()));
        assert!(!is_checkable("::ffff:127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn a_lab_reaches_loopback_and_private_addresses_only_when_it_says_so() {
        let lab = outputs(json!({
            "web": "https://127.0.0.1:8443/", "db": "10.0.0.5:5432", "local": "localhost:80", "ip": "10.0.0.5",
        }));
        assert_eq!(checkable(&lab), []);
        assert_eq!(
            checkable_within(&lab, Reach::Anywhere),
            [http("web", "https://127.0.0.1:8443/"), tcp("db", "10.0.0.5", 5432), tcp("local", "localhost", 80)]
        );
    }

    #[test]
    fn expiring_certificates_warn_then_become_critical() {
        assert_eq!(tls_expiry(90), CertificateSeverity::Fine);
        assert_eq!(tls_expiry(14), CertificateSeverity::Fine);
        assert_eq!(tls_expiry(13), CertificateSeverity::Warning);
        assert_eq!(tls_expiry(3), CertificateSeverity::Warning);
        assert_eq!(tls_expiry(2), CertificateSeverity::Critical);
        assert_eq!(tls_expiry(-1), CertificateSeverity::Critical, "expired");
        let day = 86_400_000;
        assert_eq!(days_left(10 * day + 1, 0), 10);
        assert_eq!(days_left(10 * day - 1, 0), 9, "rounded down");
        assert_eq!(days_left(0, 1), -1, "a millisecond past expiry is expired");
    }
}
