//! Property tests of contract §3's invariants on random histories: several
//! accounts, grants, adjustments, jobs, duplicates, redeliveries (with new
//! event ids), conflicting payloads, sweeps, shuffles. Every step is also
//! checked against the oracle (`reconciler_core::oracle`), contract §3 written
//! again independently of `decide()`: the same outcome, the same balances,
//! the same job rows.

use std::collections::BTreeMap;

use proptest::prelude::*;
use reconciler_core::event::Event;
use reconciler_core::ledger::{JobStatus, Meta, Outcome};
use reconciler_core::memory::MemoryLedger;
use reconciler_core::oracle::{Money, Oracle, Row};

const ACCOUNTS: [&str; 3] = ["a0", "a1", "a2"];

mod common;
use common::config;

#[derive(Debug, Clone)]
enum Step {
    Deliver(Event),
    /// Redeliver the n-th (mod len) earlier event, under a new event id.
    Redeliver(usize),
    /// The sweep expires a job's hold.
    Expire(usize),
    /// An operator spreads an account over more cells (nothing if it has
    /// as many already: a split only adds cells).
    Split(String, u32),
}

fn account() -> impl Strategy<Value = String> {
    prop::sample::select(&ACCOUNTS[..]).prop_map(String::from)
}

fn event() -> impl Strategy<Value = Event> {
    let job = (0..8usize).prop_map(|j| format!("j{j}"));
    let credits = prop_oneof![0..60i64, Just(0), Just(1_000_000_000_000)];
    let adjustment = prop_oneof![
        -40..40i64,
        Just(-1_000_000_000_000),
        Just(1_000_000_000_000)
    ]
    .prop_filter("an adjustment moves credits", |c| *c != 0);
    prop_oneof![
        ((0..6usize), account(), credits.clone()).prop_map(|(g, a, c)| Event::Granted {
            grant_id: format!("g{g}"),
            account_id: a,
            credits: c
        }),
        (
            (0..3usize),
            account(),
            adjustment,
            prop::sample::select(&["fix", "chargeback"][..])
        )
            .prop_map(|(n, a, c, r)| Event::Adjusted {
                adjustment_id: format!("adj{n}"),
                account_id: a,
                credits: c,
                reason: r.into()
            }),
        (job.clone(), account(), credits.clone()).prop_map(|(j, a, c)| Event::Requested {
            job_id: j,
            account_id: a,
            credits: c
        }),
        (job.clone(), account(), credits).prop_map(|(j, a, c)| Event::Rendered {
            job_id: j,
            account_id: a,
            credits: c
        }),
        (job, account()).prop_map(|(j, a)| Event::Failed {
            job_id: j,
            account_id: a,
            reason: None
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => event().prop_map(Step::Deliver),
        2 => any::<usize>().prop_map(Step::Redeliver),
        1 => (0..8usize).prop_map(Step::Expire),
        1 => (account(), 2..5u32).prop_map(|(a, n)| Step::Split(a, n)),
    ]
}

/// The ledger agrees with the oracle: every account's money (summed over
/// its cells: the oracle knows none), every job's row.
fn agrees(ledger: &MemoryLedger, oracle: &Oracle) -> Result<(), TestCaseError> {
    for (id, money) in &oracle.accounts {
        let a = ledger
            .total(id)
            .unwrap_or_else(|| reconciler_core::ledger::Account::new(id.as_str()));
        let ours = Money {
            available: a.available,
            held: a.held,
            granted: a.granted,
            debited: a.debited,
            adjusted: a.adjusted,
        };
        prop_assert_eq!(&ours, money, "account {}", id);
    }
    prop_assert_eq!(ledger.jobs.len(), oracle.jobs.len(), "jobs");
    for (id, row) in &oracle.jobs {
        let job = &ledger.jobs[id];
        let expected = match row.row {
            Row::Held { hold } => (JobStatus::Held, Some(hold), None),
            Row::Debited { amount } => (JobStatus::Debited, job.hold, Some(amount)),
            Row::Refunded => (JobStatus::Refunded, job.hold, None),
            Row::Expired => (JobStatus::Expired, job.hold, None),
            Row::Rejected => (JobStatus::Rejected, None, None),
        };
        prop_assert_eq!((job.status, job.hold, job.debited), expected, "job {}", id);
        prop_assert_eq!(&job.account_id, &row.account, "job {}'s account", id);
    }
    Ok(())
}

fn meta(n: usize) -> Meta {
    Meta {
        event_id: format!("evt-{n}"),
        at_ms: n as i64,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Invariants 1–4 after every step, and invariant 5's first half:
    /// redelivering any earlier event at any later time changes nothing.
    /// Accounts are split into cells at random moments, which the oracle
    /// never hears of: cells change no outcome and no account balance.
    #[test]
    fn invariants_hold_after_every_step(steps in prop::collection::vec(step(), 1..60)) {
        let mut ledger = MemoryLedger::default();
        let mut oracle = Oracle::default();
        let mut delivered: Vec<Event> = Vec::new();
        let mut settled: BTreeMap<String, Vec<JobStatus>> = BTreeMap::new();
        for (n, step) in steps.into_iter().enumerate() {
            let outcome = match step {
                Step::Deliver(e) => {
                    let o = ledger.apply(&e, &meta(n)).unwrap();
                    prop_assert_eq!(o.as_str(), oracle.apply(&e), "outcome of {:?}", e);
                    delivered.push(e);
                    o
                }
                Step::Redeliver(i) if !delivered.is_empty() => {
                    let e = delivered[i % delivered.len()].clone();
                    let before = ledger.clone();
                    let o = ledger.apply(&e, &meta(n)).unwrap();
                    prop_assert_eq!(o.as_str(), oracle.apply(&e), "outcome of {:?}", e);
                    prop_assert!(matches!(o, Outcome::Duplicate | Outcome::Conflict), "redelivery of {:?} was {}", e, o);
                    prop_assert_eq!(&ledger, &before, "redelivery changed the ledger");
                    o
                }
                Step::Redeliver(_) => continue,
                Step::Expire(j) => {
                    let o = ledger.expire(&format!("j{j}"), &meta(n)).unwrap();
                    prop_assert_eq!(o.as_str(), oracle.expire(&format!("j{j}")), "expiry of j{}", j);
                    o
                }
                Step::Split(account, cells) => {
                    let has = ledger.accounts.get(&account).map_or(1, |a| a.cell_count());
                    prop_assert_eq!(ledger.split(&account, cells).is_ok(), cells >= has);
                    continue;
                }
            };
            agrees(&ledger, &oracle)?;
            if let Err(broken) = ledger.check_invariants() {
                return Err(TestCaseError::fail(format!("after {outcome}: {broken}")));
            }
            // Invariant 4: a job settles at most once, except a late capture after EXPIRED.
            for job in ledger.jobs.values() {
                let history = settled.entry(job.job_id.clone()).or_default();
                if matches!(job.status, JobStatus::Debited | JobStatus::Refunded | JobStatus::Expired)
                    && history.last() != Some(&job.status)
                {
                    history.push(job.status);
                }
                let ok = matches!(
                    history.as_slice(),
                    [] | [_] | [JobStatus::Expired, JobStatus::Debited]
                );
                prop_assert!(ok, "job {} settled as {:?}", job.job_id, history);
            }
        }
    }

    /// Invariant 5's second half: when every job gets one terminal event, the
    /// final balances do not depend on the order the events arrived in
    /// (duplicates included). With jobs left open, what an account owns
    /// (available + held) still does not.
    #[test]
    fn balances_do_not_depend_on_arrival_order(
        grants in prop::collection::vec((account(), 0..100i64), 0..6),
        jobs in prop::collection::vec((account(), 0..60i64, prop::option::of(prop::option::of(0..80i64))), 1..8),
        all_terminal in any::<bool>(),
        dupes in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        order in any::<u64>(),
        cells in prop::collection::vec(1..5u32, ACCOUNTS.len()),
    ) {
        let mut events = Vec::new();
        for (g, (account, credits)) in grants.iter().enumerate() {
            events.push(Event::Granted { grant_id: format!("g{g}"), account_id: account.clone(), credits: *credits });
        }
        for (j, (account, estimate, terminal)) in jobs.iter().enumerate() {
            let job_id = format!("j{j}");
            events.push(Event::Requested { job_id: job_id.clone(), account_id: account.clone(), credits: *estimate });
            let terminal = if all_terminal { Some(terminal.unwrap_or(None)) } else { *terminal };
            match terminal {
                Some(Some(actual)) => events.push(Event::Rendered { job_id, account_id: account.clone(), credits: actual }),
                Some(None) => events.push(Event::Failed { job_id, account_id: account.clone(), reason: None }),
                None => {}
            }
        }
        for d in &dupes {
            events.push(d.get(&events).clone());
        }
        let run = |events: &[Event]| {
            let mut l = MemoryLedger::default();
            for (account, n) in ACCOUNTS.iter().zip(&cells) {
                l.split(account, *n).unwrap();
            }
            let mut oracle = Oracle::default();
            for (n, e) in events.iter().enumerate() {
                let o = l.apply(e, &meta(n)).unwrap();
                assert_eq!(o.as_str(), oracle.apply(e), "outcome of {e:?}");
            }
            l.check_invariants().unwrap();
            l
        };
        let first = run(&events);
        let mut shuffled = events.clone();
        let mut rng = order;
        for i in (1..shuffled.len()).rev() {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (rng >> 33) as usize % (i + 1));
        }
        let second = run(&shuffled);
        // An account exists once money moved on it, which can depend on the
        // order (a 0-credit hold before its failure moves 0 credits; after
        // it, nothing): a missing account has zero balances.
        let zero = |id: &str| reconciler_core::ledger::Account::new(id);
        for id in ACCOUNTS {
            let a = &first.total(id).unwrap_or_else(|| zero(id));
            let b = &second.total(id).unwrap_or_else(|| zero(id));
            prop_assert_eq!(a.available + a.held, b.available + b.held, "owned credits of {}", id);
            prop_assert_eq!((a.granted, a.debited), (b.granted, b.debited), "totals of {}", id);
            if all_terminal {
                prop_assert_eq!((a.available, a.held), (b.available, b.held), "balances of {}", id);
            }
        }
    }
}
