//! `AWS::SQS::Queue` and `AWS::SQS::QueuePolicy`.

use serde::Serialize;

use super::Expr;
use super::iam::PolicyDocument;

/// `AWS::SQS::Queue`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    /// The queue name.
    pub queue_name: Expr,
    /// Seconds a message is kept (60–1209600).
    pub message_retention_period: u32,
    /// Encryption at rest with SQS-owned keys.
    pub sqs_managed_sse_enabled: bool,
}

/// `AWS::SQS::QueuePolicy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct QueuePolicy {
    /// The queues' URLs.
    pub queues: Vec<Expr>,
    /// The resource policy.
    pub policy_document: PolicyDocument,
}
