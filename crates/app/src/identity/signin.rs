//! Limits on signing in, which anyone can try without an account: how many
//! logins at an external issuer may be in flight (each is a stored row),
//! and how often an issuer's discovery document is fetched for them.

use std::net::IpAddr;

use serde::Deserialize;

/// `[identity.sign_in]`: how much unauthenticated sign-in traffic costs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInSettings {
    /// Logins at an external issuer in flight from one client address
    /// (its /64 for IPv6); more are refused until one ends or expires.
    pub pending_logins_per_client: u64,
    /// Logins at an external issuer in flight from everyone.
    pub pending_logins: u64,
    /// How long an issuer's discovery document is reused.
    pub discovery_cache_secs: u64,
}

impl Default for SignInSettings {
    fn default() -> Self {
        Self { pending_logins_per_client: 20, pending_logins: 10_000, discovery_cache_secs: 300 }
    }
}

/// The key sign-in limits count a client address under: the address, or
/// for IPv6 its /64 (what one subscriber usually holds whole); `unknown`
/// when the server does not know it.
pub fn client_key(ip: Option<&str>) -> String {
    match ip.map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V6(v6))) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Some(Ok(v4)) => v4.to_string(),
        Some(Err(_)) => ip.unwrap_or_default().to_string(),
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_counted_by_address_or_ipv6_subnet() {
        assert_eq!(client_key(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(client_key(Some("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
        assert_eq!(client_key(Some("::ffff:192.0.2.7")), "192.0.2.7");
        assert_eq!(client_key(None), "unknown");
    }
}
