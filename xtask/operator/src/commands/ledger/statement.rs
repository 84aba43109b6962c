//! `ledger statement`: an account's balances, its entries with running
//! balances, its open holds, and the audit of the entries read.

use anyhow::bail;
use reconciler::store::Ledger;
use reconciler_core::audit::{self, Balances};
use reconciler_core::cells::total;
use reconciler_core::ledger::{Account, Entry, EntryKind, Job, JobStatus};

use crate::base::ui::{clip, table};
use crate::base::when::{age, format_age, format_time};

/// A hold of the account whose job is still HELD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenHold {
    /// The job, as it is now.
    pub job: Job,
    /// The credits held.
    pub hold: i64,
    /// When the hold was taken (its entry's time).
    pub held_at_ms: i64,
}

/// An account's statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// The account as it is now: the sums over its cells, if it is split.
    pub account: Account,
    /// The entries read, in order: `1..=seq`, or with `since_ms` from just
    /// before the first at or after it (and from the audit checkpoint, if
    /// that is older). A split account's cells each have their own: in
    /// time order, then by cell and seq.
    pub entries: Vec<Entry>,
    /// Show only the entries at or after this time.
    pub since_ms: Option<i64>,
    /// Holds whose jobs are still HELD, oldest first.
    pub open_holds: Vec<OpenHold>,
    /// What the audit found (empty: the entries sum to the balances and
    /// every hold matches its job).
    pub problems: Vec<String>,
}

/// The first entry of the account written at or after `since_ms` (pure
/// over `entry_at`, a read of one entry's time): a binary search over
/// `1..=seq` (entries are written in time order), `seq + 1` when none.
pub(super) async fn first_seq_since<F, Fut>(
    seq: u64,
    since_ms: i64,
    entry_at: F,
) -> anyhow::Result<u64>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i64>>,
{
    let (mut low, mut high) = (1, seq + 1);
    while low < high {
        let mid = low + (high - low) / 2;
        if entry_at(mid).await? >= since_ms {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    Ok(low)
}

/// Reads an account's statement: the account and its audit checkpoint (one
/// query), its entries (a query on its partition: all of them, or with
/// `since_ms` those from the window on, found by a binary search of
/// `log2(seq)` one-entry reads), the jobs those entries hold for (by key),
/// and the audit (from the checkpoint the sweep keeps, so a big account's
/// statement reads what the window needs, not its whole history).
///
/// # Errors
/// No such account, or the table could not be read.
pub async fn statement(
    ledger: &Ledger,
    table_name: &str,
    account_id: &str,
    since_ms: Option<i64>,
) -> anyhow::Result<Statement> {
    let Some(home) = cell_statement(ledger, account_id, 0, since_ms).await? else {
        bail!("no account {account_id:?} in {table_name}");
    };
    let cells = home.account.cell_count();
    if cells <= 1 {
        return Ok(home);
    }
    let mut parts = vec![home];
    for cell in 1..cells {
        parts.extend(cell_statement(ledger, account_id, cell, since_ms).await?);
    }
    Ok(merge(account_id, parts, since_ms))
}

/// A split account's statement from its cells': the account's balances
/// summed, the entries in time order (then by cell and seq), the holds
/// oldest first, each cell's problems named by its cell.
fn merge(account_id: &str, parts: Vec<Statement>, since_ms: Option<i64>) -> Statement {
    let account = total(account_id, parts.iter().map(|p| &p.account));
    let mut s = Statement {
        account,
        entries: Vec::new(),
        since_ms,
        open_holds: Vec::new(),
        problems: Vec::new(),
    };
    for part in parts {
        let cell = part.account.cell;
        s.entries.extend(part.entries);
        s.open_holds.extend(part.open_holds);
        s.problems.extend(
            part.problems
                .into_iter()
                .map(|p| format!("cell {cell}: {p}")),
        );
    }
    s.entries.sort_by_key(|e| (e.at_ms, e.cell, e.seq));
    s.open_holds
        .sort_by_key(|h| (h.held_at_ms, h.job.job_id.clone()));
    s
}

/// The holds among `entries` whose jobs are still HELD (`jobs`, as they
/// are now), each with when its hold was taken.
fn open_holds_of(entries: &[Entry], jobs: Vec<Job>) -> Vec<OpenHold> {
    jobs.into_iter()
        .filter(|j| j.status == JobStatus::Held)
        .filter_map(|job| {
            let taken = entries
                .iter()
                .rev()
                .find(|e| e.kind == EntryKind::Hold && e.job_id() == Some(job.job_id.as_str()))?;
            Some(OpenHold {
                hold: job.hold.unwrap_or(taken.held_delta),
                held_at_ms: taken.at_ms,
                job,
            })
        })
        .collect()
}

/// The statement of one cell of an account (its home cell, 0: the whole
/// of an account never split); `None` if that cell does not exist.
async fn cell_statement(
    ledger: &Ledger,
    account_id: &str,
    cell: u32,
    since_ms: Option<i64>,
) -> anyhow::Result<Option<Statement>> {
    let Some((account, checkpoint)) = ledger.account_for_audit(account_id, cell).await? else {
        return Ok(None);
    };
    // An entry's time is taken when its event was first tried, and a retry
    // may commit it up to the retry budget later, after a younger one: the
    // search looks that much earlier, and the statement shows by time.
    let skew = i64::try_from(reconciler::store::RetryPolicy::default().budget.as_millis())
        .unwrap_or(i64::MAX);
    let first = match since_ms {
        None => 1,
        Some(since) => {
            first_seq_since(account.seq, since.saturating_sub(skew), |seq| async move {
                let entry = ledger
                    .entries_between(account_id, cell, seq, seq, None)
                    .await?;
                Ok(entry.first().map_or(i64::MAX, |e| e.at_ms))
            })
            .await?
        }
    };
    // From the entry before the window (its balances open it), or from the
    // checkpoint's next when that is older: the audit starts there.
    let base = checkpoint
        .filter(|c| since_ms.is_some() && c.audited_seq <= account.seq)
        .map_or_else(Balances::default, |c| c.balances());
    let from = first.saturating_sub(1).max(1).min(base.seq + 1);
    let entries = ledger
        .entries_between(account_id, cell, from, account.seq, None)
        .await?;
    let audited: Vec<Entry> = entries
        .iter()
        .filter(|e| e.seq > base.seq)
        .cloned()
        .collect();
    // The jobs of every hold the entries read took or released: the
    // window's open holds, and what the audit checks.
    let holding = audit::jobs_holding(&entries);
    let jobs = ledger.jobs(&holding).await?;
    let takes = ledger
        .entries(account_id, cell, &audit::takes_needed(&audited, &jobs))
        .await?;
    let mut problems = Vec::new();
    if let Some(drift) = audit::audit(&account, base, &audited) {
        problems.extend(drift.problems);
    }
    let holds = audit::audit_holds(&account, &audited, &jobs, &takes);
    problems.extend(holds.problems);
    problems.extend(holds.doubts.iter().map(|d| format!("not proven yet: {d}")));
    let mut open_holds = open_holds_of(&entries, jobs);
    open_holds.sort_by_key(|h| (h.held_at_ms, h.job.job_id.clone()));
    Ok(Some(Statement {
        account,
        entries,
        since_ms,
        open_holds,
        problems,
    }))
}

pub(super) fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// The entries as a table: running balances after each (its cell's, with
/// a CELL column, when any entry is past a home cell).
pub(super) fn entries_table(entries: &[&Entry]) -> String {
    let split = entries.iter().any(|e| e.cell > 0);
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let cell = split.then(|| e.cell.to_string());
            cell.into_iter()
                .chain([
                    e.seq.to_string(),
                    format_time(e.at_ms),
                    e.kind.as_str().to_owned(),
                    clip(&e.key, 48),
                    e.amount.to_string(),
                    signed(e.available_delta),
                    signed(e.held_delta),
                    e.available_after.to_string(),
                    e.held_after.to_string(),
                    if e.overdraft > 0 {
                        e.overdraft.to_string()
                    } else {
                        String::new()
                    },
                    clip(&e.event_id, 40),
                ])
                .collect()
        })
        .collect();
    let header = [
        "SEQ",
        "TIME",
        "KIND",
        "KEY",
        "AMOUNT",
        "Δ AVAILABLE",
        "Δ HELD",
        "AVAILABLE",
        "HELD",
        "OVERDRAFT",
        "EVENT",
    ];
    let header: Vec<&str> = split.then_some("CELL").into_iter().chain(header).collect();
    table(&header, &rows)
}

/// The statement as text (pure; `now_ms` for the ages of the holds).
pub fn render_statement(s: &Statement, table_name: &str, now_ms: i64) -> String {
    let a = &s.account;
    let mut out = format!(
        "Account {} ({table_name})\n  available {}, held {}; granted {}, debited {}, adjusted \
         {}; {} entries, {} overdraft(s)\n",
        a.account_id, a.available, a.held, a.granted, a.debited, a.adjusted, a.seq, a.overdrafts
    );
    if a.cell_count() > 1 {
        out.push_str(&format!(
            "  split over {} cells: each entry is its cell's, with its cell's balances after it\n",
            a.cell_count()
        ));
    }
    out.push('\n');
    let shown: Vec<&Entry> = s
        .entries
        .iter()
        .filter(|e| s.since_ms.is_none_or(|since| e.at_ms >= since))
        .collect();
    if let Some(since) = s.since_ms {
        let earlier = shown.first().map_or(a.seq, |e| e.seq - 1);
        let before = s
            .entries
            .iter()
            .rev()
            .find(|e| e.at_ms < since)
            .map(|e| (e.available_after, e.held_after))
            .unwrap_or((0, 0));
        out.push_str(&format!(
            "Entries since {} ({earlier} earlier; balances before them: available {}, held {}):\n",
            format_time(since),
            before.0,
            before.1
        ));
    }
    if shown.is_empty() {
        out.push_str("No entries.\n");
    } else {
        out.push_str(&entries_table(&shown));
    }
    out.push('\n');
    let listed: i64 = s.open_holds.iter().map(|h| h.hold).sum();
    if s.since_ms.is_some() && listed < a.held {
        out.push_str(&format!(
            "{} credit(s) held by jobs whose holds were taken before the entries read (run \
             without --since to list them).\n",
            a.held - listed
        ));
    }
    out.push_str(&open_holds(&s.open_holds, now_ms));
    out.push('\n');
    if s.problems.is_empty() {
        out.push_str(
            "Ledger check: the entries sum to the balances, and every hold matches its job.\n",
        );
    } else {
        out.push_str("LEDGER CHECK FAILED (drift: see docs/operations.md#alarm-drift):\n");
        for p in &s.problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }
    out
}

/// The open holds, oldest first, with their ages.
fn open_holds(holds: &[OpenHold], now_ms: i64) -> String {
    if holds.is_empty() {
        return "Open holds: none.\n".to_owned();
    }
    let rows: Vec<Vec<String>> = holds
        .iter()
        .map(|h| {
            vec![
                clip(&h.job.job_id, 48),
                h.hold.to_string(),
                format_age(age(h.held_at_ms, now_ms)),
                format_time(h.held_at_ms),
                h.job
                    .requested
                    .map(|r| r.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    format!(
        "Open holds ({}):\n{}",
        holds.len(),
        table(&["JOB", "HOLD", "AGE", "HELD SINCE", "REQUESTED"], &rows)
    )
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The statement's entries as CSV (pure): one header line, one line an entry.
pub fn statement_csv(s: &Statement) -> String {
    let mut out = String::from(
        "seq,time,kind,key,amount,available_delta,held_delta,available_after,held_after,\
         overdraft,event_id\n",
    );
    for e in s
        .entries
        .iter()
        .filter(|e| s.since_ms.is_none_or(|since| e.at_ms >= since))
    {
        let fields = [
            e.seq.to_string(),
            format_time(e.at_ms),
            e.kind.as_str().to_owned(),
            csv_field(&e.key),
            e.amount.to_string(),
            e.available_delta.to_string(),
            e.held_delta.to_string(),
            e.available_after.to_string(),
            e.held_after.to_string(),
            e.overdraft.to_string(),
            csv_field(&e.event_id),
        ];
        out.push_str(&fields.join(","));
        out.push('\n');
    }
    out
}
