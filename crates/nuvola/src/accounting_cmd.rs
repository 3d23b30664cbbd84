//! `nuvola accounting usage` and `nuvola accounting daily`: the usage the
//! caller may see, per month or per day of one month, by provider, group,
//! user or month, of some providers, groups or users (`--group a --group
//! b`, or `--group a,b`), through the API (`/api/v1/accounting/usage` and
//! `/daily`): an aligned table by default, the API's JSON with `--json`.

use anyhow::Result;
use serde_json::Value;

use crate::client::Client;

/// The filters both views take.
#[derive(clap::Args)]
pub struct Filters {
    /// provider, group, user or month (the default).
    #[arg(long)]
    by: Option<String>,
    /// Only this provider (repeat it, or separate them with commas, for
    /// several).
    #[arg(long)]
    provider: Vec<String>,
    /// Only this group (repeat it, or separate them with commas, for
    /// several).
    #[arg(long)]
    group: Vec<String>,
    /// Only this user, e.g. subject@issuer (repeat it, or separate them
    /// with commas, for several).
    #[arg(long)]
    user: Vec<String>,
    /// Print the API's JSON.
    #[arg(long)]
    json: bool,
}

/// `nuvola accounting`.
#[derive(clap::Subcommand)]
pub enum AccountingCommand {
    /// Usage per month, the last twelve by default.
    Usage {
        /// First month, YYYY-MM.
        #[arg(long)]
        from: Option<String>,
        /// Last month, YYYY-MM (included).
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        filters: Filters,
    },
    /// Usage per day of one month, this month by default.
    Daily {
        /// The month, YYYY-MM.
        #[arg(long)]
        month: Option<String>,
        #[command(flatten)]
        filters: Filters,
    },
}

/// Runs `nuvola accounting`.
pub async fn run(client: &Client, command: AccountingCommand) -> Result<()> {
    let (path, mut pairs, filters) = match command {
        AccountingCommand::Usage { from, to, filters } => {
            ("/api/v1/accounting/usage", vec![("from", from), ("to", to)], filters)
        }
        AccountingCommand::Daily { month, filters } => ("/api/v1/accounting/daily", vec![("month", month)], filters),
    };
    pairs.push(("by", filters.by.clone()));
    for (name, values) in [("provider", &filters.provider), ("group", &filters.group), ("user", &filters.user)] {
        pairs.extend(values.iter().map(|v| (name, Some(v.clone()))));
    }
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            query.append_pair(k, &v);
        }
    }
    let query = query.finish();
    let report = client.get(&format!("{path}?{query}")).await?;
    if filters.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&report);
    Ok(())
}

fn number(v: &Value, decimals: usize) -> String {
    match v.as_f64() {
        Some(x) => format!("{x:.decimals$}"),
        None => "-".into(),
    }
}

/// The report as an aligned table: words left, numbers right.
fn print_report(report: &Value) {
    let by = report["by"].as_str().unwrap_or("month");
    let models: Vec<&str> = report["gpuModels"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut header = vec!["PERIOD".to_string()];
    if by != "month" {
        header.push(by.to_uppercase());
    }
    header.extend(
        ["CPU_H", "WALL_H", "RAM_GB_H", "DISK_GB", "INSTANCES", "VOLUMES", "VOLUME_GB", "PUBLIC_IPS"].map(String::from),
    );
    header.extend(models.iter().map(|m| format!("GPU_H({})", if m.is_empty() { "unnamed" } else { m })));
    let words = if by == "month" { 1 } else { 2 };
    let mut rows = vec![header];
    for r in report["rows"].as_array().into_iter().flatten() {
        let mut row = vec![r["period"].as_str().unwrap_or("-").to_string()];
        if by != "month" {
            row.push(r["key"].as_str().unwrap_or("-").to_string());
        }
        row.extend([
            number(&r["cpuHours"], 1),
            number(&r["wallHours"], 1),
            number(&r["ramGbHours"], 1),
            number(&r["diskGb"], 0),
            number(&r["instances"], 0),
            number(&r["volumes"], 0),
            number(&r["volumeGb"], 1),
            number(&r["publicIps"], 0),
        ]);
        row.extend(models.iter().map(|m| number(r["gpuHours"].get(*m).unwrap_or(&Value::from(0.0)), 1)));
        rows.push(row);
    }
    let widths: Vec<usize> =
        (0..rows[0].len()).map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in &rows {
        let cells: Vec<String> =
            row.iter()
                .enumerate()
                .map(|(c, cell)| {
                    if c < words { format!("{cell:<w$}", w = widths[c]) } else { format!("{cell:>w$}", w = widths[c]) }
                })
                .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    if rows.len() == 1 {
        println!("(no usage in this period)");
    }
    println!("showing {}", report["scope"].as_str().unwrap_or("-"));
}
