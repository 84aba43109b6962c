//! What the sweep reads and writes besides [`Ledger::expire`]: pages of the
//! sparse `open-items` index, one account with its audit checkpoint, its newer
//! ledger entries, the conditional removal of an account's audit mark (with
//! the move of its checkpoint), and the sweep's state item.
//!
//! Every read is a `GetItem` or a `Query` on a key. What they return is what is
//! *open* — HELD jobs, accounts touched since their last audit, conflicts not
//! yet listed — so the sweep's cost grows with that, never with the size of
//! the table. There is no `Scan`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use super::items::{
    AccountItem, ConflictItem, EntryItem, Item, JobItem, OPEN_AUDIT, OPEN_CONFLICT, OPEN_HELD,
    OPEN_INDEX, SweepStateItem, account_key, entry_sk, from_item, key, sweep_state_key, to_item,
};
use super::{Ledger, StoreError, aws};

/// Sort key of an account's audit checkpoint (next to `ACCOUNT`, before the
/// `ENTRY#…` items).
pub const AUDIT_CHECKPOINT_SK: &str = "AUDIT";

/// `ACCOUNT#<id>` / `AUDIT`: the account's balances at its last clean audit.
pub fn audit_checkpoint_key(account_id: &str) -> Item {
    key(format!("ACCOUNT#{account_id}"), AUDIT_CHECKPOINT_SK.into())
}

/// What the last clean audit of an account established: its entries
/// `1..=audited_seq` sum to these balances. Written only by the sweep, in the
/// transaction that removes the account's audit mark (so only while the
/// account is still exactly as audited); the handler never writes it, so its
/// `Put`s of the account leave it alone. The next audit sums only the entries
/// after `audited_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpointItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub audited_seq: u64,
    pub audited_available: i64,
    pub audited_held: i64,
    pub audited_granted: i64,
    pub audited_debited: i64,
    pub audited_at_ms: i64,
    /// The sweep run that audited it.
    pub run_id: String,
}

impl AuditCheckpointItem {
    /// The checkpoint of a clean audit of `audited`.
    pub fn new(audited: &AccountItem, now_ms: i64, run_id: &str) -> Self {
        AuditCheckpointItem {
            pk: format!("ACCOUNT#{}", audited.account_id),
            sk: AUDIT_CHECKPOINT_SK.into(),
            account_id: audited.account_id.clone(),
            audited_seq: audited.seq,
            audited_available: audited.available,
            audited_held: audited.held,
            audited_granted: audited.granted,
            audited_debited: audited.debited,
            audited_at_ms: now_ms,
            run_id: run_id.into(),
        }
    }
}

/// One page of a query, and where the next one starts (`None`: this was the last).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Item>,
}

/// A key condition with its placeholders.
struct KeyQuery {
    condition: &'static str,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl KeyQuery {
    fn new(condition: &'static str) -> Self {
        KeyQuery {
            condition,
            names: HashMap::new(),
            values: HashMap::new(),
        }
    }
    fn name(mut self, placeholder: &str, attr: &str) -> Self {
        self.names.insert(placeholder.into(), attr.into());
        self
    }
    fn value(mut self, placeholder: &str, value: impl Into<String>) -> Self {
        self.values
            .insert(placeholder.into(), AttributeValue::S(value.into()));
        self
    }
}

/// `open_kind = :kind`, optionally narrowed on `open_key`.
fn open_items(kind: &str, narrow: Option<(&'static str, String)>) -> KeyQuery {
    let (condition, key) = match narrow {
        None => ("#open_kind = :kind", None),
        Some((condition, key)) => (condition, Some(key)),
    };
    let q = KeyQuery::new(condition)
        .name("#open_kind", "open_kind")
        .value(":kind", kind);
    match key {
        Some(key) => q.name("#open_key", "open_key").value(":key", key),
        None => q,
    }
}

/// The removal of an account's audit mark, conditioned on the account still
/// being exactly as audited (its version and balances): if money moved since,
/// or someone edited the balances, the mark stays for the next sweep.
pub fn audit_mark_removal(table: &str, audited: &AccountItem) -> Update {
    let values = HashMap::from([
        (
            ":seq".to_string(),
            AttributeValue::N(audited.seq.to_string()),
        ),
        (
            ":available".to_string(),
            AttributeValue::N(audited.available.to_string()),
        ),
        (
            ":held".to_string(),
            AttributeValue::N(audited.held.to_string()),
        ),
    ]);
    let names = ["open_kind", "open_key", "seq", "available", "held"]
        .into_iter()
        .map(|a| (format!("#{a}"), a.to_string()))
        .collect();
    Update::builder()
        .table_name(table)
        .set_key(Some(account_key(&audited.account_id)))
        .update_expression("REMOVE #open_kind, #open_key")
        .condition_expression("#seq = :seq AND #available = :available AND #held = :held")
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .expect("update is complete")
}

/// The checkpoint of a clean audit, moved only forward (a slower sweep that
/// audited an older version cannot move it back; its mark removal fails anyway).
pub fn audit_checkpoint_put(table: &str, checkpoint: &AuditCheckpointItem) -> Put {
    Put::builder()
        .table_name(table)
        .set_item(Some(to_item(checkpoint)))
        .condition_expression("attribute_not_exists(#pk) OR #audited_seq <= :seq")
        .expression_attribute_names("#pk", "pk")
        .expression_attribute_names("#audited_seq", "audited_seq")
        .expression_attribute_values(
            ":seq",
            AttributeValue::N(checkpoint.audited_seq.to_string()),
        )
        .build()
        .expect("put is complete")
}

/// Moves the conflict marker to `listed_until`, only forward: two sweeps
/// running at once can never move it back.
pub fn conflict_marker_advance(table: &str, listed_until: &str, now_ms: i64) -> Update {
    let names = HashMap::from([
        ("#until".to_string(), "conflicts_listed_until".to_string()),
        ("#updated".to_string(), "updated_at_ms".to_string()),
    ]);
    let values = HashMap::from([
        (":until".to_string(), AttributeValue::S(listed_until.into())),
        (":now".to_string(), AttributeValue::N(now_ms.to_string())),
    ]);
    Update::builder()
        .table_name(table)
        .set_key(Some(sweep_state_key()))
        .update_expression("SET #until = :until, #updated = :now")
        .condition_expression("attribute_not_exists(#until) OR #until < :until")
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(Some(values))
        .build()
        .expect("update is complete")
}

impl Ledger {
    async fn query_page(
        &self,
        index: Option<&str>,
        q: KeyQuery,
        consistent: bool,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(str::to_string))
            .key_condition_expression(q.condition)
            .set_expression_attribute_names(Some(q.names))
            .set_expression_attribute_values(Some(q.values))
            .consistent_read(consistent)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(aws)?;
        let next = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
        Ok((out.items.unwrap_or_default(), next))
    }

    /// A page of HELD jobs whose hold was taken before `cutoff_ms`, oldest first
    /// (the index is eventually consistent: [`Ledger::expire`] reads the job
    /// again before acting).
    pub async fn held_before(
        &self,
        cutoff_ms: i64,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<Page<JobItem>, StoreError> {
        let cutoff = format!("{:015}", cutoff_ms.max(0));
        let q = open_items(
            OPEN_HELD,
            Some(("#open_kind = :kind AND #open_key < :key", cutoff)),
        );
        let (items, next) = self
            .query_page(Some(OPEN_INDEX), q, false, limit, start)
            .await?;
        let items = items
            .into_iter()
            .map(|i| from_item(i, "job").map_err(StoreError::Malformed))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// A page of the accounts awaiting an audit (money moved since their last
    /// one), by account id.
    pub async fn audit_marked(
        &self,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<Page<String>, StoreError> {
        let (items, next) = self
            .query_page(
                Some(OPEN_INDEX),
                open_items(OPEN_AUDIT, None),
                false,
                limit,
                start,
            )
            .await?;
        let items = items
            .into_iter()
            .map(|item| match item.get("open_key") {
                Some(AttributeValue::S(account_id)) => Ok(account_id.clone()),
                _ => Err(StoreError::Malformed(format!(
                    "an item marked for audit has no account id: {item:?}"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// A page of conflict records whose `open_key` comes after `after` (all of
    /// them for `None`), oldest first.
    pub async fn conflicts_after(
        &self,
        after: Option<&str>,
        limit: Option<i32>,
        start: Option<Item>,
    ) -> Result<Page<ConflictItem>, StoreError> {
        let narrow = after.map(|a| ("#open_kind = :kind AND #open_key > :key", a.to_string()));
        let q = open_items(OPEN_CONFLICT, narrow);
        let (items, next) = self
            .query_page(Some(OPEN_INDEX), q, false, limit, start)
            .await?;
        let items = items
            .into_iter()
            .map(|i| from_item(i, "conflict").map_err(StoreError::Malformed))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next })
    }

    /// The account item as it is now and its audit checkpoint, in one
    /// strongly consistent `Query` (`sk BETWEEN "ACCOUNT" AND "AUDIT"`).
    pub async fn account_for_audit(
        &self,
        account_id: &str,
    ) -> Result<Option<(AccountItem, Option<AuditCheckpointItem>)>, StoreError> {
        let q = KeyQuery::new("#pk = :pk AND #sk BETWEEN :account AND :audit")
            .name("#pk", "pk")
            .name("#sk", "sk")
            .value(":pk", format!("ACCOUNT#{account_id}"))
            .value(":account", "ACCOUNT")
            .value(":audit", AUDIT_CHECKPOINT_SK);
        let (items, _) = self.query_page(None, q, true, None, None).await?;
        let (mut account, mut checkpoint) = (None, None);
        for item in items {
            match item.get("sk") {
                Some(AttributeValue::S(sk)) if sk == AUDIT_CHECKPOINT_SK => {
                    checkpoint =
                        Some(from_item(item, "audit checkpoint").map_err(StoreError::Malformed)?);
                }
                Some(AttributeValue::S(sk)) if sk == "ACCOUNT" => {
                    account = Some(from_item(item, "account").map_err(StoreError::Malformed)?);
                }
                _ => {}
            }
        }
        Ok(account.map(|a| (a, checkpoint)))
    }

    /// The account's ledger entries `first_seq..=last_seq`, in order (strongly
    /// consistent, every page). Entries are append-only and written in the same
    /// transaction as the account, so entries `1..=seq` of an account read at
    /// version `seq` exist, whatever is written meanwhile: the audit compares
    /// a snapshot with exactly its own history.
    pub async fn entries_between(
        &self,
        account_id: &str,
        first_seq: u64,
        last_seq: u64,
        limit: Option<i32>,
    ) -> Result<Vec<EntryItem>, StoreError> {
        let mut entries = Vec::new();
        if first_seq > last_seq {
            return Ok(entries);
        }
        let mut start = None;
        loop {
            let q = KeyQuery::new("#pk = :pk AND #sk BETWEEN :first AND :last")
                .name("#pk", "pk")
                .name("#sk", "sk")
                .value(":pk", format!("ACCOUNT#{account_id}"))
                .value(":first", entry_sk(first_seq))
                .value(":last", entry_sk(last_seq));
            let (items, next) = self.query_page(None, q, true, limit, start).await?;
            for item in items {
                entries.push(from_item(item, "entry").map_err(StoreError::Malformed)?);
            }
            match next {
                Some(key) => start = Some(key),
                None => return Ok(entries),
            }
        }
    }

    /// After a clean audit: removes the account's audit mark and moves its
    /// checkpoint to the audited balances, in one transaction, if the account
    /// is still as audited. `Ok(false)`: it changed meanwhile; the mark and
    /// the old checkpoint stay for the next sweep.
    pub async fn clear_audit_mark(
        &self,
        audited: &AccountItem,
        now_ms: i64,
        run_id: &str,
    ) -> Result<bool, StoreError> {
        let checkpoint = AuditCheckpointItem::new(audited, now_ms, run_id);
        self.conditional_transaction(vec![
            TransactWriteItem::builder()
                .update(audit_mark_removal(&self.table, audited))
                .build(),
            TransactWriteItem::builder()
                .put(audit_checkpoint_put(&self.table, &checkpoint))
                .build(),
        ])
        .await
    }

    /// The sweep's state (default when no sweep ever recorded one).
    pub async fn sweep_state(&self) -> Result<SweepStateItem, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(sweep_state_key()))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
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
        self.conditional_update(conflict_marker_advance(&self.table, listed_until, now_ms))
            .await
    }

    /// Sends `u` as an `UpdateItem`. `Ok(false)`: its condition failed.
    pub async fn conditional_update(&self, u: Update) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(u.table_name())
            .set_key(Some(u.key().clone()))
            .update_expression(u.update_expression())
            .set_condition_expression(u.condition_expression().map(str::to_string))
            .set_expression_attribute_names(u.expression_attribute_names().cloned())
            .set_expression_attribute_values(u.expression_attribute_values().cloned())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(aws(e)),
        }
    }

    /// Sends `items` as one `TransactWriteItems`. `Ok(false)`: a condition
    /// failed, or a concurrent write to one of its items cancelled it (the
    /// item changed: the same as a failed condition to a caller that retries
    /// next sweep).
    async fn conditional_transaction(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<bool, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(true),
            Err(err) => err,
        };
        match err.as_service_error() {
            Some(E::TransactionCanceledException(t))
                if t.cancellation_reasons().iter().all(|r| {
                    matches!(
                        r.code().unwrap_or("None"),
                        "None" | "ConditionalCheckFailed" | "TransactionConflict"
                    )
                }) =>
            {
                Ok(false)
            }
            Some(E::TransactionInProgressException(_)) => Ok(false),
            _ => Err(aws(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::expr::assert_aws_grammar;
    use aws_sdk_dynamodb::types::TransactWriteItem;
    use reconciler_core::ledger::Account;

    #[test]
    fn the_sweeps_writes_follow_the_aws_grammar() {
        let mut account = Account::new("a1");
        account.available = 5;
        account.seq = 3;
        let removal = audit_mark_removal("t", &AccountItem::new(&account, 1));
        assert_eq!(removal.update_expression(), "REMOVE #open_kind, #open_key");
        assert_eq!(
            removal.expression_attribute_values().unwrap()[":seq"],
            AttributeValue::N("3".into())
        );
        assert_aws_grammar(&TransactWriteItem::builder().update(removal).build());
        let checkpoint = AuditCheckpointItem::new(&AccountItem::new(&account, 1), 2, "run");
        let put = audit_checkpoint_put("t", &checkpoint);
        assert_eq!(
            put.item()["sk"],
            AttributeValue::S(AUDIT_CHECKPOINT_SK.into())
        );
        assert_eq!(put.item()["audited_seq"], AttributeValue::N("3".into()));
        assert_eq!(
            put.item()["audited_available"],
            AttributeValue::N("5".into())
        );
        assert_aws_grammar(&TransactWriteItem::builder().put(put).build());
        let marker = conflict_marker_advance("t", "000000000000001#k", 2);
        assert_aws_grammar(&TransactWriteItem::builder().update(marker).build());
    }

    #[test]
    fn key_conditions_name_every_attribute_through_placeholders() {
        for q in [
            open_items(OPEN_AUDIT, None),
            open_items(
                OPEN_HELD,
                Some(("#open_kind = :kind AND #open_key < :key", "1".into())),
            ),
        ] {
            for token in q.condition.split_whitespace() {
                assert!(
                    token.starts_with('#')
                        || token.starts_with(':')
                        || ["=", "<", ">", "AND"].contains(&token),
                    "bare {token:?} in {:?}",
                    q.condition
                );
                if token.starts_with('#') {
                    assert!(q.names.contains_key(token));
                }
                if token.starts_with(':') {
                    assert!(q.values.contains_key(token));
                }
            }
            assert_eq!(
                q.names.len() + q.values.len(),
                q.condition.matches(['#', ':']).count()
            );
        }
    }
}
