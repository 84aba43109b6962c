//! `ledger repair`: a drifted account's balances put back to what its
//! entries sum to, when its jobs agree with them.

use anyhow::bail;
use reconciler::store::Ledger;
pub use reconciler::store::repair::Repair;
use reconciler::store::repair::plan_repair;
use reconciler_core::audit::{self, Balances};
use reconciler_core::ledger::Account;

use crate::base::ui::table;

/// `ledger repair`: reads the account, all its entries and their jobs,
/// plans (see [`plan_repair`]) and, unless `dry_run`, writes the repair,
/// conditioned on the account as read.
///
/// # Errors
/// No such account, the jobs disagree, the account changed meanwhile, or
/// DynamoDB failed.
/// A split account is repaired one cell at a time (`cell`; 0: its home,
/// the whole of an account never split): the sweep's drift names the cell.
pub async fn repair(
    ledger: &Ledger,
    table_name: &str,
    (account_id, cell): (&str, u32),
    dry_run: bool,
    confirm: impl FnOnce(&Balances, &Balances) -> anyhow::Result<()>,
) -> anyhow::Result<Repair> {
    let Some(account) = ledger.account(account_id, cell).await? else {
        bail!(
            "no {} in {table_name}",
            Account::in_cell(account_id, cell).name()
        );
    };
    // Every entry the account has, whatever its `seq` says (that may be
    // what was edited).
    let entries = ledger
        .entries_between(account_id, cell, 1, u64::MAX, None)
        .await?;
    let jobs = ledger.jobs(&audit::jobs_holding(&entries)).await?;
    let plan = plan_repair(&account, &entries, &jobs).map_err(anyhow::Error::msg)?;
    let Repair::Needed { stored, recomputed } = plan else {
        return Ok(plan);
    };
    if dry_run {
        return Ok(Repair::Needed { stored, recomputed });
    }
    confirm(&stored, &recomputed)?;
    if !ledger.repair_account(&account, &recomputed).await? {
        bail!(
            "{} changed while it was being repaired: nothing written; run the repair again (it \
             reads and checks the account afresh)",
            account.name()
        );
    }
    Ok(Repair::Repaired { stored, recomputed })
}

/// The repair's report (pure).
pub fn render_repair(account_id: &str, repair: &Repair) -> String {
    let row = |label: &str, b: &Balances| {
        vec![
            label.to_owned(),
            b.available.to_string(),
            b.held.to_string(),
            b.granted.to_string(),
            b.debited.to_string(),
            b.adjusted.to_string(),
            b.seq.to_string(),
        ]
    };
    let header = [
        "",
        "AVAILABLE",
        "HELD",
        "GRANTED",
        "DEBITED",
        "ADJUSTED",
        "SEQ",
    ];
    match repair {
        Repair::Clean => format!(
            "Account {account_id}: its entries sum to its balances and its jobs back its holds: \
             nothing to repair.\n"
        ),
        Repair::Needed { stored, recomputed } => format!(
            "Account {account_id} would be repaired (dry run: nothing written):\n{}",
            table(
                &header,
                &[row("stored", stored), row("entries", recomputed)]
            )
        ),
        Repair::Repaired { stored, recomputed } => format!(
            "Account {account_id} repaired: its balances are what its entries sum to, and it is \
             marked for the next sweep's audit (which clears LedgerDrift).\n{}",
            table(&header, &[row("was", stored), row("now", recomputed)])
        ),
    }
}
