//! The SSH key pair nuvola makes for a deployment whose template gives
//! none, as the Infrastructure Manager makes one for its default account
//! (`cloudadm`): the public key is set up on the deployment's servers, and
//! the private key reaches the user only in the deployment's (sealed)
//! outputs, as `endpoint.credential` `{user, token_type: private_key,
//! token}`.
//!
//! The key is derived, never stored: an Ed25519 seed is SHA-256 over a
//! label, a secret the server already holds (derived from its secrets key)
//! and the deployment's id, so the same server makes the same key for the
//! same deployment whenever it fills the outputs, and no other deployment
//! or server can. The keys are written in OpenSSH's own formats: the
//! public one as an `authorized_keys` line, the private one as an
//! unencrypted `openssh-key-v1` file (see OpenSSH's PROTOCOL.key), which
//! `ssh` and `ssh-keygen` read.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};

use crate::{Credential, InstanceAttributes};

/// What a deployment's login key pair is made from, besides its id.
const LABEL: &[u8] = b"nuvola/ssh-login-key/v1\0";
const KEY_TYPE: &str = "ssh-ed25519";

/// A deployment's SSH login key pair.
#[derive(Clone)]
pub struct LoginKey {
    key: SigningKey,
    comment: String,
}

impl std::fmt::Debug for LoginKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoginKey({})", self.public_openssh())
    }
}

impl LoginKey {
    /// What the server's secret for login keys is derived for, from its
    /// secrets key (so that the key itself serves no second purpose).
    pub const PURPOSE: &'static str = "ssh-login-keys";

    /// The key pair of deployment `deployment_id` under `secret`.
    pub fn derive(secret: &[u8; 32], deployment_id: &str) -> LoginKey {
        let seed: [u8; 32] = Sha256::new()
            .chain_update(LABEL)
            .chain_update(secret)
            .chain_update(deployment_id.as_bytes())
            .finalize()
            .into();
        LoginKey { key: SigningKey::from_bytes(&seed), comment: format!("nuvola-{deployment_id}") }
    }

    /// The public key as an `authorized_keys` line:
    /// `ssh-ed25519 AAAA... nuvola-<deployment>`.
    pub fn public_openssh(&self) -> String {
        format!("{KEY_TYPE} {} {}", B64.encode(self.public_blob()), self.comment)
    }

    /// The private key as an unencrypted OpenSSH private key file.
    pub fn private_openssh(&self) -> String {
        let public = self.key.verifying_key().to_bytes();
        // The private section: a check number twice (any value; derived
        // here so that the text is the same each time), the key, its
        // comment, then padding 1, 2, 3... to the cipher's block (8).
        let check: [u8; 4] = Sha256::digest(self.key.to_bytes())[..4].try_into().unwrap_or_default();
        let mut private = Vec::new();
        private.extend_from_slice(&check);
        private.extend_from_slice(&check);
        put_string(&mut private, KEY_TYPE.as_bytes());
        put_string(&mut private, &public);
        put_string(&mut private, &[self.key.to_bytes().as_slice(), public.as_slice()].concat());
        put_string(&mut private, self.comment.as_bytes());
        for pad in 1..=255u8 {
            if private.len() % 8 == 0 {
                break;
            }
            private.push(pad);
        }
        let mut file = b"openssh-key-v1\0".to_vec();
        put_string(&mut file, b"none"); // cipher
        put_string(&mut file, b"none"); // KDF
        put_string(&mut file, b""); // KDF options
        file.extend_from_slice(&1u32.to_be_bytes()); // one key
        put_string(&mut file, &self.public_blob());
        put_string(&mut file, &private);
        let text = B64.encode(file);
        let mut out = String::from("-----BEGIN OPENSSH PRIVATE KEY-----\n");
        for line in text.as_bytes().chunks(70) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END OPENSSH PRIVATE KEY-----\n");
        out
    }

    /// The credential of an account logged in to with this key.
    pub fn credential(&self, user: &str) -> Credential {
        Credential {
            user: user.to_string(),
            token_type: Some("private_key".into()),
            token: Some(self.private_openssh()),
        }
    }

    /// Gives the private key to the credentials of the instances whose
    /// node `template` set up with this key for its login account (see
    /// [`crate::cloud_init::node_setups`]); other credentials (a key the
    /// template gave, or what a provider made itself) stay as they are.
    pub fn fill_credentials(
        &self,
        template: &str,
        inputs: &serde_json::Map<String, serde_json::Value>,
        nodes: &mut BTreeMap<String, Vec<InstanceAttributes>>,
    ) {
        let public = self.public_openssh();
        // A template that loaded once is valid YAML: nothing is lost here.
        let setups = crate::cloud_init::node_setups(template, inputs, Some(&public)).unwrap_or_default();
        for (node, instances) in nodes.iter_mut() {
            let Some(setup) = setups.get(node) else { continue };
            let Some(login) = setup.login.as_deref() else { continue };
            let made = setup.users.iter().any(|u| u.name == login && u.ssh_key.as_deref() == Some(public.as_str()));
            if !made {
                continue;
            }
            for credential in instances.iter_mut().filter_map(|i| i.credential.as_mut()) {
                if credential.user == login && credential.token.is_none() {
                    *credential = self.credential(login);
                }
            }
        }
    }

    /// `string "ssh-ed25519" ‖ string <32-byte public key>`.
    fn public_blob(&self) -> Vec<u8> {
        let mut blob = Vec::new();
        put_string(&mut blob, KEY_TYPE.as_bytes());
        put_string(&mut blob, &self.key.verifying_key().to_bytes());
        blob
    }
}

/// An SSH wire-format string: its length (32 bits, big-endian), then it.
fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LoginKey {
        LoginKey::derive(&[7; 32], "11111111-2222-3333-4444-555555555555")
    }

    #[test]
    fn the_same_secret_and_deployment_make_the_same_key_and_no_other_does() {
        assert_eq!(key().private_openssh(), key().private_openssh());
        assert_eq!(key().public_openssh(), key().public_openssh());
        let others =
            [LoginKey::derive(&[8; 32], "11111111-2222-3333-4444-555555555555"), LoginKey::derive(&[7; 32], "d2")];
        for other in others {
            assert_ne!(other.public_openssh().split(' ').nth(1), key().public_openssh().split(' ').nth(1));
        }
    }

    #[test]
    fn the_public_key_is_an_authorized_keys_line() {
        let line = key().public_openssh();
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!((parts[0], parts[2]), ("ssh-ed25519", "nuvola-11111111-2222-3333-4444-555555555555"));
        let blob = B64.decode(parts[1]).unwrap();
        assert_eq!(blob.len(), 4 + 11 + 4 + 32);
        assert_eq!(&blob[..15], b"\0\0\0\x0bssh-ed25519");
        assert_eq!(&blob[19..], key().key.verifying_key().as_bytes());
    }

    #[test]
    fn the_private_key_file_has_openssh_layout() {
        let text = key().private_openssh();
        assert!(text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"), "{text}");
        assert!(text.ends_with("\n-----END OPENSSH PRIVATE KEY-----\n"), "{text}");
        let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
        assert!(text.lines().all(|l| l.len() <= 70));
        let file = B64.decode(body).unwrap();
        assert!(file.starts_with(b"openssh-key-v1\0\0\0\0\x04none\0\0\0\x04none\0\0\0\0\0\0\0\x01"));
        // The private section is a whole number of 8-byte blocks, and
        // starts with its check number twice.
        // magic, cipher, KDF, KDF options, key count, public key blob.
        let private_len_at = 15 + 8 + 8 + 4 + 4 + (4 + 51);
        assert_eq!(file[private_len_at - 51..private_len_at], key().public_blob());
        let private = &file[private_len_at + 4..];
        let len = u32::from_be_bytes(file[private_len_at..private_len_at + 4].try_into().unwrap()) as usize;
        assert_eq!((private.len(), len % 8), (len, 0));
        assert_eq!(private[..4], private[4..8]);
    }

    #[test]
    fn only_accounts_set_up_with_the_made_key_get_it_as_their_credential() {
        let template = r#"
topology_template:
  node_templates:
    made: { type: tosca.nodes.indigo.Compute }
    given:
      type: tosca.nodes.indigo.Compute
      capabilities: { os: { properties: { credential: { token: "ssh-ed25519 KEY" } } } }
"#;
        let key = key();
        let vm = |credential: Option<Credential>| InstanceAttributes {
            id: "s".into(),
            private_address: "10.0.0.2".into(),
            public_address: None,
            credential,
        };
        let im_made = Credential { token: Some("IM's own".into()), ..key.credential("cloudadm") };
        let mut nodes: BTreeMap<String, Vec<InstanceAttributes>> = [
            ("made".to_string(), vec![vm(Some(Credential::account("cloudadm"))), vm(Some(im_made.clone())), vm(None)]),
            ("given".to_string(), vec![vm(Some(Credential::account("cloudadm")))]),
        ]
        .into();
        key.fill_credentials(template, &serde_json::Map::new(), &mut nodes);
        let made = &nodes["made"];
        assert_eq!(made[0].credential, Some(key.credential("cloudadm")));
        assert_eq!(made[0].tosca()["endpoint"]["credential"]["token_type"], "private_key");
        assert_eq!((&made[1].credential, &made[2].credential), (&Some(im_made), &None), "what a provider made stays");
        assert_eq!(nodes["given"][0].credential, Some(Credential::account("cloudadm")), "the user's own key");
    }

    #[test]
    fn ssh_keygen_reads_the_private_key_back_to_the_public_one() {
        if let Some(public) = crate::testing::ssh_keygen_public(&key().private_openssh()) {
            assert_eq!(public, key().public_openssh());
        }
    }
}
