//! The release `reconciler-sweep` binary, driven through a Lambda Runtime API
//! against moto, with only the environment the template gives it (plus what
//! Lambda itself sets).

use std::process::Child;

use reconciler::store::{Ledger, now_ms};
use reconciler_core::contract::sweep_env;
use reconciler_core::event::Event;
use serde_json::{Value, json};
use testkit::runtime_api::{Reply, RuntimeApi};

/// The template's environment for a stage without a summarizer.
fn template_env(table: &str) -> Vec<(&'static str, String)> {
    testkit::lambda::sweep_env("dev", table)
}

/// Starts the binary like Lambda would, with `template_env`.
fn start(api: &RuntimeApi, template_env: &[(&str, String)]) -> Child {
    let binary = testkit::lambda::binary("reconciler-sweep");
    testkit::lambda::start(
        &binary,
        "cc-agent-reconciler-dev-sweep",
        512,
        api,
        template_env,
    )
}

/// Stops the binary and returns its log lines that are JSON.
fn stop(mut child: Child) -> Vec<Value> {
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn seven_hours_ago() -> i64 {
    now_ms() - 7 * 3_600_000
}

/// A fresh table where `a1` has two holds taken 7 hours ago and one just now.
async fn table_with_stragglers() -> (aws_config::SdkConfig, String) {
    let sdk = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = testkit::fresh_table(&client, "sweep-binary").await;
    let old = Ledger::new(client.clone(), table.clone()).with_clock(seven_hours_ago);
    let events = [
        Event::Granted {
            grant_id: "g1".into(),
            account_id: "a1".into(),
            credits: 100,
        },
        Event::Requested {
            job_id: "j1".into(),
            account_id: "a1".into(),
            credits: 30,
        },
        Event::Requested {
            job_id: "j2".into(),
            account_id: "a1".into(),
            credits: 20,
        },
    ];
    for event in &events {
        old.apply(event, "seed").await.unwrap();
    }
    let fresh = Event::Requested {
        job_id: "j3".into(),
        account_id: "a1".into(),
        credits: 10,
    };
    Ledger::new(client, table.clone())
        .apply(&fresh, "seed")
        .await
        .unwrap();
    (sdk, table)
}

fn ok(reply: Reply) -> Value {
    match reply {
        Reply::Ok(v) => v,
        error => panic!("the sweep failed: {error:?}"),
    }
}

#[tokio::test]
async fn the_release_binary_sweeps_and_reports() {
    let (_, table) = table_with_stragglers().await;
    let api = RuntimeApi::start().await;
    let child = start(&api, &template_env(&table));

    // A manual dry run first: finds everything older than 0 s, changes nothing.
    let dry = ok(api
        .invoke(br#"{"older_than_seconds": 0, "dry_run": true}"#)
        .await);
    assert_eq!(
        (&dry["stragglers"], &dry["expired"], &dry["dry_run"]),
        (&json!(3), &json!(0), &json!(true))
    );
    assert_eq!(dry["older_than_seconds"], 0);

    // What the schedule rule sends: the stage's defaults.
    let report = ok(api.invoke(b"{}").await);
    assert_eq!(report["stragglers"], 2);
    assert_eq!(report["expired"], 2);
    assert_eq!(report["conflicts"], 0);
    assert_eq!(report["drift"], json!([]));
    assert_eq!(
        report["summary"],
        "2 stragglers found, 2 expired; 0 conflicts since the last sweep; \
         ledger drift in 0 of 1 audited account."
    );
    assert_eq!(report["complete"], true);
    assert!(report["run_id"].as_str().unwrap().starts_with("sweep:req-"));
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    for key in ["stragglers", "expired", "conflicts", "drift", "summary"] {
        assert!(
            keys.iter().any(|k| *k == key),
            "contract key {key} in {report}"
        );
    }

    // The whole scheduled-event envelope is accepted too.
    let scheduled = json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2026-11-29T00:00:00Z",
        "region": "us-east-1", "resources": [], "detail": {}});
    let report = ok(api.invoke(scheduled.to_string().as_bytes()).await);
    assert_eq!(
        (&report["stragglers"], &report["trigger"]),
        (&json!(0), &json!("schedule"))
    );

    // The deadline comes from the Runtime API: 5 s left is inside the margin.
    let late = ok(api
        .invoke_with_deadline(br#"{"older_than_seconds": 0}"#, now_ms() + 5_000)
        .await);
    assert_eq!(
        (&late["complete"], &late["expired"]),
        (&json!(false), &json!(0))
    );
    assert_eq!(
        late["remaining"],
        json!(["stragglers", "audit", "conflicts"])
    );

    for (bad, field) in [
        (&br#"{"dry_run": "yes"}"#[..], "dry_run"),
        (br#"{"older_than_seconds": -5}"#, "older_than_seconds"),
        (br#"{"dryrun": true}"#, "dryrun"),
        (br#"{"detail-type": "video.rendered"}"#, "detail-type"),
        (b"{oops", "$"),
    ] {
        match api.invoke(bad).await {
            Reply::Error {
                error_type,
                message,
            } => {
                assert_eq!(error_type, "InvalidInput", "{message}");
                assert!(
                    message.contains(&format!("`{field}`")),
                    "{message:?} should name {field}"
                );
            }
            ok => panic!("{} was accepted: {ok:?}", String::from_utf8_lossy(bad)),
        }
    }

    let logs = stop(child);
    let reports: Vec<&Value> = logs
        .iter()
        .filter(|l| l["message"] == "sweep report")
        .collect();
    assert_eq!(reports.len(), 4, "one report line per sweep");
    let logged: Value = serde_json::from_str(reports[1]["report"].as_str().unwrap()).unwrap();
    assert_eq!(logged["stragglers"], 2);
    assert_eq!(reports[1]["expired"], 2);
    let emf: Vec<&Value> = logs.iter().filter(|l| l.get("_aws").is_some()).collect();
    assert_eq!(emf.len(), 4, "metrics after every sweep");
    let metrics = &emf[1];
    assert_eq!(
        metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "CcAgentReconciler"
    );
    assert_eq!(
        metrics["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        json!([["Stage"]])
    );
    assert_eq!(metrics["Stage"], "dev");
    for (name, value) in [
        ("Stragglers", 2.0),
        ("Expired", 2.0),
        ("LedgerDrift", 0.0),
        ("SweepConflicts", 0.0),
    ] {
        assert_eq!(metrics[name].as_f64(), Some(value), "{name} in {metrics}");
    }
    // The dry run's metrics: what it found, not what it would have done.
    for (name, value) in [
        ("Stragglers", 3.0),
        ("Expired", 0.0),
        ("SweepConflicts", 0.0),
    ] {
        assert_eq!(emf[0][name].as_f64(), Some(value), "{name} in {}", emf[0]);
    }
}

#[tokio::test]
async fn the_binary_summarizes_with_a_key_from_ssm() {
    let (sdk, table) = table_with_stragglers().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let parameter = format!(
        "/cc-agent-reconciler/binary-{:08x}/api-key",
        fastrand::u32(..)
    );
    let key = format!("sk-binary-{:016x}", fastrand::u64(..));
    ssm.put_parameter()
        .name(&parameter)
        .value(&key)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    // A one-shot fake chat-completions server.
    let (sent, received) = tokio::sync::mpsc::unbounded_channel();
    let server = testkit::http::serve(testkit::http::handler(move |request| {
        let _ = sent.send(request);
        async {
            let body = json!({"choices": [{"message": {"role": "assistant",
                "content": "Two stale holds released; the ledger is exact."}}]});
            Some(testkit::http::Response::json(200, &body))
        }
    }))
    .await
    .unwrap();
    let base_url = format!("{}/v1", server.endpoint());

    let mut env = template_env(&table);
    for (name, value) in env.iter_mut() {
        match *name {
            sweep_env::SUMMARIZER_BASE_URL => *value = base_url.clone(),
            sweep_env::SUMMARIZER_MODEL => *value = "gpt-test".into(),
            sweep_env::SUMMARIZER_API_KEY_PARAMETER => *value = parameter.clone(),
            sweep_env::SUMMARIZER_TIMEOUT_MS => *value = "5000".into(),
            _ => {}
        }
    }
    let api = RuntimeApi::start().await;
    let child = start(&api, &env);
    let report = ok(api.invoke(b"{}").await);
    assert_eq!(
        report["summary"],
        "Two stale holds released; the ledger is exact."
    );
    assert_eq!(report["summary_source"], "model");
    assert_eq!(report["expired"], 2);
    let mut received = received;
    let request = received.recv().await.unwrap();
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    let logs = stop(child);
    assert!(!logs.is_empty());
    for line in &logs {
        assert!(
            !line.to_string().contains(&key),
            "the key is logged: {line}"
        );
    }
}

#[tokio::test]
async fn the_binary_refuses_to_start_without_its_configuration() {
    let api = RuntimeApi::start().await;
    let mut env = template_env("t");
    env.retain(|(name, _)| *name != sweep_env::STRAGGLER_ACTION);
    let child = start(&api, &env);
    let text = testkit::lambda::refusal_output(child);
    assert!(
        text.contains("STRAGGLER_ACTION"),
        "the missing variable is named:\n{text}"
    );
}
