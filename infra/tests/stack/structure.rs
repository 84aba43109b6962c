//! Structural assertions over every stage's template, as code.

use std::collections::BTreeSet;

use infra::stack::{ids, params};
use infra::{Stage, StageConfig, stateful_resource_types};
use reconciler_core::event::DETAIL_TYPES;
use serde_json::{Value, json};

use crate::support::{Synth, all_configs, everything_on, get_att, reference, refers_to};

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
            2,
            "{}: the events rule and the schedule",
            cfg.stage
        );
        for (rule_id, rule) in rules {
            let targets = rule["Properties"]["Targets"].as_array().expect("targets");
            assert!(
                !targets.is_empty(),
                "{}: {rule_id} has no target",
                cfg.stage
            );
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
                // The rule may invoke its function, and only that rule.
                let function_id = target["Arn"]["Fn::GetAtt"][0]
                    .as_str()
                    .expect("a function target");
                let permitted =
                    synth
                        .of_type("AWS::Lambda::Permission")
                        .into_iter()
                        .any(|(_, permission)| {
                            let p = &permission["Properties"];
                            p["SourceArn"] == get_att(rule_id, "Arn")
                                && refers_to(&p["FunctionName"], function_id)
                                && p["Principal"] == "events.amazonaws.com"
                                && p["Action"] == "lambda:InvokeFunction"
                        });
                assert!(
                    permitted,
                    "{}: {rule_id} may not invoke {function_id}",
                    cfg.stage
                );
            }
        }
    }
}

#[test]
fn the_rules_match_the_business_events_and_the_schedule() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let events = &synth.resource(ids::LEDGER_EVENTS_RULE)["Properties"];
        assert_eq!(events["EventBusName"], get_att(ids::EVENT_BUS, "Name"));
        assert_eq!(
            events["EventPattern"],
            json!({ "detail-type": DETAIL_TYPES })
        );
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
fn every_alarm_notifies_the_topic_on_alarm_and_ok() {
    let expected_names: BTreeSet<String> = [
        "errors",
        "sweep-errors",
        "dlq-messages",
        "drift",
        "conflicts",
        "throttles",
    ]
    .map(|name| format!("cc-agent-reconciler-{name}-${{Stage}}"))
    .into();
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let alarms = synth.of_type("AWS::CloudWatch::Alarm");
        let names: BTreeSet<String> = alarms
            .iter()
            .map(|(_, alarm)| {
                alarm["Properties"]["AlarmName"]["Fn::Sub"]
                    .as_str()
                    .expect("a Sub name")
                    .to_owned()
            })
            .collect();
        assert_eq!(names, expected_names, "{}", cfg.stage);
        for (alarm_id, alarm) in alarms {
            let p = &alarm["Properties"];
            assert_eq!(
                p["AlarmActions"],
                json!([topic()]),
                "{}: {alarm_id}",
                cfg.stage
            );
            assert_eq!(
                p["OKActions"],
                json!([topic()]),
                "{}: {alarm_id}",
                cfg.stage
            );
            assert_eq!(
                p["TreatMissingData"], "notBreaching",
                "{}: {alarm_id}",
                cfg.stage
            );
        }
        let handler_errors = &synth.resource(ids::HANDLER_ERRORS_ALARM)["Properties"];
        assert_eq!(
            (
                &handler_errors["Statistic"],
                &handler_errors["Period"],
                &handler_errors["EvaluationPeriods"],
                &handler_errors["Threshold"],
                &handler_errors["ComparisonOperator"]
            ),
            (
                &json!("Sum"),
                &json!(300),
                &json!(1),
                &json!(1.0),
                &json!("GreaterThanOrEqualToThreshold")
            ),
            "{}: handler errors ≥ 1 in 5 minutes",
            cfg.stage
        );
        for (alarm_id, metric) in [
            (ids::LEDGER_DRIFT_ALARM, "LedgerDrift"),
            (ids::CONFLICTS_ALARM, "Conflicts"),
        ] {
            let p = &synth.resource(alarm_id)["Properties"];
            assert_eq!(
                p["Namespace"],
                reconciler_core::contract::metrics::NAMESPACE
            );
            assert_eq!(p["MetricName"], metric);
            assert_eq!(
                p["Dimensions"],
                json!([{ "Name": "Stage", "Value": reference(params::STAGE) }])
            );
        }
        let dlq = &synth.resource(ids::DEAD_LETTER_MESSAGES_ALARM)["Properties"];
        assert_eq!(
            dlq["Dimensions"][0]["Value"],
            get_att(ids::DEAD_LETTER_QUEUE, "QueueName")
        );
    }
}

#[test]
fn staging_and_prod_retain_their_stateful_resources() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let expected = if cfg.stage == Stage::Dev {
            "Delete"
        } else {
            "Retain"
        };
        for type_name in stateful_resource_types() {
            let resources = synth.of_type(type_name);
            assert!(!resources.is_empty(), "{}: no {type_name}", cfg.stage);
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
            assert_eq!(
                table["Properties"]["DeletionProtectionEnabled"],
                cfg.stage != Stage::Dev,
                "{}: {id}",
                cfg.stage
            );
        }
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

#[test]
fn the_dead_letter_queue_keeps_14_days_encrypted_and_only_the_stage_rules_may_send() {
    for stage in Stage::ALL {
        let synth = Synth::of(stage);
        let queue = &synth.resource(ids::DEAD_LETTER_QUEUE)["Properties"];
        assert_eq!(queue["MessageRetentionPeriod"], 1_209_600);
        assert_eq!(queue["SqsManagedSseEnabled"], true);
        let policy = &synth.resource(ids::DEAD_LETTER_QUEUE_POLICY)["Properties"];
        assert_eq!(policy["Queues"], json!([reference(ids::DEAD_LETTER_QUEUE)]));
        let statements = policy["PolicyDocument"]["Statement"].as_array().unwrap();
        assert_eq!(statements.len(), 1);
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
        let allowed: BTreeSet<String> = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
            .as_array()
            .unwrap()
            .iter()
            .map(Value::to_string)
            .collect();
        assert_eq!(allowed, rule_arns, "{stage}: exactly the stage's rules");
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

#[test]
fn no_iam_statement_has_a_wildcard_action_or_resource() {
    for cfg in all_configs() {
        let synth = Synth::of_config(&cfg);
        let statements = iam_statements(&synth);
        assert!(
            statements.len() >= 8,
            "the roles and the queue policy have statements"
        );
        for (context, statement) in statements {
            let actions = strings_in(&statement["Action"]);
            assert!(!actions.is_empty(), "{context}: no action");
            for action in actions {
                assert!(!action.contains('*'), "{context}: wildcard action {action}");
            }
            assert!(statement.get("NotAction").is_none() && statement.get("NotResource").is_none());
            // Resources are ARNs of the stack's own resources or parameters:
            // no `*`, not even inside a Sub (the log-group GetAtt's own `:*` is
            // AWS's stream suffix of that one group).
            for resource in strings_in(&statement["Resource"]) {
                assert!(
                    !resource.contains('*'),
                    "{context}: wildcard resource {resource}"
                );
            }
        }
    }
}

/// The actions of a role's inline policies, by statement id.
fn role_actions(synth: &Synth, role_id: &str) -> Vec<(String, Vec<String>, Value)> {
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
            )
        })
        .collect()
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
                for action in &actions {
                    assert!(
                        [
                            "dynamodb:ConditionCheckItem",
                            "dynamodb:GetItem",
                            "dynamodb:PutItem",
                            "dynamodb:Query",
                            "dynamodb:UpdateItem",
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
        }
        assert!(named >= 14, "{}: only {named} named resources", cfg.stage);
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
fn the_optional_subscription_follows_the_config() {
    let with_email = Synth::of_config(&everything_on());
    let subscription = &with_email.resource(ids::OPS_ALERTS_EMAIL_SUBSCRIPTION)["Properties"];
    assert_eq!(subscription["Protocol"], "email");
    assert_eq!(subscription["Endpoint"], "ops@example.com");
    assert_eq!(subscription["TopicArn"], topic());
    for stage in Stage::ALL {
        assert!(
            Synth::of(stage)
                .of_type("AWS::SNS::Subscription")
                .is_empty(),
            "{stage}: no e-mail by default"
        );
    }
}

#[test]
fn synth_is_deterministic() {
    for cfg in all_configs() {
        let first = infra::template(&cfg);
        assert_eq!(first, infra::template(&cfg));
        let json = first.to_json();
        assert_eq!(json, infra::template(&cfg).to_json(), "{}", cfg.stage);
        assert!(json.ends_with("}\n") && !json.ends_with("\n\n"));
        assert!(json.starts_with("{\n  \"AWSTemplateFormatVersion\": \"2010-09-09\",\n"));
        assert!(json.is_ascii(), "{}: keep the template ASCII", cfg.stage);
    }
    for stage in Stage::ALL {
        assert_eq!(infra::synth(stage), infra::synth(stage));
        assert_eq!(
            infra::synth(stage),
            infra::template(&StageConfig::for_stage(stage)).to_json()
        );
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
    assert_eq!(template.resources_of_type("AWS::SQS::Queue").count(), 1);
    assert_eq!(
        template
            .resource(ids::LEDGER_TABLE)
            .map(infra::model::Resource::type_name),
        Some("AWS::DynamoDB::Table")
    );
}
