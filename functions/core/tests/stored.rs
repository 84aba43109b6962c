//! Nothing stored can crash a run: whatever the table holds — items
//! missing, contradicting each other, numbers at the ends of their types,
//! shapes this code never writes — `decide`, the expiry and the audit give
//! an answer or an error, never a panic. The adapter validates what it
//! reads (its own property tests feed arbitrary items to its decoding), but
//! the core does not lean on that: these feed it every `Known` and every
//! ledger page the generators can build, most of which no valid history
//! reaches.

use proptest::prelude::*;
use reconciler_core::audit::{AccountAudit, Balances};
use reconciler_core::event::{Event, MAX_CREDITS};
use reconciler_core::ledger::{
    Account, Adjustment, Decision, Entry, EntryKind, Grant, Job, JobStatus, Known, Meta, decide,
    decide_expiry,
};

mod common;
use common::config;

/// A number as stored: small, at the ends of `i64`, or anything.
fn number() -> impl Strategy<Value = i64> {
    prop_oneof![
        3 => -3..100i64,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => Just(MAX_CREDITS),
        1 => any::<i64>(),
    ]
}

fn count() -> impl Strategy<Value = u64> {
    prop_oneof![4 => 0..10u64, 1 => Just(u64::MAX), 1 => any::<u64>()]
}

fn id(own: &'static str) -> impl Strategy<Value = String> {
    prop_oneof![4 => Just(own.to_owned()), 1 => Just(format!("{own}-other"))]
}

/// An account as stored: often one that conserves (so that deciding goes
/// past the broken-account check), sometimes anything.
fn account() -> impl Strategy<Value = Account> {
    (
        id("a"),
        (number(), number(), number(), number(), number()),
        (count(), count()),
        (
            any::<bool>(),
            0..4u32,
            0..5u32,
            prop_oneof![Just(0), number()],
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                account_id,
                (available, held, granted, debited, adjusted),
                (seq, overdrafts),
                (conserve, cell, cells, transferred, owing),
            )| {
                let conserving = i64::try_from(
                    i128::from(available) + i128::from(held) - i128::from(granted)
                        + i128::from(debited)
                        - i128::from(transferred),
                )
                .ok();
                Account {
                    account_id,
                    cell,
                    cells,
                    transferred,
                    owing,
                    available,
                    held,
                    granted,
                    debited,
                    adjusted: conserving.filter(|_| conserve).unwrap_or(adjusted),
                    seq,
                    overdrafts,
                }
            },
        )
}

fn status() -> impl Strategy<Value = JobStatus> {
    prop::sample::select(JobStatus::ALL.to_vec())
}

/// A job as stored: any status with any amounts, of this account or
/// another, the event's job or another.
fn job() -> impl Strategy<Value = Job> {
    (
        id("j"),
        id("a"),
        status(),
        (
            prop::option::of(number()),
            prop::option::of(number()),
            prop::option::of(number()),
        ),
        prop::collection::vec(count(), 0..4),
        0..4u32,
    )
        .prop_map(
            |(job_id, account_id, status, (requested, hold, debited), entries, cell)| Job {
                job_id,
                account_id,
                cell,
                status,
                requested,
                hold,
                debited,
                reason: None,
                entries,
            },
        )
}

fn known() -> impl Strategy<Value = Known> {
    (
        prop::option::of(account()),
        prop::option::of(job()),
        prop::option::of((id("a"), number())),
        prop::option::of((id("a"), number(), "[a-z]{0,3}")),
        (
            0..5u32,
            prop::option::of(prop::collection::vec(account(), 0..4)),
        ),
    )
        .prop_map(|(account, job, grant, adjustment, (cells, others))| Known {
            cells,
            account,
            others,
            job,
            grant: grant.map(|(account_id, credits)| Grant {
                grant_id: "g".into(),
                account_id,
                credits,
            }),
            adjustment: adjustment.map(|(account_id, credits, reason)| Adjustment {
                adjustment_id: "adj".into(),
                account_id,
                credits,
                reason,
            }),
        })
}

/// A valid event (parsing guarantees the ranges) on account `a`, job `j`.
fn event() -> impl Strategy<Value = Event> {
    let credits = prop_oneof![0..100i64, Just(0), Just(MAX_CREDITS)];
    let signed = prop_oneof![-100..100i64, Just(-MAX_CREDITS), Just(MAX_CREDITS)]
        .prop_filter("not 0", |c| *c != 0);
    prop_oneof![
        credits.clone().prop_map(|credits| Event::Granted {
            grant_id: "g".into(),
            account_id: "a".into(),
            credits
        }),
        signed.prop_map(|credits| Event::Adjusted {
            adjustment_id: "adj".into(),
            account_id: "a".into(),
            credits,
            reason: "fix".into()
        }),
        credits.clone().prop_map(|credits| Event::Requested {
            job_id: "j".into(),
            account_id: "a".into(),
            credits
        }),
        credits.prop_map(|credits| Event::Rendered {
            job_id: "j".into(),
            account_id: "a".into(),
            credits
        }),
        Just(Event::Failed {
            job_id: "j".into(),
            account_id: "a".into(),
            reason: None
        }),
    ]
}

fn meta() -> Meta {
    Meta {
        event_id: "e".into(),
        at_ms: 1,
    }
}

/// An entry as stored: any kind, key, amounts and position.
fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop::sample::select(EntryKind::ALL.to_vec());
    let key = prop_oneof![
        Just("grant:g".to_owned()),
        Just("job:j:hold".to_owned()),
        Just("job:j:debit".to_owned()),
        Just("job:j-other:refund".to_owned()),
        Just("job::hold".to_owned()),
        Just("transfer:j".to_owned()),
        "[a-z:]{0,8}",
    ];
    (
        (id("a"), count(), kind, key),
        (number(), number(), number(), number(), number()),
        (number(), number(), 0..3u32, number()),
    )
        .prop_map(
            |(
                (account_id, seq, kind, key),
                (available, held, granted, debited, adjusted),
                (a, h, cell, transferred),
            )| {
                Entry {
                    account_id,
                    cell,
                    transferred_delta: transferred,
                    seq,
                    kind,
                    key,
                    amount: available,
                    available_delta: available,
                    held_delta: held,
                    granted_delta: granted,
                    debited_delta: debited,
                    adjusted_delta: adjusted,
                    overdraft: 0,
                    available_after: a,
                    held_after: h,
                    event_id: "e".into(),
                    at_ms: 1,
                }
            },
        )
}

fn balances() -> impl Strategy<Value = Balances> {
    (
        (number(), number(), number(), number(), number()),
        count(),
        number(),
    )
        .prop_map(
            |((available, held, granted, debited, adjusted), seq, transferred)| Balances {
                transferred,
                available,
                held,
                granted,
                debited,
                adjusted,
                seq,
            },
        )
}

proptest! {
    #![proptest_config(config())]

    /// Any stored state, any valid event: an answer or an error. An answer
    /// that moves money keeps its account whole (the core's own check
    /// would have panicked otherwise).
    #[test]
    fn deciding_on_any_stored_state_answers_or_refuses(known in known(), event in event()) {
        match decide(&event, &known, &meta()) {
            Ok(Decision::Apply(change)) => prop_assert!(change.account_after.check().is_ok()),
            Ok(Decision::Gather(gather)) => {
                for leg in &gather.legs {
                    prop_assert!(leg.after.check().is_ok());
                }
                let net: i64 = gather.legs.iter().map(|l| l.entry.as_ref().map_or(0, |e| e.transferred_delta)).sum();
                prop_assert_eq!(net, 0);
            }
            _ => {}
        }
    }

    /// The sweep's expiry, on any stored state.
    #[test]
    fn expiring_on_any_stored_state_answers_or_refuses(known in known()) {
        if let Ok(Decision::Apply(change)) = decide_expiry("j", &known, &meta()) {
            prop_assert!(change.account_after.check().is_ok());
        }
    }

    /// The audit of any account from any checkpoint over any pages of
    /// entries, any jobs and any take entries: a verdict, never a panic.
    #[test]
    fn auditing_any_stored_ledger_gives_a_verdict(
        account in account(),
        base in balances(),
        pages in prop::collection::vec(
            (prop::collection::vec(entry(), 0..6), prop::collection::vec(job(), 0..3), prop::collection::vec(entry(), 0..2)),
            0..4,
        ),
    ) {
        let mut audit = AccountAudit::new(&account, base);
        for (entries, jobs, takes) in &pages {
            let _ = audit.takes_needed(entries, jobs);
            let _ = audit.fold(entries, jobs, takes);
        }
        let _ = audit.end();
        let _ = audit.verdict();
    }
}
