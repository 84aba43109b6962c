//! `cargo xtask replay --stage S --from TIME --to TIME [--dry-run]`: replays
//! the stage's archived ledger events of a window onto its bus, to the
//! ledger-events rule only (issue 12).
//!
//! When: a rule was disabled, a bad release failed events past the
//! dead-letter queue's 14 days, or events went unrouted before a producer fix
//! (docs/operations.md, "Replaying"). Safe: the handler applies every event
//! by its business key, so what was already applied comes back as a
//! `duplicate` and moves no money.
//!
//! The replay (`StartReplay`) reads the archive (`ArchiveArn` output) and
//! puts the window's events on the bus (`BusArn`) with `FilterArns` = the
//! ledger-events rule (`LedgerEventsRuleArn`): no other rule sees them. Its
//! name is `cc-agent-reconciler-<stage>-<from>-<to>-<4 hex>`; the handler
//! logs each replayed event with it (`replay_name`) and counts it
//! (`ReplayedEvents` by `Outcome`), so the command ends by counting the
//! handler's log lines of the replay: "N replayed: M duplicate, K applied".
//!
//! **`--detail-type` is refused**, with why: EventBridge replays every
//! archived event of the window to the rules named; it cannot select by
//! detail-type. Replaying onto a temporary rule narrowed to one
//! detail-type would need a second permission to invoke the handler,
//! created outside the stack (drift, and a permission left behind if the
//! command dies); and it buys nothing, since the whole window is safe to
//! replay. Narrow the window with `--from`/`--to` instead.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use serde_json::Value;

use crate::aws::Target;
use crate::console::{Console, run_command, sdk_error};
use crate::logs::{LogGroup, LogLine};
use crate::when::{format_time, parse_duration, parse_time};

/// Why `--detail-type` is refused (see the module).
pub const DETAIL_TYPE_REFUSED: &str = "--detail-type is not supported: EventBridge replays \
     every archived event of the window to the rules it names and cannot select by \
     detail-type. Replaying the whole window is safe (the handler applies by business key: \
     what was applied comes back as a duplicate), so narrow the window with --from/--to \
     instead. (A temporary rule for one detail-type would need its own permission to invoke \
     the handler, outside the stack: not done.)";

/// The archive, as `DescribeArchive` tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ArchiveInfo {
    /// Its name.
    pub name: String,
    /// `ENABLED`, …
    pub state: String,
    /// Events it holds, in all (the API says nothing per window).
    pub event_count: i64,
    /// Their size, in all.
    pub size_bytes: i64,
    /// Days it keeps events (`None` or 0: forever).
    pub retention_days: Option<i32>,
    /// When it was created (ms since the epoch).
    pub created_ms: Option<i64>,
}

/// A replay to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayPlan {
    /// The replay's name.
    pub name: String,
    /// The archive (`ArchiveArn`).
    pub archive_arn: String,
    /// The bus the events go back on (`BusArn`).
    pub bus_arn: String,
    /// The only rule that receives them (`LedgerEventsRuleArn`).
    pub rule_arn: String,
    /// The window's start (ms since the epoch).
    pub from_ms: i64,
    /// The window's end.
    pub to_ms: i64,
}

/// `cc-agent-reconciler-<stage>-<from>-<to>-<4 hex>`, at most 64
/// characters of `[.\-_A-Za-z0-9]` (EventBridge's rule for replay names).
pub fn replay_name(stage: infra::Stage, from_ms: i64, to_ms: i64, nonce: u16) -> String {
    let minute = |ms: i64| {
        let t = crate::when::compact_time(ms);
        // 20261129T100000Z -> 20261129T1000
        t.get(..13).unwrap_or(&t).to_owned()
    };
    format!(
        "cc-agent-reconciler-{stage}-{}-{}-{nonce:04x}",
        minute(from_ms),
        minute(to_ms)
    )
}

/// Checks a window against the archive (pure): refuses an empty or future
/// window; warns about parts the archive cannot hold (past its retention,
/// before it existed).
///
/// # Errors
/// Why the window cannot be replayed (one line).
pub fn check_window(
    from_ms: i64,
    to_ms: i64,
    now_ms: i64,
    archive: &ArchiveInfo,
) -> Result<Vec<String>, String> {
    if from_ms >= to_ms {
        return Err(format!(
            "--from {} is not before --to {}",
            format_time(from_ms),
            format_time(to_ms)
        ));
    }
    if to_ms > now_ms + 60_000 {
        return Err(format!(
            "--to {} is in the future: replay up to `now` at the latest",
            format_time(to_ms)
        ));
    }
    let mut warnings = Vec::new();
    if let Some(days) = archive.retention_days.filter(|d| *d > 0) {
        let oldest = now_ms - i64::from(days) * 86_400_000;
        if from_ms < oldest {
            warnings.push(format!(
                "the archive keeps events {days} days: those before {} are gone and will not \
                 be replayed",
                format_time(oldest)
            ));
        }
    }
    if let Some(created) = archive.created_ms
        && from_ms < created
    {
        warnings.push(format!(
            "the archive was created {}: it holds nothing from before",
            format_time(created)
        ));
    }
    if archive.state != "ENABLED" && !archive.state.is_empty() {
        warnings.push(format!(
            "the archive is {}: events of the window may be missing from it",
            archive.state
        ));
    }
    Ok(warnings)
}

/// What `--dry-run` says (pure).
pub fn dry_run_text(plan: &ReplayPlan, archive: &ArchiveInfo, warnings: &[String]) -> String {
    let mut out = format!(
        "Dry run: nothing started.\n\
         Window:      {} to {}\n\
         Archive:     {} ({}; {} events, {} bytes in all; kept {}). The API does not say how \
         many of them fall in the window.\n\
         Destination: bus {}, only the rule {}\n\
         Name:        {} (the handler logs every replayed event with it)\n",
        format_time(plan.from_ms),
        format_time(plan.to_ms),
        archive.name,
        if archive.state.is_empty() {
            "state unknown"
        } else {
            &archive.state
        },
        archive.event_count,
        archive.size_bytes,
        match archive.retention_days {
            Some(d) if d > 0 => format!("{d} days"),
            _ => "forever".to_owned(),
        },
        plan.bus_arn,
        plan.rule_arn,
        plan.name,
    );
    for w in warnings {
        out.push_str(&format!("Warning:     {w}\n"));
    }
    out.push_str(
        "Safe: the handler applies every event by its business key; an event already applied \
         comes back as a duplicate and moves no money.\n",
    );
    out
}

/// Reads the archive.
///
/// # Errors
/// No such archive, or EventBridge failed.
pub async fn describe_archive(
    events: &aws_sdk_eventbridge::Client,
    archive_name: &str,
) -> anyhow::Result<ArchiveInfo> {
    let out = events
        .describe_archive()
        .archive_name(archive_name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("describe the archive {archive_name}: {}", sdk_error(&e)))?;
    Ok(ArchiveInfo {
        name: archive_name.to_owned(),
        state: out
            .state()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        event_count: out.event_count(),
        size_bytes: out.size_bytes(),
        retention_days: out.retention_days(),
        created_ms: out.creation_time().and_then(|t| t.to_millis().ok()),
    })
}

/// Starts the replay.
///
/// # Errors
/// EventBridge refused it (e.g. a replay of that name exists, a bad window).
pub async fn start(events: &aws_sdk_eventbridge::Client, plan: &ReplayPlan) -> anyhow::Result<()> {
    let destination = ReplayDestination::builder()
        .arn(&plan.bus_arn)
        .filter_arns(&plan.rule_arn)
        .build()
        .map_err(|e| anyhow::anyhow!("replay destination: {e}"))?;
    events
        .start_replay()
        .replay_name(&plan.name)
        .event_source_arn(&plan.archive_arn)
        .event_start_time(aws_smithy_types::DateTime::from_millis(plan.from_ms))
        .event_end_time(aws_smithy_types::DateTime::from_millis(plan.to_ms))
        .destination(destination)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("start the replay {}: {}", plan.name, sdk_error(&e)))?;
    Ok(())
}

/// Where a replay is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    /// `STARTING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLING`, `CANCELLED`.
    pub state: String,
    /// Why (a failure's reason).
    pub reason: Option<String>,
    /// The time of the last event replayed so far.
    pub last_replayed_ms: Option<i64>,
}

impl Progress {
    /// Whether the replay has ended.
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "COMPLETED" | "FAILED" | "CANCELLED")
    }
}

/// A progress line (pure): the state, and how far through the window.
pub fn progress_line(plan: &ReplayPlan, p: &Progress) -> String {
    let mut line = format!("replay {}: {}", plan.name, p.state);
    if let Some(last) = p.last_replayed_ms {
        let span = (plan.to_ms - plan.from_ms).max(1);
        let done = ((last - plan.from_ms).clamp(0, span) * 100) / span;
        line.push_str(&format!(", replayed up to {} ({done}%)", format_time(last)));
    }
    if let Some(reason) = &p.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
}

/// Reads the replay's progress.
///
/// # Errors
/// EventBridge failed.
pub async fn describe(
    events: &aws_sdk_eventbridge::Client,
    name: &str,
) -> anyhow::Result<Progress> {
    let out = events
        .describe_replay()
        .replay_name(name)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("describe the replay {name}: {}", sdk_error(&e)))?;
    Ok(Progress {
        state: out
            .state()
            .map(ReplayState::as_str)
            .unwrap_or("UNKNOWN")
            .to_owned(),
        reason: out.state_reason().map(str::to_owned),
        last_replayed_ms: out
            .event_last_replayed_time()
            .and_then(|t| t.to_millis().ok()),
    })
}

/// Follows the replay until it ends, telling `progress` each change.
///
/// # Errors
/// EventBridge failed.
pub async fn wait(
    events: &aws_sdk_eventbridge::Client,
    plan: &ReplayPlan,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Progress> {
    let mut last = None;
    loop {
        let p = describe(events, &plan.name).await?;
        if last.as_ref() != Some(&p) {
            progress(&progress_line(plan, &p));
        }
        if p.finished() {
            return Ok(p);
        }
        last = Some(p);
        tokio::time::sleep(interval).await;
    }
}

/// Starts the replay and follows it to its end (see [`wait`]).
///
/// # Errors
/// EventBridge refused or failed, or the replay ended other than
/// `COMPLETED` (its state and reason, one line).
pub async fn execute(
    events: &aws_sdk_eventbridge::Client,
    plan: &ReplayPlan,
    interval: Duration,
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Progress> {
    start(events, plan).await?;
    let done = wait(events, plan, interval, progress).await?;
    if done.state != "COMPLETED" {
        bail!(
            "the replay {} ended {}{}",
            plan.name,
            done.state,
            done.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
    Ok(done)
}

/// What the handler did with a replay's events, from its log lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Events handled, by outcome (`granted`, `duplicate`, `conflict`, …).
    pub by_outcome: BTreeMap<String, u64>,
    /// Events the handler failed on (`event not applied`).
    pub failed: u64,
}

impl OutcomeCounts {
    /// Every replayed event the handler logged.
    pub fn total(&self) -> u64 {
        self.by_outcome.values().sum::<u64>() + self.failed
    }

    /// Those that moved or decided something (not duplicates, not conflicts).
    pub fn applied(&self) -> u64 {
        self.by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o.as_str(), "duplicate" | "conflict"))
            .map(|(_, n)| n)
            .sum()
    }

    /// "N replayed: M duplicate, K applied (…), C conflict, F failed" (pure).
    pub fn line(&self) -> String {
        let n = |o: &str| self.by_outcome.get(o).copied().unwrap_or(0);
        let applied: Vec<String> = self
            .by_outcome
            .iter()
            .filter(|(o, _)| !matches!(o.as_str(), "duplicate" | "conflict"))
            .map(|(o, c)| format!("{o} {c}"))
            .collect();
        format!(
            "{} replayed: {} duplicate, {} applied{}, {} conflict, {} failed",
            self.total(),
            n("duplicate"),
            self.applied(),
            if applied.is_empty() {
                String::new()
            } else {
                format!(" ({})", applied.join(", "))
            },
            n("conflict"),
            self.failed
        )
    }
}

/// Counts the handler's log lines of replay `name` by outcome (pure).
pub fn count_outcomes(lines: &[LogLine], name: &str) -> OutcomeCounts {
    let mut counts = OutcomeCounts::default();
    for j in lines.iter().filter_map(LogLine::json) {
        if j.get("replay_name").and_then(Value::as_str) != Some(name) {
            continue;
        }
        if let Some(outcome) = j.get("outcome").and_then(Value::as_str) {
            *counts.by_outcome.entry(outcome.to_owned()).or_default() += 1;
        } else if j.get("error_type").is_some() {
            counts.failed += 1;
        }
    }
    counts
}

/// Reads the handler's log lines of replay `name` since `since_ms`, again
/// every `interval` until the counts stop changing (two reads alike after
/// the first line) or `timeout` passes: the handler applies replayed events
/// after the replay has put them on the bus.
///
/// # Errors
/// CloudWatch Logs failed.
pub async fn handler_outcomes(
    logs: &aws_sdk_cloudwatchlogs::Client,
    handler_log_group: &LogGroup,
    name: &str,
    since_ms: i64,
    interval: Duration,
    timeout: Duration,
) -> anyhow::Result<OutcomeCounts> {
    let start = Instant::now();
    let pattern = crate::logs::filter_pattern(&crate::logs::LogFilter {
        text: Some(name.to_owned()),
        ..Default::default()
    });
    let mut previous: Option<OutcomeCounts> = None;
    loop {
        let lines = crate::logs::fetch(
            logs,
            std::slice::from_ref(handler_log_group),
            since_ms,
            None,
            pattern.as_deref(),
            100_000,
        )
        .await?;
        let counts = count_outcomes(&lines, name);
        let stable = counts.total() > 0 && previous.as_ref() == Some(&counts);
        if stable || start.elapsed() >= timeout {
            return Ok(counts);
        }
        previous = Some(counts);
        tokio::time::sleep(interval).await;
    }
}

/// `cargo xtask replay`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  cargo xtask replay --stage prod --from 2026-11-29T10:00:00Z \
                        --to 2026-11-29T14:00:00Z --dry-run\n  \
                        cargo xtask replay --stage prod --from 2026-11-29T10:00:00Z --to \
                        2026-11-29T14:00:00Z\n  cargo xtask replay --stage dev --from 6h --to now"
)]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// The window's start: 2026-11-29T10:00:00Z, 2026-11-29, or 6h (ago).
    #[arg(long, value_name = "TIME")]
    pub from: String,
    /// The window's end (`now` at the latest).
    #[arg(long, value_name = "TIME")]
    pub to: String,
    /// Refused, with why (EventBridge replays cannot select by detail-type).
    #[arg(long, value_name = "DETAIL_TYPE")]
    pub detail_type: Option<String>,
    /// Say what the window holds as far as the API tells; start nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask for confirmation (prod asks).
    #[arg(long)]
    pub yes: bool,
    /// How long to wait for the handler's log lines of the replay once it
    /// completed (to count duplicates and applied events).
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub log_wait: Duration,
}

fn nonce() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos ^ (nanos >> 16) ^ std::process::id()) as u16
}

/// Runs `cargo xtask replay`.
///
/// # Errors
/// A bad window, `--detail-type`, the stage is not deployed, not
/// confirmed, or the replay failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        if args.detail_type.is_some() {
            bail!(DETAIL_TYPE_REFUSED);
        }
        let now = crate::when::now_ms();
        let from_ms = parse_time(&args.from, now).map_err(anyhow::Error::msg)?;
        let to_ms = parse_time(&args.to, now).map_err(anyhow::Error::msg)?;
        let console = Console::open(&args.target).await?;
        let o = &console.outputs;
        let archive = describe_archive(&console.clients.events, &o.archive_name).await?;
        let warnings = check_window(from_ms, to_ms, now, &archive).map_err(anyhow::Error::msg)?;
        let plan = ReplayPlan {
            name: replay_name(console.stage(), from_ms, to_ms, nonce()),
            archive_arn: o.archive_arn.clone(),
            bus_arn: o.bus_arn.clone(),
            rule_arn: o.ledger_events_rule_arn.clone(),
            from_ms,
            to_ms,
        };
        if args.dry_run {
            eprintln!("{}", console.session.who_and_where());
            print!("{}", dry_run_text(&plan, &archive, &warnings));
            return Ok(false);
        }
        console.session.before_writing()?;
        for w in &warnings {
            eprintln!("warning: {w}");
        }
        if console.stage() == infra::Stage::Prod {
            crate::ui::Confirmation::yes_or_ask(
                args.yes,
                crate::ui::interactive(),
                &format!(
                    "{}: replay the archived events of {} to {} onto the handler?",
                    console.session.who_and_where(),
                    format_time(from_ms),
                    format_time(to_ms)
                ),
                "a replay on prod",
            )
            .resolve("no replay started")?;
        }
        let started = crate::when::now_ms();
        let done = execute(
            &console.clients.events,
            &plan,
            Duration::from_secs(5),
            &|line| eprintln!("{line}"),
        )
        .await?;
        println!(
            "Replay {} completed{}.",
            plan.name,
            done.last_replayed_ms
                .map(|t| format!(" (last event replayed: {})", format_time(t)))
                .unwrap_or_default()
        );
        let group = crate::logs::log_groups(o, Some(crate::logs::Function::Handler));
        if let Some(group) = group.first() {
            eprintln!(
                "Counting the handler's log lines of the replay (up to {}s)…",
                args.log_wait.as_secs()
            );
            let counts = handler_outcomes(
                &console.clients.logs,
                group,
                &plan.name,
                started,
                Duration::from_secs(5),
                args.log_wait,
            )
            .await?;
            println!("{}", counts.line());
        }
        println!(
            "See every line: cargo xtask logs --stage {} --function handler --since {} --filter \
             {}\n(metric {}/{} by Outcome, dimension Stage={})",
            args.target.stage,
            format_time(started),
            plan.name,
            reconciler_core::contract::metrics::NAMESPACE,
            reconciler_core::contract::metrics::REPLAYED_EVENTS,
            args.target.stage
        );
        Ok(false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra::Stage;
    use serde_json::json;

    const T: i64 = 1_795_946_400_000; // 2026-11-29T10:00:00Z
    const HOUR: i64 = 3_600_000;

    fn plan() -> ReplayPlan {
        ReplayPlan {
            name: replay_name(Stage::Staging, T, T + 4 * HOUR, 0xbeef),
            archive_arn: "arn:aws:events:us-east-1:1:archive/a".into(),
            bus_arn: "arn:aws:events:us-east-1:1:event-bus/b".into(),
            rule_arn: "arn:aws:events:us-east-1:1:rule/b/r".into(),
            from_ms: T,
            to_ms: T + 4 * HOUR,
        }
    }

    #[test]
    fn names_fit_eventbridge_limits() {
        let name = replay_name(Stage::Staging, T, T + 4 * HOUR, 0xbeef);
        assert_eq!(
            name,
            "cc-agent-reconciler-staging-20261129T1000-20261129T1400-beef"
        );
        for stage in Stage::ALL {
            let name = replay_name(stage, T, T + HOUR, 0xffff);
            assert!(name.len() <= 64, "{name}");
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
                "{name}"
            );
        }
    }

    #[test]
    fn windows_are_checked_against_the_archive() {
        let archive = ArchiveInfo {
            name: "a".into(),
            state: "ENABLED".into(),
            retention_days: Some(7),
            created_ms: Some(T - 30 * 24 * HOUR),
            ..ArchiveInfo::default()
        };
        assert_eq!(
            check_window(T, T + HOUR, T + 2 * HOUR, &archive),
            Ok(vec![])
        );
        assert!(
            check_window(T, T, T + HOUR, &archive)
                .unwrap_err()
                .contains("is not before")
        );
        assert!(
            check_window(T, T + 2 * HOUR, T, &archive)
                .unwrap_err()
                .contains("future")
        );
        let old = check_window(T - 10 * 24 * HOUR, T, T, &archive).unwrap();
        assert!(old[0].contains("keeps events 7 days"), "{old:?}");
        let young = ArchiveInfo {
            created_ms: Some(T),
            retention_days: None,
            ..archive
        };
        let before = check_window(T - HOUR, T + HOUR, T + 2 * HOUR, &young).unwrap();
        assert!(
            before[0].contains("holds nothing from before"),
            "{before:?}"
        );
    }

    #[test]
    fn a_dry_run_says_what_the_api_tells_and_that_it_is_safe() {
        let archive = ArchiveInfo {
            name: "cc-agent-reconciler-staging-ledger-archive".into(),
            state: "ENABLED".into(),
            event_count: 1204,
            size_bytes: 880_000,
            retention_days: Some(30),
            created_ms: None,
        };
        let text = dry_run_text(&plan(), &archive, &["careful".into()]);
        for part in [
            "Dry run: nothing started.",
            "2026-11-29T10:00:00Z to 2026-11-29T14:00:00Z",
            "1204 events, 880000 bytes in all; kept 30 days",
            "does not say how many",
            "only the rule arn:aws:events:us-east-1:1:rule/b/r",
            "Warning:     careful",
            "business key",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }

    #[test]
    fn progress_says_how_far_through_the_window() {
        let p = Progress {
            state: "RUNNING".into(),
            reason: None,
            last_replayed_ms: Some(T + HOUR),
        };
        assert!(
            progress_line(&plan(), &p)
                .ends_with("RUNNING, replayed up to 2026-11-29T11:00:00Z (25%)")
        );
        let failed = Progress {
            state: "FAILED".into(),
            reason: Some("archive deleted".into()),
            last_replayed_ms: None,
        };
        assert!(failed.finished());
        assert!(progress_line(&plan(), &failed).ends_with("FAILED: archive deleted"));
        assert!(
            !Progress {
                state: "STARTING".into(),
                reason: None,
                last_replayed_ms: None
            }
            .finished()
        );
    }

    #[test]
    fn outcomes_are_counted_from_the_handlers_lines_of_this_replay() {
        let line = |v: Value| LogLine {
            function: "handler",
            timestamp_ms: 1,
            event_id: "e".into(),
            message: v.to_string(),
        };
        let lines = vec![
            line(json!({"message": "event applied", "outcome": "granted", "replay_name": "r1"})),
            line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
            line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
            line(json!({"message": "conflict", "outcome": "conflict", "replay_name": "r1"})),
            line(
                json!({"message": "event not applied", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
            ),
            line(json!({"message": "event applied", "outcome": "granted", "replay_name": "other"})),
            line(json!({"message": "event applied", "outcome": "granted"})),
            LogLine {
                message: "START RequestId: x".into(),
                ..line(json!({}))
            },
        ];
        let counts = count_outcomes(&lines, "r1");
        assert_eq!(counts.total(), 5);
        assert_eq!(counts.applied(), 1);
        assert_eq!(
            counts.line(),
            "5 replayed: 2 duplicate, 1 applied (granted 1), 1 conflict, 1 failed"
        );
        assert_eq!(
            OutcomeCounts::default().line(),
            "0 replayed: 0 duplicate, 0 applied, 0 conflict, 0 failed"
        );
    }

    #[test]
    fn detail_type_is_refused_with_the_reason() {
        assert!(DETAIL_TYPE_REFUSED.contains("cannot select by detail-type"));
        assert!(DETAIL_TYPE_REFUSED.contains("--from/--to"));
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            replay: Args,
        }
        let cli = Cli::parse_from([
            "x",
            "--stage",
            "prod",
            "--from",
            "6h",
            "--to",
            "now",
            "--dry-run",
        ]);
        assert!(cli.replay.dry_run);
        assert_eq!(cli.replay.log_wait, Duration::from_secs(60));
        assert!(
            Cli::try_parse_from(["x", "--stage", "prod", "--from", "6h"]).is_err(),
            "--to is required"
        );
    }
}
