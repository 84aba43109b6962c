//! Every cell of contract §3's table, through the reference model.

use crate::event::Event;
use crate::ledger::{JobStatus, LedgerError, Meta, Outcome};
use crate::memory::MemoryLedger;

fn meta() -> Meta {
    Meta {
        event_id: "e".into(),
        at_ms: 0,
    }
}
fn grant(id: &str, account: &str, c: i64) -> Event {
    Event::Granted {
        grant_id: id.into(),
        account_id: account.into(),
        credits: c,
    }
}
fn req(job: &str, c: i64) -> Event {
    Event::Requested {
        job_id: job.into(),
        account_id: "a1".into(),
        credits: c,
    }
}
fn rendered(job: &str, c: i64) -> Event {
    Event::Rendered {
        job_id: job.into(),
        account_id: "a1".into(),
        credits: c,
    }
}
fn failed(job: &str) -> Event {
    Event::Failed {
        job_id: job.into(),
        account_id: "a1".into(),
        reason: Some("gpu".into()),
    }
}

/// A ledger where a1 was granted 100 and `history` then applied.
fn ledger(history: &[Event]) -> MemoryLedger {
    let mut l = MemoryLedger::default();
    assert_eq!(
        l.apply(&grant("g0", "a1", 100), &meta()),
        Ok(Outcome::Granted)
    );
    for e in history {
        l.apply(e, &meta()).unwrap();
    }
    l.check_invariants().unwrap();
    l
}

/// Applies `event`, checks the outcome, the balances after, the job status and the invariants.
fn expect(
    l: &mut MemoryLedger,
    event: Event,
    outcome: Outcome,
    balances: (i64, i64),
    status: Option<JobStatus>,
) {
    let before = l.clone();
    assert_eq!(l.apply(&event, &meta()), Ok(outcome), "{event:?}");
    let a = &l.accounts["a1"];
    assert_eq!((a.available, a.held), balances, "balances after {event:?}");
    if let Some(job) = event.job_id() {
        assert_eq!(
            l.jobs.get(job).map(|j| j.status),
            status,
            "status after {event:?}"
        );
    }
    l.check_invariants().unwrap();
    if matches!(outcome, Outcome::Duplicate | Outcome::Conflict) {
        assert_eq!(*l, before, "{outcome} must change nothing");
    }
    // Redelivering the same event changes nothing, whatever it did.
    let after = l.clone();
    let again = l.apply(&event, &meta()).unwrap();
    assert!(matches!(again, Outcome::Duplicate | Outcome::Conflict));
    assert_eq!(*l, after, "redelivery of {event:?} changed the ledger");
}

use JobStatus::*;

#[test]
fn grants() {
    let mut l = ledger(&[]);
    expect(
        &mut l,
        grant("g1", "a1", 50),
        Outcome::Granted,
        (150, 0),
        None,
    );
    expect(
        &mut l,
        grant("g1", "a1", 50),
        Outcome::Duplicate,
        (150, 0),
        None,
    );
    expect(
        &mut l,
        grant("g1", "a1", 51),
        Outcome::Conflict,
        (150, 0),
        None,
    );
    assert_eq!(
        l.apply(&grant("g1", "a2", 50), &meta()),
        Ok(Outcome::Conflict)
    );
    assert!(
        !l.accounts.contains_key("a2"),
        "a conflict creates no account"
    );
    assert_eq!(l.accounts["a1"].granted, 150);
    assert_eq!(l.entries.len(), 2);
}

#[test]
fn none_row() {
    expect(
        &mut ledger(&[]),
        req("j", 30),
        Outcome::Held,
        (70, 30),
        Some(Held),
    );
    expect(
        &mut ledger(&[]),
        req("j", 100),
        Outcome::Held,
        (0, 100),
        Some(Held),
    );
    expect(
        &mut ledger(&[]),
        req("j", 101),
        Outcome::Rejected,
        (100, 0),
        Some(Rejected),
    );
    let mut l = ledger(&[]);
    expect(
        &mut l,
        rendered("j", 130),
        Outcome::Debited,
        (-30, 0),
        Some(Debited),
    );
    assert_eq!(l.accounts["a1"].overdrafts, 1, "uncovered debit is counted");
    assert_eq!(l.entries.last().unwrap().overdraft, 130);
    let mut l = ledger(&[]);
    let entries = l.entries.len();
    expect(
        &mut l,
        failed("j"),
        Outcome::Refunded,
        (100, 0),
        Some(Refunded),
    );
    assert_eq!(l.entries.len(), entries, "a tombstone moves no money");
    let mut l = ledger(&[]);
    assert_eq!(l.expire("j", &meta()), Ok(Outcome::Duplicate));
}

#[test]
fn held_row() {
    let held = || ledger(&[req("j", 30)]);
    expect(
        &mut held(),
        req("j", 30),
        Outcome::Duplicate,
        (70, 30),
        Some(Held),
    );
    expect(
        &mut held(),
        req("j", 31),
        Outcome::Conflict,
        (70, 30),
        Some(Held),
    );
    expect(
        &mut held(),
        rendered("j", 30),
        Outcome::Debited,
        (70, 0),
        Some(Debited),
    );
    expect(
        &mut held(),
        rendered("j", 10),
        Outcome::Debited,
        (90, 0),
        Some(Debited),
    );
    let mut l = held();
    expect(
        &mut l,
        rendered("j", 45),
        Outcome::Debited,
        (55, 0),
        Some(Debited),
    );
    assert_eq!(
        l.accounts["a1"].overdrafts, 1,
        "a > h overdraws the difference"
    );
    assert_eq!(l.entries.last().unwrap().overdraft, 15);
    expect(
        &mut held(),
        failed("j"),
        Outcome::Refunded,
        (100, 0),
        Some(Refunded),
    );
    let mut l = held();
    assert_eq!(l.expire("j", &meta()), Ok(Outcome::Expired));
    assert_eq!(
        (l.accounts["a1"].available, l.accounts["a1"].held),
        (100, 0)
    );
    assert_eq!(l.jobs["j"].status, Expired);
    l.check_invariants().unwrap();
    assert_eq!(
        l.expire("j", &meta()),
        Ok(Outcome::Duplicate),
        "expiry happens once"
    );
}

#[test]
fn debited_row() {
    let debited = || ledger(&[req("j", 30), rendered("j", 25)]);
    expect(
        &mut debited(),
        req("j", 30),
        Outcome::Duplicate,
        (75, 0),
        Some(Debited),
    );
    expect(
        &mut debited(),
        req("j", 99),
        Outcome::Conflict,
        (75, 0),
        Some(Debited),
    );
    expect(
        &mut debited(),
        rendered("j", 25),
        Outcome::Duplicate,
        (75, 0),
        Some(Debited),
    );
    expect(
        &mut debited(),
        rendered("j", 26),
        Outcome::Conflict,
        (75, 0),
        Some(Debited),
    );
    expect(
        &mut debited(),
        failed("j"),
        Outcome::Conflict,
        (75, 0),
        Some(Debited),
    );
    assert_eq!(debited().expire("j", &meta()), Ok(Outcome::Duplicate));
    // Settled without ever holding: a late request is a duplicate, whatever its estimate.
    let direct = || ledger(&[rendered("j", 25)]);
    expect(
        &mut direct(),
        req("j", 7),
        Outcome::Duplicate,
        (75, 0),
        Some(Debited),
    );
}

#[test]
fn refunded_row() {
    let refunded = || ledger(&[req("j", 30), failed("j")]);
    expect(
        &mut refunded(),
        req("j", 30),
        Outcome::Duplicate,
        (100, 0),
        Some(Refunded),
    );
    expect(
        &mut refunded(),
        req("j", 5),
        Outcome::Conflict,
        (100, 0),
        Some(Refunded),
    );
    expect(
        &mut refunded(),
        rendered("j", 30),
        Outcome::Conflict,
        (100, 0),
        Some(Refunded),
    );
    expect(
        &mut refunded(),
        failed("j"),
        Outcome::Duplicate,
        (100, 0),
        Some(Refunded),
    );
    // The tombstone: failed before requested.
    let tomb = || ledger(&[failed("j")]);
    expect(
        &mut tomb(),
        req("j", 30),
        Outcome::Duplicate,
        (100, 0),
        Some(Refunded),
    );
    expect(
        &mut tomb(),
        rendered("j", 30),
        Outcome::Conflict,
        (100, 0),
        Some(Refunded),
    );
}

#[test]
fn expired_row() {
    let expired = || {
        let mut l = ledger(&[req("j", 30)]);
        assert_eq!(l.expire("j", &meta()), Ok(Outcome::Expired));
        l
    };
    expect(
        &mut expired(),
        req("j", 30),
        Outcome::Duplicate,
        (100, 0),
        Some(Expired),
    );
    expect(
        &mut expired(),
        failed("j"),
        Outcome::Duplicate,
        (100, 0),
        Some(Expired),
    );
    let mut l = expired();
    expect(
        &mut l,
        rendered("j", 40),
        Outcome::Debited,
        (60, 0),
        Some(Debited),
    );
    assert_eq!(l.accounts["a1"].overdrafts, 1, "late capture is counted");
    // After the late capture the job is DEBITED like any other.
    expect(
        &mut l,
        rendered("j", 41),
        Outcome::Conflict,
        (60, 0),
        Some(Debited),
    );
    expect(
        &mut l,
        failed("j"),
        Outcome::Conflict,
        (60, 0),
        Some(Debited),
    );
}

#[test]
fn rejected_row() {
    let rejected = || ledger(&[req("j", 500)]);
    expect(
        &mut rejected(),
        req("j", 500),
        Outcome::Duplicate,
        (100, 0),
        Some(Rejected),
    );
    expect(
        &mut rejected(),
        req("j", 50),
        Outcome::Conflict,
        (100, 0),
        Some(Rejected),
    );
    expect(
        &mut rejected(),
        failed("j"),
        Outcome::Duplicate,
        (100, 0),
        Some(Rejected),
    );
    expect(
        &mut rejected(),
        rendered("j", 120),
        Outcome::Debited,
        (-20, 0),
        Some(Debited),
    );
    assert_eq!(rejected().expire("j", &meta()), Ok(Outcome::Duplicate));
}

#[test]
fn another_account_is_a_conflict() {
    let mut l = ledger(&[req("j", 30)]);
    l.apply(&grant("g2", "a2", 100), &meta()).unwrap();
    let before = l.clone();
    for e in [
        Event::Requested {
            job_id: "j".into(),
            account_id: "a2".into(),
            credits: 30,
        },
        Event::Rendered {
            job_id: "j".into(),
            account_id: "a2".into(),
            credits: 30,
        },
        Event::Failed {
            job_id: "j".into(),
            account_id: "a2".into(),
            reason: None,
        },
    ] {
        assert_eq!(l.apply(&e, &meta()), Ok(Outcome::Conflict), "{e:?}");
    }
    assert_eq!(l, before);
}

fn adjust(id: &str, credits: i64, reason: &str) -> Event {
    Event::Adjusted {
        adjustment_id: id.into(),
        account_id: "a1".into(),
        credits,
        reason: reason.into(),
    }
}

/// contract §3 "Corrections": idempotent by adjustment id, another payload is a
/// conflict, `available` moves by the signed credits, and invariant 1 counts
/// them (`adjusted`).
#[test]
fn adjustments() {
    let mut l = ledger(&[req("j", 30)]);
    expect(
        &mut l,
        adjust("adj1", -25, "double charge"),
        Outcome::Adjusted,
        (45, 30),
        None,
    );
    expect(
        &mut l,
        adjust("adj1", -25, "double charge"),
        Outcome::Duplicate,
        (45, 30),
        None,
    );
    expect(
        &mut l,
        adjust("adj1", -24, "double charge"),
        Outcome::Conflict,
        (45, 30),
        None,
    );
    expect(
        &mut l,
        adjust("adj1", -25, "another reason"),
        Outcome::Conflict,
        (45, 30),
        None,
    );
    // Below zero is allowed: it is a correction, not a spend.
    expect(
        &mut l,
        adjust("adj2", -100, "chargeback"),
        Outcome::Adjusted,
        (-55, 30),
        None,
    );
    expect(
        &mut l,
        adjust("adj3", 55, "goodwill"),
        Outcome::Adjusted,
        (0, 30),
        None,
    );
    let a = &l.accounts["a1"];
    assert_eq!(a.adjusted, -70);
    assert_eq!(a.available + a.held, a.granted - a.debited + a.adjusted);
    let entry = l.entries.last().unwrap();
    assert_eq!(
        (
            entry.kind.as_str(),
            entry.key.as_str(),
            entry.adjusted_delta
        ),
        ("adjustment", "adjustment:adj3", 55)
    );
    // An adjustment of an account that has none creates it.
    let mut fresh = MemoryLedger::default();
    let new_account = Event::Adjusted {
        adjustment_id: "adj9".into(),
        account_id: "a9".into(),
        credits: 7,
        reason: "migration".into(),
    };
    assert_eq!(fresh.apply(&new_account, &meta()), Ok(Outcome::Adjusted));
    assert_eq!(fresh.accounts["a9"].available, 7);
    fresh.check_invariants().unwrap();
}

#[test]
fn a_stored_job_that_breaks_its_shape_is_refused() {
    let l = ledger(&[req("j", 30), req("k", 5), rendered("k", 5)]);
    for job in l.jobs.values() {
        job.check().unwrap();
    }
    let mut held = l.jobs["j"].clone();
    held.hold = None;
    assert!(held.check().unwrap_err().contains("no valid hold"));
    let mut debited = l.jobs["k"].clone();
    debited.debited = None;
    assert!(debited.check().unwrap_err().contains("no valid debit"));
}

#[test]
fn a_job_remembers_the_entries_that_moved_its_money() {
    let l = ledger(&[req("j", 30), req("r", 500), rendered("j", 20)]);
    assert_eq!(l.jobs["j"].entries, [2, 3], "held by entry 2, debited by 3");
    assert!(l.jobs["r"].entries.is_empty(), "a rejection moves no money");
    assert_eq!(l.entries[2].job_id(), Some("j"));
    assert_eq!(l.entries[0].job_id(), None, "the grant");
}

#[test]
fn overflow_is_an_error_not_a_wrap() {
    let mut l = MemoryLedger::default();
    l.apply(&grant("g0", "a1", 1), &meta()).unwrap();
    l.accounts.get_mut("a1").unwrap().available = i64::MAX;
    l.accounts.get_mut("a1").unwrap().granted = i64::MAX;
    let before = l.clone();
    assert!(matches!(
        l.apply(&grant("g1", "a1", 1), &meta()),
        Err(LedgerError::Overflow { .. })
    ));
    assert_eq!(l, before);
}

#[test]
fn entries_record_balances_after_and_the_event() {
    let mut l = ledger(&[]);
    let m = Meta {
        event_id: "evt-9".into(),
        at_ms: 1234,
    };
    l.apply(&req("j", 30), &m).unwrap();
    let e = l.entries.last().unwrap();
    assert_eq!((e.available_after, e.held_after, e.seq), (70, 30, 2));
    assert_eq!(
        (e.event_id.as_str(), e.at_ms, e.key.as_str()),
        ("evt-9", 1234, "job:j:hold")
    );
}

/// A job remembered HELD after its hold was released (by a sweep, say):
/// the picture cannot be true, and is refused rather than decided on (held
/// would go negative).
#[test]
fn a_held_job_holding_more_than_its_account_is_refused() {
    let l = ledger(&[req("j", 30)]);
    let event = rendered("j", 30);
    let mut known = l.known(&event);
    known.account.as_mut().unwrap().held = 0;
    known.account.as_mut().unwrap().available = 100;
    let err = crate::ledger::decide(&event, &known, &meta()).unwrap_err();
    assert!(matches!(err, LedgerError::Inconsistent(_)), "{err}");
    assert!(matches!(
        crate::ledger::decide_expiry("j", &known, &meta()),
        Err(LedgerError::Inconsistent(_))
    ));
}

/// A HELD job whose account does not exist (deleted, or restored without
/// it): releasing its hold would take `held` below zero. Every event on the
/// job and its expiry are refused as inconsistent, naming the job and the
/// account — before, the core's own invariant check panicked, every later
/// sweep died at that straggler and the handler at its every event.
#[test]
fn a_held_job_whose_account_is_missing_is_refused_naming_both() {
    let l = ledger(&[req("j", 30)]);
    for event in [rendered("j", 30), failed("j"), req("j", 30)] {
        let mut known = l.known(&event);
        known.account = None;
        let err = crate::ledger::decide(&event, &known, &meta()).unwrap_err();
        assert!(
            matches!(&err, LedgerError::Inconsistent(why)
                if why.contains("job j") && why.contains("account a1") && why.contains("does not exist")),
            "{event:?}: {err}"
        );
    }
    let mut known = l.known(&rendered("j", 30));
    known.account = None;
    assert!(matches!(
        crate::ledger::decide_expiry("j", &known, &meta()),
        Err(LedgerError::Inconsistent(_))
    ));
}

/// Knowledge of another account or job than the one decided for, and a job
/// without what its status requires, are refused, never decided on.
#[test]
fn knowledge_of_something_else_or_without_its_shape_is_refused() {
    let l = ledger(&[req("j", 30)]);
    let event = rendered("j", 30);
    let mut other_account = l.known(&event);
    other_account.account.as_mut().unwrap().account_id = "a2".into();
    let mut other_job = l.known(&event);
    other_job.job.as_mut().unwrap().job_id = "k".into();
    let mut no_hold = l.known(&event);
    no_hold.job.as_mut().unwrap().hold = None;
    let mut no_debit = l.known(&event);
    no_debit.job.as_mut().unwrap().status = JobStatus::Debited;
    for (what, known, named) in [
        ("another account", other_account, "account a2"),
        ("another job", other_job, "job k"),
        ("a HELD job without a hold", no_hold, "no valid hold"),
        ("a DEBITED job without a debit", no_debit, "no valid debit"),
    ] {
        let err = crate::ledger::decide(&event, &known, &meta()).unwrap_err();
        assert!(
            matches!(&err, LedgerError::Inconsistent(why) if why.contains(named)),
            "{what}: {err}"
        );
    }
}

/// A stored `seq` or overdraft count at the end of its type: an overflow
/// error, not a panic or a wrap.
#[test]
fn a_counter_at_its_end_is_an_overflow() {
    let mut l = ledger(&[]);
    l.accounts.get_mut("a1").unwrap().seq = u64::MAX;
    assert!(matches!(
        l.apply(&grant("g1", "a1", 1), &meta()),
        Err(LedgerError::Overflow { .. })
    ));
    let mut l = ledger(&[]);
    l.accounts.get_mut("a1").unwrap().overdrafts = u64::MAX;
    assert!(matches!(
        l.apply(&rendered("j", 500), &meta()),
        Err(LedgerError::Overflow { .. })
    ));
}
