//! Each stage's synthesized template, deployed to a moto server through
//! CloudFormation (`CreateStack`): the stack completes, and the table, the
//! queue, the topic, the rules with their targets and the functions with
//! their environment exist as named.
//!
//! Each stage gets its own moto server, so the stages (and other test files)
//! never see each other's resources. moto skips some resource types without
//! failing the stack (alarms, the queue policy, event-invoke configs,
//! subscriptions: see `shared/notes/local-aws.md`); those are checked
//! structurally and by cfn-lint in `infra/tests`.

use std::collections::BTreeSet;

use aws_sdk_cloudformation::types::{Capability, Parameter};

use infra::Stage;
use infra::stack::{outputs, params};
use operator::base::tools::Tools;
use reconciler::store::schema::{OPEN_INDEX_KEYS, TABLE_KEYS};
use reconciler_core::contract::table::OPEN_INDEX;
use reconciler_core::contract::{handler_env, sweep_env};
use testkit::emulator::moto::Moto;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const BUCKET: &str = "stack-on-moto-artifacts";

/// A private moto server from the project's virtualenv.
fn private_moto() -> Moto {
    let tools = Tools::installed().unwrap();
    Moto::start(&tools).expect("start a moto server")
}

/// The smallest valid zip (no entries): moto's Lambda fetches the object
/// when the function is created, and never runs it.
const EMPTY_ZIP: [u8; 22] = [
    0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

fn pairs(keys: &[(&str, &str)]) -> Vec<(String, String)> {
    keys.iter()
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

async fn deploy_and_check(stage: Stage) {
    let moto = private_moto();
    let config = testkit::emulator::sdk_config(&moto.endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );
    let cfn = aws_sdk_cloudformation::Client::new(&config);
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let events = aws_sdk_eventbridge::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);

    // The code the functions are created from.
    s3.create_bucket().bucket(BUCKET).send().await.unwrap();
    for key in ["handler/test.zip", "sweep/test.zip"] {
        s3.put_object()
            .bucket(BUCKET)
            .key(key)
            .body(EMPTY_ZIP.to_vec().into())
            .send()
            .await
            .unwrap();
    }

    let stack = infra::stack_name(stage);
    let parameter = |k: &str, v: &str| {
        Parameter::builder()
            .parameter_key(k)
            .parameter_value(v)
            .build()
    };
    cfn.create_stack()
        .stack_name(&stack)
        .template_body(infra::synth(stage))
        .parameters(parameter(params::ARTIFACT_BUCKET, BUCKET))
        .parameters(parameter(params::HANDLER_CODE_KEY, "handler/test.zip"))
        .parameters(parameter(params::SWEEP_CODE_KEY, "sweep/test.zip"))
        .capabilities(Capability::CapabilityIam)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{stage}: create_stack: {}",
                aws_sdk_cloudformation::error::DisplayErrorContext(e)
            )
        });

    let described = cfn
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let deployed = &described.stacks()[0];
    assert_eq!(
        deployed.stack_status().map(|s| s.as_str()),
        Some("CREATE_COMPLETE"),
        "{stage}: {:?}",
        deployed.stack_status_reason()
    );
    let output = |name: &str| {
        deployed
            .outputs()
            .iter()
            .find(|o| o.output_key() == Some(name))
            .and_then(|o| o.output_value())
            .unwrap_or_else(|| panic!("{stage}: output {name} missing"))
            .to_owned()
    };

    // The table: named with the suffix, shaped as the functions expect.
    let table_name = format!("cc-agent-reconciler-ledger_{stage}");
    assert_eq!(output(outputs::LEDGER_TABLE_NAME), table_name);
    let table = dynamodb
        .describe_table()
        .table_name(&table_name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{stage}: table {table_name}: {e:?}"));
    let table = table.table().unwrap();
    let keys = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement]| -> Vec<(String, String)> {
        schema
            .iter()
            .map(|k| {
                (
                    k.attribute_name().to_owned(),
                    k.key_type().as_str().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        keys(table.key_schema()),
        pairs(&TABLE_KEYS),
        "{stage}: table keys"
    );
    let index = table
        .global_secondary_indexes()
        .iter()
        .find(|i| i.index_name() == Some(OPEN_INDEX))
        .unwrap_or_else(|| panic!("{stage}: the open-items index is missing"));
    assert_eq!(
        keys(index.key_schema()),
        pairs(&OPEN_INDEX_KEYS),
        "{stage}: index keys"
    );
    assert_eq!(
        table.deletion_protection_enabled(),
        Some(stage != Stage::Dev),
        "{stage}: deletion protection"
    );

    // The dead-letter queue: 14 days.
    let dlq_name = format!("cc-agent-reconciler-dlq-{stage}");
    let dlq_url = sqs
        .get_queue_url()
        .queue_name(&dlq_name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{stage}: queue {dlq_name}: {e:?}"))
        .queue_url()
        .unwrap()
        .to_owned();
    // moto answers the output with AWS's host and GetQueueUrl with its own.
    let path = format!("/{ACCOUNT}/{dlq_name}");
    assert!(dlq_url.ends_with(&path), "{dlq_url}");
    assert!(output(outputs::DEAD_LETTER_QUEUE_URL).ends_with(&path));
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attribute = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes.attributes().and_then(|a| a.get(&name)).cloned()
    };
    assert_eq!(
        attribute(aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod).as_deref(),
        Some("1209600"),
        "{stage}: retention"
    );
    let dlq_arn = attribute(aws_sdk_sqs::types::QueueAttributeName::QueueArn).unwrap();
    assert_eq!(
        dlq_arn,
        format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{dlq_name}")
    );

    // The ops-alerts topic.
    let topic_arn =
        format!("arn:aws:sns:{REGION}:{ACCOUNT}:cc-agent-reconciler-ops-alerts-{stage}");
    let topics = sns.list_topics().send().await.unwrap();
    assert!(
        topics
            .topics()
            .iter()
            .any(|t| t.topic_arn() == Some(topic_arn.as_str())),
        "{stage}: topic {topic_arn} missing from {:?}",
        topics.topics()
    );
    assert_eq!(output(outputs::OPS_ALERTS_TOPIC_ARN), topic_arn);

    // The functions, with exactly the environment their config readers need.
    let function_arn = |short: &str| {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:cc-agent-reconciler-{stage}-{short}")
    };
    for (short, expected_env, output_name) in [
        ("handler", handler_env::ALL, outputs::HANDLER_FUNCTION_NAME),
        ("sweep", sweep_env::ALL, outputs::SWEEP_FUNCTION_NAME),
    ] {
        let name = format!("cc-agent-reconciler-{stage}-{short}");
        assert_eq!(output(output_name), name);
        let function = lambda
            .get_function()
            .function_name(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{stage}: function {name}: {e:?}"));
        let configuration = function.configuration().unwrap();
        assert_eq!(
            configuration.function_arn(),
            Some(function_arn(short).as_str())
        );
        assert_eq!(configuration.handler(), Some("bootstrap"));
        assert_eq!(
            configuration.runtime().map(|r| r.as_str()),
            Some("provided.al2023")
        );
        let variables = configuration
            .environment()
            .and_then(|e| e.variables())
            .unwrap_or_else(|| panic!("{stage}: {name} has no environment"));
        let names: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            expected_env.iter().copied().collect::<BTreeSet<_>>(),
            "{stage}: {name} environment"
        );
        assert_eq!(variables[handler_env::STAGE], stage.as_str());
        assert_eq!(variables[handler_env::LEDGER_TABLE], table_name);
    }

    // The bus, and the rules with their targets, retries and dead letters.
    let bus = format!("cc-agent-reconciler-{stage}");
    let described_bus = events.describe_event_bus().name(&bus).send().await.unwrap();
    assert_eq!(described_bus.name(), Some(bus.as_str()));
    assert_eq!(output(outputs::BUS_NAME), bus);
    let cfg = infra::StageConfig::for_stage(stage);
    let mut rules = vec![
        (
            format!("cc-agent-reconciler-{stage}-ledger-events"),
            bus.as_str(),
            "handler",
            None,
        ),
        (
            format!("cc-agent-reconciler-{stage}-sweep-schedule"),
            "default",
            "sweep",
            Some(infra::stack::SWEEP_SCHEDULE),
        ),
    ];
    // The replay rules (`cargo xtask replay --detail-type`), named in the
    // output the command reads, replayed events only.
    let replay_rules: Vec<String> = infra::names::REPLAY_RULES
        .iter()
        .map(|r| r.resolve(&cfg))
        .collect();
    assert_eq!(output(outputs::REPLAY_RULE_NAMES), replay_rules.join(","));
    for (rule, detail_type) in replay_rules
        .iter()
        .zip(reconciler_core::event::DETAIL_TYPES)
    {
        let described = events
            .describe_rule()
            .name(rule)
            .event_bus_name(&bus)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{stage}: rule {rule}: {e:?}"));
        let pattern: serde_json::Value =
            serde_json::from_str(described.event_pattern().unwrap()).unwrap();
        // Dev's test producer's replays; staging and prod name no producer
        // yet, so their replay rules are off.
        let (expected, state) = if stage == Stage::Dev {
            (
                serde_json::json!({"source": [infra::producers::TEST_PRODUCER_SOURCE],
                    "detail-type": [detail_type], "replay-name": [{"exists": true}]}),
                "ENABLED",
            )
        } else {
            (
                serde_json::json!({"detail-type": [detail_type], "replay-name": [{"exists": true}]}),
                "DISABLED",
            )
        };
        assert_eq!(pattern, expected, "{stage}: {rule}");
        assert_eq!(
            described.state().map(|s| s.as_str()),
            Some(state),
            "{stage}: {rule}"
        );
        rules.push((rule.clone(), bus.as_str(), "handler", None));
    }
    // The archive of the ledger events, kept as the stage's config says.
    let archive = events
        .describe_archive()
        .archive_name(infra::names::ARCHIVE.resolve(&cfg))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{stage}: the archive: {e:?}"));
    assert_eq!(
        archive.retention_days(),
        Some(cfg.archive_retention_days as i32),
        "{stage}: archive retention"
    );
    assert_eq!(
        archive.event_source_arn(),
        Some(output(outputs::BUS_ARN).as_str())
    );
    // The unrouted rule: every other detail-type, to the unrouted queue.
    let unrouted = events
        .describe_rule()
        .name(output(outputs::UNROUTED_EVENTS_RULE_NAME))
        .event_bus_name(&bus)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{stage}: the unrouted rule: {e:?}"));
    let pattern: serde_json::Value =
        serde_json::from_str(unrouted.event_pattern().unwrap()).unwrap();
    // Everything the ledger rule does not route: on dev, other detail-types
    // and other sources than the test producer's; on staging and prod
    // (no producer named yet), everything.
    let types = reconciler_core::event::DETAIL_TYPES;
    let expected = if stage == Stage::Dev {
        serde_json::json!({"$or": [
            {"detail-type": [{"anything-but": types}]},
            {"detail-type": types,
             "source": [{"anything-but": [infra::producers::TEST_PRODUCER_SOURCE]}]}
        ]})
    } else {
        serde_json::json!({"source": [{"prefix": ""}]})
    };
    assert_eq!(pattern, expected, "{stage}: unrouted");
    let unrouted_targets = events
        .list_targets_by_rule()
        .rule(output(outputs::UNROUTED_EVENTS_RULE_NAME))
        .event_bus_name(&bus)
        .send()
        .await
        .unwrap();
    assert_eq!(
        unrouted_targets.targets()[0].arn(),
        output(outputs::UNROUTED_QUEUE_ARN)
    );
    for (rule, rule_bus, function, schedule) in rules {
        let described = events
            .describe_rule()
            .name(&rule)
            .event_bus_name(rule_bus)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{stage}: rule {rule} on {rule_bus}: {e:?}"));
        assert_eq!(described.schedule_expression(), schedule, "{stage}: {rule}");
        let targets = events
            .list_targets_by_rule()
            .rule(&rule)
            .event_bus_name(rule_bus)
            .send()
            .await
            .unwrap();
        let [target] = targets.targets() else {
            panic!("{stage}: {rule} has targets {:?}", targets.targets());
        };
        assert_eq!(
            target.arn(),
            function_arn(function),
            "{stage}: {rule} target"
        );
        assert_eq!(
            target
                .retry_policy()
                .and_then(|r| r.maximum_retry_attempts()),
            Some(infra::stack::RULE_TARGET_RETRY_ATTEMPTS as i32),
            "{stage}: {rule} retries"
        );
        assert_eq!(
            target.dead_letter_config().and_then(|d| d.arn()),
            Some(dlq_arn.as_str()),
            "{stage}: {rule} dead letters"
        );
    }
    drop(moto);
}

#[tokio::test]
async fn the_dev_stack_deploys_on_moto() {
    deploy_and_check(Stage::Dev).await;
}

#[tokio::test]
async fn the_staging_stack_deploys_on_moto() {
    deploy_and_check(Stage::Staging).await;
}

#[tokio::test]
async fn the_prod_stack_deploys_on_moto() {
    deploy_and_check(Stage::Prod).await;
}
