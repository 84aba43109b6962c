//! The ledger table's schema, for local runs and tests. The deployed table is
//! declared by the stack (`infra`); a test there checks both agree.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};

use reconciler_core::contract::table;

use super::SdkFailure;

/// Key attributes: (name, key type) of the table, then of the `open-items` index.
pub const TABLE_KEYS: [(&str, &str); 2] =
    [(table::PARTITION_KEY, "HASH"), (table::SORT_KEY, "RANGE")];
pub const OPEN_INDEX_KEYS: [(&str, &str); 2] = [
    (table::OPEN_INDEX_PARTITION_KEY, "HASH"),
    (table::OPEN_INDEX_SORT_KEY, "RANGE"),
];

fn keys(k: &[(&str, &str)]) -> Vec<KeySchemaElement> {
    k.iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(*name)
                .key_type(KeyType::from(*kind))
                .build()
                .expect("key element is complete")
        })
        .collect()
}

/// The ledger table could not be created; the SDK's error is the source.
#[derive(Debug, thiserror::Error)]
#[error("create table {table}: {message}")]
pub struct CreateTableFailed {
    table: String,
    message: String,
    #[source]
    source: SdkFailure,
}

/// Creates the ledger table (on-demand) and waits until it is active.
pub async fn create_table(client: &Client, name: &str) -> Result<(), CreateTableFailed> {
    let defs = TABLE_KEYS
        .iter()
        .chain(OPEN_INDEX_KEYS.iter())
        .map(|(n, _)| {
            AttributeDefinition::builder()
                .attribute_name(*n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("definition is complete")
        })
        .collect();
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(table::OPEN_INDEX)
        .set_key_schema(Some(keys(&OPEN_INDEX_KEYS)))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(
                    table::OPEN_INDEX_ATTRIBUTES
                        .iter()
                        .map(|a| a.to_string())
                        .collect(),
                ))
                .build(),
        )
        .build()
        .expect("index is complete");
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(defs))
        .set_key_schema(Some(keys(&TABLE_KEYS)))
        .global_secondary_indexes(gsi)
        .send()
        .await
        .map_err(|e| CreateTableFailed {
            table: name.to_owned(),
            message: super::errors::words(&e),
            source: Box::new(e),
        })?;
    Ok(())
}
