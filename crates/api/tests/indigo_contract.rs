//! The INDIGO PaaS Orchestrator's contract, replayed as its clients send
//! it: every orchestrator endpoint, with the orchestrator's status codes,
//! headers and bodies. Derived from the Java orchestrator's source
//! (indigo-dc/orchestrator and the INFN fork: `DeploymentController`,
//! `ResourceController`, `DeploymentResource`, `BaseResource`, `NodeStates`,
//! `application.properties`) and from what the INFN Cloud dashboard
//! (infn-datacloud/orchestrator-dashboard, `app/lib/orchestrator.py`) sends
//! and reads: trailing slashes, Jackson's coercions, parameters templates
//! do not declare, `excludedStatus` lists, no null fields, 36-character
//! infrastructure ids, `VirtualMachineInfo` in resource metadata, and the
//! bodiless answers to update, reset and delete.

mod common;

use axum::http::{Method, header};
use common::{BASE, Harness, catalogue_text, link};
use serde_json::{Map, Value, json};

/// The states of the orchestrator's `NodeStates`.
const NODE_STATES: &[&str] = &[
    "INITIAL",
    "CREATING",
    "CREATED",
    "CONFIGURING",
    "CONFIGURED",
    "STARTING",
    "STARTED",
    "STOPPING",
    "STOPPED",
    "DELETING",
    "ERROR",
];

/// No field of an orchestrator object is `null`: `NON_NULL` leaves them out.
fn no_null_fields(what: &str, v: &Value) {
    for (k, field) in v.as_object().unwrap_or_else(|| panic!("{what} is an object: {v}")) {
        assert!(!field.is_null(), "{what}: {k} is null, where the orchestrator leaves it out: {v:#}");
    }
}

/// The dashboard's `_get_all_results`: follow `next` links to the end.
async fn all_pages(h: &Harness, token: &str, first: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut url = first.to_string();
    for _ in 0..100 {
        let page = h.get(url.strip_prefix(BASE).expect("absolute links"), token).await.expect(200).json();
        out.extend(page["content"].as_array().expect("content").iter().cloned());
        match link(&page, "next") {
            Some(next) => url = next,
            None => return out,
        }
    }
    panic!("more than 100 pages at {first}");
}

/// The dashboard's `format_json_radl`: a VM's system properties.
fn vm_properties(resource: &Value) -> (Map<String, Value>, Vec<Value>) {
    let info = resource["metadata"]["VirtualMachineInfo"].as_str().expect("VirtualMachineInfo is a JSON string");
    let info: Value = serde_json::from_str(info).expect("VirtualMachineInfo parses");
    let properties = info["vmProperties"].as_array().expect("vmProperties").clone();
    let system = properties.iter().find(|p| p["class"] == "system").expect("a system").as_object().unwrap().clone();
    let networks = properties.into_iter().filter(|p| p["class"] == "network").collect();
    (system, networks)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_infn_dashboard_deploys_lists_looks_updates_resets_and_deletes() {
    let h = Harness::start().await;
    let alice = h.alice();
    let template = catalogue_text("single-vm");

    // The dashboard's create: a trailing slash, `keepLastAttempt` and
    // `providerTimeoutMins` as strings, its own `additional_description`
    // among the parameters, and a field the orchestrator does not know.
    let body = json!({
        "template": template,
        "parameters": {"num_cpus": "2", "additional_description": "my analysis VM"},
        "userGroup": "physics",
        "keepLastAttempt": "false",
        "providerTimeoutMins": "60",
        "timeoutMins": 720,
        "clientVersion": "3.1",
    });
    let reply = h.post("/orchestrator/deployments/", &alice, &body).await.expect(201);
    assert!(reply.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/json"));
    let created = reply.json();
    no_null_fields("the created deployment", &created);
    let id = created["uuid"].as_str().expect("uuid").to_string();
    // What the dashboard reads of it right away.
    for key in ["uuid", "creationTime", "updateTime", "status", "outputs", "task", "links", "createdBy", "userGroup"] {
        assert!(created.get(key).is_some(), "{key} is in the created deployment: {created:#}");
    }
    assert_eq!(created["status"], "CREATE_IN_PROGRESS");

    // The ignored parameter is in the deployment's log, not its inputs.
    let log = h.get(&format!("/orchestrator/deployments/{id}/log/"), &alice).await.expect(200);
    assert!(log.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let log = log.text();
    assert!(log.contains("parameter \"additional_description\" ignored"), "{log}");
    let native = h.native(&id).await;
    assert!(native["inputs"].get("additional_description").is_none(), "{native:#}");
    assert_eq!(native["inputs"]["num_cpus"], 2, "a string coerced to the input's type: {native:#}");

    let done = h.settle(&id, "CREATE_COMPLETE").await;
    no_null_fields("a running deployment", &done);
    let physical = done["physicalId"].as_str().expect("physicalId");
    assert_eq!(physical.len(), 36, "it fits the dashboard's VARCHAR(36): {physical}");
    assert_eq!(done["cloudProviderEndpoint"]["deploymentType"], "OPENSTACK");
    no_null_fields("cloudProviderEndpoint", &done["cloudProviderEndpoint"]);

    // Listing as the dashboard does: its filters, followed page by page.
    let filters = "createdBy=me&userGroup=physics&excludedStatus=DELETE_COMPLETE,DELETE_IN_PROGRESS";
    let listed = all_pages(&h, &alice, &format!("{BASE}/orchestrator/deployments?{filters}&size=1")).await;
    assert!(listed.iter().any(|d| d["uuid"] == id.as_str()), "{listed:#?}");
    for d in &listed {
        no_null_fields("a listed deployment", d);
    }
    // Repeated, and excluding what it is.
    let path = "/orchestrator/deployments/?excludedStatus=DELETE_COMPLETE&excludedStatus=CREATE_COMPLETE";
    let page = h.get(path, &alice).await.expect(200).json();
    assert!(page["content"].as_array().unwrap().iter().all(|d| d["uuid"] != id.as_str()), "{page:#}");
    let bad = h.get("/orchestrator/deployments?excludedStatus=DELETE_COMPLETE,GONE", &alice).await.expect(400);
    assert!(bad.error_message().contains("unknown status \"GONE\""), "{}", bad.text());

    // One deployment, its template and its extra information.
    assert_eq!(h.get(&format!("/orchestrator/deployments/{id}/"), &alice).await.expect(200).json(), done);
    let text = h.get(&format!("/orchestrator/deployments/{id}/template"), &alice).await.expect(200);
    assert!(text.headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    assert_eq!(text.text(), template);
    let extra = h.get(&format!("/orchestrator/deployments/{id}/extrainfo"), &alice).await.expect(200).json();
    assert!(extra["attempts"].as_array().is_some_and(|a| !a.is_empty()), "{extra:#}");

    // Resources, as the dashboard's infrastructure page reads them.
    let first = format!("{BASE}/orchestrator/deployments/{id}/resources");
    let resources = all_pages(&h, &alice, &first).await;
    assert!(!resources.is_empty());
    for r in &resources {
        no_null_fields("a resource", r);
        assert!(r["metadata"].is_object(), "metadata is always an object: {r:#}");
        assert!(NODE_STATES.contains(&r["state"].as_str().unwrap_or_default()), "NodeStates only: {r:#}");
        assert!(r["requiredBy"].is_array(), "{r:#}");
        let own = link(r, "self").expect("self link");
        assert_eq!(h.get(own.strip_prefix(BASE).unwrap(), &alice).await.expect(200).json(), *r);
        assert_eq!(link(r, "deployment").as_deref(), Some(format!("{BASE}/orchestrator/deployments/{id}").as_str()));
    }
    let vms: Vec<&Value> = resources.iter().filter(|r| r["metadata"].get("VirtualMachineInfo").is_some()).collect();
    assert_eq!(vms.len(), 1, "{resources:#?}");
    let vm = vms[0];
    assert_eq!(vm["state"], "STARTED");
    assert_eq!(vm["toscaNodeName"], "vm");
    let (system, networks) = vm_properties(vm);
    assert_eq!(system["id"], "vm");
    assert_eq!(system["cpu.count"], 2, "{system:#?}");
    assert!(system["memory.size"].as_u64().is_some_and(|b| b >= 4_000_000_000), "bytes: {system:#?}");
    assert_eq!(system["disk.0.os.flavour"], "ubuntu");
    assert_eq!(system["disk.0.os.version"], "22.04");
    assert!(system["instance_type"].is_string() && system["instance_name"].is_string(), "{system:#?}");
    assert_eq!(system["instance_id"], vm["physicalId"]);
    let public = done["outputs"]["node_ip"].as_str().expect("node_ip");
    let ips: Vec<&str> = (0..4).filter_map(|i| system.get(&format!("net_interface.{i}.ip"))?.as_str()).collect();
    assert!(ips.contains(&public), "the public address {public} among {ips:?}");
    assert!(networks.iter().any(|n| n["id"] == "pub_network"), "the dashboard finds the public node: {networks:?}");
    // By type, paged and as a plain list.
    let compute = "tosca.nodes.indigo.Compute";
    let typed = h.get(&format!("/orchestrator/deployments/{id}/resources?type={compute}"), &alice).await.expect(200);
    assert_eq!(typed.json()["content"].as_array().unwrap().len(), 1);
    let filtered = h.get(&format!("/orchestrator/deployments/{id}/resources/filter?type={compute}"), &alice).await;
    assert_eq!(filtered.expect(200).json().as_array().map(Vec::len), Some(1));
    h.get(&format!("/orchestrator/deployments/{id}/resources/filter"), &alice).await.expect(400);
    let missing = h.get(&format!("/orchestrator/deployments/{id}/resources/nope"), &alice).await.expect(404);
    assert_eq!(missing.json()["code"], 404, "the orchestrator's error shape");
    // Starting and stopping single VMs is refused with the reason.
    let action = format!("/orchestrator/deployments/{id}/resources/{}/actions", vm["uuid"].as_str().unwrap());
    let refused = h.post(&action, &alice, &json!({"type": "stop"})).await.expect(400);
    assert!(refused.error_message().contains("does not start or stop"), "{}", refused.text());

    // The dashboard's update: only the updatable inputs (here none), the
    // same strings; `202` and no body.
    let update = json!({
        "template": template,
        "parameters": {},
        "keepLastAttempt": "false",
        "providerTimeoutMins": "60",
        "timeoutMins": "720",
    });
    let reply = h.put(&format!("/orchestrator/deployments/{id}/"), &alice, &update).await.expect(202);
    assert!(reply.body.is_empty(), "{}", reply.text());
    h.settle(&id, "UPDATE_COMPLETE").await;

    // Delete, and the reset that unsticks a delete: `204`, no body.
    let url = format!("/orchestrator/deployments/{id}");
    for p in ["alpha", "beta", "gamma"] {
        h.set_sim(p, json!({"delete_latency_ms": 60_000})).await;
    }
    assert!(h.delete(&format!("{url}/"), &alice).await.expect(204).body.is_empty());
    let reply = h.patch(&format!("{url}/"), &alice, &json!({"status": "DELETE_FAILED"})).await.expect(204);
    assert!(reply.body.is_empty(), "{}", reply.text());
    assert_eq!(h.deployment(&id).await["status"], "DELETE_FAILED");
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_never_ran_are_listed_in_error_and_none_once_deleted() {
    let h = Harness::start().await;
    let alice = h.alice();
    let id = h.create(&alice, &common::no_fit_request()).await;
    let failed = h.settle(&id, "CREATE_FAILED").await;
    no_null_fields("a failed deployment", &failed);
    assert!(failed["statusReason"].is_string(), "{failed:#}");
    let url = format!("/orchestrator/deployments/{id}/resources");
    let listed = h.get(&url, &alice).await.expect(200).json();
    let content = listed["content"].as_array().unwrap();
    assert!(!content.is_empty(), "{listed:#}");
    for r in content {
        assert_eq!(r["state"], "ERROR", "{r:#}");
        assert!(r.get("physicalId").is_none() && r["metadata"] == json!({}), "no VM behind it: {r:#}");
    }
    h.delete(&format!("/orchestrator/deployments/{id}"), &alice).await.expect(204);
    h.settle(&id, "DELETE_COMPLETE").await;
    let gone = h.get(&url, &alice).await.expect(200).json();
    assert_eq!(gone["content"], json!([]), "a deleted deployment holds no resources: {gone:#}");
    assert_eq!(gone["page"]["totalElements"], 0);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_root_the_configuration_and_errors_have_the_orchestrator_shape() {
    let h = Harness::start().await;
    let alice = h.alice();
    for path in ["/orchestrator", "/orchestrator/"] {
        let root = h.get(path, &alice).await.expect(200).text();
        assert!(root.contains("INDIGO PaaS Orchestrator"), "{path}: {root}");
    }
    let config = h.get("/orchestrator/configuration/", &alice).await.expect(200).json();
    for key in ["cpr_url", "slam_url", "cmdb_url", "im_url", "monitoring_url"] {
        assert!(config[key].as_str().is_some_and(|u| u.starts_with(BASE)), "{key}: {config:#}");
    }
    let info = h.get("/orchestrator/info", &alice).await.expect(200).json();
    assert_eq!(info["serverHostname"], "nuvola.test", "{info}");
    assert!(info["projectVersion"].is_string(), "{info}");
    // Errors: {code, title, message}, with the status.
    let reply = h.get("/orchestrator/deployments/no-such-deployment", &alice).await.expect(404).json();
    assert_eq!(reply["code"], 404);
    assert_eq!(reply["title"], "Not Found");
    assert!(reply["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    let reply = h.call(Method::GET, "/orchestrator/deployments/", None, None).await.expect(401);
    assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
    assert_eq!(reply.json()["code"], 401);
    let reply = h.raw(Method::POST, "/orchestrator/deployments/", Some(&alice), Some(b"[]".to_vec())).await.expect(400);
    assert!(reply.error_message().contains("must be a JSON object"), "{}", reply.text());
    h.stop().await;
}
