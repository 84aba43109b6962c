//! `AWS::SNS::Topic` and `AWS::SNS::Subscription`.

use serde::Serialize;

use super::Expr;

/// `AWS::SNS::Topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    /// The topic name.
    pub topic_name: Expr,
    /// The sender name of e-mail notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
}

/// `AWS::SNS::Subscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    /// The topic's ARN.
    pub topic_arn: Expr,
    /// How messages are delivered.
    pub protocol: Protocol,
    /// Where (for e-mail: the address).
    pub endpoint: String,
}

/// `Protocol` of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain-text e-mail (the address must confirm the subscription).
    Email,
}
