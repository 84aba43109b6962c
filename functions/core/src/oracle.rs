//! An oracle for the tests: contract §3 written down again, as plainly as it
//! reads, from the contract alone and not from [`crate::ledger::decide`].
//!
//! The property tests run the same `decide()` as the code under test, so
//! invariants 1–3 hold by construction and a self-consistent wrong amount
//! would pass them. This model is the independent second opinion: the
//! property tests and the simulator compare every outcome and every balance
//! with it. It shares nothing with the ledger but the event type; keep it
//! that way (and keep it dull).

use std::collections::BTreeMap;

use crate::event::Event;

/// An account as contract §3 describes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub adjusted: i64,
}

/// A job's row of the contract §3 table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row {
    Held { hold: i64 },
    Debited { amount: i64 },
    Refunded,
    Expired,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub account: String,
    pub row: Row,
    /// The estimate of the `video.requested` that was applied (held or rejected).
    pub estimate: Option<i64>,
}

/// The whole ledger, as the contract sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Oracle {
    pub accounts: BTreeMap<String, Money>,
    pub jobs: BTreeMap<String, JobRow>,
    grants: BTreeMap<String, (String, i64)>,
    adjustments: BTreeMap<String, (String, i64, String)>,
}

impl Oracle {
    /// An account's money (zero if nothing ever happened to it).
    pub fn money(&self, account: &str) -> Money {
        self.accounts.get(account).copied().unwrap_or_default()
    }

    fn account(&mut self, account: &str) -> &mut Money {
        self.accounts.entry(account.to_owned()).or_default()
    }

    /// Applies one event; returns the response's outcome word.
    pub fn apply(&mut self, event: &Event) -> &'static str {
        match event {
            Event::Granted {
                grant_id,
                account_id,
                credits,
            } => self.grant(grant_id, account_id, *credits),
            Event::Adjusted {
                adjustment_id,
                account_id,
                credits,
                reason,
            } => self.adjust(adjustment_id, account_id, *credits, reason),
            Event::Requested {
                job_id,
                account_id,
                credits,
            } => self.request(job_id, account_id, *credits),
            Event::Rendered {
                job_id,
                account_id,
                credits,
            } => self.render(job_id, account_id, *credits),
            Event::Failed {
                job_id, account_id, ..
            } => self.fail(job_id, account_id),
        }
    }

    fn grant(&mut self, grant_id: &str, account_id: &str, credits: i64) -> &'static str {
        match self.grants.get(grant_id) {
            Some(applied) if *applied == (account_id.to_owned(), credits) => "duplicate",
            Some(_) => "conflict",
            None => {
                self.grants
                    .insert(grant_id.to_owned(), (account_id.to_owned(), credits));
                let a = self.account(account_id);
                a.available += credits;
                a.granted += credits;
                "granted"
            }
        }
    }

    fn adjust(
        &mut self,
        adjustment_id: &str,
        account_id: &str,
        credits: i64,
        reason: &str,
    ) -> &'static str {
        let payload = (account_id.to_owned(), credits, reason.to_owned());
        match self.adjustments.get(adjustment_id) {
            Some(applied) if *applied == payload => "duplicate",
            Some(_) => "conflict",
            None => {
                self.adjustments.insert(adjustment_id.to_owned(), payload);
                let a = self.account(account_id);
                a.available += credits;
                a.adjusted += credits;
                "adjusted"
            }
        }
    }

    fn request(&mut self, job_id: &str, account_id: &str, credits: i64) -> &'static str {
        if let Some(job) = self.jobs.get(job_id) {
            if job.account != account_id {
                return "conflict";
            }
            // Repeating the request: the same estimate (or a job that
            // settled without ever holding) is a duplicate, another
            // estimate a conflict.
            return match job.estimate {
                Some(estimate) if estimate != credits => "conflict",
                _ => "duplicate",
            };
        }
        let a = self.account(account_id);
        let (row, outcome) = if a.available >= credits {
            a.available -= credits;
            a.held += credits;
            (Row::Held { hold: credits }, "held")
        } else {
            (Row::Rejected, "rejected")
        };
        self.set_row(job_id, account_id, row, Some(credits));
        outcome
    }

    fn render(&mut self, job_id: &str, account_id: &str, credits: i64) -> &'static str {
        let (row, estimate) = match self.jobs.get(job_id) {
            Some(job) if job.account != account_id => return "conflict",
            Some(job) => (Some(job.row), job.estimate),
            None => (None, None),
        };
        let a = self.account(account_id);
        match row {
            Some(Row::Debited { amount }) if amount == credits => return "duplicate",
            Some(Row::Debited { .. }) | Some(Row::Refunded) => return "conflict",
            Some(Row::Held { hold }) => {
                a.held -= hold;
                a.available += hold - credits;
            }
            None | Some(Row::Expired) | Some(Row::Rejected) => a.available -= credits,
        }
        a.debited += credits;
        self.set_row(
            job_id,
            account_id,
            Row::Debited { amount: credits },
            estimate,
        );
        "debited"
    }

    fn fail(&mut self, job_id: &str, account_id: &str) -> &'static str {
        match self.jobs.get(job_id).cloned() {
            Some(job) if job.account != account_id => "conflict",
            Some(JobRow {
                row: Row::Debited { .. },
                ..
            }) => "conflict",
            Some(JobRow {
                row: Row::Refunded | Row::Expired | Row::Rejected,
                ..
            }) => "duplicate",
            Some(JobRow {
                row: Row::Held { hold },
                estimate,
                ..
            }) => {
                let a = self.account(account_id);
                a.held -= hold;
                a.available += hold;
                self.set_row(job_id, account_id, Row::Refunded, estimate);
                "refunded"
            }
            None => {
                // A tombstone: the job is refunded, no money moves.
                self.set_row(job_id, account_id, Row::Refunded, None);
                "refunded"
            }
        }
    }

    fn set_row(&mut self, job_id: &str, account_id: &str, row: Row, estimate: Option<i64>) {
        self.jobs.insert(
            job_id.to_owned(),
            JobRow {
                account: account_id.to_owned(),
                row,
                estimate,
            },
        );
    }

    /// The sweep finds `job_id`'s hold too old: `expired`, or nothing
    /// (`duplicate`) for a job that is not HELD.
    pub fn expire(&mut self, job_id: &str) -> &'static str {
        let Some(job) = self.jobs.get(job_id).cloned() else {
            return "duplicate";
        };
        let Row::Held { hold } = job.row else {
            return "duplicate";
        };
        let a = self.account(&job.account);
        a.held -= hold;
        a.available += hold;
        self.jobs.insert(
            job_id.to_owned(),
            JobRow {
                row: Row::Expired,
                ..job
            },
        );
        "expired"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_by_hand() {
        let mut o = Oracle::default();
        let grant = Event::Granted {
            grant_id: "g".into(),
            account_id: "a".into(),
            credits: 100,
        };
        let req = Event::Requested {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: 30,
        };
        let rendered = Event::Rendered {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: 40,
        };
        assert_eq!(o.apply(&grant), "granted");
        assert_eq!(o.apply(&req), "held");
        assert_eq!(o.apply(&rendered), "debited");
        assert_eq!(o.apply(&rendered), "duplicate");
        assert_eq!(
            o.money("a"),
            Money {
                available: 60,
                held: 0,
                granted: 100,
                debited: 40,
                adjusted: 0
            }
        );
        assert_eq!(o.expire("j"), "duplicate");
    }
}
