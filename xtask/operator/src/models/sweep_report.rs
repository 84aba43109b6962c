//! A sweep's report, read: the figures that say whether a person is needed
//! (from the sweep's response, or from its "sweep report" log line). The
//! sweep command prints them; status shows the last scheduled one.

use serde_json::Value;

use super::logs::LogLine;

/// The figures of a sweep report that say whether a person is needed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepSummary {
    /// HELD jobs older than the timeout it found.
    pub stragglers: u64,
    /// Of those, expired.
    pub expired: u64,
    /// Conflicts since the previous sweep.
    pub conflicts: u64,
    /// The accounts with drift it lists.
    pub drift_accounts: Vec<String>,
    /// How many accounts drifted (the list may be cut).
    pub drifted_accounts: u64,
    /// Accounts audited.
    pub audited_accounts: u64,
    /// Items that could not be swept.
    pub failed_items: u64,
    /// A dry run (wrote nothing).
    pub dry_run: bool,
    /// Finished before its deadline.
    pub complete: bool,
    /// The human sentence.
    pub summary: String,
}

impl SweepSummary {
    /// Reads a report (the sweep's response, or the `report` of its log
    /// line); missing fields read as zero.
    pub fn from_report(report: &Value) -> SweepSummary {
        let n = |key: &str| report[key].as_u64().unwrap_or(0);
        let drift_accounts: Vec<String> = report["drift"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["account_id"].as_str().map(str::to_owned))
            .collect();
        SweepSummary {
            stragglers: n("stragglers"),
            expired: n("expired"),
            conflicts: n("conflicts"),
            drifted_accounts: n("drifted_accounts").max(drift_accounts.len() as u64),
            drift_accounts,
            audited_accounts: n("audited_accounts"),
            failed_items: n("failed_items"),
            dry_run: report["dry_run"].as_bool().unwrap_or(false),
            complete: report["complete"].as_bool().unwrap_or(true),
            summary: report["summary"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// What a person must look at (empty: nothing).
    pub fn needs_a_person(&self) -> Vec<String> {
        let mut why = Vec::new();
        if self.drifted_accounts > 0 {
            why.push(format!(
                "ledger drift in {} account(s){} (docs/operations.md#alarm-drift)",
                self.drifted_accounts,
                if self.drift_accounts.is_empty() {
                    String::new()
                } else {
                    format!(": {}", self.drift_accounts.join(", "))
                }
            ));
        }
        if self.failed_items > 0 {
            why.push(format!(
                "{} item(s) could not be swept (docs/operations.md#alarm-sweep-errors)",
                self.failed_items
            ));
        }
        why
    }
}

/// The last sweep report in the sweep's log group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastSweep {
    /// When it was logged.
    pub at_ms: i64,
    /// Its figures.
    pub summary: SweepSummary,
}

/// The last "sweep report" line of the sweep's log group since `since_ms`
/// (pure): its time and figures (the `report` JSON it carries, else the
/// line's own fields).
pub fn last_sweep_report(lines: &[LogLine]) -> Option<LastSweep> {
    lines
        .iter()
        .filter_map(|l| Some((l.timestamp_ms, l.json()?)))
        .filter(|(_, j)| j.get("message").and_then(Value::as_str) == Some("sweep report"))
        .max_by_key(|(at, _)| *at)
        .map(|(at_ms, j)| {
            let report = j
                .get("report")
                .and_then(Value::as_str)
                .and_then(|r| serde_json::from_str::<Value>(r).ok())
                .unwrap_or(j);
            LastSweep {
                at_ms,
                summary: SweepSummary::from_report(&report),
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_last_sweep_report_is_the_newest_report_line() {
        let line = |ts: i64, v: Value| LogLine {
            function: "sweep",
            timestamp_ms: ts,
            event_id: ts.to_string(),
            message: v.to_string(),
        };
        let report =
            json!({"stragglers": 3, "expired": 1, "conflicts": 2, "drift": [], "summary": "s"});
        let lines = vec![
            line(
                2,
                json!({"message": "sweep report", "report": report.to_string()}),
            ),
            line(1, json!({"message": "sweep report", "stragglers": 9})),
            line(3, json!({"message": "something else"})),
        ];
        let last = last_sweep_report(&lines).unwrap();
        assert_eq!(last.at_ms, 2);
        assert_eq!(
            (
                last.summary.stragglers,
                last.summary.expired,
                last.summary.conflicts
            ),
            (3, 1, 2)
        );
        assert_eq!(last_sweep_report(&lines[2..]), None);
        // Without the report string, the line's own fields.
        assert_eq!(
            last_sweep_report(&lines[1..2]).unwrap().summary.stragglers,
            9
        );
    }
}
