//! The reconciler's stack (SPEC §6), described once. [`template`] derives a
//! stage's template from its [`StageConfig`]; every physical name is built
//! from the template parameters `Stage`, `TableSuffix` and `EventBusName`.

use std::collections::BTreeMap;

use reconciler_core::contract::{handler_env, metrics, sweep_env, table};
use reconciler_core::event::DETAIL_TYPES;

use crate::model::cloudwatch::{
    Alarm, AlarmMetric, ComparisonOperator, Dimension, Metric, MetricDataQuery, MetricStat,
    MetricStatProperties, Statistic, TreatMissingData,
};
use crate::model::dynamodb::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    PointInTimeRecoverySpecification, Projection, ProjectionType, SseSpecification, Table,
    TimeToLiveSpecification,
};
use crate::model::events::{
    DeadLetterConfig, EventBus, EventPattern, RetryPolicy, Rule, RuleState, Target,
};
use crate::model::iam::{Policy, PolicyDocument, Role, Statement};
use crate::model::lambda::{
    self, Code, DestinationConfig, Environment, EventInvokeConfig, Function, LogFormat,
    LoggingConfig, OnFailure, Permission, Runtime,
};
use crate::model::logs::LogGroup;
use crate::model::sns::{Protocol, Subscription, Topic};
use crate::model::sqs::{Queue, QueuePolicy};
use crate::model::{DeletionPolicy, Expr, Output, Parameter, Resource, Template};
use crate::stage::{Architecture, StageConfig};

/// Template parameter names.
pub mod params {
    /// The stage name (`dev`, `staging`, `prod`).
    pub const STAGE: &str = "Stage";
    /// Appended to table names (`_dev`, ...).
    pub const TABLE_SUFFIX: &str = "TableSuffix";
    /// The stage's event bus name.
    pub const EVENT_BUS_NAME: &str = "EventBusName";
    /// The S3 bucket holding the functions' zips.
    pub const ARTIFACT_BUCKET: &str = "ArtifactBucket";
    /// S3 key of the handler's zip (content-hashed by the deploy step).
    pub const HANDLER_CODE_KEY: &str = "HandlerCodeKey";
    /// S3 key of the sweep's zip (content-hashed by the deploy step).
    pub const SWEEP_CODE_KEY: &str = "SweepCodeKey";
}

/// Logical ids of the resources.
pub mod ids {
    /// The ledger table.
    pub const LEDGER_TABLE: &str = "LedgerTable";
    /// The stage's event bus.
    pub const EVENT_BUS: &str = "EventBus";
    /// Rule: business events on the bus → handler.
    pub const LEDGER_EVENTS_RULE: &str = "LedgerEventsRule";
    /// Rule: every 6 hours → sweep.
    pub const SWEEP_SCHEDULE_RULE: &str = "SweepScheduleRule";
    /// The handler function.
    pub const HANDLER_FUNCTION: &str = "HandlerFunction";
    /// The handler's execution role.
    pub const HANDLER_ROLE: &str = "HandlerRole";
    /// The handler's log group.
    pub const HANDLER_LOG_GROUP: &str = "HandlerLogGroup";
    /// The handler's asynchronous-invoke config.
    pub const HANDLER_EVENT_INVOKE_CONFIG: &str = "HandlerEventInvokeConfig";
    /// Lets the events rule invoke the handler.
    pub const HANDLER_INVOKE_PERMISSION: &str = "HandlerInvokePermission";
    /// The sweep function.
    pub const SWEEP_FUNCTION: &str = "SweepFunction";
    /// The sweep's execution role.
    pub const SWEEP_ROLE: &str = "SweepRole";
    /// The sweep's log group.
    pub const SWEEP_LOG_GROUP: &str = "SweepLogGroup";
    /// The sweep's asynchronous-invoke config.
    pub const SWEEP_EVENT_INVOKE_CONFIG: &str = "SweepEventInvokeConfig";
    /// Lets the schedule rule invoke the sweep.
    pub const SWEEP_INVOKE_PERMISSION: &str = "SweepInvokePermission";
    /// The dead-letter queue.
    pub const DEAD_LETTER_QUEUE: &str = "DeadLetterQueue";
    /// The dead-letter queue's resource policy.
    pub const DEAD_LETTER_QUEUE_POLICY: &str = "DeadLetterQueuePolicy";
    /// The ops-alerts topic.
    pub const OPS_ALERTS_TOPIC: &str = "OpsAlertsTopic";
    /// The optional e-mail subscription to the ops-alerts topic.
    pub const OPS_ALERTS_EMAIL_SUBSCRIPTION: &str = "OpsAlertsEmailSubscription";
    /// Alarm: handler errors.
    pub const HANDLER_ERRORS_ALARM: &str = "HandlerErrorsAlarm";
    /// Alarm: sweep errors.
    pub const SWEEP_ERRORS_ALARM: &str = "SweepErrorsAlarm";
    /// Alarm: messages in the dead-letter queue.
    pub const DEAD_LETTER_MESSAGES_ALARM: &str = "DeadLetterMessagesAlarm";
    /// Alarm: ledger drift found by the sweep.
    pub const LEDGER_DRIFT_ALARM: &str = "LedgerDriftAlarm";
    /// Alarm: conflicting events.
    pub const CONFLICTS_ALARM: &str = "ConflictsAlarm";
    /// Alarm: throttled invocations of either function.
    pub const THROTTLES_ALARM: &str = "ThrottlesAlarm";
}

/// Output names.
pub mod outputs {
    /// The ledger table's name.
    pub const LEDGER_TABLE_NAME: &str = "LedgerTableName";
    /// The event bus's name.
    pub const BUS_NAME: &str = "BusName";
    /// The event bus's ARN.
    pub const BUS_ARN: &str = "BusArn";
    /// The dead-letter queue's URL.
    pub const DEAD_LETTER_QUEUE_URL: &str = "DeadLetterQueueUrl";
    /// The dead-letter queue's ARN.
    pub const DEAD_LETTER_QUEUE_ARN: &str = "DeadLetterQueueArn";
    /// The ops-alerts topic's ARN.
    pub const OPS_ALERTS_TOPIC_ARN: &str = "OpsAlertsTopicArn";
    /// The handler function's name.
    pub const HANDLER_FUNCTION_NAME: &str = "HandlerFunctionName";
    /// The sweep function's name.
    pub const SWEEP_FUNCTION_NAME: &str = "SweepFunctionName";
}

/// The sweep's schedule.
pub const SWEEP_SCHEDULE: &str = "rate(6 hours)";
/// EventBridge delivery retries of a rule target, after the first attempt.
pub const RULE_TARGET_RETRY_ATTEMPTS: u32 = 3;
/// Age after which EventBridge gives up delivering an event (its maximum).
pub const RULE_TARGET_MAX_EVENT_AGE_SECONDS: u32 = 86_400;
/// Lambda retries of a failed asynchronous invocation (3 attempts in all).
pub const ASYNC_INVOKE_RETRY_ATTEMPTS: u32 = 2;
/// The dead-letter queue keeps messages 14 days (SQS's maximum).
pub const DEAD_LETTER_RETENTION_SECONDS: u32 = 14 * 24 * 60 * 60;

/// The stage's template.
///
/// # Panics
/// If `cfg` is invalid (see [`StageConfig::validate`]).
pub fn template(cfg: &StageConfig) -> Template {
    if let Err(problem) = cfg.validate() {
        panic!("invalid stage config: {problem}");
    }
    let mut t = Template::new(format!(
        "cc-agent-reconciler ({}): the credit ledger, its event bus, the handler and sweep \
         functions, the dead-letter queue and the ops alarms.",
        cfg.stage
    ));
    add_parameters(&mut t, cfg);
    add_ledger_table(&mut t, cfg);
    add_dead_letter_queue(&mut t, cfg);
    add_functions(&mut t, cfg);
    add_rules(&mut t);
    add_alerts(&mut t, cfg);
    add_outputs(&mut t);
    t
}

fn add_parameters(t: &mut Template, cfg: &StageConfig) {
    t.add_parameter(
        params::STAGE,
        Parameter::string("The stage; part of every resource name.")
            .with_default(cfg.stage.as_str())
            .with_allowed_values(crate::Stage::ALL.map(crate::Stage::as_str)),
    );
    t.add_parameter(
        params::TABLE_SUFFIX,
        Parameter::string("Appended to every DynamoDB table name.")
            .with_default(&cfg.table_suffix)
            .with_allowed_pattern("^[A-Za-z0-9_.-]+$", "letters, digits, '_', '.' and '-'"),
    );
    t.add_parameter(
        params::EVENT_BUS_NAME,
        Parameter::string("The stage's event bus.")
            .with_default(&cfg.event_bus_name)
            .with_allowed_pattern(
                "^[A-Za-z0-9_.-]{1,256}$",
                "1 to 256 letters, digits, '_', '.' and '-'",
            ),
    );
    t.add_parameter(
        params::ARTIFACT_BUCKET,
        Parameter::string("S3 bucket holding the functions' deployment packages.")
            .with_allowed_pattern("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", "an S3 bucket name"),
    );
    for (name, function) in [
        (params::HANDLER_CODE_KEY, "handler"),
        (params::SWEEP_CODE_KEY, "sweep"),
    ] {
        t.add_parameter(
            name,
            Parameter::string(format!(
                "S3 key of the {function}'s zip, content-hashed by the deploy step."
            ))
            .with_allowed_pattern("^.+$", "a non-empty S3 key"),
        );
    }
}

/// `Retain` for staging/prod, `Delete` for dev: always explicit.
fn stateful_policy(cfg: &StageConfig) -> DeletionPolicy {
    if cfg.retain_stateful_resources {
        DeletionPolicy::Retain
    } else {
        DeletionPolicy::Delete
    }
}

fn add_ledger_table(t: &mut Template, cfg: &StageConfig) {
    let table = Table {
        table_name: Expr::sub("cc-agent-reconciler-ledger${TableSuffix}"),
        billing_mode: BillingMode::PayPerRequest,
        attribute_definitions: [
            table::PARTITION_KEY,
            table::SORT_KEY,
            table::OPEN_INDEX_PARTITION_KEY,
            table::OPEN_INDEX_SORT_KEY,
        ]
        .map(AttributeDefinition::string)
        .to_vec(),
        key_schema: vec![
            KeySchemaElement::hash(table::PARTITION_KEY),
            KeySchemaElement::range(table::SORT_KEY),
        ],
        global_secondary_indexes: vec![GlobalSecondaryIndex {
            index_name: table::OPEN_INDEX.to_owned(),
            key_schema: vec![
                KeySchemaElement::hash(table::OPEN_INDEX_PARTITION_KEY),
                KeySchemaElement::range(table::OPEN_INDEX_SORT_KEY),
            ],
            projection: Projection {
                projection_type: ProjectionType::Include,
                non_key_attributes: table::OPEN_INDEX_ATTRIBUTES
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            },
        }],
        time_to_live_specification: Some(TimeToLiveSpecification {
            attribute_name: table::TTL_ATTRIBUTE.to_owned(),
            enabled: true,
        }),
        point_in_time_recovery_specification: Some(PointInTimeRecoverySpecification {
            point_in_time_recovery_enabled: true,
        }),
        sse_specification: Some(SseSpecification { sse_enabled: true }),
        deletion_protection_enabled: cfg.deletion_protection,
    };
    t.add_resource(
        ids::LEDGER_TABLE,
        Resource::new(table).with_policies(stateful_policy(cfg)),
    );
}

fn add_dead_letter_queue(t: &mut Template, cfg: &StageConfig) {
    let queue = Queue {
        queue_name: Expr::sub("cc-agent-reconciler-dlq-${Stage}"),
        message_retention_period: DEAD_LETTER_RETENTION_SECONDS,
        sqs_managed_sse_enabled: true,
    };
    t.add_resource(
        ids::DEAD_LETTER_QUEUE,
        Resource::new(queue).with_policies(stateful_policy(cfg)),
    );
    // Only the stage's two rules may send (their target dead-letter configs).
    // Lambda's on-failure destination sends with the function's role instead.
    let policy = QueuePolicy {
        queues: vec![Expr::reference(ids::DEAD_LETTER_QUEUE)],
        policy_document: PolicyDocument::new(vec![
            Statement::allow(
                "StageRulesDeadLetter",
                &["sqs:SendMessage"],
                vec![Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn")],
            )
            .for_service("events.amazonaws.com")
            .with_condition(
                "ArnEquals",
                "aws:SourceArn",
                vec![
                    Expr::get_att(ids::LEDGER_EVENTS_RULE, "Arn"),
                    Expr::get_att(ids::SWEEP_SCHEDULE_RULE, "Arn"),
                ],
            ),
        ]),
    };
    t.add_resource(ids::DEAD_LETTER_QUEUE_POLICY, policy);
}

/// The logical ids, names and settings of one function.
struct FunctionSpec {
    /// `handler` or `sweep`: the end of the function's name.
    short_name: &'static str,
    description: &'static str,
    function_id: &'static str,
    role_id: &'static str,
    log_group_id: &'static str,
    invoke_config_id: &'static str,
    code_key_parameter: &'static str,
    memory_mb: u32,
    timeout_seconds: u32,
    environment: BTreeMap<String, Expr>,
    /// Statements beyond the log group and the dead-letter queue.
    statements: Vec<Statement>,
}

fn add_functions(t: &mut Template, cfg: &StageConfig) {
    let ledger_arn = || Expr::get_att(ids::LEDGER_TABLE, "Arn");
    // TransactWriteItems (TransactGetItems) is authorized by the per-item
    // actions it contains. The handler never queries; the sweep reads entries.
    let handler_actions = [
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ];
    let sweep_actions = [
        "dynamodb:ConditionCheckItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
    ];

    let handler = FunctionSpec {
        short_name: "handler",
        description: "Applies ledger events from the stage's bus (SPEC sections 2-4).",
        function_id: ids::HANDLER_FUNCTION,
        role_id: ids::HANDLER_ROLE,
        log_group_id: ids::HANDLER_LOG_GROUP,
        invoke_config_id: ids::HANDLER_EVENT_INVOKE_CONFIG,
        code_key_parameter: params::HANDLER_CODE_KEY,
        memory_mb: cfg.handler_memory_mb,
        timeout_seconds: cfg.handler_timeout_seconds,
        environment: handler_environment(),
        statements: vec![Statement::allow(
            "LedgerReadWrite",
            &handler_actions,
            vec![ledger_arn()],
        )],
    };

    let mut sweep_statements = vec![
        Statement::allow("LedgerReadWrite", &sweep_actions, vec![ledger_arn()]),
        Statement::allow(
            "LedgerOpenItemsIndex",
            &["dynamodb:Query"],
            vec![Expr::sub(format!(
                "${{LedgerTable.Arn}}/index/{}",
                table::OPEN_INDEX
            ))],
        ),
    ];
    if let Some(summarizer) = &cfg.summarizer {
        let name = summarizer.api_key_parameter.trim_start_matches('/');
        sweep_statements.push(Statement::allow(
            "ReadSummarizerApiKey",
            &["ssm:GetParameter"],
            vec![Expr::sub(format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{name}"
            ))],
        ));
    }
    let sweep = FunctionSpec {
        short_name: "sweep",
        description: "Expires stale holds and audits the ledger every 6 hours (SPEC section 5).",
        function_id: ids::SWEEP_FUNCTION,
        role_id: ids::SWEEP_ROLE,
        log_group_id: ids::SWEEP_LOG_GROUP,
        invoke_config_id: ids::SWEEP_EVENT_INVOKE_CONFIG,
        code_key_parameter: params::SWEEP_CODE_KEY,
        memory_mb: cfg.sweep_memory_mb,
        timeout_seconds: cfg.sweep_timeout_seconds,
        environment: sweep_environment(cfg),
        statements: sweep_statements,
    };

    add_function(t, cfg, handler);
    add_function(t, cfg, sweep);
}

/// The handler's environment: exactly `handler_env::ALL`.
fn handler_environment() -> BTreeMap<String, Expr> {
    BTreeMap::from([
        (
            handler_env::STAGE.to_owned(),
            Expr::reference(params::STAGE),
        ),
        (
            handler_env::LEDGER_TABLE.to_owned(),
            Expr::reference(ids::LEDGER_TABLE),
        ),
    ])
}

/// The sweep's environment: exactly `sweep_env::ALL`; the summarizer's
/// variables are empty when it is off.
fn sweep_environment(cfg: &StageConfig) -> BTreeMap<String, Expr> {
    let summarizer = cfg.summarizer.as_ref();
    let or_empty = |value: Option<String>| Expr::lit(value.unwrap_or_default());
    BTreeMap::from([
        (sweep_env::STAGE.to_owned(), Expr::reference(params::STAGE)),
        (
            sweep_env::LEDGER_TABLE.to_owned(),
            Expr::reference(ids::LEDGER_TABLE),
        ),
        (
            sweep_env::HOLD_TIMEOUT_SECONDS.to_owned(),
            Expr::lit(cfg.hold_timeout_seconds.to_string()),
        ),
        (
            sweep_env::STRAGGLER_ACTION.to_owned(),
            Expr::lit(cfg.straggler_action.as_str()),
        ),
        (
            sweep_env::SUMMARIZER_BASE_URL.to_owned(),
            or_empty(summarizer.map(|s| s.base_url.clone())),
        ),
        (
            sweep_env::SUMMARIZER_MODEL.to_owned(),
            or_empty(summarizer.map(|s| s.model.clone())),
        ),
        (
            sweep_env::SUMMARIZER_API_KEY_PARAMETER.to_owned(),
            or_empty(summarizer.map(|s| s.api_key_parameter.clone())),
        ),
        (
            sweep_env::SUMMARIZER_TIMEOUT_MS.to_owned(),
            or_empty(summarizer.map(|s| s.timeout_ms.to_string())),
        ),
    ])
}

/// Adds a function with its log group, role and asynchronous-invoke config.
fn add_function(t: &mut Template, cfg: &StageConfig, spec: FunctionSpec) {
    let function_name = format!("cc-agent-reconciler-${{Stage}}-{}", spec.short_name);

    let log_group = LogGroup {
        log_group_name: Expr::sub(format!("/aws/lambda/{function_name}")),
        retention_in_days: cfg.log_retention_days,
    };
    t.add_resource(
        spec.log_group_id,
        Resource::new(log_group).with_policies(stateful_policy(cfg)),
    );

    let mut statements = spec.statements;
    statements.push(Statement::allow(
        "WriteOwnLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![Expr::get_att(spec.log_group_id, "Arn")],
    ));
    statements.push(Statement::allow(
        "OnFailureToDeadLetterQueue",
        &["sqs:SendMessage"],
        vec![Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn")],
    ));
    let role = Role {
        description: format!("Execution role of the {} function.", spec.short_name),
        assume_role_policy_document: PolicyDocument::new(vec![
            Statement::allow("LambdaAssumesRole", &["sts:AssumeRole"], Vec::new())
                .for_service("lambda.amazonaws.com"),
        ]),
        policies: vec![Policy {
            policy_name: format!("{}-least-privilege", spec.short_name),
            policy_document: PolicyDocument::new(statements),
        }],
    };
    t.add_resource(spec.role_id, role);

    let function = Function {
        function_name: Expr::sub(function_name),
        description: spec.description.to_owned(),
        runtime: Runtime::ProvidedAl2023,
        handler: "bootstrap".to_owned(),
        architectures: vec![match cfg.architecture {
            Architecture::Arm64 => lambda::Architecture::Arm64,
            Architecture::X86_64 => lambda::Architecture::X86_64,
        }],
        memory_size: spec.memory_mb,
        timeout: spec.timeout_seconds,
        role: Expr::get_att(spec.role_id, "Arn"),
        code: Code {
            s3_bucket: Expr::reference(params::ARTIFACT_BUCKET),
            s3_key: Expr::reference(spec.code_key_parameter),
        },
        environment: Some(Environment {
            variables: spec.environment,
        }),
        logging_config: Some(LoggingConfig {
            log_format: LogFormat::Json,
            log_group: Expr::reference(spec.log_group_id),
        }),
    };
    t.add_resource(spec.function_id, function);

    let invoke_config = EventInvokeConfig {
        function_name: Expr::reference(spec.function_id),
        qualifier: "$LATEST".to_owned(),
        maximum_retry_attempts: ASYNC_INVOKE_RETRY_ATTEMPTS,
        destination_config: DestinationConfig {
            on_failure: OnFailure {
                destination: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
            },
        },
    };
    t.add_resource(spec.invoke_config_id, invoke_config);
}

fn add_rules(t: &mut Template) {
    t.add_resource(
        ids::EVENT_BUS,
        EventBus {
            name: Expr::reference(params::EVENT_BUS_NAME),
        },
    );

    let events = Rule {
        name: Expr::sub("cc-agent-reconciler-${Stage}-ledger-events"),
        description: "Ledger events of any source to the handler.".to_owned(),
        // GetAtt, not Ref: the local emulator fails on a Ref here; both are valid on AWS.
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(EventPattern {
            detail_type: DETAIL_TYPES.map(str::to_owned).to_vec(),
        }),
        schedule_expression: None,
        state: RuleState::Enabled,
        targets: vec![function_target("handler", ids::HANDLER_FUNCTION, None)],
    };
    add_rule(
        t,
        ids::LEDGER_EVENTS_RULE,
        events,
        ids::HANDLER_FUNCTION,
        ids::HANDLER_INVOKE_PERMISSION,
    );

    let schedule = Rule {
        name: Expr::sub("cc-agent-reconciler-${Stage}-sweep-schedule"),
        description: "Runs the sweep every 6 hours.".to_owned(),
        event_bus_name: None,
        event_pattern: None,
        schedule_expression: Some(SWEEP_SCHEDULE.to_owned()),
        state: RuleState::Enabled,
        // `{}`: a scheduled sweep with the stage's defaults (no overrides).
        targets: vec![function_target("sweep", ids::SWEEP_FUNCTION, Some("{}"))],
    };
    add_rule(
        t,
        ids::SWEEP_SCHEDULE_RULE,
        schedule,
        ids::SWEEP_FUNCTION,
        ids::SWEEP_INVOKE_PERMISSION,
    );
}

/// A rule target invoking a function, with retries and the dead-letter queue.
fn function_target(id: &str, function_id: &str, input: Option<&str>) -> Target {
    Target {
        id: id.to_owned(),
        arn: Expr::get_att(function_id, "Arn"),
        input: input.map(str::to_owned),
        retry_policy: Some(RetryPolicy {
            maximum_retry_attempts: RULE_TARGET_RETRY_ATTEMPTS,
            maximum_event_age_in_seconds: RULE_TARGET_MAX_EVENT_AGE_SECONDS,
        }),
        dead_letter_config: Some(DeadLetterConfig {
            arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
        }),
    }
}

/// Adds a rule and the permission letting it invoke its function.
fn add_rule(t: &mut Template, rule_id: &str, rule: Rule, function_id: &str, permission_id: &str) {
    t.add_resource(rule_id, rule);
    t.add_resource(
        permission_id,
        Permission {
            action: "lambda:InvokeFunction".to_owned(),
            function_name: Expr::get_att(function_id, "Arn"),
            principal: "events.amazonaws.com".to_owned(),
            source_arn: Expr::get_att(rule_id, "Arn"),
        },
    );
}

fn add_alerts(t: &mut Template, cfg: &StageConfig) {
    // Not KMS-encrypted: CloudWatch alarms cannot publish to a topic encrypted
    // with the AWS managed key `alias/aws/sns`, and alarm notifications carry
    // no customer data that would justify a customer managed key.
    t.add_resource(
        ids::OPS_ALERTS_TOPIC,
        Topic {
            topic_name: Expr::sub("cc-agent-reconciler-ops-alerts-${Stage}"),
            display_name: Some(format!("cc-agent-reconciler {}", cfg.stage)),
        },
    );
    if let Some(email) = &cfg.alert_email {
        t.add_resource(
            ids::OPS_ALERTS_EMAIL_SUBSCRIPTION,
            Subscription {
                topic_arn: Expr::reference(ids::OPS_ALERTS_TOPIC),
                protocol: Protocol::Email,
                endpoint: email.clone(),
            },
        );
    }
    for spec in alarm_specs() {
        let alarm = Alarm {
            alarm_name: Expr::sub(format!("cc-agent-reconciler-{}-${{Stage}}", spec.name)),
            alarm_description: spec.description.to_owned(),
            metric: spec.metric,
            evaluation_periods: 1,
            datapoints_to_alarm: 1,
            threshold: spec.threshold,
            comparison_operator: spec.comparison_operator,
            treat_missing_data: TreatMissingData::NotBreaching,
            alarm_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
            ok_actions: vec![Expr::reference(ids::OPS_ALERTS_TOPIC)],
        };
        t.add_resource(spec.logical_id, alarm);
    }
}

const FIVE_MINUTES: u32 = 300;
const SIX_HOURS: u32 = 21_600;

/// What differs between the alarms; all notify the topic on ALARM and OK
/// and treat missing data as not breaching.
struct AlarmSpec {
    logical_id: &'static str,
    /// The alarm is named `cc-agent-reconciler-<name>-<stage>`.
    name: &'static str,
    description: &'static str,
    metric: AlarmMetric,
    comparison_operator: ComparisonOperator,
    threshold: f64,
}

fn alarm_specs() -> Vec<AlarmSpec> {
    use ComparisonOperator::{GreaterThanOrEqualToThreshold, GreaterThanThreshold};
    vec![
        AlarmSpec {
            logical_id: ids::HANDLER_ERRORS_ALARM,
            name: "errors",
            description: "The handler failed at least once in 5 minutes (invalid event or AWS \
                          error); the event is retried and then lands in the dead-letter queue.",
            metric: function_errors(ids::HANDLER_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::SWEEP_ERRORS_ALARM,
            name: "sweep-errors",
            description: "The sweep failed; stale holds are not expired until it succeeds.",
            metric: function_errors(ids::SWEEP_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::DEAD_LETTER_MESSAGES_ALARM,
            name: "dlq-messages",
            description: "Events or invocations are in the dead-letter queue: inspect, fix, replay.",
            metric: single_metric(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                vec![Dimension {
                    name: "QueueName".to_owned(),
                    value: Expr::get_att(ids::DEAD_LETTER_QUEUE, "QueueName"),
                }],
                Statistic::Maximum,
                FIVE_MINUTES,
            ),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::LEDGER_DRIFT_ALARM,
            name: "drift",
            description: "The sweep found accounts whose ledger entries do not sum to their \
                          balances (stays in ALARM until a sweep reports no drift).",
            // One period per sweep: the alarm holds until the next sweep.
            metric: custom_metric(metrics::LEDGER_DRIFT, Statistic::Maximum, SIX_HOURS),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::CONFLICTS_ALARM,
            name: "conflicts",
            description: "The handler received conflicting events (same business key, other \
                          payload); see the sweep report.",
            metric: custom_metric(metrics::CONFLICTS, Statistic::Sum, FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::THROTTLES_ALARM,
            name: "throttles",
            description: "Invocations of the handler or the sweep were throttled (concurrency limit).",
            metric: throttles_metric(FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
    ]
}

fn single_metric(
    namespace: &str,
    metric_name: &str,
    dimensions: Vec<Dimension>,
    statistic: Statistic,
    period: u32,
) -> AlarmMetric {
    AlarmMetric::Single(MetricStatProperties {
        namespace: namespace.to_owned(),
        metric_name: metric_name.to_owned(),
        dimensions,
        statistic,
        period,
    })
}

fn function_dimension(function_id: &str) -> Vec<Dimension> {
    vec![Dimension {
        name: "FunctionName".to_owned(),
        value: Expr::reference(function_id),
    }]
}

/// A function's `Errors`, summed over 5 minutes.
fn function_errors(function_id: &str) -> AlarmMetric {
    single_metric(
        "AWS/Lambda",
        "Errors",
        function_dimension(function_id),
        Statistic::Sum,
        FIVE_MINUTES,
    )
}

/// One of the functions' custom metrics, for this stage.
fn custom_metric(metric_name: &str, statistic: Statistic, period: u32) -> AlarmMetric {
    let stage = vec![Dimension {
        name: metrics::STAGE_DIMENSION.to_owned(),
        value: Expr::reference(params::STAGE),
    }];
    single_metric(metrics::NAMESPACE, metric_name, stage, statistic, period)
}

/// Throttles of both functions, summed with metric math.
fn throttles_metric(period: u32) -> AlarmMetric {
    let throttles_of = |id: &str, function_id: &str| MetricDataQuery {
        id: id.to_owned(),
        expression: None,
        label: None,
        metric_stat: Some(MetricStat {
            metric: Metric {
                namespace: "AWS/Lambda".to_owned(),
                metric_name: "Throttles".to_owned(),
                dimensions: function_dimension(function_id),
            },
            period,
            stat: Statistic::Sum,
        }),
        return_data: false,
    };
    AlarmMetric::Math {
        metrics: vec![
            throttles_of("handler", ids::HANDLER_FUNCTION),
            throttles_of("sweep", ids::SWEEP_FUNCTION),
            MetricDataQuery {
                id: "throttles".to_owned(),
                expression: Some("SUM([handler, sweep])".to_owned()),
                label: Some("Throttles of both functions".to_owned()),
                metric_stat: None,
                return_data: true,
            },
        ],
    }
}

fn add_outputs(t: &mut Template) {
    let outputs = [
        (
            outputs::LEDGER_TABLE_NAME,
            "The ledger table.",
            Expr::reference(ids::LEDGER_TABLE),
        ),
        (
            outputs::BUS_NAME,
            "The stage's event bus.",
            Expr::get_att(ids::EVENT_BUS, "Name"),
        ),
        (
            outputs::BUS_ARN,
            "The stage's event bus ARN.",
            Expr::get_att(ids::EVENT_BUS, "Arn"),
        ),
        (
            outputs::DEAD_LETTER_QUEUE_URL,
            "The dead-letter queue URL.",
            Expr::reference(ids::DEAD_LETTER_QUEUE),
        ),
        (
            outputs::DEAD_LETTER_QUEUE_ARN,
            "The dead-letter queue ARN.",
            Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
        ),
        (
            outputs::OPS_ALERTS_TOPIC_ARN,
            "The ops-alerts topic ARN.",
            Expr::reference(ids::OPS_ALERTS_TOPIC),
        ),
        (
            outputs::HANDLER_FUNCTION_NAME,
            "The handler function.",
            Expr::reference(ids::HANDLER_FUNCTION),
        ),
        (
            outputs::SWEEP_FUNCTION_NAME,
            "The sweep function.",
            Expr::reference(ids::SWEEP_FUNCTION),
        ),
    ];
    for (name, description, value) in outputs {
        t.add_output(name, Output::new(description, value));
    }
}
