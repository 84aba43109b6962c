//! The one repair of an account item (`cargo xtask ledger repair`): its
//! balances put back to what its entries sum to.
//!
//! The entries are the ledger of record, appended in the same transaction as
//! every change of the account, and never rewritten; the account item's
//! balances are their running sum, kept beside them so that a decision reads
//! one item. When the sweep's audit finds the two apart (`LedgerDrift`) and
//! the entries are intact, the item is the one that is wrong — an edit made
//! out of band, a restore of that item alone — and this puts it back: one
//! `UpdateItem`, conditioned on the item being exactly what the repair read
//! (the same guard as a money write), so nothing written since is undone.
//! The account is then marked for the next audit, which clears the drift.

use reconciler_core::audit::Balances;
use reconciler_core::contract::table;
use reconciler_core::ledger::Account;

use super::expr::{Expr, num, text};
use super::keys::{self, OPEN_AUDIT};
use super::txn::account_guard;
use super::{Ledger, StoreError};

/// The repair of `stored`: its balances and `seq` set to `recomputed`, and
/// marked for audit; conditioned on the whole item as read.
pub fn account_repair(stored: &Account, recomputed: &Balances, now_ms: i64) -> Expr {
    account_guard(Some(stored))
        .set("seq", num(recomputed.seq))
        .set("available", num(recomputed.available))
        .set("held", num(recomputed.held))
        .set("granted", num(recomputed.granted))
        .set("debited", num(recomputed.debited))
        .set("adjusted", num(recomputed.adjusted))
        .set("updated_at_ms", num(now_ms))
        .set(table::OPEN_INDEX_PARTITION_KEY, text(OPEN_AUDIT))
        .set(table::OPEN_INDEX_SORT_KEY, text(&stored.account_id))
}

impl Ledger {
    /// Puts the account's balances back to `recomputed` (what its entries
    /// sum to). `false`: the account changed since it was read (nothing
    /// written; read and audit it again).
    ///
    /// # Errors
    /// DynamoDB failed.
    pub async fn repair_account(
        &self,
        stored: &Account,
        recomputed: &Balances,
    ) -> Result<bool, StoreError> {
        let e = account_repair(stored, recomputed, self.now_ms());
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::account_key(&stored.account_id)))
            .set_update_expression(e.update_expression())
            .set_condition_expression(e.condition_expression())
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(StoreError::from_sdk(err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repair_sets_the_entries_sums_on_the_account_as_read_and_marks_it() {
        let stored = Account {
            account_id: "a2".into(),
            available: 82,
            held: 0,
            granted: 100,
            debited: 25,
            adjusted: 0,
            seq: 3,
            overdrafts: 0,
        };
        let recomputed = Balances {
            available: 75,
            seq: 3,
            ..Balances::of(&stored)
        };
        let e = account_repair(&stored, &recomputed, 1);
        let update = e.update_expression().unwrap();
        let condition = e.condition_expression().unwrap();
        assert!(update.starts_with("SET "), "{update}");
        let values = e.values().unwrap();
        assert!(values.values().any(|v| *v == num(75)), "{values:?}");
        assert!(
            values.values().any(|v| *v == num(82)),
            "guarded on the value read"
        );
        assert!(condition.contains(" = "), "{condition}");
        assert!(
            values.values().any(|v| *v == text(OPEN_AUDIT)),
            "marked for the next audit"
        );
    }
}
