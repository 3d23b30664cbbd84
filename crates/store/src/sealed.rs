//! Secret inputs sealed at rest, in a column of their own.
//!
//! A deployment's secret inputs (those its template declares secret, and
//! any whose name says so: [`nuvola_types::is_secret_input`]) are taken
//! out of its `parameters` and `inputs` columns. Their names and values go
//! into the `secrets` column as `{"names": [...], "sealed": "<base64 of
//! nonce ‖ ciphertext ‖ tag>"}`, the ciphertext being AES-256-GCM of
//! `{"parameters": {...}, "inputs": {...}}` under the store's key, bound to
//! the deployment's id (the associated data), so that sealed values copied
//! to another row do not open.
//!
//! No value a user sends shares a column with the storage format, so none
//! can be mistaken for a sealed one. A row whose secrets do not open (no
//! key, another key, a damaged column) still reads, without its secret
//! values and saying why ([`Opened::unreadable`]): it can be listed, shown
//! (secrets are masked anyway) and deleted; only what needs the values is
//! refused, by the app.
//!
//! Rows written before this column existed read as they were: plain
//! values (from before a key was configured) as they are, and values
//! sealed one by one as `{"nuvola_sealed": "..."}` under a secret's name
//! are opened where they open; either kind moves into the column on the
//! row's next save.
//!
//! A deployment's outputs may hold credentials too (the private key or
//! password a node is logged in with), so with a key its `outputs` column
//! holds them sealed the same way, bound to `deployment/<id>/outputs`: the
//! column is then a JSON string (the base64 text), where plain outputs
//! are a JSON object, so the two cannot be mistaken for each other and
//! rows written before read as they are. Outputs that do not open read
//! as none, saying why ([`OpenedOutputs::unreadable`]).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::StoreError;

/// Seals and opens secret inputs with one key.
pub struct Sealer {
    key: LessSafeKey,
    random: SystemRandom,
    /// The key itself, for [`Sealer::derived`].
    raw: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(AES-256-GCM)")
    }
}

/// The `secrets` column.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Column {
    names: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed: Option<String>,
}

/// What the sealed part holds: the secrets' values.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Values {
    parameters: Map<String, Value>,
    inputs: Map<String, Value>,
}

/// A deployment's secrets put back into its parameters and inputs.
#[derive(Debug, Default)]
pub(crate) struct Opened {
    /// The names of its secret inputs.
    pub names: BTreeSet<String>,
    /// Why the values could not be put back, when they could not.
    pub unreadable: Option<String>,
}

impl Sealer {
    /// A sealer with a 32-byte key.
    pub fn new(key: &[u8; 32]) -> Sealer {
        let aead = UnboundKey::new(&AES_256_GCM, key).expect("a 32-byte key fits AES-256-GCM");
        Sealer { key: LessSafeKey::new(aead), random: SystemRandom::new(), raw: *key }
    }

    /// A secret for `purpose` made from the key (SHA-256 over a label,
    /// the purpose and the key): what it seals tells nothing of it, and
    /// it tells nothing of the key.
    pub fn derived(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"nuvola/derived-secret/v1\0")
            .chain_update(purpose.as_bytes())
            .chain_update(b"\0")
            .chain_update(self.raw);
        digest.finalize().into()
    }

    /// `plain` sealed for `aad` (what it is bound to), as base64.
    pub(crate) fn seal(&self, aad: String, plain: &[u8]) -> Result<String, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).map_err(|_| corrupt("no randomness for a nonce".into()))?;
        let mut data = plain.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad.into_bytes()), &mut data)
            .map_err(|_| corrupt("cannot seal the secret inputs".into()))?;
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&data);
        Ok(B64.encode(sealed))
    }

    /// The plain bytes of `sealed`, or `None` when it does not open with
    /// this key for `aad`.
    pub(crate) fn open(&self, aad: String, sealed: &str) -> Option<Vec<u8>> {
        let bytes = B64.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = data.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(aad.into_bytes()), &mut data).ok()?;
        Some(plain.to_vec())
    }
}

/// Takes the secrets of deployment `id` (those `declared`, and any whose
/// name says so) out of `parameters` and `inputs`, and returns the text of
/// its `secrets` column. Without a sealer the values stay where they are
/// and the column only names them.
pub(crate) fn take_out(
    sealer: Option<&Sealer>,
    id: &str,
    declared: &BTreeSet<String>,
    parameters: &mut Map<String, Value>,
    inputs: &mut Map<String, Value>,
) -> Result<String, StoreError> {
    let names = secret_names(declared, parameters, inputs);
    let mut column = Column { names, sealed: None };
    if let Some(sealer) = sealer {
        let mut values = Values::default();
        for name in &column.names {
            if let Some(v) = parameters.remove(name) {
                values.parameters.insert(name.clone(), v);
            }
            if let Some(v) = inputs.remove(name) {
                values.inputs.insert(name.clone(), v);
            }
        }
        if !values.parameters.is_empty() || !values.inputs.is_empty() {
            let plain = serde_json::to_vec(&values).map_err(|e| corrupt(e.to_string()))?;
            column.sealed = Some(sealer.seal(aad(id), &plain)?);
        }
    }
    serde_json::to_string(&column).map_err(|e| corrupt(e.to_string()))
}

/// Puts the secrets of deployment `id` from its `secrets` column back
/// into `parameters` and `inputs`. Never fails: what does not open is
/// left out and said in [`Opened::unreadable`].
pub(crate) fn put_back(
    sealer: Option<&Sealer>,
    id: &str,
    column: Option<&str>,
    parameters: &mut Map<String, Value>,
    inputs: &mut Map<String, Value>,
) -> Opened {
    let Some(column) = column else { return legacy(sealer, id, parameters, inputs) };
    let column: Column = match serde_json::from_str(column) {
        Ok(c) => c,
        Err(e) => {
            let names = secret_names(&BTreeSet::new(), parameters, inputs);
            return Opened { names, unreadable: Some(format!("its secrets column is damaged ({e})")) };
        }
    };
    let Some(sealed) = &column.sealed else { return Opened { names: column.names, unreadable: None } };
    let Some(sealer) = sealer else {
        return Opened {
            names: column.names,
            unreadable: Some("its secret inputs are sealed, and this server has no secrets key to open them".into()),
        };
    };
    let values = sealer.open(aad(id), sealed).and_then(|plain| serde_json::from_slice::<Values>(&plain).ok());
    let Some(values) = values else {
        return Opened {
            names: column.names,
            unreadable: Some(
                "its secret inputs do not open with this server's key (every replica must use the same secrets key file)"
                    .into(),
            ),
        };
    };
    parameters.extend(values.parameters);
    inputs.extend(values.inputs);
    Opened { names: column.names, unreadable: None }
}

/// A row from before the `secrets` column: values sealed one by one
/// under a secret's name are opened (with the name in the associated
/// data, as they were sealed); one that does not open is left out.
fn legacy(
    sealer: Option<&Sealer>,
    id: &str,
    parameters: &mut Map<String, Value>,
    inputs: &mut Map<String, Value>,
) -> Opened {
    const SEALED: &str = "nuvola_sealed";
    let names = secret_names(&BTreeSet::new(), parameters, inputs);
    let mut unreadable = None;
    for map in [parameters, inputs] {
        for name in &names {
            let Some(value) = map.get(name) else { continue };
            let Some(sealed) = value.as_object().filter(|o| o.len() == 1).and_then(|o| o.get(SEALED)?.as_str()) else {
                continue;
            };
            let opened = sealer
                .and_then(|s| s.open(format!("{id}/{name}"), sealed))
                .and_then(|plain| serde_json::from_slice::<Value>(&plain).ok());
            match opened {
                Some(v) => {
                    map.insert(name.clone(), v);
                }
                None => {
                    map.remove(name);
                    unreadable = Some(format!(
                        "its secret input {name} was sealed with another secrets key, or none is configured"
                    ));
                }
            }
        }
    }
    Opened { names, unreadable }
}

/// A deployment's outputs read from their column.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct OpenedOutputs {
    pub outputs: Map<String, Value>,
    /// Why they could not be read, when they could not (they are then
    /// empty).
    pub unreadable: Option<String>,
}

/// The text of deployment `id`'s `outputs` column: sealed when there is a
/// sealer and something to seal, plain otherwise.
pub(crate) fn seal_outputs(
    sealer: Option<&Sealer>,
    id: &str,
    outputs: &Map<String, Value>,
) -> Result<String, StoreError> {
    let plain = serde_json::to_string(outputs).map_err(|e| corrupt_outputs(e.to_string()))?;
    match sealer {
        Some(sealer) if !outputs.is_empty() => {
            let sealed = sealer.seal(outputs_aad(id), plain.as_bytes())?;
            serde_json::to_string(&Value::String(sealed)).map_err(|e| corrupt_outputs(e.to_string()))
        }
        _ => Ok(plain),
    }
}

/// Deployment `id`'s outputs from the text of its `outputs` column: plain
/// ones as they are, sealed ones opened. Fails only on a column that is
/// neither (damaged); sealed ones that do not open read as none, saying
/// why.
pub(crate) fn open_outputs(sealer: Option<&Sealer>, id: &str, column: &str) -> Result<OpenedOutputs, StoreError> {
    let sealed = match serde_json::from_str::<Value>(column).map_err(|e| corrupt_outputs(e.to_string()))? {
        Value::Object(outputs) => return Ok(OpenedOutputs { outputs, unreadable: None }),
        Value::String(sealed) => sealed,
        other => return Err(corrupt_outputs(format!("neither outputs nor sealed outputs: {other}"))),
    };
    let Some(sealer) = sealer else {
        let why = "its outputs are sealed, and this server has no secrets key to open them";
        return Ok(OpenedOutputs { outputs: Map::new(), unreadable: Some(why.into()) });
    };
    let opened = sealer.open(outputs_aad(id), &sealed).and_then(|plain| serde_json::from_slice(&plain).ok());
    Ok(match opened {
        Some(outputs) => OpenedOutputs { outputs, unreadable: None },
        None => OpenedOutputs {
            outputs: Map::new(),
            unreadable: Some(
                "its outputs do not open with this server's key (every replica must use the same secrets key file)"
                    .into(),
            ),
        },
    })
}

fn outputs_aad(id: &str) -> String {
    format!("deployment/{id}/outputs")
}

fn corrupt_outputs(detail: String) -> StoreError {
    StoreError::Corrupt { what: "deployments.outputs", detail }
}

fn secret_names(
    declared: &BTreeSet<String>,
    parameters: &Map<String, Value>,
    inputs: &Map<String, Value>,
) -> BTreeSet<String> {
    let by_name = parameters.keys().chain(inputs.keys()).filter(|n| nuvola_types::is_secret_input(n));
    declared.iter().chain(by_name).cloned().collect()
}

fn aad(id: &str) -> String {
    format!("deployment/{id}")
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt { what: "deployments.secrets", detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn declared(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn secrets_leave_the_plain_columns_and_come_back() {
        let sealer = Sealer::new(&[7; 32]);
        let given = map(json!({"admin_token": "0123456789abcdef", "api_key": "k-123", "workers": 3}));
        let (mut p, mut i) = (given.clone(), given.clone());
        let column = take_out(Some(&sealer), "d1", &declared(&["api_key"]), &mut p, &mut i).unwrap();
        assert_eq!(p, map(json!({"workers": 3})), "only what is not secret stays plain");
        assert!(!column.contains("0123456789abcdef") && !column.contains("k-123"), "{column}");
        assert!(column.contains(r#""names":["admin_token","api_key"]"#), "{column}");
        let again = take_out(Some(&sealer), "d1", &declared(&["api_key"]), &mut given.clone(), &mut Map::new());
        assert_ne!(again.unwrap(), column, "a fresh nonce each time");

        let opened = put_back(Some(&sealer), "d1", Some(&column), &mut p, &mut i);
        assert_eq!((p, i), (given.clone(), given.clone()));
        assert_eq!((opened.names, opened.unreadable), (declared(&["admin_token", "api_key"]), None));
    }

    #[test]
    fn what_does_not_open_is_left_out_and_said() {
        let sealer = Sealer::new(&[7; 32]);
        let given = map(json!({"admin_token": "0123456789abcdef", "workers": 3}));
        let column = take_out(Some(&sealer), "d1", &BTreeSet::new(), &mut given.clone(), &mut Map::new()).unwrap();
        for (who, sealer, id) in [
            ("moved to another row", Some(&sealer), "d2"),
            ("another key", Some(&Sealer::new(&[8; 32])), "d1"),
            ("no key", None, "d1"),
        ] {
            let mut p = map(json!({"workers": 3}));
            let opened = put_back(sealer, id, Some(&column), &mut p, &mut Map::new());
            assert_eq!(p, map(json!({"workers": 3})), "{who}");
            assert_eq!(opened.names, declared(&["admin_token"]), "{who}: still known as secret");
            assert!(opened.unreadable.is_some(), "{who}");
        }
        let mut p = Map::new();
        let damaged = put_back(Some(&sealer), "d1", Some("{not json"), &mut p, &mut Map::new());
        assert!(damaged.unreadable.unwrap().contains("damaged"));
    }

    #[test]
    fn user_data_shaped_like_a_sealed_value_is_only_data() {
        // The review's attack: a map input whose value looks sealed.
        let sealer = Sealer::new(&[7; 32]);
        let fake = json!({"nuvola_sealed": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"});
        let given = map(json!({"settings": fake, "db_password": fake}));
        let (mut p, mut i) = (given.clone(), given.clone());
        let column = take_out(Some(&sealer), "d1", &BTreeSet::new(), &mut p, &mut i).unwrap();
        let opened = put_back(Some(&sealer), "d1", Some(&column), &mut p, &mut i);
        assert_eq!((p, i, opened.unreadable), (given.clone(), given, None));
    }

    #[test]
    fn outputs_are_sealed_with_a_key_and_opened_for_their_row_only() {
        let sealer = Sealer::new(&[7; 32]);
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE=\n-----END OPENSSH PRIVATE KEY-----\n";
        let outputs = map(json!({"node_creds": {"user": "cloudadm", "token_type": "private_key", "token": key}}));
        let column = seal_outputs(Some(&sealer), "d1", &outputs).unwrap();
        assert!(!column.contains("cloudadm") && !column.contains("OPENSSH"), "{column}");
        assert!(column.starts_with('"'), "a JSON string, never an object: {column}");
        let opened = open_outputs(Some(&sealer), "d1", &column).unwrap();
        assert_eq!(opened, OpenedOutputs { outputs: outputs.clone(), unreadable: None });

        for (who, sealer, id) in [
            ("moved to another row", Some(&sealer), "d2"),
            ("another key", Some(&Sealer::new(&[8; 32])), "d1"),
            ("no key", None, "d1"),
        ] {
            let opened = open_outputs(sealer, id, &column).unwrap();
            assert!(opened.outputs.is_empty() && opened.unreadable.is_some(), "{who}: {opened:?}");
        }
        // The secrets column's sealed text is not outputs.
        let secrets = take_out(Some(&sealer), "d1", &declared(&["x"]), &mut map(json!({"x": 1})), &mut Map::new());
        let blob: Column = serde_json::from_str(&secrets.unwrap()).unwrap();
        let pasted = serde_json::to_string(&blob.sealed.unwrap()).unwrap();
        assert!(open_outputs(Some(&sealer), "d1", &pasted).unwrap().unreadable.is_some());
    }

    #[test]
    fn derived_secrets_differ_by_purpose_and_key() {
        let (a, b) = (Sealer::new(&[7; 32]), Sealer::new(&[8; 32]));
        assert_eq!(a.derived("ssh-login-keys"), Sealer::new(&[7; 32]).derived("ssh-login-keys"));
        assert_ne!(a.derived("ssh-login-keys"), a.derived("other"));
        assert_ne!(a.derived("ssh-login-keys"), b.derived("ssh-login-keys"));
        assert_ne!(a.derived("ssh-login-keys"), [7; 32]);
    }

    #[test]
    fn plain_outputs_read_as_they_are() {
        let sealer = Sealer::new(&[7; 32]);
        let outputs = map(json!({"ip": "192.0.2.1", "looks_sealed": "AAAA"}));
        // Written before a key, or without one: plain, and read with or without one.
        let plain = seal_outputs(None, "d1", &outputs).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&plain).unwrap(), Value::Object(outputs.clone()));
        for sealer in [Some(&sealer), None] {
            assert_eq!(open_outputs(sealer, "d1", &plain).unwrap().outputs, outputs);
        }
        assert_eq!(seal_outputs(Some(&sealer), "d1", &Map::new()).unwrap(), "{}", "nothing to seal");
        assert!(open_outputs(Some(&sealer), "d1", "[1]").is_err(), "damaged");
    }

    #[test]
    fn rows_from_before_the_column_still_read() {
        let sealer = Sealer::new(&[7; 32]);
        let old = sealer.seal("d1/admin_token".into(), br#""0123456789abcdef""#).unwrap();
        let row =
            map(json!({"admin_token": {"nuvola_sealed": old}, "plain_password": "p", "other": {"nuvola_sealed": "x"}}));
        let mut p = row.clone();
        let opened = put_back(Some(&sealer), "d1", None, &mut p, &mut Map::new());
        assert_eq!(p["admin_token"], "0123456789abcdef");
        assert_eq!(p["plain_password"], "p");
        assert_eq!(p["other"], json!({"nuvola_sealed": "x"}), "not a secret's name: data");
        assert_eq!(opened.unreadable, None);

        // Under another key: left out, the row still reads.
        let mut p = row.clone();
        let opened = put_back(Some(&Sealer::new(&[9; 32])), "d1", None, &mut p, &mut Map::new());
        assert!(!p.contains_key("admin_token") && opened.unreadable.is_some());
    }
}
