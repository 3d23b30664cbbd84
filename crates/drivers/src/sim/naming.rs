//! Deterministic names for the simulator: resource ids, IPv4 addresses and
//! the per-attempt failure draw, all derived by hashing (SHA-256) so that a
//! replayed call, or a second run with the same seed, gives the same answer.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::ResourceKind;

/// SHA-256 over `parts`, each followed by a unit separator so that
/// `("ab", "c")` and `("a", "bc")` differ.
fn digest(parts: &[&str]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    hasher.finalize().into()
}

/// The first eight bytes of the digest of `parts`, as a number.
pub(super) fn hash_u64(parts: &[&str]) -> u64 {
    let d = digest(parts);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d[..8]);
    u64::from_be_bytes(first)
}

/// The word used for a kind in ids and names.
pub(super) fn kind_word(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Server => "server",
        ResourceKind::Volume => "volume",
        ResourceKind::Port => "port",
        ResourceKind::FloatingIp => "floating_ip",
        ResourceKind::SecurityGroup => "security_group",
        ResourceKind::Network => "network",
    }
}

/// The provider-side id of a resource: a UUID-shaped (version 8) rendering
/// of SHA-256 over provider, attempt, node, instance index, kind and `sub`
/// (which volume of the instance; empty otherwise).
pub(super) fn resource_id(
    provider: &str,
    attempt_id: &str,
    node: &str,
    index: u32,
    kind: ResourceKind,
    sub: &str,
) -> String {
    let index = index.to_string();
    let d = digest(&[provider, attempt_id, node, &index, kind_word(kind), sub]);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid().to_string()
}

/// Whether an attempt is drawn to fail while building: a uniform number in
/// `[0, 1)` taken from `hash(seed, provider, attempt_id)` is below
/// `probability`.
pub(super) fn draws_failure(seed: u64, provider: &str, attempt_id: &str, probability: f64) -> bool {
    let seed = seed.to_string();
    let x = hash_u64(&["failure", &seed, provider, attempt_id]);
    // 53 random bits make an exactly representable fraction in [0, 1).
    let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
    unit < probability
}

/// An IPv4 network such as `10.0.0.0/8`, from which hosts are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// How many host addresses there are (network and broadcast excluded).
    pub(super) fn hosts(self) -> u32 {
        let size = 1u64 << (32 - u32::from(self.prefix));
        (size - 2) as u32
    }

    /// The `n`-th host address (`n < hosts()`).
    pub(super) fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base + 1 + n)
    }
}

impl FromStr for Cidr {
    type Err = String;

    /// Parses `a.b.c.d/len`; host bits are cleared; `len` must leave room
    /// for at least two hosts (at most 30).
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, len) = s.split_once('/').ok_or_else(|| format!("`{s}` is not an IPv4 CIDR like 10.0.0.0/16"))?;
        let addr: Ipv4Addr = addr.trim().parse().map_err(|_| format!("`{s}` is not an IPv4 CIDR like 10.0.0.0/16"))?;
        let prefix: u8 = len.trim().parse().map_err(|_| format!("`{s}` has no valid prefix length"))?;
        if prefix > 30 {
            return Err(format!("`{s}` is too small to hand out addresses (prefix at most /30)"));
        }
        let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) };
        Ok(Cidr { base: u32::from(addr) & mask, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = resource_id("p", "a1", "vm", 0, ResourceKind::Server, "");
        assert_eq!(a, resource_id("p", "a1", "vm", 0, ResourceKind::Server, ""));
        assert_ne!(a, resource_id("p", "a1", "vm", 1, ResourceKind::Server, ""));
        assert_ne!(a, resource_id("p", "a1", "vm", 0, ResourceKind::Port, ""));
        assert_ne!(a, resource_id("q", "a1", "vm", 0, ResourceKind::Server, ""));
        assert_eq!(a.len(), 36);
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn failure_draw_follows_probability() {
        assert!(!draws_failure(1, "p", "a", 0.0));
        assert!(draws_failure(1, "p", "a", 1.0));
        let failed = (0..1000).filter(|i| draws_failure(7, "p", &format!("a{i}"), 0.3)).count();
        assert!((200..400).contains(&failed), "{failed} of 1000 failed");
    }

    #[test]
    fn cidr_parses_and_hands_out_hosts() {
        let c: Cidr = "203.0.113.7/24".parse().unwrap();
        assert_eq!(c.to_string(), "203.0.113.0/24");
        assert_eq!(c.hosts(), 254);
        assert_eq!(c.host(0).to_string(), "203.0.113.1");
        assert_eq!(c.host(253).to_string(), "203.0.113.254");
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/31".parse::<Cidr>().is_err());
        assert!("300.0.0.0/8".parse::<Cidr>().is_err());
    }
}
