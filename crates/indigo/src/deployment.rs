//! A deployment as the orchestrator shows it (`DeploymentResource`).

use nuvola_types::DeploymentRecord;
use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// A time as the orchestrator renders it: `2024-02-02T10:00+0000`.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M%z").to_string()).unwrap_or_default()
}

/// A link in Spring HATEOAS form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Link {
    pub rel: String,
    pub href: String,
}

/// A link with its relation.
pub fn link(rel: &str, href: String) -> Link {
    Link { rel: rel.into(), href }
}

/// The infrastructure id clients see as `physicalId`: in the orchestrator
/// it is the Infrastructure Manager's infrastructure UUID, and clients keep
/// it in 36-character columns. nuvola's own id of what runs on the
/// provider (an attempt id, `<deployment>-<n>`) is not one, so it is shown
/// as the name-based UUID of that id: 36 characters, the same for the same
/// attempt every time, and another one for each attempt. An id that is
/// already a UUID is shown as it is.
pub fn infrastructure_id(id: &str) -> String {
    match Uuid::parse_str(id) {
        Ok(uuid) if id.len() == 36 => uuid.to_string(),
        _ => Uuid::new_v5(&NAMESPACE, id.as_bytes()).to_string(),
    }
}

/// The namespace of the name-based UUIDs this crate makes.
pub(crate) const NAMESPACE: Uuid = Uuid::from_u128(0x6e75_766f_6c61_4000_8000_696e_6469_676f);

/// A deployment in the orchestrator's shape. Fields without a value are
/// left out, as the orchestrator's `NON_NULL` inclusion does (clients read
/// `"statusReason" in deployment`); `outputs` is always there.
pub fn deployment(d: &DeploymentRecord, base: &str) -> Value {
    let href = format!("{base}/orchestrator/deployments/{}", d.id);
    let endpoint = d.endpoint.as_ref().map(|e| {
        json!({
            "cpEndpoint": e,
            "cpComputeServiceId": d.provider,
            // `deploymentType` is the orchestrator's name; its INFN fork's
            // dashboard reads `iaasType` as well.
            "deploymentType": "OPENSTACK",
            "iaasType": "OPENSTACK",
        })
    });
    let fields = [
        ("uuid", Some(json!(d.id))),
        ("creationTime", Some(json!(time(d.created_at)))),
        ("updateTime", Some(json!(time(d.updated_at)))),
        ("physicalId", d.physical_id.as_deref().map(|p| json!(infrastructure_id(p)))),
        ("status", Some(json!(d.status))),
        ("statusReason", d.status_reason.as_ref().map(|r| json!(r))),
        ("outputs", Some(Value::Object(d.outputs.clone()))),
        ("task", Some(json!(d.task))),
        ("callback", d.callback.as_ref().map(|c| json!(c))),
        ("userGroup", Some(json!(d.user_group))),
        ("cloudProviderName", d.provider.as_ref().map(|p| json!(p))),
        ("cloudProviderEndpoint", endpoint),
        ("createdBy", Some(json!({"subject": d.owner_subject, "issuer": d.owner_issuer}))),
        (
            "links",
            Some(json!([
                link("self", href.clone()),
                link("resources", format!("{href}/resources")),
                link("template", format!("{href}/template")),
                link("log", format!("{href}/log")),
            ])),
        ),
    ];
    present(fields)
}

/// An object of the fields that have a value.
pub(crate) fn present<'a>(fields: impl IntoIterator<Item = (&'a str, Option<Value>)>) -> Value {
    let object: Map<String, Value> =
        fields.into_iter().filter_map(|(k, v)| v.filter(|v| !v.is_null()).map(|v| (k.to_string(), v))).collect();
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_ids_are_uuids_stable_per_attempt() {
        let attempt = "0b5c1c4e-8a3f-4f8e-9d57-2f0e1c1a9b10-1";
        let id = infrastructure_id(attempt);
        assert_eq!(id.len(), 36, "{id}");
        assert!(Uuid::parse_str(&id).is_ok());
        assert_eq!(infrastructure_id(attempt), id, "the same attempt, the same id");
        assert_ne!(infrastructure_id("0b5c1c4e-8a3f-4f8e-9d57-2f0e1c1a9b10-2"), id, "another attempt, another id");
        let im = "5d0ab5f4-7b5e-11ee-a5a4-0242ac120003";
        assert_eq!(infrastructure_id(im), im, "an IM infrastructure id is shown as it is");
    }

    #[test]
    fn times_have_the_orchestrator_pattern() {
        assert_eq!(time(1_706_868_000_000), "2024-02-02T10:00+0000");
    }

    #[test]
    fn fields_without_value_are_left_out() {
        let v = present([("a", Some(json!(1))), ("b", None), ("c", Some(Value::Null)), ("d", Some(json!({})))]);
        assert_eq!(v, json!({"a": 1, "d": {}}));
    }
}
