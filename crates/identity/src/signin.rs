//! Limits on signing in, which anyone can try without an account.
//!
//! - Password attempts ([`PasswordChecks`]): each is one Argon2id hash, some
//!   tens of milliseconds and 19 MiB, so they are limited per account name
//!   and per client address over a sliding window, refused before any hash
//!   when over, and computed on the blocking pool, a bounded number at once.
//! - Logins at an external issuer ([`SignInSettings::pending_logins`]): each
//!   is a stored row, bounded per client and overall by the dashboard, which
//!   reuses the issuers' discovery documents for
//!   [`SignInSettings::discovery_cache_secs`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use nuvola_limits::{SignInAttempts, client_key};
use nuvola_types::{Error, Principal, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::users::Accounts;

/// `[identity.sign_in]`: how much unauthenticated sign-in traffic costs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInSettings {
    /// Password attempts per account name within the window (failed ones,
    /// and those being checked; a successful one does not count).
    pub attempts_per_account: u32,
    /// Password attempts per client address within the window.
    pub attempts_per_client: u32,
    /// The sliding window the attempts are counted over.
    pub attempts_window_secs: u64,
    /// Password hashes computed at once (Argon2id: 19 MiB each); more
    /// attempts wait for their turn.
    pub concurrent_password_checks: usize,
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
        Self {
            attempts_per_account: 10,
            attempts_per_client: 30,
            attempts_window_secs: 300,
            concurrent_password_checks: 4,
            pending_logins_per_client: 20,
            pending_logins: 10_000,
            discovery_cache_secs: 300,
        }
    }
}

/// Longest user name and password looked at; longer ones are refused as
/// wrong without hashing.
const MAX_NAME: usize = 256;
const MAX_PASSWORD: usize = 4096;

/// What password checking has cost so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PasswordCheckStats {
    /// Password hashes computed.
    pub computed: u64,
    /// The most computed at once.
    pub peak_concurrent: usize,
}

#[derive(Default)]
struct Hashing {
    computed: AtomicU64,
    running: AtomicUsize,
    peak: AtomicUsize,
}

/// Every password check goes through here: counted against the account
/// and the client (refused when either is over its limit, with no hash
/// computed), then run on the blocking pool once one of the bounded
/// places is free. An attempt counts from when it is admitted (so that
/// parallel attempts cannot all pass the count), and stops counting when
/// it succeeds.
pub struct PasswordChecks {
    attempts: std::sync::Mutex<SignInAttempts>,
    places: Arc<tokio::sync::Semaphore>,
    hashing: Arc<Hashing>,
}

impl std::fmt::Debug for PasswordChecks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChecks").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

impl PasswordChecks {
    /// Checks limited as `settings` say.
    pub fn new(settings: &SignInSettings) -> Self {
        let window = Duration::from_secs(settings.attempts_window_secs);
        Self {
            attempts: std::sync::Mutex::new(SignInAttempts::new(
                settings.attempts_per_account,
                settings.attempts_per_client,
                window,
            )),
            places: Arc::new(tokio::sync::Semaphore::new(settings.concurrent_password_checks.max(1))),
            hashing: Default::default(),
        }
    }

    /// Signs account `name` of the embedded issuer `issuer` in with its
    /// `password`, for the client at `client_ip`: the only way a password
    /// is checked, so that every check is limited per account and per
    /// client and computed off the async workers, a bounded number at once.
    pub async fn sign_in(
        &self,
        accounts: &Accounts,
        issuer: &str,
        name: &str,
        password: &str,
        client_ip: Option<&str>,
    ) -> Result<Principal> {
        let (accounts, issuer, who, secret) =
            (accounts.clone(), issuer.to_string(), name.to_string(), password.to_string());
        let check = move || accounts.check_password(&issuer, &who, &secret);
        let mut principal = self.run(name, password, client_ip, check).await?;
        principal.client_ip = client_ip.map(str::to_string);
        Ok(principal)
    }

    /// Runs `check`, which compares `password` for account `name` (one
    /// password hash), for the client at `client_ip`, if both may try now.
    async fn run<T: Send + 'static>(
        &self,
        name: &str,
        password: &str,
        client_ip: Option<&str>,
        check: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let account: [u8; 32] = Sha256::digest(name.as_bytes()).into();
        let client = client_key(client_ip);
        let admitted = self.attempts.lock().expect("sign-in attempts").admit(&account, &client, Instant::now());
        let admitted = admitted.map_err(|wait| {
            tracing::warn!(client = %client, "sign-in attempt refused: too many attempts");
            let retry_after_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let retry_after_secs = retry_after_secs.max(1);
            Error::TooManyRequests {
                message: format!("too many sign-in attempts, try again in {retry_after_secs} s"),
                retry_after_secs,
            }
        })?;
        let outcome = if name.len() > MAX_NAME || password.len() > MAX_PASSWORD {
            Err(Error::Unauthenticated("wrong user name or password".into()))
        } else {
            self.compute(check).await
        };
        if outcome.is_ok() {
            self.attempts.lock().expect("sign-in attempts").succeeded(&account, &client, admitted);
        }
        outcome
    }

    /// Runs one hash on the blocking pool when a place is free. The place
    /// is held by the hash itself, so a client that goes away does not free
    /// it before the hash is done.
    async fn compute<T: Send + 'static>(&self, check: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
        let place = self.places.clone().acquire_owned().await.map_err(|e| Error::internal(e.to_string()))?;
        let hashing = self.hashing.clone();
        tokio::task::spawn_blocking(move || {
            let _place = place;
            let running = hashing.running.fetch_add(1, Ordering::SeqCst) + 1;
            hashing.peak.fetch_max(running, Ordering::SeqCst);
            let outcome = check();
            hashing.running.fetch_sub(1, Ordering::SeqCst);
            hashing.computed.fetch_add(1, Ordering::SeqCst);
            outcome
        })
        .await
        .map_err(|e| Error::internal(format!("the password check failed: {e}")))?
    }

    /// What checking has cost so far.
    pub fn stats(&self) -> PasswordCheckStats {
        PasswordCheckStats {
            computed: self.hashing.computed.load(Ordering::SeqCst),
            peak_concurrent: self.hashing.peak.load(Ordering::SeqCst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(per_account: u32, per_client: u32, concurrent: usize) -> PasswordChecks {
        PasswordChecks::new(&SignInSettings {
            attempts_per_account: per_account,
            attempts_per_client: per_client,
            concurrent_password_checks: concurrent,
            ..SignInSettings::default()
        })
    }

    fn wrong() -> Result<()> {
        Err(Error::Unauthenticated("wrong user name or password".into()))
    }

    #[tokio::test]
    async fn the_attempt_past_the_limit_computes_no_hash() {
        let c = checks(2, 100, 1);
        for _ in 0..2 {
            assert!(matches!(c.run("alice", "x", Some("192.0.2.1"), wrong).await, Err(Error::Unauthenticated(_))));
        }
        let hashed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = hashed.clone();
        let refused = c
            .run("alice", "x", Some("192.0.2.9"), move || {
                flag.store(true, Ordering::SeqCst);
                Ok(())
            })
            .await;
        let Err(Error::TooManyRequests { message, retry_after_secs }) = refused else { panic!("{refused:?}") };
        assert!(message.starts_with("too many sign-in attempts, try again in "), "{message}");
        assert!((1..=300).contains(&retry_after_secs));
        assert!(!hashed.load(Ordering::SeqCst), "a hash was computed for a refused attempt");
        assert_eq!(c.stats().computed, 2);
        // Another account is not held back by alice's.
        c.run("bob", "x", Some("192.0.2.1"), || Ok(())).await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_hashes_run_at_once_than_the_bound() {
        let c = Arc::new(checks(1000, 1000, 3));
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let c = c.clone();
                tokio::spawn(async move {
                    c.run(&format!("user{i}"), "x", None, || {
                        std::thread::sleep(Duration::from_millis(20));
                        wrong()
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_err());
        }
        let stats = c.stats();
        assert_eq!(stats.computed, 16);
        assert!((1..=3).contains(&stats.peak_concurrent), "{stats:?}");
    }
}
