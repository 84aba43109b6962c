//! A smoke run's pure parts and its polling, without AWS.

use std::time::{Duration, Instant};

use infra::{StackOutputs, Stage};
use serde_json::json;

use super::*;
use crate::models::alarms::ActionRecord;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn the_events_are_one_good_refund_and_one_invalid_one() {
    let e = SmokeEvents::new(Stage::Staging, 1_700_000_000_123, "billing.video");
    assert_eq!(e.good_job_id, "smoke-1700000000123");
    assert_eq!(e.bad_job_id, "smoke-bad-1700000000123");
    assert_eq!(e.source, "billing.video");
    assert!(reconciler_core::event::parse_detail("video.failed", &e.good_detail).is_ok());
    let err = reconciler_core::event::parse_detail("video.failed", &e.bad_detail).unwrap_err();
    assert_eq!(err.field, "detail.account_id", "{err}");
    assert_eq!(e.good_detail["account_id"], "smoke-staging");
}

#[test]
fn smoke_needs_the_stages_producer_of_refunds() {
    assert_eq!(
        producer_source(&infra::StageConfig::for_stage(Stage::Dev)).unwrap(),
        "cc-agent-reconciler.test"
    );
    let prod = producer_source(&infra::StageConfig::for_stage(Stage::Prod)).unwrap_err();
    assert!(
        prod.starts_with("stage prod names no producer of video.failed"),
        "{prod}"
    );
    assert!(prod.contains("detail_type = \"video.failed\""), "{prod}");
}

fn quiet(_: &str) {}

#[tokio::test]
async fn polling_stops_at_the_first_success() {
    let calls = Arc::new(AtomicU32::new(0));
    let c = calls.clone();
    let outcome = poll_until(
        Duration::from_secs(5),
        Duration::from_millis(10),
        &quiet,
        move || {
            let c = c.clone();
            async move {
                Ok(if c.fetch_add(1, Ordering::SeqCst) >= 2 {
                    Probe::Passed
                } else {
                    Probe::Waiting("no".into())
                })
            }
        },
    )
    .await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn polling_times_out_with_the_last_status_and_says_each_new_one() {
    let start = Instant::now();
    let heard = Mutex::new(Vec::new());
    let outcome = poll_until(
        Duration::from_millis(200),
        Duration::from_millis(20),
        &|line: &str| heard.lock().unwrap().push(line.to_owned()),
        || async { anyhow::bail!("no alarm x") },
    )
    .await;
    assert_eq!(
        outcome,
        CheckOutcome::TimedOut(Some("error: no alarm x".into()))
    );
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(heard.lock().unwrap().len(), 1, "said once, not every poll");
    let outcome = poll_until(
        Duration::from_millis(100),
        Duration::from_millis(20),
        &quiet,
        || async { Ok(Probe::Failed("boom".into())) },
    )
    .await;
    assert_eq!(outcome, CheckOutcome::Failed("boom".into()));
}

#[tokio::test]
async fn a_check_that_hangs_is_cut_at_the_timeout() {
    let start = Instant::now();
    let outcome = poll_until(
        Duration::from_millis(100),
        Duration::from_millis(10),
        &quiet,
        || async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Probe::Passed)
        },
    )
    .await;
    assert_eq!(outcome, CheckOutcome::TimedOut(None));
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_report_fails_if_any_check_failed_or_proved_nothing() {
    let ok = Check {
        name: "a".into(),
        outcome: CheckOutcome::Ok(Duration::from_millis(1500)),
        note: None,
    };
    let late = Check {
        name: "b".into(),
        outcome: CheckOutcome::TimedOut(None),
        note: Some("n".into()),
    };
    let passed = SmokeReport {
        checks: vec![ok.clone()],
    };
    assert!(passed.passed());
    assert!(passed.render().contains("ok (1.5s)"));
    let failed = SmokeReport {
        checks: vec![ok.clone(), late],
    };
    assert!(!failed.passed());
    let text = failed.render();
    assert!(text.contains("TIMED OUT") && text.contains("note: n") && text.contains("FAILED"));
    let unsure = SmokeReport {
        checks: vec![
            ok,
            Check {
                name: "alarm".into(),
                outcome: CheckOutcome::Inconclusive("already in ALARM".into()),
                note: None,
            },
        ],
    };
    assert!(
        !unsure.passed(),
        "an alarm in ALARM before the run is no pass"
    );
    assert!(unsure.render().contains("NOT CONCLUSIVE: already in ALARM"));
    assert_eq!(
        unsure.to_json(Stage::Prod),
        json!({
            "stage": "prod",
            "passed": false,
            "checks": [
                {"name": "a", "outcome": "ok", "seconds": 1.5, "detail": null, "note": null},
                {"name": "alarm", "outcome": "inconclusive", "seconds": null,
                 "detail": "already in ALARM", "note": null},
            ],
        })
    );
    assert_eq!(
        failed.to_json(Stage::Dev)["checks"][1],
        json!({"name": "b", "outcome": "timed_out", "seconds": null, "detail": null, "note": "n"})
    );
}

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:cc-agent-reconciler-ops-alerts-dev";

fn item(at_ms: i64, state: &str, topic: &str, new_state: &str) -> ActionRecord {
    let message = json!({"AlarmName": "a", "NewStateValue": new_state}).to_string();
    ActionRecord {
        at_ms,
        summary: format!(
            "{} action {topic}",
            if state == "Succeeded" {
                "Successfully executed"
            } else {
                "Failed to execute"
            }
        ),
        data: Some(
            json!({"actionState": state, "notificationResource": topic,
                   "stateUpdateTimestamp": at_ms,
                   "publishedMessage": json!({"default": message}).to_string(),
                   "error": if state == "Succeeded" { Value::Null } else { json!("AuthorizationError: not allowed") }})
            .to_string(),
        ),
    }
}

#[test]
fn the_action_ran_only_with_a_successful_publish_to_the_topic_after_the_start() {
    assert_eq!(
        sns_action_verdict(&[item(2_000, "Succeeded", TOPIC, "ALARM")], TOPIC, 1_000),
        ActionVerdict::Ran { at_ms: 2_000 }
    );
    assert_eq!(sns_action_verdict(&[], TOPIC, 1_000), ActionVerdict::NotYet);
    // Before the run: an earlier incident's notification proves nothing.
    assert_eq!(
        sns_action_verdict(&[item(500, "Succeeded", TOPIC, "ALARM")], TOPIC, 1_000),
        ActionVerdict::NotYet
    );
    // Another topic.
    assert_eq!(
        sns_action_verdict(
            &[item(
                2_000,
                "Succeeded",
                "arn:aws:sns:us-east-1:1:other",
                "ALARM"
            )],
            TOPIC,
            1_000
        ),
        ActionVerdict::NotYet
    );
    // The OK transition's notification is not the alarm's.
    assert_eq!(
        sns_action_verdict(&[item(2_000, "Succeeded", TOPIC, "OK")], TOPIC, 1_000),
        ActionVerdict::NotYet
    );
    // A failed publish says why; a later success wins.
    assert_eq!(
        sns_action_verdict(&[item(2_000, "Failed", TOPIC, "ALARM")], TOPIC, 1_000),
        ActionVerdict::Failed("AuthorizationError: not allowed".into())
    );
    assert_eq!(
        sns_action_verdict(
            &[
                item(2_000, "Failed", TOPIC, "ALARM"),
                item(3_000, "Succeeded", TOPIC, "ALARM")
            ],
            TOPIC,
            1_000
        ),
        ActionVerdict::Ran { at_ms: 3_000 }
    );
    // Without machine-readable data, the summary decides.
    let bare = ActionRecord {
        at_ms: 2_000,
        summary: format!("Successfully executed action {TOPIC}"),
        data: None,
    };
    assert_eq!(
        sns_action_verdict(&[bare], TOPIC, 1_000),
        ActionVerdict::Ran { at_ms: 2_000 }
    );
}

#[test]
fn the_command_line_parses() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        smoke: Args,
    }
    let cli = Cli::parse_from(["x", "--stage", "prod"]);
    assert_eq!(cli.smoke.timeout_seconds, 600);
    assert_eq!(cli.smoke.target.stage, Stage::Prod);
    assert!(!cli.smoke.yes);
    let cli = Cli::parse_from([
        "x",
        "--stage",
        "dev",
        "--timeout-seconds",
        "30",
        "--endpoint-url",
        "http://127.0.0.1:5000",
    ]);
    assert_eq!(cli.smoke.timeout_seconds, 30);
    assert_eq!(
        cli.smoke.target.aws.endpoint_url.as_deref(),
        Some("http://127.0.0.1:5000")
    );
    assert!(
        Cli::try_parse_from(["x", "--stage", "dev", "--bus", "b"]).is_err(),
        "the bus comes from the stack's outputs"
    );
}

#[test]
fn the_names_come_from_the_outputs_and_the_poll_interval_fits_the_timeout() {
    let outputs: std::collections::BTreeMap<String, String> = StackOutputs::REQUIRED_KEYS
        .iter()
        .map(|k| ((*k).to_owned(), format!("<{k}>")))
        .collect();
    let outputs = StackOutputs::from_outputs(&outputs).unwrap();
    let o = SmokeOptions::new(Stage::Dev, &outputs, Duration::from_secs(600));
    assert_eq!(o.poll_interval, Duration::from_secs(10));
    assert_eq!(o.bus_name, "<BusName>");
    assert_eq!(o.dead_letters.url, "<DeadLetterQueueUrl>");
    assert_eq!(o.alarm_name, "<ErrorsAlarmName>");
    assert_eq!(o.topic_arn, "<OpsAlertsTopicArn>");
    assert_eq!(o.ledger_table, "<LedgerTableName>");
    let o = SmokeOptions::new(Stage::Dev, &outputs, Duration::from_secs(2));
    assert_eq!(o.poll_interval, Duration::from_millis(500));
}
