//! The OpenAPI 3.1 document, served at `/api/v1/openapi.json`. It is built
//! from [`ROUTES`], the table the router tests also walk, so a documented
//! route that does not exist fails a test.

use nuvola_types::{ComponentState, Impact, IncidentStatus, Spelled};
use serde_json::{Map, Value, json};

/// One documented operation.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    /// Request body schema name in `components.schemas`, if any.
    pub body: Option<&'static str>,
    /// Success status.
    pub status: u16,
    /// Whether a bearer token is needed.
    pub auth: bool,
}

const fn route(
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    body: Option<&'static str>,
    status: u16,
) -> Route {
    Route { method, path, summary, body, status, auth: true }
}

/// A `GET` that needs no token.
const fn public(path: &'static str, summary: &'static str) -> Route {
    Route { method: "get", path, summary, body: None, status: 200, auth: false }
}

/// Every operation of the API.
pub const ROUTES: &[Route] = &[
    Route {
        method: "get",
        path: "/healthz",
        summary: "Liveness and database check",
        body: None,
        status: 200,
        auth: false,
    },
    route("post", "/orchestrator/deployments", "Create a deployment from TOSCA text", Some("DeploymentRequest"), 201),
    route(
        "get",
        "/orchestrator/deployments",
        "List deployments (page, size, createdBy, userGroup, excludedStatus)",
        None,
        200,
    ),
    route("get", "/orchestrator/deployments/{id}", "Show a deployment", None, 200),
    route("put", "/orchestrator/deployments/{id}", "Update a deployment", Some("UpdateRequest"), 202),
    route("delete", "/orchestrator/deployments/{id}", "Delete a deployment and all it holds", None, 204),
    route(
        "patch",
        "/orchestrator/deployments/{id}",
        "Reset DELETE_IN_PROGRESS to DELETE_FAILED",
        Some("ResetRequest"),
        200,
    ),
    route("get", "/orchestrator/deployments/{id}/template", "The deployment's TOSCA text", None, 200),
    route("get", "/orchestrator/deployments/{id}/log", "The deployment's log (text)", None, 200),
    route("get", "/orchestrator/deployments/{id}/extrainfo", "Attempts and plan", None, 200),
    route("get", "/orchestrator/deployments/{id}/resources", "Resources held on the provider", None, 200),
    route("get", "/orchestrator/deployments/{id}/resources/{resource}", "One resource held on the provider", None, 200),
    Route {
        method: "get",
        path: "/api/v1/openapi.json",
        summary: "This document",
        body: None,
        status: 200,
        auth: false,
    },
    public("/api/v2/summary.json", "Status page: components, unresolved incidents, maintenances (Statuspage v2)"),
    public("/api/v2/status.json", "Status page: the overall indicator (Statuspage v2)"),
    public("/api/v2/incidents.json", "Status page: the 50 newest incidents with their updates (Statuspage v2)"),
    public("/api/v2/scheduled-maintenances.json", "Status page: maintenances with their phase (Statuspage v2)"),
    public("/api/v2/components.json", "Status page: components and their groups (Statuspage v2)"),
    route("get", "/api/v1/whoami", "The caller as the token says", None, 200),
    route("get", "/api/v1/catalogue", "Deployable services", None, 200),
    route("get", "/api/v1/catalogue/{id}", "One service with its inputs and template", None, 200),
    route("get", "/api/v1/providers", "The federation's providers", None, 200),
    route(
        "post",
        "/api/v1/deployments",
        "Deploy a catalogue service or a template",
        Some("NativeDeploymentRequest"),
        201,
    ),
    route("get", "/api/v1/deployments", "List deployments with plans and attempts", None, 200),
    route("get", "/api/v1/deployments/{id}", "Show a deployment with its plan and attempts", None, 200),
    route(
        "patch",
        "/api/v1/deployments/{id}",
        "Update a deployment: parameters merged over the current ones, or a new template",
        Some("NativeUpdateRequest"),
        202,
    ),
    route("delete", "/api/v1/deployments/{id}", "Delete a deployment", None, 202),
    route("get", "/api/v1/deployments/{id}/log", "The deployment's log (JSON)", None, 200),
    route(
        "get",
        "/api/v1/deployments/{id}/endpoints",
        "Its outputs' latest checks (up, since, latency, certificate expiry), ups and downs, mails sent",
        None,
        200,
    ),
    route(
        "put",
        "/api/v1/deployments/{id}/endpoints/notify",
        "Whether its owner is mailed when its endpoints go down and come back",
        Some("EndpointNotify"),
        200,
    ),
    route("get", "/api/v1/plan", "Plan a catalogue service (catalogueId, userGroup, param.NAME=VALUE)", None, 200),
    route("post", "/api/v1/plan", "Plan a catalogue service or a template", Some("PlanRequest"), 200),
    route("get", "/api/v1/admin/federation", "Export the federation registry (admin)", None, 200),
    route(
        "put",
        "/api/v1/admin/federation",
        "Import (replace) the federation registry (admin)",
        Some("Federation"),
        200,
    ),
    route("put", "/api/v1/admin/providers/{name}", "Add or replace a provider (admin)", Some("Provider"), 200),
    route(
        "patch",
        "/api/v1/admin/providers/{name}",
        "Change some fields of a provider: enabled, maintenance, ... (admin)",
        Some("ProviderPatch"),
        200,
    ),
    route(
        "post",
        "/api/v1/admin/providers/{name}/maintenance",
        "Schedule one more maintenance window on a provider (admin)",
        Some("MaintenanceWindow"),
        201,
    ),
    route("delete", "/api/v1/admin/providers/{name}", "Remove a provider that holds nothing (admin)", None, 204),
    route("get", "/api/v1/admin/inventory", "Every resource every provider holds (admin)", None, 200),
    route(
        "get",
        "/api/v1/admin/orphans",
        "Resources providers hold for attempts the store does not know or that ended (admin)",
        None,
        200,
    ),
    route(
        "post",
        "/api/v1/admin/orphans/clean",
        "Delete the orphan resources found now, all or one provider's or attempt's (admin)",
        Some("OrphanFilter"),
        200,
    ),
    route("get", "/api/v1/admin/sim", "Simulated providers' settings (admin)", None, 200),
    route(
        "put",
        "/api/v1/admin/sim/{provider}",
        "Change a simulated provider's settings (admin)",
        Some("SimSettings"),
        200,
    ),
    route(
        "get",
        "/api/v1/status/incidents",
        "Status page incidents, newest first (limit, before: the `next` of the page before)",
        None,
        200,
    ),
    route(
        "post",
        "/api/v1/status/incidents",
        "Open an incident and tell its subscribers (admin)",
        Some("IncidentRequest"),
        201,
    ),
    route("get", "/api/v1/status/incidents/{id}", "One incident with its updates and components", None, 200),
    route(
        "post",
        "/api/v1/status/incidents/{id}/updates",
        "Post an update to an incident and tell its subscribers; resolving one resolved already is 409 (admin)",
        Some("IncidentUpdateRequest"),
        201,
    ),
    route(
        "get",
        "/api/v1/status/components",
        "Status page components: the state shown, what the probes say, the operator's override",
        None,
        200,
    ),
    route(
        "put",
        "/api/v1/status/overrides/{component}",
        "Set the operator's override of a component, e.g. clouds/recas-bari (admin)",
        Some("OverrideRequest"),
        200,
    ),
    route(
        "delete",
        "/api/v1/status/overrides/{component}",
        "Clear the operator's override of a component; 404 when it has none (admin)",
        None,
        200,
    ),
    route(
        "post",
        "/api/v1/accounting/messages",
        "Store a message of accounting records as cASO/SSM send it (APEL cloud v0.2-0.4 text, accelerator or public IP \
         JSON, StAR XML): a publisher's token for its sites, or an administrator's; answers new/replaced/unchanged \
         per kind; a malformed message is 400 naming line and field, another site's record 403; nothing is stored \
         then",
        Some("AccountingMessage"),
        200,
    ),
    route(
        "get",
        "/api/v1/accounting/usage",
        "Usage per month (from, to: YYYY-MM, the last 12 months by default; by=provider|group|user|month; provider, \
         group, user, each repeated or comma-separated for several): CPU, wall and RAM hours, disk, instances, \
         volumes and GB, public IPs, GPU hours by model; narrowed to what the caller may see (own usage, managed \
         groups, everything for admins), 403 when naming what they may not",
        None,
        200,
    ),
    route(
        "get",
        "/api/v1/accounting/daily",
        "Usage per day of one month (month: YYYY-MM, this month by default; by, provider, group, user as for usage)",
        None,
        200,
    ),
    route("get", "/api/v1/groups/{group}/settings", "A group's settings (its members, managers, admins)", None, 200),
    route(
        "put",
        "/api/v1/groups/{group}/settings",
        "Change a group's settings (its managers, admins)",
        Some("GroupSettings"),
        200,
    ),
    route(
        "get",
        "/api/v1/admin/audit",
        "The audit log (subject, action, target, since, until, limit, format=json|csv) (admin)",
        None,
        200,
    ),
    route("get", "/api/v1/policy", "The current acceptable-use policy and whether you accepted it", None, 200),
    route("post", "/api/v1/policy/accept", "Accept the current acceptable-use policy", Some("PolicyAcceptance"), 200),
    route("put", "/api/v1/admin/policy", "Publish a new acceptable-use policy version (admin)", Some("Policy"), 200),
    route("post", "/api/v1/requests", "Ask to join a group or use a catalogue service", Some("AccessRequest"), 201),
    route("get", "/api/v1/requests", "Your requests, and those you may decide (status)", None, 200),
    route(
        "post",
        "/api/v1/requests/{id}/decision",
        "Approve or reject a request (group managers, admins)",
        Some("Decision"),
        200,
    ),
];

/// The document, with `base` as the server URL.
pub fn document(base: &str) -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut op = json!({
            "summary": r.summary,
            "responses": {
                r.status.to_string(): {"description": "success"},
                "400": {"$ref": "#/components/responses/Error"},
                "404": {"$ref": "#/components/responses/Error"},
            },
        });
        if r.auth {
            op["security"] = json!([{"bearer": []}]);
            op["responses"]["401"] = json!({"$ref": "#/components/responses/Error"});
        }
        if let Some(name) =
            ["id", "provider", "name", "group", "component"].into_iter().find(|n| r.path.contains(&format!("{{{n}}}")))
        {
            op["parameters"] = json!([{"name": name, "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        if r.body == Some("AccountingMessage") {
            // The message as cASO writes it: APEL text, JSON or StAR XML.
            let message = json!({"schema": {"$ref": "#/components/schemas/AccountingMessage"}});
            op["requestBody"] = json!({
                "required": true,
                "content": {"text/plain": message, "application/json": message, "application/xml": message},
            });
            op["responses"]["403"] = json!({"$ref": "#/components/responses/Error"});
        } else if let Some(schema) = r.body {
            op["requestBody"] = json!({
                "required": true,
                "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}},
            });
        }
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = op;
    }
    let deployment_fields = json!({
        "parameters": {"type": "object"},
        "callback": {"type": "string", "format": "uri"},
        "timeoutMins": {"type": "integer", "minimum": 1},
        "providerTimeoutMins": {"type": "integer", "minimum": 1, "description": "at most timeoutMins"},
        "maxProvidersRetry": {"type": "integer", "minimum": 1},
        "keepLastAttempt": {"type": "boolean", "default": false},
        "userGroup": {"type": "string"},
    });
    let with = |extra: Value| {
        let mut fields = deployment_fields.clone();
        fields.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        fields
    };
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "nuvola",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Federated-cloud PaaS. /orchestrator is wire-compatible with the INDIGO PaaS Orchestrator.",
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {"Error": {
                "description": "what went wrong",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }},
            "schemas": {
                "Error": {"type": "object", "properties": {
                    "code": {"type": "integer"}, "title": {"type": "string"}, "message": {"type": "string"},
                }},
                "AccountingMessage": {
                    "type": "string",
                    "description": "An APEL-cloud-message (v0.2-v0.4), an APEL-accelerator-message or APEL Public IP \
                                    message (JSON), or StAR storage records (XML), byte for byte as cASO writes it",
                },
                "DeploymentRequest": {
                    "type": "object", "additionalProperties": false, "required": ["template"],
                    "properties": with(json!({"template": {"type": "string", "description": "TOSCA text"}})),
                },
                "UpdateRequest": {
                    "type": "object", "additionalProperties": false,
                    "properties": with(json!({"template": {"type": "string"}})),
                },
                "ResetRequest": {
                    "type": "object", "additionalProperties": false, "required": ["status"],
                    "properties": {"status": {"const": "DELETE_FAILED"}},
                },
                "NativeDeploymentRequest": {
                    "type": "object", "additionalProperties": false,
                    "properties": with(json!({
                        "catalogueId": {"type": "string"},
                        "template": {"type": "string"},
                        "description": {"type": "string"},
                        "provider": {"type": "string"},
                    })),
                },
                "NativeUpdateRequest": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "parameters": {"type": "object"},
                        "template": {"type": "string"},
                        "timeoutMins": {"type": "integer"},
                        "providerTimeoutMins": {"type": "integer"},
                    },
                },
                "EndpointNotify": {
                    "type": "object", "additionalProperties": false, "required": ["notify"],
                    "properties": {"notify": {"type": "boolean"}},
                },
                "PlanRequest": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "catalogueId": {"type": "string"},
                        "template": {"type": "string"},
                        "parameters": {"type": "object"},
                        "userGroup": {"type": "string"},
                        "provider": {"type": "string"},
                        "timeoutMins": {"type": "integer", "minimum": 1},
                    },
                },
                "Provider": {
                    "type": "object",
                    "required": ["name", "driver", "endpoint"],
                    "description": "A provider as in the configuration file's [[providers]]: region, description, driver, endpoint, enabled, issuers, maintenance [{start, end, reason}], public_ips, flavors, images, volume_types, networks, groups {GROUP: {sla_id, project, priority, starts, ends, quota}}, settings",
                },
                "ProviderPatch": {"type": "object", "description": "Fields of Provider to replace"},
                "MaintenanceWindow": {
                    "type": "object", "additionalProperties": false, "required": ["start", "end"],
                    "properties": {
                        "start": {"type": "string", "format": "date-time"},
                        "end": {"type": "string", "format": "date-time"},
                        "reason": {"type": "string"},
                    },
                },
                "Federation": {
                    "type": "object", "additionalProperties": false, "required": ["providers"],
                    "properties": {"providers": {"type": "array", "items": {"$ref": "#/components/schemas/Provider"}}},
                },
                "Policy": {
                    "type": "object", "additionalProperties": false, "required": ["text"],
                    "properties": {"text": {"type": "string"}},
                },
                "PolicyAcceptance": {
                    "type": "object", "additionalProperties": false, "required": ["version"],
                    "properties": {"version": {"type": "integer"}},
                },
                "AccessRequest": {
                    "type": "object", "additionalProperties": false, "required": ["kind", "target", "reason"],
                    "properties": {
                        "kind": {"enum": ["group", "catalogue"]},
                        "target": {"type": "string", "description": "the group or catalogue id"},
                        "reason": {"type": "string"},
                        "email": {"type": "string", "description": "where to send the decision"},
                    },
                },
                "Decision": {
                    "type": "object", "additionalProperties": false, "required": ["approve"],
                    "properties": {"approve": {"type": "boolean"}, "comment": {"type": "string"}},
                },
                "GroupSettings": {
                    "type": "object", "additionalProperties": false, "required": ["membersSeeGroup"],
                    "properties": {"membersSeeGroup": {"type": "boolean", "description": "members see all the group's deployments"}},
                },
                "OrphanFilter": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "provider": {"type": "string", "description": "only this provider's orphans"},
                        "attemptId": {"type": "string", "description": "only this attempt's resources"},
                    },
                },
                "SimSettings": {"type": "object", "properties": {
                    "seed": {"type": "integer"},
                    "create_latency_ms": {"type": "integer"},
                    "delete_latency_ms": {"type": "integer"},
                    "failure_probability": {"type": "number", "minimum": 0, "maximum": 1},
                    "fail_creates": {"type": "boolean"},
                    "unavailable": {"type": "boolean"},
                    "api_latency_ms": {"type": "integer"},
                }},
            },
        },
    });
    let schemas = doc["components"]["schemas"].as_object_mut().expect("an object");
    schemas.extend(status_schemas().as_object().expect("an object").clone());
    doc
}

/// The words of one of the status page's vocabularies.
fn words<T: Spelled>() -> Vec<&'static str> {
    T::ALL.iter().map(|v| v.as_str()).collect()
}

/// The status page's request bodies (`/api/v1/status`).
fn status_schemas() -> Value {
    let impact = words::<Impact>();
    json!({
        "IncidentRequest": {
            "type": "object", "additionalProperties": false, "required": ["title", "message"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "impact": {"enum": impact, "default": "minor"},
                "status": {"$ref": "#/components/schemas/IncidentStatus", "default": "investigating"},
                "message": {"type": "string", "minLength": 1, "maxLength": 10000, "description": "the first update"},
                "components": {"$ref": "#/components/schemas/AffectedComponents"},
            },
        },
        "IncidentUpdateRequest": {
            "type": "object", "additionalProperties": false, "required": ["status", "message"],
            "properties": {
                "status": {"$ref": "#/components/schemas/IncidentStatus"},
                "message": {"type": "string", "minLength": 1, "maxLength": 10000},
                "components": {"$ref": "#/components/schemas/AffectedComponents"},
                "impact": {"enum": impact, "description": "unchanged when left out"},
            },
        },
        "IncidentStatus": {"enum": words::<IncidentStatus>()},
        "ComponentState": {"enum": words::<ComponentState>()},
        "AffectedComponents": {
            "type": "object",
            "description": "component id → the state the incident puts it in, e.g. {\"clouds/recas-bari\": \"partial_outage\"}; in an update, the affected components from then on (unchanged when left out)",
            "additionalProperties": {"$ref": "#/components/schemas/ComponentState"},
        },
        "OverrideRequest": {
            "type": "object", "additionalProperties": false, "required": ["state"],
            "properties": {
                "state": {"$ref": "#/components/schemas/ComponentState"},
                "note": {"type": "string", "maxLength": 200},
            },
        },
    })
}
