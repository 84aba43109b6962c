//! The ledger table's items and their mapping to the core's types (keys:
//! [`super::keys`]). Items are (de)serialized with `serde_dynamo`, and every
//! item read is validated before anything is decided on it: its format
//! version, its key against its content, the core's rules for its type. A
//! stored item that fails is *malformed*: an error naming the item, never a
//! panic and never a retry.
//!
//! Every item carries `v`, the item format version ([`FORMAT_VERSION`]), so
//! that a change of layout can migrate: a reader refuses a version it does
//! not know instead of misreading it, and reads the ones it does
//! ([`readable`]: formats 1 to 3).

use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::audit::Balances;
use reconciler_core::event::Event;
use reconciler_core::ledger::{
    Account, Adjustment, ConflictReason, Entry, EntryKind, Grant, Job, JobStatus, Meta,
};
use serde::{Deserialize, Serialize};

use super::keys::{self, ACCOUNT_SK, ADJUSTMENT_SK, AUDIT_SK, GRANT_SK, Item, JOB_SK};

/// The item format this code writes. Format 3 adds cells: an account split
/// over several items (`CELL#<k>#<id>`), and the attributes that say so —
/// `cell`, `cells`, `transferred` and `owing` on an account, `cell` on a
/// job and an entry, `transferred_delta` on an entry, `audited_transferred`
/// on a checkpoint — each absent when it is its unsplit value (0, 1,
/// false), so that an item of format 2 reads as an account never split.
/// Format 2 spread the open-items index over shards (`HELD#<shard>`,
/// `AUDIT#<shard>`, `CONFLICT#<shard>`); format 1 put each kind under one
/// key.
pub const FORMAT_VERSION: u32 = 3;

/// The oldest item format this code reads: an item of format 1 is read as
/// it is (its fields are format 2's), and becomes format 2 when next
/// written; its index entry stays under the unsharded key, which the sweep
/// still reads, until it leaves the index (ARCHITECTURE.md, "Migrating
/// from item format 1").
pub const OLDEST_READABLE_VERSION: u32 = 1;

/// Whether this code reads items of format `v`.
pub fn readable(v: u32) -> bool {
    (OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&v)
}

/// Checks an item's format version.
fn version(v: u32, what: &str) -> Result<(), String> {
    if readable(v) {
        Ok(())
    } else {
        Err(format!(
            "{what} has item format version {v}; this code reads versions \
             {OLDEST_READABLE_VERSION} to {FORMAT_VERSION} \
             (deploy the code that wrote it, or migrate the item)"
        ))
    }
}

fn key_matches(what: &str, pk: &str, expected: &str) -> Result<(), String> {
    if pk == expected {
        Ok(())
    } else {
        Err(format!(
            "{what} is stored under key {pk:?} but names {expected:?}"
        ))
    }
}

/// `ACCOUNT#<id>` / `ACCOUNT`: the balances. No map of holds: an account's
/// item stays the same size however many jobs it has open (the holds live
/// on the jobs; ARCHITECTURE.md, "The ledger table").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub account_id: String,
    /// Which cell of the account (absent: the home cell, 0).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub cell: u32,
    /// On the home cell of a split account: how many cells it has.
    #[serde(default, skip_serializing_if = "is_one_or_less")]
    pub cells: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transferred: i64,
    #[serde(default, skip_serializing_if = "is_false")]
    pub owing: bool,
    pub available: i64,
    pub held: i64,
    pub granted: i64,
    pub debited: i64,
    pub adjusted: i64,
    pub seq: u64,
    pub overdrafts: u64,
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
            pk: keys::cell_pk(&a.account_id, a.cell),
            sk: ACCOUNT_SK.into(),
            v: FORMAT_VERSION,
            account_id: a.account_id.clone(),
            cell: a.cell,
            cells: a.cells,
            transferred: a.transferred,
            owing: a.owing,
            available: a.available,
            held: a.held,
            granted: a.granted,
            debited: a.debited,
            adjusted: a.adjusted,
            seq: a.seq,
            overdrafts: a.overdrafts,
            updated_at_ms: now_ms,
            open_kind: Some(keys::audit_open_kind(&a.account_id)),
            open_key: Some(a.account_id.clone()),
        }
    }

    /// The account, validated.
    pub fn account(&self) -> Result<Account, String> {
        let what = format!("account item {}", self.pk);
        version(self.v, &what)?;
        key_matches(&what, &self.pk, &keys::cell_pk(&self.account_id, self.cell))?;
        if self.sk != ACCOUNT_SK {
            return Err(format!("{what} has sort key {:?}", self.sk));
        }
        if !(self.cell == 0 || self.cells <= 1) {
            return Err(format!("{what} is cell {} yet counts cells", self.cell));
        }
        if self.cells > reconciler_core::cells::MAX_CELLS {
            return Err(format!(
                "{what} counts {} cells, more than {}",
                self.cells,
                reconciler_core::cells::MAX_CELLS
            ));
        }
        Ok(Account {
            account_id: self.account_id.clone(),
            cell: self.cell,
            cells: self.cells,
            transferred: self.transferred,
            owing: self.owing,
            available: self.available,
            held: self.held,
            granted: self.granted,
            debited: self.debited,
            adjusted: self.adjusted,
            seq: self.seq,
            overdrafts: self.overdrafts,
        })
    }
}

/// `JOB#<id>` / `JOB`: a job's status, its hold while HELD, and the entries
/// that moved its money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub job_id: String,
    pub account_id: String,
    /// The cell of its account its money moves in (absent: 0).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub cell: u32,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debited: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The account entries that moved its money, in order.
    #[serde(default)]
    pub entries: Vec<u64>,
    /// The event (or sweep run) that applied its `video.requested`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_event: Option<String>,
    /// The event (or sweep run) that last settled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_at_ms: Option<i64>,
    /// The invocation (Lambda request id, or sweep run) that last wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub updated_at_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_key: Option<String>,
}

impl JobItem {
    /// A new job item (its first transition), written by event `event_id`.
    pub fn new(job: &Job, event_id: &str, now_ms: i64) -> Self {
        let held = job.status == JobStatus::Held;
        let requested = matches!(job.status, JobStatus::Held | JobStatus::Rejected);
        JobItem {
            pk: keys::job_pk(&job.job_id),
            sk: JOB_SK.into(),
            v: FORMAT_VERSION,
            job_id: job.job_id.clone(),
            account_id: job.account_id.clone(),
            cell: job.cell,
            status: job.status.as_str().into(),
            requested: job.requested,
            hold: job.hold,
            debited: job.debited,
            reason: job.reason.clone(),
            entries: job.entries.clone(),
            request_event: requested.then(|| event_id.to_owned()),
            settle_event: (!requested).then(|| event_id.to_owned()),
            held_at_ms: held.then_some(now_ms),
            request_id: None,
            updated_at_ms: now_ms,
            open_kind: held.then(|| keys::held_open_kind(&job.job_id)),
            open_key: held.then(|| keys::held_open_key(now_ms, &job.job_id)),
        }
    }

    /// The same item, written by invocation `request_id`.
    pub fn by(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }

    /// The job, validated.
    pub fn job(&self) -> Result<Job, String> {
        let what = format!("job item {}", self.pk);
        version(self.v, &what)?;
        key_matches(&what, &self.pk, &keys::job_pk(&self.job_id))?;
        let status = JobStatus::parse(&self.status)
            .ok_or_else(|| format!("{what} has an unknown status {:?}", self.status))?;
        let job = Job {
            job_id: self.job_id.clone(),
            account_id: self.account_id.clone(),
            cell: self.cell,
            status,
            requested: self.requested,
            hold: self.hold,
            debited: self.debited,
            reason: self.reason.clone(),
            entries: self.entries.clone(),
        };
        job.check().map_err(|e| format!("{what}: {e}"))?;
        Ok(job)
    }
}

/// `GRANT#<id>` / `GRANT`: the idempotency record of `credits.granted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub grant_id: String,
    pub account_id: String,
    pub credits: i64,
    pub event_id: String,
    pub at_ms: i64,
}

impl GrantItem {
    pub fn new(g: &Grant, event_id: &str, now_ms: i64) -> Self {
        GrantItem {
            pk: keys::grant_pk(&g.grant_id),
            sk: GRANT_SK.into(),
            v: FORMAT_VERSION,
            grant_id: g.grant_id.clone(),
            account_id: g.account_id.clone(),
            credits: g.credits,
            event_id: event_id.into(),
            at_ms: now_ms,
        }
    }

    pub fn grant(&self) -> Result<Grant, String> {
        let what = format!("grant item {}", self.pk);
        version(self.v, &what)?;
        key_matches(&what, &self.pk, &keys::grant_pk(&self.grant_id))?;
        Ok(Grant {
            grant_id: self.grant_id.clone(),
            account_id: self.account_id.clone(),
            credits: self.credits,
        })
    }
}

/// `ADJUSTMENT#<id>` / `ADJUSTMENT`: the idempotency record of an operator's
/// correction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdjustmentItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub adjustment_id: String,
    pub account_id: String,
    pub credits: i64,
    pub reason: String,
    pub event_id: String,
    pub at_ms: i64,
}

impl AdjustmentItem {
    pub fn new(a: &Adjustment, event_id: &str, now_ms: i64) -> Self {
        AdjustmentItem {
            pk: keys::adjustment_pk(&a.adjustment_id),
            sk: ADJUSTMENT_SK.into(),
            v: FORMAT_VERSION,
            adjustment_id: a.adjustment_id.clone(),
            account_id: a.account_id.clone(),
            credits: a.credits,
            reason: a.reason.clone(),
            event_id: event_id.into(),
            at_ms: now_ms,
        }
    }

    pub fn adjustment(&self) -> Result<Adjustment, String> {
        let what = format!("adjustment item {}", self.pk);
        version(self.v, &what)?;
        key_matches(&what, &self.pk, &keys::adjustment_pk(&self.adjustment_id))?;
        Ok(Adjustment {
            adjustment_id: self.adjustment_id.clone(),
            account_id: self.account_id.clone(),
            credits: self.credits,
            reason: self.reason.clone(),
        })
    }
}

/// `ACCOUNT#<id>` / `ENTRY#<seq>`: one append-only ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub cell: u32,
    pub seq: u64,
    pub kind: String,
    pub key: String,
    pub amount: i64,
    pub available_delta: i64,
    pub held_delta: i64,
    pub granted_delta: i64,
    pub debited_delta: i64,
    pub adjusted_delta: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub transferred_delta: i64,
    pub overdraft: i64,
    pub available_after: i64,
    pub held_after: i64,
    pub event_id: String,
    /// The invocation (Lambda request id, or sweep run) that wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    pub at_ms: i64,
}

impl EntryItem {
    pub fn new(e: &Entry) -> Self {
        EntryItem {
            pk: keys::cell_pk(&e.account_id, e.cell),
            sk: keys::entry_sk(e.seq),
            v: FORMAT_VERSION,
            account_id: e.account_id.clone(),
            cell: e.cell,
            seq: e.seq,
            kind: e.kind.as_str().into(),
            key: e.key.clone(),
            amount: e.amount,
            available_delta: e.available_delta,
            held_delta: e.held_delta,
            granted_delta: e.granted_delta,
            debited_delta: e.debited_delta,
            adjusted_delta: e.adjusted_delta,
            transferred_delta: e.transferred_delta,
            overdraft: e.overdraft,
            available_after: e.available_after,
            held_after: e.held_after,
            event_id: e.event_id.clone(),
            request_id: None,
            at_ms: e.at_ms,
        }
    }

    /// The same item, written by invocation `request_id`.
    pub fn by(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }

    pub fn entry(&self) -> Result<Entry, String> {
        let what = format!("entry item {} {}", self.pk, self.sk);
        version(self.v, &what)?;
        key_matches(&what, &self.pk, &keys::cell_pk(&self.account_id, self.cell))?;
        key_matches(&what, &self.sk, &keys::entry_sk(self.seq))?;
        Ok(Entry {
            account_id: self.account_id.clone(),
            cell: self.cell,
            seq: self.seq,
            kind: EntryKind::parse(&self.kind)
                .ok_or_else(|| format!("{what} has an unknown kind {:?}", self.kind))?,
            key: self.key.clone(),
            amount: self.amount,
            available_delta: self.available_delta,
            held_delta: self.held_delta,
            granted_delta: self.granted_delta,
            debited_delta: self.debited_delta,
            adjusted_delta: self.adjusted_delta,
            transferred_delta: self.transferred_delta,
            overdraft: self.overdraft,
            available_after: self.available_after,
            held_after: self.held_after,
            event_id: self.event_id.clone(),
            at_ms: self.at_ms,
        })
    }
}

/// `CONFLICT#<key>` / `<payload hash>`: a conflict, kept for a human (listed
/// by the next sweep, expires after 90 days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    /// The business key, transition spelling (`BusinessKey::transition`).
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

/// Conflict records are kept this long for a human, then expire (TTL).
const CONFLICT_RETENTION_SECONDS: i64 = 90 * 24 * 3600;

impl ConflictItem {
    /// The handler's record of `event`, a conflict for `reason`, seen at
    /// `meta.at_ms`: one record per business key and payload.
    pub fn new(event: &Event, reason: &ConflictReason, meta: &Meta) -> Self {
        let key = event.business_key();
        let detail = event.to_detail().to_string();
        let open_key = keys::conflict_open_key(meta.at_ms, &key, &detail);
        ConflictItem {
            pk: keys::conflict_pk(&key),
            sk: keys::fingerprint(&detail),
            v: FORMAT_VERSION,
            open_kind: keys::conflict_open_kind(&key),
            open_key,
            key: key.transition(),
            account_id: event.account_id().into(),
            detail_type: event.detail_type().into(),
            detail,
            reason: reason.to_string(),
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
            expires_at: meta.at_ms / 1000 + CONFLICT_RETENTION_SECONDS,
        }
    }
}

/// A HELD job as the open-items index shows it: what the sweep needs to
/// expire it (the index is eventually consistent: the expiry reads the job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenHold {
    pub v: u32,
    pub job_id: String,
    pub account_id: String,
    pub hold: i64,
    pub held_at_ms: i64,
}

/// `ACCOUNT#<id>` / `AUDIT`: how far the audits of an account have proven
/// it: its entries `1..=audited_seq` sum to these balances, and its
/// `audited_held` was the holds of its HELD jobs then. Written only by the
/// sweep, only forward: with the removal of the account's audit mark when
/// the whole window is proven clean, and on its own as a long window is
/// proven page by page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditCheckpointItem {
    pub pk: String,
    pub sk: String,
    pub v: u32,
    pub account_id: String,
    pub audited_seq: u64,
    pub audited_available: i64,
    pub audited_held: i64,
    pub audited_granted: i64,
    pub audited_debited: i64,
    pub audited_adjusted: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audited_transferred: i64,
    pub audited_at_ms: i64,
    /// The sweep run that audited it.
    pub run_id: String,
}

impl AuditCheckpointItem {
    /// The checkpoint of an audit of cell `cell` of `account_id` that
    /// proved its entries `1..=audited.seq` sum to `audited`, every hold
    /// among them verified.
    pub fn new(account_id: &str, cell: u32, audited: &Balances, now_ms: i64, run_id: &str) -> Self {
        AuditCheckpointItem {
            pk: keys::cell_pk(account_id, cell),
            sk: AUDIT_SK.into(),
            v: FORMAT_VERSION,
            account_id: account_id.to_owned(),
            audited_seq: audited.seq,
            audited_available: audited.available,
            audited_held: audited.held,
            audited_granted: audited.granted,
            audited_debited: audited.debited,
            audited_adjusted: audited.adjusted,
            audited_transferred: audited.transferred,
            audited_at_ms: now_ms,
            run_id: run_id.into(),
        }
    }

    /// The balances the checkpoint vouches for.
    pub fn balances(&self) -> Balances {
        Balances {
            available: self.audited_available,
            held: self.audited_held,
            granted: self.audited_granted,
            debited: self.audited_debited,
            adjusted: self.audited_adjusted,
            transferred: self.audited_transferred,
            seq: self.audited_seq,
        }
    }
}

/// What the sweep remembers between runs (`SWEEP` / `STATE`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepStateItem {
    pub v: u32,
    /// `open_key` of the last conflict record a sweep listed: the next sweep
    /// lists only records after it (a key, not a time, so a sweep stopped by
    /// its deadline half-way through one millisecond resumes exactly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicts_listed_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at_ms: Option<i64>,
}

impl Default for SweepStateItem {
    fn default() -> Self {
        SweepStateItem {
            v: FORMAT_VERSION,
            conflicts_listed_until: None,
            updated_at_ms: None,
        }
    }
}

// Serde's `skip_serializing_if` takes a path to a function of a reference.
#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_one_or_less(n: &u32) -> bool {
    *n <= 1
}

#[allow(clippy::trivially_copy_pass_by_ref)]
fn is_false(b: &bool) -> bool {
    !*b
}

/// An item as the SDK carries it.
///
/// # Panics
/// Never for the ledger's items, which are plain structs of strings and
/// numbers.
pub fn to_item<T: Serialize>(value: &T) -> Item {
    serde_dynamo::to_item(value).expect("ledger items always serialize")
}

/// Reads an item of type `T`; `what` names it in the error.
pub fn from_item<T: for<'de> Deserialize<'de>>(item: Item, what: &str) -> Result<T, String> {
    let key = describe_key(&item);
    serde_dynamo::from_item(item).map_err(|e| format!("malformed {what} item {key}: {e}"))
}

/// `pk / sk` of an item, for messages.
pub fn describe_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => "?".into(),
    };
    format!(
        "{} / {}",
        part(reconciler_core::contract::table::PARTITION_KEY),
        part(reconciler_core::contract::table::SORT_KEY)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Job {
        Job {
            job_id: "j1".into(),
            account_id: "a1".into(),
            cell: 0,
            status: JobStatus::Held,
            requested: Some(5),
            hold: Some(5),
            debited: None,
            reason: None,
            entries: vec![2],
        }
    }

    #[test]
    fn items_round_trip_through_the_sdk_form() {
        let item = JobItem::new(&job(), "e1", 7);
        let back: JobItem = from_item(to_item(&item), "job").unwrap();
        assert_eq!(back.job().unwrap(), job());
        assert_eq!(back.request_event.as_deref(), Some("e1"));
        assert_eq!(back.open_kind.as_deref(), Some("HELD#06"));
        let mut account = Account::new("a1");
        account.available = 3;
        account.adjusted = 3;
        account.seq = 1;
        let item = AccountItem::new(&account, 1);
        let back: AccountItem = from_item(to_item(&item), "account").unwrap();
        assert_eq!(back.account().unwrap(), account);
        assert_eq!(back.open_kind.as_deref(), Some("AUDIT#15"));
    }

    /// An item written by format 1 (its index entry under the unsharded
    /// key) is read as it is: the migration is by writing, not by refusal.
    /// A split account's cell: its own partition key, its attributes of
    /// cells written only when they are not an unsplit account's, read back
    /// whole; a cell past its home that counts cells, or more than 32, is
    /// malformed.
    #[test]
    fn a_cell_of_a_split_account_round_trips_under_its_own_key() {
        let cell = Account {
            available: 5,
            transferred: 5,
            owing: true,
            seq: 1,
            ..Account::in_cell("a1", 3)
        };
        let item = to_item(&AccountItem::new(&cell, 1));
        assert_eq!(item["pk"], AttributeValue::S("CELL#3#a1".into()));
        assert!(!item.contains_key("cells"));
        let back: AccountItem = from_item(item, "account").unwrap();
        assert_eq!(back.account(), Ok(cell.clone()));
        let plain = to_item(&AccountItem::new(&Account::new("a1"), 1));
        for absent in ["cell", "cells", "transferred", "owing"] {
            assert!(!plain.contains_key(absent), "{absent}");
        }
        let mut counts = AccountItem::new(&cell, 1);
        counts.cells = 4;
        assert!(counts.account().unwrap_err().contains("yet counts cells"));
        let mut home = AccountItem::new(&Account::new("a1"), 1);
        home.cells = 33;
        assert!(home.account().unwrap_err().contains("more than 32"));
    }

    #[test]
    fn an_item_of_format_1_is_read() {
        let mut old = JobItem::new(&job(), "e1", 7);
        old.v = 1;
        old.open_kind = Some("HELD".into());
        let back: JobItem = from_item(to_item(&old), "job").unwrap();
        assert_eq!(back.job().unwrap(), job());
        let mut account = AccountItem::new(&Account::new("a1"), 1);
        account.v = 1;
        account.open_kind = Some("AUDIT".into());
        assert_eq!(account.account().unwrap(), Account::new("a1"));
    }

    #[test]
    fn a_malformed_item_is_refused_with_its_key_named() {
        let mut held = JobItem::new(&job(), "e1", 7);
        held.hold = None;
        let err = held.job().unwrap_err();
        assert!(
            err.contains("JOB#j1") && err.contains("no valid hold"),
            "{err}"
        );

        let mut moved = AccountItem::new(&Account::new("a1"), 1);
        moved.account_id = "a2".into();
        let err = moved.account().unwrap_err();
        assert!(
            err.contains("ACCOUNT#a1") && err.contains("ACCOUNT#a2"),
            "{err}"
        );

        let mut newer = AccountItem::new(&Account::new("a1"), 1);
        newer.v = 4;
        assert!(newer.account().unwrap_err().contains("format version 4"));
        let mut none = AccountItem::new(&Account::new("a1"), 1);
        none.v = 0;
        assert!(none.account().unwrap_err().contains("format version 0"));

        let mut item = to_item(&AccountItem::new(&Account::new("a1"), 1));
        item.insert("available".into(), AttributeValue::S("lots".into()));
        let err = from_item::<AccountItem>(item, "account").unwrap_err();
        assert!(err.contains("ACCOUNT#a1 / ACCOUNT"), "{err}");

        let mut status = JobItem::new(&job(), "e1", 7);
        status.status = "PAUSED".into();
        assert!(status.job().unwrap_err().contains("unknown status"));
    }
}
