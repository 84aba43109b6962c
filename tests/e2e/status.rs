//! `cargo xtask status` against a stage deployed to its own moto server
//! (`operator::deploy::deploy` with the test build's packages): the names come
//! from the deployed stack's outputs. moto skips the alarms of a stack, so
//! the test creates the alarms the stack would have (`PutMetricAlarm`, names
//! from `AlarmNames`), then sets their state, fills the queues, writes sweep
//! reports to the sweep's log group and leaves a hold to age, and checks the
//! report, the screen and the exit code.

use std::process::ExitCode;

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use infra::{Architecture, Stage, StageConfig};
use operator::aws::{AwsArgs, Clients, Session, Target};
use operator::commands::Console;
use operator::commands::status;
use operator::deploy::DeployOptions;
use reconciler::store::Ledger;
use serde_json::json;
use testkit::emulator::moto::Moto;

async fn put_alarm(cloudwatch: &aws_sdk_cloudwatch::Client, name: &str) {
    cloudwatch
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/Lambda")
        .metric_name("Errors")
        .statistic(Statistic::Sum)
        .period(300)
        .evaluation_periods(1)
        .threshold(1.0)
        .comparison_operator(ComparisonOperator::GreaterThanOrEqualToThreshold)
        .send()
        .await
        .unwrap();
}

fn seven_hours_ago() -> i64 {
    reconciler::store::now_ms() - 7 * 3_600_000
}

/// `cargo xtask status` as the binary runs it (its own runtime, the stage
/// file, `--endpoint-url`): its exit code.
fn status_command(endpoint: &str) -> ExitCode {
    let args = status::Args {
        target: Target {
            stage: Stage::Dev,
            aws: AwsArgs {
                endpoint_url: Some(endpoint.to_owned()),
                ..AwsArgs::default()
            },
        },
        json: false,
    };
    std::thread::spawn(move || status::run(args))
        .join()
        .unwrap()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_a_deployed_stage_and_says_when_a_person_is_needed() {
    let tools = operator::base::tools::ensure().expect("the pinned tools (cargo xtask tools)");
    let moto = Moto::start(&tools).expect("start a moto server");
    let aws = AwsArgs {
        endpoint_url: Some(moto.endpoint.clone()),
        ..AwsArgs::default()
    };
    let mut config = StageConfig::for_stage(Stage::Dev);
    config.architecture = Architecture::X86_64;
    let session = Session::with_config(config.clone(), &aws).await.unwrap();

    // Not deployed yet: one line saying so, for status and every console command.
    let clients = operator::aws::Clients::new(&session.config);
    let error = status::gather(&session, &clients, operator::base::when::now_ms())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cc-agent-reconciler-dev does not exist"),
        "{error}"
    );
    assert!(error.contains("cargo xtask deploy --stage dev"), "{error}");
    let error = Console::from_session(session.clone())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("deploy it first") && !error.contains('\n'),
        "{error}"
    );

    let mut opts = DeployOptions::new(config.clone());
    opts.output.dir = std::env::temp_dir().join(format!("status-{}", std::process::id()));
    opts.code = operator::deploy::CodeSource::Build(operator::base::build::Source::Prebuilt(
        testkit::prebuilt_artifacts(),
    ));
    operator::deploy::deploy(
        &Clients::new(&session.config),
        &tools,
        &opts,
        &operator::base::ui::Recorder::default(),
    )
    .await
    .expect("deploy dev");
    let console = Console::from_session(session).await.unwrap();
    let o = &console.outputs;
    assert_eq!(o.dead_letter_queue_name, "cc-agent-reconciler-dlq-dev");
    let c = &console.clients;

    // The alarms are missing (moto skipped them): that needs a person.
    let now = operator::base::when::now_ms();
    let report = status::gather(&console.session, c, now).await.unwrap();
    let why = report.needs_a_person(&config);
    // Every alarm of dev's stack: 33 (the key-state rule's two only with keys).
    assert_eq!(o.alarm_name_list().len(), 33);
    assert_eq!(why.len(), o.alarm_name_list().len(), "{why:#?}");
    assert!(
        why.iter()
            .all(|w| w.contains("does not exist (nobody would be paged)"))
    );
    for name in o.alarm_name_list() {
        put_alarm(&c.cloudwatch, name).await;
    }

    // A fresh stage: nothing needs a person.
    let report = status::gather(&console.session, c, operator::base::when::now_ms())
        .await
        .unwrap();
    let text = status::render(&report, &config, false);
    println!("{text}");
    assert!(report.needs_a_person(&config).is_empty(), "{text}");
    assert!(
        report.stack.status.as_str().ends_with("_COMPLETE"),
        "{:?}",
        report.stack
    );
    let code = report.code.as_ref().unwrap();
    assert_eq!(code.len(), 2);
    for c in code {
        assert!(
            c.deployed_key
                .as_deref()
                .is_some_and(|k| k.starts_with(&format!("{}/", c.function))),
            "{c:?}"
        );
        assert!(c.code_sha256.is_some(), "Lambda's CodeSha256: {c:?}");
    }
    for part in [
        "cc-agent-reconciler-dev: account 123456789012, region us-east-1",
        "(emulator)",
        "cc-agent-reconciler-errors-dev",
        "DLQ        cc-agent-reconciler-dlq-dev: empty",
        "no sweep report in the last 2d0h",
        "0 HELD job(s) older than the hold timeout (6h0m)",
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards/dashboard/cc-agent-reconciler-dev",
        "All clear.",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    assert_eq!(status_command(&moto.endpoint), ExitCode::SUCCESS);

    // Trouble: an alarm, dead letters, an unrouted event, a sweep that found
    // drift, and a hold older than the timeout.
    c.cloudwatch
        .set_alarm_state()
        .alarm_name(&o.errors_alarm_name)
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [2.0] >= 1.0")
        .send()
        .await
        .unwrap();
    for body in ["{}", "not json"] {
        c.sqs
            .send_message()
            .queue_url(&o.dead_letter_queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    c.sqs
        .send_message()
        .queue_url(&o.unrouted_queue_url)
        .message_body(json!({"detail-type": "video.renderd", "detail": {}}).to_string())
        .send()
        .await
        .unwrap();
    let clean =
        json!({"stragglers": 0, "expired": 0, "conflicts": 0, "drift": [], "summary": "clean"});
    let drift = json!({"stragglers": 1, "expired": 1, "conflicts": 2, "drifted_accounts": 1,
        "drift": [{"account_id": "acme", "problems": ["available: stored 82, the ledger entries sum to 75"]}],
        "summary": "1 straggler found, 1 expired; 2 conflicts; drift in 1 of 4 audited accounts."});
    let line = |report: &serde_json::Value| {
        json!({"timestamp": "…", "level": "INFO", "message": "sweep report", "run_id": "sweep:x",
               "stragglers": report["stragglers"], "report": report.to_string()})
        .to_string()
    };
    let stream = "2026/11/29/[$LATEST]abc";
    c.logs
        .create_log_stream()
        .log_group_name(&o.sweep_log_group_name)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap();
    let at = operator::base::when::now_ms();
    c.logs
        .put_log_events()
        .log_group_name(&o.sweep_log_group_name)
        .log_stream_name(stream)
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at - 1000)
                .message(line(&clean))
                .build()
                .unwrap(),
        )
        .log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(at)
                .message(line(&drift))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let old =
        Ledger::new(c.dynamodb.clone(), o.ledger_table_name.clone()).with_clock(seven_hours_ago);
    for event in [
        testkit::events::grant("g1", "acme", 100),
        testkit::events::req("job-old", "acme", 30),
    ] {
        old.apply(&event, "seed").await.unwrap();
    }
    console
        .ledger()
        .apply(&testkit::events::req("job-new", "acme", 10), "seed")
        .await
        .unwrap();

    let report = status::gather(&console.session, c, operator::base::when::now_ms())
        .await
        .unwrap();
    let text = status::render(&report, &config, false);
    println!("{text}");
    let why = report.needs_a_person(&config).join("\n");
    for part in [
        "alarm cc-agent-reconciler-errors-dev is in ALARM: docs/operations.md#alarm-errors",
        "2 dead letter(s) in cc-agent-reconciler-dlq-dev: docs/operations.md#alarm-dlq-messages",
        "1 unrouted event(s) in cc-agent-reconciler-unrouted-dev",
        "found ledger drift in 1 account(s): acme",
        "1 hold(s) older than the hold timeout (6h0m)",
    ] {
        assert!(why.contains(part), "{part:?} in\n{why}");
    }
    assert_eq!(report.needs_a_person(&config).len(), 5, "{why}");
    let dlq = report.dead_letters.as_ref().unwrap();
    assert_eq!((dlq.depth(), dlq.read), (2, 2));
    assert!(
        dlq.oldest_sent_ms
            .is_some_and(|t| t <= operator::base::when::now_ms())
    );
    let last = report.last_sweep.as_ref().unwrap().as_ref().unwrap();
    assert_eq!(last.at_ms, at, "the newest report line");
    assert_eq!((last.summary.stragglers, last.summary.conflicts), (1, 2));
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("ALARM ")
            && l.contains("cc-agent-reconciler-errors-dev")
            && l.contains("Threshold Crossed")),
        "{text}"
    );
    for part in [
        "cc-agent-reconciler-dlq-dev: 2 message(s) (2 visible, 0 in flight), oldest",
        "SQS deletes it in 13d23h",
        "stragglers 1, expired 1, conflicts 2, drift 1 (acme)",
        "1 HELD job(s) older than the hold timeout",
        "NEEDS A PERSON (exit code 2):",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    // Reading the queues consumed nothing.
    assert_eq!(
        operator::models::queues::approximate_counts(&c.sqs, &o.dead_letter_queue_url)
            .await
            .unwrap(),
        (2, 0)
    );
    assert_eq!(status_command(&moto.endpoint), ExitCode::from(2));
    let _ = std::fs::remove_dir_all(&opts.output.dir);
}
