//! `cargo xtask logs` against moto: lines written to the functions' log
//! groups (`PutLogEvents`), read back through `FilterLogEvents` with the
//! filter patterns the command builds. moto filters plain-text patterns but
//! ignores JSON ones (it returns every line), so `--account`/`--job` are
//! checked here through the command's own exact matching, and the JSON
//! patterns themselves are unit-tested in `operator::logs`.

use infra::Stage;
use operator::commands::logs::Cursor;
use operator::models::logs::{self, Function, LogFilter};
use serde_json::json;
use testkit::stage::HandBuilt;

/// The lines of the stage's log groups (of `function`, or both) from
/// `since_ms`, matching `pattern`.
async fn read(
    s: &HandBuilt,
    function: Option<Function>,
    since_ms: i64,
    pattern: Option<&str>,
) -> Vec<logs::LogLine> {
    logs::fetch(
        &s.clients().logs,
        &logs::log_groups(&s.outputs, function),
        since_ms,
        None,
        pattern,
        1000,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_are_read_filtered_and_rendered() {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let s = HandBuilt::create(&config, Stage::Dev).await;
    let start = operator::base::when::now_ms() - 1_000;
    let applied = |account: &str, job: &str, outcome: &str| {
        json!({"timestamp": "…", "level": "INFO", "message": "event applied", "event_id": "evt-1",
               "detail_type": "video.requested", "account_id": account, "job_id": job,
               "outcome": outcome, "available": 70, "held": 30})
        .to_string()
    };
    s.log(
        &s.outputs.handler_log_group_name,
        &[
            "START RequestId: r-1 Version: $LATEST".to_owned(),
            applied("acme", "job-1", "held"),
            applied("globex", "job-2", "rejected"),
            json!({"_aws": {"CloudWatchMetrics": []}, "Events": 1}).to_string(),
            json!({"level": "ERROR", "message": "event refused; nothing written",
                   "error_type": "InvalidEvent", "error": "invalid event: field `detail.credits` is missing"})
            .to_string(),
        ],
    )
    .await;
    s.log(
        &s.outputs.sweep_log_group_name,
        &[
            json!({"level": "INFO", "message": "sweep report", "stragglers": 1, "expired": 1,
                 "conflicts": 0, "drifted_accounts": 0, "dry_run": false, "report": "{}"})
            .to_string(),
        ],
    )
    .await;
    let c = s.clients();

    // Both functions, no filter: every line, in time order.
    let all = read(&s, None, start, None).await;
    assert_eq!(all.len(), 6, "{all:#?}");
    let rendered: Vec<String> = all
        .iter()
        .filter_map(operator::commands::logs::render)
        .collect();
    assert_eq!(
        rendered.len(),
        5,
        "the metric document is not a log line: {rendered:#?}"
    );
    let text = rendered.join("\n");
    println!("{text}");
    assert!(text.contains("handler INFO  held       video.requested  account acme  job job-1  available 70 held 30  event applied"), "{text}");
    assert!(text.contains("InvalidEvent: invalid event: field `detail.credits` is missing"));
    assert!(
        text.contains(
            "sweep   INFO  stragglers 1 expired 1 conflicts 0 drifted accounts 0  sweep report"
        ),
        "{text}"
    );
    assert!(text.contains("handler START RequestId: r-1"));

    // --function sweep: its group only.
    let sweep = read(&s, Some(Function::Sweep), start, None).await;
    assert_eq!(sweep.len(), 1);
    assert_eq!(sweep[0].function, "sweep");

    // --filter TEXT: CloudWatch Logs filters (a quoted term).
    let filter = LogFilter {
        text: Some("event refused".into()),
        ..LogFilter::default()
    };
    let pattern = logs::filter_pattern(&filter);
    assert_eq!(pattern.as_deref(), Some("\"event refused\""));
    let refused = read(&s, None, start, pattern.as_deref()).await;
    assert_eq!(refused.len(), 1, "filtered by the service: {refused:#?}");
    assert!(logs::matches(&refused[0], &filter));

    // --account: a JSON pattern (which moto ignores); the exact match here keeps acme's lines.
    let filter = LogFilter {
        account: Some("acme".into()),
        ..LogFilter::default()
    };
    let pattern = logs::filter_pattern(&filter);
    assert_eq!(pattern.as_deref(), Some(r#"{ $.account_id = "acme" }"#));
    let lines = read(&s, None, start, pattern.as_deref()).await;
    let acme: Vec<_> = lines.iter().filter(|l| logs::matches(l, &filter)).collect();
    assert_eq!(acme.len(), 1);
    assert!(acme[0].message.contains("job-1"));

    // --follow: the cursor shows each line once, then only what is new.
    let mut cursor = Cursor::new(start);
    assert_eq!(cursor.take_new(all.clone()).len(), 6);
    let again = read(&s, None, cursor.since_ms, None).await;
    assert!(
        cursor.take_new(again).is_empty(),
        "nothing new, nothing shown twice"
    );
    s.log(
        &s.outputs.handler_log_group_name,
        &[applied("acme", "job-9", "held")],
    )
    .await;
    let next = read(&s, None, cursor.since_ms, None).await;
    let new = cursor.take_new(next);
    assert_eq!(new.len(), 1, "{new:#?}");
    assert!(new[0].message.contains("job-9"));

    // A log group that does not exist: one line naming it.
    let missing = [logs::LogGroup {
        function: "handler",
        name: "/aws/lambda/nope".into(),
    }];
    let error = logs::fetch(&c.logs, &missing, start, None, None, 10)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("/aws/lambda/nope"), "{error}");
}
