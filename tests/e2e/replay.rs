//! `cargo xtask replay` against moto (`operator::replay`): a hand-built stage's
//! bus with an archive of the ledger events and the ledger rule feeding a
//! capture queue (moto cannot deliver to a Lambda target). What reaches the
//! queue is handed to the real `reconciler-handler` binary through the
//! Lambda Invoke API shim, which ships its log lines to the handler's log
//! group: the command's count of outcomes reads those.
//!
//! moto replays synchronously (COMPLETED at once, no progress); the
//! project's moto launcher makes it honour the window and `FilterArns` as
//! AWS does (moto itself replays the whole archive to every rule).

use std::time::Duration;

use aws_sdk_eventbridge::operation::describe_replay::DescribeReplayOutput;
use aws_sdk_eventbridge::types::ReplayState;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextMut;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use infra::Stage;
use operator::commands::replay::{self, ReplayPlan};
use operator::models::invoke::Invoked;
use serde_json::Value;
use testkit::lambda_api::LambdaShim;
use testkit::stage::HandBuilt;

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
        let answer = operator::models::invoke::invoke(
            lambda,
            &s.outputs.handler_function_name,
            envelope,
            false,
            std::time::Duration::from_secs(30),
        )
        .await
        .unwrap();
        assert!(matches!(answer, Invoked::Response(_)), "{answer:?}");
    }
    envelopes
}

async fn balances(s: &HandBuilt, account: &str) -> (i64, i64) {
    let a = s.ledger().account(account, 0).await.unwrap().unwrap();
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
    let group = &operator::models::logs::log_groups(
        &s.outputs,
        Some(operator::models::logs::Function::Handler),
    )[0];
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
    replay::plan(s.stage, &s.outputs, (from_ms, to_ms), None, nonce).unwrap()
}

/// The producers' events of the tests: two accounts, a grant each, a job
/// each (one rendered, one failed).
const PRODUCED: [(&str, &str); 6] = [
    (
        "credits.granted",
        r#"{"grant_id": "g1", "account_id": "acme", "credits": 100}"#,
    ),
    (
        "video.requested",
        r#"{"job_id": "j1", "account_id": "acme", "credits": 30}"#,
    ),
    (
        "video.rendered",
        r#"{"job_id": "j1", "account_id": "acme", "credits": 25}"#,
    ),
    (
        "credits.granted",
        r#"{"grant_id": "g2", "account_id": "globex", "credits": 50}"#,
    ),
    (
        "video.requested",
        r#"{"job_id": "j2", "account_id": "globex", "credits": 20}"#,
    ),
    (
        "video.failed",
        r#"{"job_id": "j2", "account_id": "globex", "reason": "gpu"}"#,
    ),
];

/// Puts [`PRODUCED`] on the stage's bus; their live deliveries are lost
/// (drained from the capture queue: the rule was disabled, say).
async fn produce_and_lose(s: &HandBuilt) {
    let c = s.clients();
    for (detail_type, detail) in PRODUCED {
        let detail: Value = serde_json::from_str(detail).unwrap();
        operator::models::events::put_event(
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
}

/// A hand-built stage with the real handler behind the Lambda API shim.
async fn stage_with_handler() -> (HandBuilt, LambdaShim) {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Dev).await;
    let shim = LambdaShim::start(&config).await;
    shim.add_function(
        &s.outputs.handler_function_name,
        "reconciler-handler",
        &testkit::lambda::handler_env("dev", &s.outputs.ledger_table_name),
        &s.outputs.handler_log_group_name,
    )
    .await;
    (s, shim)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_a_window_twice_applies_it_once() {
    let (s, shim) = stage_with_handler().await;
    let lambda = shim.client();
    let c = s.clients();
    let from = operator::base::when::now_ms() - 60_000;
    produce_and_lose(&s).await;
    assert!(s.ledger().account("acme", 0).await.unwrap().is_none());
    let to = operator::base::when::now_ms();

    // The dry run: what the API tells, nothing started.
    let archive = replay::describe_archive(&c.events, &s.outputs.archive_name)
        .await
        .unwrap();
    assert_eq!(archive.event_count, 6);
    assert_eq!(archive.retention_days, Some(7));
    let warnings =
        replay::check_window(from, to, operator::base::when::now_ms(), &archive).unwrap();
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
    let statement = operator::commands::ledger::statement(
        &s.ledger(),
        &s.outputs.ledger_table_name,
        "acme",
        None,
    )
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
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Dev).await;
    let events = aws_sdk_eventbridge::Client::from_conf(
        aws_sdk_eventbridge::config::Builder::from(&config)
            .interceptor(ReportFailed)
            .build(),
    );
    let now = operator::base::when::now_ms();
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

/// A console on the hand-built stage, as `Console::open` makes one for a
/// deployed stack, with `stage`'s configuration.
async fn console(s: &HandBuilt, stage: Stage) -> operator::commands::Console {
    let aws = operator::aws::AwsArgs {
        endpoint_url: Some(testkit::emulator::moto::shared_endpoint().to_owned()),
        ..operator::aws::AwsArgs::default()
    };
    let session = operator::aws::Session::with_config(infra::StageConfig::for_stage(stage), &aws)
        .await
        .unwrap();
    operator::commands::Console {
        clients: s.clients(),
        outputs: s.outputs.clone(),
        session,
    }
}

fn request(from_ms: i64, to_ms: i64, detail_type: Option<&str>, dry_run: bool) -> replay::Request {
    replay::Request {
        from_ms,
        to_ms,
        detail_type: detail_type.map(str::to_owned),
        dry_run,
        yes: false,
        interactive: false,
        poll: Duration::from_millis(200),
        log_wait: Duration::from_millis(500),
    }
}

/// The replays of the stage's archive (other tests replay other archives).
async fn replays_of(s: &HandBuilt) -> usize {
    s.clients()
        .events
        .list_replays()
        .event_source_arn(&s.outputs.archive_arn)
        .send()
        .await
        .unwrap()
        .replays()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detail_type_replays_only_its_events_and_prod_asks_first() {
    let (s, shim) = stage_with_handler().await;
    let lambda = shim.client();
    let from = operator::base::when::now_ms() - 60_000;
    produce_and_lose(&s).await;
    let to = operator::base::when::now_ms();
    let dev = console(&s, Stage::Dev).await;

    // A detail-type that is none of the ledger's: refused, nothing started.
    let out = operator::base::ui::Recorder::default();
    let typo = replay::replay_stage(&dev, &request(from, to, Some("video.renderd"), false), &out)
        .await
        .unwrap_err()
        .to_string();
    assert!(typo.contains("not a ledger detail-type"), "{typo}");

    // The dry run says which rule and starts nothing.
    let out = operator::base::ui::Recorder::default();
    let dry = replay::replay_stage(
        &dev,
        &request(from, to, Some("credits.granted"), true),
        &out,
    )
    .await
    .unwrap();
    assert!(matches!(dry, replay::Replayed::DryRun(_)));
    assert!(
        out.text().contains("the replays of credits.granted")
            && out.text().contains("replay-credits-granted"),
        "{}",
        out.text()
    );
    assert_eq!(replays_of(&s).await, 0, "a dry run starts nothing");

    // Prod without --yes and without a terminal: refused, nothing started.
    let prod = console(&s, Stage::Prod).await;
    let refused = replay::replay_stage(&prod, &request(from, to, None, false), &out)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("pass --yes"), "{refused}");
    assert_eq!(replays_of(&s).await, 0);

    // The grants only: onto their replay rule, which alone sees the replay.
    let out = operator::base::ui::Recorder::default();
    let done = replay::replay_stage(
        &dev,
        &request(from, to, Some("credits.granted"), false),
        &out,
    )
    .await
    .unwrap();
    let replay::Replayed::Completed(plan, _) = done else {
        panic!("completed: {}", out.text());
    };
    assert!(
        plan.rule_arn.ends_with("-replay-credits-granted"),
        "{}",
        plan.rule_arn
    );
    let envelopes = deliver(&s, &lambda).await;
    let types: Vec<&str> = envelopes
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["credits.granted", "credits.granted"],
        "{envelopes:#?}"
    );
    assert!(
        envelopes
            .iter()
            .all(|e| e["replay-name"] == plan.name.as_str())
    );
    assert_eq!(balances(&s, "acme").await, (100, 0));
    assert_eq!(balances(&s, "globex").await, (50, 0));
    let group = &operator::models::logs::log_groups(
        &s.outputs,
        Some(operator::models::logs::Function::Handler),
    )[0];
    let counts = replay::handler_outcomes(
        &s.clients().logs,
        group,
        &plan.name,
        plan.from_ms,
        Duration::from_millis(300),
        Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(
        counts.line(),
        "2 replayed: 0 duplicate, 2 applied (granted 2), 0 conflict, 0 failed"
    );

    // Then the whole window: the grants come back as duplicates, the rest applies.
    let all = replay::replay_stage(&dev, &request(from, to, None, false), &out)
        .await
        .unwrap();
    assert!(matches!(all, replay::Replayed::Completed(..)));
    assert_eq!(
        deliver(&s, &lambda).await.len(),
        6,
        "each event once: one rule"
    );
    assert_eq!(balances(&s, "acme").await, (75, 0));
    assert_eq!(balances(&s, "globex").await, (50, 0));
}
