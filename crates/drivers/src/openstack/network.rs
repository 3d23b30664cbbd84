//! The driver's Neutron side: network lookup, an attempt's own network,
//! subnet and router, a security group per node with one rule per port,
//! floating IPs, and finding an attempt's objects by their description.

use reqwest::Method;
use serde_json::{Value, json};

use super::{OpenStackDriver, collection_key, description, prefix, refusal, str_of};
use crate::http::Replay;
use crate::{DriverError, NodeProvision, ProvisionRequest};

impl OpenStackDriver {
    /// Resolves a Neutron network name (or id).
    pub(super) async fn network_id(&self, name: &str) -> Result<String, DriverError> {
        let encoded = url::form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>();
        let named = self.list("network", &format!("/v2.0/networks?name={encoded}"), "networks").await?;
        if let Some(id) = named.first().and_then(|n| n["id"].as_str()) {
            return Ok(id.to_string());
        }
        let by_id = self.list("network", &format!("/v2.0/networks?id={encoded}"), "networks").await?;
        by_id
            .first()
            .and_then(|n| n["id"].as_str().map(str::to_string))
            .ok_or_else(|| DriverError::invalid(format!("{}: no network {name}", self.inner.provider)))
    }

    /// The attempt's Neutron objects (by description), in this project
    /// only: an administrator sees every project's.
    pub(super) async fn described(&self, what: &str, attempt: &str) -> Result<Vec<Value>, DriverError> {
        let d = description(attempt);
        let encoded = url::form_urlencoded::byte_serialize(d.as_bytes()).collect::<String>();
        let mut path = format!("/v2.0/{what}?description={encoded}");
        if let Some(project) = self.project_id().await? {
            path.push_str(&format!("&project_id={project}"));
        }
        let mut items = self.list("network", &path, &collection_key(what)).await?;
        items.retain(|x| x["description"] == d.as_str());
        Ok(items)
    }

    pub(super) async fn ensure_security_group(
        &self,
        request: &ProvisionRequest,
        node: &NodeProvision,
    ) -> Result<String, DriverError> {
        let name = format!("{}{}", prefix(&request.attempt_id), node.name);
        let existing = self
            .described("security-groups", &request.attempt_id)
            .await?
            .into_iter()
            .find(|g| g["name"] == name.as_str());
        let (id, rules) = match existing {
            // A replay after a crash: the group may lack rules it was to get.
            Some(sg) => {
                (str_of(&sg["id"]).to_string(), sg["security_group_rules"].as_array().cloned().unwrap_or_default())
            }
            None => {
                let body = json!({"security_group": {"name": name, "description": description(&request.attempt_id)}});
                let sg = self.post("network", "/v2.0/security-groups", &body, "creating a security group").await?;
                (str_of(&sg["security_group"]["id"]).to_string(), Vec::new())
            }
        };
        for port in node.ports.iter().filter(|p| !rules.iter().any(|r| opens(r, p))) {
            let rule = json!({"security_group_rule": {
                "security_group_id": id, "direction": "ingress", "ethertype": "IPv4",
                "protocol": port.protocol, "port_range_min": port.port, "port_range_max": port.port_end,
                "remote_ip_prefix": port.remote_cidr}});
            self.post("network", "/v2.0/security-group-rules", &rule, "adding a security group rule").await?;
        }
        Ok(id)
    }

    /// The attempt's own network, subnet and (with a floating network) a
    /// router to it; returns the network id. Each piece is looked up by
    /// name and description first, so a replay after a crash completes
    /// what exists.
    pub(super) async fn ensure_isolated_network(&self, attempt: &str) -> Result<String, DriverError> {
        let base = prefix(attempt);
        let description = description(attempt);
        let find = |items: Vec<Value>, name: String| {
            items.into_iter().find(|x| x["name"] == name.as_str()).map(|x| str_of(&x["id"]).to_string())
        };
        let network = match find(self.described("networks", attempt).await?, format!("{base}net")) {
            Some(id) => id,
            None => {
                let body = json!({"network": {"name": format!("{base}net"), "description": description}});
                let v = self.post("network", "/v2.0/networks", &body, "creating the deployment's network").await?;
                str_of(&v["network"]["id"]).to_string()
            }
        };
        let subnet = match find(self.described("subnets", attempt).await?, format!("{base}subnet")) {
            Some(id) => id,
            None => {
                let body = json!({"subnet": {"name": format!("{base}subnet"), "description": description,
                    "network_id": network, "ip_version": 4, "cidr": self.inner.settings.isolated_cidr}});
                let v = self.post("network", "/v2.0/subnets", &body, "creating the deployment's subnet").await?;
                str_of(&v["subnet"]["id"]).to_string()
            }
        };
        let Some(external) = &self.inner.settings.floating_network else {
            return Ok(network);
        };
        let router = match find(self.described("routers", attempt).await?, format!("{base}router")) {
            Some(id) => id,
            None => {
                let external = self.network_id(external).await?;
                let body = json!({"router": {"name": format!("{base}router"), "description": description,
                    "external_gateway_info": {"network_id": external}}});
                let v = self.post("network", "/v2.0/routers", &body, "creating the deployment's router").await?;
                str_of(&v["router"]["id"]).to_string()
            }
        };
        let path = format!("/v2.0/ports?device_id={router}&network_id={network}");
        if self.list("network", &path, "ports").await?.is_empty() {
            let path = format!("/v2.0/routers/{router}/add_router_interface");
            let body = json!({"subnet_id": subnet});
            self.api("network", Method::PUT, &path, Replay::Unsafe, Some(&body)).await.and_then(|r| {
                if r.ok() { Ok(()) } else { Err(refusal("network", "attaching the router to the subnet", &r)) }
            })?;
        }
        Ok(network)
    }

    /// Gives server `server` a floating IP on its first port (once).
    pub(super) async fn ensure_floating_ip(&self, attempt: &str, server: &str) -> Result<Option<String>, DriverError> {
        let Some(external) = &self.inner.settings.floating_network else {
            return Err(DriverError::invalid(format!(
                "{}: the node needs a public address but the provider names no floating_network",
                self.inner.provider
            )));
        };
        let ports = self.list("network", &format!("/v2.0/ports?device_id={server}"), "ports").await?;
        let Some(port) = ports.first().and_then(|p| p["id"].as_str()) else {
            return Ok(None);
        };
        let held = self.list("network", &format!("/v2.0/floatingips?port_id={port}"), "floatingips").await?;
        if let Some(ip) = held.first() {
            return Ok(ip["floating_ip_address"].as_str().map(str::to_string));
        }
        let network = self.network_id(external).await?;
        let body = json!({"floatingip": {"floating_network_id": network, "port_id": port, "description": description(attempt)}});
        let fip = self.post("network", "/v2.0/floatingips", &body, "allocating a floating IP").await?;
        Ok(fip["floatingip"]["floating_ip_address"].as_str().map(str::to_string))
    }
}

/// Whether a Neutron security group rule opens `port` as asked: ingress,
/// IPv4, the same protocol, range and remote prefix.
fn opens(rule: &Value, port: &nuvola_types::PortRequirement) -> bool {
    rule["direction"] == "ingress"
        && rule["ethertype"] == "IPv4"
        && rule["protocol"] == port.protocol.as_str()
        && rule["port_range_min"] == u64::from(port.port)
        && rule["port_range_max"] == u64::from(port.port_end)
        && rule["remote_ip_prefix"] == port.remote_cidr.as_str()
}
