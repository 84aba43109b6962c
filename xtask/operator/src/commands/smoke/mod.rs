//! `cargo xtask smoke --stage <s>`: proves a deployed stage's whole chain end
//! to end (contract §7).
//!
//! It puts two events on the stage's bus as its producer of `video.failed`
//! would (that producer's `source`; the bus refuses any other): a good one
//! (job `smoke-<unix ms>` of account `smoke-<stage>`: a refund of a job that
//! never held anything, a tombstone that moves no money) and a forced-bad
//! one (job `smoke-bad-<unix ms>` without its `account_id`). `video.failed`
//! is the one detail-type that can move no money, so smoke needs no producer
//! of the others. A stage without a producer of it stops at once, saying so.
//!
//! Before sending, it checks the links that would make a check fail for sure
//! and names the broken one at once: the ledger rule enabled, the errors
//! alarm there with its action to the ops-alerts topic. Then it checks,
//! concurrently and each bounded by `--timeout-seconds`, with progress as it
//! waits:
//!
//! 1. the good event was **applied**: its job is in the ledger, refunded (the
//!    handler's response is not visible through the bus; the ledger is); a
//!    good event that ended in the dead-letter queue fails at once with the
//!    error it carries (e.g. the handler's role refused an action);
//! 2. the bad event tripped the **errors alarm** (an alarm already in ALARM
//!    before the run proves nothing and is reported as such, not passed);
//! 3. the alarm's **SNS action ran**: its history (`DescribeAlarmHistory`,
//!    `Action` items) shows a successful publish to the ops-alerts topic after
//!    the run started ([`sns_action_verdict`], pure);
//! 4. the bad event arrived in the **dead-letter queue**; smoke then deletes
//!    exactly that dead letter, by its message id.
//!
//! On staging and prod it warns loudly when nobody has confirmed a
//! subscription to the ops-alerts topic ([`crate::models::alerts`]). Every name comes
//! from the stack's outputs.

mod checks;
mod poll;
mod report;
#[cfg(test)]
mod tests;
mod verdict;

use std::time::Duration;

use infra::Stage;
use serde_json::{Value, json};

use crate::aws::Target;
use crate::base::ui::{Act, Given};
use crate::commands::{Console, run_command};

pub use checks::{SmokeClients, SmokeOptions, job_refunded, smoke};
pub use poll::{Probe, poll_until};
pub use report::{Check, CheckOutcome, SmokeReport};
pub use verdict::{ActionVerdict, sns_action_verdict};

/// The detail-type of both smoke events: a refund, which moves no money for
/// a job that never held any.
pub const DETAIL_TYPE: &str = reconciler_core::event::VIDEO_FAILED;

/// The two events a smoke run sends.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeEvents {
    /// The events' source: the stage's producer of [`DETAIL_TYPE`].
    pub source: String,
    /// The good event's job id (`smoke-<unix ms>`).
    pub good_job_id: String,
    /// The good event's detail (a refund of a job that holds nothing).
    pub good_detail: Value,
    /// The bad event's job id (`smoke-bad-<unix ms>`).
    pub bad_job_id: String,
    /// The bad event's detail (no `account_id`: invalid).
    pub bad_detail: Value,
}

impl SmokeEvents {
    /// The events for `stage` at `unix_ms`, put with `source`.
    pub fn new(stage: Stage, unix_ms: i64, source: &str) -> SmokeEvents {
        let account = format!("smoke-{stage}");
        let good_job_id = format!("smoke-{unix_ms}");
        let bad_job_id = format!("smoke-bad-{unix_ms}");
        SmokeEvents {
            source: source.to_owned(),
            good_detail: json!({"job_id": good_job_id, "account_id": account,
                                "reason": "cargo xtask smoke"}),
            bad_detail: json!({"job_id": bad_job_id, "reason": "cargo xtask smoke: no account_id"}),
            good_job_id,
            bad_job_id,
        }
    }
}

/// The source smoke puts its events with: the stage's one producer of
/// [`DETAIL_TYPE`] (pure).
///
/// # Errors
/// The stage names none (or several): what smoke needs, in one line.
pub fn producer_source(stage: &infra::StageConfig) -> Result<String, String> {
    crate::models::events::producer_source(stage, DETAIL_TYPE, None).map_err(|why| {
        format!(
            "{why}. The smoke test puts {DETAIL_TYPE} events as a producer would: name one in \
             the stage file ([[producers]]: detail_type = \"{DETAIL_TYPE}\", its source, its \
             principal) and run smoke with that principal's credentials"
        )
    })
}

/// `cargo xtask smoke`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  cargo xtask smoke --stage staging\n  \
                        cargo xtask smoke --stage prod --yes --timeout-seconds 900\n  \
                        cargo xtask smoke --stage staging --json | jq '.checks[] | select(.outcome != \"ok\")'\n\n\
                        Exit codes: 0 every check passed, 2 a check failed (listed), 1 the \
                        smoke test could not run.")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// How long to wait for each check.
    #[arg(long, default_value_t = 600)]
    pub timeout_seconds: u64,
    /// Do not ask for confirmation (prod pages the on-call person).
    #[arg(long)]
    pub yes: bool,
    /// Print the report as JSON (see docs/operations.md#json).
    #[arg(long)]
    pub json: bool,
}

/// Runs `cargo xtask smoke`: exit code 2 (a person is needed) when a check
/// failed.
///
/// # Errors
/// The stage is not deployed, or not confirmed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let console = Console::open(&args.target).await?;
        console.session.before_writing()?;
        let stage = console.stage();
        let given = Given {
            yes: args.yes,
            interactive: crate::base::ui::interactive(),
            confirm_stack: None,
        };
        Act::Smoke
            .confirmation(
                stage,
                given,
                &format!(
                    "{}: the smoke test fires the errors alarm, which pages the on-call person. \
                     Go on?",
                    console.session.who_and_where()
                ),
                "a smoke test of prod",
            )
            .resolve("no smoke test run")?;
        if let Some(warning) = crate::models::alerts::check_ops_alerts(
            &console.clients.sns,
            stage,
            &console.outputs.ops_alerts_topic_arn,
        )
        .await
        {
            eprintln!(
                "{}",
                crate::base::ui::paint(
                    &warning,
                    crate::base::ui::Tone::Danger,
                    crate::base::ui::color()
                )
            );
        }
        let opts = SmokeOptions::new(
            stage,
            &console.outputs,
            Duration::from_secs(args.timeout_seconds),
        );
        let source = producer_source(&console.session.stage).map_err(anyhow::Error::msg)?;
        let started_ms = crate::base::when::now_ms();
        let events = SmokeEvents::new(stage, started_ms, &source);
        let intro = format!(
            "Smoke test of {stage}: a good and a forced-bad event on {}, then waiting up to {}s \
             for the ledger, alarm {} and its notification, and a dead letter in {}.",
            opts.bus_name, args.timeout_seconds, opts.alarm_name, opts.dead_letters.name
        );
        if args.json {
            eprintln!("{intro}");
        } else {
            println!("{intro}");
        }
        let report = smoke(
            &SmokeClients::of(&console.clients),
            &opts,
            &events,
            started_ms,
            &|line| eprintln!("  … {line}"),
        )
        .await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report.to_json(stage))?);
        } else {
            print!("{}", report.render());
        }
        Ok(!report.passed())
    })
}
