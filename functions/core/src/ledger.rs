//! The job state machine of contract §3: given what is known about an account, a
//! job and a grant, decide what an event does. Pure: no clocks, no I/O.
//!
//! A [`Decision`] is either a [`Change`] to commit atomically (the adapter turns
//! it into one `TransactWriteItems`, guarded by the `before` state it was
//! computed from), or a `duplicate`/`conflict` that changes no money.

use std::fmt;

use crate::cells::{Need, across, alone, cell_of};
use crate::contract;
use crate::event::{Event, VIDEO_RENDERED, VIDEO_REQUESTED};
use crate::key::{BusinessKey, JobStep};

/// Balances of one account, or of one of its cells, plus what the ledger
/// needs to keep them honest.
///
/// An account's money may be spread over **cells** (see [`gather`](crate::cells::gather)): items
/// of their own, each with its own balances, `seq` and entries, so that one
/// busy account's writes spread over several partition keys. Cell 0, the
/// home cell, is the account as it always was; an account that was never
/// split has only that one. The account's balances are the sums over its
/// cells ([`total`](crate::cells::total)), and invariant 1 holds on each cell, so on the sum.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Account {
    pub account_id: String,
    /// Which cell of the account this is: 0 for the home cell.
    pub cell: u32,
    /// On the home cell: how many cells the account has (0 and 1 both mean
    /// one: the account was never split). Not kept on the other cells.
    pub cells: u32,
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
    /// Net credits moved into this cell from the account's other cells
    /// (signed; 0 on an account that was never split, and 0 summed over
    /// the cells of any account).
    pub transferred: i64,
    /// Some cell of the account may be below zero: a hold here looks at
    /// every cell ([`crate::cells`]). Never set on an account never split.
    pub owing: bool,
    /// Number of ledger entries written for this account: entry `seq` is the
    /// last one. Every write is conditioned on the whole account as decided on
    /// (optimistic concurrency: no lost update, no overwritten correction).
    pub seq: u64,
    /// Number of debits not covered by a hold (the contract's "overdraft … counted").
    pub overdrafts: u64,
}

impl Account {
    pub fn new(account_id: impl Into<String>) -> Self {
        Account {
            account_id: account_id.into(),
            ..Account::default()
        }
    }

    /// Cell `cell` of `account_id`, empty.
    pub fn in_cell(account_id: impl Into<String>, cell: u32) -> Self {
        Account {
            cell,
            ..Account::new(account_id)
        }
    }

    /// How many cells the account has, read on its home cell.
    pub fn cell_count(&self) -> u32 {
        self.cells.max(1)
    }

    /// contract §3 invariant 1 on one account or cell (conservation, a
    /// cell's transfers counted), and `held` never negative. Invariant 2 (`held` = the holds of its HELD jobs) needs the
    /// jobs: [`crate::audit`] and [`crate::memory::MemoryLedger`] check it.
    pub fn check(&self) -> Result<(), String> {
        let owned = i128::from(self.available) + i128::from(self.held);
        let net = i128::from(self.granted) - i128::from(self.debited)
            + i128::from(self.adjusted)
            + i128::from(self.transferred);
        if owned != net {
            return Err(format!(
                "{}: conservation broken: available {} + held {} != granted {} - debited {} + adjusted {}{}",
                self.name(),
                self.available,
                self.held,
                self.granted,
                self.debited,
                self.adjusted,
                match self.transferred {
                    0 => String::new(),
                    t => format!(" + transferred {t}"),
                }
            ));
        }
        if self.held < 0 {
            return Err(format!("{}: held {} is negative", self.name(), self.held));
        }
        Ok(())
    }

    /// `account <id>`, or `account <id> cell <k>` for a cell past the home.
    pub fn name(&self) -> String {
        match self.cell {
            0 => format!("account {}", self.account_id),
            k => format!("account {} cell {k}", self.account_id),
        }
    }
}

/// A job's status (contract §3 rows).
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
    /// The cell of its account the job's money moves in (0 unless the
    /// account was split when the job first came).
    pub cell: u32,
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
    /// Credits moved between two cells of one account ([`gather`](crate::cells::gather)).
    Transfer,
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
            EntryKind::Transfer => "transfer",
        }
    }

    pub const ALL: [EntryKind; 7] = [
        EntryKind::Grant,
        EntryKind::Hold,
        EntryKind::Debit,
        EntryKind::Refund,
        EntryKind::Expire,
        EntryKind::Adjustment,
        EntryKind::Transfer,
    ];

    pub fn parse(s: &str) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One append-only ledger entry: who, what, how much, which event, when, balances after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account_id: String,
    /// The cell of the account whose ledger it is in.
    pub cell: u32,
    /// Position in the cell's ledger, 1-based; equals the cell's `seq` after it.
    pub seq: u64,
    pub kind: EntryKind,
    /// The business key the entry applies, as stored: its entry spelling
    /// ([`BusinessKey::entry`]: `grant:<id>`, `job:<id>:<kind>` or
    /// `adjustment:<id>`).
    pub key: String,
    /// The credits the event named (grant amount, hold, actual cost).
    pub amount: i64,
    pub available_delta: i64,
    pub held_delta: i64,
    pub granted_delta: i64,
    pub debited_delta: i64,
    pub adjusted_delta: i64,
    pub transferred_delta: i64,
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
    /// (`job:<id>:<kind>`, read with the entry spelling of [`BusinessKey`]).
    pub fn job_id(&self) -> Option<&str> {
        crate::key::entry_job_id(&self.key)
    }
}

/// The outcome words of contract §4, plus the sweep's `expired`.
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

    /// The word: the response's ([`contract::Outcome`]), or `expired`.
    pub fn as_str(self) -> &'static str {
        self.response().map_or("expired", contract::Outcome::as_str)
    }

    /// The handler's response word for it; `None` for the sweep's
    /// `expired`, which no event produces.
    pub fn response(self) -> Option<contract::Outcome> {
        Some(match self {
            Outcome::Granted => contract::Outcome::Granted,
            Outcome::Held => contract::Outcome::Held,
            Outcome::Rejected => contract::Outcome::Rejected,
            Outcome::Debited => contract::Outcome::Debited,
            Outcome::Refunded => contract::Outcome::Refunded,
            Outcome::Adjusted => contract::Outcome::Adjusted,
            Outcome::Duplicate => contract::Outcome::Duplicate,
            Outcome::Conflict => contract::Outcome::Conflict,
            Outcome::Expired => return None,
        })
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
    /// The hold does not fit in its cell, and only the account's other
    /// cells can say whether it fits in the account: read every cell of the
    /// account together (into [`Known::others`]) and decide again.
    ReadCells,
    /// The event's cell cannot decide alone, and the account's cells must
    /// change first: commit this (it changes no account balance), then
    /// decide again.
    Gather(Gather),
}

/// Credits moved between an account's cells, or their `owing` marks set or
/// cleared ([`crate::cells`]), each leg guarded by the cell as read: what
/// lets a hold land in its own cell while `rejected` still means that the
/// whole account lacks the estimate. It changes no balance of the account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gather {
    /// The receiving cell first, then each giving cell.
    pub legs: Vec<Leg>,
}

/// One cell's part of a [`Gather`]: the cell as read (`None`: it does not
/// exist yet), after, and the `transfer` entry that records the credits it
/// moved (`None`: it moved none, only its `owing` mark changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leg {
    pub before: Option<Account>,
    pub after: Account,
    pub entry: Option<Entry>,
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
    /// How many cells the event's account has, as its home cell says (0
    /// and 1: one). It picks the cell of an event whose job is not known
    /// ([`cell_of`](crate::cells::cell_of)).
    pub cells: u32,
    /// The event's account's cell the event is decided in; `None` if it
    /// does not exist.
    pub account: Option<Account>,
    /// The account's other existing cells, read together with `account`:
    /// only when its cell cannot decide alone ([`Decision::ReadCells`]).
    pub others: Option<Vec<Account>>,
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

/// A money movement on one account: the deltas of its balances, and the key
/// of the effect (which names the entry's kind).
pub(crate) struct Movement {
    pub(crate) key: BusinessKey,
    pub(crate) amount: i64,
    pub(crate) available: i64,
    pub(crate) held: i64,
    pub(crate) granted: i64,
    pub(crate) debited: i64,
    pub(crate) adjusted: i64,
    pub(crate) transferred: i64,
    pub(crate) overdraft: i64,
}

impl Movement {
    /// A movement of `amount` under `key` that moves no balance yet: the
    /// caller names the deltas.
    pub(crate) fn of(key: BusinessKey, amount: i64) -> Movement {
        Movement {
            key,
            amount,
            available: 0,
            held: 0,
            granted: 0,
            debited: 0,
            adjusted: 0,
            transferred: 0,
            overdraft: 0,
        }
    }

    /// A hold of `h` released back to `available` (a refund, an expiry).
    fn release(key: BusinessKey, h: i64) -> Movement {
        Movement {
            available: h,
            held: -h,
            ..Movement::of(key, h)
        }
    }

    /// Moves `account`'s balances and returns the entry that records it.
    pub(crate) fn apply(self, account: &mut Account, meta: &Meta) -> Result<Entry, LedgerError> {
        let id = account.account_id.clone();
        account.available = add(account.available, self.available, &id)?;
        account.held = add(account.held, self.held, &id)?;
        account.granted = add(account.granted, self.granted, &id)?;
        account.debited = add(account.debited, self.debited, &id)?;
        account.adjusted = add(account.adjusted, self.adjusted, &id)?;
        account.transferred = add(account.transferred, self.transferred, &id)?;
        account.seq = account
            .seq
            .checked_add(1)
            .ok_or_else(|| LedgerError::Overflow {
                account_id: id.clone(),
            })?;
        if self.overdraft > 0 {
            account.overdrafts =
                account
                    .overdrafts
                    .checked_add(1)
                    .ok_or_else(|| LedgerError::Overflow {
                        account_id: id.clone(),
                    })?;
        }
        Ok(Entry {
            account_id: id,
            cell: account.cell,
            seq: account.seq,
            kind: self.key.entry_kind(),
            key: self.key.entry(),
            amount: self.amount,
            available_delta: self.available,
            held_delta: self.held,
            granted_delta: self.granted,
            debited_delta: self.debited,
            adjusted_delta: self.adjusted,
            transferred_delta: self.transferred,
            overdraft: self.overdraft,
            available_after: account.available,
            held_after: account.held,
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
        })
    }
}

/// What a need of a cell takes beyond it.
// Short-lived, like `Decision`: boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Across {
    /// Nothing: the cell decides alone.
    Alone,
    /// The account, all its cells read together, cannot cover the hold.
    Short,
    /// This first: a read of every cell, or a change of the cells.
    Then(Decision),
}

/// What one decision is taken on: the account and cell it is about, what
/// is known, and the identity of the event (or sweep run) being applied.
struct Subject<'a> {
    account_id: &'a str,
    cell: u32,
    known: &'a Known,
    meta: &'a Meta,
}

/// Decides what `event` does, given what is known: the contract's table of
/// job states and events, one function per column (and one each for grants
/// and adjustments).
pub fn decide(event: &Event, known: &Known, meta: &Meta) -> Result<Decision, LedgerError> {
    let account_id = event.account_id();
    let cell = cell_of(event, known.job.as_ref(), known.cells);
    check_known(known, account_id, cell, event.job_id())?;
    let subject = Subject {
        account_id,
        cell,
        known,
        meta,
    };
    match event {
        Event::Granted {
            grant_id, credits, ..
        } => subject.grant(grant_id, *credits),
        Event::Adjusted {
            adjustment_id,
            credits,
            reason,
            ..
        } => subject.adjust(adjustment_id, *credits, reason),
        Event::Requested {
            job_id, credits, ..
        } => subject.request(job_id, *credits),
        Event::Rendered {
            job_id, credits, ..
        } => subject.render(job_id, *credits),
        Event::Failed { job_id, reason, .. } => subject.fail(job_id, reason.as_ref()),
    }
}

/// The sweep's transition: a HELD job whose hold is too old is EXPIRED and its
/// hold released. Anything else (already settled, gone) is a `Duplicate`: the
/// sweep lost a race it is glad to lose.
pub fn decide_expiry(job_id: &str, known: &Known, meta: &Meta) -> Result<Decision, LedgerError> {
    let Some(job) = known.job.as_ref().filter(|j| j.status == JobStatus::Held) else {
        return Ok(Decision::Duplicate);
    };
    check_known(known, &job.account_id, job.cell, Some(job_id))?;
    let h = hold_of(job)?;
    let mut after = job.clone();
    after.status = JobStatus::Expired;
    let movement = Movement::release(BusinessKey::job(job_id, JobStep::Expired), h);
    let subject = Subject {
        account_id: &job.account_id,
        cell: job.cell,
        known,
        meta,
    };
    subject.apply(Outcome::Expired, Some(after), Some(movement))
}

impl Subject<'_> {
    /// `credits.granted`: applied once per grant id; the same id with another
    /// account or amount is a conflict.
    fn grant(&self, grant_id: &str, credits: i64) -> Result<Decision, LedgerError> {
        if let Some(applied) = &self.known.grant {
            return Ok(
                if applied.account_id == self.account_id && applied.credits == credits {
                    Decision::Duplicate
                } else {
                    Decision::Conflict(ConflictReason::GrantMismatch {
                        applied: applied.clone(),
                    })
                },
            );
        }
        let movement = Movement {
            available: credits,
            granted: credits,
            ..Movement::of(BusinessKey::grant(grant_id), credits)
        };
        let change = self.change(Outcome::Granted, None, Some(movement))?;
        Ok(Decision::Apply(Change {
            grant: Some(Grant {
                grant_id: grant_id.into(),
                account_id: self.account_id.into(),
                credits,
            }),
            ..change
        }))
    }

    /// `credits.adjusted`: applied once per adjustment id; the same id with
    /// another payload is a conflict.
    fn adjust(
        &self,
        adjustment_id: &str,
        credits: i64,
        reason: &str,
    ) -> Result<Decision, LedgerError> {
        let adjustment = Adjustment {
            adjustment_id: adjustment_id.into(),
            account_id: self.account_id.into(),
            credits,
            reason: reason.into(),
        };
        if let Some(applied) = &self.known.adjustment {
            return Ok(if *applied == adjustment {
                Decision::Duplicate
            } else {
                Decision::Conflict(ConflictReason::AdjustmentMismatch {
                    applied: applied.clone(),
                })
            });
        }
        let key = BusinessKey::transfer(adjustment_id);
        if let Across::Then(decision) = self.across(Need::Take(credits.saturating_neg()), &key)? {
            return Ok(decision);
        }
        let movement = Movement {
            available: credits,
            adjusted: credits,
            ..Movement::of(BusinessKey::adjustment(adjustment_id), credits)
        };
        let change = self.change(Outcome::Adjusted, None, Some(movement))?;
        Ok(Decision::Apply(Change {
            adjustment: Some(adjustment),
            ..change
        }))
    }

    /// The `video.requested` column: a new job is HELD if the account can
    /// cover the estimate, else REJECTED; a known job makes it a duplicate
    /// (or a conflict, with another estimate or account).
    fn request(&self, job_id: &str, c: i64) -> Result<Decision, LedgerError> {
        if let Some(job) = &self.known.job {
            if job.account_id != self.account_id {
                return Ok(account_mismatch(job));
            }
            return Ok(match job.requested {
                Some(applied) if applied != c => {
                    Decision::Conflict(ConflictReason::AmountMismatch {
                        transition: VIDEO_REQUESTED,
                        applied,
                        received: c,
                    })
                }
                // Same estimate, or the job settled without ever holding.
                _ => Decision::Duplicate,
            });
        }
        let key = BusinessKey::transfer(job_id);
        let fits = match self.across(Need::Hold(c), &key)? {
            Across::Alone => self.known.account.as_ref().map_or(0, |a| a.available) >= c,
            Across::Short => false,
            Across::Then(decision) => return Ok(decision),
        };
        if fits {
            let mut job = new_job(job_id, self.account_id, self.cell, JobStatus::Held);
            job.requested = Some(c);
            job.hold = Some(c);
            let movement = Movement {
                available: -c,
                held: c,
                ..Movement::of(BusinessKey::job(job_id, JobStep::Requested), c)
            };
            self.apply(Outcome::Held, Some(job), Some(movement))
        } else {
            let mut job = new_job(job_id, self.account_id, self.cell, JobStatus::Rejected);
            job.requested = Some(c);
            self.apply(Outcome::Rejected, Some(job), None)
        }
    }

    /// The `video.rendered` column: DEBITED from any state but DEBITED
    /// (duplicate, or conflict with another amount) and REFUNDED (conflict);
    /// a HELD job's hold covers the debit, the rest overdraws.
    fn render(&self, job_id: &str, a: i64) -> Result<Decision, LedgerError> {
        let (hold, base) = match &self.known.job {
            None => (
                0,
                new_job(job_id, self.account_id, self.cell, JobStatus::Debited),
            ),
            Some(job) if job.account_id != self.account_id => return Ok(account_mismatch(job)),
            Some(job) => match job.status {
                JobStatus::Held => (hold_of(job)?, job.clone()),
                JobStatus::Expired | JobStatus::Rejected => (0, job.clone()),
                JobStatus::Debited => {
                    let applied = job.debited.ok_or_else(|| shapeless(job))?;
                    return Ok(if applied == a {
                        Decision::Duplicate
                    } else {
                        Decision::Conflict(ConflictReason::AmountMismatch {
                            transition: VIDEO_RENDERED,
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
        let available = hold.checked_sub(a).ok_or_else(|| LedgerError::Overflow {
            account_id: self.account_id.into(),
        })?;
        let key = BusinessKey::transfer(job_id);
        if let Across::Then(decision) = self.across(Need::Take(available.saturating_neg()), &key)? {
            return Ok(decision);
        }
        let mut job = base;
        job.status = JobStatus::Debited;
        job.debited = Some(a);
        let movement = Movement {
            available,
            held: -hold,
            debited: a,
            overdraft: a.saturating_sub(hold).max(0),
            ..Movement::of(BusinessKey::job(job_id, JobStep::Rendered), a)
        };
        self.apply(Outcome::Debited, Some(job), Some(movement))
    }

    /// The `video.failed` column: a HELD job is REFUNDED (its hold
    /// released), an unknown one gets a REFUNDED tombstone, a DEBITED one is
    /// a conflict, any other a duplicate.
    fn fail(&self, job_id: &str, reason: Option<&String>) -> Result<Decision, LedgerError> {
        let Some(job) = &self.known.job else {
            let mut job = new_job(job_id, self.account_id, self.cell, JobStatus::Refunded);
            job.reason = reason.cloned();
            return self.apply(Outcome::Refunded, Some(job), None);
        };
        if job.account_id != self.account_id {
            return Ok(account_mismatch(job));
        }
        match job.status {
            JobStatus::Held => {
                let h = hold_of(job)?;
                let mut after = job.clone();
                after.status = JobStatus::Refunded;
                after.reason = reason.cloned();
                let movement = Movement::release(BusinessKey::job(job_id, JobStep::Failed), h);
                self.apply(Outcome::Refunded, Some(after), Some(movement))
            }
            JobStatus::Debited => Ok(Decision::Conflict(ConflictReason::Contradicts {
                status: JobStatus::Debited,
            })),
            JobStatus::Refunded | JobStatus::Expired | JobStatus::Rejected => {
                Ok(Decision::Duplicate)
            }
        }
    }

    /// What `need` takes beyond this cell on a split account
    /// ([`crate::cells`]).
    fn across(&self, need: Need, key: &BusinessKey) -> Result<Across, LedgerError> {
        let cell = self.account();
        // A home cell read since the count was learnt may count more.
        let cells = self.known.cells.max(cell.cell_count());
        if alone(&cell, cells, need) {
            return Ok(Across::Alone);
        }
        let Some(others) = &self.known.others else {
            return Ok(Across::Then(Decision::ReadCells));
        };
        let exists = self.known.account.is_some();
        let gather = across(
            &cell,
            exists,
            others,
            self.known.cells,
            need,
            key,
            self.meta,
        )?;
        Ok(gather.map_or(Across::Short, |g| Across::Then(Decision::Gather(g))))
    }

    /// The cell decided in, as known, or new and empty.
    fn account(&self) -> Account {
        self.known
            .account
            .clone()
            .unwrap_or_else(|| Account::in_cell(self.account_id, self.cell))
    }

    fn apply(
        &self,
        outcome: Outcome,
        job_after: Option<Job>,
        movement: Option<Movement>,
    ) -> Result<Decision, LedgerError> {
        self.change(outcome, job_after, movement)
            .map(Decision::Apply)
    }

    /// The change of `outcome`: the account moved by `movement` (if money
    /// moves) and the job as `job_after` (job events), checked against the
    /// invariants before it leaves the core.
    fn change(
        &self,
        outcome: Outcome,
        mut job_after: Option<Job>,
        movement: Option<Movement>,
    ) -> Result<Change, LedgerError> {
        let account_before = self.known.account.clone();
        let mut after = self.account();
        let entry = movement
            .map(|m| m.apply(&mut after, self.meta))
            .transpose()?;
        if let (Some(job), Some(entry)) = (&mut job_after, &entry) {
            job.entries.push(entry.seq);
        }
        let held_delta = entry.as_ref().map_or(0, |e| e.held_delta);
        check_change(
            outcome,
            &after,
            held_delta,
            self.known.job.as_ref(),
            job_after.as_ref(),
        );
        Ok(Change {
            outcome,
            account_before,
            account_after: after,
            job: job_after.map(|after| (self.known.job.clone(), after)),
            grant: None,
            adjustment: None,
            entry,
        })
    }
}

/// Panics if a change breaks an invariant (TigerBeetle's habit: such a
/// change is a bug, and must never reach the ledger). Invariant 2, as the
/// transaction keeps it: `held` moves by exactly the hold the job takes or
/// releases in the same change; invariant 1 and `held ≥ 0` on the account.
fn check_change(
    outcome: Outcome,
    after: &Account,
    held_delta: i64,
    job_before: Option<&Job>,
    job_after: Option<&Job>,
) {
    let holding = |job: Option<&Job>| {
        job.filter(|j| j.status == JobStatus::Held)
            .map_or(0, |j| j.hold.unwrap_or(0))
    };
    if job_after.is_some() && held_delta != holding(job_after) - holding(job_before) {
        panic!(
            "ledger invariant broken by {outcome}: held moves by {held_delta}, the job's hold does not"
        );
    }
    if let Err(broken) = after.check() {
        panic!("ledger invariant broken by {outcome}: {broken}");
    }
}

/// Invariant 1 on a stored account, before anything is decided on it.
fn refuse_broken(account: &Account) -> Result<(), LedgerError> {
    account.check().map_err(|problem| LedgerError::Broken {
        account_id: account.account_id.clone(),
        problem,
    })
}

/// What is known, checked before anything is decided on it, so that no
/// stored state, however wrong, reaches [`check_change`]'s panic: the
/// account is the one decided for (`account_id`) and unbroken
/// ([`refuse_broken`]); the job is the one decided for (`job_id`) and has
/// its shape ([`Job::check`]); and the pictures agree ([`check_consistent`]).
fn check_known(
    known: &Known,
    account_id: &str,
    cell: u32,
    job_id: Option<&str>,
) -> Result<(), LedgerError> {
    if let Some(account) = &known.account {
        if account.account_id != account_id || account.cell != cell {
            return Err(LedgerError::Inconsistent(format!(
                "{} was read for account {account_id} cell {cell}",
                account.name()
            )));
        }
        refuse_broken(account)?;
    }
    for other in known.others.iter().flatten() {
        if other.account_id != account_id || other.cell == cell || other.cell >= known.cells {
            return Err(LedgerError::Inconsistent(format!(
                "{} was read as another of the {} cells of account {account_id} than cell {cell}",
                other.name(),
                known.cells
            )));
        }
        refuse_broken(other)?;
    }
    if let Some(job) = &known.job {
        if job_id != Some(job.job_id.as_str()) {
            return Err(LedgerError::Inconsistent(format!(
                "job {} was read for {}",
                job.job_id,
                job_id.map_or_else(|| "an event without a job".into(), |j| format!("job {j}"))
            )));
        }
        job.check().map_err(LedgerError::Inconsistent)?;
    }
    check_consistent(known, account_id)
}

/// A HELD job's hold is part of its account's `held` (invariant 2): known
/// pictures where it cannot be — the job holding more than its account
/// holds in all, or holding for an account that does not exist — are of
/// different moments, or of a broken ledger.
fn check_consistent(known: &Known, account_id: &str) -> Result<(), LedgerError> {
    let Some(job) = known
        .job
        .as_ref()
        .filter(|j| j.status == JobStatus::Held && j.account_id == account_id)
    else {
        return Ok(());
    };
    let hold = job.hold.unwrap_or(0);
    match &known.account {
        Some(account) if hold > account.held => Err(LedgerError::Inconsistent(format!(
            "job {} holds {hold} but account {} holds {} in all",
            job.job_id, account.account_id, account.held
        ))),
        None => Err(LedgerError::Inconsistent(format!(
            "job {} is HELD holding {hold} for account {account_id}, which does not exist",
            job.job_id
        ))),
        _ => Ok(()),
    }
}

/// A HELD job's hold ([`check_known`] made sure it has one).
fn hold_of(job: &Job) -> Result<i64, LedgerError> {
    job.hold.ok_or_else(|| shapeless(job))
}

/// A job without what its status requires ([`Job::check`]).
fn shapeless(job: &Job) -> LedgerError {
    LedgerError::Inconsistent(
        job.check()
            .err()
            .unwrap_or_else(|| format!("job {} is {}", job.job_id, job.status)),
    )
}

fn new_job(job_id: &str, account_id: &str, cell: u32, status: JobStatus) -> Job {
    Job {
        job_id: job_id.into(),
        account_id: account_id.into(),
        cell,
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
