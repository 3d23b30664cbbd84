//! Deployments: submit, look at, update, delete, unstick. Every method
//! authorizes the caller here; the workflow that provisions a deployment
//! lives in [`crate::workflow`].

use std::collections::BTreeMap;

use nuvola_drivers::{AttemptState as ProviderState, Resource, update};
use nuvola_store::DeploymentFilter;
use nuvola_tosca::ServiceTemplate;
pub use nuvola_tosca::deployment::{Compiled, Undeclared};
use nuvola_tosca::deployment::{compile, secret_inputs};
use nuvola_types::{
    AttemptRecord, AttemptState, DeploymentRecord, DeploymentRequirements, DeploymentStatus, Error, LogLine, Plan,
    Principal, Progress, Result, Task, Usage, check_timeouts, deadline,
};
use serde_json::{Map, Value};

use crate::App;
use crate::access::Access;
use crate::planning::Facts;
use crate::workflow::Step;

/// A request to deploy a template (the orchestrator's `POST /deployments`).
#[derive(Debug, Clone, Default)]
pub struct CreateDeployment {
    /// TOSCA text.
    pub template: String,
    pub parameters: Map<String, Value>,
    pub callback: Option<String>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    pub keep_last_attempt: bool,
    pub user_group: Option<String>,
    /// Set when deploying a catalogue entry by id.
    pub catalogue_id: Option<String>,
    pub description: Option<String>,
    /// A provider chosen by hand instead of by placement.
    pub provider: Option<String>,
    /// What to do with parameters the template does not declare.
    pub undeclared: Undeclared,
}

/// A request to change a deployment (`PUT /deployments/{id}`).
#[derive(Debug, Clone, Default)]
pub struct UpdateDeployment {
    /// New TOSCA text; the current one when absent.
    pub template: Option<String>,
    /// Parameters merged over the current ones.
    pub parameters: Map<String, Value>,
    pub timeout_mins: Option<i64>,
    pub provider_timeout_mins: Option<i64>,
    pub max_providers_retry: Option<i64>,
    pub callback: Option<String>,
    /// What to do with parameters the template does not declare.
    pub undeclared: Undeclared,
}

/// Which deployments to list, as the orchestrator's query parameters say.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `me` or `subject@issuer`.
    pub created_by: Option<String>,
    pub user_group: Option<String>,
    /// Statuses left out.
    pub excluded_status: Vec<DeploymentStatus>,
    pub status: Option<DeploymentStatus>,
    /// 0-based page.
    pub page: i64,
    pub size: i64,
}

/// What to plan: a deployment's requirements for a group.
#[derive(Debug, Clone, Copy)]
pub struct PlanQuery<'a> {
    pub requirements: &'a DeploymentRequirements,
    pub group: &'a str,
    /// A provider chosen by hand.
    pub pinned: Option<&'a str>,
    /// The caller's identity issuer.
    pub issuer: Option<&'a str>,
    /// How long the deployment may take: maintenance must not overlap it.
    pub timeout_mins: i64,
    /// Usage not to count (the deployment's own, when updating it).
    pub minus: Option<Usage>,
}

/// A deployment with its attempts, for detailed views.
#[derive(Debug, Clone)]
pub struct DeploymentDetails {
    pub deployment: DeploymentRecord,
    pub attempts: Vec<AttemptRecord>,
}

/// How often a user's change is retried when a worker saves the same
/// deployment in between.
const RACE_RETRIES: u64 = 50;

/// Largest page a listing returns.
pub const MAX_PAGE_SIZE: i64 = 1000;

pub use nuvola_types::MAX_TIMEOUT_MINS;

/// How long planning waits for a provider to report its quota.
const REPORTED_QUOTA_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Quota and usage per provider, as the providers report them.
type ReportedQuotas = BTreeMap<String, (nuvola_types::Quota, Usage)>;

impl App {
    /// Validates and stores a new deployment with its plan, and wakes the
    /// workers. Nothing is stored when the request is invalid.
    pub async fn create_deployment(&self, caller: &Principal, request: CreateDeployment) -> Result<DeploymentRecord> {
        let settings = self.settings();
        let group = self.choose_group(caller, request.user_group.as_deref())?;
        self.require_policy_accepted(caller).await?;
        if let Some(id) = &request.catalogue_id
            && let crate::catalogue::ServiceAccess::Restricted(groups) = self.service_access(caller, &group, id).await?
        {
            return Err(not_open(&format!("catalogue service {id}"), id, &groups));
        }
        let timeout_mins = request.timeout_mins.unwrap_or(settings.default_timeout_mins);
        let provider_timeout_mins =
            request.provider_timeout_mins.unwrap_or(settings.default_provider_timeout_mins.min(timeout_mins));
        check_timeouts(timeout_mins, provider_timeout_mins, request.max_providers_retry)?;
        if let Some(callback) = &request.callback {
            self.inner.notifier.check_callback(callback)?;
        }
        if let Some(provider) = &request.provider {
            self.federation().provider(provider).ok_or_else(|| unknown_provider(self, provider))?;
        }
        self.check_owner_limits(caller, 1, request.template.len() as i64).await?;
        let source = request.catalogue_id.as_ref().map_or("template.yaml".to_string(), |id| format!("{id}.yaml"));
        let Compiled { template, inputs, requirements, ignored } =
            self.compile(&source, &request.template, &request.parameters, request.undeclared).await?;
        let mut parameters = request.parameters;
        parameters.retain(|k, _| !ignored.contains(k));
        if request.catalogue_id.is_none() {
            self.check_restricted_lookalikes(caller, &group, &template, &requirements).await?;
        }
        // Planning and storing happen under the group's lock, and the new
        // deployment holds its first candidate's share of the quota from
        // the start: two requests cannot both take the last GPU.
        // What providers report of their quotas is asked first: no lock and
        // no database connection is held while a provider answers.
        let reported = self.reported_quotas(&group).await;
        let health = (*self.recent_health().await?).clone();
        let lock = self.group_lock(&group);
        let _held = lock.lock().await;
        let mut across_replicas = self.store().lock_group(&group).await?;
        let facts = Facts { held: across_replicas.held_by_group(&group).await?, health, reported };
        let query = PlanQuery {
            requirements: &requirements,
            group: &group,
            pinned: request.provider.as_deref(),
            issuer: Some(&caller.issuer),
            timeout_mins,
            minus: None,
        };
        let plan = crate::planning::plan(&self.federation().providers(), &query, facts, &self.settings().weights);
        let held =
            plan.candidates.first().map(|c| crate::workflow::held_by(self, &requirements, c)).unwrap_or_default();
        let first = plan.candidates.first().and_then(|c| self.federation().provider(&c.provider));

        let now = self.now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let mut log = vec![format!("submitted by {} for group {group}", caller.qualified())];
        log.extend(ignored_lines(&ignored));
        let (status, reason, workflow, next_run_at) = if plan.candidates.is_empty() {
            let reason = plan.no_fit_message();
            log.push(reason.clone());
            (DeploymentStatus::CreateFailed, Some(reason), None, None)
        } else {
            let order: Vec<&str> = plan.candidates.iter().map(|c| c.provider.as_str()).collect();
            log.push(format!("placement: candidates in order: {}", order.join(", ")));
            for v in plan.verdicts.iter().filter(|v| !v.accepted) {
                log.push(format!("placement: {} rejected: {}", v.provider, v.reasons.join("; ")));
            }
            let step = Step::StartAttempt { candidate: 0 };
            (DeploymentStatus::CreateInProgress, None, Some(step.to_value()), Some(now))
        };
        let record = DeploymentRecord {
            id,
            owner_subject: caller.subject.clone(),
            owner_issuer: caller.issuer.clone(),
            owner_email: caller.email.clone(),
            user_group: group,
            catalogue_id: request.catalogue_id,
            description: request.description,
            status,
            status_reason: reason,
            task: Task::of(status),
            template: request.template,
            parameters,
            inputs,
            secret_inputs: secret_inputs(&template),
            secrets_unreadable: None,
            requirements,
            plan,
            outputs: Map::new(),
            outputs_unreadable: None,
            held,
            callback: request.callback,
            timeout_mins,
            provider_timeout_mins,
            max_providers_retry: request.max_providers_retry.unwrap_or(i64::MAX),
            keep_last_attempt: request.keep_last_attempt,
            // The first candidate holds the reservation until a worker
            // starts the first attempt.
            provider: first.as_ref().map(|p| p.name.clone()),
            endpoint: first.as_ref().map(|p| p.endpoint.clone()),
            physical_id: None,
            workflow,
            next_run_at,
            deadline_at: deadline(now, timeout_mins),
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        across_replicas.insert_deployment(&record, &Progress { attempts: vec![], log }).await?;
        across_replicas.release().await?;
        let detail = serde_json::json!({
            "group": record.user_group, "catalogue": record.catalogue_id, "status": record.status.as_str(),
        });
        self.audit(caller, "deployment.create", &record.id, detail).await;
        tracing::info!(deployment = %record.id, group = %record.user_group, status = %record.status, "deployment submitted");
        self.wake_workers();
        Ok(record)
    }

    /// Plans a deployment without creating it: what would be tried, in
    /// which order, and why every other provider was dropped. Takes the
    /// same request as [`App::create_deployment`] (a catalogue id in
    /// `catalogue_id` stands for its template).
    pub async fn preview_plan(
        &self,
        caller: &Principal,
        request: &CreateDeployment,
    ) -> Result<(DeploymentRequirements, Plan)> {
        let group = self.choose_group(caller, request.user_group.as_deref())?;
        let (source, text, parameters) = match &request.catalogue_id {
            Some(id) => {
                let entry = self.catalogue().get(id)?;
                (format!("{id}.yaml"), entry.template.clone(), entry.for_planning(&request.parameters))
            }
            None => ("template.yaml".to_string(), request.template.clone(), request.parameters.clone()),
        };
        let timeout_mins = request.timeout_mins.unwrap_or(self.settings().default_timeout_mins);
        check_timeouts(timeout_mins, timeout_mins, None)?;
        let requirements = self.compile(&source, &text, &parameters, request.undeclared).await?.requirements;
        let query = PlanQuery {
            requirements: &requirements,
            group: &group,
            pinned: request.provider.as_deref(),
            issuer: Some(&caller.issuer),
            timeout_mins,
            minus: None,
        };
        let plan = self.plan(&query).await?;
        Ok((requirements, plan))
    }

    /// Deploys a catalogue entry by id.
    pub async fn deploy_catalogue(
        &self,
        caller: &Principal,
        catalogue_id: &str,
        mut request: CreateDeployment,
    ) -> Result<DeploymentRecord> {
        let entry = self.catalogue().get(catalogue_id)?;
        request.template = entry.template.clone();
        request.catalogue_id = Some(entry.id.clone());
        self.create_deployment(caller, request).await
    }

    /// Deploys a catalogue deployment's service again with the same inputs
    /// and options, for the caller. Only its owner may reuse its secret
    /// inputs: anyone else who may read it is told to choose their own.
    pub async fn deploy_again(&self, caller: &Principal, id: &str) -> Result<DeploymentRecord> {
        let d = self.deployment(caller, id).await?;
        let catalogue_id =
            d.catalogue_id.clone().ok_or_else(|| Error::invalid("only catalogue deployments can be deployed again"))?;
        if !d.reusable_by(caller) {
            return Err(Error::Forbidden(format!(
                "deployment {id} has secret inputs ({}) that only its owner may reuse; \
                 deploy {catalogue_id} from the catalogue with your own",
                d.given_secrets().join(", ")
            )));
        }
        if let Some(why) = &d.secrets_unreadable {
            return Err(Error::conflict(format!("deployment {id} cannot be deployed again: {why}")));
        }
        let request = CreateDeployment {
            parameters: d.parameters,
            timeout_mins: Some(d.timeout_mins),
            provider_timeout_mins: Some(d.provider_timeout_mins),
            keep_last_attempt: d.keep_last_attempt,
            user_group: Some(d.user_group),
            description: d.description,
            ..Default::default()
        };
        self.deploy_catalogue(caller, &catalogue_id, request).await
    }

    /// One deployment the caller may see.
    pub async fn deployment(&self, caller: &Principal, id: &str) -> Result<DeploymentRecord> {
        self.deployment_for(caller, id, Access::Read).await
    }

    /// One deployment the caller may `access` (see [`crate::access`]).
    async fn deployment_for(&self, caller: &Principal, id: &str, access: Access) -> Result<DeploymentRecord> {
        let d = self.store().deployment(id).await?.ok_or_else(|| Error::not_found(format!("no deployment {id}")))?;
        self.authorize_deployment(caller, &d, access).await?;
        Ok(d)
    }

    /// A deployment with its attempts.
    pub async fn deployment_details(&self, caller: &Principal, id: &str) -> Result<DeploymentDetails> {
        let deployment = self.deployment(caller, id).await?;
        self.with_attempts(deployment).await
    }

    /// A deployment another call of this App gave the caller, with its
    /// attempts.
    pub async fn with_attempts(&self, deployment: DeploymentRecord) -> Result<DeploymentDetails> {
        let attempts = self.store().attempts(&deployment.id).await?;
        Ok(DeploymentDetails { deployment, attempts })
    }

    /// The inputs of a deployment another call of this App gave the caller
    /// that an update cannot change on its provider, each with why (none
    /// when it is on no provider the federation still has).
    pub fn fixed_inputs(&self, d: &DeploymentRecord) -> BTreeMap<String, String> {
        let driver = d.provider.as_deref().and_then(|p| self.federation().driver(p).ok());
        driver
            .map(|driver| update::fixed_inputs(&d.template, &d.requirements, driver.update_support()))
            .unwrap_or_default()
    }

    /// A page of the deployments the caller may see, and how many there are.
    pub async fn list_deployments(
        &self,
        caller: &Principal,
        query: &ListQuery,
    ) -> Result<(Vec<DeploymentRecord>, i64)> {
        let mut filter = DeploymentFilter {
            user_group: query.user_group.clone(),
            excluded_status: query.excluded_status.clone(),
            status: query.status,
            ..Default::default()
        };
        let me = (caller.subject.clone(), caller.issuer.clone());
        let visible = self.visibility(caller).await?;
        filter.owner = match query.created_by.as_deref() {
            Some("me") => Some(me),
            Some(other) => {
                let (subject, issuer) = other
                    .rsplit_once('@')
                    .ok_or_else(|| Error::invalid(format!("createdBy {other:?} must be `me` or `subject@issuer`")))?;
                let who = (subject.to_string(), issuer.to_string());
                if who != me && !caller.admin && visible.as_ref().is_some_and(|v| v.groups.is_empty()) {
                    return Err(Error::Forbidden(
                        "only administrators and group managers may list other users' deployments".into(),
                    ));
                }
                Some(who)
            }
            None => None,
        };
        filter.visible_to = visible;
        if query.size < 1 || query.size > MAX_PAGE_SIZE {
            return Err(Error::invalid(format!("size must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if query.page < 0 {
            return Err(Error::invalid("page must be 0 or more"));
        }
        let offset = query
            .page
            .checked_mul(query.size)
            .ok_or_else(|| Error::invalid(format!("page {} is beyond any listing", query.page)))?;
        Ok(self.store().list_deployments(&filter, offset, query.size).await?)
    }

    /// Starts an update: only from CREATE_COMPLETE, UPDATE_COMPLETE or
    /// UPDATE_FAILED, on the provider the deployment runs on.
    pub async fn update_deployment(
        &self,
        caller: &Principal,
        id: &str,
        request: UpdateDeployment,
    ) -> Result<DeploymentRecord> {
        self.retry_raced(id, || self.try_update(caller, id, request.clone())).await?;
        self.audit(caller, "deployment.update", id, Value::Object(Map::new())).await;
        self.wake_workers();
        self.deployment(caller, id).await
    }

    async fn try_update(&self, caller: &Principal, id: &str, request: UpdateDeployment) -> Result<Option<()>> {
        let mut d = self.deployment_for(caller, id, Access::Change).await?;
        if !d.status.can_update() {
            return Err(Error::conflict(format!(
                "deployment {id} is {}; it can be updated only when CREATE_COMPLETE, UPDATE_COMPLETE or UPDATE_FAILED",
                d.status
            )));
        }
        let timeout_mins = request.timeout_mins.unwrap_or(d.timeout_mins);
        let provider_timeout_mins = request.provider_timeout_mins.unwrap_or(d.provider_timeout_mins.min(timeout_mins));
        check_timeouts(timeout_mins, provider_timeout_mins, request.max_providers_retry)?;
        if let Some(callback) = &request.callback {
            self.inner.notifier.check_callback(callback)?;
        }
        if let Some(why) = &d.secrets_unreadable {
            return Err(Error::conflict(format!("deployment {id} cannot be updated: {why}")));
        }
        let template = request.template.unwrap_or_else(|| d.template.clone());
        self.check_owner_limits(caller, 0, template.len() as i64 - d.template.len() as i64).await?;
        let mut parameters = d.parameters.clone();
        parameters.extend(request.parameters);
        let source = d.catalogue_id.as_ref().map_or("template.yaml".to_string(), |id| format!("{id}.yaml"));
        // The stored secrets stay out of messages even when the new
        // template no longer calls them secret.
        let Compiled { template: compiled, inputs, requirements, ignored } = self
            .compile(&source, &template, &parameters, request.undeclared)
            .await
            .map_err(|e| e.map_message(|m| nuvola_types::redact_secrets(m, d.secret_values())))?;
        parameters.retain(|k, _| !ignored.contains(k));
        if template != d.template {
            self.check_restricted_lookalikes(caller, &d.user_group, &compiled, &requirements).await?;
        }
        let provider = d.provider.clone().ok_or_else(|| Error::conflict("deployment has no provider to update on"))?;
        let reported = self.reported_quotas(&d.user_group).await;
        let health = (*self.recent_health().await?).clone();
        let lock = self.group_lock(&d.user_group);
        let _held = lock.lock().await;
        let mut across_replicas = self.store().lock_group(&d.user_group).await?;
        let facts = Facts { held: across_replicas.held_by_group(&d.user_group).await?, health, reported };
        let query = PlanQuery {
            requirements: &requirements,
            group: &d.user_group,
            pinned: Some(&provider),
            issuer: Some(&caller.issuer),
            timeout_mins,
            minus: Some(d.held),
        };
        let plan = crate::planning::plan(&self.federation().providers(), &query, facts, &self.settings().weights);
        // What the update changes on the provider, or a refusal naming the
        // input that asks for what its driver cannot do (also when the
        // change fits nowhere: the refusal says more).
        let spec = self.federation().provider(&provider).ok_or_else(|| unknown_provider(self, &provider))?;
        let running = d.plan.candidates.iter().find(|c| c.provider == provider);
        let running = running.ok_or_else(|| Error::internal(format!("deployment {id} has no plan for {provider}")))?;
        let proposal = update::Proposal {
            before: update::Placed { requirements: &d.requirements, candidate: running },
            template_before: &d.template,
            inputs_before: &d.inputs,
            requirements_after: &requirements,
            template_after: &template,
            inputs_after: &inputs,
            provider: &spec,
            support: self.federation().driver(&provider)?.update_support(),
        };
        let mut candidate = plan.candidates.first().cloned().unwrap_or_else(|| running.clone());
        let changes = update::judge(&proposal, &mut candidate).map_err(Error::invalid)?;
        if plan.candidates.is_empty() {
            return Err(Error::invalid(plan.no_fit_on(&provider)));
        }
        let attempts = self.store().attempts(id).await?;
        let number = current_attempt(&attempts)
            .ok_or_else(|| Error::conflict(format!("deployment {id} has no running attempt to update")))?
            .number;
        let now = self.now_ms();
        d.template = template;
        d.parameters = parameters;
        d.inputs = inputs;
        d.secret_inputs.extend(secret_inputs(&compiled));
        d.requirements = requirements;
        d.plan.candidates = vec![candidate];
        d.status = DeploymentStatus::UpdateInProgress;
        d.status_reason = None;
        d.task = Task::Deployer;
        d.timeout_mins = timeout_mins;
        d.provider_timeout_mins = provider_timeout_mins;
        if let Some(n) = request.max_providers_retry {
            d.max_providers_retry = n;
        }
        if request.callback.is_some() {
            d.callback = request.callback;
        }
        d.workflow = Some(Step::Update { number }.to_value());
        d.next_run_at = Some(now);
        d.deadline_at = deadline(now, timeout_mins);
        d.updated_at = now;
        let mut log = vec![format!("update requested by {}: {}", caller.qualified(), update::describe(&changes))];
        log.extend(ignored_lines(&ignored));
        // The update holds its new share of the quota from now on.
        d.held = crate::workflow::held_by(self, &d.requirements, &d.plan.candidates[0]);
        let saved = across_replicas.save_deployment(&d, &Progress { attempts: vec![], log }).await?;
        across_replicas.release().await?;
        Ok(saved.then_some(()))
    }

    /// Starts deleting a deployment and everything it holds, whatever it is
    /// doing (a running create is abandoned and cleaned up).
    pub async fn delete_deployment(&self, caller: &Principal, id: &str) -> Result<()> {
        self.retry_raced(id, || self.try_delete(caller, id)).await?;
        self.audit(caller, "deployment.delete", id, Value::Object(Map::new())).await;
        self.wake_workers();
        Ok(())
    }

    async fn try_delete(&self, caller: &Principal, id: &str) -> Result<Option<()>> {
        let mut d = self.deployment_for(caller, id, Access::Change).await?;
        match d.status {
            DeploymentStatus::DeleteInProgress => {
                return Err(Error::conflict(format!("deployment {id} is already being deleted")));
            }
            DeploymentStatus::DeleteComplete => {
                return Err(Error::conflict(format!("deployment {id} is already deleted")));
            }
            _ => {}
        }
        let now = self.now_ms();
        d.status = DeploymentStatus::DeleteInProgress;
        d.status_reason = None;
        d.task = Task::Deployer;
        d.workflow = Some(Step::Delete.to_value());
        d.next_run_at = Some(now);
        d.deadline_at = deadline(now, d.timeout_mins);
        d.updated_at = now;
        self.save_user_change(&d, vec![format!("delete requested by {}", caller.qualified())]).await
    }

    /// Unsticks a deployment: only `DELETE_IN_PROGRESS` → `DELETE_FAILED`,
    /// so that the user can retry the delete.
    pub async fn reset_deployment(
        &self,
        caller: &Principal,
        id: &str,
        status: DeploymentStatus,
    ) -> Result<DeploymentRecord> {
        self.retry_raced(id, || self.try_reset(caller, id, status)).await?;
        self.audit(caller, "deployment.reset", id, serde_json::json!({"status": status.as_str()})).await;
        self.deployment(caller, id).await
    }

    async fn try_reset(&self, caller: &Principal, id: &str, status: DeploymentStatus) -> Result<Option<()>> {
        let mut d = self.deployment_for(caller, id, Access::Change).await?;
        if status != DeploymentStatus::DeleteFailed {
            return Err(Error::invalid(format!("status can only be reset to DELETE_FAILED, not {status}")));
        }
        if d.status != DeploymentStatus::DeleteInProgress {
            return Err(Error::conflict(format!(
                "deployment {id} is {}; only a DELETE_IN_PROGRESS deployment can be reset",
                d.status
            )));
        }
        d.status = DeploymentStatus::DeleteFailed;
        d.status_reason = Some(format!("delete stopped by {}", caller.qualified()));
        d.task = Task::None;
        d.workflow = None;
        d.next_run_at = None;
        d.updated_at = self.now_ms();
        self.save_user_change(&d, vec![format!("status reset to DELETE_FAILED by {}", caller.qualified())]).await
    }

    /// A deployment's log.
    pub async fn deployment_log(&self, caller: &Principal, id: &str) -> Result<Vec<LogLine>> {
        self.deployment(caller, id).await?;
        Ok(self.store().log(id).await?)
    }

    /// What the providers hold for a deployment now, across its attempts.
    pub async fn deployment_resources(&self, caller: &Principal, id: &str) -> Result<Vec<Resource>> {
        self.deployment(caller, id).await?;
        self.held_by_attempts(&self.store().attempts(id).await?).await
    }

    /// What the providers hold for these attempts of a deployment.
    async fn held_by_attempts(&self, attempts: &[AttemptRecord]) -> Result<Vec<Resource>> {
        let mut resources = Vec::new();
        for attempt in attempts {
            if !attempt.state.may_hold_resources() {
                continue;
            }
            let driver = self.federation().driver(&attempt.provider)?;
            let held = tokio::time::timeout(self.settings().driver_call_timeout, driver.resources(&attempt.attempt_id))
                .await
                .map_err(|_| Error::internal(format!("provider {} did not answer in time", attempt.provider)))?
                .map_err(|e| e.on(&attempt.provider))?;
            resources.extend(held);
        }
        Ok(resources)
    }

    /// A deployment and its resources as the INDIGO orchestrator lists them:
    /// one per node template instance, servers with their addresses, size
    /// and image (see [`nuvola_indigo::Nodes`]).
    pub async fn orchestrator_resources(
        &self,
        caller: &Principal,
        id: &str,
    ) -> Result<(DeploymentRecord, Vec<nuvola_indigo::NodeResource>)> {
        let d = self.deployment(caller, id).await?;
        let attempts = self.store().attempts(id).await?;
        let held = self.held_by_attempts(&attempts).await?;
        let mut instances = BTreeMap::new();
        if let Some(attempt) = current_attempt(&attempts) {
            let driver = self.federation().driver(&attempt.provider)?;
            let state = tokio::time::timeout(self.settings().driver_call_timeout, driver.status(&attempt.attempt_id));
            if let Ok(Ok(ProviderState::Ready { nodes })) = state.await {
                instances = nodes;
            }
        }
        let (resolver, text) = (self.inner.resolver.clone(), d.template.clone());
        let template = self
            .off_the_reactor(move || {
                let template = nuvola_tosca::load(&text, "template.yaml", &*resolver)
                    .map_err(|e| Error::internal_because("stored template no longer loads", e))?;
                let node = |name: &str| nuvola_indigo::TemplateNode {
                    name: name.to_string(),
                    type_name: template.node_type(name).unwrap_or_default().to_string(),
                };
                Ok::<_, Error>(template.node_names().map(node).collect::<Vec<_>>())
            })
            .await??;
        let nodes = nuvola_indigo::Nodes { deployment: &d, template: &template, held: &held, instances: &instances };
        let resources = nodes.resources();
        Ok((d, resources))
    }

    /// Refuses a request that would take the caller over the operator's
    /// limits on what one user stores: `more` deployments and `bytes` of
    /// template text besides what they hold.
    async fn check_owner_limits(&self, caller: &Principal, more: i64, bytes: i64) -> Result<()> {
        let settings = self.settings();
        let (held, held_bytes) = self.store().held_by_owner(&caller.subject, &caller.issuer).await?;
        if more > 0 && held + more > settings.max_deployments_per_user {
            return Err(Error::Forbidden(format!(
                "you hold {held} deployments; the limit is {} per user (deployments.max_per_user): delete some you \
                 no longer need, failed ones included",
                settings.max_deployments_per_user
            )));
        }
        if bytes > 0 && held_bytes + bytes > settings.max_template_bytes_per_user {
            return Err(Error::Forbidden(format!(
                "your deployments' templates hold {} KiB; this one would take them over the limit of {} KiB per user \
                 (deployments.max_template_bytes_per_user): delete deployments you no longer need",
                held_bytes / 1024,
                settings.max_template_bytes_per_user / 1024
            )));
        }
        Ok(())
    }

    /// Refuses a template of the caller's own that deploys what a
    /// restricted catalogue service does, unless the caller may deploy
    /// that service for `group`: restrictions apply to what is deployed,
    /// not to the name it is deployed under.
    async fn check_restricted_lookalikes(
        &self,
        caller: &Principal,
        group: &str,
        template: &ServiceTemplate,
        requirements: &DeploymentRequirements,
    ) -> Result<()> {
        let features = crate::catalogue::features(template, Some(requirements));
        let restricted = |id: &str| self.settings().restricted_services.contains_key(id);
        for (id, own) in self.catalogue().restricted_lookalikes(restricted, &features) {
            if let crate::catalogue::ServiceAccess::Restricted(groups) = self.service_access(caller, group, id).await? {
                let what = if own.is_empty() { String::new() } else { format!(" ({})", own.join(", ")) };
                let service = format!("this template deploys what catalogue service {id} does{what}, which");
                return Err(not_open(&service, id, &groups));
            }
        }
        Ok(())
    }

    /// Parses a template, resolves parameters into inputs and reads the
    /// requirements, turning every diagnostic into one `Invalid` message.
    /// Runs off the async workers (see [`App::off_the_reactor`]).
    async fn compile(
        &self,
        source: &str,
        text: &str,
        parameters: &Map<String, Value>,
        undeclared: Undeclared,
    ) -> Result<Compiled> {
        let resolver = self.inner.resolver.clone();
        let max = self.settings().max_template_bytes;
        let (source, text, parameters) = (source.to_string(), text.to_string(), parameters.clone());
        self.off_the_reactor(move || compile(&*resolver, max, &source, &text, &parameters, undeclared)).await?
    }

    /// Plans a deployment against the federation, with the group's current
    /// usage, the quota providers report, and each provider's recent health
    /// and probes (as a submission would be placed).
    pub async fn plan(&self, query: &PlanQuery<'_>) -> Result<Plan> {
        let reported = self.reported_quotas(query.group).await;
        let health = (*self.recent_health().await?).clone();
        let facts = Facts { held: self.store().held_by_group(query.group).await?, health, reported };
        Ok(crate::planning::plan(&self.federation().providers(), query, facts, &self.settings().weights))
    }

    /// Every provider granting `group`: its project's quota and usage as
    /// the provider reports them, asked of all providers at once; those
    /// that cannot tell or do not answer within two seconds are left out.
    async fn reported_quotas(&self, group: &str) -> ReportedQuotas {
        let mut asked = tokio::task::JoinSet::new();
        for spec in self.federation().providers().iter() {
            let Some(grant) = spec.groups.get(group) else { continue };
            let Ok(driver) = self.federation().driver(&spec.name) else { continue };
            let (provider, project) = (spec.name.clone(), grant.project.clone().unwrap_or_else(|| group.to_string()));
            let driver = driver.clone();
            asked.spawn(async move {
                let answer = tokio::time::timeout(REPORTED_QUOTA_WAIT, driver.project_quota(&project)).await;
                match answer {
                    Ok(Ok(Some(q))) => Some((provider, (q.limits, q.used))),
                    _ => None,
                }
            });
        }
        let mut reported = BTreeMap::new();
        while let Some(answer) = asked.join_next().await {
            if let Ok(Some((provider, quota))) = answer {
                reported.insert(provider, quota);
            }
        }
        reported
    }

    /// The lock that serialises placement for one group.
    fn group_lock(&self, group: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.group_locks.lock().expect("group locks");
        locks.entry(group.to_string()).or_default().clone()
    }

    /// The group a request acts for: the one asked for, which the caller
    /// must belong to, or the caller's only group.
    fn choose_group(&self, caller: &Principal, asked: Option<&str>) -> Result<String> {
        match asked {
            Some(group) if caller.in_group(group) || caller.admin => Ok(group.to_string()),
            Some(group) => Err(Error::Forbidden(format!(
                "you are not a member of group {group:?} (your groups: {})",
                list_or_none(&caller.groups)
            ))),
            None => match caller.groups.as_slice() {
                [only] => Ok(only.clone()),
                [] => Err(Error::Forbidden("you belong to no group; deployments belong to a group".into())),
                many => Err(Error::invalid(format!("userGroup is required: you belong to {}", many.join(", ")))),
            },
        }
    }

    /// Saves a change a user asked for; `None` when a worker saved the
    /// row since it was read (the change must be re-derived and retried).
    async fn save_user_change(&self, d: &DeploymentRecord, log: Vec<String>) -> Result<Option<()>> {
        let saved = self.store().save_deployment(d, None, &Progress { attempts: vec![], log }).await?;
        Ok(saved.then_some(()))
    }

    /// Runs a read-check-write `op` until it is not raced by a worker's
    /// save (each round re-reads the row, so the checks see fresh state).
    async fn retry_raced<T, F>(&self, id: &str, mut op: impl FnMut() -> F) -> Result<T>
    where
        F: std::future::Future<Output = Result<Option<T>>>,
    {
        for round in 0..RACE_RETRIES {
            if let Some(done) = op().await? {
                return Ok(done);
            }
            tokio::time::sleep(std::time::Duration::from_millis(2 * (round + 1))).await;
        }
        Err(Error::conflict(format!("deployment {id} kept changing while this request ran; try again")))
    }
}

/// The deployment log's warnings about parameters left out as undeclared.
fn ignored_lines(ignored: &[String]) -> impl Iterator<Item = String> + '_ {
    ignored.iter().map(|name| format!("warning: parameter {name:?} ignored: the template declares no such input"))
}

/// The attempt a deployment currently runs on.
pub(crate) fn current_attempt(attempts: &[AttemptRecord]) -> Option<&AttemptRecord> {
    attempts.iter().rev().find(|a| a.state == AttemptState::Ready)
}

/// `what` (a restricted catalogue service `id`) is open to `groups` only.
fn not_open(what: &str, id: &str, groups: &[String]) -> Error {
    Error::Forbidden(format!(
        "{what} is open to group{} {} only; ask for access to {id} (a catalogue access request) and deploy once it \
         is approved",
        if groups.len() == 1 { "" } else { "s" },
        groups.join(", ")
    ))
}

fn unknown_provider(app: &App, name: &str) -> Error {
    Error::invalid(format!("unknown provider {name:?} (known: {})", app.federation().names()))
}

fn list_or_none(groups: &[String]) -> String {
    if groups.is_empty() { "none".into() } else { groups.join(", ") }
}
