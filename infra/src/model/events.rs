//! `AWS::Events::EventBus` and `AWS::Events::Rule`.

use serde::Serialize;

use super::Expr;

/// `AWS::Events::EventBus`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventBus {
    /// The bus name.
    pub name: Expr,
}

/// `AWS::Events::Rule`: an event pattern on a bus, or a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    /// The rule name.
    pub name: Expr,
    /// What the rule is for.
    pub description: String,
    /// The bus; `None`: the account's default bus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_bus_name: Option<Expr>,
    /// Which events match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_pattern: Option<EventPattern>,
    /// A `rate(...)` or `cron(...)` expression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_expression: Option<String>,
    /// Whether the rule delivers.
    pub state: RuleState,
    /// Where matching events go.
    pub targets: Vec<Target>,
}

/// `State` of a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RuleState {
    /// Delivering.
    Enabled,
    /// Not delivering.
    Disabled,
}

/// An event pattern matching on `detail-type` only (any source).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventPattern {
    /// The detail-types that match.
    #[serde(rename = "detail-type")]
    pub detail_type: Vec<String>,
}

/// One of a rule's `Targets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Unique within the rule.
    pub id: String,
    /// The target's ARN.
    pub arn: Expr,
    /// A constant JSON text sent instead of the event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// How long and how often EventBridge retries a failed delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_policy: Option<RetryPolicy>,
    /// Where undeliverable events go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_config: Option<DeadLetterConfig>,
}

/// `RetryPolicy` of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RetryPolicy {
    /// Retries after the first attempt (0–185).
    pub maximum_retry_attempts: u32,
    /// Age after which an event is no longer retried (60–86400 s).
    pub maximum_event_age_in_seconds: u32,
}

/// `DeadLetterConfig` of a target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeadLetterConfig {
    /// The SQS queue's ARN.
    pub arn: Expr,
}
