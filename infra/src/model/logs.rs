//! `AWS::Logs::LogGroup`.

use serde::Serialize;

use super::Expr;

/// `AWS::Logs::LogGroup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    /// The log group name.
    pub log_group_name: Expr,
    /// Days log events are kept (one of the values CloudWatch Logs allows).
    pub retention_in_days: u32,
    /// The customer managed key's **ARN** (not its id); `None`: CloudWatch
    /// Logs' default encryption.
    #[serde(rename = "KmsKeyId", skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<Expr>,
}

/// The values `RetentionInDays` accepts.
pub const RETENTION_DAYS: &[u32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
];
