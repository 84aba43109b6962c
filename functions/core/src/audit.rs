//! The money audit, written once: an account's stored balances against the
//! sum of its ledger entries (SPEC §3 invariant 3), conservation on the
//! stored account (invariant 1), and the holds its entries took and released
//! against its jobs as they are now (invariant 2, over what changed since a
//! checkpoint). Pure: the sweep, the local run, the reference model and the
//! tests read; this judges.

use std::collections::BTreeMap;

use crate::ledger::{Account, Entry, Job, JobStatus};

/// Balances as stored, or as the entries sum to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balances {
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub adjusted: i64,
    /// The account's version; recomputed: the number of entries.
    pub seq: u64,
}

impl Balances {
    /// The balances stored on `account`.
    pub fn of(account: &Account) -> Balances {
        Balances {
            available: account.available,
            held: account.held,
            granted: account.granted,
            debited: account.debited,
            adjusted: account.adjusted,
            seq: account.seq,
        }
    }

    /// These balances plus one entry. Saturating: a corrupted entry must be
    /// reported, not panic the audit.
    pub fn plus(mut self, entry: &Entry) -> Balances {
        self.available = self.available.saturating_add(entry.available_delta);
        self.held = self.held.saturating_add(entry.held_delta);
        self.granted = self.granted.saturating_add(entry.granted_delta);
        self.debited = self.debited.saturating_add(entry.debited_delta);
        self.adjusted = self.adjusted.saturating_add(entry.adjusted_delta);
        self.seq += 1;
        self
    }
}

/// An account whose ledger and balances disagree, or whose balances break an
/// invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    pub account_id: String,
    pub stored: Balances,
    pub recomputed: Balances,
    /// Every disagreement found, for a human.
    pub problems: Vec<String>,
}

/// Audits `account` against `base` (what its entries `1..=base.seq` sum to:
/// zero, or the checkpoint of its last clean audit) plus `entries` (its
/// entries `base.seq + 1..=account.seq`, in order). `None`: no drift.
pub fn audit(account: &Account, base: Balances, entries: &[Entry]) -> Option<Drift> {
    let stored = Balances::of(account);
    let mut recomputed = base;
    let mut problems = Vec::new();
    for (position, entry) in (base.seq + 1..).zip(entries) {
        if entry.seq != position && problems.is_empty() {
            problems.push(format!(
                "entry {position} of the ledger carries seq {}: entries are missing or misnumbered",
                entry.seq
            ));
        }
        recomputed = recomputed.plus(entry);
        if (entry.available_after, entry.held_after) != (recomputed.available, recomputed.held) {
            problems.push(format!(
                "entry {} says the balances after it were ({}, {}), its history sums to ({}, {})",
                entry.seq,
                entry.available_after,
                entry.held_after,
                recomputed.available,
                recomputed.held
            ));
        }
    }
    let compared: [(&str, i128, i128); 6] = [
        (
            "available",
            stored.available.into(),
            recomputed.available.into(),
        ),
        ("held", stored.held.into(), recomputed.held.into()),
        ("granted", stored.granted.into(), recomputed.granted.into()),
        ("debited", stored.debited.into(), recomputed.debited.into()),
        (
            "adjusted",
            stored.adjusted.into(),
            recomputed.adjusted.into(),
        ),
        ("seq", stored.seq.into(), recomputed.seq.into()),
    ];
    for (field, s, r) in compared {
        if s != r {
            let what = if field == "seq" {
                "the number of ledger entries is"
            } else {
                "the ledger entries sum to"
            };
            problems.push(format!("{field}: stored {s}, {what} {r}"));
        }
    }
    if let Err(broken) = account.check() {
        problems.push(broken);
    }
    (!problems.is_empty()).then(|| Drift {
        account_id: account.account_id.clone(),
        stored,
        recomputed,
        problems,
    })
}

/// What [`audit_holds`] concluded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldsAudit {
    /// Violations of invariant 2 the entries and the jobs prove.
    pub problems: Vec<String>,
    /// Jobs that moved after the audited version of the account: nothing is
    /// proven about them yet; audit again later.
    pub moved_since: Vec<String>,
}

/// The jobs whose holds `entries` took or released, each once, in order:
/// what [`audit_holds`] needs to read.
pub fn jobs_holding(entries: &[Entry]) -> Vec<String> {
    let mut jobs: Vec<String> = Vec::new();
    for entry in entries.iter().filter(|e| e.held_delta != 0) {
        if let Some(job) = entry.job_id()
            && !jobs.iter().any(|j| j == job)
        {
            jobs.push(job.to_owned());
        }
    }
    jobs
}

/// Invariant 2 over what changed: `entries` are an account's entries after
/// a checkpoint whose `held` was right, up to `account`'s version; `jobs` are
/// the jobs of [`jobs_holding`] as they are now. Every job took its hold at
/// most once and released it at most once, for the same amount, in that
/// order; one whose last entry here took a hold is HELD with that hold now,
/// one whose last entry released it is not — unless the job moved after the
/// audited version (its last entry is newer), which proves nothing yet.
/// With invariant 3 (the entries' held deltas sum to `held`), this proves
/// `held` = the holds of the account's HELD jobs, reading only what changed.
pub fn audit_holds(account: &Account, entries: &[Entry], jobs: &[Job]) -> HoldsAudit {
    let mut result = HoldsAudit::default();
    let mut deltas: BTreeMap<&str, Vec<(u64, i64)>> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.held_delta != 0) {
        match entry.job_id() {
            Some(job) => deltas
                .entry(job)
                .or_default()
                .push((entry.seq, entry.held_delta)),
            None => result.problems.push(format!(
                "entry {} moves held credits ({}) but names no job ({})",
                entry.seq, entry.held_delta, entry.key
            )),
        }
    }
    for (job_id, moves) in deltas {
        let hold = match moves.as_slice() {
            [(_, h)] if *h > 0 => Some(*h),
            [(_, r)] if *r < 0 => None,
            [(_, h), (_, r)] if *h > 0 && *r == -*h => None,
            _ => {
                result.problems.push(format!(
                    "job {job_id}: its holds were taken and released out of order: {moves:?} (seq, held delta)"
                ));
                continue;
            }
        };
        let Some(job) = jobs.iter().find(|j| j.job_id == job_id) else {
            result.problems.push(format!(
                "job {job_id}: entries {:?} move its hold, but the job does not exist",
                moves.iter().map(|(seq, _)| seq).collect::<Vec<_>>()
            ));
            continue;
        };
        if job.entries.last().is_some_and(|seq| *seq > account.seq) {
            result.moved_since.push(job_id.to_owned());
            continue;
        }
        let holds_now = (job.status == JobStatus::Held)
            .then_some(job.hold)
            .flatten();
        if holds_now != hold || job.account_id != account.account_id {
            result.problems.push(format!(
                "job {job_id} of account {} is {} with hold {:?}, but the account's entries leave it {}",
                job.account_id,
                job.status,
                job.hold,
                match hold {
                    Some(h) => format!("holding {h}"),
                    None => "holding nothing".to_owned(),
                }
            ));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Event;
    use crate::ledger::Meta;
    use crate::memory::MemoryLedger;

    /// An account, its entries and its jobs, through the real state machine.
    fn history() -> MemoryLedger {
        let events = [
            Event::Granted {
                grant_id: "g1".into(),
                account_id: "a1".into(),
                credits: 100,
            },
            Event::Requested {
                job_id: "j1".into(),
                account_id: "a1".into(),
                credits: 30,
            },
            Event::Rendered {
                job_id: "j1".into(),
                account_id: "a1".into(),
                credits: 25,
            },
            Event::Requested {
                job_id: "j2".into(),
                account_id: "a1".into(),
                credits: 10,
            },
        ];
        let meta = Meta {
            event_id: "e".into(),
            at_ms: 1,
        };
        let mut ledger = MemoryLedger::default();
        for event in &events {
            ledger.apply(event, &meta).unwrap();
        }
        ledger
    }

    fn jobs(ledger: &MemoryLedger) -> Vec<Job> {
        ledger.jobs.values().cloned().collect()
    }

    #[test]
    fn an_honest_ledger_has_no_drift() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        assert_eq!((account.available, account.held, account.seq), (65, 10, 4));
        assert_eq!(audit(account, Balances::default(), &ledger.entries), None);
        assert_eq!(
            audit(&Account::new("a0"), Balances::default(), &[]),
            None,
            "a new account with no entries"
        );
        assert_eq!(jobs_holding(&ledger.entries), ["j1", "j2"]);
        assert_eq!(
            audit_holds(account, &ledger.entries, &jobs(&ledger)),
            HoldsAudit::default()
        );
    }

    #[test]
    fn a_corrupted_balance_is_drift_with_both_views() {
        let ledger = history();
        let mut account = ledger.accounts["a1"].clone();
        account.available += 7;
        let drift = audit(&account, Balances::default(), &ledger.entries).expect("drift");
        assert_eq!(drift.account_id, "a1");
        assert_eq!(
            (drift.stored.available, drift.recomputed.available),
            (72, 65)
        );
        assert_eq!((drift.stored.held, drift.recomputed.held), (10, 10));
        assert!(
            drift.problems[0].starts_with("available: stored 72"),
            "{:?}",
            drift.problems
        );
        assert!(
            drift.problems.iter().any(|p| p.contains("conservation")),
            "invariant 1 is reported too: {:?}",
            drift.problems
        );
    }

    #[test]
    fn a_missing_entry_is_drift() {
        let ledger = history();
        let mut entries = ledger.entries.clone();
        entries.remove(1);
        let drift = audit(&ledger.accounts["a1"], Balances::default(), &entries).expect("drift");
        assert!(
            drift.problems[0].contains("entry 2"),
            "{:?}",
            drift.problems
        );
        assert_eq!(drift.recomputed.seq, 3);
    }

    #[test]
    fn an_audit_from_a_checkpoint_sums_only_the_newer_entries() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        let checkpoint = ledger.entries[..2]
            .iter()
            .fold(Balances::default(), Balances::plus);
        assert_eq!(audit(account, checkpoint, &ledger.entries[2..]), None);
        let mut corrupted = account.clone();
        corrupted.available += 7;
        let drift = audit(&corrupted, checkpoint, &ledger.entries[2..]).expect("drift");
        assert_eq!(
            (drift.stored.available, drift.recomputed.available),
            (72, 65)
        );
        let drift = audit(account, checkpoint, &ledger.entries[3..]).expect("drift");
        assert!(
            drift.problems[0].contains("entry 3"),
            "{:?}",
            drift.problems
        );
    }

    #[test]
    fn a_hold_the_jobs_do_not_back_is_found_from_the_changes_alone() {
        let ledger = history();
        let account = &ledger.accounts["a1"];
        // Since the checkpoint after entry 2 (j1 held): j1 debited, j2 held.
        let window = &ledger.entries[2..];
        assert_eq!(jobs_holding(window), ["j1", "j2"]);
        assert!(
            audit_holds(account, window, &jobs(&ledger))
                .problems
                .is_empty()
        );
        // j2 settled by hand (no entry): the account still holds 10 for it.
        let mut edited = jobs(&ledger);
        edited[1].status = JobStatus::Debited;
        edited[1].debited = Some(10);
        let found = audit_holds(account, window, &edited);
        assert!(found.problems[0].contains("job j2"), "{found:?}");
        // A job deleted by hand.
        let found = audit_holds(account, window, &edited[..1]);
        assert!(found.problems[0].contains("does not exist"), "{found:?}");
        // A job that moved after the audited version proves nothing yet.
        let mut moved = jobs(&ledger);
        moved[1].status = JobStatus::Refunded;
        moved[1].entries.push(account.seq + 1);
        let found = audit_holds(account, window, &moved);
        assert_eq!(found.moved_since, ["j2"]);
        assert!(found.problems.is_empty());
    }
}
