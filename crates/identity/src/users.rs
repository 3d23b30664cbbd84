//! Accounts of the embedded issuer: who may sign in to the dashboard of a
//! platform that runs without an external identity provider.
//!
//! Passwords are kept as Argon2id PHC strings (`nuvola passwd` makes one);
//! a platform started with no account configured gets one `demo` account,
//! administrator of every group of the federation, whose random password is
//! written (owner-readable only) into the data directory.

use std::path::Path;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use nuvola_types::{Error, Principal, Result};
use serde::Deserialize;

use super::{EMBEDDED_MANAGER_SUFFIX, oidc};

/// `[[identity.users]]`: one account of the embedded issuer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedUser {
    /// The user name, the token's `sub`.
    pub name: String,
    /// Argon2id PHC string (`$argon2id$v=19$...`), from `nuvola passwd`.
    pub password_hash: String,
    /// Groups; `G/managers` makes the user a manager of `G`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Platform administrator.
    #[serde(default)]
    pub admin: bool,
    /// The user's mail address, where nuvola mails them about their
    /// deployments (as an external issuer's `email` claim would give it).
    #[serde(default)]
    pub email: Option<String>,
}

/// The name of the account a platform without configured accounts gets.
pub const DEMO_USER: &str = "demo";

/// The file in the data directory holding the demo account's password.
pub const DEMO_PASSWORD_FILE: &str = "demo-password";

fn argon2() -> Argon2<'static> {
    // OWASP's 2023 floor for Argon2id: 19 MiB, 2 passes, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid parameters"))
}

/// Hashes a password into a PHC string for `password_hash`.
pub fn hash_password(password: &str) -> Result<String> {
    if password.len() < 8 {
        return Err(Error::invalid("a password needs at least 8 characters"));
    }
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(e.to_string()))?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("cannot hash the password: {e}")))
}

/// The accounts of the embedded issuer.
#[derive(Debug, Clone, Default)]
pub struct Accounts {
    users: Vec<EmbeddedUser>,
}

impl Accounts {
    /// Accounts from the configuration; every hash must parse.
    pub fn new(users: Vec<EmbeddedUser>) -> Result<Self> {
        for (i, u) in users.iter().enumerate() {
            if !super::is_subject(&u.name) {
                return Err(Error::invalid(format!(
                    "identity.users[{i}]: `name` {:?} is blank or has control characters",
                    u.name
                )));
            }
            PasswordHash::new(&u.password_hash).map_err(|e| {
                Error::invalid(format!(
                    "identity.users[{i}] ({}): `password_hash` is not a PHC string ({e}); make one with `nuvola passwd`",
                    u.name
                ))
            })?;
            if let Some(email) = u.email.as_deref().filter(|e| !oidc::is_mail_address(e.trim())) {
                return Err(Error::invalid(format!(
                    "identity.users[{i}] ({}): `email` {email:?} is not a mail address (name@domain.example)",
                    u.name
                )));
            }
            if users[..i].iter().any(|other| other.name == u.name) {
                return Err(Error::invalid(format!("identity.users[{i}]: user {} is listed twice", u.name)));
            }
        }
        Ok(Self { users })
    }

    /// The demo account of a platform with no configured account: member
    /// and manager of every group in `groups`, administrator. Its password
    /// is read from `data_dir/demo-password`, created on first start.
    /// Returns the accounts and the password.
    pub fn demo(data_dir: &Path, groups: &[String]) -> Result<(Self, String)> {
        let path = data_dir.join(DEMO_PASSWORD_FILE);
        let password = match std::fs::read_to_string(&path) {
            Ok(text) if text.trim().len() >= 8 => text.trim().to_string(),
            Ok(_) => return Err(Error::internal(format!("{} holds no password of 8+ characters", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 12];
                getrandom::getrandom(&mut bytes).map_err(|e| Error::internal(format!("no randomness: {e}")))?;
                let password: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                crate::keys::write_private(&path, &password)?;
                password
            }
            Err(e) => return Err(Error::internal(format!("cannot read {}: {e}", path.display()))),
        };
        let mut all: Vec<String> = groups.to_vec();
        all.extend(groups.iter().map(|g| format!("{g}{EMBEDDED_MANAGER_SUFFIX}")));
        let user = EmbeddedUser {
            name: DEMO_USER.into(),
            password_hash: hash_password(&password)?,
            groups: all,
            admin: true,
            email: None,
        };
        Ok((Self { users: vec![user] }, password))
    }

    /// Whether any account exists.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The caller `name` stands for, when `password` is theirs. The hash
    /// is checked even for unknown names, so that timing does not tell
    /// which names exist. One Argon2id hash (19 MiB): callers go through
    /// [`crate::PasswordChecks::sign_in`], which limits them.
    pub(crate) fn check_password(&self, issuer: &str, name: &str, password: &str) -> Result<Principal> {
        let refused = || Error::Unauthenticated("wrong user name or password".into());
        let user = self.users.iter().find(|u| u.name == name);
        let hash = user.map(|u| u.password_hash.as_str()).unwrap_or(DUMMY_HASH);
        let parsed = PasswordHash::new(hash).map_err(|_| refused())?;
        let matches = argon2().verify_password(password.as_bytes(), &parsed).is_ok();
        match user {
            Some(u) if matches => {
                let mut p =
                    oidc::principal_with_roles(&u.name, issuer, u.groups.clone(), None, Some(EMBEDDED_MANAGER_SUFFIX));
                p.admin = u.admin;
                p.email = oidc::vouched_email(u.email.as_deref(), Some(true));
                Ok(p)
            }
            _ => Err(refused()),
        }
    }
}

/// A hash of a random password, checked for unknown names.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$J6o2Cj5s8JsC5xX0m4Pj7mV7Gk4mNwYc1t9m0c4f0kQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_sign_in_and_wrong_ones_do_not() {
        let accounts = Accounts::new(vec![EmbeddedUser {
            name: "alice".into(),
            password_hash: hash_password("correct horse").unwrap(),
            groups: vec!["physics".into(), "bio/managers".into()],
            admin: false,
            email: Some("alice@example.org".into()),
        }])
        .unwrap();
        let p = accounts.check_password("nuvola", "alice", "correct horse").unwrap();
        assert_eq!(p.subject, "alice");
        assert_eq!(p.email.as_deref(), Some("alice@example.org"), "the account's address reaches the caller");
        assert!(p.in_group("physics") && p.manages("bio") && !p.admin);
        assert!(accounts.check_password("nuvola", "alice", "wrong horse").is_err());
        assert!(accounts.check_password("nuvola", "mallory", "correct horse").is_err());
        assert!(hash_password("short").is_err());
    }

    #[test]
    fn bad_configuration_is_refused_with_its_place() {
        let bad = EmbeddedUser {
            name: "bob".into(),
            password_hash: "plain".into(),
            groups: vec![],
            admin: false,
            email: None,
        };
        let e = Accounts::new(vec![bad.clone()]).unwrap_err().to_string();
        assert!(e.contains("identity.users[0] (bob)") && e.contains("nuvola passwd"), "{e}");
        let mailless = EmbeddedUser {
            password_hash: hash_password("correct horse").unwrap(),
            email: Some("bob at example.org".into()),
            ..bad
        };
        let e = Accounts::new(vec![mailless]).unwrap_err().to_string();
        assert!(e.contains("identity.users[0] (bob): `email` \"bob at example.org\" is not a mail address"), "{e}");
    }

    #[test]
    fn the_demo_account_keeps_its_password_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let groups = vec!["bio".to_string(), "physics".to_string()];
        let (accounts, password) = Accounts::demo(dir.path(), &groups).unwrap();
        let (_, again) = Accounts::demo(dir.path(), &groups).unwrap();
        assert_eq!(password, again);
        let p = accounts.check_password("nuvola", DEMO_USER, &password).unwrap();
        assert!(p.admin && p.in_group("physics") && p.manages("bio"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEMO_PASSWORD_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
