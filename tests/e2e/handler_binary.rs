//! The release `reconciler-handler` binary, driven through a Lambda Runtime
//! API against moto, with only the environment the template gives it (plus
//! what Lambda itself sets).

use std::process::Child;

use reconciler_core::contract::handler_env;
use serde_json::json;
use testkit::runtime_api::{Reply, RuntimeApi};

/// Starts the binary like Lambda would, with `template_env`.
fn start(api: &RuntimeApi, template_env: &[(&str, String)]) -> Child {
    let binary = testkit::lambda::binary("reconciler-handler");
    testkit::lambda::start(
        &binary,
        "cc-agent-reconciler-dev-handler",
        256,
        api,
        template_env,
    )
}

fn event(detail_type: &str, detail: serde_json::Value) -> Vec<u8> {
    json!({"version": "0", "id": format!("evt-{:x}", fastrand::u32(..)), "detail-type": detail_type,
           "source": "video.service", "account": "123456789012", "time": "2026-11-29T00:00:00Z",
           "region": "us-east-1", "resources": [], "detail": detail})
    .to_string()
    .into_bytes()
}

#[tokio::test]
async fn the_release_binary_applies_events_and_refuses_bad_ones() {
    let sdk = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = testkit::fresh_table(&client, "binary").await;
    let api = RuntimeApi::start().await;
    let mut child = start(
        &api,
        &[
            (handler_env::STAGE, "dev".into()),
            (handler_env::LEDGER_TABLE, table.clone()),
        ],
    );

    let granted = api
        .invoke(&event(
            "credits.granted",
            json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
        ))
        .await;
    assert_eq!(
        granted,
        Reply::Ok(
            json!({"outcome": "granted", "account": {"account_id": "a1", "available": 100, "held": 0}})
        )
    );
    api.invoke(&event(
        "video.requested",
        json!({"job_id": "j1", "account_id": "a1", "credits": 40}),
    ))
    .await;
    let debited = api
        .invoke(&event(
            "video.rendered",
            json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
        ))
        .await;
    assert_eq!(
        debited,
        Reply::Ok(json!({"outcome": "debited",
            "account": {"account_id": "a1", "available": 75, "held": 0},
            "job": {"job_id": "j1", "status": "DEBITED"}}))
    );
    // A redelivery with a new EventBridge id: a duplicate.
    let again = api
        .invoke(&event(
            "video.rendered",
            json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
        ))
        .await;
    assert!(
        matches!(&again, Reply::Ok(v) if v["outcome"] == "duplicate"),
        "{again:?}"
    );

    for (bad, field) in [
        (
            event(
                "video.rendered",
                json!({"job_id": "j1", "account_id": "a1", "credits": 2.5}),
            ),
            "detail.credits",
        ),
        (
            event("video.paused", json!({"job_id": "j1", "account_id": "a1"})),
            "detail-type",
        ),
        (b"{oops".to_vec(), "$"),
    ] {
        match api.invoke(&bad).await {
            Reply::Error {
                error_type,
                message,
            } => {
                assert_eq!(error_type, "InvalidEvent");
                assert!(message.contains(field), "{message:?} should name {field}");
            }
            ok => panic!("{} was accepted: {ok:?}", String::from_utf8_lossy(&bad)),
        }
    }
    // Replayed from the archive (EventBridge adds `replay-name`): a
    // duplicate, and one the handler refuses; both logged and counted as
    // replayed.
    let replayed = |detail_type: &str, detail: serde_json::Value| {
        let mut e: serde_json::Value = serde_json::from_slice(&event(detail_type, detail)).unwrap();
        e["replay-name"] = json!("cc-agent-reconciler-dev-r1");
        e.to_string().into_bytes()
    };
    let again = api
        .invoke(&replayed(
            "video.rendered",
            json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
        ))
        .await;
    assert!(
        matches!(&again, Reply::Ok(v) if v["outcome"] == "duplicate"),
        "{again:?}"
    );
    let refused = api
        .invoke(&replayed(
            "video.rendered",
            json!({"job_id": "j1", "account_id": "a1"}),
        ))
        .await;
    assert!(matches!(refused, Reply::Error { .. }), "{refused:?}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let of_replay = |l: &&serde_json::Value| l["replay_name"] == "cc-agent-reconciler-dev-r1";
    let duplicate = lines
        .iter()
        .filter(of_replay)
        .find(|l| l["outcome"] == "duplicate")
        .unwrap_or_else(|| panic!("the replayed duplicate is logged with its replay:\n{logs}"));
    assert_eq!(
        duplicate["business_key"], "job:j1:video.rendered",
        "{duplicate}"
    );
    let invalid = lines
        .iter()
        .filter(of_replay)
        .find(|l| l["error_type"] == "InvalidEvent")
        .unwrap_or_else(|| panic!("the refused replayed event is logged with its replay:\n{logs}"));
    assert!(
        invalid["event_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("evt-")),
        "{invalid}"
    );
    let replayed_metric = |outcome: &str| {
        lines.iter().any(|l| {
            l.get("_aws").is_some() && l["Outcome"] == outcome && l.get("ReplayedEvents").is_some()
        })
    };
    assert!(
        replayed_metric("duplicate") && replayed_metric("not-applied"),
        "ReplayedEvents by Outcome:\n{logs}"
    );
    let applied = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "event applied" && l["outcome"] == "debited")
        .unwrap_or_else(|| panic!("no JSON log line for the debit in:\n{logs}"));
    for field in [
        "event_id",
        "detail_type",
        "account_id",
        "job_id",
        "latency_ms",
    ] {
        assert!(
            applied.get(field).is_some(),
            "log line lacks {field}: {applied}"
        );
    }
    assert!(
        logs.contains("\"_aws\"") && logs.contains("CcAgentReconciler"),
        "EMF metrics are written:\n{logs}"
    );
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_its_configuration() {
    let api = RuntimeApi::start().await;
    let child = start(&api, &[(handler_env::STAGE, "dev".into())]);
    let text = testkit::lambda::refusal_output(child);
    assert!(
        text.contains("LEDGER_TABLE"),
        "the missing variable is named:\n{text}"
    );
}
