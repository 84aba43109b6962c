//! The operator's side of cells (`reconciler_core::cells`): an account's
//! balances summed over its cells, and the split that spreads a busy
//! account over more of them (`cargo xtask ledger split`).

use std::time::Instant;

use aws_sdk_dynamodb::types::TransactWriteItem;
use reconciler_core::cells::split;
use reconciler_core::contract::table;
use reconciler_core::ledger::Account;

use super::expr::Expr;
use super::items::{AccountItem, to_item};
use super::keys;
use super::txn::account_guard;
use super::{Ledger, StoreError};

/// The writes of a split: the home cell put with its new count, guarded by
/// what it was read as (absent: it is created), and each new cell marked
/// owing created where none is.
fn split_writes(
    table_name: &str,
    home: Option<&Account>,
    cells: &[Account],
) -> Vec<TransactWriteItem> {
    cells
        .iter()
        .map(|cell| {
            let guard = match cell.cell {
                0 => account_guard(home),
                _ => Expr::new().absent(table::PARTITION_KEY),
            };
            guard.put(table_name, to_item(&AccountItem::new(cell, 0)))
        })
        .collect()
}

impl Ledger {
    /// The account's balances now, summed over its cells (one
    /// strongly consistent read of its home cell, and for a split account
    /// one `TransactGetItems` of every cell); `None` if it does not exist.
    ///
    /// # Errors
    /// DynamoDB failed, or a cell is malformed.
    pub async fn account_total(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let Some(home) = self.account(account_id, 0).await? else {
            return Ok(None);
        };
        let cells = home.cell_count();
        let sum = self.balances(home, cells, Instant::now(), &mut 0).await?;
        Ok(Some(sum))
    }

    /// Spreads `account_id` over `cells` cells from now on: its home cell
    /// counts them (created if the account has none yet), and, when the
    /// account is below zero or marked owing, the new cells are created
    /// marked owing. One transaction, guarded by the home cell as read.
    /// Returns the home cell as written.
    ///
    /// # Errors
    /// The count is not more than the account has (or past the most a
    /// split allows), the account changed meanwhile (try again), or
    /// DynamoDB failed.
    pub async fn split_account(&self, account_id: &str, cells: u32) -> Result<Account, StoreError> {
        let home = self.account(account_id, 0).await?;
        let written =
            split(account_id, home.as_ref(), cells).map_err(|message| StoreError::Refused {
                message,
                source: None,
            })?;
        let writes = split_writes(&self.table, home.as_ref(), &written);
        // Resent unchanged after a lost answer: the token makes a split that
        // committed answer with its success, not fail its own guard.
        let token =
            keys::fingerprint(&format!("split\n{account_id}\n{cells}\n{home:?}"))[..36].to_owned();
        self.retry
            .resend(|| {
                self.client
                    .transact_write_items()
                    .set_transact_items(Some(writes.clone()))
                    .client_request_token(&token)
                    .send()
            })
            .await
            .map_err(StoreError::from_sdk)?;
        // The home cell comes first: `split` always writes it.
        Ok(written
            .into_iter()
            .next()
            .unwrap_or_else(|| Account::new(account_id)))
    }
}
