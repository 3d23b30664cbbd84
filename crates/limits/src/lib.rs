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
//! - [`SubscriptionRequests`]: the status page's subscriptions, which
//!   anyone may ask for, limited per client and, since each one by e-mail
//!   sends a confirmation mail, per mailbox ([`mailbox_key`]), so that the
//!   form cannot flood someone's inbox; [`SubscriptionGate`] shares them
//!   among a process's requests and refuses in the domain's words.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
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

/// How many status page subscriptions may be asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionLimits {
    /// Subscriptions asked for from one client key within the window.
    pub per_client: u32,
    /// Confirmation mails to one mailbox within the window.
    pub per_mailbox: u32,
    /// The sliding window both are counted over.
    pub window: Duration,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        Self { per_client: 10, per_mailbox: 3, window: Duration::from_secs(3600) }
    }
}

/// Why a subscription is refused for now, and how long until it may be
/// asked for again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionRefusal {
    /// The client asked for too many.
    Client(Duration),
    /// The mailbox was sent too many confirmations.
    Mailbox(Duration),
}

impl SubscriptionRefusal {
    /// How long until it may be asked for again.
    pub fn wait(self) -> Duration {
        match self {
            Self::Client(wait) | Self::Mailbox(wait) => wait,
        }
    }

    /// Whole seconds to wait (at least one), for `Retry-After`.
    pub fn retry_after_secs(self) -> u64 {
        let wait = self.wait();
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    }

    /// What the person asking reads: which limit, and when to try again;
    /// `address` is the mail address asked for.
    pub fn explain(self, limits: SubscriptionLimits, address: &str) -> String {
        let window = match limits.window.as_secs() {
            3600 => "hour".to_string(),
            _ => in_words(limits.window),
        };
        let again = in_words(self.wait());
        match self {
            Self::Client(_) => format!(
                "too many subscriptions were asked for from your network address in the last {window} \
                 (at most {}): try again in {again}",
                limits.per_client
            ),
            Self::Mailbox(_) => format!(
                "{address} was sent {} confirmation mails in the last {window}, the most it may be sent: \
                 try again in {again}",
                limits.per_mailbox
            ),
        }
    }
}

/// Subscriptions asked for, per client key and per mailbox, over one
/// sliding window. A request counts from when it is admitted, so that
/// parallel requests cannot all pass the count; a request by e-mail that
/// sends no mail (refused for another reason) is then forgotten for its
/// mailbox, not for its client.
#[derive(Debug)]
pub struct SubscriptionRequests {
    limits: SubscriptionLimits,
    by_client: SlidingWindow<String>,
    by_mailbox: SlidingWindow<String>,
}

impl SubscriptionRequests {
    pub fn new(limits: SubscriptionLimits) -> Self {
        Self {
            limits: SubscriptionLimits {
                per_client: limits.per_client.max(1),
                per_mailbox: limits.per_mailbox.max(1),
                ..limits
            },
            by_client: SlidingWindow::new(TRACKED),
            by_mailbox: SlidingWindow::new(TRACKED),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> SubscriptionLimits {
        self.limits
    }

    /// Records a request from `client` at `now`, by mail to `mailbox` (a
    /// [`mailbox_key`]) when it is one, and returns when it was admitted;
    /// or says which limit refuses it and for how long. A refused request
    /// is not counted.
    pub fn admit(
        &mut self,
        client: &String,
        mailbox: Option<&String>,
        now: Instant,
    ) -> Result<Instant, SubscriptionRefusal> {
        let SubscriptionLimits { per_client, per_mailbox, window } = self.limits;
        if let Some(wait) = self.by_client.wait(client, per_client, window, now) {
            return Err(SubscriptionRefusal::Client(wait));
        }
        if let Some(mailbox) = mailbox {
            if let Some(wait) = self.by_mailbox.wait(mailbox, per_mailbox, window, now) {
                return Err(SubscriptionRefusal::Mailbox(wait));
            }
            self.by_mailbox.record(mailbox, window, now);
        }
        self.by_client.record(client, window, now);
        Ok(now)
    }

    /// The request admitted `at` sent no mail to `mailbox`: it no longer
    /// counts against it.
    pub fn unmailed(&mut self, mailbox: &String, at: Instant) {
        self.by_mailbox.forget(mailbox, at);
    }
}

/// [`SubscriptionRequests`] shared by every request of a process: each
/// subscription asked for passes through [`SubscriptionGate::admit`].
#[derive(Debug)]
pub struct SubscriptionGate(Mutex<SubscriptionRequests>);

/// A subscription admitted by the gate.
#[derive(Debug)]
pub struct Admitted {
    mailbox: Option<String>,
    at: Instant,
}

impl SubscriptionGate {
    pub fn new(limits: SubscriptionLimits) -> Self {
        Self(Mutex::new(SubscriptionRequests::new(limits)))
    }

    /// Counts a subscription asked for at `now` by the client at
    /// `client_ip` ([`client_key`]), by mail to `mail_to` when it is one;
    /// or refuses it, saying which limit and when to try again.
    pub fn admit(
        &self,
        client_ip: Option<&str>,
        mail_to: Option<&str>,
        now: Instant,
    ) -> nuvola_types::Result<Admitted> {
        let (client, mailbox) = (client_key(client_ip), mail_to.map(mailbox_key));
        let mut requests = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match requests.admit(&client, mailbox.as_ref(), now) {
            Ok(at) => Ok(Admitted { mailbox, at }),
            Err(refusal) => Err(nuvola_types::Error::TooManyRequests {
                message: refusal.explain(requests.limits(), mail_to.unwrap_or_default()),
                retry_after_secs: refusal.retry_after_secs(),
            }),
        }
    }

    /// The `admitted` subscription sent no mail: it no longer counts
    /// against its mailbox.
    pub fn unmailed(&self, admitted: Admitted) {
        if let Some(mailbox) = &admitted.mailbox {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).unmailed(mailbox, admitted.at);
        }
    }
}

/// The key a mail address is counted under: the mailbox that receives it,
/// as far as the address tells. Case does not matter, and a `+tag` in the
/// local part (`ann+1@example.org`) reaches the same mailbox at most mail
/// providers, so it is dropped.
pub fn mailbox_key(address: &str) -> String {
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

/// A wait as people read it, rounded up: "45 s", "12 minutes", "1 hour",
/// "3 hours".
pub fn in_words(wait: Duration) -> String {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    match secs {
        0..=1 => "1 s".to_string(),
        2..=99 => format!("{secs} s"),
        _ if secs.is_multiple_of(3600) => format!("{} hour{}", secs / 3600, if secs == 3600 { "" } else { "s" }),
        _ if secs < 3600 * 2 => {
            let minutes = secs.div_ceil(60);
            format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
        }
        _ => format!("{} hours", secs.div_ceil(3600)),
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

    #[test]
    fn subscriptions_are_limited_per_client_and_per_mailbox() {
        let limits = SubscriptionLimits { per_client: 3, per_mailbox: 2, window: Duration::from_secs(3600) };
        let mut r = SubscriptionRequests::new(limits);
        let (one, two) = ("192.0.2.1".to_string(), "192.0.2.2".to_string());
        let ann = mailbox_key("Ann+status@Example.org");
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        // Two confirmations to ann's mailbox, whatever the tag and the client.
        r.admit(&one, Some(&ann), t0).unwrap();
        r.admit(&two, Some(&mailbox_key("ann+other@example.org")), t0 + minute).unwrap();
        let refused = r.admit(&two, Some(&mailbox_key("ANN@example.org")), t0 + 2 * minute);
        assert_eq!(refused, Err(SubscriptionRefusal::Mailbox(Duration::from_secs(3600 - 120))));
        // The refused request did not count for the client: two more pass.
        r.admit(&two, None, t0 + 3 * minute).unwrap();
        let bob = mailbox_key("bob@example.org");
        r.admit(&two, Some(&bob), t0 + 4 * minute).unwrap();
        assert_eq!(r.admit(&two, None, t0 + 5 * minute), Err(SubscriptionRefusal::Client(Duration::from_secs(3360))));
        // A request that mailed nothing stops counting for its mailbox.
        let at = r.admit(&one, Some(&bob), t0 + 6 * minute).unwrap();
        r.unmailed(&bob, at);
        r.admit(&one, Some(&bob), t0 + 7 * minute).unwrap();
        assert!(matches!(r.admit(&one, Some(&bob), t0 + 8 * minute), Err(SubscriptionRefusal::Client(_))));
        // An hour after the first, ann's mailbox may be sent one again.
        r.admit(&"192.0.2.3".to_string(), Some(&ann), t0 + Duration::from_secs(3600)).unwrap();
    }

    #[test]
    fn the_gate_refuses_with_a_429_saying_when() {
        let gate = SubscriptionGate::new(SubscriptionLimits { per_client: 5, per_mailbox: 1, ..Default::default() });
        let t0 = Instant::now();
        let first = gate.admit(Some("192.0.2.1"), Some("ann@example.org"), t0).unwrap();
        let refused = gate.admit(Some("192.0.2.2"), Some("Ann+x@example.org"), t0 + Duration::from_secs(600));
        let Err(nuvola_types::Error::TooManyRequests { message, retry_after_secs }) = refused else {
            panic!("{refused:?}")
        };
        assert_eq!(retry_after_secs, 3000);
        assert!(message.starts_with("Ann+x@example.org was sent 1 confirmation mails"), "{message}");
        assert!(message.ends_with("try again in 50 minutes"), "{message}");
        // That first one sent nothing after all: the mailbox may be asked again.
        gate.unmailed(first);
        gate.admit(Some("192.0.2.2"), Some("ann@example.org"), t0 + Duration::from_secs(601)).unwrap();
        // A webhook counts for its client only.
        gate.admit(Some("192.0.2.2"), None, t0 + Duration::from_secs(602)).unwrap();
    }

    #[test]
    fn mailboxes_and_waits_read_as_people_write_them() {
        assert_eq!(mailbox_key(" Ann.Lee+status@Example.ORG "), "ann.lee@example.org");
        assert_eq!(mailbox_key("a+b+c@x.example"), "a@x.example");
        assert_eq!(mailbox_key("not-an-address"), "not-an-address");
        assert_eq!(in_words(Duration::from_millis(200)), "1 s");
        assert_eq!(in_words(Duration::from_millis(44_100)), "45 s");
        assert_eq!(in_words(Duration::from_secs(100)), "2 minutes");
        assert_eq!(in_words(Duration::from_secs(60)), "60 s");
        assert_eq!(in_words(Duration::from_secs(3540)), "59 minutes");
        assert_eq!(in_words(Duration::from_secs(3 * 3600 - 1)), "3 hours");
        assert_eq!(in_words(Duration::from_secs(3600)), "1 hour");
        let limits = SubscriptionLimits::default();
        let refusal = SubscriptionRefusal::Mailbox(Duration::from_millis(1_500_200));
        assert_eq!(refusal.retry_after_secs(), 1501);
        assert_eq!(
            refusal.explain(limits, "ann@example.org"),
            "ann@example.org was sent 3 confirmation mails in the last hour, the most it may be sent: \
             try again in 26 minutes"
        );
        assert_eq!(
            SubscriptionRefusal::Client(Duration::from_secs(30)).explain(limits, "-"),
            "too many subscriptions were asked for from your network address in the last hour (at most 10): \
             try again in 30 s"
        );
    }
}
