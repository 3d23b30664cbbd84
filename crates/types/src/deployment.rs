//! Deployment lifecycle states, spelled as the INDIGO PaaS Orchestrator
//! spells them on the wire, and who a request acts for.

use serde::{Deserialize, Serialize};

use crate::spelled::{Spelled, spelled_traits};

/// Where a deployment is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    CreateInProgress,
    CreateComplete,
    CreateFailed,
    UpdateInProgress,
    UpdateComplete,
    UpdateFailed,
    DeleteInProgress,
    DeleteComplete,
    DeleteFailed,
    Unknown,
}

impl DeploymentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [DeploymentStatus; 10] = [
        Self::CreateInProgress,
        Self::CreateComplete,
        Self::CreateFailed,
        Self::UpdateInProgress,
        Self::UpdateComplete,
        Self::UpdateFailed,
        Self::DeleteInProgress,
        Self::DeleteComplete,
        Self::DeleteFailed,
        Self::Unknown,
    ];

    /// The wire spelling, e.g. `CREATE_COMPLETE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateInProgress => "CREATE_IN_PROGRESS",
            Self::CreateComplete => "CREATE_COMPLETE",
            Self::CreateFailed => "CREATE_FAILED",
            Self::UpdateInProgress => "UPDATE_IN_PROGRESS",
            Self::UpdateComplete => "UPDATE_COMPLETE",
            Self::UpdateFailed => "UPDATE_FAILED",
            Self::DeleteInProgress => "DELETE_IN_PROGRESS",
            Self::DeleteComplete => "DELETE_COMPLETE",
            Self::DeleteFailed => "DELETE_FAILED",
            Self::Unknown => "UNKNOWN",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// True while a workflow is running for the deployment.
    pub fn in_progress(self) -> bool {
        matches!(self, Self::CreateInProgress | Self::UpdateInProgress | Self::DeleteInProgress)
    }

    /// True once nothing more will happen without a new request.
    pub fn is_terminal(self) -> bool {
        !self.in_progress()
    }

    /// Whether an update (PUT) may start from this status.
    pub fn can_update(self) -> bool {
        matches!(self, Self::CreateComplete | Self::UpdateComplete | Self::UpdateFailed)
    }
}

impl std::fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the orchestrator is doing for a deployment, the `task` of its
/// orchestrator view. The values are those of the INDIGO PaaS
/// Orchestrator's `Task` enum (indigo-dc/orchestrator,
/// `it.reply.orchestrator.enums.Task`), so that every one it may show reads
/// back; nuvola itself sets [`Task::Deployer`] while a workflow runs and
/// [`Task::None`] otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", try_from = "String")]
pub enum Task {
    /// Nothing is running.
    #[default]
    None,
    /// Watching the deployment's resources.
    Monitoring,
    /// Checking service quality.
    Qos,
    /// Choosing a provider.
    Brokering,
    /// Moving data (the data management service).
    Dms,
    /// Creating, updating or deleting resources on a provider.
    Deployer,
    /// Not known.
    Unknown,
}

impl Task {
    /// The task while a deployment in `status` is at rest or being worked on.
    pub fn of(status: DeploymentStatus) -> Task {
        if status.in_progress() { Task::Deployer } else { Task::None }
    }
}

impl Spelled for Task {
    const WHAT: &'static str = "deployment task";
    const ALL: &'static [Task] =
        &[Self::None, Self::Monitoring, Self::Qos, Self::Brokering, Self::Dms, Self::Deployer, Self::Unknown];

    fn as_str(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Monitoring => "MONITORING",
            Self::Qos => "QOS",
            Self::Brokering => "BROKERING",
            Self::Dms => "DMS",
            Self::Deployer => "DEPLOYER",
            Self::Unknown => "UNKNOWN",
        }
    }
}

spelled_traits!(Task);

/// The authenticated caller a request acts for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `iss`.
    pub issuer: String,
    /// Groups the caller belongs to.
    pub groups: Vec<String>,
    /// Platform administrator.
    pub admin: bool,
    /// Groups the caller manages (sees every deployment of, decides
    /// requests for).
    #[serde(default)]
    pub manages: Vec<String>,
    /// The e-mail address the identity provider vouches for (an OIDC
    /// token's `email`, unless `email_verified` is false), if it gave one:
    /// where nuvola tells the owner of a deployment that it went down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The address the request came from (for the audit log).
    #[serde(skip)]
    pub client_ip: Option<String>,
}

impl Principal {
    /// `subject@issuer`, the orchestrator's `createdBy` filter form.
    pub fn qualified(&self) -> String {
        format!("{}@{}", self.subject, self.issuer)
    }

    /// Whether the caller belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Whether the caller manages `group`.
    pub fn manages(&self, group: &str) -> bool {
        self.manages.iter().any(|g| g == group)
    }
}

/// Whether an input of this name holds a secret (a password, a token, a
/// private key): forms do not show it back, and views of a deployment
/// replace its value with [`REDACTED`].
pub fn is_secret_input(name: &str) -> bool {
    let n = name.to_lowercase();
    ["password", "passwd", "secret", "token", "private_key"].iter().any(|s| n.contains(s))
}

/// What views show for a secret input's value.
pub const REDACTED: &str = "********";

/// `message` with every text of the `secrets` (secret inputs' values, and
/// every string inside a list or map one) replaced by [`REDACTED`], for
/// messages that might echo a value: a constraint's complaint, a
/// provider's error. A quoted occurrence (`"value"`, as JSON and Rust
/// print strings) is always replaced; a bare one only from four
/// characters, so that a one-letter secret does not garble the message.
pub fn redact_secrets<'a>(message: &str, secrets: impl IntoIterator<Item = &'a serde_json::Value>) -> String {
    fn texts<'v>(v: &'v serde_json::Value, out: &mut Vec<std::borrow::Cow<'v, str>>) {
        match v {
            serde_json::Value::String(s) => out.push(s.as_str().into()),
            serde_json::Value::Number(n) => out.push(n.to_string().into()),
            serde_json::Value::Array(items) => items.iter().for_each(|i| texts(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| texts(i, out)),
            serde_json::Value::Bool(_) | serde_json::Value::Null => {}
        }
    }
    let mut all = Vec::new();
    secrets.into_iter().for_each(|v| texts(v, &mut all));
    // Longest first, so that a secret inside another is not half replaced.
    all.sort_by_key(|t| std::cmp::Reverse(t.len()));
    let mut out = message.to_string();
    for text in all.iter().filter(|t| !t.is_empty()) {
        for quoted in [serde_json::Value::String(text.to_string()).to_string(), format!("{text:?}")] {
            out = out.replace(&quoted, &format!("\"{REDACTED}\""));
        }
        if text.chars().count() >= 4 {
            out = out.replace(text.as_ref(), REDACTED);
        }
    }
    out
}

/// Longest `timeoutMins` (and `providerTimeoutMins`) accepted: a year.
pub const MAX_TIMEOUT_MINS: i64 = 366 * 24 * 60;

/// How long to wait (ms) before asking again about something a provider
/// has been building for `building_ms`: soon at first, so that a provider
/// that is ready at once is noticed at once, then a quarter of the time it
/// has taken so far, up to `interval_ms` (the configured poll interval):
/// some twenty more looks in a build's first seconds than a fixed
/// interval makes, and a build ready at once is seen within 10 ms.
pub fn poll_delay_ms(building_ms: i64, interval_ms: i64) -> i64 {
    /// The first look after a create.
    const FIRST_MS: i64 = 10;
    let interval = interval_ms.max(1);
    (building_ms.max(0) / 4).clamp(FIRST_MS.min(interval), interval)
}

/// When an operation started at `now` (ms) gives up after `mins`.
pub fn deadline(now: i64, mins: i64) -> i64 {
    now.saturating_add(mins.saturating_mul(60_000))
}

/// Checks a request's `timeoutMins`, `providerTimeoutMins` and
/// `maxProvidersRetry`.
pub fn check_timeouts(timeout: i64, provider_timeout: i64, retries: Option<i64>) -> crate::Result<()> {
    for (name, value) in [("timeoutMins", timeout), ("providerTimeoutMins", provider_timeout)] {
        if !(1..=MAX_TIMEOUT_MINS).contains(&value) {
            return Err(crate::Error::invalid(format!(
                "{name} must be between 1 and {MAX_TIMEOUT_MINS} (a year), not {value}"
            )));
        }
    }
    if provider_timeout > timeout {
        return Err(crate::Error::invalid(format!(
            "providerTimeoutMins ({provider_timeout}) must not exceed timeoutMins ({timeout})"
        )));
    }
    if let Some(r) = retries
        && r < 1
    {
        return Err(crate::Error::invalid(format!("maxProvidersRetry must be at least 1, not {r}")));
    }
    Ok(())
}

#[cfg(test)]
mod secret_tests {
    use super::{MAX_TIMEOUT_MINS, check_timeouts, deadline, is_secret_input, redact_secrets};
    use serde_json::json;

    #[test]
    fn secrets_are_told_by_name() {
        for name in ["admin_password", "Elastic_Passwd", "admin_token", "client_secret", "ssh_private_key"] {
            assert!(is_secret_input(name), "{name}");
        }
        for name in ["num_cpus", "ssh_public_key", "mem_size", "token_lifetime_hint"] {
            assert_eq!(is_secret_input(name), name.contains("token"), "{name}");
        }
    }

    #[test]
    fn secret_values_are_taken_out_of_messages() {
        let secrets = [json!("hunter2-long"), json!({"db": ["p4ss\"word"], "n": 12345}), json!("x")];
        let message =
            r#"value "hunter2-long" is not x; "p4ss\"word" too short; hunter2-long again; pin 12345; "x" and x"#;
        let shown = redact_secrets(message, &secrets);
        assert_eq!(
            shown,
            r#"value "********" is not x; "********" too short; ******** again; pin ********; "********" and x"#
        );
        assert_eq!(redact_secrets("nothing secret", &[json!(""), json!(null)]), "nothing secret");
    }

    #[test]
    fn timeouts_are_checked_with_the_field_named() {
        assert!(check_timeouts(60, 30, Some(2)).is_ok());
        let too_long = check_timeouts(MAX_TIMEOUT_MINS + 1, 1, None).unwrap_err().to_string();
        assert!(too_long.contains("timeoutMins must be between 1 and"), "{too_long}");
        let provider = check_timeouts(10, 20, None).unwrap_err().to_string();
        assert!(provider.contains("providerTimeoutMins (20) must not exceed timeoutMins (10)"), "{provider}");
        assert!(check_timeouts(10, 10, Some(0)).unwrap_err().to_string().contains("maxProvidersRetry"));
        assert_eq!(deadline(1_000, 2), 121_000);
        assert_eq!(deadline(i64::MAX - 5, MAX_TIMEOUT_MINS), i64::MAX, "saturates");
    }
}

#[cfg(test)]
mod poll_tests {
    use super::poll_delay_ms;

    #[test]
    fn a_build_is_looked_at_soon_then_less_often_up_to_the_interval() {
        assert_eq!(poll_delay_ms(0, 1000), 10, "the first look comes right after the create");
        assert_eq!(poll_delay_ms(100, 1000), 25);
        assert_eq!(poll_delay_ms(2_000, 1000), 500);
        assert_eq!(poll_delay_ms(60_000, 1000), 1000, "never beyond the interval");
        assert_eq!(poll_delay_ms(0, 5), 5, "an interval under the first look is kept");
        assert_eq!(poll_delay_ms(-50, 1000), 10, "a clock that went back counts as just started");
        assert_eq!(poll_delay_ms(10, 0), 1, "never a busy loop");
        // A minute's build at the default interval: some twenty looks more
        // than one a second, not one every 10 ms.
        let (mut t, mut looks) = (0, 0);
        while t < 60_000 {
            t += poll_delay_ms(t, 1000);
            looks += 1;
        }
        assert!((60..=90).contains(&looks), "{looks} looks");
    }
}
