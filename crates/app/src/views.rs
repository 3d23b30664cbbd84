//! How a deployment looks in the INDIGO orchestrator's wire format: used by
//! the API's `/orchestrator` routes and by deployment callbacks.

use nuvola_store::DeploymentRecord;
use serde::Serialize;
use serde_json::{Value, json};

/// A time as the INDIGO orchestrator renders it: `2024-02-02T10:00+0000`.
pub fn orchestrator_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M%z").to_string()).unwrap_or_default()
}

/// A link in Spring HATEOAS form.
#[derive(Debug, Serialize)]
pub struct Link {
    pub rel: String,
    pub href: String,
}

/// A link with its relation.
pub fn link(rel: &str, href: String) -> Link {
    Link { rel: rel.into(), href }
}

/// A deployment in the orchestrator's shape.
pub fn orchestrator_deployment(d: &DeploymentRecord, base: &str) -> Value {
    let href = format!("{base}/orchestrator/deployments/{}", d.id);
    json!({
        "uuid": d.id,
        "creationTime": orchestrator_time(d.created_at),
        "updateTime": orchestrator_time(d.updated_at),
        "status": d.status,
        "statusReason": d.status_reason,
        "task": d.task,
        "outputs": d.outputs,
        "callback": d.callback,
        "userGroup": d.user_group,
        "cloudProviderName": d.provider,
        "cloudProviderEndpoint": d.endpoint.as_ref().map(|e| json!({
            "cpEndpoint": e,
            "cpComputeServiceId": d.provider,
            "iaasType": "OPENSTACK",
        })),
        "createdBy": {"subject": d.owner_subject, "issuer": d.owner_issuer},
        "physicalId": d.physical_id,
        "links": [
            link("self", href.clone()),
            link("resources", format!("{href}/resources")),
            link("template", format!("{href}/template")),
            link("log", format!("{href}/log")),
        ],
    })
}
