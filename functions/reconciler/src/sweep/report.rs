//! The sweep's report (contract §5): returned, logged, summarized, and the source
//! of its metrics.
//!
//! The contract's keys come first and keep their names — `stragglers`, `expired`,
//! `conflicts`, `drift`, `summary` — followed by extra keys for operators.

use reconciler_core::contract::metrics as names;
use serde::Serialize;
use serde_json::Value;

use super::audit::DriftView;
use super::input::Trigger;
use crate::config::StragglerAction;

/// A part of the sweep's work, in the order it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Find (and expire) HELD jobs older than the hold timeout.
    Stragglers,
    /// Audit the accounts touched since their last audit.
    Audit,
    /// List the conflicts recorded since the last sweep.
    Conflicts,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Phase::Stragglers, Phase::Audit, Phase::Conflicts];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Conflicts => "conflicts",
            Phase::Stragglers => "stragglers",
            Phase::Audit => "audit",
        }
    }
}

/// Where the summary came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SummarySource {
    /// [`deterministic_summary`].
    #[default]
    Deterministic,
    /// The summarizer's model.
    Model,
}

/// What happened to one straggler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StragglerOutcome {
    /// Its hold was released (EXPIRED).
    Expired,
    /// It settled between the index read and the expiry: nothing to do.
    Settled,
    /// The stage only reports stragglers.
    Reported,
    /// Dry run: left alone.
    DryRun,
    /// The expiry failed (see `errors`).
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StragglerView {
    pub job_id: String,
    pub account_id: String,
    pub hold: Option<i64>,
    pub held_at_ms: Option<i64>,
    pub outcome: StragglerOutcome,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictView {
    /// The business key (`grant:<id>` or `job:<id>:<detail-type>`).
    pub key: String,
    pub account_id: String,
    pub detail_type: String,
    pub reason: String,
    /// The conflicting event's detail.
    pub detail: Value,
    pub at_ms: i64,
}

/// The report of one sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// HELD jobs found older than the hold timeout.
    pub stragglers: u64,
    /// Of those, holds released by this sweep.
    pub expired: u64,
    /// Conflicts recorded since the last sweep (listed in `conflict_list`).
    pub conflicts: u64,
    /// Accounts whose ledger and balances disagree (at most `list_cap`).
    pub drift: Vec<DriftView>,
    /// A few sentences for a human.
    pub summary: String,

    pub summary_source: SummarySource,
    pub dry_run: bool,
    /// `false`: stopped before the deadline; `remaining` says what the next run continues.
    pub complete: bool,
    pub remaining: Vec<Phase>,
    pub trigger: Trigger,
    pub straggler_action: &'static str,
    pub older_than_seconds: u64,
    /// Credits held by the stragglers found.
    pub straggler_credits: i64,
    /// Accounts audited (touched since their previous audit).
    pub audited_accounts: u64,
    /// Accounts with drift (the `LedgerDrift` metric); `drift` lists at most `list_cap`.
    pub drifted_accounts: u64,
    /// Audited accounts not proven clean up to their version as read: they
    /// changed during their audit, a take waits for its release, or the
    /// window was too long for the budget. Still marked, audited again next
    /// time from the checkpoint, which moved to what was proven.
    pub audit_marks_kept: u64,
    /// Of those, audits that stopped on a doubt a write in flight explained
    /// (an item one read showed and another not yet): not drift.
    pub audits_unproven: u64,
    /// Stragglers and conflicts in detail (at most `list_cap` each).
    pub straggler_jobs: Vec<StragglerView>,
    pub conflict_list: Vec<ConflictView>,
    /// Whether a list was cut at `list_cap` (the counts are always complete).
    pub lists_truncated: bool,
    /// Items that could not be swept (the invocation then fails, after logging this report).
    pub failed_items: u64,
    /// Of those, accounts whose audit failed: `drifted_accounts` then
    /// counts only the accounts that were audited (not in the JSON: the
    /// `errors` name them).
    #[serde(skip)]
    pub audit_failures: u64,
    pub errors: Vec<String>,
    pub run_id: String,
    pub duration_ms: u64,
}

impl Report {
    /// An empty report, before any work.
    pub fn new(
        run_id: &str,
        dry_run: bool,
        trigger: Trigger,
        straggler_action: StragglerAction,
        older_than_seconds: u64,
    ) -> Report {
        Report {
            stragglers: 0,
            expired: 0,
            conflicts: 0,
            drift: Vec::new(),
            summary: String::new(),
            summary_source: SummarySource::Deterministic,
            dry_run,
            complete: false,
            remaining: Phase::ALL.to_vec(),
            trigger,
            straggler_action: straggler_action.as_str(),
            older_than_seconds,
            straggler_credits: 0,
            audited_accounts: 0,
            drifted_accounts: 0,
            audit_marks_kept: 0,
            audits_unproven: 0,
            straggler_jobs: Vec::new(),
            conflict_list: Vec::new(),
            lists_truncated: false,
            failed_items: 0,
            audit_failures: 0,
            errors: Vec::new(),
            run_id: run_id.into(),
            duration_ms: 0,
        }
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a report always serializes")
    }

    /// The metric values of this sweep, by the alarms' metric names, zeros
    /// included, so an alarm on `LedgerDrift` returns to OK when a sweep
    /// finds none. `LedgerDrift` only when the audit completed (it was not
    /// cut by the deadline and no account's audit failed): a partial audit
    /// proves nothing about the accounts it did not reach, and its 0 would
    /// turn the drift alarm OK while drift may remain (the alarm keeps its
    /// state without a datapoint).
    ///
    /// `Stragglers` and `LedgerDrift` are what the sweep *found* (stale holds,
    /// drifted accounts: both still open afterwards unless expired or fixed),
    /// the same in a dry run. `Expired` and `SweepConflicts` count what the
    /// sweep *did* — holds expired, conflicts listed past the marker — so a
    /// dry run, which does neither, emits 0 for both: the next real sweep
    /// lists the same conflicts again, and they must count once.
    pub fn metric_values(&self) -> Vec<(&'static str, f64)> {
        let done = |n: u64| if self.dry_run { 0.0 } else { n as f64 };
        let audited = !self.remaining.contains(&Phase::Audit) && self.audit_failures == 0;
        let mut values = vec![
            (names::STRAGGLERS, self.stragglers as f64),
            (names::STRAGGLER_CREDITS, self.straggler_credits as f64),
            (names::EXPIRED, done(self.expired)),
        ];
        if audited {
            values.push((names::LEDGER_DRIFT, self.drifted_accounts as f64));
        }
        values.push((names::SWEEP_CONFLICTS, done(self.conflicts)));
        values
    }

    /// The report as the summarizer sees it: without the summary, and at most
    /// `max_bytes` of JSON — the longest lists are halved until it fits (the
    /// counts are kept; `lists_truncated` says something was cut).
    pub fn for_summarizer(&self, max_bytes: usize) -> String {
        let mut value = self.to_json();
        let object = value.as_object_mut().expect("a report is an object");
        object.remove("summary");
        object.remove("summary_source");
        loop {
            let text = value.to_string();
            if text.len() <= max_bytes {
                return text;
            }
            let object = value.as_object_mut().expect("a report is an object");
            let longest = ["drift", "straggler_jobs", "conflict_list", "errors"]
                .into_iter()
                .filter_map(|k| Some((k, object.get(k)?.as_array()?.len())))
                .filter(|(_, len)| *len > 0)
                .max_by_key(|(_, len)| *len);
            let Some((key, len)) = longest else {
                // Only scalars are left, far below any sensible cap.
                return text;
            };
            if let Some(Value::Array(list)) = object.get_mut(key) {
                list.truncate(len / 2);
            }
            object.insert("lists_truncated".into(), Value::Bool(true));
        }
    }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// The plain summary used when the summarizer is off or fails, e.g.
/// "2 stragglers found, 2 expired; 0 conflicts since the last sweep; ledger
/// drift in 0 of 5 audited accounts."
pub fn deterministic_summary(r: &Report) -> String {
    let mut s = format!("{} found", plural(r.stragglers, "straggler"));
    if r.dry_run {
        s.push_str(", none expired (dry run)");
    } else if r.straggler_action == "report" {
        s.push_str(", reported only (the stage does not expire them)");
    } else {
        s.push_str(&format!(", {} expired", r.expired));
    }
    s.push_str(&format!(
        "; {} since the last sweep",
        plural(r.conflicts, "conflict")
    ));
    let audited = if r.audited_accounts == 1 {
        "account"
    } else {
        "accounts"
    };
    s.push_str(&format!(
        "; ledger drift in {} of {} audited {audited}.",
        r.drifted_accounts, r.audited_accounts
    ));
    if !r.complete {
        let remaining: Vec<&str> = r.remaining.iter().map(|p| p.as_str()).collect();
        s.push_str(&format!(
            " Stopped before the deadline; the next sweep continues with: {}.",
            remaining.join(", ")
        ));
    }
    if r.failed_items > 0 {
        s.push_str(&format!(
            " {} could not be swept (see errors).",
            plural(r.failed_items, "item")
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::audit::BalancesView as Balances;

    fn report() -> Report {
        let mut r = Report::new(
            "run-1",
            false,
            Trigger::Invoke,
            StragglerAction::Expire,
            21_600,
        );
        r.stragglers = 2;
        r.expired = 2;
        r.audited_accounts = 5;
        r.complete = true;
        r.remaining.clear();
        r
    }

    #[test]
    fn the_deterministic_summary_is_one_plain_sentence() {
        let mut r = report();
        assert_eq!(
            deterministic_summary(&r),
            "2 stragglers found, 2 expired; 0 conflicts since the last sweep; \
             ledger drift in 0 of 5 audited accounts."
        );
        r.stragglers = 1;
        r.expired = 0;
        r.conflicts = 1;
        r.audited_accounts = 1;
        r.drifted_accounts = 1;
        r.dry_run = true;
        assert_eq!(
            deterministic_summary(&r),
            "1 straggler found, none expired (dry run); 1 conflict since the last sweep; \
             ledger drift in 1 of 1 audited account."
        );
        r.dry_run = false;
        r.straggler_action = "report";
        r.complete = false;
        r.remaining = vec![Phase::Audit];
        r.failed_items = 2;
        assert_eq!(
            deterministic_summary(&r),
            "1 straggler found, reported only (the stage does not expire them); \
             1 conflict since the last sweep; ledger drift in 1 of 1 audited account. \
             Stopped before the deadline; the next sweep continues with: audit. \
             2 items could not be swept (see errors)."
        );
    }

    #[test]
    fn the_report_starts_with_the_spec_keys() {
        let mut r = report();
        r.summary = deterministic_summary(&r);
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            json.starts_with(
                r#"{"stragglers":2,"expired":2,"conflicts":0,"drift":[],"summary":"2 stragglers"#
            ),
            "{json}"
        );
        let value = r.to_json();
        for key in [
            "dry_run",
            "complete",
            "remaining",
            "audited_accounts",
            "straggler_jobs",
            "conflict_list",
        ] {
            assert!(value.get(key).is_some(), "{key} in {value}");
        }
        assert_eq!(value["remaining"], serde_json::json!([]));
        assert_eq!(
            Report::new("r", true, Trigger::Schedule, StragglerAction::Report, 1).to_json()["remaining"],
            serde_json::json!(["stragglers", "audit", "conflicts"])
        );
    }

    #[test]
    fn every_sweep_metric_is_emitted_with_the_alarms_names() {
        let mut r = report();
        r.drifted_accounts = 3;
        r.conflicts = 4;
        r.straggler_credits = 50;
        assert_eq!(
            r.metric_values(),
            [
                ("Stragglers", 2.0),
                ("StragglerCredits", 50.0),
                ("Expired", 2.0),
                ("LedgerDrift", 3.0),
                ("SweepConflicts", 4.0)
            ]
        );
        assert_eq!(
            report().metric_values()[3],
            ("LedgerDrift", 0.0),
            "zero is emitted too"
        );
        // A dry run emits what it found, not what it would have done.
        r.dry_run = true;
        assert_eq!(
            r.metric_values(),
            [
                ("Stragglers", 2.0),
                ("StragglerCredits", 50.0),
                ("Expired", 0.0),
                ("LedgerDrift", 3.0),
                ("SweepConflicts", 0.0)
            ]
        );
    }

    #[test]
    fn an_audit_that_did_not_complete_emits_no_ledger_drift() {
        let names = |r: &Report| -> Vec<&str> {
            r.metric_values()
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        let every = [
            "Stragglers",
            "StragglerCredits",
            "Expired",
            "LedgerDrift",
            "SweepConflicts",
        ];
        let without_drift = [
            "Stragglers",
            "StragglerCredits",
            "Expired",
            "SweepConflicts",
        ];
        let complete = report();
        assert_eq!(names(&complete), every);
        // Cut by the deadline before or during the audit.
        let mut cut = report();
        cut.complete = false;
        cut.remaining = vec![Phase::Audit, Phase::Conflicts];
        assert_eq!(names(&cut), without_drift);
        // Cut after the audit: the audit itself completed.
        let mut conflicts_left = report();
        conflicts_left.complete = false;
        conflicts_left.remaining = vec![Phase::Conflicts];
        assert_eq!(names(&conflicts_left), every);
        // An account's audit failed (e.g. a read refused): drift unknown there.
        let mut failed = report();
        failed.failed_items = 1;
        failed.audit_failures = 1;
        assert_eq!(names(&failed), without_drift);
        // A straggler that failed to expire says nothing about the audit.
        let mut expiry_failed = report();
        expiry_failed.failed_items = 1;
        assert_eq!(names(&expiry_failed), every);
    }

    #[test]
    fn the_summarizer_input_is_capped_and_keeps_the_counts() {
        let mut r = report();
        r.summary = "THE-SUMMARY".into();
        for n in 0..500 {
            r.straggler_jobs.push(StragglerView {
                job_id: format!("job-{n:05}-{}", "x".repeat(40)),
                account_id: "a1".into(),
                hold: Some(10),
                held_at_ms: Some(1),
                outcome: StragglerOutcome::Expired,
            });
        }
        r.drift.push(DriftView {
            cell: 0,
            account_id: "a2".into(),
            stored: Balances::default(),
            recomputed: Balances::default(),
            problems: vec!["p".into()],
        });
        let small = r.for_summarizer(usize::MAX);
        assert!(!small.contains("THE-SUMMARY"), "no summary inside");
        let capped = r.for_summarizer(8 * 1024);
        assert!(capped.len() <= 8 * 1024, "{}", capped.len());
        let value: Value = serde_json::from_str(&capped).unwrap();
        assert_eq!(value["stragglers"], 2);
        assert_eq!(value["lists_truncated"], true);
        assert!(value.get("summary").is_none());
        assert_eq!(
            value["drift"].as_array().unwrap().len(),
            1,
            "short lists are kept"
        );
        let kept = value["straggler_jobs"].as_array().unwrap().len();
        assert!(kept > 10 && kept < 500, "{kept}");
    }
}
