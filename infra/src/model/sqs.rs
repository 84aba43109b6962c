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
    /// Encryption at rest.
    #[serde(flatten)]
    pub encryption: QueueEncryption,
}

/// How a queue is encrypted at rest: SQS accepts one kind at a time, so
/// the model cannot express both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueEncryption {
    /// SSE-SQS: `SqsManagedSseEnabled: true`.
    SqsManaged,
    /// SSE-KMS with a customer managed key: `KmsMasterKeyId` and
    /// `KmsDataKeyReusePeriodSeconds` (60–86400).
    Kms {
        /// The key's ARN.
        key: Expr,
        /// Seconds SQS reuses a data key before calling KMS again.
        data_key_reuse_period_seconds: u32,
    },
}

impl Serialize for QueueEncryption {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        match self {
            Self::SqsManaged => map.serialize_entry("SqsManagedSseEnabled", &true)?,
            Self::Kms {
                key,
                data_key_reuse_period_seconds,
            } => {
                map.serialize_entry("KmsMasterKeyId", key)?;
                map.serialize_entry(
                    "KmsDataKeyReusePeriodSeconds",
                    data_key_reuse_period_seconds,
                )?;
            }
        }
        map.end()
    }
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
