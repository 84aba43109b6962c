//! The job state machine of SPEC §3: given what is known about an account, a
//! job and a grant, decide what an event does. Pure: no clocks, no I/O.
//!
//! A [`Decision`] is either a [`Change`] to commit atomically (the adapter turns
//! it into one `TransactWriteItems`, guarded by the `before` state it was
//! computed from), or a `duplicate`/`conflict` that changes no money.

use std::collections::BTreeMap;
use std::fmt;

use crate::event::Event;

/// Balances of one account, plus what the ledger needs to keep them honest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub account_id: String,
    /// Credits the account may spend. Negative only through a counted overdraft.
    pub available: i64,
    /// Credits on hold for HELD jobs.
    pub held: i64,
    /// Total ever granted.
    pub granted: i64,
    /// Total ever debited.
    pub debited: i64,
    /// Number of ledger entries written for this account; the version that
    /// every write is conditioned on (optimistic concurrency, no lost update).
    pub seq: u64,
    /// Number of debits not covered by a hold (SPEC's "overdraft … counted").
    pub overdrafts: u64,
    /// The holds of this account's HELD jobs: job id → credits. `held` is their sum.
    pub holds: BTreeMap<String, i64>,
}

impl Account {
    pub fn new(account_id: impl Into<String>) -> Self {
        Account {
            account_id: account_id.into(),
            ..Account::default()
        }
    }

    /// SPEC §3 invariants 1 and 2 for one account.
    pub fn check(&self) -> Result<(), String> {
        if self.available + self.held != self.granted - self.debited {
            return Err(format!(
                "account {}: conservation broken: available {} + held {} != granted {} - debited {}",
                self.account_id, self.available, self.held, self.granted, self.debited
            ));
        }
        let holds: i64 = self.holds.values().sum();
        if self.held != holds {
            return Err(format!(
                "account {}: held {} != sum of holds {}",
                self.account_id, self.held, holds
            ));
        }
        if self.held < 0 || self.holds.values().any(|h| *h < 0) {
            return Err(format!("account {}: negative hold", self.account_id));
        }
        Ok(())
    }
}

/// A job's status (SPEC §3 rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    Held,
    Debited,
    Refunded,
    Expired,
    Rejected,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] = [
        JobStatus::Held,
        JobStatus::Debited,
        JobStatus::Refunded,
        JobStatus::Expired,
        JobStatus::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Held => "HELD",
            JobStatus::Debited => "DEBITED",
            JobStatus::Refunded => "REFUNDED",
            JobStatus::Expired => "EXPIRED",
            JobStatus::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the ledger knows about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub job_id: String,
    pub account_id: String,
    pub status: JobStatus,
    /// The estimate of the applied `video.requested`, if one was applied.
    pub requested: Option<i64>,
    /// The credits put on hold, if the job was ever HELD.
    pub hold: Option<i64>,
    /// The credits debited, once DEBITED.
    pub debited: Option<i64>,
    /// The failure reason of an applied `video.failed`.
    pub reason: Option<String>,
}

impl Job {
    /// The job as it must be when `account.holds` names it: HELD with exactly
    /// that hold. The account and the job are always written together, so the
    /// hold map is an exact index of HELD jobs.
    pub fn held(job_id: &str, account_id: &str, hold: i64) -> Job {
        Job {
            job_id: job_id.into(),
            account_id: account_id.into(),
            status: JobStatus::Held,
            requested: Some(hold),
            hold: Some(hold),
            debited: None,
            reason: None,
        }
    }
}

/// A grant already applied (the idempotency record of `credits.granted`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    pub account_id: String,
    pub credits: i64,
}

/// What a change of money was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Grant,
    Hold,
    Debit,
    Refund,
    Expire,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Hold => "hold",
            EntryKind::Debit => "debit",
            EntryKind::Refund => "refund",
            EntryKind::Expire => "expire",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        [
            EntryKind::Grant,
            EntryKind::Hold,
            EntryKind::Debit,
            EntryKind::Refund,
            EntryKind::Expire,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// One append-only ledger entry: who, what, how much, which event, when, balances after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account_id: String,
    /// Position in the account's ledger, 1-based; equals the account's `seq` after it.
    pub seq: u64,
    pub kind: EntryKind,
    /// The business key the entry applies: `grant:<id>` or `job:<id>:<kind>`.
    pub key: String,
    /// The credits the event named (grant amount, hold, actual cost).
    pub amount: i64,
    pub available_delta: i64,
    pub held_delta: i64,
    pub granted_delta: i64,
    pub debited_delta: i64,
    /// Credits of this debit not covered by a hold (0 when covered).
    pub overdraft: i64,
    pub available_after: i64,
    pub held_after: i64,
    pub event_id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// The outcome words of SPEC §4, plus the sweep's `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Granted,
    Held,
    Rejected,
    Debited,
    Refunded,
    Duplicate,
    Conflict,
    Expired,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Granted,
        Outcome::Held,
        Outcome::Rejected,
        Outcome::Debited,
        Outcome::Refunded,
        Outcome::Duplicate,
        Outcome::Conflict,
        Outcome::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Held => "held",
            Outcome::Rejected => "rejected",
            Outcome::Debited => "debited",
            Outcome::Refunded => "refunded",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict => "conflict",
            Outcome::Expired => "expired",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event was a conflict: for the log, the conflict record and a human.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConflictReason {
    /// The grant id was applied before with another account or amount.
    GrantMismatch { applied: Grant },
    /// The job belongs to another account.
    AccountMismatch { job_account_id: String },
    /// The transition was applied before with another amount.
    AmountMismatch {
        transition: &'static str,
        applied: i64,
        received: i64,
    },
    /// The event contradicts how the job settled.
    Contradicts { status: JobStatus },
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConflictReason::GrantMismatch { applied } => write!(
                f,
                "grant {} was already applied as {} credits to account {}",
                applied.grant_id, applied.credits, applied.account_id
            ),
            ConflictReason::AccountMismatch { job_account_id } => {
                write!(f, "the job belongs to account {job_account_id}")
            }
            ConflictReason::AmountMismatch {
                transition,
                applied,
                received,
            } => write!(
                f,
                "{transition} was already applied with {applied} credits, this event says {received}"
            ),
            ConflictReason::Contradicts { status } => {
                write!(f, "the job is already {status}")
            }
        }
    }
}

/// What to do with an event: commit a change, or nothing (duplicate / conflict).
// `Apply` is the common case and short-lived; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Apply(Change),
    Duplicate,
    Conflict(ConflictReason),
}

/// An atomic change, computed from `before` states that the commit must still find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub outcome: Outcome,
    /// The account as the change assumes it is (`None`: it does not exist yet).
    pub account_before: Option<Account>,
    pub account_after: Account,
    /// The job before (`None`: new) and after, for job events.
    pub job: Option<(Option<Job>, Job)>,
    /// A grant to record (grants only).
    pub grant: Option<Grant>,
    /// The ledger entry, when money moves.
    pub entry: Option<Entry>,
}

impl Change {
    /// Whether the account's balances change (else the account is only checked).
    pub fn moves_money(&self) -> bool {
        self.entry.is_some()
    }
}

/// What the commit found (or assumed) when deciding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The event's account; `None` if it does not exist.
    pub account: Option<Account>,
    /// The event's job; `None` if it does not exist (or for grants).
    pub job: Option<Job>,
    /// The grant with the event's grant id; `None` if never applied.
    pub grant: Option<Grant>,
}

/// Identity of the event being applied, recorded on the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub event_id: String,
    pub at_ms: i64,
}

/// Why no decision could be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerError {
    /// A balance would leave `i64` (each event is at most 10^12 credits, so this
    /// takes millions of maximal grants to one account). Nothing is written.
    Overflow { account_id: String },
    /// The known account and job disagree (snapshots of different moments);
    /// read them together and decide again.
    Inconsistent(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Overflow { account_id } => write!(
                f,
                "balance of account {account_id} would overflow a 64-bit integer"
            ),
            LedgerError::Inconsistent(what) => write!(f, "inconsistent snapshot: {what}"),
        }
    }
}

impl std::error::Error for LedgerError {}

/// A money movement on one account.
struct Movement {
    kind: EntryKind,
    key: String,
    amount: i64,
    available: i64,
    held: i64,
    granted: i64,
    debited: i64,
    overdraft: i64,
}

/// Decides what `event` does, given what is known. SPEC §3, cell by cell.
pub fn decide(event: &Event, known: &Known, meta: &Meta) -> Result<Decision, LedgerError> {
    let account_id = event.account_id();
    if let Some(a) = &known.account {
        assert_eq!(a.account_id, account_id, "known account is the event's");
    }
    check_consistent(known, event.job_id())?;
    match event {
        Event::Granted {
            grant_id, credits, ..
        } => {
            if let Some(applied) = &known.grant {
                return Ok(
                    if applied.account_id == account_id && applied.credits == *credits {
                        Decision::Duplicate
                    } else {
                        Decision::Conflict(ConflictReason::GrantMismatch {
                            applied: applied.clone(),
                        })
                    },
                );
            }
            let grant = Grant {
                grant_id: grant_id.clone(),
                account_id: account_id.into(),
                credits: *credits,
            };
            let movement = Movement {
                kind: EntryKind::Grant,
                key: format!("grant:{grant_id}"),
                amount: *credits,
                available: *credits,
                held: 0,
                granted: *credits,
                debited: 0,
                overdraft: 0,
            };
            change(
                Outcome::Granted,
                known,
                None,
                Some(grant),
                Some(movement),
                meta,
            )
        }
        Event::Requested {
            job_id, credits, ..
        } => {
            let c = *credits;
            if let Some(job) = &known.job {
                if job.account_id != account_id {
                    return Ok(account_mismatch(job));
                }
                return Ok(match job.requested {
                    Some(applied) if applied != c => {
                        Decision::Conflict(ConflictReason::AmountMismatch {
                            transition: "video.requested",
                            applied,
                            received: c,
                        })
                    }
                    // Same estimate, or the job settled without ever holding.
                    _ => Decision::Duplicate,
                });
            }
            let available = known.account.as_ref().map_or(0, |a| a.available);
            if available >= c {
                let mut job = new_job(job_id, account_id, JobStatus::Held);
                job.requested = Some(c);
                job.hold = Some(c);
                let movement = Movement {
                    kind: EntryKind::Hold,
                    key: format!("job:{job_id}:hold"),
                    amount: c,
                    available: -c,
                    held: c,
                    granted: 0,
                    debited: 0,
                    overdraft: 0,
                };
                change(Outcome::Held, known, Some(job), None, Some(movement), meta)
            } else {
                let mut job = new_job(job_id, account_id, JobStatus::Rejected);
                job.requested = Some(c);
                change(Outcome::Rejected, known, Some(job), None, None, meta)
            }
        }
        Event::Rendered {
            job_id, credits, ..
        } => {
            let a = *credits;
            let (hold, base) = match &known.job {
                None => (0, new_job(job_id, account_id, JobStatus::Debited)),
                Some(job) if job.account_id != account_id => return Ok(account_mismatch(job)),
                Some(job) => match job.status {
                    JobStatus::Held => (job.hold.expect("a HELD job has a hold"), job.clone()),
                    JobStatus::Expired | JobStatus::Rejected => (0, job.clone()),
                    JobStatus::Debited => {
                        let applied = job.debited.expect("a DEBITED job has a debit");
                        return Ok(if applied == a {
                            Decision::Duplicate
                        } else {
                            Decision::Conflict(ConflictReason::AmountMismatch {
                                transition: "video.rendered",
                                applied,
                                received: a,
                            })
                        });
                    }
                    JobStatus::Refunded => {
                        return Ok(Decision::Conflict(ConflictReason::Contradicts {
                            status: JobStatus::Refunded,
                        }));
                    }
                },
            };
            let mut job = base;
            job.status = JobStatus::Debited;
            job.debited = Some(a);
            let movement = Movement {
                kind: EntryKind::Debit,
                key: format!("job:{job_id}:debit"),
                amount: a,
                available: hold - a,
                held: -hold,
                granted: 0,
                debited: a,
                overdraft: (a - hold).max(0),
            };
            change(
                Outcome::Debited,
                known,
                Some(job),
                None,
                Some(movement),
                meta,
            )
        }
        Event::Failed { job_id, reason, .. } => match &known.job {
            None => {
                let mut job = new_job(job_id, account_id, JobStatus::Refunded);
                job.reason = reason.clone();
                change(Outcome::Refunded, known, Some(job), None, None, meta)
            }
            Some(job) if job.account_id != account_id => Ok(account_mismatch(job)),
            Some(job) => match job.status {
                JobStatus::Held => {
                    let h = job.hold.expect("a HELD job has a hold");
                    let mut after = job.clone();
                    after.status = JobStatus::Refunded;
                    after.reason = reason.clone();
                    let movement = Movement {
                        kind: EntryKind::Refund,
                        key: format!("job:{job_id}:refund"),
                        amount: h,
                        available: h,
                        held: -h,
                        granted: 0,
                        debited: 0,
                        overdraft: 0,
                    };
                    change(
                        Outcome::Refunded,
                        known,
                        Some(after),
                        None,
                        Some(movement),
                        meta,
                    )
                }
                JobStatus::Debited => Ok(Decision::Conflict(ConflictReason::Contradicts {
                    status: JobStatus::Debited,
                })),
                JobStatus::Refunded | JobStatus::Expired | JobStatus::Rejected => {
                    Ok(Decision::Duplicate)
                }
            },
        },
    }
}

/// The sweep's transition: a HELD job whose hold is too old is EXPIRED and its
/// hold released. Anything else (already settled, gone) is a `Duplicate`: the
/// sweep lost a race it is glad to lose.
pub fn decide_expiry(job_id: &str, known: &Known, meta: &Meta) -> Result<Decision, LedgerError> {
    check_consistent(known, Some(job_id))?;
    let Some(job) = known.job.as_ref().filter(|j| j.status == JobStatus::Held) else {
        return Ok(Decision::Duplicate);
    };
    assert_eq!(job.job_id, job_id);
    let h = job.hold.expect("a HELD job has a hold");
    let mut after = job.clone();
    after.status = JobStatus::Expired;
    let movement = Movement {
        kind: EntryKind::Expire,
        key: format!("job:{job_id}:expire"),
        amount: h,
        available: h,
        held: -h,
        granted: 0,
        debited: 0,
        overdraft: 0,
    };
    change(
        Outcome::Expired,
        known,
        Some(after),
        None,
        Some(movement),
        meta,
    )
}

fn new_job(job_id: &str, account_id: &str, status: JobStatus) -> Job {
    Job {
        job_id: job_id.into(),
        account_id: account_id.into(),
        status,
        requested: None,
        hold: None,
        debited: None,
        reason: None,
    }
}

fn account_mismatch(job: &Job) -> Decision {
    Decision::Conflict(ConflictReason::AccountMismatch {
        job_account_id: job.account_id.clone(),
    })
}

fn add(a: i64, b: i64, account_id: &str) -> Result<i64, LedgerError> {
    a.checked_add(b).ok_or_else(|| LedgerError::Overflow {
        account_id: account_id.into(),
    })
}

/// Knowledge is consistent when the account's hold map and the job agree on
/// whether (and how much) the job holds. Snapshots taken at different times
/// can disagree; deciding on them would be deciding on a state that never was.
fn check_consistent(known: &Known, job_id: Option<&str>) -> Result<(), LedgerError> {
    let Some(account) = &known.account else {
        return Ok(());
    };
    let Some(job) = &known.job else {
        return match job_id.filter(|j| account.holds.contains_key(*j)) {
            Some(j) => Err(LedgerError::Inconsistent(format!(
                "account {} holds credits for job {j}, which is unknown",
                account.account_id
            ))),
            None => Ok(()),
        };
    };
    if job.account_id != account.account_id {
        return Ok(());
    }
    let in_map = account.holds.get(&job.job_id).copied();
    let by_job = (job.status == JobStatus::Held).then(|| job.hold.unwrap_or(-1));
    if in_map == by_job {
        Ok(())
    } else {
        Err(LedgerError::Inconsistent(format!(
            "account {} holds {:?} for job {} but the job is {} with hold {:?}",
            account.account_id, in_map, job.job_id, job.status, job.hold
        )))
    }
}

fn change(
    outcome: Outcome,
    known: &Known,
    job_after: Option<Job>,
    grant: Option<Grant>,
    movement: Option<Movement>,
    meta: &Meta,
) -> Result<Decision, LedgerError> {
    let account_before = known.account.clone();
    let account_id = job_after
        .as_ref()
        .map(|j| j.account_id.clone())
        .or_else(|| grant.as_ref().map(|g| g.account_id.clone()))
        .expect("a change names an account");
    let mut after = account_before
        .clone()
        .unwrap_or_else(|| Account::new(account_id.clone()));
    let mut entry = None;
    if let Some(m) = movement {
        after.available = add(after.available, m.available, &account_id)?;
        after.held = add(after.held, m.held, &account_id)?;
        after.granted = add(after.granted, m.granted, &account_id)?;
        after.debited = add(after.debited, m.debited, &account_id)?;
        after.seq += 1;
        if m.overdraft > 0 {
            after.overdrafts += 1;
        }
        entry = Some(Entry {
            account_id: account_id.clone(),
            seq: after.seq,
            kind: m.kind,
            key: m.key,
            amount: m.amount,
            available_delta: m.available,
            held_delta: m.held,
            granted_delta: m.granted,
            debited_delta: m.debited,
            overdraft: m.overdraft,
            available_after: after.available,
            held_after: after.held,
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
        });
    }
    if let Some(job) = &job_after {
        match job.status {
            JobStatus::Held => {
                after
                    .holds
                    .insert(job.job_id.clone(), job.hold.expect("HELD has a hold"));
            }
            _ => {
                after.holds.remove(&job.job_id);
            }
        }
    }
    // TigerBeetle's habit: a change that breaks an invariant is a bug, and must
    // never reach the ledger.
    if let Err(broken) = after.check() {
        panic!("ledger invariant broken by {outcome}: {broken}");
    }
    let job = job_after.map(|after| (known.job.clone(), after));
    Ok(Decision::Apply(Change {
        outcome,
        account_before,
        account_after: after,
        job,
        grant,
        entry,
    }))
}
