//! What a smoke run found: one line a check, and the verdict.

use std::time::Duration;

/// How one check ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Passed, after this long.
    Ok(Duration),
    /// Not passed within the timeout; the last status or error seen.
    TimedOut(Option<String>),
    /// Failed outright (e.g. PutEvents refused the event, the SNS action failed).
    Failed(String),
    /// Cannot tell (e.g. the alarm was already in ALARM before the run): not a pass.
    Inconclusive(String),
}

impl CheckOutcome {
    /// Whether the check passed.
    pub fn is_ok(&self) -> bool {
        matches!(self, CheckOutcome::Ok(_))
    }
}

/// One line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it ended.
    pub outcome: CheckOutcome,
    /// A remark (e.g. the dead letter was deleted).
    pub note: Option<String>,
}

/// What a smoke run found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmokeReport {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl SmokeReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome.is_ok())
    }

    /// `smoke --json` (pure): the stage, the verdict, and each check with
    /// its outcome (`ok`, `timed_out`, `failed`, `inconclusive`), how long
    /// it took when it passed, and what was last seen or why
    /// (docs/operations.md#json).
    pub fn to_json(&self, stage: infra::Stage) -> serde_json::Value {
        let checks: Vec<serde_json::Value> = self
            .checks
            .iter()
            .map(|c| {
                let (outcome, seconds, detail) = match &c.outcome {
                    CheckOutcome::Ok(after) => ("ok", Some(after.as_secs_f64()), None),
                    CheckOutcome::TimedOut(last) => ("timed_out", None, last.clone()),
                    CheckOutcome::Failed(why) => ("failed", None, Some(why.clone())),
                    CheckOutcome::Inconclusive(why) => ("inconclusive", None, Some(why.clone())),
                };
                serde_json::json!({
                    "name": c.name,
                    "outcome": outcome,
                    "seconds": seconds,
                    "detail": detail,
                    "note": c.note,
                })
            })
            .collect();
        serde_json::json!({"stage": stage.to_string(), "passed": self.passed(), "checks": checks})
    }

    /// The lines the command prints.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let status = match &c.outcome {
                CheckOutcome::Ok(after) => format!("ok ({:.1}s)", after.as_secs_f64()),
                CheckOutcome::TimedOut(None) => "TIMED OUT".to_owned(),
                CheckOutcome::TimedOut(Some(e)) => format!("TIMED OUT (last seen: {e})"),
                CheckOutcome::Failed(e) => format!("FAILED: {e}"),
                CheckOutcome::Inconclusive(why) => format!("NOT CONCLUSIVE: {why}"),
            };
            out.push_str(&format!("{:<64} {status}\n", c.name));
            if let Some(note) = &c.note {
                out.push_str(&format!("    note: {note}\n"));
            }
        }
        out.push_str(if self.passed() {
            "Smoke test passed.\n"
        } else {
            "Smoke test FAILED.\n"
        });
        out
    }
}
