//! Reads besides a command's own: an account's entries, jobs by id, and what
//! the operator commands show (an account's statement, a job's history).
//! Queries on one partition and gets by key, never a scan.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::KeysAndAttributes;
use reconciler_core::contract::table;
use reconciler_core::ledger::{Account, Entry, Job};

use super::expr::{Expr, text};
use super::items::{AccountItem, EntryItem, JobItem, from_item};
use super::keys::{self, Item};
use super::{Ledger, StoreError, aws};

/// `BatchGetItem` takes at most this many keys.
const BATCH: usize = 100;

impl Ledger {
    /// The account as it is now (strongly consistent), if it exists.
    pub async fn account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::account_key(account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        out.item
            .map(|i| {
                from_item::<AccountItem>(i, "account")
                    .and_then(|a| a.account())
                    .map_err(StoreError::Malformed)
            })
            .transpose()
    }

    /// The job item as it is now (strongly consistent), if it exists: the
    /// job, and who moved it when (`cargo xtask ledger job`).
    pub async fn job_item(&self, job_id: &str) -> Result<Option<JobItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::job_key(job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        out.item
            .map(|i| from_item::<JobItem>(i, "job").map_err(StoreError::Malformed))
            .transpose()
    }

    /// The account's entries with these `seq`s (a job's history), in order.
    pub async fn entries(&self, account_id: &str, seqs: &[u64]) -> Result<Vec<Entry>, StoreError> {
        let keys = seqs
            .iter()
            .map(|seq| keys::entry_key(account_id, *seq))
            .collect();
        let mut entries = self
            .batch_get(keys)
            .await?
            .into_iter()
            .map(|i| {
                from_item::<EntryItem>(i, "entry")
                    .and_then(|e| e.entry())
                    .map_err(StoreError::Malformed)
            })
            .collect::<Result<Vec<_>, _>>()?;
        entries.sort_by_key(|e| e.seq);
        Ok(entries)
    }

    /// The account's ledger entries `first_seq..=last_seq`, in order (one
    /// strongly consistent query on its partition, every page). Entries are
    /// append-only and written in the same transaction as the account, so
    /// entries `1..=seq` of an account read at version `seq` exist, whatever
    /// is written meanwhile: the audit compares a snapshot with exactly its
    /// own history.
    pub async fn entries_between(
        &self,
        account_id: &str,
        first_seq: u64,
        last_seq: u64,
        page_size: Option<i32>,
    ) -> Result<Vec<Entry>, StoreError> {
        if first_seq > last_seq {
            return Ok(Vec::new());
        }
        let q = Expr::new()
            .key_eq(table::PARTITION_KEY, text(keys::account_pk(account_id)))
            .key_between(
                table::SORT_KEY,
                text(keys::entry_sk(first_seq)),
                text(keys::entry_sk(last_seq)),
            );
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.table)
            .set_key_condition_expression(q.key_condition_expression())
            .set_expression_attribute_names(q.names())
            .set_expression_attribute_values(q.values())
            .consistent_read(true)
            .set_limit(page_size)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(aws)?;
        items
            .into_iter()
            .map(|i| {
                from_item::<EntryItem>(i, "entry")
                    .and_then(|e| e.entry())
                    .map_err(StoreError::Malformed)
            })
            .collect()
    }

    /// The jobs with these ids that exist, as they are now (strongly
    /// consistent `BatchGetItem`s): what the audit compares an account's
    /// hold entries with.
    pub async fn jobs(&self, job_ids: &[String]) -> Result<Vec<Job>, StoreError> {
        let keys = job_ids.iter().map(|j| keys::job_key(j)).collect();
        self.batch_get(keys)
            .await?
            .into_iter()
            .map(|i| {
                from_item::<JobItem>(i, "job")
                    .and_then(|j| j.job())
                    .map_err(StoreError::Malformed)
            })
            .collect()
    }

    /// Every item at these keys that exists, strongly consistent, in batches
    /// of 100, asking again for what DynamoDB left unprocessed.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            let mut round = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set");
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(aws)?;
                let mut responses: BTreeMap<String, Vec<Item>> =
                    out.responses.unwrap_or_default().into_iter().collect();
                found.extend(responses.remove(&self.table).unwrap_or_default());
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
                if !pending.is_empty() {
                    super::backoff(&self.retry, round).await;
                    round += 1;
                }
            }
        }
        Ok(found)
    }
}
