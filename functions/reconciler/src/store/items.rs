//! The ledger table's items and their mapping to the core's types.
//!
//! One table, keys `pk`/`sk` (see ARCHITECTURE.md, "The ledger table"):
//!
//! | item    | pk               | sk                 | open-items index (sparse)           |
//! |---------|------------------|--------------------|-------------------------------------|
//! | account | `ACCOUNT#<id>`   | `ACCOUNT`          | `AUDIT` / `<id>` until audited      |
//! | audit checkpoint | `ACCOUNT#<id>` | `AUDIT`     | — (sweep only, see `store::sweep`)  |
//! | entry   | `ACCOUNT#<id>`   | `ENTRY#<seq:020>`  | —                                   |
//! | job     | `JOB#<id>`       | `JOB`              | `HELD` / `<held_at_ms:015>#<hash of id>` while HELD |
//! | grant   | `GRANT#<id>`     | `GRANT`            | —                                   |
//! | conflict| `CONFLICT#<key>` | `<payload hash>`   | `CONFLICT` / `<at_ms:015>#<hash of key, payload>` |
//! | sweep   | `SWEEP`          | `STATE`            | —                                   |
//!
//! Items are (de)serialized with `serde_dynamo`; no hand-written attribute plumbing.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::ledger::{Account, Entry, EntryKind, Grant, Job, JobStatus};
use serde::{Deserialize, Serialize};

pub type Item = HashMap<String, AttributeValue>;

pub const OPEN_INDEX: &str = "open-items";
pub const OPEN_HELD: &str = "HELD";
pub const OPEN_AUDIT: &str = "AUDIT";
pub const OPEN_CONFLICT: &str = "CONFLICT";

pub fn account_key(account_id: &str) -> Item {
    key(format!("ACCOUNT#{account_id}"), "ACCOUNT".into())
}
pub fn job_key(job_id: &str) -> Item {
    key(format!("JOB#{job_id}"), "JOB".into())
}
pub fn grant_key(grant_id: &str) -> Item {
    key(format!("GRANT#{grant_id}"), "GRANT".into())
}
/// The sweep's own state (`SWEEP` / `STATE`).
pub fn sweep_state_key() -> Item {
    key("SWEEP".into(), "STATE".into())
}
pub fn entry_sk(seq: u64) -> String {
    format!("ENTRY#{seq:020}")
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk)),
        ("sk".to_string(), AttributeValue::S(sk)),
    ])
}

/// Open-index sort key of a HELD job: ordered by when the hold was taken,
/// made unique by a hash of the job id (index sort keys are capped at 1,024
/// bytes; a job id may be 256 characters of up to 4 bytes each).
pub fn held_open_key(held_at_ms: i64, job_id: &str) -> String {
    format!("{held_at_ms:015}#{}", &fingerprint(job_id)[..32])
}

/// A stable fingerprint (SHA-256, hex), for idempotent records and index keys.
pub fn fingerprint(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub seq: u64,
    pub overdrafts: u64,
    pub holds: BTreeMap<String, i64>,
    pub updated_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_key: Option<String>,
}

impl AccountItem {
    /// The account item after a money-moving write: it awaits the next audit.
    pub fn new(a: &Account, now_ms: i64) -> Self {
        AccountItem {
            pk: format!("ACCOUNT#{}", a.account_id),
            sk: "ACCOUNT".into(),
            account_id: a.account_id.clone(),
            available: a.available,
            held: a.held,
            granted: a.granted,
            debited: a.debited,
            seq: a.seq,
            overdrafts: a.overdrafts,
            holds: a.holds.clone(),
            updated_at_ms: now_ms,
            open_kind: Some(OPEN_AUDIT.into()),
            open_key: Some(a.account_id.clone()),
        }
    }

    pub fn account(&self) -> Account {
        Account {
            account_id: self.account_id.clone(),
            available: self.available,
            held: self.held,
            granted: self.granted,
            debited: self.debited,
            seq: self.seq,
            overdrafts: self.overdrafts,
            holds: self.holds.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobItem {
    pub pk: String,
    pub sk: String,
    pub job_id: String,
    pub account_id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debited: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at_ms: Option<i64>,
    pub updated_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_key: Option<String>,
}

impl JobItem {
    pub fn new(job: &Job, now_ms: i64) -> Self {
        let held = job.status == JobStatus::Held;
        JobItem {
            pk: format!("JOB#{}", job.job_id),
            sk: "JOB".into(),
            job_id: job.job_id.clone(),
            account_id: job.account_id.clone(),
            status: job.status.as_str().into(),
            requested: job.requested,
            hold: job.hold,
            debited: job.debited,
            reason: job.reason.clone(),
            held_at_ms: held.then_some(now_ms),
            updated_at_ms: now_ms,
            open_kind: held.then(|| OPEN_HELD.into()),
            open_key: held.then(|| held_open_key(now_ms, &job.job_id)),
        }
    }

    pub fn job(&self) -> Result<Job, String> {
        Ok(Job {
            job_id: self.job_id.clone(),
            account_id: self.account_id.clone(),
            status: JobStatus::parse(&self.status)
                .ok_or_else(|| format!("job {}: unknown status {:?}", self.job_id, self.status))?,
            requested: self.requested,
            hold: self.hold,
            debited: self.debited,
            reason: self.reason.clone(),
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantItem {
    pub pk: String,
    pub sk: String,
    pub grant_id: String,
    pub account_id: String,
    pub credits: i64,
    pub event_id: String,
    pub at_ms: i64,
}

impl GrantItem {
    pub fn new(g: &Grant, event_id: &str, now_ms: i64) -> Self {
        GrantItem {
            pk: format!("GRANT#{}", g.grant_id),
            sk: "GRANT".into(),
            grant_id: g.grant_id.clone(),
            account_id: g.account_id.clone(),
            credits: g.credits,
            event_id: event_id.into(),
            at_ms: now_ms,
        }
    }
    pub fn grant(&self) -> Grant {
        Grant {
            grant_id: self.grant_id.clone(),
            account_id: self.account_id.clone(),
            credits: self.credits,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryItem {
    pub pk: String,
    pub sk: String,
    pub account_id: String,
    pub seq: u64,
    pub kind: String,
    pub key: String,
    pub amount: i64,
    pub available_delta: i64,
    pub held_delta: i64,
    pub granted_delta: i64,
    pub debited_delta: i64,
    pub overdraft: i64,
    pub available_after: i64,
    pub held_after: i64,
    pub event_id: String,
    pub at_ms: i64,
}

impl EntryItem {
    pub fn new(e: &Entry) -> Self {
        EntryItem {
            pk: format!("ACCOUNT#{}", e.account_id),
            sk: entry_sk(e.seq),
            account_id: e.account_id.clone(),
            seq: e.seq,
            kind: e.kind.as_str().into(),
            key: e.key.clone(),
            amount: e.amount,
            available_delta: e.available_delta,
            held_delta: e.held_delta,
            granted_delta: e.granted_delta,
            debited_delta: e.debited_delta,
            overdraft: e.overdraft,
            available_after: e.available_after,
            held_after: e.held_after,
            event_id: e.event_id.clone(),
            at_ms: e.at_ms,
        }
    }

    pub fn entry(&self) -> Result<Entry, String> {
        Ok(Entry {
            account_id: self.account_id.clone(),
            seq: self.seq,
            kind: EntryKind::parse(&self.kind)
                .ok_or_else(|| format!("entry {}: unknown kind {:?}", self.sk, self.kind))?,
            key: self.key.clone(),
            amount: self.amount,
            available_delta: self.available_delta,
            held_delta: self.held_delta,
            granted_delta: self.granted_delta,
            debited_delta: self.debited_delta,
            overdraft: self.overdraft,
            available_after: self.available_after,
            held_after: self.held_after,
            event_id: self.event_id.clone(),
            at_ms: self.at_ms,
        })
    }
}

/// A conflict, kept for a human (listed by the next sweep, expires after 90 days).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConflictItem {
    pub pk: String,
    pub sk: String,
    pub key: String,
    pub account_id: String,
    pub detail_type: String,
    pub detail: String,
    pub reason: String,
    pub event_id: String,
    pub at_ms: i64,
    pub open_kind: String,
    pub open_key: String,
    pub expires_at: i64,
}

/// What the sweep remembers between runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepStateItem {
    /// `open_key` of the last conflict record a sweep listed: the next sweep
    /// lists only records after it (a key, not a time, so a sweep stopped by
    /// its deadline half-way through one millisecond resumes exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts_listed_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_ms: Option<i64>,
}

pub fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("ledger items always serialize")
}

pub fn from_item<T: for<'de> Deserialize<'de>>(item: Item, what: &str) -> Result<T, String> {
    serde_dynamo::from_item(item).map_err(|e| format!("malformed {what} item: {e}"))
}
