//! The audit of one account: its stored balances against the sum of its
//! ledger entries (SPEC §3 invariant 3), and invariants 1 and 2 on the stored
//! account itself. Pure: the sweep reads, this judges.

use serde::Serialize;

use crate::store::items::{AccountItem, EntryItem};

/// Balances as stored, or as the entries sum to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Balances {
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    /// The account's version; recomputed: the number of entries.
    pub seq: u64,
}

/// An account whose ledger and balances disagree, or whose balances break an invariant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub account_id: String,
    pub stored: Balances,
    pub recomputed: Balances,
    /// Every disagreement found, for a human.
    pub problems: Vec<String>,
}

impl Balances {
    /// The balances stored on `account`.
    pub fn stored(account: &AccountItem) -> Balances {
        Balances {
            available: account.available,
            held: account.held,
            granted: account.granted,
            debited: account.debited,
            seq: account.seq,
        }
    }
}

/// Audits `account` against `base` (what its entries `1..=base.seq` sum to:
/// zero, or the checkpoint of its last clean audit) plus `entries` (its
/// entries `base.seq + 1..=account.seq`, in order). `None`: no drift, and the
/// stored balances are the next checkpoint.
pub fn audit(account: &AccountItem, base: Balances, entries: &[EntryItem]) -> Option<Drift> {
    let stored = Balances::stored(account);
    let mut recomputed = base;
    let mut problems = Vec::new();
    for (position, entry) in (base.seq + 1..).zip(entries) {
        if entry.seq != position && problems.is_empty() {
            problems.push(format!(
                "entry {position} of the ledger carries seq {}: entries are missing or misnumbered",
                entry.seq
            ));
        }
        // Saturating: a corrupted entry must be reported, not panic the sweep.
        recomputed.available = recomputed.available.saturating_add(entry.available_delta);
        recomputed.held = recomputed.held.saturating_add(entry.held_delta);
        recomputed.granted = recomputed.granted.saturating_add(entry.granted_delta);
        recomputed.debited = recomputed.debited.saturating_add(entry.debited_delta);
        recomputed.seq += 1;
    }
    let compared: [(&str, i128, i128); 5] = [
        (
            "available",
            stored.available.into(),
            recomputed.available.into(),
        ),
        ("held", stored.held.into(), recomputed.held.into()),
        ("granted", stored.granted.into(), recomputed.granted.into()),
        ("debited", stored.debited.into(), recomputed.debited.into()),
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
    if let Err(broken) = account.account().check() {
        problems.push(broken);
    }
    (!problems.is_empty()).then(|| Drift {
        account_id: account.account_id.clone(),
        stored,
        recomputed,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reconciler_core::event::Event;
    use reconciler_core::ledger::{Account, Meta};
    use reconciler_core::memory::MemoryLedger;

    /// An account and its entries, through the real state machine.
    fn history() -> (AccountItem, Vec<EntryItem>) {
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
        let entries = ledger.entries.iter().map(EntryItem::new).collect();
        (AccountItem::new(&ledger.accounts["a1"], 1), entries)
    }

    #[test]
    fn an_honest_ledger_has_no_drift() {
        let (account, entries) = history();
        assert_eq!((account.available, account.held, account.seq), (65, 10, 4));
        assert_eq!(audit(&account, Balances::default(), &entries), None);
        let fresh = AccountItem::new(&Account::new("a0"), 1);
        assert_eq!(
            audit(&fresh, Balances::default(), &[]),
            None,
            "a new account with no entries"
        );
    }

    #[test]
    fn a_corrupted_balance_is_drift_with_both_views() {
        let (mut account, entries) = history();
        account.available += 7;
        let drift = audit(&account, Balances::default(), &entries).expect("drift");
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
    fn a_missing_entry_and_a_hold_map_mismatch_are_drift() {
        let (account, mut entries) = history();
        entries.remove(1);
        let drift = audit(&account, Balances::default(), &entries).expect("drift");
        assert!(
            drift.problems[0].contains("entry 2"),
            "{:?}",
            drift.problems
        );
        assert_eq!(drift.recomputed.seq, 3);

        let (mut account, entries) = history();
        account.holds.insert("j9".into(), 5);
        let drift = audit(&account, Balances::default(), &entries).expect("drift");
        assert_eq!(drift.stored, drift.recomputed, "the balances agree");
        assert!(
            drift.problems[0].contains("sum of holds"),
            "{:?}",
            drift.problems
        );
    }

    #[test]
    fn an_audit_from_a_checkpoint_sums_only_the_newer_entries() {
        let (account, entries) = history();
        // The clean audit at seq 2, then entries 3 and 4 on top.
        let checkpoint = {
            let mut base = Balances::default();
            for e in &entries[..2] {
                base.available += e.available_delta;
                base.held += e.held_delta;
                base.granted += e.granted_delta;
                base.debited += e.debited_delta;
                base.seq += 1;
            }
            base
        };
        assert_eq!(audit(&account, checkpoint, &entries[2..]), None);
        // A corrupted balance is still drift, recomputed from the checkpoint.
        let mut corrupted = account.clone();
        corrupted.available += 7;
        let drift = audit(&corrupted, checkpoint, &entries[2..]).expect("drift");
        assert_eq!(
            (drift.stored.available, drift.recomputed.available),
            (72, 65)
        );
        // A missing newer entry too: numbering continues from the checkpoint.
        let drift = audit(&account, checkpoint, &entries[3..]).expect("drift");
        assert!(
            drift.problems[0].contains("entry 3"),
            "{:?}",
            drift.problems
        );
    }
}
