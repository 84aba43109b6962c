//! `cargo xtask smoke --stage <s>`: proves a deployed stage's whole chain end
//! to end (SPEC §7).
//!
//! It puts two events on the stage's bus: a good one (a `credits.granted` of 0
//! credits, grant `smoke-<unix ms>`, account `smoke-<stage>`: applying it
//! moves no money) and a forced-bad one (a `video.requested` whose `credits` is
//! `"not-a-number"`, job `smoke-bad-<unix ms>`). Then it checks, concurrently
//! and each bounded by `--timeout-seconds`, with progress as it waits:
//!
//! 1. the good event was **applied**: its grant record is in the ledger table
//!    (the handler's response is not visible through the bus; the ledger is);
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

pub use checks::{SmokeClients, SmokeOptions, grant_recorded, smoke};
pub use poll::{Probe, poll_until};
pub use report::{Check, CheckOutcome, SmokeReport};
pub use verdict::{ActionVerdict, sns_action_verdict};

/// The `source` of the smoke events.
pub const SOURCE: &str = "cc-agent-reconciler.smoke";

/// The two events a smoke run sends.
#[derive(Clone, Debug, PartialEq)]
pub struct SmokeEvents {
    /// The good event's grant id (`smoke-<unix ms>`).
    pub grant_id: String,
    /// The good event's detail (`credits.granted`, 0 credits).
    pub good_detail: Value,
    /// The bad event's job id (`smoke-bad-<unix ms>`).
    pub bad_job_id: String,
    /// The bad event's detail (`video.requested`, credits not a number).
    pub bad_detail: Value,
}

impl SmokeEvents {
    /// The events for `stage` at `unix_ms`.
    pub fn new(stage: Stage, unix_ms: i64) -> SmokeEvents {
        let account = format!("smoke-{stage}");
        let grant_id = format!("smoke-{unix_ms}");
        let bad_job_id = format!("smoke-bad-{unix_ms}");
        SmokeEvents {
            good_detail: json!({"grant_id": grant_id, "account_id": account, "credits": 0}),
            bad_detail: json!({"job_id": bad_job_id, "account_id": account, "credits": "not-a-number"}),
            grant_id,
            bad_job_id,
        }
    }
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
        let started_ms = crate::base::when::now_ms();
        let events = SmokeEvents::new(stage, started_ms);
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
