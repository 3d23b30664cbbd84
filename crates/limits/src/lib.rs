//! How much costly work a caller may ask for: the accounting behind
//! nuvola's abuse limits, with no I/O and no clock of its own (every call
//! takes `now`), so that it is tested exhaustively without waiting.
//!
//! - [`client_key`]: what a client address counts under (an IPv6 client
//!   usually holds a whole /64).
//! - [`SlidingWindow`]: recent attempts per key, with how long until a key
//!   may try again, bounded in the keys it tracks.
//! - [`SignInAttempts`]: password attempts limited per account and per
//!   client at once; an attempt counts from when it is admitted, so that
//!   parallel attempts cannot all pass the count, and a success is
//!   forgotten.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The key limits count a client address under: the address, or for IPv6
/// its /64 (what one subscriber usually holds whole); `unknown` when the
/// server does not know it.
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

/// Recent attempts per key, oldest first, for at most `tracked` keys: past
/// that, keys with no attempt left in the window go first, then the one
/// whose last attempt is oldest.
#[derive(Debug)]
pub struct SlidingWindow<K> {
    keys: HashMap<K, VecDeque<Instant>>,
    tracked: usize,
}

impl<K: Hash + Eq + Clone> SlidingWindow<K> {
    /// A window tracking at most `tracked` keys.
    pub fn new(tracked: usize) -> Self {
        Self { keys: HashMap::new(), tracked: tracked.max(1) }
    }

    /// How long until `key` may try again, when it has `limit` attempts
    /// within `window` of `now`; `None` when it may now.
    pub fn wait(&mut self, key: &K, limit: u32, window: Duration, now: Instant) -> Option<Duration> {
        let attempts = self.keys.get_mut(key)?;
        while attempts.front().is_some_and(|t| now.duration_since(*t) >= window) {
            attempts.pop_front();
        }
        if attempts.len() < limit as usize {
            return None;
        }
        attempts.front().map(|oldest| window.saturating_sub(now.duration_since(*oldest)))
    }

    /// Counts an attempt of `key` at `now`.
    pub fn record(&mut self, key: &K, window: Duration, now: Instant) {
        if !self.keys.contains_key(key) && self.keys.len() >= self.tracked {
            self.keys.retain(|_, a| a.back().is_some_and(|t| now.duration_since(*t) < window));
            if self.keys.len() >= self.tracked
                && let Some(stalest) = self.keys.iter().min_by_key(|(_, a)| a.back().copied()).map(|(k, _)| k.clone())
            {
                self.keys.remove(&stalest);
            }
        }
        self.keys.entry(key.clone()).or_default().push_back(now);
    }

    /// Stops counting the attempt of `key` recorded `at`.
    pub fn forget(&mut self, key: &K, at: Instant) {
        if let Some(attempts) = self.keys.get_mut(key) {
            if let Some(i) = attempts.iter().position(|t| *t == at) {
                attempts.remove(i);
            }
            if attempts.is_empty() {
                self.keys.remove(key);
            }
        }
    }

    /// The attempts of `key` still counted (some may have left the window).
    pub fn count(&self, key: &K) -> usize {
        self.keys.get(key).map_or(0, VecDeque::len)
    }

    /// How many keys are tracked.
    pub fn tracked(&self) -> usize {
        self.keys.len()
    }
}

/// Account names and clients tracked at most, each.
const TRACKED: usize = 100_000;

/// Password attempts, limited per account (by a digest of its name) and
/// per client key over one sliding window.
#[derive(Debug)]
pub struct SignInAttempts {
    per_account: u32,
    per_client: u32,
    window: Duration,
    by_account: SlidingWindow<[u8; 32]>,
    by_client: SlidingWindow<String>,
}

impl SignInAttempts {
    /// At most `per_account` and `per_client` attempts within `window`.
    pub fn new(per_account: u32, per_client: u32, window: Duration) -> Self {
        Self {
            per_account: per_account.max(1),
            per_client: per_client.max(1),
            window,
            by_account: SlidingWindow::new(TRACKED),
            by_client: SlidingWindow::new(TRACKED),
        }
    }

    /// Records an attempt of `account` from `client` at `now` and returns
    /// when it was admitted, or says how long until both may try again.
    pub fn admit(&mut self, account: &[u8; 32], client: &String, now: Instant) -> Result<Instant, Duration> {
        let wait_account = self.by_account.wait(account, self.per_account, self.window, now);
        let wait_client = self.by_client.wait(client, self.per_client, self.window, now);
        if let Some(wait) = wait_account.max(wait_client) {
            return Err(wait);
        }
        self.by_account.record(account, self.window, now);
        self.by_client.record(client, self.window, now);
        Ok(now)
    }

    /// The attempt admitted `at` succeeded: it no longer counts.
    pub fn succeeded(&mut self, account: &[u8; 32], client: &String, at: Instant) {
        self.by_account.forget(account, at);
        self.by_client.forget(client, at);
    }

    /// The attempts of `account` still counted.
    pub fn of_account(&self, account: &[u8; 32]) -> usize {
        self.by_account.count(account)
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

    #[test]
    fn attempts_leave_the_window_and_successes_do_not_count() {
        let mut a = SignInAttempts::new(2, 3, Duration::from_secs(300));
        let (alice, bob) = ([1u8; 32], [2u8; 32]);
        let client = "192.0.2.1".to_string();
        let t0 = Instant::now();
        let first = a.admit(&alice, &client, t0).unwrap();
        a.admit(&alice, &client, t0 + Duration::from_secs(100)).unwrap();
        let wait = a.admit(&alice, &client, t0 + Duration::from_secs(120)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(180), "until the first leaves the 300 s window");
        // The client's third attempt, on another account, is its last.
        a.admit(&bob, &client, t0 + Duration::from_secs(120)).unwrap();
        assert!(a.admit(&bob, &client, t0 + Duration::from_secs(121)).is_err());
        // The first leaves the window.
        a.admit(&alice, &client, t0 + Duration::from_secs(300)).unwrap();
        // A success is forgotten.
        a.succeeded(&alice, &client, first);
        assert_eq!(a.of_account(&alice), 2);
    }

    #[test]
    fn the_tracked_keys_stay_bounded() {
        let mut w: SlidingWindow<u32> = SlidingWindow::new(TRACKED);
        let t0 = Instant::now();
        let window = Duration::from_secs(300);
        for k in 0..TRACKED as u32 + 10 {
            w.record(&k, window, t0 + Duration::from_millis(u64::from(k)));
        }
        assert_eq!(w.tracked(), TRACKED);
        assert_eq!((w.count(&0), w.count(&(TRACKED as u32 + 9))), (0, 1));
    }
}
