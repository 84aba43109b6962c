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
    /// By account and cell (0: the home cell, the whole of an account
    /// never split).
    accounts: HashMap<(String, u32), Account>,
    jobs: HashMap<String, Job>,
    /// How many cells each split account has, as its home cell last said:
    /// a count only grows, and an older one still names cells of the
    /// account, so it is kept after its home cell is forgotten.
    cells: HashMap<String, u32>,
}

/// What a command confirmed about one account and, for a job's command,
/// its job. `None` leaves the cache's picture as it is.
pub(super) struct Confirmed<'a> {
    pub account_id: &'a str,
    /// Which cell of the account `account` is about.
    pub cell: u32,
    /// `Some(None)`: the account (that cell of it) does not exist.
    pub account: Option<Option<&'a Account>>,
    /// The job's id and the job (`None`: it does not exist).
    pub job: Option<(&'a str, Option<&'a Job>)>,
}

impl Cache {
    /// Cell `cell` of the account as last confirmed, if this instance
    /// knows it.
    pub(super) fn account(&self, account_id: &str, cell: u32) -> Option<&Account> {
        self.accounts.get(&(account_id.to_owned(), cell))
    }

    /// How many cells the account has, if this instance saw it split.
    pub(super) fn cells(&self, account_id: &str) -> Option<u32> {
        self.cells.get(account_id).copied()
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
                if account.cell == 0 && account.cell_count() > 1 {
                    if self.cells.len() >= CAPACITY && !self.cells.contains_key(&account.account_id)
                    {
                        self.cells.clear();
                    }
                    self.cells
                        .insert(account.account_id.clone(), account.cell_count());
                }
                let id = (account.account_id.clone(), account.cell);
                if self.accounts.len() >= CAPACITY && !self.accounts.contains_key(&id) {
                    self.accounts.clear();
                }
                self.accounts.insert(id, account.clone());
            }
            Some(None) => {
                self.accounts
                    .remove(&(confirmed.account_id.to_owned(), confirmed.cell));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: usize) -> Account {
        Account::new(format!("a{n}"))
    }

    fn held(n: usize) -> Job {
        Job {
            job_id: format!("j{n}"),
            account_id: "a".into(),
            cell: 0,
            status: JobStatus::Held,
            requested: Some(1),
            hold: Some(1),
            debited: None,
            reason: None,
            entries: vec![1],
        }
    }

    /// Confirms account `n` and its HELD job `n`.
    fn confirm(cache: &mut Cache, n: usize) {
        let (a, j) = (account(n), held(n));
        cache.confirm(Confirmed {
            account_id: &a.account_id,
            cell: 0,
            account: Some(Some(&a)),
            job: Some((&j.job_id, Some(&j))),
        });
    }

    /// The cache stays within its capacity: a new account or job when a
    /// part is full clears that part first; one it already holds is only
    /// replaced, and the rest stays.
    #[test]
    fn a_full_cache_is_cleared_for_a_newcomer_only() {
        let mut cache = Cache::default();
        for n in 0..CAPACITY {
            confirm(&mut cache, n);
        }
        let full = (CAPACITY, CAPACITY);
        assert_eq!((cache.accounts.len(), cache.jobs.len()), full);
        confirm(&mut cache, 0);
        assert_eq!(
            (cache.accounts.len(), cache.jobs.len()),
            full,
            "known ones are replaced, nothing cleared"
        );
        confirm(&mut cache, CAPACITY);
        assert_eq!((cache.accounts.len(), cache.jobs.len()), (1, 1));
        assert!(cache.account("a0", 0).is_none() && cache.held_job("j0").is_none());
        let (a, j) = (account(CAPACITY), held(CAPACITY));
        assert_eq!(cache.account(&a.account_id, 0), Some(&a));
        assert_eq!(cache.held_job(&j.job_id), Some(&j));
    }

    /// A job confirmed settled, or gone, and an account confirmed gone,
    /// are forgotten.
    #[test]
    fn what_is_confirmed_gone_or_settled_is_forgotten() {
        let mut cache = Cache::default();
        confirm(&mut cache, 1);
        let (a, j) = (account(1), held(1));
        let mut settled = j.clone();
        settled.status = JobStatus::Debited;
        settled.debited = Some(1);
        cache.confirm(Confirmed {
            account_id: &a.account_id,
            cell: 0,
            account: None,
            job: Some((&j.job_id, Some(&settled))),
        });
        assert!(cache.held_job("j1").is_none());
        assert_eq!(cache.account("a1", 0), Some(&a), "left as it was");
        cache.confirm(Confirmed {
            account_id: &a.account_id,
            cell: 0,
            account: Some(None),
            job: None,
        });
        assert!(cache.account("a1", 0).is_none());
    }
}
