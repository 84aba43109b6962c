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
//! **`--detail-type T`** replays onto T's replay rule instead
//! (`ReplayRuleNames` output; `infra::names::REPLAY_RULES`): a rule of the
//! stack that matches only *replayed* events of T (`replay-name` exists) and
//! delivers them as the ledger-events rule does. EventBridge replays the
//! window's archived events to the rules a replay names and evaluates no
//! other, so only T's events reach the handler.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::bail;
use aws_sdk_eventbridge::types::{ReplayDestination, ReplayState};
use serde_json::Value;

use crate::aws::Target;
use crate::aws::sdk_error;
use crate::base::ui::{Act, Given};
use crate::base::when::{format_time, parse_duration, parse_time};
use crate::commands::{Console, run_command};
use crate::models::logs::{LogGroup, LogLine};

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
    /// The only rule that receives them (`LedgerEventsRuleArn`, or the
    /// replay rule of `detail_type`).
    pub rule_arn: String,
    /// `--detail-type`: only events of this detail-type.
    pub detail_type: Option<String>,
    /// The window's start (ms since the epoch).
    pub from_ms: i64,
    /// The window's end.
    pub to_ms: i64,
}

/// `cc-agent-reconciler-<stage>-<from>-<to>-<4 hex>`, at most 64
/// characters of `[.\-_A-Za-z0-9]` (EventBridge's rule for replay names).
pub fn replay_name(stage: infra::Stage, from_ms: i64, to_ms: i64, nonce: u16) -> String {
    let minute = |ms: i64| {
        let t = crate::base::when::compact_time(ms);
        // 20261129T100000Z -> 20261129T1000
        t.get(..13).unwrap_or(&t).to_owned()
    };
    format!(
        "cc-agent-reconciler-{stage}-{}-{}-{nonce:04x}",
        minute(from_ms),
        minute(to_ms)
    )
}

/// The ARN of the rule `name` on the bus `bus_arn` (pure):
/// `arn:…:event-bus/B` → `arn:…:rule/B/name`.
pub fn rule_arn_on_bus(bus_arn: &str, name: &str) -> String {
    format!("{}/{name}", bus_arn.replacen(":event-bus/", ":rule/", 1))
}

/// The replay of a window onto the stage (pure): onto the ledger-events
/// rule, or with `detail_type` onto that detail-type's replay rule.
///
/// # Errors
/// `detail_type` is none of the ledger's, or the stack has no replay rule
/// for it (an older stack: deploy first).
pub fn plan(
    stage: infra::Stage,
    outputs: &infra::outputs::StackOutputs,
    (from_ms, to_ms): (i64, i64),
    detail_type: Option<&str>,
    nonce: u16,
) -> Result<ReplayPlan, String> {
    use reconciler_core::event::DETAIL_TYPES;
    let rule_arn = match detail_type {
        None => outputs.ledger_events_rule_arn.clone(),
        Some(t) => {
            let i = DETAIL_TYPES.iter().position(|d| *d == t).ok_or_else(|| {
                format!(
                    "--detail-type {t}: not a ledger detail-type (one of {})",
                    DETAIL_TYPES.join(", ")
                )
            })?;
            let names: Vec<&str> = outputs
                .replay_rule_names
                .as_deref()
                .map(|n| n.split(',').collect())
                .unwrap_or_default();
            let name = names.get(i).filter(|n| !n.is_empty()).ok_or_else(|| {
                format!(
                    "the stack has no replay rule for {t} (a stack deployed before them): deploy \
                     the stage first"
                )
            })?;
            rule_arn_on_bus(&outputs.bus_arn, name)
        }
    };
    Ok(ReplayPlan {
        name: replay_name(stage, from_ms, to_ms, nonce),
        archive_arn: outputs.archive_arn.clone(),
        bus_arn: outputs.bus_arn.clone(),
        rule_arn,
        detail_type: detail_type.map(str::to_owned),
        from_ms,
        to_ms,
    })
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
         Destination: bus {}, only the rule {}{}\n\
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
        plan.detail_type
            .as_deref()
            .map(|t| format!(" (the replays of {t}: no other event is replayed)"))
            .unwrap_or_default(),
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

/// Counts the events of replay `name` by outcome from the handler's log
/// lines (pure). One count per event (its `event_id`): an event Lambda
/// retried after a failure counts once, with its last outcome (in time
/// order), so "N replayed" is the number of events, not of attempts.
pub fn count_outcomes(lines: &[LogLine], name: &str) -> OutcomeCounts {
    let mut ordered: Vec<&LogLine> = lines.iter().collect();
    ordered.sort_by_key(|l| l.timestamp_ms);
    // event id (or a line number, without one) → outcome (None: failed).
    let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
    for (i, line) in ordered.iter().enumerate() {
        let Some(j) = line.json() else { continue };
        if j.get("replay_name").and_then(Value::as_str) != Some(name) {
            continue;
        }
        let outcome = match (
            j.get("outcome").and_then(Value::as_str),
            j.get("error_type"),
        ) {
            (Some(outcome), _) => Some(outcome.to_owned()),
            (None, Some(_)) => None,
            (None, None) => continue,
        };
        let event = match j.get("event_id").and_then(Value::as_str) {
            Some(id) if id != "none" => id.to_owned(),
            _ => format!("#line-{i}"),
        };
        last.insert(event, outcome);
    }
    let mut counts = OutcomeCounts::default();
    for outcome in last.into_values() {
        match outcome {
            Some(o) => *counts.by_outcome.entry(o).or_default() += 1,
            None => counts.failed += 1,
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
    let pattern = crate::models::logs::filter_pattern(&crate::models::logs::LogFilter {
        text: Some(name.to_owned()),
        ..Default::default()
    });
    let mut previous: Option<OutcomeCounts> = None;
    loop {
        let lines = crate::models::logs::fetch(
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
                        2026-11-29T14:00:00Z\n  cargo xtask replay --stage dev --from 6h --to now \
                        --detail-type video.rendered"
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
    /// Replay only the events of this detail-type (video.rendered, …), onto
    /// its replay rule.
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

/// What to replay, and how (the command's arguments, resolved).
#[derive(Clone, Debug)]
pub struct Request {
    /// The window (ms since the epoch).
    pub from_ms: i64,
    pub to_ms: i64,
    /// `--detail-type`.
    pub detail_type: Option<String>,
    /// `--dry-run`.
    pub dry_run: bool,
    /// `--yes`.
    pub yes: bool,
    /// Whether a person can be asked.
    pub interactive: bool,
    /// How often the replay's progress is read.
    pub poll: Duration,
    /// `--log-wait`.
    pub log_wait: Duration,
}

/// What [`replay_stage`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replayed {
    /// A dry run: nothing started.
    DryRun(ReplayPlan),
    /// The replay completed; what the handler logged of it.
    Completed(ReplayPlan, OutcomeCounts),
}

/// `cargo xtask replay` on an opened stage: checks the window, plans,
/// says what a dry run would do, asks on prod, replays, counts.
///
/// # Errors
/// A bad window or detail-type, the pins, not confirmed, or the replay
/// failed.
pub async fn replay_stage(
    console: &Console,
    req: &Request,
    out: &dyn crate::base::ui::Out,
) -> anyhow::Result<Replayed> {
    let o = &console.outputs;
    let archive = describe_archive(&console.clients.events, &o.archive_name).await?;
    let warnings = check_window(
        req.from_ms,
        req.to_ms,
        crate::base::when::now_ms(),
        &archive,
    )
    .map_err(anyhow::Error::msg)?;
    let plan = plan(
        console.stage(),
        o,
        (req.from_ms, req.to_ms),
        req.detail_type.as_deref(),
        nonce(),
    )
    .map_err(anyhow::Error::msg)?;
    if req.dry_run {
        out.note(&console.session.who_and_where());
        out.show(&dry_run_text(&plan, &archive, &warnings));
        return Ok(Replayed::DryRun(plan));
    }
    out.note(&console.session.who_and_where());
    console.session.check_pins()?;
    for w in &warnings {
        out.note(&format!("warning: {w}"));
    }
    let given = Given {
        yes: req.yes,
        interactive: req.interactive,
        confirm_stack: None,
    };
    let question = format!(
        "{}: replay the archived {}events of {} to {} onto the handler?",
        console.session.who_and_where(),
        plan.detail_type
            .as_deref()
            .map(|t| format!("{t} "))
            .unwrap_or_default(),
        format_time(req.from_ms),
        format_time(req.to_ms)
    );
    let confirmation =
        Act::Replay.confirmation(console.stage(), given, &question, "a replay on prod");
    crate::base::ui::settle(confirmation, out, "no replay started")?;
    let started = crate::base::when::now_ms();
    let done = execute(&console.clients.events, &plan, req.poll, &|line| {
        out.note(line);
    })
    .await?;
    out.show(&format!(
        "Replay {} completed{}.",
        plan.name,
        done.last_replayed_ms
            .map(|t| format!(" (last event replayed: {})", format_time(t)))
            .unwrap_or_default()
    ));
    let mut counts = OutcomeCounts::default();
    if let Some(group) =
        crate::models::logs::log_groups(o, Some(crate::models::logs::Function::Handler)).first()
    {
        out.note(&format!(
            "Counting the handler's log lines of the replay (up to {}s)…",
            req.log_wait.as_secs()
        ));
        counts = handler_outcomes(
            &console.clients.logs,
            group,
            &plan.name,
            started,
            req.poll,
            req.log_wait,
        )
        .await?;
        out.show(&counts.line());
    }
    out.show(&format!(
        "See every line: cargo xtask logs --stage {} --function handler --since {} --filter \
         {}\n(metric {}/{} by Outcome, dimension Stage={})",
        console.stage(),
        format_time(started),
        plan.name,
        reconciler_core::contract::metrics::NAMESPACE,
        reconciler_core::contract::metrics::REPLAYED_EVENTS,
        console.stage()
    ));
    Ok(Replayed::Completed(plan, counts))
}

/// Runs `cargo xtask replay`.
///
/// # Errors
/// See [`replay_stage`]; the stage is not deployed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let now = crate::base::when::now_ms();
        let req = Request {
            from_ms: parse_time(&args.from, now).map_err(anyhow::Error::msg)?,
            to_ms: parse_time(&args.to, now).map_err(anyhow::Error::msg)?,
            detail_type: args.detail_type.clone(),
            dry_run: args.dry_run,
            yes: args.yes,
            interactive: crate::base::ui::interactive(),
            poll: Duration::from_secs(5),
            log_wait: args.log_wait,
        };
        let console = Console::open(&args.target).await?;
        replay_stage(&console, &req, &crate::base::ui::Terminal).await?;
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
            detail_type: None,
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
        let at = |t: i64, v: Value| LogLine {
            timestamp_ms: t,
            ..line(v)
        };
        let lines = vec![
            line(json!({"message": "event applied", "outcome": "granted", "replay_name": "r1"})),
            line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
            line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
            line(json!({"message": "conflict", "outcome": "conflict", "replay_name": "r1"})),
            line(
                json!({"message": "event not applied", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
            ),
            // e7 failed, Lambda retried it, it applied: one event, held.
            at(
                20,
                json!({"event_id": "e7", "outcome": "held", "replay_name": "r1"}),
            ),
            at(
                10,
                json!({"event_id": "e7", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
            ),
            // e8 failed twice: one failed event.
            at(
                11,
                json!({"event_id": "e8", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
            ),
            at(
                21,
                json!({"event_id": "e8", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
            ),
            line(json!({"message": "event applied", "outcome": "granted", "replay_name": "other"})),
            line(json!({"message": "event applied", "outcome": "granted"})),
            LogLine {
                message: "START RequestId: x".into(),
                ..line(json!({}))
            },
        ];
        let counts = count_outcomes(&lines, "r1");
        assert_eq!(counts.total(), 7);
        assert_eq!(counts.applied(), 2);
        assert_eq!(
            counts.line(),
            "7 replayed: 2 duplicate, 2 applied (granted 1, held 1), 1 conflict, 2 failed"
        );
        assert_eq!(
            OutcomeCounts::default().line(),
            "0 replayed: 0 duplicate, 0 applied, 0 conflict, 0 failed"
        );
    }

    fn outputs() -> infra::outputs::StackOutputs {
        infra::outputs::StackOutputs {
            bus_arn: "arn:aws:events:eu-west-1:111122223333:event-bus/cc-agent-reconciler-prod"
                .into(),
            ledger_events_rule_arn: "arn:aws:events:eu-west-1:111122223333:rule/\
                 cc-agent-reconciler-prod/cc-agent-reconciler-prod-ledger-events"
                .into(),
            replay_rule_names: Some(
                infra::names::REPLAY_RULES
                    .map(|r| r.resolve(&infra::StageConfig::for_stage(Stage::Prod)))
                    .join(","),
            ),
            ..Default::default()
        }
    }

    #[test]
    fn a_detail_type_replays_onto_its_replay_rule_only() {
        let o = outputs();
        let all = super::plan(Stage::Prod, &o, (T, T + HOUR), None, 1).unwrap();
        assert_eq!(all.rule_arn, o.ledger_events_rule_arn);
        assert_eq!(all.detail_type, None);
        let rendered =
            super::plan(Stage::Prod, &o, (T, T + HOUR), Some("video.rendered"), 1).unwrap();
        assert_eq!(
            rendered.rule_arn,
            "arn:aws:events:eu-west-1:111122223333:rule/cc-agent-reconciler-prod/\
             cc-agent-reconciler-prod-replay-video-rendered"
        );
        let archive = ArchiveInfo::default();
        assert!(
            dry_run_text(&rendered, &archive, &[])
                .contains("(the replays of video.rendered: no other event is replayed)")
        );
        let typo =
            super::plan(Stage::Prod, &o, (T, T + HOUR), Some("video.renderd"), 1).unwrap_err();
        assert!(
            typo.contains("--detail-type video.renderd: not a ledger detail-type")
                && typo.contains("video.rendered"),
            "{typo}"
        );
        let mut older = o.clone();
        older.replay_rule_names = None;
        assert!(
            super::plan(Stage::Prod, &older, (T, T + HOUR), Some("video.failed"), 1)
                .unwrap_err()
                .contains("deploy the stage first")
        );
    }

    #[test]
    fn the_arguments_parse_with_their_defaults() {
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
            "--detail-type",
            "video.failed",
        ]);
        assert!(cli.replay.dry_run);
        assert_eq!(cli.replay.detail_type.as_deref(), Some("video.failed"));
        assert_eq!(cli.replay.log_wait, Duration::from_secs(60));
        assert!(
            Cli::try_parse_from(["x", "--stage", "prod", "--from", "6h"]).is_err(),
            "--to is required"
        );
    }
}
