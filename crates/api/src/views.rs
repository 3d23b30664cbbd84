//! How deployments and pages look on the wire.

use nuvola_app::AttemptRecord;
use nuvola_app::DeploymentDetails;
use serde_json::{Value, json};

pub use nuvola_indigo::link;

/// RFC 3339 with milliseconds, for the native API.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A deployment in the native API's shape, with its plan and attempts.
pub fn native_deployment(details: &DeploymentDetails, base: &str) -> Value {
    let d = &details.deployment;
    json!({
        "id": d.id,
        "status": d.status,
        "statusReason": d.status_reason,
        "catalogueId": d.catalogue_id,
        "description": d.description,
        "group": d.user_group,
        "owner": {"subject": d.owner_subject, "issuer": d.owner_issuer},
        "provider": d.provider,
        "outputs": d.outputs,
        "inputs": d.inputs_shown(),
        "createdAt": rfc3339(d.created_at),
        "updatedAt": rfc3339(d.updated_at),
        "timeoutMins": d.timeout_mins,
        "providerTimeoutMins": d.provider_timeout_mins,
        "keepLastAttempt": d.keep_last_attempt,
        "requirements": d.requirements,
        "plan": d.plan,
        "attempts": details.attempts.iter().map(attempt).collect::<Vec<_>>(),
        "links": [link("self", format!("{base}/api/v1/deployments/{}", d.id))],
    })
}

fn attempt(a: &AttemptRecord) -> Value {
    json!({
        "number": a.number,
        "attemptId": a.attempt_id,
        "provider": a.provider,
        "state": a.state,
        "reason": a.reason,
        "startedAt": rfc3339(a.started_at),
        "finishedAt": a.finished_at.map(rfc3339),
    })
}

/// A page in Spring HATEOAS form with absolute `first/prev/self/next/last`.
pub fn page(content: Vec<Value>, number: i64, size: i64, total: i64, href: impl Fn(i64) -> String) -> Value {
    let total_pages = if total == 0 { 0 } else { (total + size - 1) / size };
    let mut links = vec![link("first", href(0))];
    if number > 0 {
        links.push(link("prev", href(number - 1)));
    }
    links.push(link("self", href(number)));
    if number + 1 < total_pages {
        links.push(link("next", href(number + 1)));
    }
    if total_pages > 0 {
        links.push(link("last", href(total_pages - 1)));
    }
    json!({
        "content": content,
        "page": {"size": size, "totalElements": total, "totalPages": total_pages, "number": number},
        "links": links,
    })
}
