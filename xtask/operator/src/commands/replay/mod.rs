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

mod archive;
mod outcomes;
mod plan;
#[cfg(test)]
mod tests;

use std::time::Duration;

use crate::aws::Target;
use crate::base::ui::{Act, Given, Out};
use crate::base::when::{format_time, parse_duration, parse_time};
use crate::commands::{Console, run_command};
use crate::models::logs;

pub use archive::{Progress, describe, describe_archive, execute, progress_line, start, wait};
pub use outcomes::{OutcomeCounts, count_outcomes, handler_outcomes};
pub use plan::{
    ArchiveInfo, ReplayPlan, check_window, dry_run_text, plan, replay_name, rule_arn_on_bus,
};

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
    out: &dyn Out,
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
    let counts = count_and_say(console, req, &plan, &done, started, out).await?;
    Ok(Replayed::Completed(plan, counts))
}

/// After a completed replay: says so, counts the handler's log lines of it
/// (when the stack names the handler's log group), and where to see them.
async fn count_and_say(
    console: &Console,
    req: &Request,
    plan: &ReplayPlan,
    done: &Progress,
    started: i64,
    out: &dyn Out,
) -> anyhow::Result<OutcomeCounts> {
    let o = &console.outputs;
    out.show(&format!(
        "Replay {} completed{}.",
        plan.name,
        done.last_replayed_ms
            .map(|t| format!(" (last event replayed: {})", format_time(t)))
            .unwrap_or_default()
    ));
    let mut counts = OutcomeCounts::default();
    if let Some(group) = logs::log_groups(o, Some(logs::Function::Handler)).first() {
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
    Ok(counts)
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
