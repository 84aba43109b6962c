//! The handler and the sweep. Each is a function with its log group, its
//! execution role (least privilege: its own statements, its log group, the
//! dead-letter queue, and the stage's key only through DynamoDB and SQS) and
//! its asynchronous-invoke config (retries, then the dead-letter queue); one
//! `FunctionSpec` each, built by the same `add_function`. Their environments
//! are exactly the contract's variables (`reconciler_core::contract`).

use std::collections::BTreeMap;

use reconciler_core::contract::{handler_env, sweep_env, table};

use super::skips::{self, skip_if};
use super::{ASYNC_INVOKE_RETRY_ATTEMPTS, ids, params, stateful_policy};
use crate::model::iam::{Policy, PolicyDocument, Role, Statement};
use crate::model::lambda::{
    self, Code, DestinationConfig, Environment, EventInvokeConfig, Function, LogFormat,
    LoggingConfig, OnFailure, Runtime,
};
use crate::model::logs::LogGroup;
use crate::model::{Expr, Resource, Template};
use crate::names::{self, NamePattern};
use crate::stage::{Architecture, StageConfig};

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

// TransactWriteItems (TransactGetItems) is authorized by the per-item
// actions it contains. The handler reads with TransactGetItems and writes
// with TransactWriteItems (a ConditionCheck on the account when no money
// moves) and PutItem; it never queries.
const HANDLER_LEDGER_ACTIONS: [&str; 4] = [
    "dynamodb:ConditionCheckItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
];
// The sweep queries entries and the sweep state, reads the jobs behind an
// account's holds with BatchGetItem (its audit), expires holds (a
// transaction that always moves money: the account is Put, never only
// checked) and clears audit marks (Update + Put): no ConditionCheckItem.
const SWEEP_LEDGER_ACTIONS: [&str; 5] = [
    "dynamodb:BatchGetItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
];

pub(super) fn add_functions(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    add_function(t, cfg, key, handler_spec(cfg));
    add_function(t, cfg, key, sweep_spec(cfg));
}

fn ledger_arn() -> Expr {
    Expr::get_att(ids::LEDGER_TABLE, "Arn")
}

fn handler_spec(cfg: &StageConfig) -> FunctionSpec {
    FunctionSpec {
        short_name: "handler",
        name: names::HANDLER_FUNCTION,
        log_group_name: names::HANDLER_LOG_GROUP,
        reserved_concurrency: cfg.handler_reserved_concurrency,
        description: "Applies ledger events from the stage's bus (contract sections 2-4).",
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
            &HANDLER_LEDGER_ACTIONS,
            vec![ledger_arn()],
        )],
    }
}

fn sweep_spec(cfg: &StageConfig) -> FunctionSpec {
    FunctionSpec {
        short_name: "sweep",
        name: names::SWEEP_FUNCTION,
        log_group_name: names::SWEEP_LOG_GROUP,
        reserved_concurrency: cfg.sweep_reserved_concurrency,
        description: "Expires stale holds and audits the ledger every 6 hours (contract section 5).",
        function_id: ids::SWEEP_FUNCTION,
        role_id: ids::SWEEP_ROLE,
        log_group_id: ids::SWEEP_LOG_GROUP,
        invoke_config_id: ids::SWEEP_EVENT_INVOKE_CONFIG,
        code_key_parameter: params::SWEEP_CODE_KEY,
        memory_mb: cfg.sweep_memory_mb,
        timeout_seconds: cfg.sweep_timeout_seconds,
        environment: sweep_environment(cfg),
        statements: sweep_statements(cfg),
    }
}

/// The sweep's own statements: the ledger, its open-items index, and the
/// summarizer's API key when the summarizer is on.
fn sweep_statements(cfg: &StageConfig) -> Vec<Statement> {
    let mut statements = vec![
        Statement::allow("LedgerReadWrite", &SWEEP_LEDGER_ACTIONS, vec![ledger_arn()]),
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
        statements.push(Statement::allow(
            "ReadSummarizerApiKey",
            &["ssm:GetParameter"],
            vec![Expr::sub(format!(
                "arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/{name}"
            ))],
        ));
    }
    statements
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
    add_log_group(t, cfg, key, spec.log_group_id, spec.log_group_name);
    let statements = role_statements(spec.statements, spec.log_group_id, key);
    t.add_resource(spec.role_id, execution_role(spec.short_name, statements));

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
    t.add_resource(
        spec.function_id,
        with_function_skips(function, spec.reserved_concurrency),
    );
    t.add_resource(spec.invoke_config_id, invoke_config(spec.function_id));
}

/// The function's log group, with the stage's retention and, when the stage
/// has one, its key.
fn add_log_group(
    t: &mut Template,
    cfg: &StageConfig,
    key: Option<&Expr>,
    log_group_id: &str,
    name: NamePattern,
) {
    let log_group = LogGroup {
        log_group_name: name.expr(),
        retention_in_days: cfg.log_retention_days,
        kms_key_id: key.cloned(),
    };
    let log_group = Resource::new(log_group).with_policies(stateful_policy(cfg));
    t.add_resource(
        log_group_id,
        skip_if(log_group, key.is_none(), skips::LOG_GROUP_KEY),
    );
}

/// The function's own `statements`, then its log group, the dead-letter
/// queue and, when the stage has one, the stage's key.
fn role_statements(
    mut statements: Vec<Statement>,
    log_group_id: &str,
    key: Option<&Expr>,
) -> Vec<Statement> {
    statements.push(Statement::allow(
        "WriteOwnLogs",
        &["logs:CreateLogStream", "logs:PutLogEvents"],
        vec![Expr::get_att(log_group_id, "Arn")],
    ));
    statements.push(Statement::allow(
        "OnFailureToDeadLetterQueue",
        &["sqs:SendMessage"],
        vec![Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn")],
    ));
    if let Some(key) = key {
        statements.extend(stage_key_statements(key));
    }
    statements
}

/// DynamoDB and SQS call KMS on the caller's behalf: the role may use the
/// key only through them (`kms:ViaService`).
fn stage_key_statements(key: &Expr) -> [Statement; 2] {
    [
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
        // The on-failure destination sends to the encrypted dead-letter
        // queue: SQS asks KMS with the queue's ARN as encryption context.
        Statement::allow(
            "StageKeyForDeadLetterQueue",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![key.clone()],
        )
        .with_condition(
            "StringEquals",
            "kms:ViaService",
            vec![Expr::sub("sqs.${AWS::Region}.amazonaws.com")],
        )
        .with_condition(
            "StringEquals",
            "kms:EncryptionContext:aws:sqs:arn",
            vec![Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn")],
        ),
    ]
}

/// The execution role Lambda assumes, with the least-privilege `statements`.
fn execution_role(short_name: &str, statements: Vec<Statement>) -> Role {
    Role {
        description: format!("Execution role of the {short_name} function."),
        assume_role_policy_document: PolicyDocument::new(vec![
            Statement::allow("LambdaAssumesRole", &["sts:AssumeRole"], Vec::new())
                .for_service("lambda.amazonaws.com"),
        ]),
        policies: vec![Policy {
            policy_name: format!("{short_name}-least-privilege"),
            policy_document: PolicyDocument::new(statements),
        }],
    }
}

/// The function with the checkov skips of every function, and the
/// concurrency skip when it reserves none.
fn with_function_skips(function: Function, reserved_concurrency: Option<u32>) -> Resource {
    let function = Resource::new(function)
        .with_checkov_skip(skips::LAMBDA_DLQ.0, skips::LAMBDA_DLQ.1)
        .with_checkov_skip(skips::LAMBDA_VPC.0, skips::LAMBDA_VPC.1)
        .with_checkov_skip(skips::LAMBDA_ENV_KEY.0, skips::LAMBDA_ENV_KEY.1);
    skip_if(
        function,
        reserved_concurrency.is_none(),
        skips::LAMBDA_CONCURRENCY,
    )
}

/// Lambda's retries of a failed asynchronous invocation, then the
/// dead-letter queue.
fn invoke_config(function_id: &str) -> EventInvokeConfig {
    EventInvokeConfig {
        function_name: Expr::reference(function_id),
        qualifier: "$LATEST".to_owned(),
        maximum_retry_attempts: ASYNC_INVOKE_RETRY_ATTEMPTS,
        destination_config: DestinationConfig {
            on_failure: OnFailure {
                destination: Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn"),
            },
        },
    }
}
