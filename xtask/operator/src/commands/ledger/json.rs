//! `ledger statement --json` and `ledger job --json` (pure): the schemas
//! docs/operations.md#json documents. Times are RFC 3339 in UTC, amounts
//! credits, a missing value `null`; fields are only ever added.

use reconciler_core::ledger::Entry;
use serde_json::{Value, json};

use super::{JobHistory, Statement};
use crate::base::when::{age, format_time};

/// One entry, with the balances after it.
pub fn entry(e: &Entry) -> Value {
    json!({
        "cell": e.cell,
        "seq": e.seq,
        "at": format_time(e.at_ms),
        "kind": e.kind.as_str(),
        "key": e.key,
        "amount": e.amount,
        "available_delta": e.available_delta,
        "held_delta": e.held_delta,
        "available_after": e.available_after,
        "held_after": e.held_after,
        "overdraft": e.overdraft,
        "event_id": e.event_id,
    })
}

/// `ledger statement --json`: the account, the entries shown (those of
/// `--since`, or all), its open holds, and the ledger check.
pub fn statement(s: &Statement, table_name: &str, now_ms: i64) -> Value {
    let a = &s.account;
    let entries: Vec<Value> = s
        .entries
        .iter()
        .filter(|e| s.since_ms.is_none_or(|since| e.at_ms >= since))
        .map(entry)
        .collect();
    let holds: Vec<Value> = s
        .open_holds
        .iter()
        .map(|h| {
            json!({
                "job_id": h.job.job_id,
                "hold": h.hold,
                "held_at": format_time(h.held_at_ms),
                "age_seconds": age(h.held_at_ms, now_ms).as_secs(),
                "requested": h.job.requested,
            })
        })
        .collect();
    json!({
        "table": table_name,
        "account": {
            "account_id": a.account_id,
            "available": a.available,
            "held": a.held,
            "granted": a.granted,
            "debited": a.debited,
            "adjusted": a.adjusted,
            "entries": a.seq,
            "overdrafts": a.overdrafts,
        },
        "since": s.since_ms.map(format_time),
        "entries": entries,
        "open_holds": holds,
        "balanced": s.problems.is_empty(),
        "problems": s.problems,
    })
}

/// `ledger job --json`: the job, the entries that moved its money, and the
/// entries it names that do not exist.
pub fn job(h: &JobHistory, table_name: &str) -> Value {
    let j = &h.item;
    let missing: Vec<u64> = j
        .entries
        .iter()
        .copied()
        .filter(|seq| !h.entries.iter().any(|e| e.seq == *seq))
        .collect();
    json!({
        "table": table_name,
        "job_id": j.job_id,
        "account_id": j.account_id,
        "status": j.status,
        "requested": j.requested,
        "hold": j.hold,
        "debited": j.debited,
        "reason": j.reason,
        "request_event": j.request_event,
        "settle_event": j.settle_event,
        "held_at": j.held_at_ms.map(format_time),
        "updated_at": format_time(j.updated_at_ms),
        "entries": h.entries.iter().map(entry).collect::<Vec<_>>(),
        "missing_entries": missing,
    })
}
