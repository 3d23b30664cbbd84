//! Identity: who a bearer token says the caller is, and who may sign in.
//!
//! Verification sits behind [`TokenVerifier`], the one seam the app uses.
//! [`Issuers`] implements it for everything nuvola trusts: external OIDC
//! issuers ([`oidc::OidcIssuer`]: JWTs checked against the issuer's JWKS,
//! opaque tokens through introspection) and [`EmbeddedIssuer`], nuvola's own
//! issuer, which signs compact JWTs with an Ed25519 key kept in the data
//! directory (`EdDSA`, RFC 8037). A JWT goes to the issuer its `iss` names;
//! the signature is checked before any other claim is believed.
//!
//! Roles come from groups: an issuer's `admin_group` makes platform
//! administrators (the embedded issuer has an `admin` claim instead), and
//! membership of `G{manager_suffix}` (`G/managers` for the embedded issuer)
//! makes a manager of group `G`. Group names are tied to the issuers that
//! may grant them (an external issuer's `groups`), so that one issuer's
//! users cannot claim another's groups.
//!
//! The embedded issuer's local accounts ([`users`]), the limits on signing
//! in with a password ([`signin`]) and the key files in the data directory
//! ([`keys`]) are here too. This crate knows nothing of deployments: the
//! app holds a [`TokenVerifier`] and a [`PasswordChecks`] and calls them.

pub mod jwk;
pub mod keys;
pub mod oidc;
pub mod signin;
pub mod users;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use nuvola_types::{Error, Principal, Result};
use serde::{Deserialize, Serialize};

pub use oidc::{DiscoveryCache, Grants, IssuerConfig, OidcIssuer};
pub use signin::{PasswordCheckStats, PasswordChecks, SignInSettings};
pub use users::{Accounts, EmbeddedUser};

/// Seconds of clock skew tolerated on `exp` and `nbf`.
const CLOCK_SKEW_SECS: i64 = 60;

/// The audience embedded tokens are issued for.
pub const AUDIENCE: &str = "nuvola";

/// Group-name suffix that makes an embedded-issuer user a group manager.
pub const EMBEDDED_MANAGER_SUFFIX: &str = "/managers";

/// Whether `sub` can name a caller: not blank, and without control
/// characters. Every issuer's tokens are held to it, and the embedded
/// issuer signs nothing else: an empty subject would be everyone's and
/// no one's (deployments, audit entries and sessions are keyed by it).
pub fn is_subject(sub: &str) -> bool {
    !sub.trim().is_empty() && !sub.chars().any(char::is_control)
}

/// Turns a bearer token into the caller it stands for.
#[async_trait::async_trait]
pub trait TokenVerifier: Send + Sync {
    /// Verifies signature, issuer, audience and validity period.
    async fn verify(&self, token: &str) -> Result<Principal>;
}

/// A compact JWS split and decoded, nothing verified yet.
#[derive(Debug)]
pub struct Jws<'a> {
    pub alg: String,
    pub kid: Option<String>,
    /// `header.payload`, the signed bytes.
    pub signing_input: &'a str,
    pub signature: Vec<u8>,
    /// The payload as JSON (unverified until the signature is).
    pub claims: serde_json::Value,
}

impl<'a> Jws<'a> {
    /// Splits a token; `None` when it is not a compact JWS at all (an
    /// opaque token), an error when it is one but does not decode.
    pub fn parse(token: &'a str) -> Option<Result<Jws<'a>>> {
        let bad = |why: &str| Error::Unauthenticated(format!("invalid bearer token: {why}"));
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return None;
        };
        let parsed = (|| {
            #[derive(Deserialize)]
            struct Header {
                alg: String,
                #[serde(default)]
                kid: Option<String>,
            }
            let header: Header = B64
                .decode(h)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(|| bad("the header does not decode"))?;
            if header.alg.eq_ignore_ascii_case("none") {
                return Err(bad("unsigned tokens (alg none) are refused"));
            }
            if !jwk::SUPPORTED.contains(&header.alg.as_str()) {
                return Err(bad(&format!(
                    "algorithm {} is not accepted (accepted: {})",
                    header.alg,
                    jwk::SUPPORTED.join(", ")
                )));
            }
            let claims: serde_json::Value = B64
                .decode(p)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .filter(serde_json::Value::is_object)
                .ok_or_else(|| bad("the claims do not decode"))?;
            let signature = B64.decode(s).map_err(|_| bad("the signature does not decode"))?;
            Ok(Jws {
                alg: header.alg,
                kid: header.kid,
                signing_input: &token[..h.len() + 1 + p.len()],
                signature,
                claims,
            })
        })();
        Some(parsed)
    }

    /// The unverified `iss`, to choose the issuer that checks the rest.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(serde_json::Value::as_str)
    }
}

/// Everything nuvola trusts: external issuers and, when enabled, the
/// embedded one.
#[derive(Debug, Default)]
pub struct Issuers {
    embedded: Option<EmbeddedIssuer>,
    external: Vec<OidcIssuer>,
}

impl Issuers {
    /// Trusts `external` issuers and, if given, the embedded one. Each
    /// external issuer grants the groups it lists; one that lists none
    /// grants any group only when it is the only external issuer. The
    /// embedded issuer signs only what the server's own accounts and
    /// operator give it.
    pub fn new(embedded: Option<EmbeddedIssuer>, mut external: Vec<OidcIssuer>) -> Self {
        if external.len() > 1 {
            external.iter_mut().for_each(OidcIssuer::beside_others);
        }
        Self { embedded, external }
    }

    /// The external issuers.
    pub fn external(&self) -> &[OidcIssuer] {
        &self.external
    }

    fn trusted(&self) -> String {
        let mut names: Vec<&str> = self.external.iter().map(|i| i.config().issuer.as_str()).collect();
        names.extend(self.embedded.as_ref().map(EmbeddedIssuer::issuer));
        names.join(", ")
    }
}

#[async_trait::async_trait]
impl TokenVerifier for Issuers {
    async fn verify(&self, token: &str) -> Result<Principal> {
        let bad = |why: String| Error::Unauthenticated(format!("invalid bearer token: {why}"));
        let jws = match Jws::parse(token) {
            Some(parsed) => parsed?,
            None => {
                // An opaque token: the issuers that can introspect decide.
                let mut last = None;
                for issuer in &self.external {
                    match issuer.introspect(token).await {
                        Some(Ok(p)) => return Ok(p),
                        Some(Err(e)) => last = Some(e),
                        None => {}
                    }
                }
                return Err(last.unwrap_or_else(|| bad("not a JWT (expected three dot-separated parts)".into())));
            }
        };
        let iss = jws.issuer().ok_or_else(|| bad("the token names no issuer (iss)".into()))?;
        if let Some(embedded) = &self.embedded
            && iss == embedded.issuer()
        {
            return embedded.verify(token);
        }
        match self.external.iter().find(|i| nuvola_types::oauth::same_issuer(&i.config().issuer, iss)) {
            Some(issuer) => issuer.verify_jwt(&jws).await,
            None => Err(bad(format!("issuer {iss} is not trusted (trusted: {})", self.trusted()))),
        }
    }
}

/// The claims nuvola reads and writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    #[serde(default)]
    pub groups: Vec<String>,
    /// Platform administrator.
    #[serde(default)]
    pub admin: bool,
    /// The user's mail address, as OIDC's `email` claim: where nuvola
    /// mails them about their deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the issuer checked `email` (OIDC's `email_verified`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// nuvola's own token issuer, for a platform started with no external
/// identity provider.
#[derive(Debug, Clone)]
pub struct EmbeddedIssuer {
    issuer: String,
    key: SigningKey,
    kid: String,
    /// Tokens whose signature was checked already: a client sends the same
    /// token with every call, and the signature check is most of the cost of
    /// one. Their claims (validity period among them) are checked each time.
    signed: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// Most tokens remembered as correctly signed; the memory is emptied when
/// it is full.
const SIGNED_TOKENS_KEPT: usize = 4096;

impl EmbeddedIssuer {
    /// Loads the signing key from `dir/issuer-ed25519.key`, creating it
    /// (readable by the owner only) on first use.
    pub fn open(dir: &Path, issuer: &str) -> Result<Self> {
        let seed = crate::keys::load_or_create(&dir.join("issuer-ed25519.key"))?;
        Ok(Self::from_seed(seed, issuer))
    }

    /// An issuer with a given key (tests).
    pub fn from_seed(seed: [u8; 32], issuer: &str) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let kid = crate::keys::hex(&key.verifying_key().to_bytes()[..8]);
        Self { issuer: issuer.to_string(), key, kid, signed: Default::default() }
    }

    /// The `iss` of the tokens it signs.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Signs a token for `subject` in `groups`, valid for `ttl_secs`.
    pub fn issue(&self, subject: &str, groups: &[String], admin: bool, ttl_secs: i64) -> Result<String> {
        self.issue_with_email(subject, groups, admin, None, ttl_secs)
    }

    /// Signs a token as [`EmbeddedIssuer::issue`] does, carrying `email`
    /// (with `email_verified: true`, since the operator who issues it
    /// vouches for it) when given: the address deployments made with it
    /// record for their owner's mails.
    pub fn issue_with_email(
        &self,
        subject: &str,
        groups: &[String],
        admin: bool,
        email: Option<&str>,
        ttl_secs: i64,
    ) -> Result<String> {
        if !is_subject(subject) {
            return Err(Error::invalid("a token needs a user name: not blank, without control characters"));
        }
        let email = email.map(str::trim);
        if let Some(address) = email.filter(|a| !oidc::is_mail_address(a)) {
            return Err(Error::invalid(format!("{address:?} is not a mail address (name@domain.example)")));
        }
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: AUDIENCE.to_string(),
            iat: now,
            nbf: now,
            exp: now + ttl_secs,
            groups: groups.to_vec(),
            admin,
            email: email.map(str::to_string),
            email_verified: email.map(|_| true),
        };
        self.sign(&claims)
    }

    /// Signs arbitrary claims (tests use it to forge expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String> {
        let header = Header { alg: "EdDSA".into(), typ: "JWT".into(), kid: self.kid.clone() };
        let encode = |v: &dyn erased::Json| B64.encode(v.to_json());
        let signing_input = format!("{}.{}", encode(&header), encode(claims));
        let signature = self.key.sign(signing_input.as_bytes());
        Ok(format!("{signing_input}.{}", B64.encode(signature.to_bytes())))
    }

    fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
}

#[async_trait::async_trait]
impl TokenVerifier for EmbeddedIssuer {
    async fn verify(&self, token: &str) -> Result<Principal> {
        // The inherent, synchronous check below.
        EmbeddedIssuer::verify(self, token)
    }
}

impl EmbeddedIssuer {
    /// Checks one of this issuer's own tokens.
    pub fn verify(&self, token: &str) -> Result<Principal> {
        let bad = |why: &str| Error::Unauthenticated(format!("invalid bearer token: {why}"));
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad("not a JWT (expected three dot-separated parts)"));
        };
        let header: Header = B64
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the header does not decode"))?;
        if header.alg != "EdDSA" {
            return Err(bad(&format!("algorithm {} is not accepted (expected EdDSA)", header.alg)));
        }
        let known = self.signed.lock().unwrap_or_else(|e| e.into_inner()).contains(token);
        if !known {
            let signature = B64
                .decode(s)
                .ok()
                .and_then(|b| Signature::from_slice(&b).ok())
                .ok_or_else(|| bad("the signature does not decode"))?;
            self.verifying_key()
                .verify(format!("{h}.{p}").as_bytes(), &signature)
                .map_err(|_| bad("signature does not match this server's issuer key"))?;
            let mut signed = self.signed.lock().unwrap_or_else(|e| e.into_inner());
            if signed.len() >= SIGNED_TOKENS_KEPT {
                signed.clear();
            }
            signed.insert(token.to_string());
        }
        let claims: Claims = B64
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("the claims do not decode"))?;
        if claims.iss != self.issuer {
            return Err(bad(&format!("issuer {} is not trusted", claims.iss)));
        }
        if !is_subject(&claims.sub) {
            return Err(bad("the token names no subject"));
        }
        if claims.aud != AUDIENCE {
            return Err(bad(&format!("audience {} is not {AUDIENCE}", claims.aud)));
        }
        let now = chrono::Utc::now().timestamp();
        if now > claims.exp + CLOCK_SKEW_SECS {
            return Err(Error::Unauthenticated(format!(
                "bearer token expired at {}; get a new one",
                chrono::DateTime::from_timestamp(claims.exp, 0).map(|t| t.to_rfc3339()).unwrap_or_default()
            )));
        }
        if now + CLOCK_SKEW_SECS < claims.nbf {
            return Err(bad("token is not valid yet"));
        }
        let mut p =
            oidc::principal_with_roles(&claims.sub, &claims.iss, claims.groups, None, Some(EMBEDDED_MANAGER_SUFFIX));
        p.admin = claims.admin;
        p.email = oidc::vouched_email(claims.email.as_deref(), claims.email_verified);
        Ok(p)
    }
}

mod erased {
    /// Object-safe JSON encoding for the two token parts.
    pub trait Json {
        fn to_json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Vec<u8> {
            serde_json::to_vec(self).expect("claims serialise")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer() -> EmbeddedIssuer {
        EmbeddedIssuer::from_seed([7; 32], "nuvola")
    }

    /// Alice's claims, expired since 1970.
    fn expired_claims() -> Claims {
        Claims {
            iss: "nuvola".into(),
            sub: "alice".into(),
            aud: AUDIENCE.into(),
            iat: 0,
            nbf: 0,
            exp: 1000,
            groups: vec![],
            admin: false,
            email: None,
            email_verified: None,
        }
    }

    #[test]
    fn issued_tokens_verify() {
        let token = issuer().issue("alice", &["physics".into()], false, 3600).unwrap();
        let p = issuer().verify(&token).unwrap();
        assert_eq!((p.subject.as_str(), p.groups.as_slice(), p.admin), ("alice", &["physics".to_string()][..], false));
    }

    /// A token issued with an address carries it, verified, to the caller;
    /// one that is no address is refused when issued, and one signed
    /// unverified or malformed is left out.
    #[test]
    fn an_issued_address_reaches_the_caller() {
        let issuer = issuer();
        let token = issuer.issue_with_email("alice", &[], false, Some(" alice@example.org "), 3600).unwrap();
        let payload: serde_json::Value =
            serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap();
        assert_eq!((&payload["email"], &payload["email_verified"]), (&"alice@example.org".into(), &true.into()));
        assert_eq!(issuer.verify(&token).unwrap().email.as_deref(), Some("alice@example.org"));
        let plain = issuer.issue("alice", &[], false, 3600).unwrap();
        assert_eq!(issuer.verify(&plain).unwrap().email, None);
        for bad in ["alice", "alice@localhost", "alice@example.org\r\nBcc: x@y.z", "a@b.c, d@e.f"] {
            let e = issuer.issue_with_email("alice", &[], false, Some(bad), 3600).unwrap_err().to_string();
            assert!(e.contains("is not a mail address"), "{bad:?}: {e}");
        }
        let now = chrono::Utc::now().timestamp();
        let claims =
            |email: &str, verified| Claims { email: Some(email.into()), email_verified: verified, ..expired_claims() };
        for (email, verified, kept) in [
            ("bob@example.org", Some(false), None),
            ("bob@example.org", None, Some("bob@example.org")),
            ("bob@localhost", Some(true), None),
        ] {
            let token = issuer.sign(&Claims { exp: now + 60, ..claims(email, verified) }).unwrap();
            assert_eq!(issuer.verify(&token).unwrap().email.as_deref(), kept, "{email} {verified:?}");
        }
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let good = issuer().issue("alice", &[], false, 3600).unwrap();
        let other = EmbeddedIssuer::from_seed([8; 32], "nuvola").issue("alice", &[], false, 3600).unwrap();
        let tampered = {
            let mut parts: Vec<&str> = good.split('.').collect();
            let forged = B64.encode(
                br#"{"iss":"nuvola","sub":"root","aud":"nuvola","iat":0,"nbf":0,"exp":9999999999,"admin":true}"#,
            );
            parts[1] = &forged;
            parts.join(".")
        };
        let mut expired = expired_claims();
        let expired_token = issuer().sign(&expired).unwrap();
        expired.exp = i64::MAX / 2;
        expired.iss = "evil".into();
        let wrong_issuer = issuer().sign(&expired).unwrap();
        for (token, expect) in [
            ("garbage", "not a JWT"),
            (other.as_str(), "signature does not match"),
            (tampered.as_str(), "signature does not match"),
            (expired_token.as_str(), "expired"),
            (wrong_issuer.as_str(), "issuer evil is not trusted"),
        ] {
            let err = issuer().verify(token).unwrap_err().to_string();
            assert!(err.contains(expect), "{token}: {err}");
        }
    }

    /// The second check of a token skips its signature, never its claims,
    /// and remembers nothing but whole tokens.
    #[test]
    fn a_remembered_token_is_still_checked() {
        let issuer = issuer();
        let good = issuer.issue("alice", &[], false, 3600).unwrap();
        let expired = expired_claims();
        let expired = issuer.sign(&expired).unwrap();
        for _ in 0..2 {
            assert_eq!(issuer.verify(&good).unwrap().subject, "alice");
            assert!(issuer.verify(&expired).unwrap_err().to_string().contains("expired"));
        }
        let mut parts: Vec<&str> = good.split('.').collect();
        let forged = B64.encode(br#"{"iss":"nuvola","sub":"root","aud":"nuvola","iat":0,"nbf":0,"exp":9999999999}"#);
        parts[1] = &forged;
        let err = issuer.verify(&parts.join(".")).unwrap_err().to_string();
        assert!(err.contains("signature does not match"), "{err}");
    }

    #[test]
    fn a_token_must_name_someone() {
        for nobody in ["", " ", "\t", "\u{a0}", "alice\n", "\u{0}"] {
            let err = issuer().issue(nobody, &[], true, 3600).unwrap_err().to_string();
            assert!(err.contains("user name"), "{nobody:?}: {err}");
            // Nor is one signed by this very issuer (an older nuvola, a
            // script with the key) accepted.
            let now = chrono::Utc::now().timestamp();
            let claims = Claims {
                iss: "nuvola".into(),
                sub: nobody.into(),
                aud: AUDIENCE.into(),
                iat: now,
                nbf: now,
                exp: now + 3600,
                groups: vec!["physics/managers".into()],
                admin: true,
                email: None,
                email_verified: None,
            };
            let token = issuer().sign(&claims).unwrap();
            let err = issuer().verify(&token).unwrap_err().to_string();
            assert!(err.contains("names no subject"), "{nobody:?}: {err}");
        }
    }

    /// An external issuer at `url` whose `G/managers` manage `G`, granting
    /// `groups` when given.
    fn external(url: &str, groups: Option<&[&str]>) -> OidcIssuer {
        let mut c = IssuerConfig::new(url, "nuvola");
        c.manager_suffix = Some("/managers".into());
        c.admin_group = Some("admins".into());
        c.groups = groups.map(|g| g.iter().map(|g| g.to_string()).collect());
        OidcIssuer::new(c)
    }

    fn claims_of(url: &str, groups: &[&str]) -> serde_json::Value {
        let exp = chrono::Utc::now().timestamp() + 60;
        serde_json::json!({"iss": url, "sub": "mallory", "aud": "nuvola", "exp": exp, "groups": groups})
    }

    /// Issuer B's users must not manage issuer A's groups because their
    /// token says `bio/managers`.
    #[test]
    fn an_issuer_grants_only_the_groups_it_may() {
        let (a, b) = ("https://iam-a.example", "https://iam-b.example");
        let claims = claims_of(b, &["bio", "bio/managers", "physics/managers", "admins"]);

        // Two issuers, neither listing its groups: B grants none (nuvola
        // refuses such a configuration at start).
        let issuers = Issuers::new(None, vec![external(a, None), external(b, None)]);
        let p = issuers.external()[1].principal(&claims, true).unwrap();
        assert!(!p.in_group("bio") && !p.manages("bio") && !p.manages("physics"), "{p:?}");
        assert!(p.admin, "the issuer's own admin group still counts");

        // Each lists its own: B's claim to bio is ignored, physics kept.
        let issuers = Issuers::new(None, vec![external(a, Some(&["bio"])), external(b, Some(&["physics"]))]);
        let p = issuers.external()[1].principal(&claims, true).unwrap();
        assert!(!p.in_group("bio") && !p.manages("bio"), "{p:?}");
        assert!(p.manages("physics") && p.admin, "{p:?}");
        assert_eq!(p.groups, ["physics/managers", "admins"]);

        // One external issuer alone (with the embedded one or not) grants
        // every group, as before.
        let embedded = Some(EmbeddedIssuer::from_seed([7; 32], "nuvola"));
        let issuers = Issuers::new(embedded, vec![external(b, None)]);
        let p = issuers.external()[0].principal(&claims, true).unwrap();
        assert!(p.in_group("bio") && p.manages("bio") && p.manages("physics"), "{p:?}");
    }

    /// The address a token vouches for reaches the principal, unless the
    /// issuer says it is not verified or it is no address.
    #[test]
    fn a_tokens_email_is_kept_when_verified() {
        let b = "https://iam-b.example";
        let issuers = Issuers::new(None, vec![external(b, None)]);
        let issuer = &issuers.external()[0];
        let with = |extra: serde_json::Value| {
            let mut claims = claims_of(b, &[]);
            claims.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            issuer.principal(&claims, true).unwrap().email
        };
        assert_eq!(with(serde_json::json!({})), None);
        assert_eq!(with(serde_json::json!({"email": " erin@example.org "})), Some("erin@example.org".into()));
        let verified = serde_json::json!({"email": "erin@example.org", "email_verified": true});
        assert_eq!(with(verified), Some("erin@example.org".into()));
        assert_eq!(with(serde_json::json!({"email": "erin@example.org", "email_verified": false})), None);
        for bad in ["erin", "erin@localhost", "@example.org", "erin@example.org\r\nBcc: x@y.z", "<a@b.c>"] {
            assert_eq!(with(serde_json::json!({ "email": bad })), None, "{bad:?}");
        }
    }

    #[test]
    fn the_key_persists_in_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let a = EmbeddedIssuer::open(dir.path(), "nuvola").unwrap();
        let token = a.issue("bob", &[], true, 60).unwrap();
        let b = EmbeddedIssuer::open(dir.path(), "nuvola").unwrap();
        assert!(b.verify(&token).unwrap().admin);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("issuer-ed25519.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
