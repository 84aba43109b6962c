//! Structural assertions over every stage's template, as code.

use std::collections::BTreeSet;

use std::collections::BTreeMap;

use infra::stack::{ids, params};
use infra::{Stage, StageConfig, names, stateful_resource_types};
use reconciler_core::contract::metrics;
use reconciler_core::event::DETAIL_TYPES;
use serde_json::{Value, json};

use crate::support::{
    Synth, all_configs, every_subscription, everything_on, get_att, loaded, reference, refers_to,
    sub_json,
};

fn dead_letter_arn() -> Value {
    get_att(ids::DEAD_LETTER_QUEUE, "Arn")
}

fn topic() -> Value {
    reference(ids::OPS_ALERTS_TOPIC)
}

#[test]
fn every_rule_target_retries_and_dead_letters() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let rules = synth.of_type("AWS::Events::Rule");
        assert_eq!(
            rules.len(),
            7 + usize::from(cfg.customer_managed_key),
            "{}: the events rule, the schedule, the unrouted rule, four replay rules (and \
             the key-state rule with the keys)",
            cfg.stage
        );
        for (rule_id, rule) in rules {
            let targets = rule["Properties"]["Targets"].as_array().expect("targets");
            assert_eq!(targets.len(), 1, "{}: {rule_id}", cfg.stage);
            for target in targets {
                let retry = &target["RetryPolicy"];
                assert_eq!(retry["MaximumRetryAttempts"], 3, "{}: {rule_id}", cfg.stage);
                assert!(
                    retry["MaximumEventAgeInSeconds"]
                        .as_u64()
                        .is_some_and(|age| (60..=86_400).contains(&age))
                );
                assert_eq!(
                    target["DeadLetterConfig"]["Arn"],
                    dead_letter_arn(),
                    "{}: {rule_id}",
                    cfg.stage
                );
                if target["Arn"] == topic() {
                    // The key-state rule: the topic's policy lets exactly
                    // this rule publish.
                    assert_eq!(rule_id, ids::KEY_STATE_RULE, "{}", cfg.stage);
                    let statements = &synth.resource(ids::OPS_ALERTS_TOPIC_POLICY)["Properties"]["PolicyDocument"]
                        ["Statement"];
                    let publishes = statements.as_array().unwrap().iter().any(|s| {
                        s["Principal"] == json!({ "Service": "events.amazonaws.com" })
                            && s["Condition"]["ArnEquals"]["aws:SourceArn"]
                                == json!([get_att(rule_id, "Arn")])
                    });
                    assert!(publishes, "{}: {rule_id} may not publish", cfg.stage);
                    continue;
                }
                let target_id = target["Arn"]["Fn::GetAtt"][0]
                    .as_str()
                    .expect("a stack target");
                let target_type = synth.resource(target_id)["Type"].as_str().unwrap();
                if target_type == "AWS::SQS::Queue" {
                    // The queue's policy lets exactly this rule send.
                    let allowed =
                        synth
                            .of_type("AWS::SQS::QueuePolicy")
                            .into_iter()
                            .any(|(_, policy)| {
                                let p = &policy["Properties"];
                                p["Queues"] == json!([reference(target_id)])
                                    && p["PolicyDocument"]["Statement"][0]["Condition"]["ArnEquals"]
                                        ["aws:SourceArn"]
                                        == json!([get_att(rule_id, "Arn")])
                            });
                    assert!(
                        allowed,
                        "{}: {rule_id} may not send to {target_id}",
                        cfg.stage
                    );
                    continue;
                }
                // The rule may invoke its function, and only that rule.
                assert_eq!(target_type, "AWS::Lambda::Function");
                let permitted =
                    synth
                        .of_type("AWS::Lambda::Permission")
                        .into_iter()
                        .any(|(_, permission)| {
                            let p = &permission["Properties"];
                            p["SourceArn"] == get_att(rule_id, "Arn")
                                && refers_to(&p["FunctionName"], target_id)
                                && p["Principal"] == "events.amazonaws.com"
                                && p["Action"] == "lambda:InvokeFunction"
                        });
                assert!(
                    permitted,
                    "{}: {rule_id} may not invoke {target_id}",
                    cfg.stage
                );
            }
        }
    }
}

/// The unrouted rule, its queue and its alarm (what it matches:
/// `routing.rs`).
#[test]
fn the_unrouted_rule_feeds_its_queue_and_its_alarm() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let unrouted = &synth.resource(ids::UNROUTED_EVENTS_RULE)["Properties"];
        assert_eq!(
            unrouted["Name"],
            json!({ "Fn::Sub": "cc-agent-reconciler-${Stage}-unrouted-events" })
        );
        assert_eq!(unrouted["EventBusName"], get_att(ids::EVENT_BUS, "Name"));
        assert_eq!(unrouted["State"], "ENABLED");
        assert_eq!(
            unrouted["Targets"][0]["Arn"],
            get_att(ids::UNROUTED_QUEUE, "Arn")
        );
        let queue = &synth.resource(ids::UNROUTED_QUEUE);
        assert_eq!(
            queue["Properties"]["QueueName"],
            json!({ "Fn::Sub": "cc-agent-reconciler-unrouted-${Stage}" })
        );
        assert_eq!(queue["Properties"]["MessageRetentionPeriod"], 1_209_600);
        assert_eq!(
            queue["DeletionPolicy"],
            synth.resource(ids::DEAD_LETTER_QUEUE)["DeletionPolicy"],
            "{stage}: kept like the DLQ"
        );
        let alarm = &synth.resource(ids::UNROUTED_EVENTS_ALARM)["Properties"];
        assert_eq!(
            alarm["AlarmName"],
            json!({ "Fn::Sub": "cc-agent-reconciler-unrouted-${Stage}" })
        );
        assert_eq!(
            (
                &alarm["Namespace"],
                &alarm["MetricName"],
                &alarm["Statistic"],
                &alarm["Period"],
                &alarm["Threshold"],
                &alarm["ComparisonOperator"]
            ),
            (
                &json!("AWS/SQS"),
                &json!("ApproximateNumberOfMessagesVisible"),
                &json!("Maximum"),
                &json!(300),
                &json!(0.0),
                &json!("GreaterThanThreshold")
            )
        );
        assert_eq!(
            alarm["Dimensions"],
            json!([{ "Name": "QueueName", "Value": get_att(ids::UNROUTED_QUEUE, "QueueName") }])
        );
        assert_eq!(alarm["AlarmActions"], json!([topic()]));
    }
}

/// The rules' buses, targets and names (their patterns: `routing.rs`).
#[test]
fn the_rules_deliver_the_business_events_and_the_schedule() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let events = &synth.resource(ids::LEDGER_EVENTS_RULE)["Properties"];
        assert_eq!(events["EventBusName"], get_att(ids::EVENT_BUS, "Name"));
        assert_eq!(
            events["Targets"][0]["Arn"],
            get_att(ids::HANDLER_FUNCTION, "Arn")
        );
        let schedule = &synth.resource(ids::SWEEP_SCHEDULE_RULE)["Properties"];
        assert_eq!(schedule["ScheduleExpression"], "rate(6 hours)");
        assert!(
            schedule.get("EventBusName").is_none(),
            "schedules run on the default bus"
        );
        assert_eq!(
            schedule["Targets"][0]["Arn"],
            get_att(ids::SWEEP_FUNCTION, "Arn")
        );
        assert_eq!(
            synth.resource(ids::EVENT_BUS)["Properties"]["Name"],
            reference(params::EVENT_BUS_NAME)
        );
        // One rule per detail-type, for replays of it only, to the handler.
        for i in 0..DETAIL_TYPES.len() {
            let replays = &synth.resource(ids::REPLAY_RULES[i])["Properties"];
            assert_eq!(replays["EventBusName"], get_att(ids::EVENT_BUS, "Name"));
            assert_eq!(
                replays["Name"],
                json!({ "Fn::Sub": infra::names::REPLAY_RULES[i].pattern() })
            );
            assert_eq!(
                replays["Targets"], events["Targets"],
                "delivered as the ledger events are"
            );
        }
    }
}

#[test]
fn every_function_has_an_errors_alarm_an_on_failure_destination_and_a_log_group() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let functions = synth.of_type("AWS::Lambda::Function");
        assert_eq!(functions.len(), 2);
        for (function_id, function) in functions {
            let context = format!("{}: {function_id}", cfg.stage);
            let properties = &function["Properties"];
            assert_eq!(properties["Runtime"], "provided.al2023", "{context}");
            assert_eq!(properties["Handler"], "bootstrap", "{context}");
            assert_eq!(properties["Architectures"], json!(["arm64"]), "{context}");
            assert_eq!(
                properties["Code"]["S3Bucket"],
                reference(params::ARTIFACT_BUCKET),
                "{context}"
            );
            assert!(
                properties["Code"]["S3Key"]["Ref"]
                    .as_str()
                    .is_some_and(|key| key.ends_with("CodeKey")),
                "{context}"
            );

            let errors_alarm = synth.of_type("AWS::CloudWatch::Alarm").into_iter().any(
                |(_, alarm)| {
                    let p = &alarm["Properties"];
                    p["Namespace"] == "AWS/Lambda"
                        && p["MetricName"] == "Errors"
                        && p["Dimensions"]
                            == json!([{ "Name": "FunctionName", "Value": reference(function_id) }])
                },
            );
            assert!(errors_alarm, "{context}: no errors alarm");

            let invoke_configs: Vec<_> = synth
                .of_type("AWS::Lambda::EventInvokeConfig")
                .into_iter()
                .filter(|(_, config)| {
                    config["Properties"]["FunctionName"] == reference(function_id)
                })
                .collect();
            assert_eq!(
                invoke_configs.len(),
                1,
                "{context}: one event-invoke config"
            );
            let invoke = &invoke_configs[0].1["Properties"];
            assert_eq!(invoke["Qualifier"], "$LATEST", "{context}");
            assert_eq!(
                invoke["MaximumRetryAttempts"], 2,
                "{context}: 3 attempts in all"
            );
            assert_eq!(
                invoke["DestinationConfig"]["OnFailure"]["Destination"],
                dead_letter_arn(),
                "{context}"
            );

            let logging = &properties["LoggingConfig"];
            assert_eq!(logging["LogFormat"], "JSON", "{context}");
            let log_group_id = logging["LogGroup"]["Ref"]
                .as_str()
                .expect("a log group of the stack");
            let log_group = synth.resource(log_group_id);
            assert_eq!(log_group["Type"], "AWS::Logs::LogGroup", "{context}");
            assert_eq!(
                log_group["Properties"]["RetentionInDays"], cfg.log_retention_days,
                "{context}"
            );
            let function_name = properties["FunctionName"]["Fn::Sub"]
                .as_str()
                .expect("a Sub name");
            assert_eq!(
                log_group["Properties"]["LogGroupName"],
                json!({ "Fn::Sub": format!("/aws/lambda/{function_name}") }),
                "{context}: the function's own log group"
            );
        }
    }
}

#[test]
fn staging_and_prod_retain_their_stateful_resources() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let expected = if cfg.retain_stateful_resources {
            "Retain"
        } else {
            "Delete"
        };
        assert_eq!(cfg.retain_stateful_resources, cfg.stage != Stage::Dev);
        for type_name in ["AWS::Logs::LogGroup"] {
            for (id, resource) in synth.of_type(type_name) {
                assert_eq!(resource["DeletionPolicy"], expected, "{}: {id}", cfg.stage);
            }
        }
        for type_name in stateful_resource_types() {
            let resources = synth.of_type(type_name);
            let expected_here = *type_name != "AWS::KMS::Key" || cfg.customer_managed_key;
            assert_eq!(
                !resources.is_empty(),
                expected_here,
                "{}: {type_name}",
                cfg.stage
            );
            for (id, resource) in resources {
                assert_eq!(resource["DeletionPolicy"], expected, "{}: {id}", cfg.stage);
                assert_eq!(
                    resource["UpdateReplacePolicy"], expected,
                    "{}: {id}",
                    cfg.stage
                );
            }
        }
        for (id, table) in synth.of_type("AWS::DynamoDB::Table") {
            // A parameter whose default is the stage's setting: the deploy
            // keeps it off during a first create only.
            assert_eq!(
                table["Properties"]["DeletionProtectionEnabled"],
                serde_json::json!({"Fn::If": [infra::stack::conditions::PROTECT_TABLE, true, false]}),
                "{}: {id}",
                cfg.stage
            );
        }
        assert_eq!(
            synth.json["Conditions"][infra::stack::conditions::PROTECT_TABLE],
            serde_json::json!({"Fn::Equals": [{"Ref": infra::stack::params::TABLE_DELETION_PROTECTION}, "true"]})
        );
        assert_eq!(
            synth.json["Parameters"][infra::stack::params::TABLE_DELETION_PROTECTION]["Default"],
            if cfg.stage == Stage::Dev {
                "false"
            } else {
                "true"
            },
            "{}",
            cfg.stage
        );
    }
}

#[test]
fn the_ledger_table_has_its_keys_index_ttl_backups_and_encryption() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let tables = synth.of_type("AWS::DynamoDB::Table");
        assert_eq!(tables.len(), 1, "one table");
        let p = &synth.resource(ids::LEDGER_TABLE)["Properties"];
        assert_eq!(
            p["TableName"],
            json!({ "Fn::Sub": "cc-agent-reconciler-ledger${TableSuffix}" })
        );
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            p["KeySchema"],
            json!([{ "AttributeName": "pk", "KeyType": "HASH" }, { "AttributeName": "sk", "KeyType": "RANGE" }])
        );
        assert_eq!(
            p["GlobalSecondaryIndexes"],
            json!([{
                "IndexName": "open-items",
                "KeySchema": [
                    { "AttributeName": "open_kind", "KeyType": "HASH" },
                    { "AttributeName": "open_key", "KeyType": "RANGE" }
                ],
                "Projection": {
                    "ProjectionType": "INCLUDE",
                    "NonKeyAttributes": reconciler_core::contract::table::OPEN_INDEX_ATTRIBUTES,
                }
            }])
        );
        assert_eq!(
            p["TimeToLiveSpecification"],
            json!({ "AttributeName": "expires_at", "Enabled": true })
        );
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
            true
        );
        assert_eq!(p["SSESpecification"]["SSEEnabled"], true);
    }
}

/// Where each encrypted resource names its key, and what a stage without
/// the customer managed key has instead.
#[test]
fn every_encrypted_resource_uses_the_stage_key_exactly_when_the_stage_has_one() {
    let key_arn = get_att(ids::STAGE_KEY, "Arn");
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let context = format!("{} (key: {})", cfg.stage, cfg.customer_managed_key);
        let uses_key: Vec<(&str, &Value)> = vec![
            (
                ids::LEDGER_TABLE,
                &synth.resource(ids::LEDGER_TABLE)["Properties"]["SSESpecification"]["KMSMasterKeyId"],
            ),
            (
                ids::HANDLER_LOG_GROUP,
                &synth.resource(ids::HANDLER_LOG_GROUP)["Properties"]["KmsKeyId"],
            ),
            (
                ids::SWEEP_LOG_GROUP,
                &synth.resource(ids::SWEEP_LOG_GROUP)["Properties"]["KmsKeyId"],
            ),
            (
                ids::DEAD_LETTER_QUEUE,
                &synth.resource(ids::DEAD_LETTER_QUEUE)["Properties"]["KmsMasterKeyId"],
            ),
            (
                ids::UNROUTED_QUEUE,
                &synth.resource(ids::UNROUTED_QUEUE)["Properties"]["KmsMasterKeyId"],
            ),
            (
                ids::EVENT_ARCHIVE,
                &synth.resource(ids::EVENT_ARCHIVE)["Properties"]["KmsKeyIdentifier"],
            ),
        ];
        for (id, key) in uses_key {
            if cfg.customer_managed_key {
                assert_eq!(key, &key_arn, "{context}: {id} (the key's ARN, not its id)");
            } else {
                assert!(key.is_null(), "{context}: {id} has a key {key}");
            }
        }
        let table = &synth.resource(ids::LEDGER_TABLE)["Properties"]["SSESpecification"];
        assert_eq!(table["SSEEnabled"], true, "{context}");
        for queue in [ids::DEAD_LETTER_QUEUE, ids::UNROUTED_QUEUE] {
            let p = &synth.resource(queue)["Properties"];
            if cfg.customer_managed_key {
                assert_eq!(table["SSEType"], "KMS", "{context}");
                // SQS accepts one kind of encryption at a time.
                assert!(
                    p.get("SqsManagedSseEnabled").is_none(),
                    "{context}: {queue}"
                );
                assert_eq!(p["KmsDataKeyReusePeriodSeconds"], 300);
            } else {
                assert_eq!(p["SqsManagedSseEnabled"], true, "{context}: {queue}");
            }
        }
        // The topic has its own key (see the alerts key's policy).
        let topic_key = &synth.resource(ids::OPS_ALERTS_TOPIC)["Properties"]["KmsMasterKeyId"];
        if cfg.customer_managed_key {
            assert_eq!(topic_key, &get_att(ids::ALERTS_KEY, "Arn"), "{context}");
        } else {
            assert!(topic_key.is_null(), "{context}: the topic has a key");
        }
        let keys = synth.of_type("AWS::KMS::Key");
        let aliases = synth.of_type("AWS::KMS::Alias");
        if !cfg.customer_managed_key {
            assert!(keys.is_empty() && aliases.is_empty(), "{context}");
            assert!(synth.json["Outputs"].get("KmsKeyArn").is_none());
            continue;
        }
        assert_eq!(keys.len(), 2, "{context}: the stage key and the alerts key");
        for (key_id, alias_id, alias_name) in [
            (
                ids::STAGE_KEY,
                ids::STAGE_KEY_ALIAS,
                "alias/cc-agent-reconciler-${Stage}",
            ),
            (
                ids::ALERTS_KEY,
                ids::ALERTS_KEY_ALIAS,
                "alias/cc-agent-reconciler-ops-alerts-${Stage}",
            ),
        ] {
            let key = synth.resource(key_id);
            assert_eq!(key["Properties"]["EnableKeyRotation"], true);
            assert_eq!(key["Properties"]["KeySpec"], "SYMMETRIC_DEFAULT");
            assert!(
                key["Properties"].get("Tags").is_none(),
                "the emulator fails on key tags"
            );
            let alias = &synth.resource(alias_id)["Properties"];
            assert_eq!(alias["AliasName"], json!({ "Fn::Sub": alias_name }));
            assert_eq!(alias["TargetKeyId"], reference(key_id));
        }
        assert_eq!(synth.json["Outputs"]["KmsKeyArn"]["Value"], key_arn);
    }
}

/// A key's policy statements by `Sid`, checking the shape every key policy
/// here has: a JSON string (the emulator breaks on an object) without
/// `Ref`/`GetAtt` of the stack's resources (they use the key: a cycle),
/// `Allow`s only, on the key itself, never to everyone, and the account
/// administering it.
fn key_statements(synth: &Synth, key_id: &str) -> BTreeMap<String, Value> {
    let policy_value = &synth.resource(key_id)["Properties"]["KeyPolicy"];
    let text = policy_value["Fn::Sub"].as_str().expect("a Sub string");
    for piece in text.split("${").skip(1) {
        let name = piece.split('}').next().unwrap();
        assert!(
            name.starts_with("AWS::") || ["Stage", "EventBusName"].contains(&name),
            "{key_id}: the key policy references {name}"
        );
    }
    let policy = sub_json(policy_value);
    assert_eq!(policy["Version"], "2012-10-17");
    let statements: BTreeMap<String, Value> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Sid"].as_str().unwrap().to_owned(), s.clone()))
        .collect();
    for statement in statements.values() {
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Resource"],
            json!(["*"]),
            "a key policy's own resource"
        );
        assert_ne!(statement["Principal"], json!("*"));
    }
    assert_eq!(
        statements["AccountAdministersKeyAndEnablesIamPolicies"]["Principal"],
        json!({ "AWS": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root" })
    );
    statements
}

/// The stage key: each service may use it only for this stage's
/// resources, named by their encryption context.
#[test]
fn the_stage_key_policy_lets_each_service_use_the_key_only_for_this_stage() {
    for stage in [Stage::Staging, Stage::Prod] {
        let synth = Synth::of(stage);
        let statements = key_statements(&synth, ids::STAGE_KEY);
        assert_eq!(
            statements.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "AccountAdministersKeyAndEnablesIamPolicies",
                "CloudWatchLogsEncryptsFunctionLogGroups",
                "EventBridgeDeliversToTheStageQueues",
                "EventBridgeDescribesKeyForArchive",
                "EventBridgeEncryptsArchive",
            ],
            "{stage}: the topic has its own key"
        );
        let logs = &statements["CloudWatchLogsEncryptsFunctionLogGroups"];
        assert_eq!(
            logs["Principal"],
            json!({ "Service": "logs.${AWS::Region}.amazonaws.com" })
        );
        assert_eq!(
            logs["Condition"]["ArnEquals"]["kms:EncryptionContext:aws:logs:arn"],
            json!([
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/cc-agent-reconciler-${Stage}-handler",
                "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/cc-agent-reconciler-${Stage}-sweep"
            ])
        );
        // The queues' encryption context; which rule may send is the queue
        // policies' `aws:SourceArn`.
        let queues = &statements["EventBridgeDeliversToTheStageQueues"];
        assert_eq!(
            queues["Principal"],
            json!({ "Service": "events.amazonaws.com" })
        );
        assert_eq!(
            queues["Action"],
            json!(["kms:Decrypt", "kms:GenerateDataKey"])
        );
        assert_eq!(
            queues["Condition"],
            json!({ "StringEquals": { "kms:EncryptionContext:aws:sqs:arn": [
                "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:cc-agent-reconciler-dlq-${Stage}",
                "arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:cc-agent-reconciler-unrouted-${Stage}"
            ] } }),
            "{stage}: only this stage's queues"
        );
        let archive = &statements["EventBridgeEncryptsArchive"];
        assert_eq!(
            archive["Condition"]["StringEquals"]["kms:EncryptionContext:aws:events:event-bus:arn"],
            json!([
                "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}",
                "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:archive/cc-agent-reconciler-${Stage}-ledger-archive"
            ])
        );
    }
}

/// The alerts key: CloudWatch (alarms) and EventBridge (the key-state
/// rule) may use it only for the ops-alerts topic.
#[test]
fn the_alerts_key_serves_only_the_topic() {
    for stage in [Stage::Staging, Stage::Prod] {
        let synth = Synth::of(stage);
        let statements = key_statements(&synth, ids::ALERTS_KEY);
        assert_eq!(
            statements.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "AccountAdministersKeyAndEnablesIamPolicies",
                "CloudWatchAlarmsPublishToOpsAlertsTopic",
                "EventBridgePublishesKeyStateAlerts",
            ]
        );
        for (sid, service) in [
            (
                "CloudWatchAlarmsPublishToOpsAlertsTopic",
                "cloudwatch.amazonaws.com",
            ),
            ("EventBridgePublishesKeyStateAlerts", "events.amazonaws.com"),
        ] {
            let statement = &statements[sid];
            assert_eq!(statement["Principal"], json!({ "Service": service }));
            assert_eq!(
                statement["Action"],
                json!(["kms:Decrypt", "kms:GenerateDataKey*"])
            );
            assert_eq!(
                statement["Condition"],
                json!({ "StringEquals": { "kms:EncryptionContext:aws:sns:topicArn": [
                    "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:cc-agent-reconciler-ops-alerts-${Stage}"
                ] } })
            );
        }
    }
}

#[test]
fn the_dead_letter_queue_keeps_14_days_encrypted_and_only_the_stage_rules_may_send() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let stage = cfg.stage;
        let queue = &synth.resource(ids::DEAD_LETTER_QUEUE)["Properties"];
        assert_eq!(queue["MessageRetentionPeriod"], 1_209_600);
        assert!(
            queue["SqsManagedSseEnabled"] == true
                || queue["KmsMasterKeyId"] == get_att(ids::STAGE_KEY, "Arn"),
            "{stage}: encrypted"
        );
        let policy = &synth.resource(ids::DEAD_LETTER_QUEUE_POLICY)["Properties"];
        assert_eq!(policy["Queues"], json!([reference(ids::DEAD_LETTER_QUEUE)]));
        let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 2);
        let statement = &statements[0];
        assert_eq!(statement["Effect"], "Allow");
        assert_eq!(
            statement["Principal"],
            json!({ "Service": "events.amazonaws.com" })
        );
        assert_eq!(statement["Action"], json!(["sqs:SendMessage"]));
        assert_eq!(statement["Resource"], json!([dead_letter_arn()]));
        let rule_arns: BTreeSet<String> = synth
            .of_type("AWS::Events::Rule")
            .into_iter()
            .map(|(id, _)| get_att(id, "Arn").to_string())
            .collect();
        assert_eq!(rule_arns.len(), 7 + usize::from(cfg.customer_managed_key));
        let allowed: BTreeSet<String> = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        assert_eq!(allowed, rule_arns, "{stage}: exactly the stage's rules");
        assert_denies_insecure_transport(&statements[1], "sqs:*", &json!([dead_letter_arn()]));
        let unrouted = &synth.resource(ids::UNROUTED_QUEUE_POLICY)["Properties"];
        let unrouted_arn = json!([get_att(ids::UNROUTED_QUEUE, "Arn")]);
        assert_denies_insecure_transport(
            &unrouted["PolicyDocument"]["Statement"][1],
            "sqs:*",
            &unrouted_arn,
        );
    }
}

fn assert_denies_insecure_transport(statement: &Value, action: &str, resource: &Value) {
    assert_eq!(
        statement,
        &json!({
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": [action],
            "Resource": resource,
            "Condition": { "Bool": { "aws:SecureTransport": ["false"] } }
        })
    );
}

#[test]
fn only_cloudwatch_and_the_key_state_rule_may_publish_to_the_topic_and_only_over_tls() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let policies = synth.of_type("AWS::SNS::TopicPolicy");
        assert_eq!(policies.len(), 1);
        let p = &synth.resource(ids::OPS_ALERTS_TOPIC_POLICY)["Properties"];
        assert_eq!(p["Topics"], json!([topic()]));
        let statements = p["PolicyDocument"]["Statement"].as_array().unwrap();
        assert_eq!(
            statements.len(),
            2 + usize::from(cfg.customer_managed_key),
            "{}",
            cfg.stage
        );
        assert_eq!(
            statements[0],
            json!({
                "Sid": "CloudWatchAlarmsOfThisAccountPublish",
                "Effect": "Allow",
                "Principal": { "Service": "cloudwatch.amazonaws.com" },
                "Action": ["sns:Publish"],
                "Resource": [topic()],
                "Condition": { "StringEquals": { "aws:SourceAccount": [reference("AWS::AccountId")] } }
            })
        );
        if cfg.customer_managed_key {
            assert_eq!(
                statements[1],
                json!({
                    "Sid": "KeyStateRulePublishes",
                    "Effect": "Allow",
                    "Principal": { "Service": "events.amazonaws.com" },
                    "Action": ["sns:Publish"],
                    "Resource": [topic()],
                    "Condition": { "ArnEquals": { "aws:SourceArn": [get_att(ids::KEY_STATE_RULE, "Arn")] } }
                })
            );
        }
        assert_denies_insecure_transport(
            statements.last().unwrap(),
            "sns:Publish",
            &json!([topic()]),
        );
    }
}

/// Every IAM statement of a role or a resource policy, with where it is.
fn iam_statements(synth: &Synth) -> Vec<(String, &Value)> {
    let mut statements = Vec::new();
    for (id, resource) in synth.resources() {
        let p = &resource["Properties"];
        let mut documents = vec![&p["AssumeRolePolicyDocument"], &p["PolicyDocument"]];
        if let Some(policies) = p["Policies"].as_array() {
            documents.extend(policies.iter().map(|policy| &policy["PolicyDocument"]));
        }
        for document in documents {
            for statement in document["Statement"].as_array().into_iter().flatten() {
                statements.push((format!("{}: {id}", synth.stage), statement));
            }
        }
    }
    statements
}

fn strings_in(value: &Value) -> Vec<&str> {
    match value {
        Value::String(s) => vec![s],
        Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => Vec::new(),
    }
}

/// No `*` action anywhere. Wildcards only where AWS's own forms need them:
/// `sqs:*` in the TLS `Deny` (it must cover every action), and none in any
/// `Allow` of a role or a resource policy. (The key policy, a string, is
/// checked in `the_key_policy_lets_each_service_use_the_key_only_for_this_stage`.)
#[test]
fn no_iam_statement_has_a_wildcard_action_or_resource() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let statements = iam_statements(&synth);
        assert!(
            statements.len() >= 12,
            "the roles and the queue and topic policies have statements"
        );
        for (context, statement) in statements {
            let actions = strings_in(&statement["Action"]);
            assert!(!actions.is_empty(), "{context}: no action");
            let deny = statement["Effect"] == "Deny";
            for action in actions {
                assert_ne!(action, "*", "{context}");
                if deny {
                    assert!(
                        action == "sqs:*" || !action.contains('*'),
                        "{context}: {action}"
                    );
                } else {
                    assert!(!action.contains('*'), "{context}: wildcard action {action}");
                }
            }
            assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
            assert_ne!(
                statement["Principal"] == "*",
                statement["Principal"].is_null() || !deny,
                "{context}: only a Deny names everyone"
            );
            // Resources are ARNs of the stack's own resources or parameters:
            // no `*`, not even inside a Sub.
            for resource in strings_in(&statement["Resource"]) {
                assert!(
                    !resource.contains('*'),
                    "{context}: wildcard resource {resource}"
                );
            }
        }
        // The key policy: no `*` action, `*` resource only as the key
        // policy's own `Resource`.
        if cfg.customer_managed_key {
            let policy = sub_json(&synth.resource(ids::STAGE_KEY)["Properties"]["KeyPolicy"]);
            for statement in policy["Statement"].as_array().unwrap() {
                for action in strings_in(&statement["Action"]) {
                    assert_ne!(action, "*");
                }
            }
        }
    }
}

/// The actions of a role's inline policies, by statement id.
fn role_actions(synth: &Synth, role_id: &str) -> Vec<(String, Vec<String>, Value)> {
    role_statements(synth, role_id)
        .into_iter()
        .map(|(sid, actions, resources, _)| (sid, actions, resources))
        .collect()
}

/// A role's statements: sid, actions, resources, condition.
fn role_statements(synth: &Synth, role_id: &str) -> Vec<(String, Vec<String>, Value, Value)> {
    synth.resource(role_id)["Properties"]["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|policy| policy["PolicyDocument"]["Statement"].as_array().unwrap())
        .map(|s| {
            let actions = strings_in(&s["Action"])
                .into_iter()
                .map(str::to_owned)
                .collect();
            (
                s["Sid"].as_str().unwrap().to_owned(),
                actions,
                s["Resource"].clone(),
                s["Condition"].clone(),
            )
        })
        .collect()
}

/// The table actions each function's requests need (`TransactGetItems` and
/// `TransactWriteItems` are authorized per item): the handler reads with a
/// transaction and writes puts, updates and, when no money moves, a
/// condition check on the account; the sweep queries, reads the jobs behind
/// an account's holds with `BatchGetItem` (its audit), and expires holds
/// and clears audit marks with puts and updates only.
fn expected_ledger_actions(role_id: &str) -> Vec<String> {
    let actions: &[&str] = if role_id == ids::HANDLER_ROLE {
        &[
            "dynamodb:ConditionCheckItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        ]
    } else {
        &[
            "dynamodb:BatchGetItem",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
        ]
    };
    actions.iter().map(|a| (*a).to_owned()).collect()
}

#[test]
fn each_role_may_touch_only_its_own_table_log_group_queue_and_parameter() {
    let table = get_att(ids::LEDGER_TABLE, "Arn");
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        for (role_id, log_group_id) in [
            (ids::HANDLER_ROLE, ids::HANDLER_LOG_GROUP),
            (ids::SWEEP_ROLE, ids::SWEEP_LOG_GROUP),
        ] {
            for (sid, actions, resources) in role_actions(&synth, role_id) {
                let context = format!("{}: {role_id} {sid}", cfg.stage);
                let service = actions[0].split(':').next().unwrap().to_owned();
                assert!(
                    actions
                        .iter()
                        .all(|a| a.starts_with(&format!("{service}:"))),
                    "{context}: one service per statement"
                );
                let allowed_resources = match service.as_str() {
                    "dynamodb" => vec![
                        json!([table]),
                        json!([{ "Fn::Sub": "${LedgerTable.Arn}/index/open-items" }]),
                    ],
                    "logs" => vec![json!([get_att(log_group_id, "Arn")])],
                    "sqs" => vec![json!([dead_letter_arn()])],
                    "kms" => {
                        assert!(cfg.customer_managed_key, "{context}: kms without a key");
                        vec![json!([get_att(ids::STAGE_KEY, "Arn")])]
                    }
                    "ssm" => {
                        assert_eq!(
                            role_id,
                            ids::SWEEP_ROLE,
                            "{context}: only the sweep reads the key"
                        );
                        let name = cfg
                            .summarizer
                            .as_ref()
                            .expect("only with a summarizer")
                            .api_key_parameter
                            .trim_start_matches('/');
                        vec![
                            json!([{ "Fn::Sub": format!("arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{name}") }]),
                        ]
                    }
                    other => panic!("{context}: unexpected service {other}"),
                };
                assert!(
                    allowed_resources.contains(&resources),
                    "{context}: resources {resources}"
                );
                if sid == "LedgerReadWrite" {
                    assert_eq!(
                        actions,
                        expected_ledger_actions(role_id),
                        "{context}: exactly what the function sends"
                    );
                }
                for action in &actions {
                    assert!(
                        [
                            "dynamodb:BatchGetItem",
                            "dynamodb:ConditionCheckItem",
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:Query",
                            "dynamodb:UpdateItem",
                            "kms:Decrypt",
                            "kms:DescribeKey",
                            "kms:Encrypt",
                            "kms:GenerateDataKey",
                            "kms:GenerateDataKeyWithoutPlaintext",
                            "kms:ReEncryptFrom",
                            "kms:ReEncryptTo",
                            "logs:CreateLogStream",
                            "logs:PutLogEvents",
                            "sqs:SendMessage",
                            "ssm:GetParameter",
                        ]
                        .contains(&action.as_str()),
                        "{context}: {action} is not needed"
                    );
                }
            }
        }
        for role_id in [ids::HANDLER_ROLE, ids::SWEEP_ROLE] {
            let kms: Vec<_> = role_statements(&synth, role_id)
                .into_iter()
                .filter(|(_, actions, _, _)| actions[0].starts_with("kms:"))
                .collect();
            let via: Vec<&str> = kms
                .iter()
                .map(|(_, _, _, condition)| {
                    condition["StringEquals"]["kms:ViaService"][0]["Fn::Sub"]
                        .as_str()
                        .expect("kms only through a service")
                })
                .collect();
            let expected: &[&str] = if cfg.customer_managed_key {
                &[
                    "dynamodb.${AWS::Region}.amazonaws.com",
                    "sqs.${AWS::Region}.amazonaws.com",
                ]
            } else {
                &[]
            };
            assert_eq!(via, expected, "{}: {role_id}", cfg.stage);
        }
        let sweep_reads_parameter = role_actions(&synth, ids::SWEEP_ROLE)
            .iter()
            .any(|(_, actions, _)| actions.iter().any(|a| a.starts_with("ssm:")));
        assert_eq!(
            sweep_reads_parameter,
            cfg.summarizer.is_some(),
            "{}",
            cfg.stage
        );
    }
}

/// The property holding each named resource type's physical name.
const NAME_PROPERTIES: &[(&str, &str)] = &[
    ("AWS::CloudWatch::Alarm", "AlarmName"),
    ("AWS::CloudWatch::Dashboard", "DashboardName"),
    ("AWS::Events::Archive", "ArchiveName"),
    ("AWS::KMS::Alias", "AliasName"),
    ("AWS::DynamoDB::Table", "TableName"),
    ("AWS::Events::EventBus", "Name"),
    ("AWS::Events::Rule", "Name"),
    ("AWS::Lambda::Function", "FunctionName"),
    ("AWS::Logs::LogGroup", "LogGroupName"),
    ("AWS::SNS::Topic", "TopicName"),
    ("AWS::SQS::Queue", "QueueName"),
];

/// Replaces `${Param}` by the parameter's default.
fn resolve_with_defaults(synth: &Synth, template: &str) -> String {
    let mut resolved = template.to_owned();
    for name in [params::STAGE, params::TABLE_SUFFIX, params::EVENT_BUS_NAME] {
        resolved = resolved.replace(&format!("${{{name}}}"), synth.parameter_default(name));
    }
    resolved
}

#[test]
fn every_physical_name_carries_the_stage() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let mut named = 0;
        for (id, resource) in synth.resources() {
            let type_name = resource["Type"].as_str().unwrap();
            assert!(
                resource["Properties"].get("RoleName").is_none(),
                "{id}: roles take the stack's name"
            );
            let Some((_, property)) = NAME_PROPERTIES.iter().find(|(t, _)| *t == type_name) else {
                continue;
            };
            named += 1;
            let name = &resource["Properties"][*property];
            let resolved = if name == &reference(params::EVENT_BUS_NAME) {
                synth.parameter_default(params::EVENT_BUS_NAME).to_owned()
            } else {
                let template = name["Fn::Sub"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{id}: {property} is not a Sub: {name}"));
                assert!(
                    template.contains("${Stage}") || template.contains("${TableSuffix}"),
                    "{id}: {template} does not carry the stage"
                );
                resolve_with_defaults(&synth, template)
            };
            assert!(resolved.contains(cfg.stage.as_str()), "{id}: {resolved}");
            assert!(resolved.contains("cc-agent-reconciler"), "{id}: {resolved}");
            // ... and it is one of `infra::names`, the one home of names.
            let pattern = names::all()
                .into_iter()
                .find(|pattern| &serde_json::to_value(pattern.expr()).unwrap() == name)
                .unwrap_or_else(|| panic!("{id}: {name} is not in infra::names"));
            assert_eq!(pattern.resolve(&cfg), resolved, "{id}");
        }
        assert!(named >= 20, "{}: only {named} named resources", cfg.stage);
    }
}

#[test]
fn the_parameters_default_to_the_stage_values() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let parameters = &synth.json["Parameters"];
        assert_eq!(parameters["Stage"]["Default"], stage.as_str());
        assert_eq!(
            parameters["Stage"]["AllowedValues"],
            json!(["dev", "staging", "prod"])
        );
        assert_eq!(parameters["TableSuffix"]["Default"], format!("_{stage}"));
        assert_eq!(
            parameters["EventBusName"]["Default"],
            format!("cc-agent-reconciler-{stage}")
        );
        for code in [
            params::ARTIFACT_BUCKET,
            params::HANDLER_CODE_KEY,
            params::SWEEP_CODE_KEY,
        ] {
            assert_eq!(parameters[code]["Type"], "String");
            assert!(
                parameters[code].get("Default").is_none(),
                "{code}: filled by the deploy step"
            );
        }
    }
}

/// Every `Ref`, `GetAtt` and `${...}` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Ref") {
                found.push(name.clone());
            }
            if let Some(Value::String(id)) = map.get("Fn::GetAtt").and_then(|v| v.get(0)) {
                found.push(id.clone());
            }
            if let Some(Value::String(template)) = map.get("Fn::Sub") {
                for piece in template.split("${").skip(1) {
                    let name = piece.split('}').next().unwrap();
                    found.push(name.split('.').next().unwrap().to_owned());
                }
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_parameter_is_used() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let parameters: BTreeSet<&str> = synth.json["Parameters"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut found = Vec::new();
        references(&synth.json["Resources"], &mut found);
        references(&synth.json["Outputs"], &mut found);
        references(&synth.json["Conditions"], &mut found);
        for name in &found {
            let known = name.starts_with("AWS::")
                || parameters.contains(name.as_str())
                || !synth.json["Resources"][name].is_null();
            assert!(known, "{}: unresolved reference {name}", cfg.stage);
        }
        for parameter in parameters {
            assert!(
                found.iter().any(|name| name == parameter),
                "{}: parameter {parameter} unused",
                cfg.stage
            );
        }
    }
}

#[test]
fn each_alert_subscription_is_a_subscription_of_the_topic() {
    let config = everything_on();
    let synth = Synth::of_config(&config);
    let subscriptions = synth.of_type("AWS::SNS::Subscription");
    let found: BTreeSet<(String, String)> = subscriptions
        .iter()
        .map(|(id, subscription)| {
            assert!(id.starts_with(ids::OPS_ALERTS_SUBSCRIPTION_PREFIX), "{id}");
            let p = &subscription["Properties"];
            assert_eq!(p["TopicArn"], topic());
            (
                p["Protocol"].as_str().unwrap().to_owned(),
                p["Endpoint"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = every_subscription()
        .into_iter()
        .map(|s| (s.protocol.as_str().to_owned(), s.endpoint))
        .collect();
    assert_eq!(found, expected);
    // Stable ids: reordering the list recreates nothing.
    let mut reversed = config.clone();
    reversed.alert_subscriptions.reverse();
    let ids_of = |cfg: &StageConfig| -> BTreeSet<String> {
        infra::template(cfg)
            .resources_of_type("AWS::SNS::Subscription")
            .map(|(id, _)| id.to_owned())
            .collect()
    };
    assert_eq!(ids_of(&config), ids_of(&reversed));
    for stage in Stage::ALL {
        assert!(
            Synth::of(stage)
                .of_type("AWS::SNS::Subscription")
                .is_empty(),
            "{stage}: no subscription in the stage files"
        );
    }
}

#[test]
fn synth_is_deterministic() {
    for cfg in all_configs() {
        let first = infra::template(&cfg);
        assert_eq!(first, infra::template(&cfg));
        assert_eq!(
            first.to_json(),
            infra::template(&cfg).to_json(),
            "{}",
            cfg.stage
        );
        let json = first.to_pretty_json();
        assert_eq!(
            json,
            infra::template(&cfg).to_pretty_json(),
            "{}",
            cfg.stage
        );
        assert!(json.ends_with("}\n") && !json.ends_with("\n\n"));
        assert!(json.starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n"));
        assert!(json.is_ascii(), "{}: keep the template ASCII", cfg.stage);
    }
    for stage in Stage::ALL {
        assert_eq!(infra::synth(stage), infra::synth(stage));
        assert_eq!(
            infra::synth(stage),
            infra::template(&loaded(stage)).to_pretty_json()
        );
        assert_eq!(infra::try_synth(stage), Ok(infra::synth(stage)));
    }
}

#[test]
fn names_of_stacks_and_files() {
    assert_eq!(
        infra::stack_name(Stage::Staging),
        "cc-agent-reconciler-staging"
    );
    assert_eq!(
        infra::template_file_name(Stage::Prod),
        "cc-agent-reconciler-prod.template.json"
    );
    let template = infra::template(&StageConfig::for_stage(Stage::Dev));
    assert_eq!(template.resources_of_type("AWS::SQS::Queue").count(), 2);
    assert_eq!(
        template
            .resource(ids::LEDGER_TABLE)
            .map(infra::model::Resource::type_name),
        Some("AWS::DynamoDB::Table")
    );
}

#[test]
fn every_alarm_description_names_its_runbook_entry() {
    let anchors = infra::runbook_anchors();
    assert_eq!(
        anchors.iter().map(|a| a.alarm).collect::<Vec<_>>(),
        names::ALARMS
            .iter()
            .map(|(short, _)| *short)
            .collect::<Vec<_>>()
    );
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let alarms = synth.of_type("AWS::CloudWatch::Alarm");
        assert_eq!(alarms.len(), names::stage_alarms(&cfg).len());
        for (id, alarm) in alarms {
            let p = &alarm["Properties"];
            let name = p["AlarmName"]["Fn::Sub"].as_str().unwrap();
            let anchor = anchors
                .iter()
                .find(|a| name == format!("cc-agent-reconciler-{}-${{Stage}}", a.alarm))
                .unwrap_or_else(|| panic!("{id}: {name} has no runbook entry"));
            assert_eq!(anchor.anchor, format!("alarm-{}", anchor.alarm));
            let description = p["AlarmDescription"].as_str().unwrap();
            assert!(
                description.ends_with(&format!(
                    " Runbook: {}#{}",
                    infra::stack::RUNBOOK_FILE,
                    anchor.anchor
                )),
                "{id}: {description}"
            );
            assert!(description.len() <= 1024, "{id}: AlarmDescription ≤ 1024");
        }
    }
}

#[test]
fn the_archive_keeps_every_event_for_the_stage_retention_and_the_bus_with_it() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let archive = synth.resource(ids::EVENT_ARCHIVE);
        let p = &archive["Properties"];
        assert_eq!(
            p["ArchiveName"],
            json!({ "Fn::Sub": "cc-agent-reconciler-${Stage}-ledger-archive" })
        );
        assert_eq!(p["SourceArn"], get_att(ids::EVENT_BUS, "Arn"));
        // No pattern: every event of the bus, unrouted ones included.
        assert!(p.get("EventPattern").is_none(), "{}: {p}", cfg.stage);
        assert_eq!(p["RetentionDays"], cfg.archive_retention_days);
        // The bus goes with its archive: kept on staging and prod.
        let bus = synth.resource(ids::EVENT_BUS);
        assert_eq!(
            bus["DeletionPolicy"], archive["DeletionPolicy"],
            "{}",
            cfg.stage
        );
        assert_eq!(
            bus["UpdateReplacePolicy"], archive["UpdateReplacePolicy"],
            "{}",
            cfg.stage
        );
    }
    let retention = |stage| {
        Synth::of(stage).resource(ids::EVENT_ARCHIVE)["Properties"]["RetentionDays"].clone()
    };
    assert_eq!(retention(Stage::Prod), 365);
    assert_eq!(retention(Stage::Staging), 30);
    assert_eq!(retention(Stage::Dev), 7);
}

#[test]
fn reserved_concurrency_follows_the_stage_config() {
    let reserved = |synth: &Synth, id: &str| {
        synth.resource(id)["Properties"]["ReservedConcurrentExecutions"].as_u64()
    };
    for (stage, handler, sweep) in [
        (Stage::Dev, None, None),
        (Stage::Staging, Some(5), Some(1)),
        (Stage::Prod, Some(10), Some(1)),
    ] {
        let synth = Synth::of(stage);
        assert_eq!(reserved(&synth, ids::HANDLER_FUNCTION), handler, "{stage}");
        assert_eq!(reserved(&synth, ids::SWEEP_FUNCTION), sweep, "{stage}");
    }
}

/// Every checkov skip sits in `Metadata.checkov.skip` with an id and a reason.
#[test]
fn checkov_skips_have_the_form_checkov_reads_and_a_reason() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        for (id, resource) in synth.resources() {
            let Some(metadata) = resource.get("Metadata") else {
                continue;
            };
            let skips = metadata["checkov"]["skip"].as_array().expect("a skip list");
            assert!(!skips.is_empty(), "{id}");
            for skip in skips {
                assert!(
                    skip["id"].as_str().is_some_and(|i| i.starts_with("CKV")),
                    "{id}"
                );
                assert!(
                    skip["comment"]
                        .as_str()
                        .is_some_and(|c| c.ends_with('.') && c.len() > 20),
                    "{id}: {skip}"
                );
            }
        }
    }
}

/// The dashboard: a JSON body with the alarm states and every graph the
/// operators read, names and region substituted by CloudFormation.
#[test]
fn the_dashboard_shows_the_alarms_outcomes_functions_queues_and_sweep() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let p = &synth.resource(ids::DASHBOARD)["Properties"];
        assert_eq!(
            p["DashboardName"],
            json!({ "Fn::Sub": "cc-agent-reconciler-${Stage}" })
        );
        let body = sub_json(&p["DashboardBody"]);
        let widgets = body["widgets"].as_array().unwrap();
        let alarms = &widgets[0];
        assert_eq!(alarms["type"], "alarm");
        let expected_alarms: Vec<String> = names::stage_alarms(&loaded(stage))
            .iter()
            .map(|(_, n)| format!("arn:${{AWS::Partition}}:cloudwatch:${{AWS::Region}}:${{AWS::AccountId}}:alarm:{n}"))
            .collect();
        assert_eq!(alarms["properties"]["alarms"], json!(expected_alarms));
        let graph = |title: &str| -> &Value {
            widgets
                .iter()
                .find(|w| {
                    w["properties"]["title"]
                        .as_str()
                        .is_some_and(|t| t.starts_with(title))
                })
                .unwrap_or_else(|| panic!("no widget {title}"))
        };
        let lines = |title: &str| {
            graph(title)["properties"]["metrics"]
                .as_array()
                .unwrap()
                .clone()
        };
        let outcomes = [
            "granted",
            "held",
            "rejected",
            "debited",
            "refunded",
            "adjusted",
            "duplicate",
            "conflict",
        ];
        let replayed = [&outcomes[..], &[metrics::NOT_APPLIED_OUTCOME]].concat();
        for (title, metric, outcomes) in [
            ("Events by outcome", metrics::EVENTS, &outcomes[..]),
            (
                "Replayed events by outcome",
                metrics::REPLAYED_EVENTS,
                &replayed[..],
            ),
        ] {
            let lines = lines(title);
            let found: Vec<&str> = lines
                .iter()
                .map(|line| {
                    assert_eq!(line[0], metrics::NAMESPACE);
                    assert_eq!(line[1], metric);
                    assert_eq!(line[2], metrics::STAGE_DIMENSION);
                    assert_eq!(line[3], "${Stage}");
                    assert_eq!(line[4], metrics::OUTCOME_DIMENSION);
                    line[5].as_str().unwrap()
                })
                .collect();
            assert_eq!(found, outcomes, "{title}");
        }
        let metric_names = |title: &str| -> Vec<String> {
            lines(title)
                .iter()
                .map(|l| l[1].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(
            metric_names("Errors and throttles"),
            ["Errors", "Errors", "Throttles", "Throttles"]
        );
        let stats: Vec<String> = lines("Duration")
            .iter()
            .map(|l| {
                l.as_array().unwrap().last().unwrap()["stat"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(stats, ["p50", "p50", "p99", "p99"]);
        let queues: Vec<String> = lines("Queue depth")
            .iter()
            .map(|l| l[3].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            queues,
            [
                "cc-agent-reconciler-dlq-${Stage}",
                "cc-agent-reconciler-unrouted-${Stage}"
            ]
        );
        let rules = lines("Rule matches");
        assert_eq!(rules[0][1], "MatchedEvents");
        assert_eq!(rules[0][5], "cc-agent-reconciler-${Stage}-unrouted-events");
        assert_eq!(
            metric_names("Sweep"),
            [
                metrics::STRAGGLERS,
                metrics::STRAGGLER_CREDITS,
                metrics::EXPIRED,
                metrics::LEDGER_DRIFT
            ]
        );
        assert_eq!(
            metric_names("Conflicts"),
            [metrics::CONFLICTS, metrics::SWEEP_CONFLICTS]
        );
        for widget in widgets {
            let x = widget["x"].as_u64().unwrap();
            assert!(x + widget["width"].as_u64().unwrap() <= 24);
            if widget["type"] == "metric" {
                assert_eq!(widget["properties"]["region"], "${AWS::Region}");
            }
        }
    }
}

/// What a deploy sends is `Template::to_json`. With an alarm per delivery
/// path it is over the 51,200 bytes CloudFormation takes as `TemplateBody`,
/// so the deploy uploads it and passes `TemplateURL`, which takes 460,800
/// bytes (1 MB in the current quotas); and a template holds at most 200
/// resources (500 today). Both the older quotas, with room.
/// <https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html>
#[test]
fn every_template_fits_cloudformations_quotas() {
    for cfg in all_configs() {
        let template = infra::template(&cfg);
        let size = template.to_json().len();
        assert!(
            size <= 460_800 / 2,
            "{}: {size} bytes is over half of CloudFormation's 460,800-byte TemplateURL limit",
            cfg.stage
        );
        let resources = template.resources().len();
        assert!(resources <= 200 / 2, "{}: {resources} resources", cfg.stage);
    }
}
