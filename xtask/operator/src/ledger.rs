//! `cargo xtask ledger statement|job|adjust|repair`: read an account or a
//! job, correct an account (SPEC §3 "Corrections"), and repair a drifted
//! account item from its entries (`reconciler::store::repair`).
//!
//! Reads go through the store's read API ([`reconciler::store::Ledger`]):
//! the account by key, its entries by one query on its partition, its jobs
//! by key — never a scan. The money audit is the core's
//! ([`reconciler_core::audit`]), so a statement says whether the entries
//! sum to the balances.
//!
//! Nobody edits ledger items by hand: `adjust` invokes the deployed handler
//! directly with a `credits.adjusted` envelope, which it applies like an
//! event — idempotent by `adjustment_id` (a retry with the same `--id` is a
//! `duplicate`; the same id with another amount is a `conflict`).

use anyhow::bail;
use infra::Stage;
use reconciler::store::Ledger;
use reconciler::store::items::JobItem;
pub use reconciler::store::repair::Repair;
use reconciler::store::repair::plan_repair;
use reconciler_core::audit::{self, Balances};
use reconciler_core::event::{CREDITS_ADJUSTED, parse_detail};
use reconciler_core::ledger::{Account, Entry, EntryKind, Job, JobStatus};
use serde_json::{Value, json};

use crate::aws::Target;
use crate::console::{Console, run_command};
use crate::invoke::{Invoked, invoke};
use crate::ui::{Confirmation, clip, table};
use crate::when::{age, format_age, format_time, parse_time};

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
    /// The account as it is now.
    pub account: Account,
    /// The entries read, in order: `1..=seq`, or with `since_ms` from just
    /// before the first at or after it (and from the audit checkpoint, if
    /// that is older).
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
async fn first_seq_since<F, Fut>(seq: u64, since_ms: i64, entry_at: F) -> anyhow::Result<u64>
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
    let Some((account, checkpoint)) = ledger.account_for_audit(account_id).await? else {
        bail!("no account {account_id:?} in {table_name}");
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
                let entry = ledger.entries_between(account_id, seq, seq, None).await?;
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
        .entries_between(account_id, from, account.seq, None)
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
        .entries(account_id, &audit::takes_needed(&audited, &jobs))
        .await?;
    let mut problems = Vec::new();
    if let Some(drift) = audit::audit(&account, base, &audited) {
        problems.extend(drift.problems);
    }
    let holds = audit::audit_holds(&account, &audited, &jobs, &takes);
    problems.extend(holds.problems);
    problems.extend(holds.doubts.iter().map(|d| format!("not proven yet: {d}")));
    let mut open_holds: Vec<OpenHold> =
        jobs.into_iter()
            .filter(|j| j.status == JobStatus::Held)
            .filter_map(|job| {
                let taken = entries.iter().rev().find(|e| {
                    e.kind == EntryKind::Hold && e.job_id() == Some(job.job_id.as_str())
                })?;
                Some(OpenHold {
                    hold: job.hold.unwrap_or(taken.held_delta),
                    held_at_ms: taken.at_ms,
                    job,
                })
            })
            .collect();
    open_holds.sort_by_key(|h| (h.held_at_ms, h.job.job_id.clone()));
    Ok(Statement {
        account,
        entries,
        since_ms,
        open_holds,
        problems,
    })
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// The entries as a table: running balances after each.
fn entries_table(entries: &[&Entry]) -> String {
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
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
            ]
        })
        .collect();
    table(
        &[
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
        ],
        &rows,
    )
}

/// The statement as text (pure; `now_ms` for the ages of the holds).
pub fn render_statement(s: &Statement, table_name: &str, now_ms: i64) -> String {
    let a = &s.account;
    let mut out = format!(
        "Account {} ({table_name})\n  available {}, held {}; granted {}, debited {}, adjusted \
         {}; {} entries, {} overdraft(s)\n\n",
        a.account_id, a.available, a.held, a.granted, a.debited, a.adjusted, a.seq, a.overdrafts
    );
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
    if s.open_holds.is_empty() {
        out.push_str("Open holds: none.\n");
    } else {
        out.push_str(&format!("Open holds ({}):\n", s.open_holds.len()));
        let rows: Vec<Vec<String>> = s
            .open_holds
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
        out.push_str(&table(
            &["JOB", "HOLD", "AGE", "HELD SINCE", "REQUESTED"],
            &rows,
        ));
    }
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
    let entries = ledger.entries(&item.account_id, &item.entries).await?;
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

/// An operator's correction (SPEC §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    /// Its idempotency key: a retry must reuse it.
    pub adjustment_id: String,
    /// The account to correct.
    pub account_id: String,
    /// Signed: moves `available` by this much.
    pub credits: i64,
    /// Why (1–512 characters).
    pub reason: String,
}

/// The `source` of an operator's correction.
pub const OPERATOR_SOURCE: &str = "cc-agent-reconciler.operator";

impl Adjustment {
    /// Its `detail`.
    pub fn detail(&self) -> Value {
        json!({
            "adjustment_id": self.adjustment_id,
            "account_id": self.account_id,
            "credits": self.credits,
            "reason": self.reason,
        })
    }

    /// Refuses what the handler would refuse, before anything is sent
    /// (SPEC §3: |credits| ≤ 10^12, not 0; a reason of 1–512 characters).
    ///
    /// # Errors
    /// The handler's own validation message.
    pub fn validate(&self) -> Result<(), String> {
        parse_detail(CREDITS_ADJUSTED, &self.detail())
            .map(|_| ())
            .map_err(|invalid| invalid.to_string())
    }

    /// The envelope `ledger adjust` invokes the handler with: the same for
    /// every retry of this adjustment.
    pub fn envelope(&self, now_ms: i64) -> Value {
        json!({
            "version": "0",
            "id": format!("operator-{}", self.adjustment_id),
            "detail-type": CREDITS_ADJUSTED,
            "source": OPERATOR_SOURCE,
            "time": format_time(now_ms),
            "detail": self.detail(),
        })
    }
}

/// A fresh adjustment id: `adj-<UTC time>-<8 hex>` (printed, so that a
/// retry can reuse it with `--id`).
pub fn new_adjustment_id(now_ms: i64, nonce: u32) -> String {
    format!(
        "adj-{}-{nonce:08x}",
        crate::when::compact_time(now_ms).to_lowercase()
    )
}

/// Some bits that differ between two runs.
fn nonce() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id().rotate_left(16)
}

/// Whether `adjust` may go ahead: dev does; staging and prod ask (the
/// question names who and where) unless `--yes`, and refuse without a
/// terminal.
pub fn adjust_confirmation(
    stage: Stage,
    yes: bool,
    interactive: bool,
    question: &str,
) -> Confirmation {
    if stage == Stage::Dev {
        return Confirmation::Proceed;
    }
    Confirmation::yes_or_ask(yes, interactive, question, "correcting a ledger account")
}

/// `ledger repair`: reads the account, all its entries and their jobs,
/// plans (see [`plan_repair`]) and, unless `dry_run`, writes the repair,
/// conditioned on the account as read.
///
/// # Errors
/// No such account, the jobs disagree, the account changed meanwhile, or
/// DynamoDB failed.
pub async fn repair(
    ledger: &Ledger,
    table_name: &str,
    account_id: &str,
    dry_run: bool,
    confirm: impl FnOnce(&Balances, &Balances) -> anyhow::Result<()>,
) -> anyhow::Result<Repair> {
    let Some(account) = ledger.account(account_id).await? else {
        bail!("no account {account_id:?} in {table_name}");
    };
    // Every entry the account has, whatever its `seq` says (that may be
    // what was edited).
    let entries = ledger
        .entries_between(account_id, 1, u64::MAX, None)
        .await?;
    let jobs = ledger.jobs(&audit::jobs_holding(&entries)).await?;
    let plan = plan_repair(&account, &entries, &jobs).map_err(anyhow::Error::msg)?;
    let Repair::Needed { stored, recomputed } = plan else {
        return Ok(plan);
    };
    if dry_run {
        return Ok(Repair::Needed { stored, recomputed });
    }
    confirm(&stored, &recomputed)?;
    if !ledger.repair_account(&account, &recomputed).await? {
        bail!(
            "account {account_id} changed while it was being repaired: nothing written; run the \
             repair again (it reads and checks the account afresh)"
        );
    }
    Ok(Repair::Repaired { stored, recomputed })
}

/// The repair's report (pure).
pub fn render_repair(account_id: &str, repair: &Repair) -> String {
    let row = |label: &str, b: &Balances| {
        vec![
            label.to_owned(),
            b.available.to_string(),
            b.held.to_string(),
            b.granted.to_string(),
            b.debited.to_string(),
            b.adjusted.to_string(),
            b.seq.to_string(),
        ]
    };
    let header = [
        "",
        "AVAILABLE",
        "HELD",
        "GRANTED",
        "DEBITED",
        "ADJUSTED",
        "SEQ",
    ];
    match repair {
        Repair::Clean => format!(
            "Account {account_id}: its entries sum to its balances and its jobs back its holds: \
             nothing to repair.\n"
        ),
        Repair::Needed { stored, recomputed } => format!(
            "Account {account_id} would be repaired (dry run: nothing written):\n{}",
            table(
                &header,
                &[row("stored", stored), row("entries", recomputed)]
            )
        ),
        Repair::Repaired { stored, recomputed } => format!(
            "Account {account_id} repaired: its balances are what its entries sum to, and it is \
             marked for the next sweep's audit (which clears LedgerDrift).\n{}",
            table(&header, &[row("was", stored), row("now", recomputed)])
        ),
    }
}

/// Invokes the handler with the adjustment (retries are safe: the effect
/// is keyed on `adjustment_id`).
///
/// # Errors
/// The adjustment is invalid (nothing sent), or the invocation failed.
pub async fn adjust(
    lambda: &aws_sdk_lambda::Client,
    handler_function: &str,
    adjustment: &Adjustment,
    now_ms: i64,
) -> anyhow::Result<Invoked> {
    adjustment.validate().map_err(anyhow::Error::msg)?;
    invoke(lambda, handler_function, &adjustment.envelope(now_ms), true).await
}

/// The handler's SPEC §4 response, readable (pure).
pub fn render_response(response: &Value) -> String {
    let outcome = response["outcome"].as_str().unwrap_or("?");
    let account = &response["account"];
    let mut out = format!(
        "outcome {outcome}: account {} available {}, held {}\n",
        account["account_id"].as_str().unwrap_or("?"),
        account["available"],
        account["held"]
    );
    out.push_str(match outcome {
        "adjusted" => "The correction was applied.\n",
        "duplicate" => {
            "This adjustment id was already applied with the same payload: nothing moved again.\n"
        }
        "conflict" => {
            "CONFLICT: this adjustment id was already applied with another payload; nothing \
             moved. Use a new --id for a new correction.\n"
        }
        _ => "",
    });
    out.push_str(&format!("Response: {response}\n"));
    out
}

// ----- the command line -----

/// `cargo xtask ledger`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = "Examples:
  cargo xtask ledger statement --stage prod acme --since 2026-11-01
  cargo xtask ledger job --stage prod job-42
  cargo xtask ledger adjust --stage prod acme --credits -25 --reason \"refund ticket 1234\"")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// `ledger statement|job|adjust`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// An account's balances, its entries with running balances, its open
    /// holds and their age, and whether the entries sum to the balances.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger statement --stage prod acme\n  \
                            cargo xtask ledger statement --stage prod acme --since 7d --csv > acme.csv"
    )]
    Statement {
        #[command(flatten)]
        target: Target,
        /// The account id.
        account: String,
        /// Print the entries as CSV.
        #[arg(long)]
        csv: bool,
        /// Only entries from then on: 2026-11-29, 2026-11-29T10:00:00Z, or 7d (ago).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
    /// One job's history: its status, the entries that moved its money, and
    /// the events that moved it.
    #[command(after_help = "Example:\n  cargo xtask ledger job --stage prod job-42")]
    Job {
        #[command(flatten)]
        target: Target,
        /// The job id.
        job: String,
    },
    /// Put a drifted account's balances back to what its entries sum to
    /// (the sweep reported LedgerDrift: the account item was edited or
    /// restored alone, the entries are intact). Refused when its jobs
    /// disagree with its entries.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger repair --stage prod acme --dry-run\n  \
                            cargo xtask ledger repair --stage prod acme"
    )]
    Repair {
        #[command(flatten)]
        target: Target,
        /// The account id.
        account: String,
        /// Say what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (staging and prod ask).
        #[arg(long)]
        yes: bool,
    },
    /// Correct an account (SPEC §3): the handler applies a `credits.adjusted`
    /// by its id, once. Never edit ledger items by hand.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger adjust --stage prod acme --credits 50 \
                            --reason \"goodwill, ticket 1234\"\n  \
                            cargo xtask ledger adjust --stage prod acme --credits -25 --reason \
                            \"double top-up\" --id adj-20261129t100000z-0badcafe   # a retry"
    )]
    Adjust {
        #[command(flatten)]
        target: Target,
        /// The account id.
        account: String,
        /// Credits to add (negative: remove), not 0.
        #[arg(long, allow_negative_numbers = true)]
        credits: i64,
        /// Why (1 to 512 characters); kept on the ledger entry.
        #[arg(long)]
        reason: String,
        /// The adjustment id (default: a fresh one, printed). Reuse it to
        /// retry safely.
        #[arg(long)]
        id: Option<String>,
        /// Do not ask for confirmation (staging and prod ask).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `cargo xtask ledger …`.
///
/// # Errors
/// No such account or job, the stage is not deployed, the correction was
/// refused or failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        match args.command {
            Command::Statement {
                target,
                account,
                csv,
                since,
            } => {
                let now = crate::when::now_ms();
                let since = since
                    .map(|s| parse_time(&s, now))
                    .transpose()
                    .map_err(anyhow::Error::msg)?;
                let console = Console::open(&target).await?;
                let table_name = &console.outputs.ledger_table_name;
                let s = statement(&console.ledger(), table_name, &account, since).await?;
                if csv {
                    print!("{}", statement_csv(&s));
                } else {
                    eprintln!("{}", console.session.who_and_where());
                    print!("{}", render_statement(&s, table_name, now));
                }
                Ok(false)
            }
            Command::Repair {
                target,
                account,
                dry_run,
                yes,
            } => {
                let console = Console::open(&target).await?;
                if dry_run {
                    eprintln!("{}", console.session.who_and_where());
                } else {
                    console.session.before_writing()?;
                }
                let table_name = &console.outputs.ledger_table_name;
                let question = format!(
                    "{}: put account {account}'s balances back to what its entries sum to?",
                    console.session.who_and_where()
                );
                let done = repair(&console.ledger(), table_name, &account, dry_run, |_, _| {
                    adjust_confirmation(console.stage(), yes, crate::ui::interactive(), &question)
                        .resolve("nothing repaired")
                })
                .await?;
                print!("{}", render_repair(&account, &done));
                Ok(matches!(done, Repair::Needed { .. }))
            }
            Command::Job { target, job } => {
                let console = Console::open(&target).await?;
                eprintln!("{}", console.session.who_and_where());
                let table_name = &console.outputs.ledger_table_name;
                let h = job_history(&console.ledger(), table_name, &job).await?;
                print!("{}", render_job(&h, table_name));
                Ok(false)
            }
            Command::Adjust {
                target,
                account,
                credits,
                reason,
                id,
                yes,
            } => {
                let now = crate::when::now_ms();
                let adjustment = Adjustment {
                    adjustment_id: id.unwrap_or_else(|| new_adjustment_id(now, nonce())),
                    account_id: account,
                    credits,
                    reason,
                };
                adjustment.validate().map_err(anyhow::Error::msg)?;
                let console = Console::open(&target).await?;
                console.session.before_writing()?;
                eprintln!(
                    "Adjustment {} (reuse it to retry: --id {}): {} credits on account {}, \
                     reason {:?}.",
                    adjustment.adjustment_id,
                    adjustment.adjustment_id,
                    signed(adjustment.credits),
                    adjustment.account_id,
                    adjustment.reason
                );
                adjust_confirmation(
                    console.stage(),
                    yes,
                    crate::ui::interactive(),
                    &format!(
                        "{}: move {} credits on account {}?",
                        console.session.who_and_where(),
                        signed(adjustment.credits),
                        adjustment.account_id
                    ),
                )
                .resolve("no correction made")?;
                match adjust(
                    &console.clients.lambda,
                    &console.outputs.handler_function_name,
                    &adjustment,
                    now,
                )
                .await?
                {
                    Invoked::Response(response) => {
                        print!("{}", render_response(&response));
                        Ok(response["outcome"] == "conflict")
                    }
                    Invoked::FunctionError {
                        error_type,
                        message,
                    } => bail!(
                        "the handler refused the adjustment: {}",
                        Invoked::error_line(&error_type, &message)
                    ),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        seq: u64,
        kind: EntryKind,
        key: &str,
        available_delta: i64,
        held_delta: i64,
        at_ms: i64,
        after: (i64, i64),
    ) -> Entry {
        Entry {
            account_id: "acme".into(),
            seq,
            kind,
            key: key.into(),
            amount: available_delta.abs().max(held_delta.abs()),
            available_delta,
            held_delta,
            granted_delta: if kind == EntryKind::Grant {
                available_delta
            } else {
                0
            },
            debited_delta: 0,
            adjusted_delta: 0,
            overdraft: 0,
            available_after: after.0,
            held_after: after.1,
            event_id: format!("evt-{seq}"),
            at_ms,
        }
    }

    const HOUR: i64 = 3_600_000;
    const T0: i64 = 1_795_946_400_000; // 2026-11-29T10:00:00Z

    fn sample() -> Statement {
        let entries = vec![
            entry(1, EntryKind::Grant, "grant:g1", 100, 0, T0, (100, 0)),
            entry(
                2,
                EntryKind::Hold,
                "job:j1:video.requested",
                -30,
                30,
                T0 + HOUR,
                (70, 30),
            ),
            entry(
                3,
                EntryKind::Hold,
                "job:j2:video.requested",
                -20,
                20,
                T0 + 2 * HOUR,
                (50, 50),
            ),
        ];
        Statement {
            account: Account {
                account_id: "acme".into(),
                available: 50,
                held: 50,
                granted: 100,
                seq: 3,
                ..Account::default()
            },
            entries,
            since_ms: None,
            open_holds: vec![OpenHold {
                job: Job {
                    job_id: "j1".into(),
                    account_id: "acme".into(),
                    status: JobStatus::Held,
                    requested: Some(30),
                    hold: Some(30),
                    debited: None,
                    reason: None,
                    entries: vec![2],
                },
                hold: 30,
                held_at_ms: T0 + HOUR,
            }],
            problems: vec![],
        }
    }

    #[tokio::test]
    async fn the_window_starts_at_the_first_entry_at_or_after_since() {
        let times = [10, 20, 20, 30];
        let reads = std::sync::atomic::AtomicUsize::new(0);
        let at = |seq: u64| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let t = times[usize::try_from(seq).unwrap() - 1];
            async move { anyhow::Ok(t) }
        };
        assert_eq!(first_seq_since(4, 20, at).await.unwrap(), 2);
        assert_eq!(first_seq_since(4, 5, at).await.unwrap(), 1);
        assert_eq!(
            first_seq_since(4, 31, at).await.unwrap(),
            5,
            "none: after the last"
        );
        assert_eq!(first_seq_since(0, 5, at).await.unwrap(), 1, "no entries");
        reads.store(0, std::sync::atomic::Ordering::SeqCst);
        let many = |seq: u64| {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async move { anyhow::Ok(i64::try_from(seq).unwrap()) }
        };
        assert_eq!(
            first_seq_since(1_000_000, 765_432, many).await.unwrap(),
            765_432
        );
        assert!(
            reads.load(std::sync::atomic::Ordering::SeqCst) <= 21,
            "log2 of a million reads, not a million"
        );
    }

    #[test]
    fn a_statement_shows_balances_running_balances_and_open_holds() {
        let text = render_statement(&sample(), "cc-agent-reconciler-ledger_dev", T0 + 3 * HOUR);
        assert!(
            text.contains("Account acme (cc-agent-reconciler-ledger_dev)"),
            "{text}"
        );
        assert!(
            text.contains("available 50, held 50; granted 100"),
            "{text}"
        );
        let entry_line = text.lines().find(|l| l.starts_with("2 ")).unwrap();
        for part in [
            "2026-11-29T11:00:00Z",
            "hold",
            "job:j1:video.requested",
            "-30",
            "+30",
            "70",
            "evt-2",
        ] {
            assert!(entry_line.contains(part), "{part} in {entry_line}");
        }
        assert!(text.contains("Open holds (1):"), "{text}");
        let hold_line = text.lines().find(|l| l.starts_with("j1 ")).unwrap();
        assert!(
            hold_line.contains("2h0m") && hold_line.contains("30"),
            "{hold_line}"
        );
        assert!(text.contains("Ledger check: the entries sum to the balances"));
    }

    #[test]
    fn since_hides_earlier_entries_and_says_the_balances_before_them() {
        let mut s = sample();
        s.since_ms = Some(T0 + 90 * 60_000);
        let text = render_statement(&s, "t", T0 + 3 * HOUR);
        assert!(
            text.contains("(2 earlier; balances before them: available 70, held 30)"),
            "{text}"
        );
        assert!(!text.lines().any(|l| l.starts_with("1 ")));
        assert!(text.lines().any(|l| l.starts_with("3 ")));
        let csv = statement_csv(&s);
        assert_eq!(csv.lines().count(), 2, "{csv}");
        assert!(
            csv.lines()
                .nth(1)
                .unwrap()
                .starts_with("3,2026-11-29T12:00:00Z,hold,")
        );
    }

    #[test]
    fn drift_is_said_loudly() {
        let mut s = sample();
        s.problems = vec!["available: stored 50, the ledger entries sum to 40".into()];
        let text = render_statement(&s, "t", T0);
        assert!(text.contains("LEDGER CHECK FAILED"));
        assert!(text.contains("stored 50, the ledger entries sum to 40"));
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let mut s = sample();
        s.entries[0].key = "grant:a,\"b\"".into();
        let csv = statement_csv(&s);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(
            lines[0],
            "seq,time,kind,key,amount,available_delta,held_delta,available_after,held_after,overdraft,event_id"
        );
        assert_eq!(
            lines[1],
            "1,2026-11-29T10:00:00Z,grant,\"grant:a,\"\"b\"\"\",100,100,0,100,0,0,evt-1"
        );
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn a_job_history_says_who_moved_it() {
        let h = JobHistory {
            item: JobItem {
                pk: "JOB#j1".into(),
                sk: "JOB".into(),
                v: 1,
                job_id: "j1".into(),
                account_id: "acme".into(),
                status: "DEBITED".into(),
                requested: Some(30),
                hold: Some(30),
                debited: Some(25),
                reason: None,
                entries: vec![2, 4],
                request_event: Some("evt-req".into()),
                settle_event: Some("evt-render".into()),
                held_at_ms: None,
                request_id: None,
                updated_at_ms: T0,
                open_kind: None,
                open_key: None,
            },
            entries: vec![entry(
                2,
                EntryKind::Hold,
                "job:j1:video.requested",
                -30,
                30,
                T0,
                (70, 30),
            )],
        };
        let text = render_job(&h, "t");
        assert!(
            text.starts_with("Job j1 of account acme (t): DEBITED"),
            "{text}"
        );
        assert!(text.contains("requested 30, hold 30, debited 25"));
        assert!(text.contains("request event evt-req, settle event evt-render"));
        assert!(text.contains("MISSING: the job names entries 4"), "{text}");
    }

    #[test]
    fn an_adjustment_is_validated_before_it_is_sent_and_its_envelope_is_stable() {
        let a = Adjustment {
            adjustment_id: "adj-1".into(),
            account_id: "acme".into(),
            credits: -25,
            reason: "double top-up".into(),
        };
        assert_eq!(a.validate(), Ok(()));
        let e = a.envelope(T0);
        assert_eq!(e["detail-type"], "credits.adjusted");
        assert_eq!(e["source"], OPERATOR_SOURCE);
        assert_eq!(e["id"], "operator-adj-1");
        assert_eq!(
            e["detail"],
            json!({"adjustment_id": "adj-1", "account_id": "acme", "credits": -25, "reason": "double top-up"})
        );
        assert_eq!(a.envelope(T0), e, "a retry sends the same envelope");
        let zero = Adjustment {
            credits: 0,
            ..a.clone()
        };
        assert!(zero.validate().unwrap_err().contains("detail.credits"));
        let no_reason = Adjustment {
            reason: String::new(),
            ..a.clone()
        };
        assert!(no_reason.validate().unwrap_err().contains("detail.reason"));
        let huge = Adjustment {
            credits: 1_000_000_000_001,
            ..a
        };
        assert!(huge.validate().is_err());
        let id = new_adjustment_id(T0, 0xdead_beef);
        assert_eq!(id, "adj-20261129t100000z-deadbeef");
        assert!(
            Adjustment {
                adjustment_id: id,
                account_id: "a".into(),
                credits: 1,
                reason: "r".into()
            }
            .validate()
            .is_ok()
        );
    }

    #[test]
    fn staging_and_prod_ask_dev_does_not() {
        assert_eq!(
            adjust_confirmation(Stage::Dev, false, false, "q"),
            Confirmation::Proceed
        );
        assert!(matches!(
            adjust_confirmation(Stage::Prod, false, true, "q"),
            Confirmation::Ask { .. }
        ));
        assert!(matches!(
            adjust_confirmation(Stage::Staging, false, false, "q"),
            Confirmation::Refuse(_)
        ));
        assert_eq!(
            adjust_confirmation(Stage::Prod, true, false, "q"),
            Confirmation::Proceed
        );
    }

    #[test]
    fn the_response_is_spelled_out() {
        let r = json!({"outcome": "adjusted", "account": {"account_id": "acme", "available": 75, "held": 0}});
        let text = render_response(&r);
        assert!(
            text.starts_with("outcome adjusted: account acme available 75, held 0"),
            "{text}"
        );
        assert!(
            render_response(&json!({"outcome": "conflict", "account": {}})).contains("CONFLICT")
        );
    }

    #[test]
    fn the_command_lines_parse() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(subcommand)]
            command: Command,
        }
        let Command::Adjust {
            account,
            credits,
            reason,
            id,
            yes,
            ..
        } = Cli::parse_from([
            "x",
            "adjust",
            "--stage",
            "prod",
            "acme",
            "--credits",
            "-25",
            "--reason",
            "r",
        ])
        .command
        else {
            panic!("not adjust");
        };
        assert_eq!(
            (account.as_str(), credits, reason.as_str(), id, yes),
            ("acme", -25, "r", None, false)
        );
        assert!(
            Cli::try_parse_from(["x", "adjust", "--stage", "dev", "acme", "--credits", "5"])
                .is_err(),
            "a reason is required"
        );
        assert!(matches!(
            Cli::parse_from([
                "x",
                "statement",
                "--stage",
                "dev",
                "acme",
                "--csv",
                "--since",
                "7d"
            ])
            .command,
            Command::Statement {
                csv: true,
                since: Some(_),
                ..
            }
        ));
        assert!(matches!(
            Cli::parse_from(["x", "job", "--stage", "dev", "j1"]).command,
            Command::Job { .. }
        ));
    }
}
