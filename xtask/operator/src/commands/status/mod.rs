//! `cargo xtask status --stage S`: one screen about a deployed stage — who
//! and where, the stack, the code deployed against the local build, every
//! alarm, the bus's ledger, replay and unrouted rules (state, targets), the
//! dead-letter queue (depth, and its oldest message's age against SQS's
//! 14-day deletion), the unrouted queue, the last sweep's report, the
//! holds older than the hold timeout now, and the dashboard. It exits 2 when
//! something needs a person ([`StatusReport::needs_a_person`]), with the
//! reasons and the runbook entry of each.
//!
//! [`gather`] reads (every name from the stack's outputs; a section that
//! cannot be read says why instead of failing the whole screen); [`render`]
//! and [`StatusReport::needs_a_person`] are pure.

mod json;
mod render;
mod report;
#[cfg(test)]
mod tests;

use std::time::Duration;

use aws_sdk_cloudformation::types::{Stack, StackStatus};
use infra::StackOutputs;
use reconciler::store::Ledger;

use crate::artifacts::Bucket;
use crate::aws::{Clients, Session, Target};
use crate::cfn;
use crate::commands::run_command;
use crate::models::code::{self, CodeVersion};
use crate::models::logs::{self, LogGroup};
use crate::models::queues::{Queue, queue_view};
use crate::models::sweep_report::{LastSweep, last_sweep_report};
use crate::models::{alarms, rules};

pub use json::to_json;
pub use render::render;
pub use report::{
    AGE_CRITICAL, AGE_WARNING, RETENTION, SWEEP_LOOKBACK, SWEEP_OVERDUE, StackState, StatusReport,
    age_tone, dashboard_url, runbook_of,
};

/// The stack as DescribeStacks tells it.
fn stack_state(name: &str, stack: &Stack) -> StackState {
    StackState {
        name: name.to_owned(),
        status: stack
            .stack_status()
            .cloned()
            .unwrap_or_else(|| StackStatus::from("UNKNOWN")),
        reason: stack.stack_status_reason().map(str::to_owned),
        created_ms: stack.creation_time().and_then(|t| t.to_millis().ok()),
        updated_ms: stack.last_updated_time().and_then(|t| t.to_millis().ok()),
    }
}

/// The last sweep report in the sweep's log group, of the last
/// [`SWEEP_LOOKBACK`].
async fn last_sweep(
    clients: &Clients,
    outputs: &StackOutputs,
    now_ms: i64,
) -> Result<Option<LastSweep>, String> {
    let group = LogGroup {
        function: "sweep",
        name: outputs.sweep_log_group_name.clone(),
    };
    let lookback = i64::try_from(SWEEP_LOOKBACK.as_millis()).unwrap_or(i64::MAX);
    let lines = logs::fetch(
        &clients.logs,
        &[group],
        now_ms - lookback,
        None,
        Some("\"sweep report\""),
        10_000,
    )
    .await
    .map_err(|e| format!("{e:#}"))?;
    Ok(last_sweep_report(&lines))
}

/// Each function's code against the stack's and the local build.
async fn code_versions(
    clients: &Clients,
    session: &Session,
    stack: &Stack,
    outputs: &StackOutputs,
) -> Vec<CodeVersion> {
    let bucket = Bucket::of(&session.identity.account, &session.identity.region);
    let parameters = cfn::stack::parameters_of(stack);
    let names = [
        outputs.handler_function_name.as_str(),
        outputs.sweep_function_name.as_str(),
    ];
    code::versions(
        clients,
        &bucket,
        session.stage.architecture,
        &parameters,
        names,
    )
    .await
}

/// HELD jobs older than the hold timeout: one query of each of the
/// `open-items` index's `HELD` partitions (its shards and the unsharded key
/// of item format 1), counted by DynamoDB (no scan, no item read).
async fn stragglers(ledger: &Ledger, cutoff_ms: i64) -> Result<u64, String> {
    ledger
        .count_held_before(cutoff_ms)
        .await
        .map_err(|e| e.to_string())
}

/// Reads everything `status` shows. Sections that cannot be read say why.
///
/// # Errors
/// The stack does not exist (deploy it first), or CloudFormation failed.
pub async fn gather(
    session: &Session,
    clients: &Clients,
    now_ms: i64,
) -> anyhow::Result<StatusReport> {
    let name = infra::stack_name(session.stage.stage);
    let stack = cfn::stack::of_session(&clients.cfn, session).await?;
    let hold_timeout = Duration::from_secs(session.stage.hold_timeout_seconds);
    let outputs =
        StackOutputs::from_outputs(&cfn::stack::outputs_of(&stack)).map_err(|e| e.to_string());
    let mut report = StatusReport {
        stage: session.stage.stage,
        who_and_where: session.who_and_where(),
        stack: stack_state(&name, &stack),
        outputs: outputs.as_ref().map(|_| ()).map_err(Clone::clone),
        code: Err("the stack has no outputs".into()),
        alarms: Err("the stack has no outputs".into()),
        dead_letters: Err("the stack has no outputs".into()),
        unrouted: Err("the stack has no outputs".into()),
        rules: Err("the stack has no outputs".into()),
        last_sweep: Err("the stack has no outputs".into()),
        stragglers: Err("the stack has no outputs".into()),
        hold_timeout,
        dashboard_url: None,
        now_ms,
    };
    let Ok(outputs) = outputs else {
        return Ok(report);
    };
    let ledger = Ledger::new(clients.dynamodb.clone(), outputs.ledger_table_name.clone());
    let cutoff = now_ms - i64::try_from(hold_timeout.as_millis()).unwrap_or(i64::MAX);
    let (dlq, unrouted_queue) = (Queue::dead_letters(&outputs), Queue::unrouted(&outputs));
    let (code, alarms, rules, dead_letters, unrouted, last_sweep, stragglers) = tokio::join!(
        code_versions(clients, session, &stack, &outputs),
        alarms::read(&clients.cloudwatch, &outputs),
        rules::read(&clients.events, &outputs),
        queue_view(&clients.sqs, &clients.cloudwatch, &dlq, now_ms),
        queue_view(&clients.sqs, &clients.cloudwatch, &unrouted_queue, now_ms),
        last_sweep(clients, &outputs, now_ms),
        stragglers(&ledger, cutoff),
    );
    report.code = Ok(code);
    report.alarms = alarms;
    report.rules = rules;
    report.dead_letters = dead_letters;
    report.unrouted = unrouted;
    report.last_sweep = last_sweep;
    report.stragglers = stragglers;
    report.dashboard_url = Some(dashboard_url(
        &session.identity.region,
        &outputs.dashboard_name,
    ));
    Ok(report)
}

/// `cargo xtask status`.
#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:\n  cargo xtask status --stage prod\n  \
                        cargo xtask status --stage staging || echo \"needs a person\"\n  \
                        cargo xtask status --stage prod --json | jq .needs_a_person\n\n\
                        Exit codes: 0 all clear, 2 something needs a person (listed), 1 the \
                        command failed, 64 the command line was not understood.")]
pub struct Args {
    #[command(flatten)]
    pub target: Target,
    /// Print the report as JSON (see docs/operations.md#json).
    #[arg(long)]
    pub json: bool,
}

/// Runs `cargo xtask status`: exit code 2 when something needs a person.
///
/// # Errors
/// Unusable credentials, or the stack does not exist.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        let session = Session::open(&args.target).await?;
        let clients = session.clients();
        let report = gather(&session, &clients, crate::base::when::now_ms()).await?;
        if args.json {
            let json = to_json(&report, &session.stage);
            println!("{}", serde_json::to_string_pretty(&json)?);
        } else {
            print!(
                "{}",
                render(&report, &session.stage, crate::base::ui::color())
            );
        }
        Ok(!report.needs_a_person(&session.stage).is_empty())
    })
}
