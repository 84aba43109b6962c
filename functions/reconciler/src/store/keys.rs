//! Every key of the ledger table, spelled once.
//!
//! | item             | pk                  | sk                 | open-items index (sparse)                   |
//! |------------------|---------------------|--------------------|---------------------------------------------|
//! | account          | `ACCOUNT#<id>`      | `ACCOUNT`          | `AUDIT#<shard>` / `<id>` until audited      |
//! | audit checkpoint | `ACCOUNT#<id>`      | `AUDIT`            | —                                           |
//! | entry            | `ACCOUNT#<id>`      | `ENTRY#<seq:020>`  | —                                           |
//! | cell `k` ≥ 1 of a split account, its checkpoint, its entries | `CELL#<k>#<id>` | as the account's | as the account's |
//! | job              | `JOB#<id>`          | `JOB`              | `HELD#<shard>` / `<held_at_ms:015>#<hash>` while HELD |
//! | grant            | `GRANT#<id>`        | `GRANT`            | —                                           |
//! | adjustment       | `ADJUSTMENT#<id>`   | `ADJUSTMENT`       | —                                           |
//! | conflict         | `CONFLICT#<key>`    | `<payload hash>`   | `CONFLICT#<shard>` / `<at_ms:015>#<hash>`   |
//! | sweep state      | `SWEEP`             | `STATE`            | —                                           |
//!
//! Index sort keys are capped at 1,024 bytes and ids may be 256 characters
//! of up to 4 bytes each: keys built from ids are hashed.
//!
//! Each kind of the index spreads over [`OPEN_SHARDS`] partition keys
//! (`<shard>`: two digits, `00` to `31`), chosen by a stable hash of the
//! job id, the account id or the business key ([`shard_of`]): one partition
//! takes at most 1,000 write units per second, and every hold and
//! settlement of the whole product writes the index, so one `HELD` key
//! would cap the product near 1,000 events/s (the bench's heat model).
//! The sweep reads every shard, and the unsharded keys of item format 1
//! ([`LEGACY_OPEN_KINDS`]) while a table written by format 1 still has
//! entries there.
//!
//! An account split into cells (`reconciler_core::cells`) keeps its home
//! cell, cell 0, where the account always was; each other cell is a
//! partition of its own, `CELL#<k>#<id>`, laid out as an account's (item,
//! checkpoint, entries), so that one busy account's writes spread over as
//! many partition keys as it has cells. `CELL#` cannot be mistaken for an
//! account's `ACCOUNT#`, whatever the id.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::contract::table;
use reconciler_core::key::BusinessKey;

/// An item, or a key, as the SDK carries it.
pub type Item = HashMap<String, AttributeValue>;

const ACCOUNT: &str = "ACCOUNT";
const CELL: &str = "CELL";
const JOB: &str = "JOB";
const GRANT: &str = "GRANT";
const ADJUSTMENT: &str = "ADJUSTMENT";
const CONFLICT: &str = "CONFLICT";
/// The sort key of an account's audit checkpoint: next to `ACCOUNT`, before
/// the `ENTRY#…` items.
pub const AUDIT_SK: &str = "AUDIT";
const ENTRY: &str = "ENTRY#";

/// The kind of HELD jobs (`open_kind` `HELD#<shard>`).
pub const OPEN_HELD: &str = "HELD";
/// The kind of accounts written since their last audit (`AUDIT#<shard>`).
pub const OPEN_AUDIT: &str = "AUDIT";
/// The kind of conflict records (`CONFLICT#<shard>`).
pub const OPEN_CONFLICT: &str = "CONFLICT";

/// How many partition keys each kind of the open-items index spreads over.
/// 32: at 10,000 events/s each shard of `HELD` takes about 310 write units
/// per second (a third of a partition's 1,000), so the index caps the
/// product near 32,000 events/s, past where one busy account caps itself;
/// the sweep pays one more query per shard and kind per run (96 in all).
/// Changing it re-keys every open item: a new item format version.
pub const OPEN_SHARDS: u32 = 32;

/// The index partition keys of item format 1, one per kind: still read by
/// the sweep (entries written before the upgrade stay there until they
/// leave the index), never written.
pub const LEGACY_OPEN_KINDS: [&str; 3] = [OPEN_HELD, OPEN_AUDIT, OPEN_CONFLICT];

/// An account's partition: its item, its audit checkpoint, its entries.
pub fn account_pk(account_id: &str) -> String {
    format!("{ACCOUNT}#{account_id}")
}

/// The account id of an account partition key.
pub fn account_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(ACCOUNT)?.strip_prefix('#')
}

/// The partition of cell `cell` of an account: the account's own for its
/// home cell (0), `CELL#<k>#<id>` for the others.
pub fn cell_pk(account_id: &str, cell: u32) -> String {
    match cell {
        0 => account_pk(account_id),
        k => format!("{CELL}#{k}#{account_id}"),
    }
}

/// The account id and cell of an account's or a cell's partition key.
pub fn cell_of_pk(pk: &str) -> Option<(&str, u32)> {
    if let Some(id) = account_of_pk(pk) {
        return Some((id, 0));
    }
    let (k, id) = pk.strip_prefix(CELL)?.strip_prefix('#')?.split_once('#')?;
    let cell: u32 = k.parse().ok()?;
    (cell > 0 && cell.to_string() == k).then_some((id, cell))
}

pub fn job_pk(job_id: &str) -> String {
    format!("{JOB}#{job_id}")
}

pub fn grant_pk(grant_id: &str) -> String {
    format!("{GRANT}#{grant_id}")
}

pub fn adjustment_pk(adjustment_id: &str) -> String {
    format!("{ADJUSTMENT}#{adjustment_id}")
}

/// A conflict record's partition: the business key in its transition
/// spelling (`CONFLICT#job:<id>:video.rendered`).
pub fn conflict_pk(business_key: &BusinessKey) -> String {
    format!("{CONFLICT}#{}", business_key.transition())
}

/// The sort key of an account's entry `seq`.
pub fn entry_sk(seq: u64) -> String {
    format!("{ENTRY}{seq:020}")
}

/// Whether a sort key is an entry's.
pub fn is_entry_sk(sk: &str) -> bool {
    sk.starts_with(ENTRY)
}

/// The sort keys an item of each kind has (besides entries and conflicts).
pub const ACCOUNT_SK: &str = ACCOUNT;
pub const JOB_SK: &str = JOB;
pub const GRANT_SK: &str = GRANT;
pub const ADJUSTMENT_SK: &str = ADJUSTMENT;

pub fn account_key(account_id: &str) -> Item {
    cell_key(account_id, 0)
}

/// The item of cell `cell` of an account (its home cell: the account's).
pub fn cell_key(account_id: &str, cell: u32) -> Item {
    key(cell_pk(account_id, cell), ACCOUNT_SK)
}

pub fn audit_checkpoint_key(account_id: &str) -> Item {
    checkpoint_key(account_id, 0)
}

/// The audit checkpoint of cell `cell` of an account.
pub fn checkpoint_key(account_id: &str, cell: u32) -> Item {
    key(cell_pk(account_id, cell), AUDIT_SK)
}

pub fn job_key(job_id: &str) -> Item {
    key(job_pk(job_id), JOB_SK)
}

pub fn grant_key(grant_id: &str) -> Item {
    key(grant_pk(grant_id), GRANT_SK)
}

pub fn adjustment_key(adjustment_id: &str) -> Item {
    key(adjustment_pk(adjustment_id), ADJUSTMENT_SK)
}

pub fn entry_key(account_id: &str, seq: u64) -> Item {
    cell_entry_key(account_id, 0, seq)
}

/// Entry `seq` of cell `cell` of an account.
pub fn cell_entry_key(account_id: &str, cell: u32, seq: u64) -> Item {
    key(cell_pk(account_id, cell), &entry_sk(seq))
}

/// The sweep's own state.
pub fn sweep_state_key() -> Item {
    key("SWEEP".to_owned(), "STATE")
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        (table::PARTITION_KEY.to_owned(), AttributeValue::S(pk)),
        (table::SORT_KEY.to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

/// The shard of an id: the first four bytes of its SHA-256, big-endian,
/// modulo [`OPEN_SHARDS`]. Stable across releases and machines.
pub fn shard_of(id: &str) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(id.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % OPEN_SHARDS
}

fn sharded(kind: &str, shard: u32) -> String {
    format!("{kind}#{shard:02}")
}

/// `open_kind` of a HELD job: `HELD#<shard of the job id>`.
pub fn held_open_kind(job_id: &str) -> String {
    sharded(OPEN_HELD, shard_of(job_id))
}

/// `open_kind` of an account awaiting its audit: `AUDIT#<shard of its id>`.
pub fn audit_open_kind(account_id: &str) -> String {
    sharded(OPEN_AUDIT, shard_of(account_id))
}

/// `open_kind` of a conflict record: `CONFLICT#<shard of its business key>`
/// (transition spelling).
pub fn conflict_open_kind(business_key: &BusinessKey) -> String {
    sharded(OPEN_CONFLICT, shard_of(&business_key.transition()))
}

/// Every index partition key of `kind` the sweep reads: its shards, then
/// its unsharded key of item format 1.
pub fn open_partitions(kind: &str) -> Vec<String> {
    (0..OPEN_SHARDS)
        .map(|shard| sharded(kind, shard))
        .chain(std::iter::once(kind.to_owned()))
        .collect()
}

/// Open-index sort key of a HELD job: ordered by when the hold was taken,
/// made unique by a hash of the job id.
pub fn held_open_key(held_at_ms: i64, job_id: &str) -> String {
    format!("{}#{}", time_key(held_at_ms), &fingerprint(job_id)[..32])
}

/// Open-index sort key of a conflict record: ordered by time, unique per
/// record (key and payload), so the sweep's "listed up to here" marker can
/// never fall between two records of one millisecond.
pub fn conflict_open_key(at_ms: i64, business_key: &BusinessKey, detail: &str) -> String {
    format!(
        "{}#{}",
        time_key(at_ms),
        fingerprint(&format!("{}\n{detail}", business_key.transition()))
    )
}

/// A time as the index orders it: milliseconds, zero-padded to 15 digits.
/// Every open key of a kind starts with one, so a range query bounds time.
pub fn time_key(at_ms: i64) -> String {
    format!("{:015}", at_ms.max(0))
}

/// A stable fingerprint (SHA-256, hex), for idempotent records, index keys
/// and transaction tokens.
pub fn fingerprint(s: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_sort() {
        assert_eq!(account_of_pk(&account_pk("a#1")), Some("a#1"));
        assert_eq!(account_of_pk("JOB#a"), None);
        for (id, cell) in [("a#1", 0), ("a#1", 7), ("CELL#2#x", 31), ("", 1)] {
            assert_eq!(cell_of_pk(&cell_pk(id, cell)), Some((id, cell)));
        }
        // The home cell is never spelled `CELL#0#`, nor a cell with zeros.
        for pk in ["CELL#0#a", "CELL#01#a", "CELL#x#a", "CELL#1", "JOB#a"] {
            assert_eq!(cell_of_pk(pk), None, "{pk}");
        }
        assert_eq!(account_of_pk(&cell_pk("a", 2)), None);
        assert!(entry_sk(9) < entry_sk(10), "entries sort by seq");
        assert!(ACCOUNT_SK < AUDIT_SK && AUDIT_SK < entry_sk(1).as_str());
        let long = "é".repeat(256);
        assert!(held_open_key(1, &long).len() < 64);
        assert!(conflict_open_key(1, &BusinessKey::grant(long.clone()), &long).len() < 100);
        assert!(held_open_key(9, "a") < held_open_key(10, "a"));
    }

    fn spelled(key: &Item) -> (String, String) {
        let s = |k: &str| match &key[k] {
            AttributeValue::S(s) => s.clone(),
            other => panic!("{other:?}"),
        };
        (s("pk"), s("sk"))
    }

    /// Every key as the table in this module's header spells it, by hand.
    #[test]
    fn every_key_is_the_tables() {
        let pair = |pk: &str, sk: &str| (pk.to_owned(), sk.to_owned());
        assert_eq!(spelled(&account_key("a1")), pair("ACCOUNT#a1", "ACCOUNT"));
        assert_eq!(
            spelled(&audit_checkpoint_key("a1")),
            pair("ACCOUNT#a1", "AUDIT")
        );
        assert_eq!(
            spelled(&entry_key("a1", 12)),
            pair("ACCOUNT#a1", "ENTRY#00000000000000000012")
        );
        assert_eq!(spelled(&job_key("j1")), pair("JOB#j1", "JOB"));
        assert_eq!(spelled(&grant_key("g1")), pair("GRANT#g1", "GRANT"));
        assert_eq!(
            spelled(&adjustment_key("x1")),
            pair("ADJUSTMENT#x1", "ADJUSTMENT")
        );
        assert_eq!(spelled(&sweep_state_key()), pair("SWEEP", "STATE"));
        assert_eq!(spelled(&cell_key("a1", 0)), pair("ACCOUNT#a1", "ACCOUNT"));
        assert_eq!(spelled(&cell_key("a1", 3)), pair("CELL#3#a1", "ACCOUNT"));
        assert_eq!(
            spelled(&checkpoint_key("a1", 3)),
            pair("CELL#3#a1", "AUDIT")
        );
        assert_eq!(
            spelled(&cell_entry_key("a#1", 12, 2)),
            pair("CELL#12#a#1", "ENTRY#00000000000000000002")
        );
        assert_eq!(
            conflict_pk(&BusinessKey::job(
                "j1",
                reconciler_core::key::JobStep::Requested
            )),
            "CONFLICT#job:j1:video.requested"
        );
        assert_eq!(conflict_pk(&BusinessKey::grant("g1")), "CONFLICT#grant:g1");
        assert!(is_entry_sk("ENTRY#00000000000000000001"));
        assert!(!is_entry_sk("ACCOUNT") && !is_entry_sk("AUDIT"));
        assert_eq!(time_key(12), "000000000000012");
        // The shards, computed apart (Python's hashlib: SHA-256, first four
        // bytes big-endian, modulo 32).
        assert_eq!(held_open_kind("j1"), "HELD#06");
        assert_eq!(audit_open_kind("a1"), "AUDIT#15");
        assert_eq!(conflict_open_kind(&BusinessKey::grant("g1")), "CONFLICT#07");
        let held = open_partitions(OPEN_HELD);
        assert_eq!(held.len(), 33);
        assert_eq!(
            (held[0].as_str(), held[31].as_str(), held[32].as_str()),
            ("HELD#00", "HELD#31", "HELD")
        );
        assert_eq!(time_key(-5), "000000000000000", "never before the epoch");
    }
}
