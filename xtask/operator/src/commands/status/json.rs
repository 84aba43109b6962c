//! `status --json` (pure): the schema docs/operations.md#json documents.
//! Every section is its value, or `null` with the reason in
//! `unreadable.<section>`; `needs_a_person` is the verdict the exit code
//! gives. Times are RFC 3339 in UTC; fields are only ever added.

use std::collections::BTreeMap;

use infra::StageConfig;
use serde_json::{Value, json};

use super::report::StatusReport;
use crate::base::when::{age, format_time};
use crate::models::code::{CodeVersion, LocalBuild};
use crate::models::queues::QueueView;
use crate::models::sweep_report::LastSweep;

/// The report as JSON.
pub fn to_json(r: &StatusReport, config: &StageConfig) -> Value {
    let mut unreadable = BTreeMap::new();
    let mut section = |name: &str, value: Result<Value, &String>| match value {
        Ok(v) => v,
        Err(why) => {
            unreadable.insert(name.to_owned(), why.clone());
            Value::Null
        }
    };
    let code = section("code", r.code.as_ref().map(|c| code_json(c)));
    let alarms = section(
        "alarms",
        r.alarms.as_ref().map(|alarms| {
            alarms
                .iter()
                .map(|a| {
                    json!({
                        "name": a.name,
                        "state": a.state.as_ref().map(|s| s.as_str()),
                        "since": a.since_ms.map(format_time),
                        "reason": a.reason,
                    })
                })
                .collect()
        }),
    );
    let rules = section("rules", r.rules.as_ref().map(|rules| json!(rules)));
    let now = r.now_ms;
    let dead_letters = section(
        "dead_letters",
        r.dead_letters.as_ref().map(|q| queue(q, now)),
    );
    let unrouted = section("unrouted", r.unrouted.as_ref().map(|q| queue(q, now)));
    let last_sweep = section(
        "last_sweep",
        r.last_sweep
            .as_ref()
            .map(|s| s.as_ref().map_or(Value::Null, sweep)),
    );
    let stragglers = section("stragglers", r.stragglers.as_ref().map(|n| json!(n)));
    if let Err(why) = &r.outputs {
        unreadable.insert("outputs".to_owned(), why.clone());
    }
    json!({
        "stage": r.stage.to_string(),
        "at": format_time(r.now_ms),
        "stack": {
            "name": r.stack.name,
            "status": r.stack.status.as_str(),
            "reason": r.stack.reason,
            "created": r.stack.created_ms.map(format_time),
            "updated": r.stack.updated_ms.map(format_time),
        },
        "code": code,
        "alarms": alarms,
        "rules": rules,
        "dead_letters": dead_letters,
        "unrouted": unrouted,
        "last_sweep": last_sweep,
        "stragglers": stragglers,
        "hold_timeout_seconds": r.hold_timeout.as_secs(),
        "dashboard_url": r.dashboard_url,
        "unreadable": unreadable,
        "needs_a_person": r.needs_a_person(config),
    })
}

fn code_json(code: &[CodeVersion]) -> Value {
    code.iter()
        .map(|c| {
            let (local, local_sha256) = match &c.local {
                LocalBuild::Missing => ("missing", None),
                LocalBuild::Same => ("same", None),
                LocalBuild::Differs(sha) => ("differs", Some(sha.clone())),
                LocalBuild::Unknown(_) => ("unknown", None),
            };
            json!({
                "function": c.function,
                "deployed_key": c.deployed_key,
                "code_sha256": c.code_sha256,
                "stack_sha256": c.stack_sha256,
                "last_modified": c.last_modified,
                "runs_other_code": c.runs_other_code(),
                "configuration_error": c.configuration_error,
                "local_build": local,
                "local_sha256": local_sha256,
            })
        })
        .collect()
}

fn queue(q: &QueueView, now_ms: i64) -> Value {
    json!({
        "name": q.name,
        "messages": q.depth(),
        "visible": q.visible,
        "in_flight": q.in_flight,
        "oldest_sent": q.oldest_sent_ms.map(format_time),
        "oldest_age_seconds": q.oldest_sent_ms.map(|t| age(t, now_ms).as_secs()),
    })
}

fn sweep(last: &LastSweep) -> Value {
    let s = &last.summary;
    json!({
        "at": format_time(last.at_ms),
        "dry_run": s.dry_run,
        "complete": s.complete,
        "stragglers": s.stragglers,
        "expired": s.expired,
        "conflicts": s.conflicts,
        "drifted_accounts": s.drifted_accounts,
        "drift_accounts": s.drift_accounts,
        "audited_accounts": s.audited_accounts,
        "failed_items": s.failed_items,
        "summary": s.summary,
    })
}
