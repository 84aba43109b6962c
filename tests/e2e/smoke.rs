//! `cargo xtask smoke` against a moto server (`operator::smoke`), on a
//! hand-built stage whose ledger rule feeds a capture queue.
//!
//! moto never evaluates alarms, runs no functions and has no alarm history
//! (`DescribeAlarmHistory` answers 500). So a background task plays AWS: it
//! applies the good event with the real handler (in process, against the
//! stage's table), sets the errors alarm to ALARM and dead-letters the bad
//! event, and records the alarm's SNS action, which an SDK interceptor on
//! the CloudWatch client serves as `DescribeAlarmHistory`'s answer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_cloudwatch::types::StateValue;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextMut;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use infra::Stage;
use operator::smoke::{self, CheckOutcome, SmokeClients, SmokeEvents, SmokeOptions};
use reconciler::handler::Handler;
use serde_json::{Value, json};
use testkit::stage::{HandBuilt, envelope, on_failure_record};

/// One `Action` item of the alarm's history, as CloudWatch records it.
#[derive(Clone, Debug)]
struct ActionItem {
    alarm: String,
    at: String,
    succeeded: bool,
    topic: String,
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl ActionItem {
    fn member(&self) -> String {
        let message = json!({"AlarmName": self.alarm, "NewStateValue": "ALARM",
                             "OldStateValue": "INSUFFICIENT_DATA"})
        .to_string();
        let data = json!({
            "actionState": if self.succeeded { "Succeeded" } else { "Failed" },
            "notificationResource": self.topic,
            "stateUpdateTimestamp": 0,
            "publishedMessage": json!({"default": message}).to_string(),
            "error": if self.succeeded { Value::Null } else { json!("KMS.AccessDeniedException") },
        });
        format!(
            "<member><AlarmName>{}</AlarmName><AlarmType>MetricAlarm</AlarmType>\
             <Timestamp>{}</Timestamp><HistoryItemType>Action</HistoryItemType>\
             <HistorySummary>{} action {}</HistorySummary><HistoryData>{}</HistoryData></member>",
            xml_escape(&self.alarm),
            self.at,
            if self.succeeded {
                "Successfully executed"
            } else {
                "Failed to execute"
            },
            xml_escape(&self.topic),
            xml_escape(&data.to_string())
        )
    }
}

/// Answers `DescribeAlarmHistory` (which moto does not implement) with the
/// recorded items, in CloudWatch's own (awsQuery) form.
#[derive(Clone, Debug, Default)]
struct AlarmHistory(Arc<Mutex<Vec<ActionItem>>>);

impl Intercept for AlarmHistory {
    fn name(&self) -> &'static str {
        "AlarmHistory"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<Metadata>().map(Metadata::name) != Some("DescribeAlarmHistory") {
            return Ok(());
        }
        let members: String = self
            .0
            .lock()
            .unwrap()
            .iter()
            .map(ActionItem::member)
            .collect();
        let xml = format!(
            "<DescribeAlarmHistoryResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\">\
             <DescribeAlarmHistoryResult><AlarmHistoryItems>{members}</AlarmHistoryItems>\
             </DescribeAlarmHistoryResult><ResponseMetadata><RequestId>r</RequestId>\
             </ResponseMetadata></DescribeAlarmHistoryResponse>"
        );
        let mut response = aws_smithy_runtime_api::http::Response::new(
            200.try_into().unwrap(),
            SdkBody::from(xml),
        );
        response.headers_mut().insert("content-type", "text/xml");
        *context.response_mut() = response;
        Ok(())
    }
}

async fn stage(stage: Stage) -> (HandBuilt, SmokeClients, AlarmHistory) {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, stage).await;
    let history = AlarmHistory::default();
    let mut clients = SmokeClients::of(&s.clients());
    clients.cloudwatch = aws_sdk_cloudwatch::Client::from_conf(
        aws_sdk_cloudwatch::config::Builder::from(&config)
            .interceptor(history.clone())
            .build(),
    );
    (s, clients, history)
}

fn options(s: &HandBuilt, timeout: Duration) -> SmokeOptions {
    let mut opts = SmokeOptions::new(s.stage, &s.outputs, timeout);
    opts.poll_interval = Duration::from_millis(300);
    opts.receive.wait_seconds = 1;
    opts
}

/// Plays AWS for one smoke run: the handler applies what reaches it; the bad
/// event fires the alarm, which notifies the topic (`notify`), and is
/// dead-lettered.
fn play_aws(
    s: &HandBuilt,
    history: &AlarmHistory,
    notify: Option<bool>,
) -> tokio::task::JoinHandle<()> {
    let sqs = s.clients().sqs;
    let cloudwatch = s.clients().cloudwatch;
    let capture_url = s.capture_url.clone();
    let dlq_url = s.outputs.dead_letter_queue_url.clone();
    let alarm = s.outputs.errors_alarm_name.clone();
    let topic = s.outputs.ops_alerts_topic_arn.clone();
    let handler = Handler::new(s.ledger());
    let history = history.clone();
    tokio::spawn(async move {
        let mut seen = 0;
        for _ in 0..30 {
            let out = sqs
                .receive_message()
                .queue_url(&capture_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await
                .unwrap();
            for m in out.messages() {
                seen += 1;
                let body = m.body().unwrap();
                match handler.handle(body.as_bytes()).await {
                    Ok(response) => assert_eq!(response.outcome.as_str(), "granted"),
                    Err(e) => {
                        assert_eq!(e.error_type(), "InvalidEvent");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        cloudwatch
                            .set_alarm_state()
                            .alarm_name(&alarm)
                            .state_value(StateValue::Alarm)
                            .state_reason("Threshold Crossed: 1 datapoint [3.0] >= 1.0")
                            .send()
                            .await
                            .unwrap();
                        if let Some(succeeded) = notify {
                            history.0.lock().unwrap().push(ActionItem {
                                alarm: alarm.clone(),
                                at: aws_smithy_types::DateTime::from_millis(
                                    operator::when::now_ms(),
                                )
                                .fmt(aws_smithy_types::date_time::Format::DateTime)
                                .unwrap(),
                                succeeded,
                                topic: topic.clone(),
                            });
                        }
                        let record: Value = serde_json::from_str(body).unwrap();
                        sqs.send_message()
                            .queue_url(&dlq_url)
                            .message_body(on_failure_record(record, "InvalidEvent", &e.to_string()))
                            .send()
                            .await
                            .unwrap();
                    }
                }
                sqs.delete_message()
                    .queue_url(&capture_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            if seen == 2 {
                return;
            }
        }
        panic!("the smoke events did not reach the bus's rule within 30 s");
    })
}

fn quiet(_: &str) {}

/// One smoke run against `s` while AWS is played (`notify`: the alarm's
/// SNS action, `None`: none).
async fn run_smoke(
    s: &HandBuilt,
    clients: &SmokeClients,
    history: &AlarmHistory,
    notify: Option<bool>,
    timeout: Duration,
) -> smoke::SmokeReport {
    let started = operator::when::now_ms();
    let events = SmokeEvents::new(s.stage, started);
    let aws = play_aws(s, history, notify);
    let report = smoke::smoke(clients, &options(s, timeout), &events, started, &quiet)
        .await
        .unwrap();
    aws.await.expect("the simulated AWS side");
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_when_the_ledger_the_alarm_its_notification_and_the_dead_letter_show() {
    let (s, clients, history) = stage(Stage::Staging).await;
    // An unrelated dead letter is there already: it must not satisfy the
    // check, and it must survive the run.
    let other = s
        .send(
            &s.outputs.dead_letter_queue_url,
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
    let started = operator::when::now_ms();
    let events = SmokeEvents::new(s.stage, started);
    let aws = play_aws(&s, &history, Some(true));
    let heard = Mutex::new(Vec::<String>::new());
    let report = smoke::smoke(
        &clients,
        &options(&s, Duration::from_secs(30)),
        &events,
        started,
        &|line| heard.lock().unwrap().push(line.to_owned()),
    )
    .await
    .unwrap();
    aws.await.expect("the simulated AWS side");
    println!("{}", report.render());
    assert!(report.passed(), "{}", report.render());
    assert_eq!(report.checks.len(), 6);
    assert!(report.checks.iter().all(|c| c.outcome.is_ok()));
    assert!(report.render().contains("Smoke test passed"));
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert!(
        names[2].contains(&format!("grant {}", events.grant_id)),
        "{names:?}"
    );
    assert!(
        names[4].contains(&s.outputs.ops_alerts_topic_arn),
        "{names:?}"
    );
    // It deleted exactly its own dead letter.
    let note = report.checks[5].note.as_deref().unwrap();
    assert!(note.starts_with("deleted it (message "), "{note}");
    let left = operator::dlq::list(
        &s.clients().sqs,
        &s.outputs.dead_letter_queue_url,
        &operator::dlq::ReceiveOptions::default(),
    )
    .await
    .unwrap()
    .letters;
    assert_eq!(
        left.iter()
            .map(|l| l.message_id.as_str())
            .collect::<Vec<_>>(),
        [other.as_str()]
    );
    // It said what it was waiting for while it waited.
    let heard = heard.lock().unwrap();
    assert!(
        heard.iter().any(|l| l.starts_with("alarm: state ")),
        "{heard:?}"
    );
    assert!(
        heard
            .iter()
            .any(|l| l.starts_with("dead letter: not in the queue yet")),
        "{heard:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_missing_notification_fails_the_smoke_test() {
    let (s, clients, history) = stage(Stage::Dev).await;
    let report = run_smoke(&s, &clients, &history, Some(false), Duration::from_secs(20)).await;
    assert!(!report.passed());
    assert_eq!(
        report.checks[4].outcome,
        CheckOutcome::Failed("the alarm's SNS action failed: KMS.AccessDeniedException".into())
    );
    assert!(report.checks[3].outcome.is_ok(), "the alarm itself fired");

    // The alarm fires but publishes nothing: timed out, said so.
    let (s, clients, history) = stage(Stage::Dev).await;
    let report = run_smoke(&s, &clients, &history, None, Duration::from_secs(8)).await;
    assert_eq!(
        report.checks[4].outcome,
        CheckOutcome::TimedOut(Some("no notification yet".into()))
    );
    assert!(report.checks[5].outcome.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_reports_timeouts_when_nothing_happens() {
    let (s, clients, _) = stage(Stage::Prod).await;
    let started = operator::when::now_ms();
    let events = SmokeEvents::new(s.stage, started);
    // Without the interceptor: moto's DescribeAlarmHistory fails (HTTP 500).
    let mut clients = clients;
    clients.cloudwatch = s.clients().cloudwatch;
    let opts = SmokeOptions::new(s.stage, &s.outputs, Duration::from_secs(2));
    let report = smoke::smoke(&clients, &opts, &events, started, &quiet)
        .await
        .unwrap();
    assert!(!report.passed());
    let outcomes: Vec<&CheckOutcome> = report.checks.iter().map(|c| &c.outcome).collect();
    assert!(outcomes[0].is_ok() && outcomes[1].is_ok(), "{outcomes:?}");
    for (i, outcome) in outcomes.iter().enumerate().skip(2) {
        assert!(
            matches!(outcome, CheckOutcome::TimedOut(_)),
            "check {i}: {outcome:?}"
        );
    }
    let text = report.render();
    assert!(
        text.contains("TIMED OUT") && text.contains("Smoke test FAILED"),
        "{text}"
    );
    // The events did go out on the stage's bus.
    assert_eq!(s.drain(&s.capture_url).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_already_in_alarm_before_the_run_is_not_a_pass() {
    let (s, clients, history) = stage(Stage::Dev).await;
    s.clients()
        .cloudwatch
        .set_alarm_state()
        .alarm_name(&s.outputs.errors_alarm_name)
        .state_value(StateValue::Alarm)
        .state_reason("an earlier incident")
        .send()
        .await
        .unwrap();
    let report = run_smoke(&s, &clients, &history, Some(true), Duration::from_secs(20)).await;
    assert!(!report.passed(), "{}", report.render());
    for check in &report.checks[3..5] {
        assert!(
            matches!(&check.outcome, CheckOutcome::Inconclusive(why) if why.contains("already in ALARM before the run")),
            "{check:?}"
        );
    }
    assert!(report.checks[2].outcome.is_ok() && report.checks[5].outcome.is_ok());
    assert!(report.render().contains("NOT CONCLUSIVE"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_hearing_the_alarms_is_a_loud_warning_on_staging_and_prod() {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Prod).await;
    let sns = s.clients().sns;
    let topic = &s.outputs.ops_alerts_topic_arn;
    let warning = operator::alerts::check_ops_alerts(&sns, Stage::Prod, topic)
        .await
        .expect("a warning");
    assert!(
        warning.contains("NOBODY HEARS THE PROD ALARMS"),
        "{warning}"
    );
    assert!(warning.contains("no subscription at all"));
    assert_eq!(
        operator::alerts::check_ops_alerts(&sns, Stage::Dev, topic).await,
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
    let subscribers = operator::alerts::ops_alert_subscribers(&sns, topic)
        .await
        .unwrap();
    assert_eq!(subscribers.confirmed.len(), 1);
    assert_eq!(subscribers.confirmed[0].endpoint, queue);
    assert_eq!(
        operator::alerts::check_ops_alerts(&sns, Stage::Prod, topic).await,
        None
    );
    // A topic that cannot be read is a warning too.
    let unreadable = operator::alerts::check_ops_alerts(
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
