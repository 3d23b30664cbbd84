//! cloud-init user-data for a node's servers, generated from the template:
//! the accounts (`os_users`), SSH keys (`os.credential`), packages, and the
//! node's own configuration (deployment, attempt, node, index) written to
//! `/etc/nuvola/node.json` for what runs on the server later.
//!
//! The cloud-config is written as JSON, which is YAML, so no value can
//! break its syntax. A provider's own user-data, when it sets one, goes
//! along as a second part of a MIME multipart message, which cloud-init
//! reads part by part.

use serde_json::{Value, json};

use crate::NodeSetup;

/// Where a server sits: written to the server for its own use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeIdentity<'a> {
    pub deployment_id: &'a str,
    pub attempt_id: &'a str,
    pub node: &'a str,
    pub index: u32,
    pub hostname: &'a str,
}

/// Nova refuses user-data above 64 KiB once base64-encoded.
pub const MAX_ENCODED: usize = 65_535;

/// The `#cloud-config` document for one server.
pub fn cloud_config(setup: &NodeSetup, id: &NodeIdentity<'_>) -> String {
    let mut doc = serde_json::Map::new();
    doc.insert("hostname".into(), json!(id.hostname));
    let mut users = vec![json!("default")];
    for u in &setup.users {
        let mut user = json!({"name": u.name, "shell": "/bin/bash", "lock_passwd": true});
        if let Some(key) = &u.ssh_key {
            user["ssh_authorized_keys"] = json!([key]);
        }
        if u.sudo {
            user["sudo"] = json!("ALL=(ALL) NOPASSWD:ALL");
        }
        if let Some(uid) = u.uid {
            user["uid"] = json!(uid);
        }
        users.push(user);
    }
    doc.insert("users".into(), Value::Array(users));
    if !setup.ssh_keys.is_empty() {
        doc.insert("ssh_authorized_keys".into(), json!(setup.ssh_keys));
    }
    if !setup.packages.is_empty() {
        doc.insert("package_update".into(), json!(true));
        doc.insert("packages".into(), json!(setup.packages));
    }
    let node = json!({"deployment": id.deployment_id, "attempt": id.attempt_id, "node": id.node, "index": id.index});
    doc.insert(
        "write_files".into(),
        json!([{"path": "/etc/nuvola/node.json", "permissions": "0644",
                "content": serde_json::to_string_pretty(&node).unwrap_or_default()}]),
    );
    format!("#cloud-config\n{}\n", serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default())
}

/// The whole user-data: the cloud-config alone, or a multipart message
/// with the provider's `extra` user-data as its second part.
pub fn user_data(setup: &NodeSetup, id: &NodeIdentity<'_>, extra: Option<&str>) -> String {
    let config = cloud_config(setup, id);
    let Some(extra) = extra else { return config };
    let boundary = "==nuvola-user-data==";
    let extra_type = if extra.starts_with("#cloud-config") {
        "text/cloud-config"
    } else if extra.starts_with("#!") {
        "text/x-shellscript"
    } else {
        "text/plain"
    };
    format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n--{boundary}\nContent-Type: \
         text/cloud-config; charset=\"utf-8\"\n\n{config}\n--{boundary}\nContent-Type: {extra_type}; \
         charset=\"utf-8\"\n\n{extra}\n--{boundary}--\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsUser;

    fn id() -> NodeIdentity<'static> {
        NodeIdentity { deployment_id: "d1", attempt_id: "a1", node: "vm", index: 0, hostname: "vm-0" }
    }

    #[test]
    fn users_keys_and_packages_reach_the_cloud_config() {
        let setup = NodeSetup {
            users: vec![OsUser {
                name: "alice".into(),
                ssh_key: Some("ssh-ed25519 AAAA alice".into()),
                sudo: true,
                uid: Some(2001),
            }],
            ssh_keys: vec!["ssh-ed25519 BBBB admin".into()],
            packages: vec!["htop".into(), "git".into()],
        };
        let text = cloud_config(&setup, &id());
        assert!(text.starts_with("#cloud-config\n"));
        let doc: Value = serde_json::from_str(text.trim_start_matches("#cloud-config\n")).unwrap();
        assert_eq!(doc["users"][0], "default");
        assert_eq!(doc["users"][1]["name"], "alice");
        assert_eq!(doc["users"][1]["ssh_authorized_keys"][0], "ssh-ed25519 AAAA alice");
        assert_eq!(doc["users"][1]["sudo"], "ALL=(ALL) NOPASSWD:ALL");
        assert_eq!(doc["users"][1]["uid"], 2001);
        assert_eq!(doc["ssh_authorized_keys"][0], "ssh-ed25519 BBBB admin");
        assert_eq!(doc["packages"], json!(["htop", "git"]));
        let node: Value = serde_json::from_str(doc["write_files"][0]["content"].as_str().unwrap()).unwrap();
        assert_eq!(node, json!({"deployment": "d1", "attempt": "a1", "node": "vm", "index": 0}));
    }

    #[test]
    fn quotes_and_newlines_cannot_break_the_document() {
        let setup = NodeSetup { packages: vec!["a\"b\nc: d".into()], ..NodeSetup::default() };
        let text = cloud_config(&setup, &id());
        let doc: Value = serde_json::from_str(text.trim_start_matches("#cloud-config\n")).unwrap();
        assert_eq!(doc["packages"][0], "a\"b\nc: d");
    }

    #[test]
    fn provider_user_data_goes_as_a_second_part() {
        let text = user_data(&NodeSetup::default(), &id(), Some("#!/bin/sh\necho hi"));
        assert!(text.starts_with("Content-Type: multipart/mixed"));
        assert!(text.contains("text/cloud-config"));
        assert!(text.contains("Content-Type: text/x-shellscript"));
        assert!(text.trim_end().ends_with("--==nuvola-user-data==--"));
        assert_eq!(user_data(&NodeSetup::default(), &id(), None), cloud_config(&NodeSetup::default(), &id()));
    }
}
