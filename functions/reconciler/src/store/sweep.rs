//! What the sweep reads and writes besides [`Ledger::expire`]: pages of the
//! sparse `open-items` index, one account with its audit checkpoint, the
//! conditional removal of an account's audit mark (with the move of its
//! checkpoint), and the sweep's state item.
//!
//! Every read is a `GetItem`, a `BatchGetItem` or a `Query` on a key. What
//! they return is what is *open* — HELD jobs, accounts touched since their
//! last audit, conflicts not yet listed — and what changed since the last
//! audit, so the sweep's cost grows with that, never with the size of the
//! table. There is no `Scan` (clippy refuses one in the functions).
//!
//! The index is read across its shards by [`super::open::OpenReader`], one
//! item at a time: the sweep stops between items when its time budget is
//! spent.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::audit::Balances;
use reconciler_core::contract::table;
use reconciler_core::ledger::Account;

use super::expr::{Expr, num, text};
use super::items::{
    AccountItem, AuditCheckpointItem, ConflictItem, FORMAT_VERSION, OpenHold, SweepStateItem,
    from_item, readable, to_item,
};
use super::keys::{self, AUDIT_SK, Item};
use super::open::Open;
use super::txn::account_guard;
use super::{Ledger, StoreError};

/// One page of a query, and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Item>,
}

/// The removal of an account's audit mark, conditioned on the account still
/// being exactly as audited (the same guard as a money write): if money
/// moved since, or someone edited the item, the mark stays for the next sweep.
pub fn audit_mark_removal(audited: &Account) -> Expr {
    account_guard(Some(audited))
        .remove(table::OPEN_INDEX_PARTITION_KEY)
        .remove(table::OPEN_INDEX_SORT_KEY)
}

/// The move of an account's checkpoint to `checkpoint`, only forward (a
/// racing sweep that audited an older version cannot move it back).
pub fn audit_checkpoint_guard(checkpoint: &AuditCheckpointItem) -> Expr {
    Expr::new().absent_or("audited_seq", "<=", num(checkpoint.audited_seq))
}

/// Moves the conflict marker to `listed_until`, only forward: two sweeps
/// running at once can never move it back.
pub fn conflict_marker_advance(listed_until: &str, now_ms: i64) -> Expr {
    Expr::new()
        .absent_or("conflicts_listed_until", "<", text(listed_until))
        .set("v", num(FORMAT_VERSION))
        .set("conflicts_listed_until", text(listed_until))
        .set("updated_at_ms", num(now_ms))
}

/// A HELD job as the index shows it; a malformed entry is its own error,
/// naming the item, so that one bad item does not stop the sweep from
/// settling the others (the index is eventually consistent:
/// [`Ledger::expire`] reads the job again before acting).
pub fn open_hold(item: Item) -> Result<OpenHold, String> {
    from_item(item, "held job (index)")
}

/// The account id and cell of an audit mark: the partition key of the item
/// it marks (an account's, or a cell's) names both, and its `open_key` the
/// account. A mark whose keys do not say so is its own error, naming the
/// item.
pub fn audit_mark(item: &Item) -> Result<(String, u32), String> {
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    let marked = text(table::PARTITION_KEY).and_then(keys::cell_of_pk);
    match (marked, text(table::OPEN_INDEX_SORT_KEY)) {
        (Some((account_id, cell)), Some(named)) if named == account_id => {
            Ok((account_id.to_owned(), cell))
        }
        _ => Err(format!(
            "an item marked for audit does not name its account by its keys: {}",
            super::items::describe_key(item)
        )),
    }
}

/// A conflict record as the index shows it.
///
/// # Errors
/// The record is malformed.
pub fn open_conflict(item: Item) -> Result<ConflictItem, StoreError> {
    from_item(item, "conflict").map_err(StoreError::Malformed)
}

impl Ledger {
    /// How many HELD jobs took their hold before `cutoff_ms` (`status`):
    /// the straggler query on every partition, counted by DynamoDB
    /// (`Select::COUNT`: no item comes back), every page.
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn count_held_before(&self, cutoff_ms: i64) -> Result<u64, StoreError> {
        let open = Open::HeldBefore(cutoff_ms);
        let mut count = 0u64;
        for partition in open.partitions() {
            let q = open.query(&partition);
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(table::OPEN_INDEX)
                .select(aws_sdk_dynamodb::types::Select::Count)
                .set_key_condition_expression(q.key_condition_expression())
                .set_expression_attribute_names(q.names())
                .set_expression_attribute_values(q.values())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                count += u64::try_from(page.map_err(StoreError::from_sdk)?.count()).unwrap_or(0);
            }
        }
        Ok(count)
    }

    /// The account as it is now and its audit checkpoint, in one strongly
    /// consistent `Query` (`sk BETWEEN "ACCOUNT" AND "AUDIT"`).
    pub async fn account_for_audit(
        &self,
        account_id: &str,
        cell: u32,
    ) -> Result<Option<(Account, Option<AuditCheckpointItem>)>, StoreError> {
        let q = Expr::new()
            .key_eq(table::PARTITION_KEY, text(keys::cell_pk(account_id, cell)))
            .key_between(table::SORT_KEY, text(keys::ACCOUNT_SK), text(AUDIT_SK));
        let out = self.query_consistent(&q, None, None).await?;
        let (mut account, mut checkpoint) = (None, None);
        for item in out.items.unwrap_or_default() {
            match item.get(table::SORT_KEY) {
                Some(AttributeValue::S(sk)) if sk == AUDIT_SK => {
                    let c: AuditCheckpointItem =
                        from_item(item, "audit checkpoint").map_err(StoreError::Malformed)?;
                    if !readable(c.v) {
                        return Err(StoreError::Malformed(format!(
                            "the audit checkpoint of {account_id} has item format version {}",
                            c.v
                        )));
                    }
                    checkpoint = Some(c);
                }
                Some(AttributeValue::S(sk)) if sk == keys::ACCOUNT_SK => {
                    account = Some(
                        from_item::<AccountItem>(item, "account")
                            .and_then(|i| i.account())
                            .map_err(StoreError::Malformed)?,
                    );
                }
                _ => {}
            }
        }
        Ok(account.map(|a| (a, checkpoint)))
    }

    /// After a clean audit: removes the account's audit mark and moves its
    /// checkpoint to the audited balances, in one transaction, if the account
    /// is still exactly as audited. `Ok(false)`: it changed meanwhile (or a
    /// write to it was in flight); the mark and the old checkpoint stay for
    /// the next sweep.
    pub async fn clear_audit_mark(
        &self,
        audited: &Account,
        now_ms: i64,
        run_id: &str,
    ) -> Result<bool, StoreError> {
        let checkpoint = AuditCheckpointItem::new(
            &audited.account_id,
            audited.cell,
            &Balances::of(audited),
            now_ms,
            run_id,
        );
        let key = keys::cell_key(&audited.account_id, audited.cell);
        let items = vec![
            audit_mark_removal(audited).update(&self.table, key),
            audit_checkpoint_guard(&checkpoint).put(&self.table, to_item(&checkpoint)),
        ];
        // Resent after a lost answer: a second arrival finds the account as
        // audited and writes the same again, or finds it changed and fails
        // its condition (the mark is then reported as kept, and the next
        // sweep finds none).
        let result = self
            .retry
            .resend(|| {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(items.clone()))
                    .send()
            })
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(t))
                if t.cancellation_reasons().iter().all(|r| {
                    matches!(
                        r.code().unwrap_or("None"),
                        "None" | "ConditionalCheckFailed" | "TransactionConflict"
                    )
                }) =>
            {
                Ok(false)
            }
            Some(TransactWriteItemsError::TransactionInProgressException(_)) => Ok(false),
            _ => Err(StoreError::from_sdk(err)),
        }
    }

    /// Moves the account's checkpoint forward to `proven` alone: the audit
    /// proved the entries `1..=proven.seq`, but the mark stays (the account
    /// moved on, a take waits for its release, or the window is longer
    /// than one run). A busy account is written between any two sweeps, and
    /// a long window is proven a page at a time; the checkpoint still moves,
    /// so the next audit reads only the entries after it, never the
    /// account's whole history. `false`: another sweep already moved it past.
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn advance_checkpoint(
        &self,
        account_id: &str,
        cell: u32,
        proven: &Balances,
        now_ms: i64,
        run_id: &str,
    ) -> Result<bool, StoreError> {
        let checkpoint = AuditCheckpointItem::new(account_id, cell, proven, now_ms, run_id);
        let guard = audit_checkpoint_guard(&checkpoint);
        let result = self
            .retry
            .resend(|| {
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&checkpoint)))
                    .set_condition_expression(guard.condition_expression())
                    .set_expression_attribute_names(guard.names())
                    .set_expression_attribute_values(guard.values())
                    .send()
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// The sweep's state (default when no sweep ever recorded one).
    pub async fn sweep_state(&self) -> Result<SweepStateItem, StoreError> {
        let out = self
            .retry
            .resend(|| {
                self.client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::sweep_state_key()))
                    .consistent_read(true)
                    .send()
            })
            .await
            .map_err(StoreError::from_sdk)?;
        match out.item {
            None => Ok(SweepStateItem::default()),
            Some(item) => from_item(item, "sweep state").map_err(StoreError::Malformed),
        }
    }

    /// Records that conflicts up to `listed_until` (an `open_key`) were listed.
    /// `Ok(false)`: another sweep had already listed further.
    pub async fn advance_conflict_marker(
        &self,
        listed_until: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let u = conflict_marker_advance(listed_until, now_ms)
            .update_item(&self.table, keys::sweep_state_key());
        let result = self
            .retry
            .resend(|| {
                self.client
                    .update_item()
                    .table_name(u.table_name())
                    .set_key(Some(u.key().clone()))
                    .update_expression(u.update_expression())
                    .set_condition_expression(u.condition_expression().map(str::to_string))
                    .set_expression_attribute_names(u.expression_attribute_names().cloned())
                    .set_expression_attribute_values(u.expression_attribute_values().cloned())
                    .send()
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::expr::assert_write_grammar;
    use aws_sdk_dynamodb::types::TransactWriteItem;

    /// A mark names its account and cell by the partition key of the item
    /// it marks, and its account again by its `open_key`; keys that
    /// disagree are the mark's own error.
    #[test]
    fn an_audit_mark_names_the_account_and_the_cell_it_marks() {
        let mark = |pk: &str, open_key: &str| {
            Item::from([
                (
                    table::PARTITION_KEY.to_owned(),
                    AttributeValue::S(pk.into()),
                ),
                (
                    table::SORT_KEY.to_owned(),
                    AttributeValue::S("ACCOUNT".into()),
                ),
                (
                    table::OPEN_INDEX_SORT_KEY.to_owned(),
                    AttributeValue::S(open_key.into()),
                ),
            ])
        };
        assert_eq!(
            audit_mark(&mark("ACCOUNT#a#1", "a#1")),
            Ok(("a#1".into(), 0))
        );
        assert_eq!(
            audit_mark(&mark("CELL#3#a#1", "a#1")),
            Ok(("a#1".into(), 3))
        );
        for (pk, open_key) in [("CELL#3#a1", "a2"), ("JOB#j1", "j1"), ("CELL#0#a1", "a1")] {
            let err = audit_mark(&mark(pk, open_key)).unwrap_err();
            assert!(err.contains(pk), "{err}");
        }
    }

    #[test]
    fn the_sweeps_requests_follow_the_aws_grammar() {
        let mut account = Account::new("a1");
        account.available = 5;
        account.adjusted = 5;
        account.seq = 3;
        let removal = audit_mark_removal(&account).update("t", keys::account_key("a1"));
        assert_write_grammar(&removal);
        let u = removal.update().unwrap();
        assert_eq!(u.update_expression(), "REMOVE #open_kind, #open_key");
        assert!(u.condition_expression().unwrap().contains("#available"));
        let checkpoint = AuditCheckpointItem::new("a1", 0, &Balances::of(&account), 2, "run");
        let put = audit_checkpoint_guard(&checkpoint).put("t", to_item(&checkpoint));
        assert_write_grammar(&put);
        assert_eq!(
            put.put().unwrap().item()["audited_seq"],
            AttributeValue::N("3".into())
        );
        let marker =
            conflict_marker_advance("000000000000001#k", 2).update("t", keys::sweep_state_key());
        assert_write_grammar(&marker);
        for q in [
            Open::AuditMarked.query("AUDIT#00"),
            Open::HeldBefore(1).query("HELD#31"),
            Open::ConflictsAfter(Some("1".into())).query("CONFLICT"),
        ] {
            // Key conditions go through the same checker (as a condition).
            let check = TransactWriteItem::builder()
                .condition_check(
                    aws_sdk_dynamodb::types::ConditionCheck::builder()
                        .table_name("t")
                        .set_key(Some(keys::sweep_state_key()))
                        .condition_expression(q.key_condition_expression().unwrap())
                        .set_expression_attribute_names(q.names())
                        .set_expression_attribute_values(q.values())
                        .build()
                        .unwrap(),
                )
                .build();
            assert_write_grammar(&check);
        }
    }
}
