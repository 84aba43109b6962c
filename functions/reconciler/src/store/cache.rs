//! The per-instance cache: the state this instance last saw confirmed, what
//! lets an event cost one request (ARCHITECTURE.md, "One transaction per
//! event"). A guess from it is only a guess: every write is guarded by the
//! state it assumed, and a wrong guess is corrected by the cancellation.
//!
//! Updated in one place, [`Cache::confirm`], with what a command learned
//! for certain: a consistent read, a cancellation's images, a commit.

use std::collections::HashMap;

use reconciler_core::ledger::{Account, Job, JobStatus};

/// Entries each part of the cache holds at most; a full part is cleared.
const CAPACITY: usize = 10_000;

/// Accounts as last confirmed, and the HELD jobs among the jobs confirmed
/// (the state a `video.rendered` or `video.failed` needs).
#[derive(Debug, Default)]
pub(super) struct Cache {
    accounts: HashMap<String, Account>,
    jobs: HashMap<String, Job>,
}

/// What a command confirmed about one account and, for a job's command,
/// its job. `None` leaves the cache's picture as it is.
pub(super) struct Confirmed<'a> {
    pub account_id: &'a str,
    /// `Some(None)`: the account does not exist.
    pub account: Option<Option<&'a Account>>,
    /// The job's id and the job (`None`: it does not exist).
    pub job: Option<(&'a str, Option<&'a Job>)>,
}

impl Cache {
    /// The account as last confirmed, if this instance knows it.
    pub(super) fn account(&self, account_id: &str) -> Option<&Account> {
        self.accounts.get(account_id)
    }

    /// The job, if this instance last saw it HELD.
    pub(super) fn held_job(&self, job_id: &str) -> Option<&Job> {
        self.jobs.get(job_id)
    }

    /// Remembers what a command confirmed: an account as it is (or forgets
    /// one that does not exist), a job while it is HELD (and forgets it
    /// once it is not).
    pub(super) fn confirm(&mut self, confirmed: Confirmed<'_>) {
        match confirmed.account {
            Some(Some(account)) => {
                let id = &account.account_id;
                if self.accounts.len() >= CAPACITY && !self.accounts.contains_key(id) {
                    self.accounts.clear();
                }
                self.accounts.insert(id.clone(), account.clone());
            }
            Some(None) => {
                self.accounts.remove(confirmed.account_id);
            }
            None => {}
        }
        let Some((job_id, job)) = confirmed.job else {
            return;
        };
        match job.filter(|j| j.status == JobStatus::Held) {
            Some(job) => {
                if self.jobs.len() >= CAPACITY && !self.jobs.contains_key(job_id) {
                    self.jobs.clear();
                }
                self.jobs.insert(job_id.to_owned(), job.clone());
            }
            None => {
                self.jobs.remove(job_id);
            }
        }
    }
}
