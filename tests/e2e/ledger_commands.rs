//! `cargo xtask ledger statement|job|adjust` and `cargo xtask sweep` against
//! moto: reads through the store's read API on a hand-built stage's table;
//! `adjust` and `sweep` invoke the functions through the Lambda Invoke API
//! shim (`testkit::lambda_api`), which runs the real `reconciler-handler` and
//! `reconciler-sweep` binaries against the same table.

use infra::Stage;
use operator::commands::ledger::{self, Adjustment};
use operator::models::invoke::Invoked;
use reconciler::store::Ledger;
use reconciler_core::ledger::JobStatus;
use serde_json::json;
use testkit::lambda_api::LambdaShim;
use testkit::stage::HandBuilt;

/// How long the functions may run: the stage's handler timeout.
const RUNS_UP_TO: std::time::Duration = std::time::Duration::from_secs(30);

async fn stage() -> HandBuilt {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    HandBuilt::create(&config, Stage::Dev).await
}

fn hours_ago(h: i64) -> i64 {
    reconciler::store::now_ms() - h * 3_600_000
}

/// acme: granted 100, two jobs held 7 hours ago (one then rendered), one just now.
async fn seed(s: &HandBuilt) {
    let old = s.ledger().with_clock(|| hours_ago(7));
    for event in [
        testkit::events::grant("g-100", "acme", 100),
        testkit::events::req("job-1", "acme", 30),
        testkit::events::req("job-2", "acme", 20),
        testkit::events::rendered("job-1", "acme", 25),
    ] {
        old.apply(&event, "evt-seed").await.unwrap();
    }
    s.ledger()
        .apply(&testkit::events::req("job-3", "acme", 10), "evt-now")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_and_a_job_history_read_the_ledger_without_a_scan() {
    let s = stage().await;
    seed(&s).await;
    let table = &s.outputs.ledger_table_name;
    let now = operator::base::when::now_ms();
    let statement = ledger::statement(&s.ledger(), table, "acme", None)
        .await
        .unwrap();
    assert_eq!(
        (statement.account.available, statement.account.held),
        (45, 30)
    );
    assert_eq!(statement.entries.len(), 5);
    assert!(statement.problems.is_empty(), "{:?}", statement.problems);
    let holds: Vec<(&str, i64)> = statement
        .open_holds
        .iter()
        .map(|h| (h.job.job_id.as_str(), h.hold))
        .collect();
    assert_eq!(
        holds,
        [("job-2", 20), ("job-3", 10)],
        "oldest first; job-1 settled"
    );
    let text = ledger::render_statement(&statement, table, now);
    println!("{text}");
    assert!(
        text.contains("available 45, held 30; granted 100, debited 25"),
        "{text}"
    );
    assert!(text.contains("Open holds (2):"));
    assert!(
        text.lines()
            .any(|l| l.starts_with("job-2 ") && l.contains("7h0m")),
        "{text}"
    );
    assert!(text.contains("Ledger check: the entries sum to the balances"));
    let csv = ledger::statement_csv(&statement);
    assert_eq!(csv.lines().count(), 6);

    // --since: only the last entry, and the balances before it.
    let since = ledger::statement(&s.ledger(), table, "acme", Some(hours_ago(1)))
        .await
        .unwrap();
    let text = ledger::render_statement(&since, table, now);
    assert!(
        text.contains("(4 earlier; balances before them: available 55, held 20)"),
        "{text}"
    );
    // Once the sweep has checkpointed the account, --since reads the window
    // (and the entry before it), not the history, and still checks it.
    let account = s.ledger().account("acme", 0).await.unwrap().unwrap();
    assert!(
        s.ledger()
            .clear_audit_mark(&account, now, "run-test")
            .await
            .unwrap()
    );
    let window = ledger::statement(&s.ledger(), table, "acme", Some(hours_ago(1)))
        .await
        .unwrap();
    assert_eq!(
        window.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [4, 5]
    );
    assert!(window.problems.is_empty(), "{:?}", window.problems);
    let text = ledger::render_statement(&window, table, now);
    assert!(
        text.contains("(4 earlier; balances before them: available 55, held 20)"),
        "{text}"
    );
    assert!(
        text.contains("20 credit(s) held by jobs whose holds were taken before the entries read"),
        "{text}"
    );
    assert!(text.contains("Open holds (1):"), "{text}");

    let history = ledger::job_history(&s.ledger(), table, "job-1")
        .await
        .unwrap();
    assert_eq!(history.item.status, JobStatus::Debited.as_str());
    assert_eq!(
        history.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 4]
    );
    let text = ledger::render_job(&history, table);
    println!("{text}");
    assert!(text.starts_with("Job job-1 of account acme"), "{text}");
    assert!(text.contains("requested 30, hold 30, debited 25"));
    assert!(
        text.contains("request event evt-seed, settle event evt-seed"),
        "{text}"
    );
    assert!(!text.contains("MISSING"));

    // Unknown ids: one line each.
    let error = ledger::statement(&s.ledger(), table, "nobody", None)
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!("no account \"nobody\" in {table}")
    );
    let error = ledger::job_history(&s.ledger(), table, "no-job")
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), format!("no job \"no-job\" in {table}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_goes_through_the_deployed_handler_once() {
    let s = stage().await;
    seed(&s).await;
    let shim = LambdaShim::start(&s.config).await;
    let handler = s.outputs.handler_function_name.clone();
    shim.add_function(
        &handler,
        "reconciler-handler",
        &testkit::lambda::handler_env("dev", &s.outputs.ledger_table_name),
        &s.outputs.handler_log_group_name,
    )
    .await;
    let lambda = shim.client();
    let now = operator::base::when::now_ms();
    let correction = Adjustment {
        adjustment_id: "adj-test-1".into(),
        account_id: "acme".into(),
        credits: -15,
        reason: "double top-up, ticket 1234".into(),
    };
    let answer = ledger::adjust(&lambda, &handler, &correction, now, RUNS_UP_TO)
        .await
        .unwrap();
    assert_eq!(
        answer,
        Invoked::Response(json!({"outcome": "adjusted",
            "account": {"account_id": "acme", "available": 30, "held": 30}}))
    );
    let Invoked::Response(response) = &answer else {
        unreachable!()
    };
    assert!(ledger::render_response(response).contains("The correction was applied."));

    // A retry with the same id: a duplicate, nothing moves again.
    let again = ledger::adjust(&lambda, &handler, &correction, now + 5_000, RUNS_UP_TO)
        .await
        .unwrap();
    assert!(
        matches!(&again, Invoked::Response(r) if r["outcome"] == "duplicate" && r["account"]["available"] == 30),
        "{again:?}"
    );
    // The same id with another amount: a conflict.
    let other = Adjustment {
        credits: -20,
        ..correction.clone()
    };
    let conflict = ledger::adjust(&lambda, &handler, &other, now, RUNS_UP_TO)
        .await
        .unwrap();
    assert!(
        matches!(&conflict, Invoked::Response(r) if r["outcome"] == "conflict"),
        "{conflict:?}"
    );

    // The ledger has the adjustment entry, and still audits clean.
    let statement = ledger::statement(&s.ledger(), &s.outputs.ledger_table_name, "acme", None)
        .await
        .unwrap();
    let last = statement.entries.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.available_delta),
        ("adjustment", -15)
    );
    assert_eq!(last.event_id, "operator-adj-test-1");
    assert_eq!(statement.account.adjusted, -15);
    assert!(statement.problems.is_empty(), "{:?}", statement.problems);

    // Refused before anything is sent: 0 credits.
    let zero = Adjustment {
        credits: 0,
        adjustment_id: "adj-0".into(),
        ..correction.clone()
    };
    let error = ledger::adjust(&lambda, &handler, &zero, now, RUNS_UP_TO)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("detail.credits"), "{error}");
    // A function error is the handler's errorType and errorMessage: an
    // account id the handler refuses (too long).
    let long = Adjustment {
        account_id: "a".repeat(257),
        adjustment_id: "adj-long".into(),
        ..correction.clone()
    };
    assert!(long.validate().is_err(), "validated locally too");
    let raw =
        operator::models::invoke::invoke(&lambda, &handler, &long.envelope(now), false, RUNS_UP_TO)
            .await
            .unwrap();
    let Invoked::FunctionError {
        error_type,
        message,
    } = raw
    else {
        panic!("accepted: {raw:?}");
    };
    assert_eq!(error_type, "InvalidEvent");
    assert!(message.contains("detail.account_id"), "{message}");
    assert!(!Invoked::error_line(&error_type, &message).contains('\n'));
    // No such function: one line naming it.
    let error = ledger::adjust(
        &lambda,
        "cc-agent-reconciler-nope-handler",
        &correction,
        now,
        RUNS_UP_TO,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("invoke cc-agent-reconciler-nope-handler")
            && error.contains("ResourceNotFound"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_command_invokes_the_deployed_sweep_and_reports() {
    let s = stage().await;
    seed(&s).await;
    let shim = LambdaShim::start(&s.config).await;
    let sweep = s.outputs.sweep_function_name.clone();
    shim.add_function(
        &sweep,
        "reconciler-sweep",
        &testkit::lambda::sweep_env("dev", &s.outputs.ledger_table_name),
        &s.outputs.sweep_log_group_name,
    )
    .await;
    let lambda = shim.client();

    // A dry run finds the straggler (job-2, held 7 hours ago) and expires nothing.
    let Invoked::Response(dry) =
        operator::commands::sweep::run_sweep(&lambda, &sweep, None, true, RUNS_UP_TO)
            .await
            .unwrap()
    else {
        panic!("the sweep failed");
    };
    let text = operator::commands::sweep::render_report(&dry);
    println!("{text}");
    assert_eq!(dry["stragglers"], 1);
    assert_eq!(dry["expired"], 0);
    assert!(
        text.contains("dry run: yes") && text.contains("job-2") && text.contains("dry_run"),
        "{text}"
    );
    assert!(
        operator::models::sweep_report::SweepSummary::from_report(&dry)
            .needs_a_person()
            .is_empty()
    );

    // --older-than 1m: job-3 (just now) is not a straggler either way; a real run expires job-2.
    let Invoked::Response(real) = operator::commands::sweep::run_sweep(
        &lambda,
        &sweep,
        Some(std::time::Duration::from_secs(3600)),
        false,
        RUNS_UP_TO,
    )
    .await
    .unwrap() else {
        panic!("the sweep failed");
    };
    assert_eq!(
        (real["stragglers"].as_u64(), real["expired"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(real["older_than_seconds"], 3600);
    let job = s.ledger().job_item("job-2").await.unwrap().unwrap();
    assert_eq!(job.status, "EXPIRED");

    // Drift (an edited balance) makes the report need a person.
    let client = aws_sdk_dynamodb::Client::new(&s.config);
    client
        .update_item()
        .table_name(&s.outputs.ledger_table_name)
        .set_key(Some(reconciler::store::keys::account_key("acme")))
        .update_expression("SET available = :a, open_kind = :k, open_key = :id")
        .expression_attribute_values(
            ":a",
            aws_sdk_dynamodb::types::AttributeValue::N("999".into()),
        )
        .expression_attribute_values(
            ":k",
            aws_sdk_dynamodb::types::AttributeValue::S("AUDIT".into()),
        )
        .expression_attribute_values(
            ":id",
            aws_sdk_dynamodb::types::AttributeValue::S("acme".into()),
        )
        .send()
        .await
        .unwrap();
    let Invoked::Response(drift) =
        operator::commands::sweep::run_sweep(&lambda, &sweep, None, true, RUNS_UP_TO)
            .await
            .unwrap()
    else {
        panic!("the sweep failed");
    };
    let why = operator::models::sweep_report::SweepSummary::from_report(&drift).needs_a_person();
    assert_eq!(why.len(), 1, "{drift}");
    assert!(why[0].contains("drift in 1 account(s): acme"), "{why:?}");
    assert!(
        operator::commands::sweep::render_report(&drift).contains("acme: available: stored 999")
    );

    // A sweep that fails: the error type and message, one line.
    let shim_missing = operator::commands::sweep::run_sweep(
        &lambda,
        "cc-agent-reconciler-nope-sweep",
        None,
        true,
        RUNS_UP_TO,
    )
    .await
    .unwrap_err();
    assert!(
        shim_missing.to_string().contains("ResourceNotFound"),
        "{shim_missing}"
    );
    let bad = operator::models::invoke::invoke(
        &lambda,
        &sweep,
        &json!({"dryrun": true}),
        false,
        RUNS_UP_TO,
    )
    .await
    .unwrap();
    assert!(
        matches!(&bad, Invoked::FunctionError { error_type, message } if error_type == "InvalidInput" && message.contains("dryrun")),
        "{bad:?}"
    );

    // The sweep's report lines reached its log group: status reads the last.
    let lines = e2e_wait_for_reports(&s, 3).await;
    let last = operator::models::sweep_report::last_sweep_report(&lines).unwrap();
    assert_eq!(last.summary.drift_accounts, ["acme"]);
}

/// The sweep's log lines once `n` reports are there (the shim ships them
/// after the invocation answers).
async fn e2e_wait_for_reports(s: &HandBuilt, n: usize) -> Vec<operator::models::logs::LogLine> {
    let logs = s.clients().logs;
    let groups = operator::models::logs::log_groups(
        &s.outputs,
        Some(operator::models::logs::Function::Sweep),
    );
    for _ in 0..50 {
        let lines =
            operator::models::logs::fetch(&logs, &groups, 0, None, Some("\"sweep report\""), 1000)
                .await
                .unwrap();
        let reports = lines
            .iter()
            .filter(|l| l.message.contains("\"sweep report\""))
            .count();
        if reports >= n {
            return lines;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("fewer than {n} sweep reports in the sweep's log group");
}

#[tokio::test]
async fn a_ledger_with_no_table_is_one_line() {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    let ledger = Ledger::new(aws_sdk_dynamodb::Client::new(&config), "no-such-table");
    let error = ledger::statement(&ledger, "no-such-table", "acme", None)
        .await
        .unwrap_err();
    assert!(
        format!("{error:#}").contains("ResourceNotFound"),
        "{error:#}"
    );
}
