//! The ledger table: its keys and `open-items` index from
//! `reconciler_core::contract::table`, TTL, point-in-time recovery, the
//! stage's key (else the AWS managed DynamoDB key), and deletion protection
//! under the `ProtectTable` condition (off only during a first create, see
//! [`super::params::TABLE_DELETION_PROTECTION`]).

use reconciler_core::contract::table;

use super::skips::{self, skip_if};
use super::{conditions, ids, stateful_policy};
use crate::model::dynamodb::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    PointInTimeRecoverySpecification, Projection, ProjectionType, SseSpecification, SseType, Table,
    TimeToLiveSpecification,
};
use crate::model::{Expr, Flag, Resource, Template};
use crate::names;
use crate::stage::StageConfig;

pub(super) fn add_ledger_table(t: &mut Template, cfg: &StageConfig, key: Option<&Expr>) {
    let table = Table {
        table_name: names::LEDGER_TABLE.expr(),
        billing_mode: BillingMode::PayPerRequest,
        attribute_definitions: [
            table::PARTITION_KEY,
            table::SORT_KEY,
            table::OPEN_INDEX_PARTITION_KEY,
            table::OPEN_INDEX_SORT_KEY,
        ]
        .map(AttributeDefinition::string)
        .to_vec(),
        key_schema: vec![
            KeySchemaElement::hash(table::PARTITION_KEY),
            KeySchemaElement::range(table::SORT_KEY),
        ],
        global_secondary_indexes: vec![GlobalSecondaryIndex {
            index_name: table::OPEN_INDEX.to_owned(),
            key_schema: vec![
                KeySchemaElement::hash(table::OPEN_INDEX_PARTITION_KEY),
                KeySchemaElement::range(table::OPEN_INDEX_SORT_KEY),
            ],
            projection: Projection {
                projection_type: ProjectionType::Include,
                non_key_attributes: table::OPEN_INDEX_ATTRIBUTES
                    .iter()
                    .map(|a| a.to_string())
                    .collect(),
            },
        }],
        time_to_live_specification: Some(TimeToLiveSpecification {
            attribute_name: table::TTL_ATTRIBUTE.to_owned(),
            enabled: true,
        }),
        point_in_time_recovery_specification: Some(PointInTimeRecoverySpecification {
            point_in_time_recovery_enabled: true,
        }),
        sse_specification: Some(SseSpecification {
            sse_enabled: true,
            sse_type: key.map(|_| SseType::Kms),
            kms_master_key_id: key.cloned(),
        }),
        deletion_protection_enabled: Flag::When(conditions::PROTECT_TABLE.to_owned()),
    };
    let table = Resource::new(table).with_policies(stateful_policy(cfg));
    t.add_resource(
        ids::LEDGER_TABLE,
        skip_if(table, key.is_none(), skips::TABLE_KEY),
    );
}
