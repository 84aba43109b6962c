//! The reconciler's stack (contract §6), described once. [`template`] derives a
//! stage's template from its [`StageConfig`]; every physical name comes from
//! [`crate::names`], a pattern over the template parameters `Stage`,
//! `TableSuffix` and `EventBusName`.
//!
//! One file per part of the stack, each adding its resources to the
//! template: `table` (the ledger), `queues` (dead letters, unrouted events),
//! `key` (the stage's and the alerts' KMS keys), `functions` (the handler
//! and the sweep), `rules` (the bus, its rules and the archive, the
//! key-state rule), `producers` (the bus policy and the rules' patterns,
//! from the stage's producers), `alarms` (the ops-alerts topic and the
//! alarms) and `dashboard`; `skips` holds the checkov skips and [`ids`] the
//! logical ids. This file holds the template's parameters,
//! conditions and outputs, the public constants, and the helpers the parts
//! share.

mod alarms;
mod dashboard;
mod functions;
pub mod ids;
mod key;
mod producers;
mod queues;
mod rules;
mod skips;
mod table;

pub use alarms::{RunbookAnchor, runbook_anchors};

use crate::model::iam::Statement;
use crate::model::{DeletionPolicy, Expr, Output, Parameter, Template};
use crate::stage::StageConfig;

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
    let keys = key::add_keys(&mut t, cfg);
    let key = keys.as_ref().map(|keys| &keys.stage);
    table::add_ledger_table(&mut t, cfg, key);
    queues::add_queues(&mut t, cfg, key);
    functions::add_functions(&mut t, cfg, key);
    rules::add_rules(&mut t, cfg);
    rules::add_archive(&mut t, cfg, key);
    if keys.is_some() {
        rules::add_key_state_rule(&mut t);
    }
    alarms::add_alerts(&mut t, cfg, keys.as_ref().map(|keys| &keys.alerts));
    dashboard::add_dashboard(&mut t, cfg);
    for (name, description, value) in crate::outputs::definitions(cfg) {
        t.add_output(name, Output::new(description, value));
    }
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

/// `Deny` of `actions` without TLS (`aws:SecureTransport` false), to everyone.
fn deny_insecure_transport(actions: &[&str], resources: Vec<Expr>) -> Statement {
    Statement::deny_all("DenyInsecureTransport", actions, resources).with_condition(
        "Bool",
        "aws:SecureTransport",
        vec![Expr::lit("false")],
    )
}

// Metric periods, in seconds, of the alarms and the dashboard.
const ONE_MINUTE: u32 = 60;
const FIVE_MINUTES: u32 = 300;
const ONE_HOUR: u32 = 3_600;
