//! Every service-to-service delivery of the stack, as the request AWS
//! documents for it (who asks, the action, the resource, the condition keys
//! and encryption context the calling service sets), evaluated with
//! `infra::policy` against each stage's resolved template: each must be
//! allowed, and a counterfeit of it (another rule, another queue, another
//! account, no service in between) refused. The table in docs/infra.md
//! ("Delivery paths") lists the same rows.
//!
//! Where AWS does not document a key, the row says what it assumes; that
//! assumption is then what to check on staging (CloudTrail shows the
//! context of each KMS call).

use infra::policy::resolve::Environment;
use infra::policy::stack::StackPolicies;
use infra::policy::{Caller, Policy, Request};
use infra::stack::ids;
use infra::{Stage, StageConfig};

use crate::support::{all_configs, everything_on, loaded};

/// The names a stage's resources have in the example account, written from
/// the documented ARN formats (not read from the template); the keys' and
/// roles' ARNs, which CloudFormation makes up, from the resolver's
/// stand-ins.
struct Names {
    env: Environment,
    stage: Stage,
    bus: String,
    keys: Option<(String, String)>,
    handler_role: String,
    sweep_role: String,
}

impl Names {
    fn new(cfg: &StageConfig, policies: &StackPolicies) -> Names {
        let keys = cfg.customer_managed_key.then(|| {
            (
                policies.arn(ids::STAGE_KEY).unwrap(),
                policies.arn(ids::ALERTS_KEY).unwrap(),
            )
        });
        Names {
            env: Environment::example(),
            stage: cfg.stage,
            bus: cfg.event_bus_name.clone(),
            keys,
            handler_role: policies.arn(ids::HANDLER_ROLE).unwrap(),
            sweep_role: policies.arn(ids::SWEEP_ROLE).unwrap(),
        }
    }

    fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.env.region, self.env.account
        )
    }

    fn queue(&self, short: &str) -> String {
        self.arn(
            "sqs",
            &format!("cc-agent-reconciler-{short}-{}", self.stage),
        )
    }

    /// A rule on the stage's bus (`rule/<bus>/<name>`).
    fn bus_rule(&self, short: &str) -> String {
        self.arn(
            "events",
            &format!(
                "rule/{}/cc-agent-reconciler-{}-{short}",
                self.bus, self.stage
            ),
        )
    }

    /// A rule on the default bus (`rule/<name>`).
    fn default_rule(&self, short: &str) -> String {
        self.arn(
            "events",
            &format!("rule/cc-agent-reconciler-{}-{short}", self.stage),
        )
    }

    fn function(&self, short: &str) -> String {
        self.arn(
            "lambda",
            &format!("function:cc-agent-reconciler-{}-{short}", self.stage),
        )
    }

    fn topic(&self) -> String {
        self.arn(
            "sns",
            &format!("cc-agent-reconciler-ops-alerts-{}", self.stage),
        )
    }

    fn log_group(&self, short: &str) -> String {
        self.arn(
            "logs",
            &format!(
                "log-group:/aws/lambda/cc-agent-reconciler-{}-{short}",
                self.stage
            ),
        )
    }

    /// The rules whose targets dead-letter to the DLQ.
    fn rules(&self) -> Vec<String> {
        let mut rules = vec![
            self.bus_rule("ledger-events"),
            self.bus_rule("unrouted-events"),
            self.default_rule("sweep-schedule"),
        ];
        for detail_type in reconciler_core::event::DETAIL_TYPES {
            rules.push(self.bus_rule(&format!("replay-{}", detail_type.replace('.', "-"))));
        }
        if self.keys.is_some() {
            rules.push(self.default_rule("kms-key-state"));
        }
        rules
    }
}

fn service(name: &str, action: &str, resource: &str) -> Request {
    Request::new(Caller::Service(name.to_owned()), action, resource)
}

fn role(arn: &str, action: &str, resource: &str) -> Request {
    Request::new(Caller::Iam(arn.to_owned()), action, resource)
}

/// One delivery path: what must be allowed, and counterfeits of it that
/// must be refused.
struct Row {
    id: &'static str,
    path: &'static str,
    allowed: Vec<Request>,
    refused: Vec<Request>,
}

/// The rows every stage has.
fn rows(n: &Names) -> Vec<Row> {
    let dlq = n.queue("dlq");
    let unrouted = n.queue("unrouted");
    let other_stage = |arn: &str| arn.replace(&format!("-{}", n.stage), "-elsewhere");
    let mut rows = vec![
        // P1. A rule's target retries end in its dead-letter queue:
        // EventBridge sends with `aws:SourceArn` = the rule.
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html
        Row {
            id: "P1",
            path: "EventBridge rule dead-letter config → the DLQ",
            allowed: n
                .rules()
                .iter()
                .map(|rule| {
                    service("events.amazonaws.com", "sqs:SendMessage", &dlq)
                        .with("aws:SourceArn", rule)
                })
                .collect(),
            refused: vec![
                service("events.amazonaws.com", "sqs:SendMessage", &dlq)
                    .with("aws:SourceArn", &other_stage(&n.bus_rule("ledger-events"))),
                service("events.amazonaws.com", "sqs:SendMessage", &dlq),
                service("events.amazonaws.com", "sqs:SendMessage", &dlq)
                    .with("aws:SourceArn", &n.bus_rule("ledger-events"))
                    .with("aws:SecureTransport", "false"),
            ],
        },
        // P2. The unrouted rule's target: the unrouted queue.
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sqs-permissions
        Row {
            id: "P2",
            path: "EventBridge unrouted rule → the unrouted queue",
            allowed: vec![
                service("events.amazonaws.com", "sqs:SendMessage", &unrouted)
                    .with("aws:SourceArn", &n.bus_rule("unrouted-events")),
            ],
            refused: vec![
                service("events.amazonaws.com", "sqs:SendMessage", &unrouted)
                    .with("aws:SourceArn", &n.bus_rule("ledger-events")),
            ],
        },
        // P4. Lambda's on-failure destination sends with the function's
        // execution role.
        // https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
        Row {
            id: "P4",
            path: "Lambda on-failure destination → the DLQ (execution role)",
            allowed: vec![
                role(&n.handler_role, "sqs:SendMessage", &dlq),
                role(&n.sweep_role, "sqs:SendMessage", &dlq),
            ],
            refused: vec![role(&n.handler_role, "sqs:SendMessage", &unrouted)],
        },
        // P6. A CloudWatch alarm's action publishes to the topic as
        // `cloudwatch.amazonaws.com`, with the alarm's account and ARN.
        // https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
        Row {
            id: "P6",
            path: "CloudWatch alarm action → the ops-alerts topic",
            allowed: vec![
                service("cloudwatch.amazonaws.com", "sns:Publish", &n.topic())
                    .with("aws:SourceAccount", &n.env.account)
                    .with(
                        "aws:SourceArn",
                        &n.arn("cloudwatch", "alarm:cc-agent-reconciler-errors-x"),
                    ),
            ],
            refused: vec![
                service("cloudwatch.amazonaws.com", "sns:Publish", &n.topic())
                    .with("aws:SourceAccount", "444455556666"),
            ],
        },
        // P12. A rule invokes its function: the function's resource policy
        // (AWS::Lambda::Permission) names the rule.
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions
        Row {
            id: "P12",
            path: "EventBridge rules → the handler and the sweep",
            allowed: invocations(n),
            refused: vec![
                service(
                    "events.amazonaws.com",
                    "lambda:InvokeFunction",
                    &n.function("sweep"),
                )
                .with("aws:SourceArn", &n.bus_rule("ledger-events")),
                service(
                    "events.amazonaws.com",
                    "lambda:InvokeFunction",
                    &n.function("handler"),
                )
                .with("aws:SourceArn", &n.bus_rule("unrouted-events")),
            ],
        },
        // P17. Lambda writes the function's logs with its execution role.
        // https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-permissions.html
        Row {
            id: "P17",
            path: "Lambda → the function's log group (execution role)",
            allowed: ["logs:CreateLogStream", "logs:PutLogEvents"]
                .into_iter()
                .flat_map(|action| {
                    [
                        role(&n.handler_role, action, &stream(&n.log_group("handler"))),
                        role(&n.sweep_role, action, &stream(&n.log_group("sweep"))),
                    ]
                })
                .collect(),
            refused: vec![role(
                &n.handler_role,
                "logs:PutLogEvents",
                &stream(&n.log_group("sweep")),
            )],
        },
    ];
    if n.keys.is_some() {
        rows.extend(key_rows(n));
    }
    rows
}

/// A log stream of a log group (`PutLogEvents`' resource).
fn stream(group: &str) -> String {
    format!("{group}:log-stream:2026/01/01/[$LATEST]0123456789abcdef")
}

fn invocations(n: &Names) -> Vec<Request> {
    let invoke = |function: &str, rule: String| {
        service(
            "events.amazonaws.com",
            "lambda:InvokeFunction",
            &n.function(function),
        )
        .with("aws:SourceArn", &rule)
    };
    let mut allowed = vec![
        invoke("handler", n.bus_rule("ledger-events")),
        invoke("sweep", n.default_rule("sweep-schedule")),
    ];
    for detail_type in reconciler_core::event::DETAIL_TYPES {
        allowed.push(invoke(
            "handler",
            n.bus_rule(&format!("replay-{}", detail_type.replace('.', "-"))),
        ));
    }
    allowed
}

/// The rows of the customer managed keys (staging and prod).
fn key_rows(n: &Names) -> Vec<Row> {
    let (stage_key, alerts_key) = n.keys.clone().expect("a stage with keys");
    let (dlq, unrouted) = (n.queue("dlq"), n.queue("unrouted"));
    let via = |service: &str| format!("{service}.{}.amazonaws.com", n.env.region);
    let both = |request: &dyn Fn(&str) -> Request| {
        vec![request("kms:GenerateDataKey"), request("kms:Decrypt")]
    };
    let sqs_context = |action: &str, queue: &str| {
        service("events.amazonaws.com", action, &stage_key)
            .with("kms:EncryptionContext:aws:sqs:arn", queue)
    };
    let topic_context = |principal: &str, action: &str, key: &str| {
        service(principal, action, key).with("kms:EncryptionContext:aws:sns:topicArn", &n.topic())
    };
    vec![
        // P3. EventBridge sending to an SSE-KMS queue: SQS calls
        // GenerateDataKey and Decrypt for the event source, whose key policy
        // statement names the service; the encryption context is the
        // queue's ARN, `aws:sqs:arn`. Assumed: SQS does not pass the rule's
        // `aws:SourceArn` on to KMS (not documented), so nothing relies on it.
        // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html
        Row {
            id: "P3",
            path: "SQS encrypts EventBridge's deliveries → the stage key",
            allowed: [dlq.as_str(), unrouted.as_str()]
                .into_iter()
                .flat_map(|queue| {
                    [
                        sqs_context("kms:GenerateDataKey", queue),
                        sqs_context("kms:Decrypt", queue),
                    ]
                })
                .collect(),
            refused: vec![
                sqs_context("kms:GenerateDataKey", &n.arn("sqs", "someone-elses-queue")),
                service("events.amazonaws.com", "kms:GenerateDataKey", &stage_key),
            ],
        },
        // P5. The on-failure destination's send: SQS calls KMS on the role's
        // behalf (`kms:ViaService`), the queue's ARN as encryption context.
        // https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service
        Row {
            id: "P5",
            path: "SQS encrypts the on-failure record → the stage key (execution role)",
            allowed: [&n.handler_role, &n.sweep_role]
                .into_iter()
                .flat_map(|arn| {
                    both(&|action| {
                        role(arn, action, &stage_key)
                            .with("kms:ViaService", &via("sqs"))
                            .with("kms:EncryptionContext:aws:sqs:arn", &dlq)
                    })
                })
                .collect(),
            refused: vec![
                role(&n.handler_role, "kms:GenerateDataKey", &stage_key),
                role(&n.handler_role, "kms:GenerateDataKey", &stage_key)
                    .with("kms:ViaService", &via("sqs"))
                    .with("kms:EncryptionContext:aws:sqs:arn", &unrouted),
            ],
        },
        // P7. An alarm's publish to the encrypted topic: SNS calls KMS for
        // `cloudwatch.amazonaws.com`, the topic's ARN as encryption context.
        // https://docs.aws.amazon.com/sns/latest/dg/sns-enable-encryption-for-topic.html
        Row {
            id: "P7",
            path: "SNS encrypts an alarm's notification → the alerts key",
            allowed: both(&|action| topic_context("cloudwatch.amazonaws.com", action, &alerts_key)),
            refused: vec![
                topic_context(
                    "cloudwatch.amazonaws.com",
                    "kms:GenerateDataKey",
                    &stage_key,
                ),
                service(
                    "cloudwatch.amazonaws.com",
                    "kms:GenerateDataKey",
                    &alerts_key,
                )
                .with(
                    "kms:EncryptionContext:aws:sns:topicArn",
                    &n.arn("sns", "another-topic"),
                ),
            ],
        },
        // P9. CloudWatch Logs encrypts a log group's data as
        // `logs.<region>.amazonaws.com`, the group's ARN (no `:*`) as
        // encryption context.
        // https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
        Row {
            id: "P9",
            path: "CloudWatch Logs → the stage key (function log groups)",
            allowed: ["handler", "sweep"]
                .into_iter()
                .flat_map(|f| {
                    [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:GenerateDataKey",
                        "kms:ReEncryptFrom",
                        "kms:DescribeKey",
                    ]
                    .map(|action| {
                        service(&via("logs"), action, &stage_key)
                            .with("kms:EncryptionContext:aws:logs:arn", &n.log_group(f))
                    })
                })
                .collect(),
            refused: vec![service(&via("logs"), "kms:Decrypt", &stage_key).with(
                "kms:EncryptionContext:aws:logs:arn",
                &n.arn("logs", "log-group:/aws/lambda/other"),
            )],
        },
        // P10. The archive under a customer managed key: EventBridge
        // describes the key and encrypts with the bus's ARN as encryption
        // context (the guide's example policy).
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/encryption-archives.html
        Row {
            id: "P10",
            path: "EventBridge archive → the stage key",
            allowed: {
                let bus = n.arn("events", &format!("event-bus/{}", n.bus));
                let mut allowed: Vec<Request> =
                    ["kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncryptTo"]
                        .into_iter()
                        .map(|action| {
                            service("events.amazonaws.com", action, &stage_key)
                                .with("kms:EncryptionContext:aws:events:event-bus:arn", &bus)
                        })
                        .collect();
                allowed.push(service(
                    "events.amazonaws.com",
                    "kms:DescribeKey",
                    &stage_key,
                ));
                allowed
            },
            refused: vec![
                service("events.amazonaws.com", "kms:Decrypt", &stage_key).with(
                    "kms:EncryptionContext:aws:events:event-bus:arn",
                    &n.arn("events", "event-bus/default"),
                ),
            ],
        },
        // P11. DynamoDB uses the table's key on behalf of the caller
        // (`kms:ViaService`), the table's name as encryption context.
        // https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html
        Row {
            id: "P11",
            path: "DynamoDB → the stage key (execution roles)",
            allowed: [&n.handler_role, &n.sweep_role]
                .into_iter()
                .flat_map(|arn| {
                    ["kms:Decrypt", "kms:DescribeKey"].map(|action| {
                        role(arn, action, &stage_key)
                            .with("kms:ViaService", &via("dynamodb"))
                            .with("kms:CallerAccount", &n.env.account)
                            .with(
                                "kms:EncryptionContext:aws:dynamodb:tableName",
                                &format!("cc-agent-reconciler-ledger_{}", n.stage),
                            )
                    })
                })
                .collect(),
            refused: vec![
                role(&n.handler_role, "kms:Decrypt", &stage_key).with("kms:ViaService", &via("s3")),
                role(&n.handler_role, "kms:Decrypt", &alerts_key)
                    .with("kms:ViaService", &via("dynamodb")),
            ],
        },
        // P15. The key-state rule publishes to the topic as
        // `events.amazonaws.com` with `aws:SourceArn` = the rule. Assumed:
        // the topic policy's condition on it is honoured (an older revision
        // of the guide said SNS topic policies take no condition for
        // EventBridge).
        // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
        Row {
            id: "P15",
            path: "EventBridge key-state rule → the ops-alerts topic",
            allowed: vec![
                service("events.amazonaws.com", "sns:Publish", &n.topic())
                    .with("aws:SourceArn", &n.default_rule("kms-key-state")),
            ],
            refused: vec![
                service("events.amazonaws.com", "sns:Publish", &n.topic())
                    .with("aws:SourceArn", &n.bus_rule("ledger-events")),
            ],
        },
        // P16. SNS encrypts the rule's message: for EventBridge only the
        // key policy's service statement works ("Adding the
        // aws:SourceAccount and aws:SourceArn to a AWS KMS policy is not
        // supported for EventBridge-to-encrypted topics").
        // https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
        Row {
            id: "P16",
            path: "SNS encrypts the key-state alert → the alerts key",
            allowed: both(&|action| topic_context("events.amazonaws.com", action, &alerts_key)),
            refused: vec![
                topic_context("events.amazonaws.com", "kms:GenerateDataKey", &stage_key),
                service("events.amazonaws.com", "kms:Decrypt", &alerts_key).with(
                    "kms:EncryptionContext:aws:sns:topicArn",
                    &n.arn("sns", "another-topic"),
                ),
            ],
        },
    ]
}

/// Evaluates every row of a config's template.
fn check_rows(cfg: &StageConfig, rows: &dyn Fn(&Names) -> Vec<Row>) -> Vec<&'static str> {
    let policies =
        StackPolicies::of(cfg, &Environment::example()).unwrap_or_else(|e| panic!("{e}"));
    let names = Names::new(cfg, &policies);
    let mut seen = Vec::new();
    for row in rows(&names) {
        let context = format!("{} ({}): {} {}", cfg.stage, describe(cfg), row.id, row.path);
        assert!(
            !row.allowed.is_empty() && !row.refused.is_empty(),
            "{context}"
        );
        for request in &row.allowed {
            let verdict = policies.authorize(request, &[]);
            assert!(verdict.allowed(), "{context}: refused {request}\n{verdict}");
        }
        for request in &row.refused {
            let verdict = policies.authorize(request, &[]);
            assert!(
                !verdict.allowed(),
                "{context}: allowed the counterfeit {request}\n{verdict}"
            );
        }
        seen.push(row.id);
    }
    seen
}

fn describe(cfg: &StageConfig) -> &'static str {
    if cfg.customer_managed_key {
        "keys"
    } else {
        "no keys"
    }
}

#[test]
fn every_service_delivery_is_allowed_and_its_counterfeits_refused_on_every_stage() {
    for cfg in all_configs() {
        let seen = check_rows(&cfg, &rows);
        let expected: &[&str] = if cfg.customer_managed_key {
            &[
                "P1", "P2", "P4", "P6", "P12", "P17", "P3", "P5", "P7", "P9", "P10", "P11", "P15",
                "P16",
            ]
        } else {
            &["P1", "P2", "P4", "P6", "P12", "P17"]
        };
        assert_eq!(seen, expected, "{}", cfg.stage);
    }
    // Dev has no keys; staging and prod both.
    assert!(!loaded(Stage::Dev).customer_managed_key);
    assert!(
        loaded(Stage::Prod).customer_managed_key && loaded(Stage::Staging).customer_managed_key
    );
}

/// P14. The sweep reads the summarizer's key from Parameter Store (only
/// with a summarizer), its own parameter and no other.
/// https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html
#[test]
fn the_sweep_reads_only_its_summarizer_parameter() {
    let cfg = everything_on();
    let parameter = cfg.summarizer.as_ref().unwrap().api_key_parameter.clone();
    check_rows(&cfg, &|n: &Names| {
        let arn = |name: &str| n.arn("ssm", &format!("parameter{name}"));
        vec![Row {
            id: "P14",
            path: "the sweep → its summarizer's SSM parameter",
            allowed: vec![role(&n.sweep_role, "ssm:GetParameter", &arn(&parameter))],
            refused: vec![
                role(
                    &n.sweep_role,
                    "ssm:GetParameter",
                    &arn("/another/parameter"),
                ),
                role(&n.handler_role, "ssm:GetParameter", &arn(&parameter)),
            ],
        }]
    });
}

/// The evaluator refuses what the stack does not model, so a policy that
/// starts using an unknown element fails here rather than being misread.
#[test]
fn every_stage_template_is_read_by_the_evaluator() {
    for cfg in all_configs() {
        let policies = StackPolicies::of(&cfg, &Environment::example());
        assert!(policies.is_ok(), "{}: {}", cfg.stage, policies.unwrap_err());
    }
    // An outside principal with no identity policy gets nothing.
    let policies = StackPolicies::of(&loaded(Stage::Prod), &Environment::example()).unwrap();
    let outsider = Request::new(
        Caller::Iam("arn:aws:iam::111122223333:role/someone".to_owned()),
        "sqs:ReceiveMessage",
        &policies.arn(ids::DEAD_LETTER_QUEUE).unwrap(),
    );
    assert!(!policies.authorize(&outsider, &[]).allowed());
    let reader = Policy::parse(
        "reader",
        &serde_json::json!({"Statement": {"Effect": "Allow", "Action": "sqs:ReceiveMessage", "Resource": "*"}}),
    )
    .unwrap();
    assert!(policies.authorize(&outsider, &[reader]).allowed());
}
