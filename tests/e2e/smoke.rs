//! `cargo xtask smoke` (`operator::commands::smoke`) against the local
//! stack (`testkit::plane`): the stage's real template running, with nothing
//! in the test playing AWS's part. The test only moves the plane's clock
//! (Lambda's retries wait one minute, then two; CloudWatch evaluates each
//! minute) while smoke waits, and cuts one link of the chain as an operator
//! could (disable the rule, the alarm's actions, a role's statement) to see
//! smoke name it.

use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use infra::Stage;
use operator::commands::smoke::{self, CheckOutcome, SmokeClients, SmokeEvents, SmokeOptions};
use serde_json::Value;
use testkit::plane::Plane;
use testkit::stage::HandBuilt;

use crate::plane::start;

/// The clients an operator's smoke run has, at the plane's endpoint.
async fn clients(plane: &Plane) -> SmokeClients {
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    SmokeClients::of(&operator::aws::Clients::new(&config))
}

/// Runs smoke on `plane` as the command does (dev's producer of refunds),
/// moving the plane's clock a minute every half second meanwhile.
async fn smoke_on(plane: &Plane, timeout: Duration) -> smoke::SmokeReport {
    let config = infra::StageConfig::for_stage(Stage::Dev);
    let source = smoke::producer_source(&config).unwrap();
    let mut opts = SmokeOptions::new(Stage::Dev, &plane.outputs, timeout);
    opts.poll_interval = Duration::from_millis(300);
    let started = operator::base::when::now_ms();
    let events = SmokeEvents::new(Stage::Dev, started, &source);
    let clients = clients(plane).await;
    let run = smoke::smoke(&clients, &opts, &events, started, &|_| {});
    let clock = async {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            plane.advance(Duration::from_secs(60)).await;
        }
    };
    tokio::select! {
        report = run => report.unwrap(),
        () = clock => unreachable!("the clock never stops"),
    }
}

fn outcome<'a>(report: &'a smoke::SmokeReport, name_part: &str) -> &'a CheckOutcome {
    &report
        .checks
        .iter()
        .find(|c| c.name.contains(name_part))
        .unwrap_or_else(|| panic!("no check named …{name_part}… in {report:?}"))
        .outcome
}

/// The whole chain, run: the good refund applied, the bad event's three
/// attempts ending in the dead-letter queue, the errors alarm in ALARM and
/// its notification published; smoke deletes its own dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_against_the_local_stack() {
    let plane = start(Stage::Dev).await;
    let report = smoke_on(&plane, Duration::from_secs(120)).await;
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.checks.len(), 6, "{}", report.render());
    let letter = report.checks.last().unwrap();
    assert!(
        letter
            .note
            .as_deref()
            .is_some_and(|n| n.starts_with("deleted it")),
        "{letter:?}"
    );
}

/// A disabled rule (no producer named, or an operator's mistake) is named
/// before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_rule_is_named_before_anything_is_sent() {
    let plane = start(Stage::Dev).await;
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    aws_sdk_eventbridge::Client::new(&config)
        .disable_rule()
        .name(&plane.outputs.ledger_events_rule_name)
        .event_bus_name(&plane.outputs.bus_name)
        .send()
        .await
        .unwrap();
    let report = smoke_on(&plane, Duration::from_secs(30)).await;
    assert!(!report.passed());
    assert_eq!(report.checks.len(), 1, "{}", report.render());
    let CheckOutcome::Failed(why) = outcome(&report, &plane.outputs.ledger_events_rule_name) else {
        panic!("{}", report.render());
    };
    assert!(why.contains("DISABLED"), "{why}");
}

/// An alarm whose actions are off can never notify: named at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_that_cannot_notify_is_named_before_anything_is_sent() {
    let plane = start(Stage::Dev).await;
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    aws_sdk_cloudwatch::Client::new(&config)
        .disable_alarm_actions()
        .alarm_names(&plane.outputs.errors_alarm_name)
        .send()
        .await
        .unwrap();
    let report = smoke_on(&plane, Duration::from_secs(30)).await;
    assert_eq!(report.checks.len(), 1, "{}", report.render());
    let CheckOutcome::Failed(why) = outcome(&report, "notifies") else {
        panic!("{}", report.render());
    };
    assert!(why.contains("(disabled)"), "{why}");
}

/// The handler's role without its DynamoDB statement: the good event fails
/// three times and lands in the dead-letter queue, and smoke names the
/// refusal it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_missing_an_action_is_named_by_the_refusal() {
    let plane = start(Stage::Dev).await;
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    let handler = plane
        .ctx
        .functions
        .get(&plane.outputs.handler_function_name)
        .unwrap();
    remove_statements(&config, &handler.config.role_arn, "dynamodb:").await;
    let report = smoke_on(&plane, Duration::from_secs(120)).await;
    assert!(!report.passed());
    let CheckOutcome::Failed(why) = outcome(&report, "good event applied") else {
        panic!("{}", report.render());
    };
    assert!(
        why.contains("is in cc-agent-reconciler-dlq-dev instead"),
        "{why}"
    );
    assert!(
        why.contains("not authorized to perform: dynamodb:"),
        "{why}"
    );
}

/// An alarm in ALARM before the run proves nothing: not a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_already_in_alarm_before_the_run_is_not_a_pass() {
    let plane = start(Stage::Dev).await;
    let config = testkit::emulator::sdk_config(&plane.endpoint).await;
    aws_sdk_cloudwatch::Client::new(&config)
        .set_alarm_state()
        .alarm_name(&plane.outputs.errors_alarm_name)
        .state_value(StateValue::Alarm)
        .state_reason("an earlier incident")
        .send()
        .await
        .unwrap();
    let report = smoke_on(&plane, Duration::from_secs(120)).await;
    assert!(!report.passed(), "{}", report.render());
    assert!(
        matches!(outcome(&report, "in ALARM"), CheckOutcome::Inconclusive(_)),
        "{}",
        report.render()
    );
}

/// Removes from every inline policy of `role_arn` the statements with an
/// action starting with `prefix`, as an operator editing the role would.
async fn remove_statements(config: &aws_config::SdkConfig, role_arn: &str, prefix: &str) {
    let iam = aws_sdk_iam::Client::new(config);
    let role = role_arn.rsplit('/').next().unwrap();
    let names = iam
        .list_role_policies()
        .role_name(role)
        .send()
        .await
        .unwrap();
    for name in names.policy_names() {
        let got = iam
            .get_role_policy()
            .role_name(role)
            .policy_name(name)
            .send()
            .await
            .unwrap();
        let text = testkit::plane::iam::percent_decoded(got.policy_document());
        let mut document: Value = serde_json::from_str(&text).unwrap();
        let statements = document["Statement"].as_array_mut().unwrap();
        statements.retain(|s| {
            let actions = match &s["Action"] {
                Value::Array(a) => a.clone(),
                one => vec![one.clone()],
            };
            !actions
                .iter()
                .any(|a| a.as_str().is_some_and(|a| a.starts_with(prefix)))
        });
        iam.put_role_policy()
            .role_name(role)
            .policy_name(name)
            .policy_document(document.to_string())
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_hearing_the_alarms_is_a_loud_warning_on_staging_and_prod() {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Prod).await;
    let sns = s.clients().sns;
    let topic = &s.outputs.ops_alerts_topic_arn;
    let warning = operator::models::alerts::check_ops_alerts(&sns, Stage::Prod, topic)
        .await
        .expect("a warning");
    assert!(
        warning.contains("NOBODY HEARS THE PROD ALARMS"),
        "{warning}"
    );
    assert!(warning.contains("no subscription at all"));
    assert_eq!(
        operator::models::alerts::check_ops_alerts(&sns, Stage::Dev, topic).await,
        None
    );
    // A confirmed subscriber (moto confirms every protocol at once).
    let queue = s.outputs.dead_letter_queue_arn.clone();
    sns.subscribe()
        .topic_arn(topic)
        .protocol("sqs")
        .endpoint(&queue)
        .send()
        .await
        .unwrap();
    let subscribers = operator::models::alerts::ops_alert_subscribers(&sns, topic)
        .await
        .unwrap();
    assert_eq!(subscribers.confirmed.len(), 1);
    assert_eq!(subscribers.confirmed[0].endpoint, queue);
    assert_eq!(
        operator::models::alerts::check_ops_alerts(&sns, Stage::Prod, topic).await,
        None
    );
    // A topic that cannot be read is a warning too.
    let unreadable = operator::models::alerts::check_ops_alerts(
        &sns,
        Stage::Staging,
        "arn:aws:sns:us-east-1:123456789012:nope",
    )
    .await
    .unwrap();
    assert!(
        unreadable.contains("could not check who hears the staging alarms"),
        "{unreadable}"
    );
}
