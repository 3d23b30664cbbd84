//! JSON Web Keys (RFC 7517) and JWS signature checks (RFC 7515/7518/8037)
//! with `ring`: RSA (RS256/384/512, PS256/384/512), ECDSA (ES256, ES384)
//! and Ed25519 (EdDSA). Symmetric algorithms and `none` are never accepted:
//! an issuer's public keys are the only thing a token can be checked with.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// One public key of an issuer's JWKS; fields nuvola does not use are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    /// The one algorithm the key is for, when the issuer says.
    #[serde(default)]
    pub alg: Option<String>,
    #[serde(default, rename = "use")]
    pub usage: Option<String>,
    #[serde(default)]
    pub crv: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
    #[serde(default)]
    pub x: Option<String>,
    #[serde(default)]
    pub y: Option<String>,
}

/// A JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

/// Asymmetric JWS algorithms nuvola verifies.
pub const SUPPORTED: &[&str] = &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"];

impl Jwk {
    /// Whether the key may check a signature made with `alg`: a signing
    /// key of the right type and curve, whose own `alg` (if any) is `alg`.
    pub fn fits(&self, alg: &str) -> bool {
        if self.usage.as_deref().is_some_and(|u| u != "sig") {
            return false;
        }
        if self.alg.as_deref().is_some_and(|a| a != alg) {
            return false;
        }
        match (self.kty.as_str(), alg) {
            ("RSA", a) => a.starts_with("RS") || a.starts_with("PS"),
            ("EC", "ES256") => self.crv.as_deref() == Some("P-256"),
            ("EC", "ES384") => self.crv.as_deref() == Some("P-384"),
            ("OKP", "EdDSA") => self.crv.as_deref() == Some("Ed25519"),
            _ => false,
        }
    }

    /// Checks `signature` over `message` made with `alg`; false on any
    /// mismatch, including a malformed key.
    pub fn verify(&self, alg: &str, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        let part = |v: &Option<String>| v.as_deref().and_then(|s| B64.decode(s).ok());
        match self.kty.as_str() {
            "RSA" => {
                let (Some(n), Some(e)) = (part(&self.n), part(&self.e)) else { return false };
                let params: &signature::RsaParameters = match alg {
                    "RS256" => &signature::RSA_PKCS1_2048_8192_SHA256,
                    "RS384" => &signature::RSA_PKCS1_2048_8192_SHA384,
                    "RS512" => &signature::RSA_PKCS1_2048_8192_SHA512,
                    "PS256" => &signature::RSA_PSS_2048_8192_SHA256,
                    "PS384" => &signature::RSA_PSS_2048_8192_SHA384,
                    "PS512" => &signature::RSA_PSS_2048_8192_SHA512,
                    _ => return false,
                };
                RsaPublicKeyComponents { n, e }.verify(params, message, signature).is_ok()
            }
            "EC" => {
                let (Some(x), Some(y)) = (part(&self.x), part(&self.y)) else { return false };
                let (algorithm, size): (&signature::EcdsaVerificationAlgorithm, usize) = match alg {
                    "ES256" => (&signature::ECDSA_P256_SHA256_FIXED, 32),
                    "ES384" => (&signature::ECDSA_P384_SHA384_FIXED, 48),
                    _ => return false,
                };
                if x.len() != size || y.len() != size {
                    return false;
                }
                let mut point = Vec::with_capacity(1 + 2 * size);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(algorithm, point).verify(message, signature).is_ok()
            }
            "OKP" => {
                let Some(x) = part(&self.x) else { return false };
                UnparsedPublicKey::new(&signature::ED25519, x).verify(message, signature).is_ok()
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn ed25519_keys_verify_and_refuse_other_algorithms() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let jwk = Jwk {
            kty: "OKP".into(),
            kid: Some("k".into()),
            alg: None,
            usage: Some("sig".into()),
            crv: Some("Ed25519".into()),
            n: None,
            e: None,
            x: Some(B64.encode(key.verifying_key().to_bytes())),
            y: None,
        };
        let sig = key.sign(b"message").to_bytes();
        assert!(jwk.verify("EdDSA", b"message", &sig));
        assert!(!jwk.verify("EdDSA", b"messagE", &sig));
        assert!(!jwk.verify("RS256", b"message", &sig));
        assert!(!jwk.verify("HS256", b"message", &sig));
        assert!(!jwk.verify("none", b"message", &[]));
        let encryption = Jwk { usage: Some("enc".into()), ..jwk.clone() };
        assert!(!encryption.verify("EdDSA", b"message", &sig));
        let pinned = Jwk { alg: Some("ES256".into()), ..jwk };
        assert!(!pinned.fits("EdDSA"));
    }
}
