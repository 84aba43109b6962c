//! An in-memory ledger: the reference model of contract §3.
//!
//! It applies [`decide`]'s decisions with full knowledge of the state, and can
//! check every invariant. The property tests run random histories through it
//! (and against an independent oracle); the DynamoDB adapter is tested
//! against the same expectations on a real emulator.

use std::collections::BTreeMap;

use crate::audit::{Balances, audit};
use crate::cells::{cell_of, split, total};
use crate::event::Event;
use crate::ledger::{
    Account, Adjustment, Decision, Entry, Gather, Grant, Job, JobStatus, Known, LedgerError, Meta,
    Outcome, decide, decide_expiry,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLedger {
    /// Each account's home cell (its only one unless it was split).
    pub accounts: BTreeMap<String, Account>,
    /// The cells past the home of split accounts, by account and cell.
    pub cells: BTreeMap<(String, u32), Account>,
    pub jobs: BTreeMap<String, Job>,
    pub grants: BTreeMap<String, Grant>,
    pub adjustments: BTreeMap<String, Adjustment>,
    pub entries: Vec<Entry>,
}

/// How many times one event may be decided (again after a read of every
/// cell, and after the cells changed): past it the core asks for what it
/// was just given.
const DECISIONS: usize = 4;

impl MemoryLedger {
    /// Spreads `account_id` over `cells` cells from now on (creating its
    /// home cell if it has none), as [`split`] says.
    pub fn split(&mut self, account_id: &str, cells: u32) -> Result<(), String> {
        let home = self.accounts.get(account_id).cloned();
        for cell in split(account_id, home.as_ref(), cells)? {
            self.store(cell);
        }
        Ok(())
    }

    /// Cell `cell` of `account_id`, if it exists.
    pub fn cell(&self, account_id: &str, cell: u32) -> Option<&Account> {
        match cell {
            0 => self.accounts.get(account_id),
            k => self.cells.get(&(account_id.to_owned(), k)),
        }
    }

    /// Every existing cell of `account_id`, home first.
    pub fn cells_of<'a>(&'a self, account_id: &'a str) -> impl Iterator<Item = &'a Account> {
        let cells = self.accounts.get(account_id).map_or(1, Account::cell_count);
        (0..cells).filter_map(move |k| self.cell(account_id, k))
    }

    /// The account's balances, summed over its cells; `None` if it has none.
    pub fn total(&self, account_id: &str) -> Option<Account> {
        self.accounts
            .contains_key(account_id)
            .then(|| total(account_id, self.cells_of(account_id)))
    }

    pub fn known(&self, event: &Event) -> Known {
        let account_id = event.account_id();
        let cells = self.accounts.get(account_id).map_or(1, Account::cell_count);
        let job = event.job_id().and_then(|j| self.jobs.get(j)).cloned();
        let cell = cell_of(event, job.as_ref(), cells);
        Known {
            cells,
            account: self.cell(account_id, cell).cloned(),
            others: None,
            job,
            grant: match event {
                Event::Granted { grant_id, .. } => self.grants.get(grant_id).cloned(),
                _ => None,
            },
            adjustment: match event {
                Event::Adjusted { adjustment_id, .. } => {
                    self.adjustments.get(adjustment_id).cloned()
                }
                _ => None,
            },
        }
    }

    /// Applies one event; returns its outcome.
    pub fn apply(&mut self, event: &Event, meta: &Meta) -> Result<Outcome, LedgerError> {
        let mut known = self.known(event);
        for _ in 0..DECISIONS {
            match decide(event, &known, meta)? {
                Decision::ReadCells => {
                    let cell = cell_of(event, known.job.as_ref(), known.cells);
                    known.others = Some(self.others(event.account_id(), cell));
                }
                Decision::Gather(gather) => {
                    self.transfer(gather);
                    known = self.known(event);
                }
                decision => return Ok(self.commit(decision)),
            }
        }
        panic!("{event:?} was decided {DECISIONS} times without an answer");
    }

    /// The sweep's expiry of one job.
    pub fn expire(&mut self, job_id: &str, meta: &Meta) -> Result<Outcome, LedgerError> {
        let job = self.jobs.get(job_id).cloned();
        let known = Known {
            cells: job.as_ref().map_or(1, |j| {
                self.accounts
                    .get(&j.account_id)
                    .map_or(1, Account::cell_count)
            }),
            account: job
                .as_ref()
                .and_then(|j| self.cell(&j.account_id, j.cell))
                .cloned(),
            job,
            ..Known::default()
        };
        let decision = decide_expiry(job_id, &known, meta)?;
        Ok(self.commit(decision))
    }

    /// Stores a cell as it is after a change.
    fn store(&mut self, account: Account) {
        match account.cell {
            0 => {
                self.accounts.insert(account.account_id.clone(), account);
            }
            k => {
                self.cells.insert((account.account_id.clone(), k), account);
            }
        }
    }

    /// Every existing cell of `account_id` but `cell`, in order: what a
    /// read of every cell adds to what a decision in `cell` knows.
    pub fn others(&self, account_id: &str, cell: u32) -> Vec<Account> {
        self.cells_of(account_id)
            .filter(|c| c.cell != cell)
            .cloned()
            .collect()
    }

    /// Commits a change between an account's cells.
    pub fn transfer(&mut self, gather: Gather) {
        for leg in gather.legs {
            assert_eq!(
                self.cell(&leg.after.account_id, leg.after.cell),
                leg.before.as_ref()
            );
            if let Some(entry) = leg.entry {
                assert_eq!(entry.seq, leg.after.seq);
                self.entries.push(entry);
            }
            self.store(leg.after);
        }
    }

    fn commit(&mut self, decision: Decision) -> Outcome {
        match decision {
            Decision::Duplicate => Outcome::Duplicate,
            Decision::Conflict(_) => Outcome::Conflict,
            Decision::ReadCells | Decision::Gather(_) => {
                unreachable!("apply answers these before committing")
            }
            Decision::Apply(change) => {
                let account = change.account_after;
                if let Some(entry) = change.entry {
                    assert_eq!(entry.seq, account.seq);
                    self.entries.push(entry);
                }
                if let Some((_, job)) = change.job {
                    self.jobs.insert(job.job_id.clone(), job);
                }
                if let Some(grant) = change.grant {
                    self.grants.insert(grant.grant_id.clone(), grant);
                }
                if let Some(adjustment) = change.adjustment {
                    self.adjustments
                        .insert(adjustment.adjustment_id.clone(), adjustment);
                }
                // A change that moved no money on an account that does not
                // exist leaves it non-existent (a rejection or tombstone on a
                // new account writes only the job).
                if account.seq > 0 || self.cell(&account.account_id, account.cell).is_some() {
                    self.store(account);
                }
                change.outcome
            }
        }
    }

    /// The entries of one cell of an account (its home: the only one of an
    /// account never split), in order.
    pub fn entries_of(&self, account_id: &str, cell: u32) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.account_id == account_id && e.cell == cell)
            .cloned()
            .collect()
    }

    /// contract §3 invariants 1–3 on every cell of every account, with full
    /// knowledge: the audit of all its entries, and `held` against its HELD
    /// jobs; and an account's transfers between its cells sum to zero.
    pub fn check_invariants(&self) -> Result<(), String> {
        for job in self.jobs.values() {
            job.check()?;
        }
        for cell in self.accounts.values().chain(self.cells.values()) {
            let (id, k) = (&cell.account_id, cell.cell);
            if let Some(drift) = audit(cell, Balances::default(), &self.entries_of(id, k)) {
                return Err(format!("{}: {}", cell.name(), drift.problems.join("; ")));
            }
            let holds: i64 = self
                .jobs
                .values()
                .filter(|j| &j.account_id == id && j.cell == k && j.status == JobStatus::Held)
                .map(|j| j.hold.unwrap_or(0))
                .sum();
            if cell.held != holds {
                return Err(format!(
                    "{}: held {} != the holds of its HELD jobs {holds}",
                    cell.name(),
                    cell.held
                ));
            }
        }
        for (id, home) in &self.accounts {
            let moved: i64 = self.cells_of(id).map(|c| c.transferred).sum();
            if moved != 0 {
                return Err(format!(
                    "account {id}: its cells' transfers sum to {moved}, not 0"
                ));
            }
            // A cell below zero only while every cell is marked owing.
            let cells: Vec<&Account> = self.cells_of(id).collect();
            let below = cells.iter().any(|c| c.available < 0);
            let marked = cells.len() == home.cell_count() as usize && cells.iter().all(|c| c.owing);
            if home.cell_count() > 1 && below && !marked {
                return Err(format!(
                    "account {id}: a cell is below zero while not every cell is marked owing"
                ));
            }
        }
        Ok(())
    }
}
