//! `nuvola incident` and `nuvola status`: the status page's incidents and
//! components through the API (`/api/v1/status`), as an operator runs them
//! from a shell. Opening and updating incidents and overriding components
//! need an admin token; subscribers are told as from `/admin/status`.

use anyhow::{Result, anyhow, bail};
use nuvola_types::{ComponentState, Impact, IncidentStatus, Spelled};
use serde_json::{Map, Value, json};

use crate::Output;
use crate::client::Client;

/// `nuvola incident`.
#[derive(clap::Subcommand)]
pub enum IncidentCommand {
    /// Open an incident and tell the subscribers of the components it
    /// affects (admin token).
    Open {
        #[arg(long)]
        title: String,
        /// none, minor, major or critical.
        #[arg(long, default_value = "minor", value_parser = word::<Impact>)]
        impact: Impact,
        /// investigating, identified, monitoring or resolved.
        #[arg(long, default_value = "investigating", value_parser = word::<IncidentStatus>)]
        status: IncidentStatus,
        /// The first update's text.
        #[arg(long)]
        message: String,
        /// An affected component, `ID` or `ID=STATE` (e.g.
        /// clouds/recas-bari=partial_outage); without a state, the
        /// impact's (minor: degraded_performance, major: partial_outage,
        /// critical: major_outage). Repeatable; `nuvola status components`
        /// lists the ids.
        #[arg(long = "component")]
        components: Vec<String>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Post an update to an incident and tell its subscribers (admin
    /// token); `--status resolved` resolves it, another status reopens a
    /// resolved one.
    Update {
        id: String,
        #[arg(long, value_parser = word::<IncidentStatus>)]
        status: IncidentStatus,
        #[arg(long)]
        message: String,
        /// The affected components from now on, as for `open` (the others
        /// are no longer affected); none given: unchanged.
        #[arg(long = "component")]
        components: Vec<String>,
        /// A new impact; none given: unchanged.
        #[arg(long, value_parser = word::<Impact>)]
        impact: Option<Impact>,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// The incidents, newest first.
    List {
        #[arg(long, default_value_t = 25)]
        limit: i64,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// One incident with its updates.
    Show {
        id: String,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

/// `nuvola status`.
#[derive(clap::Subcommand)]
pub enum StatusCommand {
    /// The status page's components: the state shown, what the probes
    /// say, and the operator's override.
    Components {
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
    /// Show a component in a state whatever the probes say, until cleared
    /// (admin token); `--clear` gives it back to the probes.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["state", "clear"])))]
    Override {
        /// The component's id, e.g. clouds/recas-bari.
        component: String,
        /// operational, degraded_performance, partial_outage, major_outage
        /// or under_maintenance.
        #[arg(value_parser = word::<ComponentState>)]
        state: Option<ComponentState>,
        /// Shown beside the state on the page.
        #[arg(long, default_value = "", conflicts_with = "clear")]
        note: String,
        /// Clear the override.
        #[arg(long)]
        clear: bool,
        #[arg(long, value_enum, default_value = "text")]
        output: Output,
    },
}

/// A word of one of the status page's vocabularies, or the error listing
/// them.
fn word<T: Spelled>(text: &str) -> Result<T, String> {
    T::parse(text).map_err(|e| e.to_string())
}

/// `--component ID[=STATE]` values as the API's `components` object, the
/// state defaulting to `impact`'s.
fn affected(components: &[String], impact: Impact) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for c in components {
        let (id, state) = match c.split_once('=') {
            Some((id, state)) => (id, ComponentState::parse(state).map_err(|e| anyhow!("--component {c:?}: {e}"))?),
            None => (c.as_str(), impact.component_state()),
        };
        if id.trim().is_empty() {
            bail!("--component {c:?}: give a component id, e.g. clouds/recas-bari");
        }
        out.insert(id.trim().to_string(), json!(state));
    }
    Ok(out)
}

/// Runs `nuvola incident`.
pub async fn incident(client: &Client, command: IncidentCommand) -> Result<()> {
    match command {
        IncidentCommand::Open { title, impact, status, message, components, output } => {
            let body = json!({
                "title": title, "impact": impact, "status": status, "message": message,
                "components": affected(&components, impact)?,
            });
            print_incident(&client.post("/api/v1/status/incidents", &body).await?, output);
        }
        IncidentCommand::Update { id, status, message, components, impact, output } => {
            let mut body = json!({"status": status, "message": message});
            if let Some(impact) = impact {
                body["impact"] = json!(impact);
            }
            if !components.is_empty() {
                // A component without a state takes the impact's: the new
                // one, else the incident's own.
                let impact = match impact {
                    Some(impact) => impact,
                    None => {
                        let current = client.get(&format!("/api/v1/status/incidents/{id}")).await?;
                        Impact::parse(current["impact"].as_str().unwrap_or_default())?
                    }
                };
                body["components"] = Value::Object(affected(&components, impact)?);
            }
            print_incident(&client.post(&format!("/api/v1/status/incidents/{id}/updates"), &body).await?, output);
        }
        IncidentCommand::List { limit, output } => {
            let page = client.get(&format!("/api/v1/status/incidents?limit={limit}")).await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&page)?);
                return Ok(());
            }
            let listed = page["content"].as_array().map(Vec::as_slice).unwrap_or_default();
            let mut rows = vec![["ID", "STATUS", "IMPACT", "OPENED", "TITLE"].map(String::from)];
            for i in listed {
                rows.push(["id", "status", "impact", "createdAt", "title"].map(|k| text(&i[k])));
            }
            print_table(&rows);
            let total = page["total"].as_i64().unwrap_or(0);
            if total as usize > listed.len() {
                println!("({} of {total} shown; use --limit)", listed.len());
            }
        }
        IncidentCommand::Show { id, output } => {
            print_incident(&client.get(&format!("/api/v1/status/incidents/{id}")).await?, output);
        }
    }
    Ok(())
}

/// Runs `nuvola status`.
pub async fn status(client: &Client, command: StatusCommand) -> Result<()> {
    match command {
        StatusCommand::Components { output } => {
            let list = client.get("/api/v1/status/components").await?;
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut rows = vec![["COMPONENT", "SHOWN", "PROBES SAY", "OVERRIDE"].map(String::from)];
            for c in list["content"].as_array().into_iter().flatten() {
                rows.push([text(&c["id"]), text(&c["state"]), text(&c["probesSay"]), override_of(c)]);
            }
            print_table(&rows);
            if list["checkedAt"].is_null() {
                println!("(no round of probes yet since the server started)");
            }
        }
        StatusCommand::Override { component, state, note, clear, output } => {
            let path = format!("/api/v1/status/overrides/{component}");
            let shown = match state {
                Some(state) if !clear => client.put(&path, &json!({"state": state, "note": note})).await?,
                _ => client.delete(&path).await?,
            };
            if output == Output::Json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else if shown["override"].is_null() {
                println!("{component}: override cleared; shown {} (what the probes say)", text(&shown["state"]));
            } else {
                println!("{component}: shown {} ({})", text(&shown["state"]), override_of(&shown));
            }
        }
    }
    Ok(())
}

/// A component's override in words, or `-`.
fn override_of(c: &Value) -> String {
    let o = &c["override"];
    if o.is_null() {
        return "-".into();
    }
    let note = o["note"].as_str().filter(|n| !n.is_empty()).map(|n| format!(": {n}")).unwrap_or_default();
    format!("{} by {}{note}", text(&o["state"]), text(&o["setBy"]))
}

fn print_incident(i: &Value, output: Output) {
    if output == Output::Json {
        println!("{}", serde_json::to_string_pretty(i).unwrap_or_default());
        return;
    }
    println!("id:         {}", text(&i["id"]));
    println!("title:      {}", text(&i["title"]));
    println!("status:     {} ({} impact)", text(&i["status"]), text(&i["impact"]));
    println!("opened:     {} by {}", text(&i["createdAt"]), text(&i["createdBy"]));
    if !i["resolvedAt"].is_null() {
        println!("resolved:   {}", text(&i["resolvedAt"]));
    }
    let components = i["components"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !components.is_empty() {
        println!("components:");
        for c in components {
            println!("  {}: {}", text(&c["id"]), text(&c["state"]));
        }
    }
    println!("updates:");
    for u in i["updates"].as_array().into_iter().flatten() {
        println!("  {}  {}  {}", text(&u["at"]), text(&u["status"]), text(&u["by"]));
        for line in text(&u["message"]).lines() {
            println!("    {line}");
        }
    }
    println!("page:       {}", text(&i["url"]));
}

/// A value as a person reads it: strings without their quotes, `-` for
/// nothing.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Rows as columns as wide as their widest cell.
fn print_table<const N: usize>(rows: &[[String; N]]) {
    let widths: Vec<usize> = (0..N).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in rows {
        let cells: Vec<String> = (0..N).map(|c| format!("{:<w$}", row[c], w = widths[c])).collect();
        println!("{}", cells.join("  ").trim_end());
    }
}
