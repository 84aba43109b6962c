//! `AWS::DynamoDB::Table`.

use serde::Serialize;

use super::{Expr, Flag};

/// `AWS::DynamoDB::Table`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    /// The physical table name.
    pub table_name: Expr,
    /// How reads and writes are billed.
    pub billing_mode: BillingMode,
    /// The attributes used in the table's and the indexes' key schemas.
    pub attribute_definitions: Vec<AttributeDefinition>,
    /// The table's primary key.
    pub key_schema: Vec<KeySchemaElement>,
    /// Global secondary indexes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub global_secondary_indexes: Vec<GlobalSecondaryIndex>,
    /// Expiry of items by an epoch-seconds attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_live_specification: Option<TimeToLiveSpecification>,
    /// Continuous backups.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub point_in_time_recovery_specification: Option<PointInTimeRecoverySpecification>,
    /// Encryption at rest with a KMS key.
    #[serde(rename = "SSESpecification", skip_serializing_if = "Option::is_none")]
    pub sse_specification: Option<SseSpecification>,
    /// Whether the table refuses `DeleteTable`.
    pub deletion_protection_enabled: Flag,
}

/// `BillingMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BillingMode {
    /// On-demand capacity.
    #[serde(rename = "PAY_PER_REQUEST")]
    PayPerRequest,
}

/// One of `AttributeDefinitions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    /// The attribute.
    pub attribute_name: String,
    /// Its scalar type.
    pub attribute_type: AttributeType,
}

impl AttributeDefinition {
    /// A string attribute.
    pub fn string(name: &str) -> Self {
        Self {
            attribute_name: name.to_owned(),
            attribute_type: AttributeType::S,
        }
    }
}

/// The scalar type of a key attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum AttributeType {
    /// String.
    S,
    /// Number.
    N,
}

/// One element of a key schema.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeySchemaElement {
    /// The attribute.
    pub attribute_name: String,
    /// Partition or sort key.
    pub key_type: KeyType,
}

impl KeySchemaElement {
    /// A partition (hash) key.
    pub fn hash(name: &str) -> Self {
        Self {
            attribute_name: name.to_owned(),
            key_type: KeyType::Hash,
        }
    }

    /// A sort (range) key.
    pub fn range(name: &str) -> Self {
        Self {
            attribute_name: name.to_owned(),
            key_type: KeyType::Range,
        }
    }
}

/// `KeyType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum KeyType {
    /// Partition key.
    Hash,
    /// Sort key.
    Range,
}

/// One of `GlobalSecondaryIndexes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GlobalSecondaryIndex {
    /// The index name.
    pub index_name: String,
    /// The index key.
    pub key_schema: Vec<KeySchemaElement>,
    /// Which attributes the index copies.
    pub projection: Projection,
}

/// `Projection`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// Which attributes are projected.
    pub projection_type: ProjectionType,
    /// With `INCLUDE`: the non-key attributes copied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_key_attributes: Vec<String>,
}

/// `ProjectionType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ProjectionType {
    /// Every attribute.
    All,
    /// Only the keys.
    KeysOnly,
    /// The keys and `NonKeyAttributes`.
    Include,
}

/// `TimeToLiveSpecification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLiveSpecification {
    /// The epoch-seconds attribute.
    pub attribute_name: String,
    /// Whether expiry is on.
    pub enabled: bool,
}

/// `PointInTimeRecoverySpecification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PointInTimeRecoverySpecification {
    /// Whether continuous backups are on.
    pub point_in_time_recovery_enabled: bool,
}

/// `SSESpecification`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SseSpecification {
    /// `true` alone: the AWS managed key `aws/dynamodb`; with a key: that key.
    #[serde(rename = "SSEEnabled")]
    pub sse_enabled: bool,
    /// `KMS` (required with a key id).
    #[serde(rename = "SSEType", skip_serializing_if = "Option::is_none")]
    pub sse_type: Option<SseType>,
    /// The customer managed key's ARN.
    #[serde(rename = "KMSMasterKeyId", skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<Expr>,
}

/// `SSEType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum SseType {
    /// AWS KMS.
    #[serde(rename = "KMS")]
    Kms,
}
