//! The operator policies (`cargo xtask policy`), derived: every read command
//! and a deploy run against a stage on their own moto server, their clients
//! carrying an interceptor that keeps each request's (service, operation);
//! the requests, mapped to IAM actions by the hand-written table
//! (`operator::policy::actions`), must be exactly the on-call policy's
//! actions (the read commands) and the deploy policy's (create, update,
//! destroy). A command that sends a request the policy lacks fails here,
//! before an on-call engineer meets an AccessDenied.

use std::collections::BTreeSet;

use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;
use infra::{Architecture, Stage, StageConfig};
use operator::aws::{AwsArgs, Interceptors, Session, Target};
use operator::commands::stack::{
    ArchArg, DiffArgs, DriftArgs, ReleasesArgs, StackArgs, destroy, diff, drift, releases,
};
use operator::commands::{Console, dlq, ledger, logs, status, unrouted};
use operator::deploy::DeployOptions;
use operator::policy::{Role, actions};
use reconciler::store::Ledger;
use serde_json::json;
use testkit::capture::Capture;
use testkit::emulator::moto::Moto;

/// The requests the clients sent, each (service, operation) once.
#[derive(Clone, Debug, Default)]
struct Requests(Capture);

impl Requests {
    fn take(&self) -> BTreeSet<(String, String)> {
        self.0
            .take()
            .into_iter()
            .map(|e| (e.service, e.operation))
            .collect()
    }
}

/// `--endpoint-url` and the recording interceptor.
fn aws(endpoint: &str, requests: &Requests) -> AwsArgs {
    AwsArgs {
        endpoint_url: Some(endpoint.to_owned()),
        interceptors: Interceptors(vec![SharedInterceptor::new(requests.0.clone())]),
        ..AwsArgs::default()
    }
}

/// Runs a command as the binary does (its own runtime, on its own thread).
fn run<T: Send + 'static>(command: impl FnOnce() -> anyhow::Result<T> + Send + 'static) -> T {
    std::thread::spawn(command).join().unwrap().unwrap()
}

fn target(endpoint: &str, requests: &Requests) -> Target {
    Target {
        stage: Stage::Dev,
        aws: aws(endpoint, requests),
    }
}

fn stack_args(endpoint: &str, requests: &Requests) -> StackArgs {
    StackArgs {
        stage: Stage::Dev,
        aws: aws(endpoint, requests),
        arch: Some(ArchArg::X86_64),
        parameters: Vec::new(),
        artifacts: Some(testkit::prebuilt_artifacts()),
    }
}

/// The IAM actions of `requests`, by the table; a request the table does
/// not know fails the test, naming it.
fn actions_of(requests: &BTreeSet<(String, String)>) -> BTreeSet<String> {
    requests
        .iter()
        .filter_map(|(service, operation)| {
            actions::action(service, operation)
                .unwrap_or_else(|| panic!("no IAM action known for {service} {operation}"))
        })
        .collect()
}

fn policy_actions(role: Role) -> BTreeSet<String> {
    let config = StageConfig::for_stage(Stage::Dev);
    operator::policy::policy(role, &config)
        .statements
        .iter()
        .flat_map(|s| s.actions.iter().map(|a| a.to_string()))
        .collect()
}

/// Fills the stage so that each read command takes its longest path:
/// alarms (one in ALARM), dead letters, an unrouted event, log lines in both
/// groups, an account with an open hold.
async fn fill(console: &Console) {
    let (o, c) = (&console.outputs, &console.clients);
    for name in o.alarm_name_list() {
        c.cloudwatch
            .put_metric_alarm()
            .alarm_name(name)
            .namespace("AWS/Lambda")
            .metric_name("Errors")
            .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
            .period(300)
            .evaluation_periods(1)
            .threshold(1.0)
            .comparison_operator(
                aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanOrEqualToThreshold,
            )
            .send()
            .await
            .unwrap();
    }
    c.cloudwatch
        .set_alarm_state()
        .alarm_name(&o.errors_alarm_name)
        .state_value(aws_sdk_cloudwatch::types::StateValue::Alarm)
        .state_reason("Threshold Crossed")
        .send()
        .await
        .unwrap();
    for queue in [&o.dead_letter_queue_url, &o.unrouted_queue_url] {
        c.sqs
            .send_message()
            .queue_url(queue)
            .message_body(json!({"detail-type": "video.renderd", "detail": {}}).to_string())
            .send()
            .await
            .unwrap();
    }
    for group in [&o.handler_log_group_name, &o.sweep_log_group_name] {
        let stream = "2026/11/29/[$LATEST]abc";
        c.logs
            .create_log_stream()
            .log_group_name(group)
            .log_stream_name(stream)
            .send()
            .await
            .unwrap();
        c.logs
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .log_events(
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(operator::base::when::now_ms())
                    .message(
                        json!({"level": "INFO", "message": "applied", "account_id": "acme"})
                            .to_string(),
                    )
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let ledger = Ledger::new(c.dynamodb.clone(), o.ledger_table_name.clone());
    for event in [
        testkit::events::grant("g1", "acme", 100),
        testkit::events::req("job-1", "acme", 30),
    ] {
        ledger.apply(&event, "seed").await.unwrap();
    }
}

/// Each read command, run as the binary runs it, on a filled stage.
fn read_commands(endpoint: &str, requests: &Requests) {
    let e = endpoint.to_owned();
    let r = requests.clone();
    run(move || {
        status::run(status::Args {
            target: target(&e, &r),
            json: false,
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        logs::run(logs::Args {
            target: target(&e, &r),
            function: None,
            since: "1h".into(),
            until: None,
            follow: false,
            filter: None,
            account: None,
            job: None,
            raw: false,
            limit: 100,
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        ledger::run(ledger::Args {
            command: ledger::Command::Statement {
                target: target(&e, &r),
                account: "acme".into(),
                csv: false,
                json: false,
                since: None,
            },
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        ledger::run(ledger::Args {
            command: ledger::Command::Job {
                target: target(&e, &r),
                job: "job-1".into(),
                json: false,
            },
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        dlq::run(dlq::Args {
            command: dlq::Command::List {
                target: target(&e, &r),
                json: false,
                max: 1000,
            },
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        unrouted::run(unrouted::Args {
            command: unrouted::Command::List {
                target: target(&e, &r),
                max: 1000,
                json: false,
            },
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        releases(ReleasesArgs {
            stage: Stage::Dev,
            aws: aws(&e, &r),
            json: false,
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        drift(DriftArgs {
            stage: Stage::Dev,
            aws: aws(&e, &r),
            json: false,
        })
    });
    let (e, r) = (endpoint.to_owned(), requests.clone());
    run(move || {
        diff(DiffArgs {
            stack: stack_args(&e, &r),
            fail: false,
            json: false,
        })
    });
}

/// The actions a policy has that the emulator never asks for, each with why:
/// moto has no drift detection (the detection's status and results), no
/// `GetAccountSettings` (the concurrency check is skipped there), and the
/// artifacts bucket gets no TLS-only policy there; dev has no termination
/// protection to lift.
const NOT_ON_THE_EMULATOR: [&str; 6] = [
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
    "lambda:GetAccountSettings",
    "s3:GetBucketPolicy",
    "s3:PutBucketPolicy",
    "cloudformation:UpdateTerminationProtection",
];

/// What only the emulator makes a command send: moto answers
/// `GetBucketVersioning` with XML the SDK refuses, so the bucket's
/// versioning is set again (idempotent); against AWS an existing bucket's
/// versioning is read, not written.
const ONLY_ON_THE_EMULATOR: [&str; 1] = ["s3:PutBucketVersioning"];

/// Checks the actions `requests` need against `role`'s policy for dev:
/// nothing missing, nothing extra, the emulator's gaps named above.
fn check(role: Role, requests: &BTreeSet<(String, String)>) {
    let sent = actions_of(requests);
    let granted = policy_actions(role);
    let unseen: BTreeSet<String> = NOT_ON_THE_EMULATOR
        .iter()
        .map(|a| a.to_string())
        .filter(|a| granted.contains(a))
        .collect();
    assert!(
        sent.is_disjoint(&unseen),
        "the emulator asked for {:?}: take it off NOT_ON_THE_EMULATOR",
        sent.intersection(&unseen).collect::<Vec<_>>()
    );
    let needed: BTreeSet<String> = sent
        .iter()
        .filter(|a| granted.contains(*a) || !ONLY_ON_THE_EMULATOR.contains(&a.as_str()))
        .cloned()
        .collect();
    let missing: Vec<_> = needed.difference(&granted).collect();
    let extra: Vec<_> = granted
        .difference(&needed)
        .filter(|a| !unseen.contains(*a))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{role:?}: the commands need {missing:?}, which the policy lacks; the policy grants \
         {extra:?}, which no command asked for"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_policies_allow_exactly_what_the_commands_send() {
    let tools = operator::base::tools::ensure().expect("the pinned tools (cargo xtask tools)");
    let moto = Moto::start(&tools).expect("start a moto server");
    let requests = Requests::default();

    // A deploy: the create, then an update (the handler's memory).
    let mut config = StageConfig::load(Stage::Dev).unwrap();
    config.architecture = Architecture::X86_64;
    let session = Session::with_config(config.clone(), &aws(&moto.endpoint, &requests))
        .await
        .unwrap();
    let mut opts = DeployOptions::new(config.clone());
    // As on AWS: a create starts the first sweep (our moto answers the
    // invocation and runs nothing).
    opts.emulator_runs_functions = true;
    opts.output.dir = std::env::temp_dir().join(format!("policy-{}", std::process::id()));
    opts.code = operator::deploy::CodeSource::Build(operator::base::build::Source::Prebuilt(
        testkit::prebuilt_artifacts(),
    ));
    let out = operator::base::ui::Recorder::default();
    opts.config.handler_memory_mb = 512;
    operator::deploy::deploy(&session.clients(), &tools, &opts, &out)
        .await
        .expect("create");
    // The update: new code (another release) and more memory; then the same
    // again (an empty change set, deleted); then back to the first release.
    opts.config.handler_memory_mb = 1024;
    opts.code = operator::deploy::CodeSource::Build(operator::base::build::Source::Prebuilt(
        testkit::prebuilt_release("policy"),
    ));
    for what in ["update", "no-op"] {
        operator::deploy::deploy(&session.clients(), &tools, &opts, &out)
            .await
            .expect(what);
    }
    opts.policy.yes = true;
    operator::deploy::rollback(&session.clients(), &tools, &opts, None, &out)
        .await
        .expect("rollback");
    let deployed = requests.take();

    let console = Console::from_session(
        Session::with_config(
            config.clone(),
            &AwsArgs {
                endpoint_url: Some(moto.endpoint.clone()),
                ..AwsArgs::default()
            },
        )
        .await
        .unwrap(),
    )
    .await
    .unwrap();
    fill(&console).await;
    let endpoint = moto.endpoint.clone();
    let r = requests.clone();
    tokio::task::spawn_blocking(move || read_commands(&endpoint, &r))
        .await
        .unwrap();
    let read = requests.take();

    let (e, r) = (moto.endpoint.clone(), requests.clone());
    tokio::task::spawn_blocking(move || {
        run(move || {
            destroy(operator::commands::stack::DestroyArgs {
                stage: Stage::Dev,
                aws: aws(&e, &r),
                yes: true,
                confirm_stack: None,
                lift_termination_protection: false,
            })
        })
    })
    .await
    .unwrap();
    let destroyed = requests.take();
    check(Role::OnCall, &read);
    check(Role::Deploy, &deployed.union(&destroyed).cloned().collect());
}
