//! The reconciler's stack (SPEC §6), described once. [`template`] derives a
//! stage's template from its [`StageConfig`]; every physical name comes from
//! [`crate::names`], a pattern over the template parameters `Stage`,
//! `TableSuffix` and `EventBusName`.

use std::collections::BTreeMap;

use reconciler_core::contract::{handler_env, metrics, sweep_env, table};
use reconciler_core::event::DETAIL_TYPES;

use crate::model::cloudwatch::{
    Alarm, AlarmMetric, ComparisonOperator, Dashboard, Dimension, Metric, MetricDataQuery,
    MetricStat, MetricStatProperties, Statistic, TreatMissingData,
};
use crate::model::dashboard::{
    AlarmWidget, DashboardBody, MetricLine, MetricWidget, Widget, WidgetProperties, WidgetType,
};
use crate::model::dynamodb::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    PointInTimeRecoverySpecification, Projection, ProjectionType, SseSpecification, SseType, Table,
    TimeToLiveSpecification,
};
use crate::model::events::{
    Archive, DeadLetterConfig, EventBus, EventPattern, RetryPolicy, Rule, RuleState, Target,
};
use crate::model::iam::{Policy, PolicyDocument, Principal, Role, Statement};
use crate::model::kms::{Alias, Key};
use crate::model::lambda::{
    self, Code, DestinationConfig, Environment, EventInvokeConfig, Function, LogFormat,
    LoggingConfig, OnFailure, Permission, Runtime,
};
use crate::model::logs::LogGroup;
use crate::model::sns::{Subscription, Topic, TopicPolicy};
use crate::model::sqs::{Queue, QueueEncryption, QueuePolicy};
use crate::model::{DeletionPolicy, Expr, Flag, Output, Parameter, Resource, Template};
use crate::names::{self, NamePattern};
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
    /// `"true"`/`"false"`: the table's deletion protection. The deploy keeps
    /// it off for a stack's first create, so that a failed create can be
    /// rolled back with its table, and turns it on right after (see
    /// `xtask::deploy`); its default is the stage's setting.
    pub const TABLE_DELETION_PROTECTION: &str = "TableDeletionProtection";
}

/// Conditions of the template.
pub mod conditions {
    /// `TableDeletionProtection` is `"true"`.
    pub const PROTECT_TABLE: &str = "ProtectTable";
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
    /// The replay rules, in `DETAIL_TYPES` order (see `names::REPLAY_RULES`).
    pub const REPLAY_RULES: [&str; 4] = [
        "ReplayCreditsGrantedRule",
        "ReplayVideoRequestedRule",
        "ReplayVideoRenderedRule",
        "ReplayVideoFailedRule",
    ];
    /// Let each replay rule invoke the handler.
    pub const REPLAY_PERMISSIONS: [&str; 4] = [
        "ReplayCreditsGrantedPermission",
        "ReplayVideoRequestedPermission",
        "ReplayVideoRenderedPermission",
        "ReplayVideoFailedPermission",
    ];
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
    /// Rule: every other event on the bus → the unrouted queue.
    pub const UNROUTED_EVENTS_RULE: &str = "UnroutedEventsRule";
    /// The queue of unrouted events.
    pub const UNROUTED_QUEUE: &str = "UnroutedQueue";
    /// The unrouted queue's resource policy.
    pub const UNROUTED_QUEUE_POLICY: &str = "UnroutedQueuePolicy";
    /// The archive of the ledger events on the bus.
    pub const EVENT_ARCHIVE: &str = "LedgerEventsArchive";
    /// The stage's customer managed KMS key (staging and prod).
    pub const STAGE_KEY: &str = "StageKey";
    /// The key's alias `alias/cc-agent-reconciler-<stage>`.
    pub const STAGE_KEY_ALIAS: &str = "StageKeyAlias";
    /// The ops-alerts topic.
    pub const OPS_ALERTS_TOPIC: &str = "OpsAlertsTopic";
    /// The ops-alerts topic's access policy.
    pub const OPS_ALERTS_TOPIC_POLICY: &str = "OpsAlertsTopicPolicy";
    /// Prefix of the subscriptions to the ops-alerts topic: each is
    /// `OpsAlertsSubscription<8 hex digits of its protocol and endpoint>`,
    /// stable when the list is reordered.
    pub const OPS_ALERTS_SUBSCRIPTION_PREFIX: &str = "OpsAlertsSubscription";
    /// The stage's dashboard.
    pub const DASHBOARD: &str = "Dashboard";
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
    /// Alarm: unrouted events are waiting in their queue.
    pub const UNROUTED_EVENTS_ALARM: &str = "UnroutedEventsAlarm";
}

/// Output names (the keys of [`crate::outputs::StackOutputs`]).
pub mod outputs {
    pub use crate::outputs::keys::*;
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
/// The unrouted queue keeps messages 14 days too.
pub const UNROUTED_RETENTION_SECONDS: u32 = 14 * 24 * 60 * 60;
/// Seconds SQS reuses a data key of the stage's key (fewer KMS calls).
pub const DATA_KEY_REUSE_PERIOD_SECONDS: u32 = 300;
/// Where the alarms' runbook entries are, relative to the repository.
pub const RUNBOOK_FILE: &str = "docs/operations.md";

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
         functions, the dead-letter and unrouted queues, the archive, the ops alarms and \
         dashboard.",
        cfg.stage
    ));
    add_parameters(&mut t, cfg);
    let key = add_stage_key(&mut t, cfg);
    add_ledger_table(&mut t, cfg, key.as_ref());
    add_queues(&mut t, cfg, key.as_ref());
    add_functions(&mut t, cfg, key.as_ref());
    add_rules(&mut t);
    add_archive(&mut t, cfg, key.as_ref());
    add_alerts(&mut t, cfg, key.as_ref());
    add_dashboard(&mut t);
    for (name, description, value) in crate::outputs::definitions(cfg) {
        t.add_output(name, Output::new(description, value));
    }
    t
}

/// The checkov skips shared by every stage, and those of a stage without the
/// customer managed key (AWS managed or owned keys instead).
mod skips {
    pub(super) const LAMBDA_DLQ: (&str, &str) = (
        "CKV_AWS_116",
        "Failed asynchronous invocations go to the SQS dead-letter queue through the \
         AWS::Lambda::EventInvokeConfig on-failure destination, which supersedes a function \
         DeadLetterConfig.",
    );
    pub(super) const LAMBDA_VPC: (&str, &str) = (
        "CKV_AWS_117",
        "No VPC needed: the function only calls the public DynamoDB and SSM endpoints and \
         reaches no private resource.",
    );
    pub(super) const LAMBDA_ENV_KEY: (&str, &str) = (
        "CKV_AWS_173",
        "No secret is in an environment variable (the summarizer key is read from SSM at run \
         time); Lambda encrypts the variables at rest with its AWS managed key.",
    );
    pub(super) const LAMBDA_CONCURRENCY: (&str, &str) = (
        "CKV_AWS_115",
        "Reserved concurrency is deliberately unset on this stage (a small account pool cannot \
         reserve any, see the stage file); the throttles alarm covers runaway concurrency.",
    );
    pub(super) const TABLE_KEY: (&str, &str) = (
        "CKV_AWS_119",
        "This stage has no customer managed key (customer_managed_key = false in its stage \
         file): the table is encrypted at rest with the AWS managed DynamoDB key.",
    );
    pub(super) const QUEUE_KEY: (&str, &str) = (
        "CKV_AWS_27",
        "This stage has no customer managed key: the queue is encrypted at rest with SQS \
         managed SSE (SqsManagedSseEnabled), which checkov does not recognise.",
    );
    pub(super) const LOG_GROUP_KEY: (&str, &str) = (
        "CKV_AWS_158",
        "This stage has no customer managed key: CloudWatch Logs encrypts the log data at rest \
         with its own keys.",
    );
    pub(super) const TOPIC_KEY: (&str, &str) = (
        "CKV_AWS_26",
        "This stage has no customer managed key, and CloudWatch alarms cannot publish to a \
         topic under the AWS managed SNS key: the topic stays unencrypted (alarm messages \
         carry no customer data).",
    );
}

/// `resource` with the checkov skip `skip` when `applies`.
fn skip_if(resource: Resource, applies: bool, skip: (&'static str, &'static str)) -> Resource {
    if applies {
        resource.with_checkov_skip(skip.0, skip.1)
    } else {
        resource
    }
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
        params::TABLE_DELETION_PROTECTION,
        Parameter::string(
            "Whether the ledger table refuses deletion (off only during a first create).",
        )
        .with_default(if cfg.deletion_protection {
            "true"
        } else {
            "false"
        })
        .with_allowed_values(["true", "false"]),
    );
    t.add_condition_equals(
        conditions::PROTECT_TABLE,
        params::TABLE_DELETION_PROTECTION,
        "true",
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

fn add_ledger_table(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    let table = Table {
        table_name: names::LEDGER_TABLE.expr(),
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
        sse_specification: Some(SseSpecification {
            sse_enabled: true,
            sse_type: key.map(|_| SseType::Kms),
            kms_master_key_id: key.cloned(),
        }),
        deletion_protection_enabled: Flag::When(conditions::PROTECT_TABLE.to_owned()),
    };
    let table = Resource::new(table).with_policies(stateful_policy(cfg));
    t.add_resource(
        ids::LEDGER_TABLE,
        skip_if(table, key.is_none(), skips::TABLE_KEY),
    );
}

/// A queue keeping messages 14 days, encrypted with the stage's key or SSE-SQS.
fn add_queue(
    t: &mut Template,
    cfg: &StageConfig,
    key: Option<&Expr>,
    id: &str,
    name: NamePattern,
    retention_seconds: u32,
) {
    let queue = Queue {
        queue_name: name.expr(),
        message_retention_period: retention_seconds,
        encryption: match key {
            Some(key) => QueueEncryption::Kms {
                key: key.clone(),
                data_key_reuse_period_seconds: DATA_KEY_REUSE_PERIOD_SECONDS,
            },
            None => QueueEncryption::SqsManaged,
        },
    };
    let queue = Resource::new(queue).with_policies(stateful_policy(cfg));
    t.add_resource(id, skip_if(queue, key.is_none(), skips::QUEUE_KEY));
}

/// A queue policy: only `rules` (their target or dead-letter deliveries)
/// may send, and nothing reaches the queue without TLS.
fn add_queue_policy(t: &mut Template, policy_id: &str, queue_id: &str, sid: &str, rules: &[&str]) {
    let queue_arn = || vec![Expr::get_att(queue_id, "Arn")];
    let policy = QueuePolicy {
        queues: vec![Expr::reference(queue_id)],
        policy_document: PolicyDocument::new(vec![
            Statement::allow(sid, &["sqs:SendMessage"], queue_arn())
                .for_service("events.amazonaws.com")
                .with_condition(
                    "ArnEquals",
                    "aws:SourceArn",
                    rules
                        .iter()
                        .map(|rule| Expr::get_att(*rule, "Arn"))
                        .collect(),
                ),
            deny_insecure_transport(&["sqs:*"], queue_arn()),
        ]),
    };
    t.add_resource(policy_id, policy);
}

/// `Deny` of `actions` without TLS (`aws:SecureTransport` false), to everyone.
fn deny_insecure_transport(actions: &[&str], resources: Vec<Expr>) -> Statement {
    Statement::deny_all("DenyInsecureTransport", actions, resources).with_condition(
        "Bool",
        "aws:SecureTransport",
        vec![Expr::lit("false")],
    )
}

fn add_queues(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    add_queue(
        t,
        cfg,
        key,
        ids::DEAD_LETTER_QUEUE,
        names::DEAD_LETTER_QUEUE,
        DEAD_LETTER_RETENTION_SECONDS,
    );
    // Only the stage's rules may send (their target dead-letter configs).
    // Lambda's on-failure destination sends with the function's role
    // instead.
    let mut rules = vec![
        ids::LEDGER_EVENTS_RULE,
        ids::SWEEP_SCHEDULE_RULE,
        ids::UNROUTED_EVENTS_RULE,
    ];
    rules.extend(ids::REPLAY_RULES);
    add_queue_policy(
        t,
        ids::DEAD_LETTER_QUEUE_POLICY,
        ids::DEAD_LETTER_QUEUE,
        "StageRulesDeadLetter",
        &rules,
    );
    add_queue(
        t,
        cfg,
        key,
        ids::UNROUTED_QUEUE,
        names::UNROUTED_QUEUE,
        UNROUTED_RETENTION_SECONDS,
    );
    add_queue_policy(
        t,
        ids::UNROUTED_QUEUE_POLICY,
        ids::UNROUTED_QUEUE,
        "UnroutedEventsRuleSends",
        &[ids::UNROUTED_EVENTS_RULE],
    );
}

/// The stage's customer managed key and its alias, when the stage has one;
/// returns the key's ARN for the resources it encrypts.
///
/// The key policy names the topic, log groups, rules and bus by ARNs built
/// from their name patterns, never by `Ref`/`GetAtt`: each of them (or a
/// resource it depends on) uses the key, so a reference would be a cycle.
/// The execution roles get their key use from their own IAM policies, which
/// the account statement enables.
fn add_stage_key(t: &mut Template, cfg: &StageConfig) -> Option<Expr> {
    if !cfg.customer_managed_key {
        return None;
    }
    let everything = || vec![Expr::lit("*")];
    let topic_arn = names::OPS_ALERTS_TOPIC.arn("sns", "");
    let log_group_arns = [names::HANDLER_LOG_GROUP, names::SWEEP_LOG_GROUP]
        .map(|group| group.arn("logs", "log-group:"))
        .to_vec();
    let on_bus = format!("rule/{}/", names::EVENT_BUS);
    let mut rule_arns = vec![
        names::LEDGER_EVENTS_RULE.arn("events", &on_bus),
        names::SWEEP_SCHEDULE_RULE.arn("events", "rule/"),
        names::UNROUTED_EVENTS_RULE.arn("events", &on_bus),
    ];
    rule_arns.extend(names::REPLAY_RULES.map(|rule| rule.arn("events", &on_bus)));
    let bus_arn = names::EVENT_BUS.arn("events", "event-bus/");
    let policy = PolicyDocument::new(vec![
        Statement::allow(
            "AccountAdministersKeyAndEnablesIamPolicies",
            &["kms:*"],
            everything(),
        )
        .for_principal(Principal::Aws(Expr::sub(
            "arn:${AWS::Partition}:iam::${AWS::AccountId}:root",
        ))),
        Statement::allow(
            "CloudWatchAlarmsPublishToOpsAlertsTopic",
            &["kms:Decrypt", "kms:GenerateDataKey*"],
            everything(),
        )
        .for_service("cloudwatch.amazonaws.com")
        .with_condition(
            "StringEquals",
            "kms:EncryptionContext:aws:sns:topicArn",
            vec![topic_arn],
        ),
        Statement::allow(
            "CloudWatchLogsEncryptsFunctionLogGroups",
            &[
                "kms:Decrypt*",
                "kms:Describe*",
                "kms:Encrypt*",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            everything(),
        )
        .for_principal(Principal::Service(Expr::sub(
            "logs.${AWS::Region}.amazonaws.com",
        )))
        .with_condition(
            "ArnEquals",
            "kms:EncryptionContext:aws:logs:arn",
            log_group_arns,
        ),
        Statement::allow(
            "EventBridgeDeliversToEncryptedQueues",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            everything(),
        )
        .for_service("events.amazonaws.com")
        .with_condition(
            "StringEquals",
            "aws:SourceAccount",
            vec![Expr::reference("AWS::AccountId")],
        )
        .with_condition("ArnEquals", "aws:SourceArn", rule_arns),
        Statement::allow(
            "EventBridgeDescribesKeyForArchive",
            &["kms:DescribeKey"],
            everything(),
        )
        .for_service("events.amazonaws.com"),
        Statement::allow(
            "EventBridgeEncryptsArchive",
            &["kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncrypt*"],
            everything(),
        )
        .for_service("events.amazonaws.com")
        .with_condition(
            "StringEquals",
            "kms:EncryptionContext:aws:events:event-bus:arn",
            vec![bus_arn],
        ),
    ]);
    let key = Key {
        description: Expr::sub(
            "cc-agent-reconciler ${Stage}: the ledger table, log groups, queues, ops-alerts \
             topic and event archive.",
        ),
        enabled: true,
        enable_key_rotation: true,
        key_spec: "SYMMETRIC_DEFAULT",
        key_usage: "ENCRYPT_DECRYPT",
        pending_window_in_days: 30,
        key_policy: Expr::sub_json(&policy),
    };
    // Data encrypted with the key outlives the stack when it is retained.
    t.add_resource(
        ids::STAGE_KEY,
        Resource::new(key).with_policies(stateful_policy(cfg)),
    );
    t.add_resource(
        ids::STAGE_KEY_ALIAS,
        Alias {
            alias_name: names::KEY_ALIAS.expr(),
            target_key_id: Expr::reference(ids::STAGE_KEY),
        },
    );
    Some(Expr::get_att(ids::STAGE_KEY, "Arn"))
}

/// The logical ids, names and settings of one function.
struct FunctionSpec {
    /// `handler` or `sweep`.
    short_name: &'static str,
    name: NamePattern,
    log_group_name: NamePattern,
    reserved_concurrency: Option<u32>,
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

fn add_functions(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
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
        name: names::HANDLER_FUNCTION,
        log_group_name: names::HANDLER_LOG_GROUP,
        reserved_concurrency: cfg.handler_reserved_concurrency,
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
        name: names::SWEEP_FUNCTION,
        log_group_name: names::SWEEP_LOG_GROUP,
        reserved_concurrency: cfg.sweep_reserved_concurrency,
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

    add_function(t, cfg, key, handler);
    add_function(t, cfg, key, sweep);
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
fn add_function(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>, spec: FunctionSpec) {
    let log_group = LogGroup {
        log_group_name: spec.log_group_name.expr(),
        retention_in_days: cfg.log_retention_days,
        kms_key_id: key.cloned(),
    };
    let log_group = Resource::new(log_group).with_policies(stateful_policy(cfg));
    t.add_resource(
        spec.log_group_id,
        skip_if(log_group, key.is_none(), skips::LOG_GROUP_KEY),
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
    if let Some(key) = key {
        // DynamoDB and SQS call KMS on the caller's behalf: the role may use
        // the key only through them (`kms:ViaService`).
        statements.push(
            Statement::allow(
                "StageKeyForLedgerTable",
                &[
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:Encrypt",
                    "kms:GenerateDataKey",
                    "kms:GenerateDataKeyWithoutPlaintext",
                    "kms:ReEncryptFrom",
                    "kms:ReEncryptTo",
                ],
                vec![key.clone()],
            )
            .with_condition(
                "StringEquals",
                "kms:ViaService",
                vec![Expr::sub("dynamodb.${AWS::Region}.amazonaws.com")],
            ),
        );
        // The on-failure destination sends to the encrypted dead-letter queue.
        statements.push(
            Statement::allow(
                "StageKeyForDeadLetterQueue",
                &["kms:Decrypt", "kms:GenerateDataKey"],
                vec![key.clone()],
            )
            .with_condition(
                "StringEquals",
                "kms:ViaService",
                vec![Expr::sub("sqs.${AWS::Region}.amazonaws.com")],
            ),
        );
    }
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
        function_name: spec.name.expr(),
        description: spec.description.to_owned(),
        runtime: Runtime::ProvidedAl2023,
        handler: "bootstrap".to_owned(),
        architectures: vec![match cfg.architecture {
            Architecture::Arm64 => lambda::Architecture::Arm64,
            Architecture::X86_64 => lambda::Architecture::X86_64,
        }],
        memory_size: spec.memory_mb,
        timeout: spec.timeout_seconds,
        reserved_concurrent_executions: spec.reserved_concurrency,
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
    let function = Resource::new(function)
        .with_checkov_skip(skips::LAMBDA_DLQ.0, skips::LAMBDA_DLQ.1)
        .with_checkov_skip(skips::LAMBDA_VPC.0, skips::LAMBDA_VPC.1)
        .with_checkov_skip(skips::LAMBDA_ENV_KEY.0, skips::LAMBDA_ENV_KEY.1);
    let function = skip_if(
        function,
        spec.reserved_concurrency.is_none(),
        skips::LAMBDA_CONCURRENCY,
    );
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
            name: names::EVENT_BUS.expr(),
        },
    );

    let events = Rule {
        name: names::LEDGER_EVENTS_RULE.expr(),
        description: "Ledger events of any source to the handler.".to_owned(),
        // GetAtt, not Ref: the local emulator fails on a Ref here; both are valid on AWS.
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(EventPattern::detail_types(&DETAIL_TYPES)),
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

    // One rule per detail-type for its replays only (`cargo xtask replay
    // --detail-type`): no live event has `replay-name`, and a replay
    // evaluates only the rules it names, so each sees exactly what a replay
    // onto it sends; delivered like the ledger-events rule's.
    for (i, detail_type) in DETAIL_TYPES.iter().enumerate() {
        let replays = Rule {
            name: names::REPLAY_RULES[i].expr(),
            description: format!(
                "Replays of {detail_type} only (cargo xtask replay) to the handler."
            ),
            event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
            event_pattern: Some(EventPattern::replays_of(detail_type)),
            schedule_expression: None,
            state: RuleState::Enabled,
            targets: vec![function_target("handler", ids::HANDLER_FUNCTION, None)],
        };
        add_rule(
            t,
            ids::REPLAY_RULES[i],
            replays,
            ids::HANDLER_FUNCTION,
            ids::REPLAY_PERMISSIONS[i],
        );
    }

    let schedule = Rule {
        name: names::SWEEP_SCHEDULE_RULE.expr(),
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

    // The bus is the reconciler's own: every event the ledger-events rule
    // does not match is unrouted (a producer's typo, another case, a
    // `credits.adjusted` no producer may send). It waits in its queue, and
    // its alarm pages, until someone looks.
    let unrouted = Rule {
        name: names::UNROUTED_EVENTS_RULE.expr(),
        description: "Every other event on the bus (no ledger detail-type) to the unrouted \
                      queue."
            .to_owned(),
        event_bus_name: Some(Expr::get_att(ids::EVENT_BUS, "Name")),
        event_pattern: Some(EventPattern::detail_types_except(&DETAIL_TYPES)),
        schedule_expression: None,
        state: RuleState::Enabled,
        targets: vec![Target {
            id: "unrouted-queue".to_owned(),
            arn: Expr::get_att(ids::UNROUTED_QUEUE, "Arn"),
            input: None,
            retry_policy: Some(retry_policy()),
            dead_letter_config: Some(DeadLetterConfig {
                arn: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
            }),
        }],
    };
    t.add_resource(ids::UNROUTED_EVENTS_RULE, unrouted);
}

/// EventBridge's retries of a target.
fn retry_policy() -> RetryPolicy {
    RetryPolicy {
        maximum_retry_attempts: RULE_TARGET_RETRY_ATTEMPTS,
        maximum_event_age_in_seconds: RULE_TARGET_MAX_EVENT_AGE_SECONDS,
    }
}

/// The archive of the ledger events (what `cargo xtask replay` replays).
fn add_archive(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    let archive = Archive {
        archive_name: names::ARCHIVE.expr(),
        description: "The ledger events of the stage's bus, for replays.".to_owned(),
        source_arn: Expr::get_att(ids::EVENT_BUS, "Arn"),
        // A JSON string: the local emulator fails on an object here.
        event_pattern: EventPattern::detail_types(&DETAIL_TYPES).to_json_text(),
        retention_days: cfg.archive_retention_days,
        kms_key_identifier: key.cloned(),
    };
    t.add_resource(
        ids::EVENT_ARCHIVE,
        Resource::new(archive).with_policies(stateful_policy(cfg)),
    );
}

/// A rule target invoking a function, with retries and the dead-letter queue.
fn function_target(id: &str, function_id: &str, input: Option<&str>) -> Target {
    Target {
        id: id.to_owned(),
        arn: Expr::get_att(function_id, "Arn"),
        input: input.map(str::to_owned),
        retry_policy: Some(retry_policy()),
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

fn add_alerts(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    // With the stage's key, encrypted: its policy lets CloudWatch alarms use
    // it. Never the AWS managed `alias/aws/sns`, which alarms cannot use.
    let topic = Topic {
        topic_name: names::OPS_ALERTS_TOPIC.expr(),
        display_name: Some(format!("cc-agent-reconciler {}", cfg.stage)),
        kms_master_key_id: key.cloned(),
    };
    t.add_resource(
        ids::OPS_ALERTS_TOPIC,
        skip_if(Resource::new(topic), key.is_none(), skips::TOPIC_KEY),
    );
    let topic_arn = || vec![Expr::reference(ids::OPS_ALERTS_TOPIC)];
    t.add_resource(
        ids::OPS_ALERTS_TOPIC_POLICY,
        TopicPolicy {
            policy_document: PolicyDocument::new(vec![
                Statement::allow(
                    "CloudWatchAlarmsOfThisAccountPublish",
                    &["sns:Publish"],
                    topic_arn(),
                )
                .for_service("cloudwatch.amazonaws.com")
                .with_condition(
                    "StringEquals",
                    "aws:SourceAccount",
                    vec![Expr::reference("AWS::AccountId")],
                ),
                deny_insecure_transport(&["sns:Publish"], topic_arn()),
            ]),
            topics: topic_arn(),
        },
    );
    for subscription in &cfg.alert_subscriptions {
        t.add_resource(
            &subscription_id(subscription),
            Subscription {
                topic_arn: Expr::reference(ids::OPS_ALERTS_TOPIC),
                protocol: subscription.protocol,
                endpoint: subscription.endpoint.clone(),
            },
        );
    }
    for spec in alarm_specs() {
        let alarm = Alarm {
            alarm_name: spec.name.expr(),
            alarm_description: format!(
                "{} Runbook: {RUNBOOK_FILE}#{}",
                spec.description,
                runbook_anchor(spec.short_name)
            ),
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

/// `OpsAlertsSubscription` + 8 hex digits of FNV-1a over protocol and
/// endpoint: stable when the list is reordered or another entry removed, so
/// CloudFormation does not recreate (and re-confirm) the others.
fn subscription_id(subscription: &crate::stage::AlertSubscription) -> String {
    let text = format!(
        "{}:{}",
        subscription.protocol.as_str(),
        subscription.endpoint
    );
    let hash = text.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{}{hash:08X}", ids::OPS_ALERTS_SUBSCRIPTION_PREFIX)
}

/// The runbook entry of an alarm: `alarm-<short name>`, an anchor in
/// [`RUNBOOK_FILE`].
fn runbook_anchor(short_name: &str) -> String {
    format!("alarm-{short_name}")
}

/// An alarm and its runbook entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunbookAnchor {
    /// The alarm's short name (`errors`, `unrouted`, ...): the alarm is
    /// `cc-agent-reconciler-<short name>-<stage>`.
    pub alarm: &'static str,
    /// The anchor in [`RUNBOOK_FILE`] its description names: `alarm-<short name>`.
    pub anchor: String,
}

/// Every alarm's runbook entry, in [`names::ALARMS`] order: the operations
/// doc must have each anchor (a docs check can verify it).
pub fn runbook_anchors() -> Vec<RunbookAnchor> {
    names::ALARMS
        .iter()
        .map(|(short_name, _)| RunbookAnchor {
            alarm: short_name,
            anchor: runbook_anchor(short_name),
        })
        .collect()
}

const FIVE_MINUTES: u32 = 300;
const SIX_HOURS: u32 = 21_600;

/// What differs between the alarms; all notify the topic on ALARM and OK
/// and treat missing data as not breaching.
struct AlarmSpec {
    logical_id: &'static str,
    /// `errors`, ...: the runbook anchor is `alarm-<short name>`.
    short_name: &'static str,
    name: NamePattern,
    /// What it means; the runbook reference is appended.
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
            short_name: "errors",
            name: names::ERRORS_ALARM,
            description: "The handler failed at least once in 5 minutes (invalid event or AWS \
                          error); the event is retried and then lands in the dead-letter queue.",
            metric: function_errors(ids::HANDLER_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::SWEEP_ERRORS_ALARM,
            short_name: "sweep-errors",
            name: names::SWEEP_ERRORS_ALARM,
            description: "The sweep failed; stale holds are not expired until it succeeds.",
            metric: function_errors(ids::SWEEP_FUNCTION),
            comparison_operator: GreaterThanOrEqualToThreshold,
            threshold: 1.0,
        },
        AlarmSpec {
            logical_id: ids::DEAD_LETTER_MESSAGES_ALARM,
            short_name: "dlq-messages",
            name: names::DLQ_MESSAGES_ALARM,
            description: "Events or invocations are in the dead-letter queue: inspect, fix, replay.",
            metric: queue_depth(ids::DEAD_LETTER_QUEUE),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::LEDGER_DRIFT_ALARM,
            short_name: "drift",
            name: names::DRIFT_ALARM,
            description: "The sweep found accounts whose ledger entries do not sum to their \
                          balances (stays in ALARM until a sweep reports no drift).",
            // One period per sweep: the alarm holds until the next sweep.
            metric: custom_metric(metrics::LEDGER_DRIFT, Statistic::Maximum, SIX_HOURS),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::CONFLICTS_ALARM,
            short_name: "conflicts",
            name: names::CONFLICTS_ALARM,
            description: "The handler received conflicting events (same business key, other \
                          payload); see the sweep report.",
            metric: custom_metric(metrics::CONFLICTS, Statistic::Sum, FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::THROTTLES_ALARM,
            short_name: "throttles",
            name: names::THROTTLES_ALARM,
            description: "Invocations of the handler or the sweep were throttled (concurrency limit).",
            metric: throttles_metric(FIVE_MINUTES),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
        AlarmSpec {
            logical_id: ids::UNROUTED_EVENTS_ALARM,
            short_name: "unrouted",
            name: names::UNROUTED_ALARM,
            description: "Events on the stage's bus match no ledger detail-type (a producer's \
                          typo or an event no producer may send) and wait in the unrouted queue.",
            metric: queue_depth(ids::UNROUTED_QUEUE),
            comparison_operator: GreaterThanThreshold,
            threshold: 0.0,
        },
    ]
}

/// The most messages visible in a queue over 5 minutes.
fn queue_depth(queue_id: &str) -> AlarmMetric {
    single_metric(
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        vec![Dimension {
            name: "QueueName".to_owned(),
            value: Expr::get_att(queue_id, "QueueName"),
        }],
        Statistic::Maximum,
        FIVE_MINUTES,
    )
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

/// The outcomes of SPEC §4, the values of the `Outcome` dimension.
const OUTCOMES: [&str; 8] = [
    "granted",
    "held",
    "rejected",
    "debited",
    "refunded",
    "adjusted",
    "duplicate",
    "conflict",
];

/// The stage's dashboard: one typed body, serialized into a `Fn::Sub`.
fn add_dashboard(t: &mut Template) {
    t.add_resource(
        ids::DASHBOARD,
        Dashboard {
            dashboard_name: names::DASHBOARD.expr(),
            dashboard_body: Expr::sub_json(&dashboard_body()),
        },
    );
}

/// The widgets, two per row, the alarms on top.
fn dashboard_body() -> DashboardBody {
    let stage = || (metrics::STAGE_DIMENSION, Expr::reference(params::STAGE));
    let custom =
        |metric: &str| MetricLine::new(metrics::NAMESPACE, metric, vec![stage()]).labelled(metric);
    let by_outcome = |metric: &str| -> Vec<MetricLine> {
        OUTCOMES
            .iter()
            .map(|outcome| {
                MetricLine::new(
                    metrics::NAMESPACE,
                    metric,
                    vec![stage(), (metrics::OUTCOME_DIMENSION, Expr::lit(*outcome))],
                )
                .labelled(*outcome)
            })
            .collect()
    };
    let functions = [
        ("handler", names::HANDLER_FUNCTION),
        ("sweep", names::SWEEP_FUNCTION),
    ];
    let lambda = |metric: &str, stat: Option<&str>| -> Vec<MetricLine> {
        functions
            .iter()
            .map(|(short, name)| {
                let line =
                    MetricLine::new("AWS/Lambda", metric, vec![("FunctionName", name.expr())]);
                match stat {
                    Some(stat) => line.with_stat(stat).labelled(format!("{short} {stat}")),
                    None => line.labelled(format!("{short} {metric}")),
                }
            })
            .collect()
    };
    let queue = |label: &str, name: NamePattern| {
        MetricLine::new(
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            vec![("QueueName", name.expr())],
        )
        .labelled(label)
    };
    let rule = |label: &str, name: NamePattern| {
        MetricLine::new(
            "AWS/Events",
            "MatchedEvents",
            vec![
                ("EventBusName", names::EVENT_BUS.expr()),
                ("RuleName", name.expr()),
            ],
        )
        .labelled(label)
    };
    let graphs: Vec<(&str, &str, u32, Vec<MetricLine>)> = vec![
        (
            "Events by outcome",
            "Sum",
            FIVE_MINUTES,
            by_outcome(metrics::EVENTS),
        ),
        (
            "Replayed events by outcome",
            "Sum",
            FIVE_MINUTES,
            [
                by_outcome(metrics::REPLAYED_EVENTS),
                vec![
                    MetricLine::new(
                        metrics::NAMESPACE,
                        metrics::REPLAYED_EVENTS,
                        vec![
                            stage(),
                            (
                                metrics::OUTCOME_DIMENSION,
                                Expr::lit(metrics::NOT_APPLIED_OUTCOME),
                            ),
                        ],
                    )
                    .labelled(metrics::NOT_APPLIED_OUTCOME),
                ],
            ]
            .concat(),
        ),
        (
            "Errors and throttles",
            "Sum",
            FIVE_MINUTES,
            [lambda("Errors", None), lambda("Throttles", None)].concat(),
        ),
        (
            "Duration p50 / p99 (ms)",
            "p50",
            FIVE_MINUTES,
            [
                lambda("Duration", Some("p50")),
                lambda("Duration", Some("p99")),
            ]
            .concat(),
        ),
        (
            "Queue depth",
            "Maximum",
            FIVE_MINUTES,
            vec![
                queue("dead-letter queue", names::DEAD_LETTER_QUEUE),
                queue("unrouted queue", names::UNROUTED_QUEUE),
            ],
        ),
        (
            "Rule matches (unrouted: no ledger detail-type)",
            "Sum",
            FIVE_MINUTES,
            vec![
                rule("unrouted events", names::UNROUTED_EVENTS_RULE),
                rule("ledger events", names::LEDGER_EVENTS_RULE),
            ],
        ),
        (
            "Sweep: stragglers, expired, drift",
            "Maximum",
            3_600,
            [
                metrics::STRAGGLERS,
                metrics::STRAGGLER_CREDITS,
                metrics::EXPIRED,
                metrics::LEDGER_DRIFT,
            ]
            .map(custom)
            .to_vec(),
        ),
        (
            "Conflicts",
            "Sum",
            FIVE_MINUTES,
            [metrics::CONFLICTS, metrics::SWEEP_CONFLICTS]
                .map(custom)
                .to_vec(),
        ),
    ];
    let alarms = Widget {
        widget_type: WidgetType::Alarm,
        x: 0,
        y: 0,
        width: 24,
        height: 4,
        properties: WidgetProperties::Alarm(AlarmWidget {
            title: "Alarms".to_owned(),
            alarms: names::ALARMS
                .iter()
                .map(|(_, name)| name.arn("cloudwatch", "alarm:"))
                .collect(),
        }),
    };
    let mut widgets = vec![alarms];
    for (i, (title, stat, period, metrics)) in graphs.into_iter().enumerate() {
        let (column, row) = (i % 2, i / 2);
        widgets.push(Widget {
            widget_type: WidgetType::Metric,
            x: u32::try_from(column).unwrap_or_default() * 12,
            y: 4 + u32::try_from(row).unwrap_or_default() * 6,
            width: 12,
            height: 6,
            properties: WidgetProperties::Metric(MetricWidget {
                title: title.to_owned(),
                region: Expr::reference("AWS::Region"),
                view: "timeSeries",
                stacked: false,
                period,
                stat: stat.to_owned(),
                metrics,
            }),
        });
    }
    DashboardBody {
        start: "-PT24H".to_owned(),
        widgets,
    }
}
