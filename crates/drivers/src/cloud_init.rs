//! cloud-init user-data for a node's servers, generated from the template:
//! the accounts (`os_users`), SSH keys (`os.credential`), packages, and the
//! node's own configuration (deployment, attempt, node, index) written to
//! `/etc/nuvola/node.json` for what runs on the server later.
//!
//! The cloud-config is written as JSON, which is YAML, so no value can
//! break its syntax. A provider's own user-data, when it sets one, goes
//! along as a second part of a MIME multipart message, which cloud-init
//! reads part by part.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{NodeSetup, OsUser};

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

/// The account the Infrastructure Manager makes for an `os.credential`
/// that names no user (its OpenStack connector's default).
pub const DEFAULT_LOGIN: &str = "cloudadm";

/// The setup of every node template of a TOSCA text that asks for one:
/// `properties.os_users` (INDIGO `tosca.datatypes.indigo.User`: name, SSH
/// public key, sudo, uid), the `os` capability's `credential` and
/// `properties.packages` (a list of package names). `get_input` is
/// resolved from `inputs`, then from the input's declared default. Nodes
/// that ask for nothing are left out.
///
/// A credential whose `token` is an SSH public key gives that key to the
/// image's default user and, as IM does, to the account `credential.user`
/// ([`DEFAULT_LOGIN`] when it names none), made with sudo unless
/// `os_users` already makes it; that account is the node's
/// [`NodeSetup::login`]. Without a token, and given `made_key` (the public
/// half of the deployment's [`crate::login_key::LoginKey`]), that key goes
/// the same way to [`DEFAULT_LOGIN`], as IM sets up the key pair it makes
/// (unless `os_users` gives that account a key of its own). Otherwise the
/// login is the first `os_users` account with a key; with no key at all,
/// there is none. `made_key` is given to every node template (only Compute
/// nodes are looked up).
pub fn node_setups(
    template: &str,
    inputs: &Map<String, Value>,
    made_key: Option<&str>,
) -> Result<BTreeMap<String, NodeSetup>, String> {
    let Some(root) = crate::im::template::load(template).map_err(|e| format!("the template is not valid YAML: {e}"))?
    else {
        return Ok(BTreeMap::new());
    };
    let topology = &root["topology_template"];
    let resolve = |v: &Value| -> Value {
        match v.get("get_input").and_then(Value::as_str) {
            Some(name) => inputs.get(name).cloned().unwrap_or_else(|| topology["inputs"][name]["default"].clone()),
            None => v.clone(),
        }
    };
    let text = |v: &Value| resolve(v).as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    let mut out = BTreeMap::new();
    for (name, node) in topology["node_templates"].as_object().into_iter().flatten() {
        let mut setup = NodeSetup::default();
        for user in resolve(&node["properties"]["os_users"]).as_array().into_iter().flatten() {
            let user = resolve(user);
            let Some(account) = text(&user["os_user_name"]) else { continue };
            setup.users.push(OsUser {
                name: account,
                ssh_key: text(&user["os_user_ssh_public_key"]),
                sudo: resolve(&user["os_user_add_to_sudoers"]).as_bool().unwrap_or(false),
                uid: resolve(&user["os_user_guid"]).as_u64().and_then(|n| u32::try_from(n).ok()),
            });
        }
        let credential = resolve(&node["capabilities"]["os"]["properties"]["credential"]);
        let given = text(&credential["token"]).filter(|t| t.starts_with("ssh-") || t.starts_with("ecdsa-"));
        let made = made_key
            .filter(|_| text(&credential["token"]).is_none())
            .filter(|_| !setup.users.iter().any(|u| u.name == DEFAULT_LOGIN && u.ssh_key.is_some()))
            .map(|key| (key.to_string(), None));
        if let Some((token, user)) = given.map(|t| (t, text(&credential["user"]))).or(made) {
            let account = user.unwrap_or_else(|| DEFAULT_LOGIN.to_string());
            match setup.users.iter_mut().find(|u| u.name == account) {
                Some(user) => {
                    user.ssh_key.get_or_insert_with(|| token.clone());
                }
                None => setup.users.push(OsUser {
                    name: account.clone(),
                    ssh_key: Some(token.clone()),
                    sudo: true,
                    uid: None,
                }),
            }
            setup.ssh_keys.push(token);
            setup.login = Some(account);
        }
        if setup.login.is_none() {
            setup.login = setup.users.iter().find(|u| u.ssh_key.is_some()).map(|u| u.name.clone());
        }
        for package in resolve(&node["properties"]["packages"]).as_array().into_iter().flatten() {
            if let Some(p) = text(package) {
                setup.packages.push(p);
            }
        }
        if !setup.is_empty() {
            out.insert(name.clone(), setup);
        }
    }
    Ok(out)
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
            login: Some("alice".into()),
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
    fn setups_come_from_os_users_credentials_and_inputs() {
        let template = r#"
tosca_definitions_version: tosca_simple_yaml_1_0
topology_template:
  inputs:
    key: { type: string, default: "ssh-ed25519 DEFAULT" }
    users: { type: list }
  node_templates:
    vm:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: { get_input: users }
        packages: [htop]
      capabilities:
        os:
          properties:
            credential: { user: cloudadm, token: { get_input: key } }
    plain:
      type: tosca.nodes.indigo.Compute
"#;
        let inputs = json!({"users": [{"os_user_name": "bob", "os_user_ssh_public_key": "ssh-rsa BOB",
                                       "os_user_add_to_sudoers": true, "os_user_guid": 3000}]});
        let setups = node_setups(template, inputs.as_object().unwrap(), None).unwrap();
        assert_eq!(setups.len(), 1, "{setups:?}");
        let vm = &setups["vm"];
        assert_eq!(
            vm.users,
            vec![
                OsUser { name: "bob".into(), ssh_key: Some("ssh-rsa BOB".into()), sudo: true, uid: Some(3000) },
                OsUser { name: "cloudadm".into(), ssh_key: Some("ssh-ed25519 DEFAULT".into()), sudo: true, uid: None }
            ]
        );
        assert_eq!(vm.ssh_keys, vec!["ssh-ed25519 DEFAULT".to_string()]);
        assert_eq!(vm.packages, vec!["htop".to_string()]);
        assert_eq!(vm.login.as_deref(), Some("cloudadm"));
    }

    #[test]
    fn the_login_is_the_credential_account_else_the_first_user_with_a_key() {
        let template = r#"
topology_template:
  node_templates:
    default_account:
      type: tosca.nodes.indigo.Compute
      capabilities: { os: { properties: { credential: { token: "ssh-ed25519 KEY" } } } }
    own_account:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: [ { os_user_name: admin, os_user_add_to_sudoers: false } ]
      capabilities: { os: { properties: { credential: { user: admin, token: "ssh-ed25519 KEY" } } } }
    users_only:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: [ { os_user_name: nokey }, { os_user_name: carol, os_user_ssh_public_key: "ssh-rsa CAROL" } ]
    password_only:
      type: tosca.nodes.indigo.Compute
      capabilities: { os: { properties: { credential: { user: root, token_type: password, token: hunter2 } } } }
"#;
        let setups = node_setups(template, &Map::new(), None).unwrap();
        let login = |n: &str| setups.get(n).and_then(|s| s.login.clone());
        assert_eq!(login("default_account").as_deref(), Some(DEFAULT_LOGIN));
        assert!(setups["default_account"].users[0].sudo);
        // os_users' own account keeps what it asked (no sudo) and gets the key.
        assert_eq!(login("own_account").as_deref(), Some("admin"));
        assert_eq!(
            setups["own_account"].users,
            vec![OsUser { name: "admin".into(), ssh_key: Some("ssh-ed25519 KEY".into()), sudo: false, uid: None }]
        );
        assert_eq!(login("users_only").as_deref(), Some("carol"));
        // A password is not something nuvola sets up: no login, no setup.
        assert!(!setups.contains_key("password_only"), "{setups:?}");
    }

    #[test]
    fn without_a_key_from_the_template_the_made_one_goes_to_cloudadm_with_sudo() {
        let template = r#"
topology_template:
  node_templates:
    bare:
      type: tosca.nodes.indigo.Compute
    own_key:
      type: tosca.nodes.indigo.Compute
      capabilities: { os: { properties: { credential: { user: admin, token: "ssh-ed25519 KEY" } } } }
    with_users:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: [ { os_user_name: carol, os_user_ssh_public_key: "ssh-rsa CAROL" } ]
    own_cloudadm:
      type: tosca.nodes.indigo.Compute
      properties:
        os_users: [ { os_user_name: cloudadm, os_user_ssh_public_key: "ssh-rsa MINE" } ]
    password_only:
      type: tosca.nodes.indigo.Compute
      capabilities: { os: { properties: { credential: { user: root, token_type: password, token: hunter2 } } } }
"#;
        let made = "ssh-ed25519 MADE nuvola-d1";
        let setups = node_setups(template, &Map::new(), Some(made)).unwrap();
        let cloudadm = OsUser { name: DEFAULT_LOGIN.into(), ssh_key: Some(made.into()), sudo: true, uid: None };
        assert_eq!(setups["bare"].users, vec![cloudadm.clone()]);
        assert_eq!(setups["bare"].ssh_keys, vec![made.to_string()]);
        assert_eq!(setups["bare"].login.as_deref(), Some(DEFAULT_LOGIN));
        let text = cloud_config(&setups["bare"], &id());
        let doc: Value = serde_json::from_str(text.trim_start_matches("#cloud-config\n")).unwrap();
        assert_eq!(
            doc["users"][1],
            json!({"name": "cloudadm", "shell": "/bin/bash", "lock_passwd": true,
            "ssh_authorized_keys": [made], "sudo": "ALL=(ALL) NOPASSWD:ALL"})
        );
        // The template's own key: as without a made one.
        assert_eq!(setups["own_key"], node_setups(template, &Map::new(), None).unwrap()["own_key"]);
        // os_users keep their accounts; the login is the made one's.
        assert_eq!(setups["with_users"].users[1], cloudadm);
        assert_eq!(setups["with_users"].login.as_deref(), Some(DEFAULT_LOGIN));
        // cloudadm with a key of its own: that key, no made one.
        assert_eq!(setups["own_cloudadm"], node_setups(template, &Map::new(), None).unwrap()["own_cloudadm"]);
        assert!(!setups["own_cloudadm"].all_keys().any(|k| k == made));
        // A token that is not a key (a password): as before, nothing.
        assert!(!setups.contains_key("password_only"), "{setups:?}");
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
