//! An in-memory ledger: the reference model of contract §3.
//!
//! It applies [`decide`]'s decisions with full knowledge of the state, and can
//! check every invariant. The property tests run random histories through it
//! (and against an independent oracle); the DynamoDB adapter is tested
//! against the same expectations on a real emulator.

use std::collections::BTreeMap;

use crate::audit::{Balances, audit};
use crate::event::Event;
use crate::ledger::{
    Account, Adjustment, Decision, Entry, Grant, Job, JobStatus, Known, LedgerError, Meta, Outcome,
    decide, decide_expiry,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLedger {
    pub accounts: BTreeMap<String, Account>,
    pub jobs: BTreeMap<String, Job>,
    pub grants: BTreeMap<String, Grant>,
    pub adjustments: BTreeMap<String, Adjustment>,
    pub entries: Vec<Entry>,
}

impl MemoryLedger {
    pub fn known(&self, event: &Event) -> Known {
        Known {
            account: self.accounts.get(event.account_id()).cloned(),
            job: event.job_id().and_then(|j| self.jobs.get(j)).cloned(),
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
        let decision = decide(event, &self.known(event), meta)?;
        Ok(self.commit(decision))
    }

    /// The sweep's expiry of one job.
    pub fn expire(&mut self, job_id: &str, meta: &Meta) -> Result<Outcome, LedgerError> {
        let job = self.jobs.get(job_id).cloned();
        let known = Known {
            account: job
                .as_ref()
                .and_then(|j| self.accounts.get(&j.account_id))
                .cloned(),
            job,
            ..Known::default()
        };
        let decision = decide_expiry(job_id, &known, meta)?;
        Ok(self.commit(decision))
    }

    fn commit(&mut self, decision: Decision) -> Outcome {
        match decision {
            Decision::Duplicate => Outcome::Duplicate,
            Decision::Conflict(_) => Outcome::Conflict,
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
                if account.seq > 0 || self.accounts.contains_key(&account.account_id) {
                    self.accounts.insert(account.account_id.clone(), account);
                }
                change.outcome
            }
        }
    }

    /// The entries of one account, in order.
    pub fn entries_of(&self, account_id: &str) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.account_id == account_id)
            .cloned()
            .collect()
    }

    /// contract §3 invariants 1–3 on every account, with full knowledge: the
    /// audit of all its entries, and `held` against its HELD jobs.
    pub fn check_invariants(&self) -> Result<(), String> {
        for job in self.jobs.values() {
            job.check()?;
        }
        for account in self.accounts.values() {
            if let Some(drift) = audit(
                account,
                Balances::default(),
                &self.entries_of(&account.account_id),
            ) {
                return Err(format!(
                    "account {}: {}",
                    account.account_id,
                    drift.problems.join("; ")
                ));
            }
            let holds: i64 = self
                .jobs
                .values()
                .filter(|j| j.account_id == account.account_id && j.status == JobStatus::Held)
                .map(|j| j.hold.unwrap_or(0))
                .sum();
            if account.held != holds {
                return Err(format!(
                    "account {}: held {} != the holds of its HELD jobs {holds}",
                    account.account_id, account.held
                ));
            }
        }
        Ok(())
    }
}
