//! The business key: what an effect is applied once by (the contract's
//! idempotency key). A grant by its `grant_id`, an adjustment by its
//! `adjustment_id`, a job's transition by its `job_id` and which transition
//! it is; the EventBridge `id` never counts.
//!
//! One key, **two spellings**, both stored today and both kept as they are
//! (rewriting either would change what is in the table):
//!
//! | effect | [`BusinessKey::transition`] | [`BusinessKey::entry`] |
//! |---|---|---|
//! | a grant | `grant:<grant_id>` | `grant:<grant_id>` |
//! | an adjustment | `adjustment:<adjustment_id>` | `adjustment:<adjustment_id>` |
//! | `video.requested` | `job:<job_id>:video.requested` | `job:<job_id>:hold` |
//! | `video.rendered` | `job:<job_id>:video.rendered` | `job:<job_id>:debit` |
//! | `video.failed` | `job:<job_id>:video.failed` | `job:<job_id>:refund` |
//! | the sweep's expiry | `job:<job_id>:expire` | `job:<job_id>:expire` |
//! | a transfer between cells | `transfer:<job_id>` | `transfer:<job_id>` |
//!
//! A transfer is the one key that is not an event's: it moves credits
//! between two cells of one account (see [`crate::ledger::gather`]) so that
//! the hold of `<job_id>` fits in its cell. It is applied once by the guard
//! on the cells it moves, not by its key, and names no job's history.
//!
//! - The **transition** spelling names the event by its detail-type, what a
//!   person holding the event has in hand. It is the conflict record's
//!   partition key (`CONFLICT#<key>`) and its `key` attribute, the handler's
//!   log field `business_key`, and the seed of the transaction's request
//!   token.
//! - The **entry** spelling names the money movement. It is the `key`
//!   attribute of every ledger entry, and what the audit reads a job out of.
//!
//! Ids may contain `:`: a key is read by its prefix and, for jobs, by the
//! known suffixes, so every id round-trips.

use std::fmt;

use crate::event::{VIDEO_FAILED, VIDEO_RENDERED, VIDEO_REQUESTED};
use crate::ledger::EntryKind;

const GRANT: &str = "grant:";
const ADJUSTMENT: &str = "adjustment:";
const JOB: &str = "job:";
const TRANSFER: &str = "transfer:";
/// The sweep's expiry: not an event, so no detail-type; both spellings.
const EXPIRE: &str = "expire";

/// Which transition of a job a key is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobStep {
    /// `video.requested`: the hold (or the rejection, which moves no money).
    Requested,
    /// `video.rendered`: the debit.
    Rendered,
    /// `video.failed`: the refund (or a tombstone, which moves no money).
    Failed,
    /// The sweep's expiry of a HELD job.
    Expired,
}

impl JobStep {
    pub const ALL: [JobStep; 4] = [
        JobStep::Requested,
        JobStep::Rendered,
        JobStep::Failed,
        JobStep::Expired,
    ];

    /// The last part of the transition spelling: the event's detail-type,
    /// `expire` for the sweep.
    pub fn transition(self) -> &'static str {
        match self {
            JobStep::Requested => VIDEO_REQUESTED,
            JobStep::Rendered => VIDEO_RENDERED,
            JobStep::Failed => VIDEO_FAILED,
            JobStep::Expired => EXPIRE,
        }
    }

    /// The kind of the entry the step writes when it moves money; its word
    /// is the last part of the entry spelling.
    pub fn entry_kind(self) -> EntryKind {
        match self {
            JobStep::Requested => EntryKind::Hold,
            JobStep::Rendered => EntryKind::Debit,
            JobStep::Failed => EntryKind::Refund,
            JobStep::Expired => EntryKind::Expire,
        }
    }
}

/// The key an effect is applied once by; render it with
/// [`transition`](BusinessKey::transition) or [`entry`](BusinessKey::entry)
/// (see the module's table for which one goes where).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum BusinessKey {
    Grant {
        grant_id: String,
    },
    Adjustment {
        adjustment_id: String,
    },
    Job {
        job_id: String,
        step: JobStep,
    },
    /// Credits moved between an account's cells for the hold of `job_id`.
    Transfer {
        job_id: String,
    },
}

/// The two spellings of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Spelling {
    Transition,
    Entry,
}

impl Spelling {
    fn name(self) -> &'static str {
        match self {
            Spelling::Transition => "transition",
            Spelling::Entry => "entry",
        }
    }

    fn suffix(self, step: JobStep) -> &'static str {
        match self {
            Spelling::Transition => step.transition(),
            Spelling::Entry => step.entry_kind().as_str(),
        }
    }

    fn expected(self) -> String {
        let steps: Vec<&str> = JobStep::ALL.iter().map(|s| self.suffix(*s)).collect();
        format!(
            "grant:<id>, adjustment:<id>, transfer:<id> or job:<id>:<{}>",
            steps.join("|")
        )
    }
}

/// A text that is not a business key in the spelling it was read in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadKey {
    pub text: String,
    pub problem: String,
}

impl fmt::Display for BadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not a business key: {}", self.text, self.problem)
    }
}

impl std::error::Error for BadKey {}

/// A key's parts, borrowed from its text.
enum Parts<'a> {
    Grant(&'a str),
    Adjustment(&'a str),
    Transfer(&'a str),
    Job(&'a str, JobStep),
}

fn parts(text: &str, spelling: Spelling) -> Result<Parts<'_>, BadKey> {
    let bad = |problem: String| BadKey {
        text: text.to_owned(),
        problem,
    };
    let parts = if let Some(id) = text.strip_prefix(GRANT) {
        Parts::Grant(id)
    } else if let Some(id) = text.strip_prefix(ADJUSTMENT) {
        Parts::Adjustment(id)
    } else if let Some(id) = text.strip_prefix(TRANSFER) {
        Parts::Transfer(id)
    } else if let Some(rest) = text.strip_prefix(JOB) {
        JobStep::ALL
            .into_iter()
            .find_map(|step| {
                let id = rest
                    .strip_suffix(spelling.suffix(step))?
                    .strip_suffix(':')?;
                Some(Parts::Job(id, step))
            })
            .ok_or_else(|| {
                bad(format!(
                    "a job's {} key ends in one of its steps: expected {}",
                    spelling.name(),
                    spelling.expected()
                ))
            })?
    } else {
        return Err(bad(format!("expected {}", spelling.expected())));
    };
    let id = match parts {
        Parts::Grant(id) | Parts::Adjustment(id) | Parts::Transfer(id) | Parts::Job(id, _) => id,
    };
    if id.is_empty() {
        return Err(bad("its id is empty".into()));
    }
    Ok(parts)
}

/// The job an entry's key names (entry spelling), borrowed from the text;
/// `None` for grants, adjustments, transfers and what is not a key.
pub(crate) fn entry_job_id(text: &str) -> Option<&str> {
    match parts(text, Spelling::Entry) {
        Ok(Parts::Job(job_id, _)) => Some(job_id),
        _ => None,
    }
}

impl BusinessKey {
    pub fn grant(grant_id: impl Into<String>) -> Self {
        BusinessKey::Grant {
            grant_id: grant_id.into(),
        }
    }

    pub fn adjustment(adjustment_id: impl Into<String>) -> Self {
        BusinessKey::Adjustment {
            adjustment_id: adjustment_id.into(),
        }
    }

    pub fn transfer(job_id: impl Into<String>) -> Self {
        BusinessKey::Transfer {
            job_id: job_id.into(),
        }
    }

    pub fn job(job_id: impl Into<String>, step: JobStep) -> Self {
        BusinessKey::Job {
            job_id: job_id.into(),
            step,
        }
    }

    /// The job it is about; `None` for grants, adjustments and transfers
    /// (a transfer is made for a job's hold but is no step of the job).
    pub fn job_id(&self) -> Option<&str> {
        match self {
            BusinessKey::Job { job_id, .. } => Some(job_id),
            BusinessKey::Grant { .. }
            | BusinessKey::Adjustment { .. }
            | BusinessKey::Transfer { .. } => None,
        }
    }

    /// The kind of the entry the effect writes when it moves money.
    pub fn entry_kind(&self) -> EntryKind {
        match self {
            BusinessKey::Grant { .. } => EntryKind::Grant,
            BusinessKey::Adjustment { .. } => EntryKind::Adjustment,
            BusinessKey::Transfer { .. } => EntryKind::Transfer,
            BusinessKey::Job { step, .. } => step.entry_kind(),
        }
    }

    /// The transition spelling (`job:<id>:<detail-type>`): conflict records,
    /// log lines, request tokens.
    pub fn transition(&self) -> String {
        self.render(Spelling::Transition)
    }

    /// The entry spelling (`job:<id>:<entry kind>`): ledger entries' `key`.
    pub fn entry(&self) -> String {
        self.render(Spelling::Entry)
    }

    /// Reads the transition spelling (the inverse of [`BusinessKey::transition`]).
    pub fn parse_transition(text: &str) -> Result<Self, BadKey> {
        Self::parse(text, Spelling::Transition)
    }

    /// Reads the entry spelling (the inverse of [`BusinessKey::entry`]).
    pub fn parse_entry(text: &str) -> Result<Self, BadKey> {
        Self::parse(text, Spelling::Entry)
    }

    fn render(&self, spelling: Spelling) -> String {
        match self {
            BusinessKey::Grant { grant_id } => format!("{GRANT}{grant_id}"),
            BusinessKey::Adjustment { adjustment_id } => format!("{ADJUSTMENT}{adjustment_id}"),
            BusinessKey::Transfer { job_id } => format!("{TRANSFER}{job_id}"),
            BusinessKey::Job { job_id, step } => {
                format!("{JOB}{job_id}:{}", spelling.suffix(*step))
            }
        }
    }

    fn parse(text: &str, spelling: Spelling) -> Result<Self, BadKey> {
        Ok(match parts(text, spelling)? {
            Parts::Grant(id) => BusinessKey::grant(id),
            Parts::Adjustment(id) => BusinessKey::adjustment(id),
            Parts::Transfer(id) => BusinessKey::transfer(id),
            Parts::Job(id, step) => BusinessKey::job(id, step),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both spellings, written out by hand from what the table holds.
    #[test]
    fn each_key_renders_in_both_spellings_as_stored() {
        let cases = [
            (BusinessKey::grant("g1"), "grant:g1", "grant:g1"),
            (
                BusinessKey::adjustment("adj-1"),
                "adjustment:adj-1",
                "adjustment:adj-1",
            ),
            (BusinessKey::transfer("j1"), "transfer:j1", "transfer:j1"),
            (
                BusinessKey::job("j1", JobStep::Requested),
                "job:j1:video.requested",
                "job:j1:hold",
            ),
            (
                BusinessKey::job("j1", JobStep::Rendered),
                "job:j1:video.rendered",
                "job:j1:debit",
            ),
            (
                BusinessKey::job("j1", JobStep::Failed),
                "job:j1:video.failed",
                "job:j1:refund",
            ),
            (
                BusinessKey::job("j1", JobStep::Expired),
                "job:j1:expire",
                "job:j1:expire",
            ),
        ];
        for (key, transition, entry) in cases {
            assert_eq!(key.transition(), transition);
            assert_eq!(key.entry(), entry);
            assert_eq!(BusinessKey::parse_transition(transition), Ok(key.clone()));
            assert_eq!(BusinessKey::parse_entry(entry), Ok(key.clone()));
        }
    }

    #[test]
    fn ids_with_colons_round_trip() {
        for step in JobStep::ALL {
            let key = BusinessKey::job("a:b:hold:c", step);
            assert_eq!(
                BusinessKey::parse_transition(&key.transition()),
                Ok(key.clone())
            );
            assert_eq!(BusinessKey::parse_entry(&key.entry()), Ok(key.clone()));
            assert_eq!(entry_job_id(&key.entry()), Some("a:b:hold:c"));
        }
        let key = BusinessKey::grant("job:x:hold");
        assert_eq!(BusinessKey::parse_entry(&key.entry()), Ok(key));
    }

    #[test]
    fn a_text_that_is_no_key_says_what_was_expected() {
        let cases = [
            (
                "job:j1:video.requested",
                "entry",
                "job:<id>:<hold|debit|refund|expire>",
            ),
            (
                "job:j1:hold",
                "transition",
                "video.requested|video.rendered",
            ),
            ("order:1", "entry", "grant:<id>"),
            ("grant:", "entry", "id is empty"),
            ("job::debit", "entry", "id is empty"),
        ];
        for (text, spelling, words) in cases {
            let err = match spelling {
                "entry" => BusinessKey::parse_entry(text),
                _ => BusinessKey::parse_transition(text),
            }
            .unwrap_err();
            assert_eq!(err.text, text);
            assert!(
                err.to_string().contains(words),
                "{err} should say {words:?}"
            );
        }
        assert_eq!(entry_job_id("grant:g1"), None);
        assert_eq!(entry_job_id("transfer:j1"), None);
        assert_eq!(entry_job_id("job:j1:video.requested"), None);
    }
}
