//! The runbook, rehearsed: each entry of `docs/operations.md` whose failure
//! the local stack can provoke — provoked there, its alarm seen firing, the
//! entry's commands run (the `cargo xtask` binary, as a person on call runs
//! it, against the plane's endpoint) and seen to fix it. Nothing in a test
//! plays AWS's part: the test only breaks what an incident breaks, moves the
//! plane's clock, and reads what a person would read.

use std::time::Duration;

use infra::Stage;
use serde_json::{Value, json};
use testkit::plane::Plane;

use crate::plane::{Operator, start};

/// A command's exit code and what it printed (both streams).
pub(crate) struct Ran {
    pub(crate) code: Option<i32>,
    pub(crate) out: String,
    /// Standard output alone (what `--json` prints).
    pub(crate) stdout: String,
}

/// Runs `cargo xtask <args> --stage <plane's stage> --endpoint-url <plane>`
/// as an operator would, with no AWS configuration of their own.
pub(crate) async fn xtask(plane: &Plane, args: &[&str]) -> Ran {
    let home = std::env::temp_dir().join(format!("rehearsal-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = tokio::process::Command::new(testkit::lambda::binary("xtask"))
        .args(args)
        .args(["--stage", plane.ctx.stage.stage.as_str()])
        .args(["--endpoint-url", &plane.endpoint])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ran {
        code: out.status.code(),
        out: text,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The alarm's state now.
async fn state(op: &Operator, alarm: &str) -> String {
    op.alarm_state(alarm).await
}

fn alarm(name: &str) -> String {
    format!("cc-agent-reconciler-{name}-dev")
}

/// Moves the clock until `alarm` is in `wanted` (at most `limit`, a
/// minute at a time).
async fn until(plane: &Plane, op: &Operator, alarm: &str, wanted: &str, limit: Duration) {
    let mut waited = Duration::ZERO;
    while state(op, alarm).await != wanted {
        assert!(
            waited < limit,
            "{alarm} is not {wanted} after {limit:?}: {}",
            state(op, alarm).await
        );
        plane.advance(Duration::from_secs(60)).await;
        waited += Duration::from_secs(60);
    }
}

/// The message id of the only dead letter (`dlq list` shows it).
async fn only_letter(op: &Operator, plane: &Plane) -> String {
    let got = op
        .sqs
        .receive_message()
        .queue_url(&plane.outputs.dead_letter_queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert_eq!(got.messages().len(), 1, "{got:?}");
    got.messages()[0].message_id().unwrap().to_owned()
}

/// `alarm-errors` (and `alarm-dlq-messages`, `alarm-async-dropped`): a
/// producer sends an invalid event; the runbook reads the logs and the dead
/// letter, the producer is told, the letter deleted; the alarms go back to
/// OK once their windows pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_errors_an_invalid_event() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    plane.advance(Duration::from_secs(60)).await;
    let sent = xtask(
        &plane,
        &[
            "send",
            "--detail-type",
            "video.requested",
            "--detail",
            r#"{"job_id":"j1","account_id":"a1","credits":"15"}"#,
        ],
    )
    .await;
    assert_eq!(sent.code, Some(0), "{}", sent.out);
    plane.advance(Duration::from_secs(60)).await;
    assert_eq!(state(&op, &alarm("errors")).await, "ALARM");
    let status = xtask(&plane, &["status"]).await;
    assert_eq!(status.code, Some(2), "a person is needed:\n{}", status.out);
    assert!(status.out.contains(&alarm("errors")), "{}", status.out);
    // Look: the log line names the field; the letter arrives after the retries.
    let logs = xtask(
        &plane,
        &["logs", "--since", "1h", "--filter", "InvalidEvent"],
    )
    .await;
    assert!(logs.out.contains("detail.credits"), "{}", logs.out);
    plane.advance(Duration::from_secs(180)).await;
    until(
        &plane,
        &op,
        &alarm("dlq-messages"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(state(&op, &alarm("async-dropped-handler")).await, "ALARM");
    let list = xtask(&plane, &["dlq", "list"]).await;
    assert!(list.out.contains("InvalidEvent"), "{}", list.out);
    // Do: the producer fixes it; the letter is deleted.
    let id = only_letter(&op, &plane).await;
    let deleted = xtask(&plane, &["dlq", "delete", "--id", &id, "--yes"]).await;
    assert_eq!(deleted.code, Some(0), "{}", deleted.out);
    until(
        &plane,
        &op,
        &alarm("dlq-messages"),
        "OK",
        Duration::from_secs(900),
    )
    .await;
    until(
        &plane,
        &op,
        &alarm("errors"),
        "OK",
        Duration::from_secs(1800),
    )
    .await;
    for name in ["errors", "dlq-messages", "async-dropped-handler"] {
        until(&plane, &op, &alarm(name), "OK", Duration::from_secs(1800)).await;
    }
}

/// `alarm-drift`: an account edited by hand; the sweep reports drift, the
/// drift alarm fires; `ledger repair` puts the account back, a sweep proves
/// it, the alarm goes OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_drift_an_account_edited_by_hand() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
    )
    .await;
    plane.settle().await;
    op.dynamodb
        .update_item()
        .table_name(&plane.outputs.ledger_table_name)
        .set_key(Some(reconciler::store::keys::account_key("a1")))
        .update_expression("SET available = :v")
        .expression_attribute_values(
            ":v",
            aws_sdk_dynamodb::types::AttributeValue::N("107".into()),
        )
        .send()
        .await
        .unwrap();
    let sweep = xtask(&plane, &["sweep"]).await;
    assert_eq!(sweep.code, Some(2), "drift needs a person:\n{}", sweep.out);
    assert!(sweep.out.contains("a1"), "{}", sweep.out);
    until(
        &plane,
        &op,
        &alarm("drift"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    let repair = xtask(&plane, &["ledger", "repair", "a1", "--yes"]).await;
    assert_eq!(repair.code, Some(0), "{}", repair.out);
    let sweep = xtask(&plane, &["sweep"]).await;
    assert_eq!(sweep.code, Some(0), "{}", sweep.out);
    until(&plane, &op, &alarm("drift"), "OK", Duration::from_secs(300)).await;
}

/// `alarm-conflicts`: the same grant sent twice with other amounts; the
/// sweep lists the conflict; the correction is an adjustment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_conflicts_a_grant_sent_twice_with_other_amounts() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 10}),
    )
    .await;
    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 20}),
    )
    .await;
    plane.settle().await;
    until(
        &plane,
        &op,
        &alarm("conflicts"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    // The sweep lists conflicts older than a minute by the functions' own
    // clock, which the plane's does not move: a minute of real time.
    let mut listed = String::new();
    for _ in 0..24 {
        listed = xtask(&plane, &["sweep", "--dry-run"]).await.out;
        if listed.contains("grant:g1") {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    assert!(listed.contains("grant:g1"), "{listed}");
    let adjust = xtask(
        &plane,
        &[
            "ledger",
            "adjust",
            "a1",
            "--credits",
            "10",
            "--reason",
            "g1 was 20, not 10 (billing ticket 7)",
            "--yes",
        ],
    )
    .await;
    assert_eq!(adjust.code, Some(0), "{}", adjust.out);
    let statement = xtask(&plane, &["ledger", "statement", "a1"]).await;
    assert!(statement.out.contains("20"), "{}", statement.out);
    until(
        &plane,
        &op,
        &alarm("conflicts"),
        "OK",
        Duration::from_secs(1800),
    )
    .await;
}

/// `alarm-unrouted`: an event with a misspelt detail-type; `unrouted
/// resend` puts it back under the right one, once, and it applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_unrouted_a_misspelt_detail_type() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let sent = xtask(
        &plane,
        &[
            "send",
            "--detail-type",
            "credits.grantd",
            "--source",
            infra::producers::TEST_PRODUCER_SOURCE,
            "--detail",
            r#"{"grant_id":"g1","account_id":"a1","credits":40}"#,
        ],
    )
    .await;
    assert_eq!(sent.code, Some(0), "{}", sent.out);
    plane.settle().await;
    until(
        &plane,
        &op,
        &alarm("unrouted"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    let list = xtask(&plane, &["unrouted", "list"]).await;
    assert!(list.out.contains("credits.grantd"), "{}", list.out);
    let got = op
        .sqs
        .receive_message()
        .queue_url(&plane.outputs.unrouted_queue_url)
        .visibility_timeout(0)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    let id = got.messages()[0].message_id().unwrap().to_owned();
    let resend = xtask(
        &plane,
        &["unrouted", "resend", "--id", &id, "--as", "credits.granted"],
    )
    .await;
    assert_eq!(resend.code, Some(0), "{}", resend.out);
    plane.settle().await;
    let ledger = reconciler::store::Ledger::new(
        op.dynamodb.clone(),
        plane.outputs.ledger_table_name.clone(),
    );
    assert_eq!(
        ledger.account("a1", 0).await.unwrap().unwrap().available,
        40
    );
    until(
        &plane,
        &op,
        &alarm("unrouted"),
        "OK",
        Duration::from_secs(900),
    )
    .await;
}

/// `alarm-failed-invocations-ledger-events`: the handler's invoke
/// permission removed (an IAM or stack mistake); EventBridge cannot deliver
/// and dead-letters the event; the permission put back, `dlq replay`
/// applies the event, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_failed_invocations_a_permission_removed() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let lambda = aws_sdk_lambda::Client::new(&testkit::emulator::sdk_config(&plane.endpoint).await);
    let policy = lambda
        .get_policy()
        .function_name(&plane.outputs.handler_function_name)
        .send()
        .await
        .unwrap();
    let statements: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    for statement in statements["Statement"].as_array().unwrap() {
        lambda
            .remove_permission()
            .function_name(&plane.outputs.handler_function_name)
            .statement_id(statement["Sid"].as_str().unwrap())
            .send()
            .await
            .unwrap();
    }
    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 30}),
    )
    .await;
    plane.settle().await;
    until(
        &plane,
        &op,
        &alarm("failed-invocations-ledger-events"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    let list = xtask(&plane, &["dlq", "list"]).await;
    assert!(list.out.contains("NO_PERMISSIONS"), "{}", list.out);
    // The runbook's fix: the permission put back as the template has it (a
    // deploy with no change to the template does not touch it).
    lambda
        .add_permission()
        .function_name(&plane.outputs.handler_function_name)
        .statement_id("ledger-events")
        .action("lambda:InvokeFunction")
        .principal("events.amazonaws.com")
        .source_arn(&plane.outputs.ledger_events_rule_arn)
        .send()
        .await
        .unwrap();
    let replay = xtask(&plane, &["dlq", "replay", "--all"]).await;
    assert_eq!(replay.code, Some(0), "{}", replay.out);
    plane.settle().await;
    let ledger = reconciler::store::Ledger::new(
        op.dynamodb.clone(),
        plane.outputs.ledger_table_name.clone(),
    );
    assert_eq!(
        ledger.account("a1", 0).await.unwrap().unwrap().available,
        30
    );
}

/// `alarm-dlq-oldest` and the 14-day deadline: a letter nobody handles
/// raises the oldest-letter alarm after three days, well before SQS
/// deletes it at fourteen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_dlq_oldest_a_letter_left_for_days() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    op.put(
        &plane,
        "video.requested",
        json!({"job_id": "j1", "account_id": "a1", "credits": "x"}),
    )
    .await;
    plane.advance(Duration::from_secs(240)).await;
    only_letter(&op, &plane).await;
    assert_ne!(state(&op, &alarm("dlq-oldest")).await, "ALARM");
    plane
        .advance_in(
            Duration::from_secs(3 * 86_400 + 7200),
            Duration::from_secs(3600),
        )
        .await;
    assert_eq!(state(&op, &alarm("dlq-oldest")).await, "ALARM");
    let id = only_letter(&op, &plane).await;
    let deleted = xtask(&plane, &["dlq", "delete", "--id", &id, "--yes"]).await;
    assert_eq!(deleted.code, Some(0), "{}", deleted.out);
    // The alarm reads hourly maxima and looks back up to three hours for
    // a datapoint (CloudWatch's N+2): the old age leaves it after those.
    plane
        .advance_in(Duration::from_secs(4 * 3600), Duration::from_secs(3600))
        .await;
    assert_eq!(state(&op, &alarm("dlq-oldest")).await, "OK");
}

/// `alarm-sweep-not-running`: the schedule rule disabled; seven hours
/// without a sweep (CloudWatch notices within nine: it looks back N+2
/// periods for a datapoint) and the alarm fires; the rule enabled again and
/// one sweep run by hand bring it back to OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_sweep_not_running_the_schedule_disabled() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let rule = "cc-agent-reconciler-dev-sweep-schedule";
    // The first scheduled sweep, then the schedule stops.
    plane
        .advance_in(
            Duration::from_secs(6 * 3600 + 600),
            Duration::from_secs(600),
        )
        .await;
    op.events.disable_rule().name(rule).send().await.unwrap();
    plane
        .advance_in(Duration::from_secs(10 * 3600), Duration::from_secs(1800))
        .await;
    assert_eq!(state(&op, &alarm("sweep-not-running")).await, "ALARM");
    op.events.enable_rule().name(rule).send().await.unwrap();
    let swept = xtask(&plane, &["sweep"]).await;
    assert_eq!(swept.code, Some(0), "{}", swept.out);
    until(
        &plane,
        &op,
        &alarm("sweep-not-running"),
        "OK",
        Duration::from_secs(300),
    )
    .await;
}

/// A new stage's `sweep-not-running` is not left in ALARM until the
/// schedule's first run six hours later: missing data is breaching (that is
/// how a deleted schedule is noticed), so the alarm fires while the stack is
/// created, before any sweep could run; the deploy then starts one dry-run
/// sweep, whose `Invocations` bring it back to OK within minutes, and the
/// schedule keeps it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_stack_is_not_left_paging_until_its_first_scheduled_sweep() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    let name = alarm("sweep-not-running");
    until(&plane, &op, &name, "OK", Duration::from_secs(600)).await;
    plane
        .advance_in(Duration::from_secs(8 * 3600), Duration::from_secs(1800))
        .await;
    assert_eq!(state(&op, &name).await, "OK");
    let history = op
        .cloudwatch
        .describe_alarm_history()
        .alarm_name(&name)
        .send()
        .await
        .unwrap();
    let mut changes: Vec<(i64, String)> = history
        .alarm_history_items()
        .iter()
        .filter_map(|i| {
            Some((
                i.timestamp()?.to_millis().ok()?,
                i.history_summary()?.to_owned(),
            ))
        })
        .collect();
    changes.sort();
    let first_ok = changes
        .iter()
        .position(|(_, s)| s.ends_with("to OK"))
        .expect("the alarm came back to OK");
    let later: Vec<_> = changes[first_ok..]
        .iter()
        .filter(|(_, s)| s.ends_with("to ALARM"))
        .collect();
    assert!(later.is_empty(), "{changes:?}");
}

/// `alarm-ledger-throttled`: DynamoDB throttles the handler's writes; the
/// alarm fires; once it stops, Lambda's retries apply every event, none
/// lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_ledger_throttled_dynamodb_throttles_the_writes() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    fault(
        &plane,
        "operation=TransactWriteItems&fault=throttle&count=8",
    )
    .await;
    op.put(
        &plane,
        "credits.granted",
        json!({"grant_id": "g1", "account_id": "a1", "credits": 25}),
    )
    .await;
    plane.settle().await;
    until(
        &plane,
        &op,
        &alarm("ledger-throttled"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    plane.advance(Duration::from_secs(180)).await;
    let ledger = reconciler::store::Ledger::new(
        op.dynamodb.clone(),
        plane.outputs.ledger_table_name.clone(),
    );
    assert_eq!(
        ledger.account("a1", 0).await.unwrap().unwrap().available,
        25
    );
    until(
        &plane,
        &op,
        &alarm("ledger-throttled"),
        "OK",
        Duration::from_secs(1800),
    )
    .await;
}

/// `POST /_local/faults?…` on the plane.
async fn fault(plane: &Plane, query: &str) {
    let url = format!("{}/_local/faults?{query}", plane.endpoint);
    let answer = testkit::http::Upstream::new(&plane.endpoint)
        .send(&testkit::http::Request {
            method: "POST".into(),
            path: url.trim_start_matches(&plane.endpoint).to_owned(),
            headers: vec![],
            body: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(answer.status, 200, "{answer:?}");
}

/// `alarm-sweep-errors`: DynamoDB refuses the sweep's reads (a failure its
/// resends cannot outlast: here a denial, as when its role lost a
/// permission for a while); the alarm fires; the runbook runs it again, a
/// dry run first, and the alarm returns to OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_sweep_errors_dynamodb_fails_the_sweep() {
    let plane = start(Stage::Dev).await;
    let op = Operator::of(&plane).await;
    plane.advance(Duration::from_secs(60)).await;
    // The first reads of the index are refused, once each (the sweep reads
    // that many partitions at once, and starts no other read once one has
    // failed; no retry sends a refused read again).
    let failing = reconciler::store::open::OPEN_READ_CONCURRENCY;
    fault(
        &plane,
        &format!("operation=Query&fault=access-denied&count={failing}"),
    )
    .await;
    let failed = xtask(&plane, &["sweep"]).await;
    assert_ne!(failed.code, Some(0), "{}", failed.out);
    assert!(failed.out.contains("LedgerUnavailable"), "{}", failed.out);
    until(
        &plane,
        &op,
        &alarm("sweep-errors"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    let dry = xtask(&plane, &["sweep", "--dry-run"]).await;
    assert_eq!(dry.code, Some(0), "{}", dry.out);
    let swept = xtask(&plane, &["sweep"]).await;
    assert_eq!(swept.code, Some(0), "{}", swept.out);
    until(
        &plane,
        &op,
        &alarm("sweep-errors"),
        "OK",
        Duration::from_secs(300),
    )
    .await;
}

/// `alarm-throttles`: the handler held to one instance and a burst of
/// events; Lambda throttles and retries them; the runbook waits, every
/// event is applied once, and the alarm returns to OK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarm_throttles_a_burst_beyond_the_reserved_concurrency() {
    let mut config = infra::StageConfig::load(Stage::Dev).unwrap();
    config.handler_reserved_concurrency = Some(1);
    let plane = crate::plane::start_with(config).await;
    let op = Operator::of(&plane).await;
    plane.advance(Duration::from_secs(60)).await;
    let burst = (0..12).map(|i| {
        op.put(
            &plane,
            "credits.granted",
            json!({"grant_id": format!("g{i}"), "account_id": format!("a{i}"), "credits": 10}),
        )
    });
    for put in burst {
        put.await;
    }
    plane.settle().await;
    until(
        &plane,
        &op,
        &alarm("throttles"),
        "ALARM",
        Duration::from_secs(300),
    )
    .await;
    plane
        .advance_in(Duration::from_secs(1800), Duration::from_secs(60))
        .await;
    let ledger = reconciler::store::Ledger::new(
        op.dynamodb.clone(),
        plane.outputs.ledger_table_name.clone(),
    );
    for i in 0..12 {
        let account = ledger.account(&format!("a{i}"), 0).await.unwrap();
        assert_eq!(account.map(|a| a.available), Some(10), "a{i}");
    }
    assert!(
        op.messages(&plane.outputs.dead_letter_queue_url)
            .await
            .is_empty()
    );
    assert_eq!(state(&op, &alarm("throttles")).await, "OK");
}

/// `key-state`: on staging someone disables the stage key; the key-state
/// rule pages the on-call with the call, the key and who made it; the
/// runbook's `aws kms enable-key` undoes it and the stage is healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_state_the_stage_key_disabled() {
    let plane = start(Stage::Staging).await;
    let op = Operator::of(&plane).await;
    let pager = op.pager(&plane.outputs.ops_alerts_topic_arn).await;
    plane.advance(Duration::from_secs(60)).await;
    op.drain(&pager).await;
    let kms = aws_sdk_kms::Client::new(&testkit::emulator::sdk_config(&plane.endpoint).await);
    let key = plane
        .outputs
        .kms_key_arn
        .clone()
        .expect("staging encrypts with its own key");
    kms.disable_key().key_id(&key).send().await.unwrap();
    plane.settle().await;
    let pages = op.drain(&pager).await;
    let page = pages
        .iter()
        .find(|page| page.contains("DisableKey"))
        .unwrap_or_else(|| panic!("no page names DisableKey: {pages:?}"));
    let key_id = key.rsplit('/').next().unwrap();
    assert!(page.contains(key_id), "the page names the key: {page}");
    kms.enable_key().key_id(&key).send().await.unwrap();
    let described = kms.describe_key().key_id(&key).send().await.unwrap();
    assert!(described.key_metadata().unwrap().enabled());
    let swept = xtask(&plane, &["sweep", "--dry-run"]).await;
    assert_eq!(swept.code, Some(0), "{}", swept.out);
}
