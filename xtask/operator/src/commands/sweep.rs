//! `cargo xtask sweep --stage S [--dry-run] [--older-than 6h]`: invokes the
//! deployed sweep with contract §5's manual input and prints its report;
//! exits 2 when the report has drift or items that could not be swept. On
//! staging and prod a sweep that writes says first how many open holds it
//! would take (a counted query of the `open-items` index) and asks
//! (`Act::Sweep`); an age below the stage's hold timeout needs
//! `--below-hold-timeout`.
//!
//! The report's reading ([`SweepSummary`]) is shared with `status`, which
//! shows the last scheduled sweep's report from the logs.

use std::time::Duration;

use anyhow::bail;
use serde_json::{Value, json};

use infra::StragglerAction;

use crate::aws::Target;
use crate::base::ui::{Act, Given, Need, Tone, clip, color, paint, table};
use crate::base::when::{format_age, format_time, parse_duration};
use crate::commands::{Console, run_command};
use crate::models::invoke::{Invoked, invoke};
use crate::models::sweep_report::SweepSummary;

/// contract §5's manual input: `{"older_than_seconds": N, "dry_run": …}`
/// (without `older_than_seconds`, the stage's hold timeout).
pub fn sweep_payload(older_than: Option<Duration>, dry_run: bool) -> Value {
    let mut payload = json!({ "dry_run": dry_run });
    if let Some(older_than) = older_than {
        payload["older_than_seconds"] = json!(older_than.as_secs());
    }
    payload
}

/// The report as text: the figures, then the lists (pure).
pub fn render_report(report: &Value) -> String {
    let s = SweepSummary::from_report(report);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let mut out = format!(
        "Sweep {} ({} ms; dry run: {}; complete: {}; older than {} s; action {})\n",
        report["run_id"].as_str().unwrap_or("-"),
        report["duration_ms"].as_u64().unwrap_or(0),
        yes_no(s.dry_run),
        yes_no(s.complete),
        report["older_than_seconds"].as_u64().unwrap_or(0),
        report["straggler_action"].as_str().unwrap_or("-"),
    );
    out.push_str(&table(
        &[
            "STRAGGLERS",
            "EXPIRED",
            "CONFLICTS",
            "DRIFT",
            "AUDITED",
            "FAILED",
        ],
        &[vec![
            s.stragglers.to_string(),
            s.expired.to_string(),
            s.conflicts.to_string(),
            s.drifted_accounts.to_string(),
            s.audited_accounts.to_string(),
            s.failed_items.to_string(),
        ]],
    ));
    out.push_str(&format!(
        "Summary ({}): {}\n",
        report["summary_source"].as_str().unwrap_or("deterministic"),
        s.summary
    ));
    out.push_str(&lists(report));
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    let drift = list("drift");
    if !drift.is_empty() {
        out.push_str("\nDrift:\n");
        for d in &drift {
            out.push_str(&format!(
                "  {}: {}\n",
                d["account_id"].as_str().unwrap_or("-"),
                d["problems"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    let errors = list("errors");
    if !errors.is_empty() {
        out.push_str("\nErrors:\n");
        for e in &errors {
            out.push_str(&format!("  {}\n", e.as_str().unwrap_or_default()));
        }
    }
    if report["lists_truncated"].as_bool() == Some(true) {
        out.push_str("(lists cut at 100 entries; the counts are complete)\n");
    }
    out
}

/// The report's stragglers and conflicts, as tables (none: nothing).
fn lists(report: &Value) -> String {
    let mut out = String::new();
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    let stragglers = list("straggler_jobs");
    if !stragglers.is_empty() {
        out.push_str("\nStragglers:\n");
        let rows: Vec<Vec<String>> = stragglers
            .iter()
            .map(|j| {
                vec![
                    clip(j["job_id"].as_str().unwrap_or("-"), 48),
                    clip(j["account_id"].as_str().unwrap_or("-"), 40),
                    j["hold"].to_string(),
                    j["held_at_ms"]
                        .as_i64()
                        .map(format_time)
                        .unwrap_or_else(|| "-".into()),
                    j["outcome"].as_str().unwrap_or("-").to_owned(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["JOB", "ACCOUNT", "HOLD", "HELD SINCE", "OUTCOME"],
            &rows,
        ));
    }
    let conflicts = list("conflict_list");
    if !conflicts.is_empty() {
        out.push_str("\nConflicts:\n");
        let rows: Vec<Vec<String>> = conflicts
            .iter()
            .map(|c| {
                vec![
                    clip(c["key"].as_str().unwrap_or("-"), 48),
                    clip(c["account_id"].as_str().unwrap_or("-"), 40),
                    c["detail_type"].as_str().unwrap_or("-").to_owned(),
                    clip(c["reason"].as_str().unwrap_or("-"), 100),
                ]
            })
            .collect();
        out.push_str(&table(&["KEY", "ACCOUNT", "DETAIL-TYPE", "REASON"], &rows));
    }
    out
}

/// Invokes the deployed sweep once (never retried by the SDK: a retry would
/// start a second sweep), waiting as long as it may run (`runs_up_to`,
/// its timeout).
///
/// # Errors
/// The invocation failed (no such function, no permission, no answer).
pub async fn run_sweep(
    lambda: &aws_sdk_lambda::Client,
    sweep_function: &str,
    older_than: Option<Duration>,
    dry_run: bool,
    runs_up_to: Duration,
) -> anyhow::Result<Invoked> {
    let payload = sweep_payload(older_than, dry_run);
    invoke(lambda, sweep_function, &payload, false, runs_up_to).await
}

/// `cargo xtask sweep`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  cargo xtask sweep --stage prod --dry-run\n  \
                        cargo xtask sweep --stage prod --yes\n  \
                        cargo xtask sweep --stage dev --older-than 10m --below-hold-timeout\n  \
                        cargo xtask sweep --stage prod --dry-run --json | jq .report.stragglers"
)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Find and report only; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Holds older than this are stragglers (default: the stage's hold
    /// timeout): 6h, 90m, 3600s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// Let --older-than be below the stage's hold timeout: expire holds
    /// whose jobs may still be running.
    #[arg(long)]
    pub below_hold_timeout: bool,
    /// Do not ask for confirmation (staging and prod ask before a sweep
    /// that writes).
    #[arg(long)]
    pub yes: bool,
    /// Print the result as JSON (see docs/operations.md#json).
    #[arg(long)]
    pub json: bool,
}

/// The age past which a hold is a straggler: `--older-than`, else the
/// stage's hold timeout (pure). Below the hold timeout a sweep that writes
/// needs `--below-hold-timeout`: those holds' jobs may still be running.
///
/// # Errors
/// Below the hold timeout without the flag, on a sweep that writes.
pub fn straggler_age(
    older_than: Option<Duration>,
    hold_timeout: Duration,
    below_hold_timeout: bool,
    dry_run: bool,
) -> Result<Duration, String> {
    let age = older_than.unwrap_or(hold_timeout);
    if age < hold_timeout && !below_hold_timeout && !dry_run {
        return Err(format!(
            "--older-than {} is below the stage's hold timeout ({}): jobs that young may \
             still be running and would lose their holds; pass --below-hold-timeout to \
             sweep them anyway, or --dry-run to list them",
            format_age(age),
            format_age(hold_timeout)
        ));
    }
    Ok(age)
}

/// What a sweep that writes would do to the open holds, said before it
/// is confirmed (pure): how many (`None`: they could not be counted), from
/// when, and what the stage's `straggler_action` does with them.
pub fn sweep_question(
    held: Option<u64>,
    age: Duration,
    before_ms: i64,
    action: StragglerAction,
) -> String {
    let what = match action {
        StragglerAction::Expire => "expire and refund",
        StragglerAction::Report => "list (straggler_action = \"report\": none expired)",
    };
    let held = held.map_or_else(|| "an uncounted number of".to_owned(), |n| n.to_string());
    format!(
        "Sweep: {what} {held} open hold(s) older than {} (held before {}), and audit the \
         accounts with new entries?",
        format_age(age),
        format_time(before_ms)
    )
}

/// Runs `cargo xtask sweep`.
///
/// # Errors
/// The stage is not deployed, the age or the confirmation refused, or the
/// sweep failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let console = Console::open(&args.target).await?;
        let stage = &console.session.stage;
        let hold_timeout = Duration::from_secs(stage.hold_timeout_seconds);
        let age = straggler_age(
            args.older_than,
            hold_timeout,
            args.below_hold_timeout,
            args.dry_run,
        )
        .map_err(anyhow::Error::msg)?;
        if args.dry_run {
            eprintln!("{}", console.session.who_and_where());
        } else {
            console.session.before_writing()?;
            confirm(&console, age, args.yes).await?;
        }
        let function = &console.outputs.sweep_function_name;
        let runs_up_to = Duration::from_secs(u64::from(stage.sweep_timeout_seconds));
        eprintln!(
            "Invoking {function} with {} (up to its timeout, {} s)…",
            sweep_payload(args.older_than, args.dry_run),
            runs_up_to.as_secs()
        );
        let invoked = run_sweep(
            &console.clients.lambda,
            function,
            args.older_than,
            args.dry_run,
            runs_up_to,
        )
        .await?;
        match invoked {
            Invoked::Response(report) => Ok(show(&report, args.json)),
            Invoked::FunctionError {
                error_type,
                message,
            } => bail!(
                "the sweep failed: {}; its report, if it got that far, is in its logs: `cargo \
                 xtask logs --stage {} --function sweep --filter \"sweep report\"`",
                Invoked::error_line(&error_type, &message),
                args.target.stage
            ),
        }
    })
}

/// Where the table says a sweep that writes asks (staging, prod): counts
/// the holds a sweep at `age` would take (one counted query of the
/// `open-items` index), says so, and asks. A count that fails is said and
/// does not stop the sweep: DynamoDB failing is when one may be needed.
async fn confirm(console: &Console, age: Duration, yes: bool) -> anyhow::Result<()> {
    if Act::Sweep.need(console.stage()) == Need::Nothing {
        return Ok(());
    }
    let now = crate::base::when::now_ms();
    let before = now - i64::try_from(age.as_millis()).unwrap_or(i64::MAX);
    let held = match console.ledger().count_held_before(before).await {
        Ok(held) => Some(held),
        Err(e) => {
            eprintln!("warning: could not count the open holds: {e}");
            None
        }
    };
    let action = console.session.stage.straggler_action;
    let question = sweep_question(held, age, before, action);
    eprintln!("{question}");
    let given = Given {
        yes,
        interactive: crate::base::ui::interactive(),
        confirm_stack: None,
    };
    Act::Sweep
        .confirmation(console.stage(), given, &question, "a sweep that writes")
        .naming(&console.session.who_and_where())
        .resolve("nothing swept")
}

/// Prints the report (or its JSON); whether a person is needed.
fn show(report: &Value, json: bool) -> bool {
    let why = SweepSummary::from_report(report).needs_a_person();
    if json {
        let out = json!({"report": report, "needs_a_person": why});
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return !why.is_empty();
    }
    print!("{}", render_report(report));
    for reason in &why {
        println!(
            "{}",
            paint(&format!("NEEDS A PERSON: {reason}"), Tone::Danger, color())
        );
    }
    !why.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        json!({
            "stragglers": 2, "expired": 2, "conflicts": 1,
            "drift": [{"account_id": "a2", "problems": ["available: stored 82, the ledger entries sum to 75"]}],
            "summary": "2 stragglers found, 2 expired; 1 conflict; drift in 1 of 3.",
            "dry_run": false, "complete": true, "older_than_seconds": 21600,
            "straggler_action": "expire", "audited_accounts": 3, "drifted_accounts": 1,
            "straggler_jobs": [{"job_id": "j1", "account_id": "a1", "hold": 30,
                                "held_at_ms": 1_795_946_400_000_i64, "outcome": "expired"}],
            "conflict_list": [{"key": "grant:g1", "account_id": "a1", "detail_type": "credits.granted",
                               "reason": "grant g1 was already applied as 100 credits", "detail": {}, "at_ms": 1}],
            "failed_items": 0, "errors": [], "run_id": "sweep:abc", "duration_ms": 412
        })
    }

    #[test]
    fn the_payload_is_the_manual_input() {
        assert_eq!(sweep_payload(None, true), json!({"dry_run": true}));
        assert_eq!(
            sweep_payload(Some(Duration::from_secs(3600)), false),
            json!({"dry_run": false, "older_than_seconds": 3600})
        );
    }

    #[test]
    fn the_report_is_a_table_and_its_lists() {
        let text = render_report(&report());
        assert!(
            text.starts_with("Sweep sweep:abc (412 ms; dry run: no; complete: yes"),
            "{text}"
        );
        let figures = text.lines().nth(2).unwrap();
        assert_eq!(
            figures.split_whitespace().collect::<Vec<_>>(),
            ["2", "2", "1", "1", "3", "0"]
        );
        assert!(text.contains("Summary (deterministic): 2 stragglers found"));
        assert!(
            text.contains("j1")
                && text.contains("2026-11-29T10:00:00Z")
                && text.contains("expired")
        );
        assert!(text.contains("grant:g1"));
        assert!(text.contains("a2: available: stored 82"));
    }

    #[test]
    fn drift_or_failed_items_need_a_person() {
        let s = SweepSummary::from_report(&report());
        assert_eq!(s.drift_accounts, ["a2"]);
        let why = s.needs_a_person();
        assert_eq!(why.len(), 1);
        assert!(why[0].contains("drift in 1 account(s): a2"), "{why:?}");
        let mut clean = report();
        clean["drift"] = json!([]);
        clean["drifted_accounts"] = json!(0);
        assert!(
            SweepSummary::from_report(&clean)
                .needs_a_person()
                .is_empty()
        );
        clean["failed_items"] = json!(2);
        assert!(SweepSummary::from_report(&clean).needs_a_person()[0].contains("2 item(s)"));
    }

    #[test]
    fn an_age_below_the_hold_timeout_needs_its_flag_to_write() {
        let six_hours = Duration::from_secs(6 * 3600);
        let one_second = Some(Duration::from_secs(1));
        assert_eq!(straggler_age(None, six_hours, false, false), Ok(six_hours));
        let refused = straggler_age(one_second, six_hours, false, false).unwrap_err();
        assert!(
            refused.starts_with("--older-than 1s is below the stage's hold timeout (6h0m)")
                && refused.contains("--below-hold-timeout"),
            "{refused}"
        );
        assert_eq!(
            straggler_age(one_second, six_hours, true, false),
            Ok(Duration::from_secs(1))
        );
        assert_eq!(
            straggler_age(one_second, six_hours, false, true),
            Ok(Duration::from_secs(1)),
            "a dry run writes nothing"
        );
        assert_eq!(
            straggler_age(Some(Duration::from_secs(7 * 3600)), six_hours, false, false),
            Ok(Duration::from_secs(7 * 3600))
        );
    }

    #[test]
    fn the_question_says_how_many_holds_and_what_happens_to_them() {
        assert_eq!(
            sweep_question(
                Some(12),
                Duration::from_secs(6 * 3600),
                1_795_946_400_000,
                StragglerAction::Expire
            ),
            "Sweep: expire and refund 12 open hold(s) older than 6h0m (held before \
             2026-11-29T10:00:00Z), and audit the accounts with new entries?"
        );
        assert!(
            sweep_question(Some(0), Duration::from_secs(60), 0, StragglerAction::Report)
                .contains("none expired")
        );
        assert!(
            sweep_question(None, Duration::from_secs(60), 0, StragglerAction::Expire)
                .starts_with("Sweep: expire and refund an uncounted number of open hold(s)")
        );
    }

    #[test]
    fn the_command_line_parses_durations() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            sweep: Args,
        }
        let cli = Cli::parse_from(["x", "--stage", "prod", "--dry-run", "--older-than", "90m"]);
        assert!(cli.sweep.dry_run);
        assert_eq!(cli.sweep.older_than, Some(Duration::from_secs(5400)));
        assert!(Cli::try_parse_from(["x", "--stage", "prod", "--older-than", "soon"]).is_err());
    }
}
