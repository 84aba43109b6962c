//! `ledger job`: one job, the entries that moved its money, and the events
//! that moved it.

use anyhow::bail;
use reconciler::store::Ledger;
use reconciler::store::items::JobItem;
use reconciler_core::ledger::Entry;

use crate::base::when::format_time;

use super::statement::entries_table;

/// A job and the entries that moved its money.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobHistory {
    /// The job item: status, amounts, who moved it.
    pub item: JobItem,
    /// Its entries, by seq.
    pub entries: Vec<Entry>,
}

/// Reads a job's history: the job item, then its entries by key.
///
/// # Errors
/// No such job, or the table could not be read.
pub async fn job_history(
    ledger: &Ledger,
    table_name: &str,
    job_id: &str,
) -> anyhow::Result<JobHistory> {
    let Some(item) = ledger.job_item(job_id).await? else {
        bail!("no job {job_id:?} in {table_name}");
    };
    let entries = ledger
        .entries(&item.account_id, item.cell, &item.entries)
        .await?;
    Ok(JobHistory { item, entries })
}

/// The job's history as text (pure).
pub fn render_job(h: &JobHistory, table_name: &str) -> String {
    let j = &h.item;
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
    let mut out = format!(
        "Job {} of account {} ({table_name}): {}\n  requested {}, hold {}, debited {}{}\n",
        j.job_id,
        j.account_id,
        j.status,
        opt(j.requested),
        opt(j.hold),
        opt(j.debited),
        j.reason
            .as_deref()
            .map(|r| format!(", failure reason {r:?}"))
            .unwrap_or_default()
    );
    out.push_str(&format!(
        "  moved by: request event {}, settle event {}\n",
        j.request_event.as_deref().unwrap_or("-"),
        j.settle_event.as_deref().unwrap_or("-")
    ));
    if let Some(at) = j.held_at_ms {
        out.push_str(&format!("  held since {}\n", format_time(at)));
    }
    out.push_str(&format!(
        "  last written {}\n\n",
        format_time(j.updated_at_ms)
    ));
    if h.entries.is_empty() {
        out.push_str("No entries (no money moved for this job).\n");
    } else {
        let entries: Vec<&Entry> = h.entries.iter().collect();
        out.push_str(&entries_table(&entries));
    }
    let missing: Vec<String> = j
        .entries
        .iter()
        .filter(|seq| !h.entries.iter().any(|e| e.seq == **seq))
        .map(u64::to_string)
        .collect();
    if !missing.is_empty() {
        out.push_str(&format!(
            "MISSING: the job names entries {} of account {} that do not exist (drift: see \
             docs/operations.md#alarm-drift)\n",
            missing.join(", "),
            j.account_id
        ));
    }
    out
}
