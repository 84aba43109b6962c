//! `cargo xtask dlq` and `cargo xtask smoke` against a moto server: the same
//! library functions the commands run (`xtask::dlq`, `xtask::smoke`).
//!
//! moto cannot deliver EventBridge events to Lambda targets (PutEvents then
//! fails), so the stage's real stack is not used here. Instead each test
//! builds what the commands touch, named as the stack names it: the DLQ
//! `cc-agent-reconciler-dlq-<stage>`, the bus `cc-agent-reconciler-<stage>`
//! with a rule on SPEC §2's detail-types targeting a *capture queue* (moto
//! delivers the full envelope to SQS), and, for smoke, the errors alarm
//! `cc-agent-reconciler-errors-<stage>`. moto never evaluates alarms, so a
//! background task plays AWS: it sets the alarm to ALARM and dead-letters the
//! bad event.
//!
//! Each test has its own moto server: the names are per stage.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use aws_sdk_sqs::types::{MessageAttributeValue, QueueAttributeName};

use infra::Stage;
use reconciler_core::event::DETAIL_TYPES;
use serde_json::{Value, json};
use xtask::dlq::{self, Replay, ReplayAction, ReplayOptions, Selection, Shape};
use xtask::emulator::moto::Moto;
use xtask::smoke::{self, CheckOutcome, SmokeClients, SmokeEvents, SmokeOptions};
use xtask::tools::Tools;

/// A private moto server from the project's virtualenv.
fn private_moto() -> Moto {
    let tools = Tools::installed().unwrap();
    Moto::start(&tools).expect("start a moto server")
}

/// The stage's DLQ and bus on a private moto, the bus's rule feeding a capture queue.
struct Env {
    _moto: Moto,
    stage: Stage,
    sqs: aws_sdk_sqs::Client,
    events: aws_sdk_eventbridge::Client,
    cloudwatch: aws_sdk_cloudwatch::Client,
    dlq_url: String,
    capture_url: String,
}

impl Env {
    async fn start(stage: Stage) -> Env {
        let moto = private_moto();
        let config = xtask::emulator::sdk_config(&moto.endpoint).await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let events = aws_sdk_eventbridge::Client::new(&config);
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
        let dlq_url = create_queue(&sqs, &dlq::queue_name(stage)).await;
        let capture_url = create_queue(&sqs, &format!("capture-{stage}")).await;
        let capture_arn = sqs
            .get_queue_attributes()
            .queue_url(&capture_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes()
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let bus = dlq::default_bus_name(stage);
        events.create_event_bus().name(&bus).send().await.unwrap();
        let rule = format!("cc-agent-reconciler-{stage}-ledger-events");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(json!({ "detail-type": DETAIL_TYPES }).to_string())
            .send()
            .await
            .unwrap();
        let targets = events
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("capture")
                    .arn(capture_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(targets.failed_entry_count(), 0);
        Env {
            _moto: moto,
            stage,
            sqs,
            events,
            cloudwatch,
            dlq_url,
            capture_url,
        }
    }

    /// Sends a dead letter to the DLQ; returns its message id.
    async fn dead_letter(&self, body: &str, attributes: &[(&str, &str)]) -> String {
        send_dead_letter(&self.sqs, &self.dlq_url, body, attributes).await
    }

    /// Every message the capture queue received (consumed).
    async fn captured(&self) -> Vec<Value> {
        let mut all = Vec::new();
        for _ in 0..10 {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.capture_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            if out.messages().is_empty() {
                break;
            }
            for m in out.messages() {
                all.push(serde_json::from_str(m.body().unwrap()).unwrap());
                self.sqs
                    .delete_message()
                    .queue_url(&self.capture_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
        all
    }

    async fn list(&self) -> Vec<dlq::DeadLetter> {
        dlq::list(&self.sqs, &self.dlq_url, 1000).await.unwrap()
    }
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned()
}

async fn send_dead_letter(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    body: &str,
    attributes: &[(&str, &str)],
) -> String {
    let mut send = sqs.send_message().queue_url(url).message_body(body);
    for (name, value) in attributes {
        send = send.message_attributes(
            *name,
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(*value)
                .build()
                .unwrap(),
        );
    }
    send.send().await.unwrap().message_id().unwrap().to_owned()
}

fn envelope(detail_type: &str, detail: Value) -> Value {
    json!({"version": "0", "id": "evt-original", "detail-type": detail_type,
           "source": "video.service", "account": "123456789012",
           "time": "2026-11-29T10:00:00Z", "region": "us-east-1", "resources": [],
           "detail": detail})
}

fn on_failure_record(payload: Value, error_type: &str, message: &str) -> String {
    json!({
        "version": "1.0",
        "timestamp": "2026-11-29T10:00:05.000Z",
        "requestContext": {
            "requestId": "5e0b1c1e-0000-4000-8000-000000000001",
            "functionArn": "arn:aws:lambda:us-east-1:123456789012:function:cc-agent-reconciler-dev-handler:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3
        },
        "requestPayload": payload,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorType": error_type, "errorMessage": message}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_replayed_and_purged() {
    let env = Env::start(Stage::Dev).await;
    let eb_detail = json!({"job_id": "job-eb", "account_id": "acme", "reason": "gpu"});
    let eb_id = env
        .dead_letter(
            &envelope("video.failed", eb_detail.clone()).to_string(),
            &[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Rate Exceeded."),
                (
                    "RULE_ARN",
                    "arn:aws:events:us-east-1:123456789012:rule/cc-agent-reconciler-dev/x",
                ),
                (
                    "TARGET_ARN",
                    "arn:aws:lambda:us-east-1:123456789012:function:cc-agent-reconciler-dev-handler",
                ),
            ],
        )
        .await;
    let lambda_detail = json!({"grant_id": "g-lambda", "account_id": "acme", "credits": 7});
    let lambda_id = env
        .dead_letter(
            &on_failure_record(
                envelope("credits.granted", lambda_detail.clone()),
                "DynamoDbError",
                "throttled",
            ),
            &[],
        )
        .await;
    let sweep_id = env
        .dead_letter(
            &on_failure_record(
                json!({"older_than_seconds": 3600, "dry_run": false}),
                "SweepError",
                "table not found",
            ),
            &[],
        )
        .await;
    let unknown_id = env.dead_letter("hello, not a dead letter", &[]).await;

    // list: every message, classified, and nothing consumed (twice in a row).
    for _ in 0..2 {
        let letters = env.list().await;
        let by_id: HashMap<&str, &dlq::DeadLetter> =
            letters.iter().map(|l| (l.message_id.as_str(), l)).collect();
        assert_eq!(by_id.len(), 4, "{letters:#?}");
        let eb = &by_id[eb_id.as_str()].classification;
        assert_eq!(eb.shape, Shape::EventBridgeTarget);
        assert_eq!(eb.detail_type.as_deref(), Some("video.failed"));
        assert_eq!(eb.business_key.as_deref(), Some("job-eb"));
        assert_eq!(eb.error_type.as_deref(), Some("SDK_CLIENT_ERROR"));
        let lambda = &by_id[lambda_id.as_str()].classification;
        assert_eq!(lambda.shape, Shape::LambdaOnFailure);
        assert_eq!(lambda.business_key.as_deref(), Some("g-lambda"));
        assert_eq!(lambda.error_type.as_deref(), Some("DynamoDbError"));
        let sweep = &by_id[sweep_id.as_str()].classification;
        assert_eq!(
            (sweep.shape, &sweep.replay),
            (Shape::LambdaOnFailure, &Replay::Sweep)
        );
        let unknown = &by_id[unknown_id.as_str()].classification;
        assert_eq!(
            (unknown.shape, &unknown.replay),
            (Shape::Unknown, &Replay::Unknown)
        );
        assert!(
            letters.iter().all(|l| l.sent_at_ms.is_some()),
            "SentTimestamp"
        );
        let table = dlq::table(&letters, dlq::now_ms());
        assert_eq!(table.lines().count(), 5, "{table}");
    }

    let mut opts = ReplayOptions {
        selection: Selection::All,
        dry_run: true,
        bus_name: dlq::default_bus_name(env.stage),
        stage: env.stage,
    };
    // A dry run sends nothing and deletes nothing.
    let dry = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    assert_eq!(
        dry.iter()
            .filter(|o| o.action == ReplayAction::WouldReplay)
            .count(),
        2
    );
    assert!(env.captured().await.is_empty());
    assert_eq!(env.list().await.len(), 4);

    // replay --all: the two business events go back on the bus, the others stay.
    opts.dry_run = false;
    let outcomes = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    let action = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.message_id == id)
            .map(|o| o.action.clone())
            .unwrap()
    };
    assert_eq!(action(&eb_id), ReplayAction::Replayed, "{outcomes:#?}");
    assert_eq!(action(&lambda_id), ReplayAction::Replayed);
    assert!(
        matches!(action(&sweep_id), ReplayAction::Kept(why) if why.contains("invoke the sweep"))
    );
    assert!(matches!(action(&unknown_id), ReplayAction::Kept(_)));
    assert!(!outcomes.iter().any(dlq::ReplayOutcome::is_failure));
    let report = dlq::replay_report(&outcomes, false);
    assert!(report.contains("2 replayed, 2 kept"), "{report}");

    let captured = env.captured().await;
    let mut got: BTreeMap<String, (Value, Value)> = captured
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap().to_owned(),
                (e["detail"].clone(), e["source"].clone()),
            )
        })
        .collect();
    assert_eq!(captured.len(), 2, "{captured:#?}");
    assert_eq!(
        got.remove("video.failed"),
        Some((eb_detail, json!("video.service")))
    );
    assert_eq!(
        got.remove("credits.granted"),
        Some((lambda_detail, json!("video.service")))
    );

    let left: Vec<String> = env.list().await.into_iter().map(|l| l.message_id).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&sweep_id) && left.contains(&unknown_id));

    // replay --id of an unknown id: not found (a failure), nothing sent.
    opts.selection = Selection::Ids(vec!["no-such-id".into(), sweep_id.clone()]);
    let outcomes = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .any(|o| o.message_id == "no-such-id" && o.action == ReplayAction::NotFound)
    );
    assert!(env.captured().await.is_empty());

    // A bus that does not exist: PutEvents fails, the message stays.
    let eb_again = env
        .dead_letter(
            &envelope(
                "video.requested",
                json!({"job_id": "j2", "account_id": "a", "credits": 1}),
            )
            .to_string(),
            &[("ERROR_CODE", "X")],
        )
        .await;
    opts.selection = Selection::Ids(vec![eb_again.clone()]);
    opts.bus_name = "no-such-bus".into();
    let outcomes = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[0].action, ReplayAction::Failed(_)),
        "{outcomes:#?}"
    );
    assert_eq!(env.list().await.len(), 3);

    // purge: empty.
    dlq::purge(&env.sqs, &env.dlq_url).await.unwrap();
    assert!(env.list().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_kept_by_replay_and_deleted_by_id() {
    let env = Env::start(Stage::Dev).await;
    // Refused by the handler: credits is not a number.
    let invalid_id = env
        .dead_letter(
            &on_failure_record(
                envelope(
                    "video.requested",
                    json!({"job_id": "job-bad", "account_id": "acme", "credits": "x"}),
                ),
                "InvalidEvent",
                "invalid event: field `detail.credits` must be a JSON number",
            ),
            &[],
        )
        .await;
    // Not delivered (a transient failure), but invalid anyway: no account_id.
    let undeliverable_invalid_id = env
        .dead_letter(
            &envelope("video.failed", json!({"job_id": "job-no-account"})).to_string(),
            &[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Rate Exceeded."),
            ],
        )
        .await;
    // Failed for a transient reason: replayed.
    let transient_detail = json!({"grant_id": "g-1", "account_id": "acme", "credits": 3});
    let transient_id = env
        .dead_letter(
            &on_failure_record(
                envelope("credits.granted", transient_detail.clone()),
                "LedgerUnavailable",
                "DynamoDB timed out",
            ),
            &[],
        )
        .await;
    let unknown_id = env.dead_letter("not a dead letter", &[]).await;

    let mut opts = ReplayOptions {
        selection: Selection::All,
        dry_run: true,
        bus_name: dlq::default_bus_name(env.stage),
        stage: env.stage,
    };
    let dry = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    let would: Vec<&str> = dry
        .iter()
        .filter(|o| o.action == ReplayAction::WouldReplay)
        .map(|o| o.message_id.as_str())
        .collect();
    assert_eq!(would, [transient_id.as_str()], "{dry:#?}");

    // replay --all: only the transient failure goes back on the bus.
    opts.dry_run = false;
    let outcomes = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    let action = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.message_id == id)
            .map(|o| o.action.clone())
            .unwrap()
    };
    assert_eq!(
        action(&transient_id),
        ReplayAction::Replayed,
        "{outcomes:#?}"
    );
    for (id, field) in [
        (&invalid_id, "detail.credits"),
        (&undeliverable_invalid_id, "detail.account_id"),
    ] {
        let ReplayAction::Kept(why) = action(id) else {
            panic!("{id} not kept: {outcomes:#?}");
        };
        assert!(why.starts_with("invalid: "), "{why}");
        assert!(why.contains(field), "{why}");
        assert!(why.contains("fix the producer"), "{why}");
        assert!(
            why.contains(&format!("dlq delete --stage dev --id {id}")),
            "{why}"
        );
    }
    assert!(!outcomes.iter().any(dlq::ReplayOutcome::is_failure));
    let report = dlq::replay_report(&outcomes, false);
    assert!(report.contains("1 replayed, 3 kept"), "{report}");
    let captured = env.captured().await;
    assert_eq!(captured.len(), 1, "{captured:#?}");
    assert_eq!(captured[0]["detail"], transient_detail);

    // Replaying again sends nothing: the invalid ones are still kept.
    let again = dlq::replay(&env.sqs, &env.events, &env.dlq_url, &opts)
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|o| matches!(o.action, ReplayAction::Kept(_))),
        "{again:#?}"
    );
    assert!(env.captured().await.is_empty());

    // delete --id: exactly that letter goes; an unknown id is reported.
    let outcomes = dlq::delete(
        &env.sqs,
        &env.dlq_url,
        &[invalid_id.clone(), "no-such-id".into(), invalid_id.clone()],
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes
            .iter()
            .map(|o| (o.message_id.as_str(), &o.action))
            .collect::<Vec<_>>(),
        [
            (invalid_id.as_str(), &dlq::DeleteAction::Deleted),
            ("no-such-id", &dlq::DeleteAction::NotFound),
        ]
    );
    assert_eq!(outcomes[0].business_key.as_deref(), Some("job-bad"));
    let mut left: Vec<String> = env.list().await.into_iter().map(|l| l.message_id).collect();
    left.sort();
    let mut expected = vec![undeliverable_invalid_id.clone(), unknown_id.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert!(env.captured().await.is_empty());

    // Deleting it again: not found, nothing else touched.
    let outcomes = dlq::delete(&env.sqs, &env.dlq_url, std::slice::from_ref(&invalid_id))
        .await
        .unwrap();
    assert_eq!(outcomes[0].action, dlq::DeleteAction::NotFound);
    assert_eq!(env.list().await.len(), 2);
}

/// An alarm named like the stage's errors alarm (moto keeps it in INSUFFICIENT_DATA).
async fn put_errors_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, stage: Stage) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(smoke::errors_alarm_name(stage))
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .dimensions(
            aws_sdk_cloudwatch::types::Dimension::builder()
                .name("FunctionName")
                .value(format!("cc-agent-reconciler-{stage}-handler"))
                .build(),
        )
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_when_the_alarm_fires_and_the_bad_event_is_dead_lettered() {
    let env = Env::start(Stage::Staging).await;
    put_errors_alarm(&env.cloudwatch, env.stage).await;
    // An unrelated dead letter is there already: it must not satisfy the check.
    env.dead_letter(
        &on_failure_record(
            envelope(
                "video.requested",
                json!({"job_id": "other", "account_id": "a", "credits": "x"}),
            ),
            "InvalidEvent",
            "bad",
        ),
        &[],
    )
    .await;
    let events = SmokeEvents::new(env.stage, dlq::now_ms());
    let mut opts = SmokeOptions::new(env.stage, Duration::from_secs(30));
    opts.poll_interval = Duration::from_millis(300);

    // Plays AWS: once the bad event is on the bus (the capture queue has it),
    // the handler's failures fire the alarm and the on-failure destination
    // dead-letters it.
    let aws = {
        let (sqs, cloudwatch, capture_url, dlq_url, stage) = (
            env.sqs.clone(),
            env.cloudwatch.clone(),
            env.capture_url.clone(),
            env.dlq_url.clone(),
            env.stage,
        );
        let bad_job_id = events.bad_job_id.clone();
        tokio::spawn(async move {
            let mut bad = None;
            for _ in 0..30 {
                let out = sqs
                    .receive_message()
                    .queue_url(&capture_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                let found = out.messages().iter().find_map(|m| {
                    let e: Value = serde_json::from_str(m.body().unwrap()).unwrap();
                    (e["detail"]["job_id"] == bad_job_id.as_str()).then_some(e)
                });
                if found.is_some() {
                    bad = found;
                    break;
                }
            }
            let bad = bad.expect("the bad event reached the bus within 30 s");
            assert_eq!(bad["detail"]["credits"], "not-a-number");
            tokio::time::sleep(Duration::from_secs(1)).await;
            cloudwatch
                .set_alarm_state()
                .alarm_name(smoke::errors_alarm_name(stage))
                .state_value(StateValue::Alarm)
                .state_reason("Threshold Crossed: 1 datapoint [3.0] >= 1.0")
                .send()
                .await
                .unwrap();
            send_dead_letter(
                &sqs,
                &dlq_url,
                &on_failure_record(bad, "InvalidEvent", "invalid event: field `detail.credits`"),
                &[],
            )
            .await;
        })
    };

    let clients = SmokeClients {
        events: env.events.clone(),
        sqs: env.sqs.clone(),
        cloudwatch: env.cloudwatch.clone(),
    };
    let report = smoke::smoke(&clients, &opts, &events).await.unwrap();
    aws.await.expect("the simulated AWS side");
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.checks.len(), 4);
    assert!(report.checks.iter().all(|c| c.outcome.is_ok()));
    assert!(report.render().contains("Smoke test passed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_reports_timeouts_when_nothing_happens() {
    let env = Env::start(Stage::Prod).await;
    put_errors_alarm(&env.cloudwatch, env.stage).await;
    let events = SmokeEvents::new(env.stage, dlq::now_ms());
    let opts = SmokeOptions::new(env.stage, Duration::from_secs(2));
    let clients = SmokeClients {
        events: env.events.clone(),
        sqs: env.sqs.clone(),
        cloudwatch: env.cloudwatch.clone(),
    };
    let start = std::time::Instant::now();
    let report = smoke::smoke(&clients, &opts, &events).await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "bounded by the timeout"
    );
    assert!(!report.passed());
    let outcomes: Vec<&CheckOutcome> = report.checks.iter().map(|c| &c.outcome).collect();
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok(), "{outcomes:?}");
    assert_eq!(outcomes[2], &CheckOutcome::TimedOut(None));
    assert_eq!(outcomes[3], &CheckOutcome::TimedOut(None));
    let text = report.render();
    assert!(
        text.contains("TIMED OUT") && text.contains("Smoke test FAILED"),
        "{text}"
    );
    // The events did go out on the stage's bus.
    assert_eq!(env.captured().await.len(), 2);
}
