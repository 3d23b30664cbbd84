//! A plan in plain text, for the CLI, logs and the deployment page: the
//! candidates in the order they will be tried, then every rejection.

use std::fmt::Write;

use nuvola_types::Plan;

/// Renders `plan` as a readable multi-line explanation.
pub fn explain(plan: &Plan) -> String {
    let mut out = String::new();
    if plan.candidates.is_empty() {
        out.push_str("No cloud provider meets the deployment requirements.\n");
    } else {
        out.push_str("Candidates, best first:\n");
        for (rank, candidate) in plan.candidates.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}. {} (SLA {}, score {:.2})",
                rank + 1,
                candidate.provider,
                candidate.sla_id,
                candidate.score
            );
            for reason in candidate.reasons() {
                let _ = writeln!(out, "     {reason}");
            }
        }
    }
    let rejected: Vec<_> = plan.verdicts.iter().filter(|v| !v.accepted).collect();
    if !rejected.is_empty() {
        out.push_str("Rejected:\n");
        for verdict in rejected {
            match verdict.reasons.as_slice() {
                [only] => {
                    let _ = writeln!(out, "  - {}: {only}", verdict.provider);
                }
                reasons => {
                    let _ = writeln!(out, "  - {}:", verdict.provider);
                    for reason in reasons {
                        let _ = writeln!(out, "      {reason}");
                    }
                }
            }
        }
    }
    out
}
