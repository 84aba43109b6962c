//! The job state machine of SPEC §3: given what is known about an account, a
//! job and a grant, decide what an event does. Pure: no clocks, no I/O.
//!
//! A [`Decision`] is either a [`Change`] to commit atomically (the adapter turns
//! it into one `TransactWriteItems`, guarded by the `before` state it was
//! computed from), or a `duplicate`/`conflict` that changes no money.

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
    /// Net total of the operators' corrections (signed).
    pub adjusted: i64,
    /// Number of ledger entries written for this account: entry `seq` is the
    /// last one. Every write is conditioned on the whole account as decided on
    /// (optimistic concurrency: no lost update, no overwritten correction).
    pub seq: u64,
    /// Number of debits not covered by a hold (SPEC's "overdraft … counted").
    pub overdrafts: u64,
}

impl Account {
    pub fn new(account_id: impl Into<String>) -> Self {
        Account {
            account_id: account_id.into(),
            ..Account::default()
        }
    }

    /// SPEC §3 invariant 1 on one account (conservation), and `held` never
    /// negative. Invariant 2 (`held` = the holds of its HELD jobs) needs the
    /// jobs: [`crate::audit`] and [`crate::memory::MemoryLedger`] check it.
    pub fn check(&self) -> Result<(), String> {
        let owned = i128::from(self.available) + i128::from(self.held);
        let net = i128::from(self.granted) - i128::from(self.debited) + i128::from(self.adjusted);
        if owned != net {
            return Err(format!(
                "account {}: conservation broken: available {} + held {} != granted {} - debited {} + adjusted {}",
                self.account_id,
                self.available,
                self.held,
                self.granted,
                self.debited,
                self.adjusted
            ));
        }
        if self.held < 0 {
            return Err(format!(
                "account {}: held {} is negative",
                self.account_id, self.held
            ));
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
    /// The account's entries that moved this job's money (their `seq`s), in
    /// order: its history is these entries, and the audit tells a job that
    /// moved after the version it audits by the last one.
    pub entries: Vec<u64>,
}

impl Job {
    /// What every stored job must satisfy: a HELD or EXPIRED job has a
    /// non-negative hold, a DEBITED job its debit, a REJECTED job its
    /// estimate. The adapter refuses a stored job that breaks this (a
    /// malformed item) before anything is decided on it.
    pub fn check(&self) -> Result<(), String> {
        let problem = match self.status {
            JobStatus::Held | JobStatus::Expired if self.hold.is_none_or(|h| h < 0) => {
                Some("has no valid hold")
            }
            JobStatus::Debited if self.debited.is_none_or(|d| d < 0) => Some("has no valid debit"),
            JobStatus::Rejected if self.requested.is_none() => Some("has no estimate"),
            _ => None,
        };
        match problem {
            Some(problem) => Err(format!(
                "job {} is {} but {problem}",
                self.job_id, self.status
            )),
            None => Ok(()),
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

/// An operator's correction already applied (its idempotency record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adjustment {
    pub adjustment_id: String,
    pub account_id: String,
    /// Signed: moves `available` by this much.
    pub credits: i64,
    pub reason: String,
}

/// What a change of money was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Grant,
    Hold,
    Debit,
    Refund,
    Expire,
    Adjustment,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Grant => "grant",
            EntryKind::Hold => "hold",
            EntryKind::Debit => "debit",
            EntryKind::Refund => "refund",
            EntryKind::Expire => "expire",
            EntryKind::Adjustment => "adjustment",
        }
    }

    pub fn parse(s: &str) -> Option<EntryKind> {
        [
            EntryKind::Grant,
            EntryKind::Hold,
            EntryKind::Debit,
            EntryKind::Refund,
            EntryKind::Expire,
            EntryKind::Adjustment,
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
    /// The business key the entry applies: `grant:<id>`, `job:<id>:<kind>`
    /// or `adjustment:<id>`.
    pub key: String,
    /// The credits the event named (grant amount, hold, actual cost).
    pub amount: i64,
    pub available_delta: i64,
    pub held_delta: i64,
    pub granted_delta: i64,
    pub debited_delta: i64,
    pub adjusted_delta: i64,
    /// Credits of this debit not covered by a hold (0 when covered).
    pub overdraft: i64,
    pub available_after: i64,
    pub held_after: i64,
    pub event_id: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

impl Entry {
    /// The job whose money the entry moved, for job entries
    /// (`job:<id>:<kind>`).
    pub fn job_id(&self) -> Option<&str> {
        let rest = self.key.strip_prefix("job:")?;
        ["hold", "debit", "refund", "expire"]
            .iter()
            .find_map(|kind| rest.strip_suffix(kind)?.strip_suffix(':'))
    }
}

/// The outcome words of SPEC §4, plus the sweep's `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Granted,
    Held,
    Rejected,
    Debited,
    Refunded,
    Adjusted,
    Duplicate,
    Conflict,
    Expired,
}

impl Outcome {
    pub const ALL: [Outcome; 9] = [
        Outcome::Granted,
        Outcome::Held,
        Outcome::Rejected,
        Outcome::Debited,
        Outcome::Refunded,
        Outcome::Adjusted,
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
            Outcome::Adjusted => "adjusted",
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
    /// The adjustment id was applied before with another account, amount or reason.
    AdjustmentMismatch { applied: Adjustment },
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
            ConflictReason::AdjustmentMismatch { applied } => write!(
                f,
                "adjustment {} was already applied as {} credits to account {} ({:?})",
                applied.adjustment_id, applied.credits, applied.account_id, applied.reason
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
    /// An adjustment to record (adjustments only).
    pub adjustment: Option<Adjustment>,
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
    /// The adjustment with the event's adjustment id; `None` if never applied.
    pub adjustment: Option<Adjustment>,
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
    /// The stored account breaks an invariant (a change made out of band, a
    /// corruption): nothing is decided on it until it is repaired, so the
    /// breakage is neither overwritten nor built upon.
    Broken { account_id: String, problem: String },
    /// What is known cannot all be true at once (a HELD job holding more
    /// than its account holds in all): pictures of different moments, e.g. a
    /// job remembered from before the sweep expired it. Read the account and
    /// the job together and decide again.
    Inconsistent(String),
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::Overflow { account_id } => write!(
                f,
                "balance of account {account_id} would overflow a 64-bit integer"
            ),
            LedgerError::Inconsistent(what) => write!(f, "inconsistent knowledge: {what}"),
            LedgerError::Broken {
                account_id,
                problem,
            } => write!(
                f,
                "account {account_id} is broken ({problem}): nothing is decided on it until it \
                 is repaired (docs/operations.md#alarm-drift)"
            ),
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
    adjusted: i64,
    overdraft: i64,
}

/// Decides what `event` does, given what is known. SPEC §3, cell by cell.
pub fn decide(event: &Event, known: &Known, meta: &Meta) -> Result<Decision, LedgerError> {
    let account_id = event.account_id();
    if let Some(a) = &known.account {
        assert_eq!(a.account_id, account_id, "known account is the event's");
        refuse_broken(a)?;
    }
    check_consistent(known)?;
    match event {
        Event::Adjusted {
            adjustment_id,
            credits,
            reason,
            ..
        } => {
            let adjustment = Adjustment {
                adjustment_id: adjustment_id.clone(),
                account_id: account_id.into(),
                credits: *credits,
                reason: reason.clone(),
            };
            if let Some(applied) = &known.adjustment {
                return Ok(if *applied == adjustment {
                    Decision::Duplicate
                } else {
                    Decision::Conflict(ConflictReason::AdjustmentMismatch {
                        applied: applied.clone(),
                    })
                });
            }
            let movement = Movement {
                kind: EntryKind::Adjustment,
                key: format!("adjustment:{adjustment_id}"),
                amount: *credits,
                available: *credits,
                held: 0,
                granted: 0,
                debited: 0,
                adjusted: *credits,
                overdraft: 0,
            };
            let mut change = change(
                Outcome::Adjusted,
                account_id,
                known,
                None,
                None,
                Some(movement),
                meta,
            )?;
            if let Decision::Apply(c) = &mut change {
                c.adjustment = Some(adjustment);
            }
            Ok(change)
        }
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
                adjusted: 0,
                overdraft: 0,
            };
            change(
                Outcome::Granted,
                account_id,
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
                    adjusted: 0,
                    overdraft: 0,
                };
                change(
                    Outcome::Held,
                    account_id,
                    known,
                    Some(job),
                    None,
                    Some(movement),
                    meta,
                )
            } else {
                let mut job = new_job(job_id, account_id, JobStatus::Rejected);
                job.requested = Some(c);
                change(
                    Outcome::Rejected,
                    account_id,
                    known,
                    Some(job),
                    None,
                    None,
                    meta,
                )
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
                adjusted: 0,
                overdraft: (a - hold).max(0),
            };
            change(
                Outcome::Debited,
                account_id,
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
                change(
                    Outcome::Refunded,
                    account_id,
                    known,
                    Some(job),
                    None,
                    None,
                    meta,
                )
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
                        adjusted: 0,
                        overdraft: 0,
                    };
                    change(
                        Outcome::Refunded,
                        account_id,
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
    let Some(job) = known.job.as_ref().filter(|j| j.status == JobStatus::Held) else {
        return Ok(Decision::Duplicate);
    };
    assert_eq!(job.job_id, job_id);
    let account_id = job.account_id.as_str();
    if let Some(a) = &known.account {
        refuse_broken(a)?;
    }
    check_consistent(known)?;
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
        adjusted: 0,
        overdraft: 0,
    };
    change(
        Outcome::Expired,
        account_id,
        known,
        Some(after),
        None,
        Some(movement),
        meta,
    )
}

/// Invariant 1 on a stored account, before anything is decided on it.
fn refuse_broken(account: &Account) -> Result<(), LedgerError> {
    account.check().map_err(|problem| LedgerError::Broken {
        account_id: account.account_id.clone(),
        problem,
    })
}

/// A HELD job's hold is part of its account's `held` (invariant 2): known
/// pictures where it cannot be are of different moments.
fn check_consistent(known: &Known) -> Result<(), LedgerError> {
    if let (Some(account), Some(job)) = (&known.account, &known.job)
        && job.status == JobStatus::Held
        && job.account_id == account.account_id
        && job.hold.unwrap_or(0) > account.held
    {
        return Err(LedgerError::Inconsistent(format!(
            "job {} holds {:?} but account {} holds {} in all",
            job.job_id, job.hold, account.account_id, account.held
        )));
    }
    Ok(())
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
        entries: Vec::new(),
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

fn change(
    outcome: Outcome,
    account_id: &str,
    known: &Known,
    job_after: Option<Job>,
    grant: Option<Grant>,
    movement: Option<Movement>,
    meta: &Meta,
) -> Result<Decision, LedgerError> {
    let account_before = known.account.clone();
    let account_id = account_id.to_owned();
    let mut after = account_before
        .clone()
        .unwrap_or_else(|| Account::new(account_id.clone()));
    let mut entry = None;
    if let Some(m) = movement {
        after.available = add(after.available, m.available, &account_id)?;
        after.held = add(after.held, m.held, &account_id)?;
        after.granted = add(after.granted, m.granted, &account_id)?;
        after.debited = add(after.debited, m.debited, &account_id)?;
        after.adjusted = add(after.adjusted, m.adjusted, &account_id)?;
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
            adjusted_delta: m.adjusted,
            overdraft: m.overdraft,
            available_after: after.available,
            held_after: after.held,
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
        });
    }
    let mut job_after = job_after;
    if let (Some(job), Some(entry)) = (&mut job_after, &entry) {
        job.entries.push(entry.seq);
    }
    // Invariant 2, as the transaction keeps it: `held` moves by exactly the
    // hold the job takes or releases in the same change.
    let holding = |job: Option<&Job>| {
        job.filter(|j| j.status == JobStatus::Held)
            .map_or(0, |j| j.hold.unwrap_or(0))
    };
    let held_delta = entry.as_ref().map_or(0, |e| e.held_delta);
    if job_after.is_some()
        && held_delta != holding(job_after.as_ref()) - holding(known.job.as_ref())
    {
        panic!(
            "ledger invariant broken by {outcome}: held moves by {held_delta}, the job's hold does not"
        );
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
        adjustment: None,
        entry,
    }))
}
