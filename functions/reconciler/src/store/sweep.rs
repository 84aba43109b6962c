//! What the sweep reads and writes besides [`Ledger::expire`]: pages of the
//! sparse `open-items` index, one account's ledger entries, the conditional
//! removal of an account's audit mark, and the sweep's state item.
//!
//! Every read is a `GetItem` or a `Query` on a key. What they return is what is
//! *open* — HELD jobs, accounts touched since their last audit, conflicts not
//! yet listed — so the sweep's cost grows with that, never with the size of
//! the table. There is no `Scan`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Update};

use super::items::{
    AccountItem, ConflictItem, ENTRY_SK_PREFIX, EntryItem, Item, JobItem, OPEN_AUDIT,
    OPEN_CONFLICT, OPEN_HELD, OPEN_INDEX, SweepStateItem, account_key, entry_sk, from_item,
    sweep_state_key,
};
use super::{Ledger, StoreError, aws};

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

    /// The account item as it is now (a strongly consistent read).
    pub async fn account_item(&self, account_id: &str) -> Result<Option<AccountItem>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(account_key(account_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws)?;
        out.item
            .map(|i| from_item(i, "account").map_err(StoreError::Malformed))
            .transpose()
    }

    /// The account's ledger entries up to `upto_seq`, in order (strongly
    /// consistent, every page). Entries are append-only and written in the same
    /// transaction as the account, so entries `1..=seq` of an account read at
    /// version `seq` exist, whatever is written meanwhile: the audit compares
    /// a snapshot with exactly its own history.
    pub async fn entries_upto(
        &self,
        account_id: &str,
        upto_seq: u64,
        limit: Option<i32>,
    ) -> Result<Vec<EntryItem>, StoreError> {
        let mut entries = Vec::new();
        if upto_seq == 0 {
            return Ok(entries);
        }
        let mut start = None;
        loop {
            let q = KeyQuery::new("#pk = :pk AND #sk BETWEEN :first AND :last")
                .name("#pk", "pk")
                .name("#sk", "sk")
                .value(":pk", format!("ACCOUNT#{account_id}"))
                .value(":first", ENTRY_SK_PREFIX)
                .value(":last", entry_sk(upto_seq));
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

    /// Removes the account's audit mark if it is still as audited.
    /// `Ok(false)`: it changed meanwhile; the mark stays for the next sweep.
    pub async fn clear_audit_mark(&self, audited: &AccountItem) -> Result<bool, StoreError> {
        let u = audit_mark_removal(&self.table, audited);
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
        let u = conflict_marker_advance(&self.table, listed_until, now_ms);
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
