//! `cargo xtask replay` against moto (`xtask::replay`): a hand-built stage's
//! bus with an archive of the ledger events and the ledger rule feeding a
//! capture queue (moto cannot deliver to a Lambda target). What reaches the
//! queue is handed to the real `reconciler-handler` binary through the
//! Lambda Invoke API shim, which ships its log lines to the handler's log
//! group: the command's count of outcomes reads those.
//!
//! moto replays synchronously (COMPLETED at once, no progress), ignores the
//! window and FilterArns (it replays the whole archive to every rule); the
//! archive here holds only this test's events, and only the ledger rule
//! matches them.

use std::time::Duration;

use aws_sdk_eventbridge::operation::describe_replay::DescribeReplayOutput;
use aws_sdk_eventbridge::types::ReplayState;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use e2e::lambda_api::LambdaShim;
use e2e::stage::HandBuilt;
use infra::Stage;
use serde_json::{Value, json};
use xtask::invoke::Invoked;
use xtask::replay::{self, ReplayPlan};

/// Hands every event waiting in the capture queue to the handler, as the
/// rule's target would (requests before their outcomes, so that the counts
/// below do not depend on the queue's order); returns the envelopes.
async fn deliver(s: &HandBuilt, lambda: &aws_sdk_lambda::Client) -> Vec<Value> {
    let mut envelopes = s.drain(&s.capture_url).await;
    envelopes.sort_by_key(|e| match e["detail-type"].as_str() {
        Some("credits.granted") => 0,
        Some("video.requested") => 1,
        _ => 2,
    });
    for envelope in &envelopes {
        let answer =
            xtask::invoke::invoke(lambda, &s.outputs.handler_function_name, envelope, false)
                .await
                .unwrap();
        assert!(matches!(answer, Invoked::Response(_)), "{answer:?}");
    }
    envelopes
}

async fn balances(s: &HandBuilt, account: &str) -> (i64, i64) {
    let a = s.ledger().account(account).await.unwrap().unwrap();
    (a.available, a.held)
}

/// A nonce whose replay name differs from `first`'s.
fn first_nonce_other(first: &ReplayPlan) -> u16 {
    loop {
        let nonce = fastrand::u16(..);
        if !first.name.ends_with(&format!("-{nonce:04x}")) {
            return nonce;
        }
    }
}

/// Replays `plan`, hands what it delivered to the handler, and counts the
/// handler's log lines of it; the envelopes and the counts.
async fn replay_once(
    s: &HandBuilt,
    lambda: &aws_sdk_lambda::Client,
    plan: &ReplayPlan,
    progress: &(dyn Fn(&str) + Sync),
) -> (Vec<Value>, replay::OutcomeCounts) {
    let c = s.clients();
    let done = replay::execute(&c.events, plan, Duration::from_millis(200), progress)
        .await
        .unwrap();
    assert_eq!(done.state, "COMPLETED");
    let envelopes = deliver(s, lambda).await;
    assert_eq!(envelopes.len(), 6);
    assert!(
        envelopes
            .iter()
            .all(|e| e["replay-name"] == plan.name.as_str()),
        "replayed envelopes carry their replay's name: {envelopes:#?}"
    );
    let group = &xtask::logs::log_groups(&s.outputs, Some(xtask::logs::Function::Handler))[0];
    let counts = replay::handler_outcomes(
        &c.logs,
        group,
        &plan.name,
        plan.from_ms,
        Duration::from_millis(300),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    (envelopes, counts)
}

fn plan(s: &HandBuilt, from_ms: i64, to_ms: i64, nonce: u16) -> ReplayPlan {
    ReplayPlan {
        name: replay::replay_name(s.stage, from_ms, to_ms, nonce),
        archive_arn: s.outputs.archive_arn.clone(),
        bus_arn: s.outputs.bus_arn.clone(),
        rule_arn: s.outputs.ledger_events_rule_arn.clone(),
        from_ms,
        to_ms,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_window_twice_applies_it_once() {
    let config = xtask::emulator::sdk_config(xtask::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Dev).await;
    let shim = LambdaShim::start(&config).await;
    shim.add_function(
        &s.outputs.handler_function_name,
        "reconciler-handler",
        &e2e::lambda::handler_env("dev", &s.outputs.ledger_table_name),
        &s.outputs.handler_log_group_name,
    )
    .await;
    let lambda = shim.client();
    let c = s.clients();
    let from = xtask::when::now_ms() - 60_000;

    // Producers' events; their live deliveries are lost (the rule was
    // disabled, say): the handler never sees them, the archive keeps them.
    for (detail_type, detail) in [
        (
            "credits.granted",
            json!({"grant_id": "g1", "account_id": "acme", "credits": 100}),
        ),
        (
            "video.requested",
            json!({"job_id": "j1", "account_id": "acme", "credits": 30}),
        ),
        (
            "video.rendered",
            json!({"job_id": "j1", "account_id": "acme", "credits": 25}),
        ),
        (
            "credits.granted",
            json!({"grant_id": "g2", "account_id": "globex", "credits": 50}),
        ),
        (
            "video.requested",
            json!({"job_id": "j2", "account_id": "globex", "credits": 20}),
        ),
        (
            "video.failed",
            json!({"job_id": "j2", "account_id": "globex", "reason": "gpu"}),
        ),
    ] {
        xtask::console::put_event(
            &c.events,
            &s.outputs.bus_name,
            "video.service",
            detail_type,
            &detail,
            None,
        )
        .await
        .unwrap();
    }
    assert_eq!(
        s.drain(&s.capture_url).await.len(),
        6,
        "delivered live, and lost"
    );
    assert!(s.ledger().account("acme").await.unwrap().is_none());
    let to = xtask::when::now_ms();

    // The dry run: what the API tells, nothing started.
    let archive = replay::describe_archive(&c.events, &s.outputs.archive_name)
        .await
        .unwrap();
    assert_eq!(archive.event_count, 6);
    assert_eq!(archive.retention_days, Some(7));
    let warnings = replay::check_window(from, to, xtask::when::now_ms(), &archive).unwrap();
    let first = plan(&s, from, to, fastrand::u16(..));
    let text = replay::dry_run_text(&first, &archive, &warnings);
    assert!(
        text.contains("6 events") && text.contains(&s.outputs.ledger_events_rule_arn),
        "{text}"
    );
    let replays = c
        .events
        .list_replays()
        .name_prefix(&first.name)
        .send()
        .await
        .unwrap();
    assert!(replays.replays().is_empty(), "a dry run starts nothing");

    // First replay: every event applied once.
    let heard = std::sync::Mutex::new(Vec::<String>::new());
    let (_, counts) = replay_once(&s, &lambda, &first, &|l| {
        heard.lock().unwrap().push(l.to_owned())
    })
    .await;
    assert!(
        heard
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("COMPLETED"))
    );
    assert_eq!(balances(&s, "acme").await, (75, 0));
    assert_eq!(balances(&s, "globex").await, (50, 0));
    assert_eq!(
        counts.line(),
        "6 replayed: 0 duplicate, 6 applied (debited 1, granted 2, held 2, refunded 1), 0 conflict, 0 failed"
    );

    // The same window again: all duplicates, no balance moves.
    let second = plan(&s, from, to, first_nonce_other(&first));
    let (_, counts) = replay_once(&s, &lambda, &second, &|_| {}).await;
    assert_eq!(balances(&s, "acme").await, (75, 0));
    assert_eq!(balances(&s, "globex").await, (50, 0));
    assert_eq!(
        counts.line(),
        "6 replayed: 6 duplicate, 0 applied, 0 conflict, 0 failed"
    );
    let statement =
        xtask::ledger::statement(&s.ledger(), &s.outputs.ledger_table_name, "acme", None)
            .await
            .unwrap();
    assert_eq!(
        statement.entries.len(),
        3,
        "one entry per applied event, none for duplicates"
    );
    assert!(statement.problems.is_empty());

    // A name in use is refused, in one line; so is a replay that does not exist.
    let error = replay::start(&c.events, &second)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&second.name) && error.contains("already exists"),
        "{error}"
    );
    let missing = plan(&s, from - 60_000, to, 0);
    let error = replay::describe(&c.events, &missing.name)
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains(&missing.name), "{error}");
    // An archive that does not exist.
    let error = replay::describe_archive(&c.events, "nope")
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("describe the archive nope"), "{error}");
}

/// Makes DescribeReplay report the replay FAILED (moto's replays always
/// complete at once), as AWS does when, say, the archive was deleted.
#[derive(Debug, Clone)]
struct ReportFailed;

impl Intercept for ReportFailed {
    fn name(&self) -> &'static str {
        "ReportFailed"
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(Ok(output)) = context.output_or_error_mut()
            && let Some(out) = output.downcast_mut::<DescribeReplayOutput>()
        {
            out.state = Some(ReplayState::Failed);
            out.state_reason =
                Some("Archive cc-agent-reconciler-dev-archive does not exist".into());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_replay_is_an_error_with_its_reason() {
    let config = xtask::emulator::sdk_config(xtask::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Dev).await;
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&config)
            .interceptor(ReportFailed)
            .build(),
    );
    let now = xtask::when::now_ms();
    let failing = plan(&s, now - 60_000, now, fastrand::u16(..));
    let heard = std::sync::Mutex::new(Vec::<String>::new());
    let error = replay::execute(&events, &failing, Duration::from_millis(100), &|l| {
        heard.lock().unwrap().push(l.to_owned())
    })
    .await
    .unwrap_err()
    .to_string();
    assert_eq!(
        error,
        format!(
            "the replay {} ended FAILED: Archive cc-agent-reconciler-dev-archive does not exist",
            failing.name
        )
    );
    assert!(
        heard.lock().unwrap()[0]
            .ends_with("FAILED: Archive cc-agent-reconciler-dev-archive does not exist")
    );
    // A window the archive cannot have: refused before anything starts.
    let archive = replay::describe_archive(&s.clients().events, &s.outputs.archive_name)
        .await
        .unwrap();
    assert!(replay::check_window(now, now - 1, now, &archive).is_err());
}
