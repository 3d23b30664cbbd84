//! Secret inputs sealed at rest. The value of every deployment input whose
//! name says it is a secret (a password, a token: see
//! [`nuvola_types::is_secret_input`]) is stored as
//! `{"nuvola_sealed": "<base64 of nonce ‖ ciphertext ‖ tag>"}`, encrypted
//! with AES-256-GCM under the store's key and bound to its deployment and
//! input name (the associated data), so that a sealed value copied to
//! another row does not open. Everything else stays plain JSON, so queries
//! and statistics are unchanged. Values stored plain before a key was
//! configured still read, and are sealed when the deployment is next saved.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

use crate::StoreError;

/// The key of a sealed value's JSON object.
const SEALED: &str = "nuvola_sealed";

/// Seals and opens secret inputs with one key.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(AES-256-GCM)")
    }
}

impl Sealer {
    /// A sealer with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Sealer {
        let key = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key fits AES-256-GCM");
        Sealer { key: LessSafeKey::new(key), random: SystemRandom::new() }
    }

    /// `inputs` of deployment `id` with every secret's value sealed.
    pub fn seal(&self, id: &str, inputs: &Map<String, Value>) -> Result<Map<String, Value>, StoreError> {
        let mut out = inputs.clone();
        for (name, value) in out.iter_mut() {
            if !nuvola_types::is_secret_input(name) || is_sealed(value) {
                continue;
            }
            let mut nonce = [0u8; NONCE_LEN];
            self.random.fill(&mut nonce).map_err(|_| corrupt("no randomness for a nonce".into()))?;
            let mut data = serde_json::to_vec(value).map_err(|e| corrupt(e.to_string()))?;
            self.key
                .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), aad(id, name), &mut data)
                .map_err(|_| corrupt(format!("cannot seal input {name}")))?;
            let mut sealed = nonce.to_vec();
            sealed.extend_from_slice(&data);
            *value = json!({ SEALED: B64.encode(sealed) });
        }
        Ok(out)
    }

    /// `inputs` of deployment `id` with every sealed value opened.
    pub fn open(&self, id: &str, inputs: Map<String, Value>) -> Result<Map<String, Value>, StoreError> {
        open_with(Some(self), id, inputs)
    }

    fn open_one(&self, id: &str, name: &str, sealed: &str) -> Result<Value, StoreError> {
        let bytes = B64.decode(sealed).map_err(|_| corrupt(format!("input {name} of {id}: not base64")))?;
        if bytes.len() < NONCE_LEN {
            return Err(corrupt(format!("input {name} of {id}: too short to be sealed")));
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt("bad nonce".into()))?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, aad(id, name), &mut data).map_err(|_| {
            corrupt(format!(
                "input {name} of deployment {id} does not open with this server's key \
                 (every replica must use the same secrets key file)"
            ))
        })?;
        serde_json::from_slice(plain).map_err(|e| corrupt(format!("input {name} of {id}: {e}")))
    }
}

/// Opens the sealed values of `inputs`; without a sealer, a sealed value is
/// an error that says so (plain values pass either way).
pub(crate) fn open_with(
    sealer: Option<&Sealer>,
    id: &str,
    inputs: Map<String, Value>,
) -> Result<Map<String, Value>, StoreError> {
    let mut out = inputs;
    for (name, value) in out.iter_mut() {
        let Some(sealed) = value.get(SEALED).and_then(Value::as_str).filter(|_| is_sealed(value)) else { continue };
        let Some(sealer) = sealer else {
            return Err(corrupt(format!(
                "input {name} of deployment {id} is sealed, and this server has no secrets key to open it"
            )));
        };
        *value = sealer.open_one(id, name, sealed)?;
    }
    Ok(out)
}

fn is_sealed(value: &Value) -> bool {
    value.as_object().is_some_and(|o| o.len() == 1 && o.get(SEALED).is_some_and(Value::is_string))
}

fn aad(id: &str, name: &str) -> Aad<Vec<u8>> {
    Aad::from(format!("{id}/{name}").into_bytes())
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt { what: "deployments.inputs", detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Map<String, Value> {
        json!({"admin_token": "0123456789abcdef", "workers": 3}).as_object().unwrap().clone()
    }

    #[test]
    fn secrets_are_sealed_bound_to_their_place_and_opened() {
        let sealer = Sealer::new(&[7; 32]);
        let sealed = sealer.seal("d1", &inputs()).unwrap();
        assert_eq!(sealed["workers"], 3, "the rest stays plain");
        assert!(is_sealed(&sealed["admin_token"]));
        assert!(!serde_json::to_string(&sealed).unwrap().contains("0123456789abcdef"));
        assert_ne!(sealer.seal("d1", &inputs()).unwrap(), sealed, "a fresh nonce each time");
        assert_eq!(sealer.open("d1", sealed.clone()).unwrap(), inputs());
        // Sealing twice does not wrap twice; plain values read as they are.
        assert_eq!(sealer.seal("d1", &sealed).unwrap(), sealed);
        assert_eq!(sealer.open("d1", inputs()).unwrap(), inputs());

        // Another deployment, another key, or no key: refused, saying why.
        let moved = sealer.open("d2", sealed.clone()).unwrap_err().to_string();
        assert!(moved.contains("does not open with this server's key"), "{moved}");
        let other = Sealer::new(&[8; 32]).open("d1", sealed.clone()).unwrap_err().to_string();
        assert!(other.contains("same secrets key file"), "{other}");
        let keyless = open_with(None, "d1", sealed).unwrap_err().to_string();
        assert!(keyless.contains("no secrets key"), "{keyless}");
    }
}
