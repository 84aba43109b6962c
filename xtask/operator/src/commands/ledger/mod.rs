//! `cargo xtask ledger statement|job|adjust|repair|split`: read an account or a
//! job, correct an account (contract §3 "Corrections"), and repair a drifted
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

mod adjust;
mod job;
pub mod json;
mod repair;
mod statement;
#[cfg(test)]
mod tests;

use std::time::Duration;

use anyhow::bail;

use crate::aws::Target;
use crate::base::when::parse_time;
use crate::commands::{Console, run_command};
use crate::models::invoke::Invoked;

pub use adjust::{
    Adjustment, OPERATOR_SOURCE, adjust, new_adjustment_id, preview, render_response,
};
pub use job::{JobHistory, job_history, render_job};
pub use repair::{Repair, render_repair, repair};
use statement::signed;
pub use statement::{OpenHold, Statement, render_statement, statement, statement_csv};

/// `cargo xtask ledger`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = "Examples:
  cargo xtask ledger statement --stage prod acme --since 2026-11-01
  cargo xtask ledger statement --stage prod acme --json | jq .account.available
  cargo xtask ledger job --stage prod job-42
  cargo xtask ledger adjust --stage prod acme --credits -25 --reason \"refund ticket 1234\"")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

/// `ledger statement|job|adjust|repair|split`.
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
        #[arg(long, conflicts_with = "json")]
        csv: bool,
        /// Print the statement as JSON (see docs/operations.md#json).
        #[arg(long)]
        json: bool,
        /// Only entries from then on: 2026-11-29, 2026-11-29T10:00:00Z, or 7d (ago).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
    },
    /// One job's history: its status, the entries that moved its money, and
    /// the events that moved it.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger job --stage prod job-42\n  \
                            cargo xtask ledger job --stage prod job-42 --json | jq .status"
    )]
    Job {
        #[command(flatten)]
        target: Target,
        /// The job id.
        job: String,
        /// Print the job as JSON (see docs/operations.md#json).
        #[arg(long)]
        json: bool,
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
        /// The cell of a split account to repair (the drift names it; 0:
        /// its home cell, the whole of an account never split).
        #[arg(long, default_value_t = 0)]
        cell: u32,
        /// Say what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (staging and prod ask).
        #[arg(long)]
        yes: bool,
    },
    /// Spread a busy account over more cells, so that its events write
    /// several partition keys (ARCHITECTURE.md, "Cells"): one transaction
    /// on its home cell; money moves between the cells as holds need it.
    /// A split only adds cells.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger split --stage prod render-farm-7 --cells 8"
    )]
    Split {
        #[command(flatten)]
        target: Target,
        /// The account id.
        account: String,
        /// How many cells it has from now on (2 to 32, more than it has).
        #[arg(long)]
        cells: u32,
        /// Do not ask for confirmation (staging and prod ask).
        #[arg(long)]
        yes: bool,
    },
    /// Correct an account (contract §3): shows its balance
    /// now and after, then the handler applies a `credits.adjusted` by its
    /// id, once. Never edit ledger items by hand.
    #[command(
        after_help = "Examples:\n  cargo xtask ledger adjust --stage prod acme --credits 50 \
                            --reason \"goodwill, ticket 1234\"\n  \
                            cargo xtask ledger adjust --stage prod acme --credits -25 --reason \
                            \"double top-up\" --id adj-20261129t100000z-0badcafe   # a retry\n  \
                            cargo xtask ledger adjust --stage prod newco --credits 100 --reason \
                            \"opening balance\" --create-account"
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
        /// The account has no entries yet: open it with this correction
        /// (without it, an unknown account is refused: a misspelt id).
        #[arg(long)]
        create_account: bool,
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
                json,
                since,
            } => {
                let format = match (csv, json) {
                    (true, _) => Format::Csv,
                    (_, true) => Format::Json,
                    _ => Format::Text,
                };
                run_statement(&target, &account, format, since.as_deref()).await
            }
            Command::Repair {
                target,
                account,
                cell,
                dry_run,
                yes,
            } => run_repair(&target, (&account, cell), dry_run, yes).await,
            Command::Split {
                target,
                account,
                cells,
                yes,
            } => run_split(&target, &account, cells, yes).await,
            Command::Job { target, job, json } => {
                let console = Console::open(&target).await?;
                eprintln!("{}", console.session.who_and_where());
                let table_name = &console.outputs.ledger_table_name;
                let h = job_history(&console.ledger(), table_name, &job).await?;
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&json::job(&h, table_name))?
                    );
                } else {
                    print!("{}", render_job(&h, table_name));
                }
                Ok(false)
            }
            Command::Adjust {
                target,
                account,
                credits,
                reason,
                id,
                yes,
                create_account,
            } => {
                let now = crate::base::when::now_ms();
                let adjustment = Adjustment {
                    adjustment_id: id.unwrap_or_else(|| new_adjustment_id(now, adjust::nonce())),
                    account_id: account,
                    credits,
                    reason,
                };
                run_adjust(&target, &adjustment, (yes, create_account), now).await
            }
        }
    })
}

/// How `ledger statement` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Csv,
    Json,
}

/// `ledger statement`: as a table, the entries as CSV, or JSON.
async fn run_statement(
    target: &Target,
    account: &str,
    format: Format,
    since: Option<&str>,
) -> anyhow::Result<bool> {
    let now = crate::base::when::now_ms();
    let since = since
        .map(|s| parse_time(s, now))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let console = Console::open(target).await?;
    eprintln!("{}", console.session.who_and_where());
    let table_name = &console.outputs.ledger_table_name;
    let s = statement(&console.ledger(), table_name, account, since).await?;
    match format {
        Format::Csv => print!("{}", statement_csv(&s)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json::statement(&s, table_name, now))?
        ),
        Format::Text => print!("{}", render_statement(&s, table_name, now)),
    }
    Ok(false)
}

/// `ledger split`: the account's cells from now on.
async fn run_split(target: &Target, account: &str, cells: u32, yes: bool) -> anyhow::Result<bool> {
    let console = Console::open(target).await?;
    console.session.before_writing()?;
    let question = format!(
        "{}: spread account {account} over {cells} cells (a split cannot be undone)?",
        console.session.who_and_where()
    );
    adjust::adjust_confirmation(console.stage(), yes, &question).resolve("nothing split")?;
    let home = console.ledger().split_account(account, cells).await?;
    println!(
        "Account {account} has {} cells from now on{}.",
        home.cell_count(),
        if home.owing {
            " (it is below zero: every cell is marked owing until a hold finds it paid)"
        } else {
            ""
        }
    );
    Ok(false)
}

/// `ledger repair`: a person is needed when a dry run found drift.
async fn run_repair(
    target: &Target,
    (account, cell): (&str, u32),
    dry_run: bool,
    yes: bool,
) -> anyhow::Result<bool> {
    let console = Console::open(target).await?;
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
    let done = repair(
        &console.ledger(),
        table_name,
        (account, cell),
        dry_run,
        |_, _| {
            adjust::adjust_confirmation(console.stage(), yes, &question).resolve("nothing repaired")
        },
    )
    .await?;
    print!("{}", render_repair(account, &done));
    Ok(matches!(done, Repair::Needed { .. }))
}

/// `ledger adjust`: the balance now and after, then the confirmation; a
/// person is needed when the handler answered `conflict`. `given`: `--yes`
/// and `--create-account`.
async fn run_adjust(
    target: &Target,
    adjustment: &Adjustment,
    given: (bool, bool),
    now: i64,
) -> anyhow::Result<bool> {
    let (yes, create_account) = given;
    adjustment.validate().map_err(anyhow::Error::msg)?;
    let console = Console::open(target).await?;
    console.session.before_writing()?;
    let table_name = &console.outputs.ledger_table_name;
    let account = console
        .ledger()
        .account_total(&adjustment.account_id)
        .await?;
    let balance = preview(account.as_ref(), adjustment, create_account, table_name)
        .map_err(anyhow::Error::msg)?;
    eprintln!(
        "Adjustment {} (reuse it to retry: --id {}): {} credits on account {}, reason {:?}.",
        adjustment.adjustment_id,
        adjustment.adjustment_id,
        signed(adjustment.credits),
        adjustment.account_id,
        adjustment.reason
    );
    eprintln!("{balance}");
    let question = format!(
        "{}: move {} credits on account {}?",
        console.session.who_and_where(),
        signed(adjustment.credits),
        adjustment.account_id
    );
    adjust::adjust_confirmation(console.stage(), yes, &question).resolve("no correction made")?;
    let handler = &console.outputs.handler_function_name;
    let runs_up_to = Duration::from_secs(u64::from(console.session.stage.handler_timeout_seconds));
    match adjust(
        &console.clients.lambda,
        handler,
        adjustment,
        now,
        runs_up_to,
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
