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
//!
//! It cannot make things worse: [`plan_repair`] refuses, naming what it
//! found, unless the entries are exactly `1..=seq` without a gap, each says
//! what its history sums to, the jobs agree with them, and the account's
//! balances are the only thing wrong. Anything else — a `seq` raised by
//! hand, a last entry deleted, an entry edited, a job edited — is not
//! something the balances can be put back from: writing what the entries
//! sum to would refuse every later event, or take paid credits away for
//! good. Those are a person's call.

use reconciler_core::audit::{self, Balances};
use reconciler_core::contract::table;
use reconciler_core::ledger::{Account, Entry, Job};

use super::expr::{Expr, num, text};
use super::keys;
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
        .set("transferred", num(recomputed.transferred))
        .set("updated_at_ms", num(now_ms))
        .set(
            table::OPEN_INDEX_PARTITION_KEY,
            text(keys::audit_open_kind(&stored.account_id)),
        )
        .set(table::OPEN_INDEX_SORT_KEY, text(&stored.account_id))
}

/// What `ledger repair` found, or did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Repair {
    /// The entries sum to the balances: nothing to repair.
    Clean,
    /// The balances stored and what the entries sum to (`dry run`, or
    /// before the write).
    Needed {
        stored: Balances,
        recomputed: Balances,
    },
    /// Written: the account now holds what its entries sum to.
    Repaired {
        stored: Balances,
        recomputed: Balances,
    },
}

/// What `entries` (every entry of the account's partition, in order) sum
/// to, and how many overdrafts they count, if they are numbered `1..` with
/// no gap and each says what its history sums to; else what is wrong.
fn entries_sum(entries: &[Entry]) -> Result<(Balances, u64), String> {
    let mut recomputed = Balances::default();
    let mut overdrafts = 0u64;
    for (position, entry) in (1u64..).zip(entries) {
        if entry.seq != position {
            return Err(format!(
                "its entries are not numbered without a gap: entry {position} is missing (the \
                 next one found is {})",
                entry.seq
            ));
        }
        recomputed = recomputed.plus(entry);
        if (entry.available_after, entry.held_after) != (recomputed.available, recomputed.held) {
            return Err(format!(
                "entry {} says the balances after it were ({}, {}), but its history sums to \
                 ({}, {}): an entry was edited",
                entry.seq,
                entry.available_after,
                entry.held_after,
                recomputed.available,
                recomputed.held
            ));
        }
        overdrafts += u64::from(entry.overdraft > 0);
    }
    Ok((recomputed, overdrafts))
}

/// The repair of a drifted account (pure): what its entries sum to, when
/// that differs from its balances and nothing else is wrong. `entries` are
/// every entry of the account's partition, in order; `jobs` those whose
/// holds the entries move.
///
/// # Errors
/// What was found besides the balances, named — entries not numbered
/// `1..=seq` without a gap, an entry whose balances after it are not its
/// history's, an overdraft count the entries do not give, jobs that
/// disagree with the entries — and why a repair cannot mend it: a person
/// decides (docs/operations.md#alarm-drift).
pub fn plan_repair(account: &Account, entries: &[Entry], jobs: &[Job]) -> Result<Repair, String> {
    let refuse = |found: String| {
        Err(format!(
            "{}: {found}; putting the balances back to what the entries sum to would \
             not make the ledger whole, so nothing is repaired: escalate \
             (docs/operations.md#alarm-drift)",
            account.name()
        ))
    };
    let (recomputed, overdrafts) = match entries_sum(entries) {
        Ok(sum) => sum,
        Err(found) => return refuse(found),
    };
    if recomputed.seq != account.seq {
        return refuse(if recomputed.seq < account.seq {
            format!(
                "its seq is {}, but its entries end at {}: the seq was raised, or its last \
                 entries are missing",
                account.seq, recomputed.seq
            )
        } else {
            format!(
                "its entries run to {}, past its seq {}: the seq was lowered, or entries were \
                 written without it",
                recomputed.seq, account.seq
            )
        });
    }
    if overdrafts != account.overdrafts {
        return refuse(format!(
            "it counts {} overdrafts, its entries {overdrafts}",
            account.overdrafts
        ));
    }
    let holds = audit::audit_holds(account, entries, jobs, &[]);
    let disagree: Vec<String> = holds
        .problems
        .into_iter()
        .chain(holds.doubts.iter().map(ToString::to_string))
        .collect();
    if !disagree.is_empty() {
        return refuse(format!(
            "its jobs disagree with its entries ({})",
            disagree.join("; ")
        ));
    }
    // A cell of a split account below zero while unmarked would let a hold
    // in another cell commit on credits the account does not have.
    let split = account.cell > 0 || account.cell_count() > 1;
    if split && recomputed.available < 0 && !account.owing {
        return refuse(format!(
            "its entries sum to {} available, below zero, and it is not marked owing",
            recomputed.available
        ));
    }
    let stored = Balances::of(account);
    Ok(if stored == recomputed {
        Repair::Clean
    } else {
        Repair::Needed { stored, recomputed }
    })
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
            .set_key(Some(keys::cell_key(&stored.account_id, stored.cell)))
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
    use crate::store::mock::{after, grant, requested};
    use reconciler_core::ledger::JobStatus;
    use reconciler_core::memory::MemoryLedger;

    /// a1: granted 100 and 50, j1 holding 30: five balances, three entries.
    fn history() -> MemoryLedger {
        after(&[
            grant("g1", "a1", 100),
            requested("j1", "a1", 30),
            grant("g2", "a1", 50),
        ])
    }

    fn plan(account: &Account, entries: &[Entry], ledger: &MemoryLedger) -> Result<Repair, String> {
        let jobs: Vec<Job> = ledger.jobs.values().cloned().collect();
        plan_repair(account, entries, &jobs)
    }

    /// A cell of a split account whose entries sum below zero while it is
    /// not marked owing: repairing it would let holds elsewhere commit on
    /// credits the account lacks. Refused; the same history on an account
    /// never split is repaired.
    #[test]
    fn a_cell_below_zero_and_unmarked_is_not_repaired() {
        let mut ledger = MemoryLedger::default();
        let debit = reconciler_core::event::Event::Rendered {
            job_id: "j1".into(),
            account_id: "a1".into(),
            credits: 10,
        };
        ledger
            .apply(&debit, &crate::store::mock::meta("e1"))
            .unwrap();
        let whole = ledger.accounts["a1"].clone();
        assert_eq!(whole.available, -10);
        let mut edited = whole.clone();
        edited.available = 0;
        edited.debited = 0;
        assert!(matches!(
            plan(&edited, &ledger.entries, &ledger),
            Ok(Repair::Needed { .. })
        ));
        let mut cell = edited.clone();
        cell.cells = 2;
        let err = plan(&cell, &ledger.entries, &ledger).unwrap_err();
        assert!(
            err.contains("below zero, and it is not marked owing"),
            "{err}"
        );
        cell.owing = true;
        assert!(matches!(
            plan(&cell, &ledger.entries, &ledger),
            Ok(Repair::Needed { .. })
        ));
    }

    #[test]
    fn an_edited_balance_is_repaired_and_a_clean_account_left_alone() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        assert_eq!(plan(account, &ledger.entries, &ledger), Ok(Repair::Clean));
        let mut edited = account.clone();
        edited.available += 7;
        assert_eq!(
            plan(&edited, &ledger.entries, &ledger),
            Ok(Repair::Needed {
                stored: Balances {
                    transferred: 0,
                    available: 127,
                    held: 30,
                    granted: 150,
                    debited: 0,
                    adjusted: 0,
                    seq: 3
                },
                recomputed: Balances {
                    transferred: 0,
                    available: 120,
                    held: 30,
                    granted: 150,
                    debited: 0,
                    adjusted: 0,
                    seq: 3
                },
            })
        );
    }

    /// Each refusal names what it found: (what, account, entries, jobs, named).
    #[test]
    fn a_repair_refuses_whatever_is_wrong_besides_the_balances() {
        let ledger = history();
        let account = ledger.accounts["a1"].clone();
        let entries = ledger.entries.clone();
        let raised = Account {
            seq: 5,
            ..account.clone()
        };
        let lowered = Account {
            seq: 2,
            ..account.clone()
        };
        // The paid grant g2's entry deleted, its balance edited away with it.
        let mut before_g2 = account.clone();
        before_g2.available -= 50;
        before_g2.granted -= 50;
        let mut gap = entries.clone();
        gap.remove(1);
        let mut edited_entry = entries.clone();
        edited_entry[2].available_after += 1;
        let counted = Account {
            overdrafts: 1,
            ..account.clone()
        };
        let mut settled_by_hand = ledger.clone();
        let j1 = settled_by_hand.jobs.get_mut("j1").unwrap();
        j1.status = JobStatus::Refunded;
        let cases: Vec<(&str, &Account, &[Entry], &MemoryLedger, &str)> = vec![
            (
                "a seq raised by hand",
                &raised,
                &entries,
                &ledger,
                "its seq is 5, but its entries end at 3",
            ),
            (
                "a missing last entry",
                &before_g2,
                &entries[..2],
                &ledger,
                "its seq is 3, but its entries end at 2",
            ),
            (
                "entries past the seq",
                &lowered,
                &entries,
                &ledger,
                "its entries run to 3, past its seq 2",
            ),
            ("a gap", &account, &gap, &ledger, "entry 2 is missing"),
            (
                "an edited entry",
                &account,
                &edited_entry,
                &ledger,
                "entry 3 says the balances after it",
            ),
            (
                "an overdraft count",
                &counted,
                &entries,
                &ledger,
                "it counts 1 overdrafts, its entries 0",
            ),
            (
                "a job settled by hand",
                &account,
                &entries,
                &settled_by_hand,
                "its jobs disagree with its entries (job j1",
            ),
        ];
        for (what, account, entries, ledger, named) in cases {
            let refused = plan(account, entries, ledger).expect_err(what);
            assert!(
                refused.contains(named) && refused.contains("nothing is repaired"),
                "{what}: {refused}"
            );
        }
        let mut missing_job = ledger.clone();
        missing_job.jobs.clear();
        let refused = plan(&account, &entries, &missing_job).unwrap_err();
        assert!(refused.contains("job j1 is missing"), "{refused}");
    }

    /// The repair's one write: `true` when it went through, `false` when
    /// the account changed since it was read (its guard failed).
    #[tokio::test]
    async fn a_repair_writes_once_guarded_and_says_whether_it_did() {
        let ledger = history();
        let mut edited = ledger.accounts["a1"].clone();
        edited.available += 7;
        let recomputed = Balances::of(&ledger.accounts["a1"]);
        let dynamo = crate::store::mock::Dynamo::new().updates().update_refused();
        let store = dynamo.ledger();

        assert!(store.repair_account(&edited, &recomputed).await.unwrap());
        assert!(!store.repair_account(&edited, &recomputed).await.unwrap());

        dynamo.assert_done();
        let crate::store::mock::Sent::Update(update) = &dynamo.sent()[0] else {
            panic!("{:?}", dynamo.operations());
        };
        assert_eq!(update.key(), Some(&keys::account_key("a1")));
    }

    #[test]
    fn a_repair_sets_the_entries_sums_on_the_account_as_read_and_marks_it() {
        let stored = Account {
            account_id: "a2".into(),
            cell: 0,
            cells: 0,
            owing: false,
            transferred: 0,
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
            values.values().any(|v| *v == text("AUDIT#09")),
            "marked for the next audit, in its account's shard"
        );
    }
}
