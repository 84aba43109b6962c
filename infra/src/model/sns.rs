//! `AWS::SNS::Topic`, `AWS::SNS::TopicPolicy` and `AWS::SNS::Subscription`.

use serde::Serialize;

use super::Expr;
use super::iam::PolicyDocument;

/// `AWS::SNS::Topic`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Topic {
    /// The topic name.
    pub topic_name: Expr,
    /// The sender name of e-mail notifications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The customer managed key encrypting messages at rest; `None`: unencrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
}

/// `AWS::SNS::TopicPolicy`: replaces the topics' default access policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopicPolicy {
    /// The policy.
    pub policy_document: PolicyDocument,
    /// The topics' ARNs.
    pub topics: Vec<Expr>,
}

/// `AWS::SNS::Subscription`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    /// The topic's ARN.
    pub topic_arn: Expr,
    /// How messages are delivered.
    pub protocol: Protocol,
    /// Where: an e-mail address, an `https://` URL, a queue or function ARN.
    pub endpoint: String,
}

/// `Protocol` of a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Plain-text e-mail (the address must confirm the subscription).
    Email,
    /// An HTTPS POST (the endpoint must confirm the subscription).
    Https,
    /// An SQS queue (its queue policy must let the topic send).
    Sqs,
    /// A Lambda function (its resource policy must let the topic invoke).
    Lambda,
}

impl Protocol {
    /// Every protocol.
    pub const ALL: [Protocol; 4] = [Self::Email, Self::Https, Self::Sqs, Self::Lambda];

    /// The protocol's name, as SNS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Https => "https",
            Self::Sqs => "sqs",
            Self::Lambda => "lambda",
        }
    }
}
