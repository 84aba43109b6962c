//! An in-memory ledger: the reference model of SPEC §3.
//!
//! It applies [`decide`]'s decisions with full knowledge of the state, and can
//! check every invariant. The property tests run random histories through it;
//! the DynamoDB adapter is tested against the same expectations on a real
//! emulator.

use std::collections::BTreeMap;

use crate::event::Event;
use crate::ledger::{
    Account, Decision, Entry, Grant, Job, JobStatus, Known, LedgerError, Meta, Outcome, decide,
    decide_expiry,
};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryLedger {
    pub accounts: BTreeMap<String, Account>,
    pub jobs: BTreeMap<String, Job>,
    pub grants: BTreeMap<String, Grant>,
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
            grant: None,
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
                self.accounts.insert(account.account_id.clone(), account);
                change.outcome
            }
        }
    }

    /// SPEC §3 invariants 1–3 (and the hold map's agreement with job states).
    pub fn check_invariants(&self) -> Result<(), String> {
        for account in self.accounts.values() {
            account.check()?;
            let held_jobs: BTreeMap<&str, i64> = self
                .jobs
                .values()
                .filter(|j| j.account_id == account.account_id && j.status == JobStatus::Held)
                .map(|j| (j.job_id.as_str(), j.hold.expect("HELD has a hold")))
                .collect();
            let holds: BTreeMap<&str, i64> = account
                .holds
                .iter()
                .map(|(k, v)| (k.as_str(), *v))
                .collect();
            if held_jobs != holds {
                return Err(format!(
                    "account {}: HELD jobs {held_jobs:?} differ from holds {holds:?}",
                    account.account_id
                ));
            }
            let (mut available, mut held, mut seq) = (0i64, 0i64, 0u64);
            for e in self
                .entries
                .iter()
                .filter(|e| e.account_id == account.account_id)
            {
                available += e.available_delta;
                held += e.held_delta;
                seq += 1;
                if e.seq != seq || e.available_after != available || e.held_after != held {
                    return Err(format!(
                        "account {}: entry {} drifts",
                        account.account_id, e.seq
                    ));
                }
            }
            if (available, held, seq) != (account.available, account.held, account.seq) {
                return Err(format!(
                    "account {}: ledger sums to ({available}, {held}, #{seq}), balances are ({}, {}, #{})",
                    account.account_id, account.available, account.held, account.seq
                ));
            }
        }
        Ok(())
    }
}
