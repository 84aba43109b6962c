//! `AWS::KMS::Key` and `AWS::KMS::Alias`.

use serde::Serialize;

use super::Expr;

/// `AWS::KMS::Key`: a symmetric customer managed key. No `Tags`: the local
/// emulator fails on CloudFormation-style key tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Key {
    /// What the key protects.
    pub description: Expr,
    /// Whether the key can be used.
    pub enabled: bool,
    /// Automatic yearly rotation of the key material.
    pub enable_key_rotation: bool,
    /// `SYMMETRIC_DEFAULT`.
    pub key_spec: &'static str,
    /// `ENCRYPT_DECRYPT`.
    pub key_usage: &'static str,
    /// Days between a scheduled deletion and the deletion (7-30).
    pub pending_window_in_days: u32,
    /// The key policy, as JSON text (an `Fn::Sub` built by
    /// [`Expr::sub_json`]): CloudFormation accepts an object or a string, and
    /// the local emulator only works with a string.
    pub key_policy: Expr,
}

/// `AWS::KMS::Alias`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alias {
    /// `alias/...`.
    pub alias_name: Expr,
    /// The key's id or ARN.
    pub target_key_id: Expr,
}
