//! `cargo xtask dlq list|replay|delete|purge`: the stage's dead-letter
//! queue. Every queue, bus and function name comes from the deployed
//! stack's outputs; reading the queue without consuming it and classifying
//! its letters is the queues read model's (`models::queues`).
//!
//! - [`replay`]: valid dead business events back on the bus;
//! - [`output`]: what the command prints.

pub mod output;
pub mod replay;

use anyhow::bail;
use serde_json::Value;

pub use output::table;
pub use replay::{
    REPLAY_IS_SAFE, ReplayAction, ReplayOptions, ReplayOutcome, Replayed, Selection, replay,
    replay_report,
};

use crate::aws::Target;
use crate::commands::{Console, DeleteArgs, delete_ids, deletion_confirmation, run_command};
use crate::models::queues::{Queue, ReceiveOptions, approximate_counts, list, purge};
use crate::models::rules;

/// `cargo xtask dlq`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = DLQ_EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

const DLQ_EXAMPLES: &str = "Examples:
  cargo xtask dlq list --stage prod
  cargo xtask dlq replay --stage prod --all --dry-run
  cargo xtask dlq delete --stage prod --id 3f1c2a9e-… --yes";

/// `dlq list|replay|delete|purge`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show the dead letters (without consuming them): shape, detail-type,
    /// business key, error, age.
    #[command(after_help = "Examples:\n  cargo xtask dlq list --stage prod\n  \
                            cargo xtask dlq list --stage dev --json | jq '.[].original_event'")]
    List {
        #[command(flatten)]
        target: Target,
        /// Print JSON (one array) instead of a table.
        #[arg(long)]
        json: bool,
        /// Read at most this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
    /// Put dead business events back on the bus, deleting each once
    /// accepted. Safe: effects are keyed on business keys. Invalid events
    /// are kept (fix the producer, then `delete` them). Refused while the
    /// ledger rule is not enabled (nothing would reach the handler).
    #[command(
        after_help = "Examples:\n  cargo xtask dlq replay --stage prod --all --dry-run\n  \
                            cargo xtask dlq replay --stage prod --id 3f1c2a9e-… --id 8d7e…"
    )]
    Replay {
        #[command(flatten)]
        target: Target,
        /// Replay this message id (repeatable).
        #[arg(long = "id", value_name = "MESSAGE_ID", conflicts_with = "all")]
        ids: Vec<String>,
        /// Replay every business event in the queue.
        #[arg(long)]
        all: bool,
        /// Only say what would be replayed.
        #[arg(long)]
        dry_run: bool,
    },
    /// Delete exactly these messages, e.g. an invalid event once its producer
    /// is fixed (prod: --yes required).
    #[command(after_help = "Example:\n  cargo xtask dlq delete --stage prod --id 3f1c2a9e-… --yes")]
    Delete(DeleteArgs),
    /// Delete every message of the queue (prod: --yes required).
    #[command(after_help = "Example:\n  cargo xtask dlq purge --stage dev --yes")]
    Purge {
        #[command(flatten)]
        target: Target,
        /// Do not ask (required for prod and without a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// Runs `cargo xtask dlq …`.
///
/// # Errors
/// The stage is not deployed, AWS failed, or some letters were not handled.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        match args.command {
            Command::List { target, json, max } => run_list(&target, json, max).await,
            Command::Replay {
                target,
                ids,
                all,
                dry_run,
            } => {
                let selection = match (all, ids.is_empty()) {
                    (true, _) => Selection::All,
                    (false, false) => Selection::Ids(ids),
                    (false, true) => {
                        bail!("say which dead letters: --id MESSAGE_ID (repeatable) or --all")
                    }
                };
                run_replay(&target, selection, dry_run).await
            }
            Command::Delete(args) => delete_ids(args, Queue::dead_letters).await,
            Command::Purge { target, yes } => run_purge(&target, yes).await,
        }
    })
}

/// `dlq list`: a table (or JSON) of the dead letters, and what to do.
async fn run_list(target: &Target, json: bool, max: usize) -> anyhow::Result<bool> {
    let console = Console::open(target).await?;
    eprintln!("{}", console.session.who_and_where());
    let queue = Queue::dead_letters(&console.outputs);
    let opts = ReceiveOptions {
        max_messages: max,
        ..ReceiveOptions::default()
    };
    let received = list(&console.clients.sqs, &queue.url, &opts).await?;
    let now = crate::base::when::now_ms();
    let letters = &received.letters;
    if json {
        let all: Vec<Value> = letters.iter().map(|l| l.to_json(now)).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if letters.is_empty() {
        println!("{}: no dead letters.", queue.name);
    } else {
        print!("{}", table(letters, now));
        println!(
            "{} dead letter(s) in {}{}. Replay business events that failed for \
             transient reasons with `cargo xtask dlq replay --stage {stage} --all` \
             (safe: keyed on business keys). Invalid events are not replayed: fix \
             the producer, then `cargo xtask dlq delete --stage {stage} --id \
             <MESSAGE_ID>`. Messages are deleted by SQS 14 days after they arrived.",
            letters.len(),
            queue.name,
            if received.drained {
                ""
            } else {
                " (stopped before the queue was drained: there may be more)"
            },
            stage = target.stage,
        );
    }
    Ok(false)
}

/// `dlq replay`: the selected business events back on the bus.
async fn run_replay(target: &Target, selection: Selection, dry_run: bool) -> anyhow::Result<bool> {
    let console = Console::open(target).await?;
    if dry_run {
        eprintln!("{}", console.session.who_and_where());
    } else {
        console.session.before_writing()?;
    }
    let ledger = rules::ledger_rule(&console.clients.events, &console.outputs)
        .await
        .map_err(anyhow::Error::msg)?;
    match rules::require_enabled(&ledger, "dlq replay") {
        Err(why) if dry_run => eprintln!("warning: {why}"),
        refused => refused.map_err(anyhow::Error::msg)?,
    }
    let opts = ReplayOptions {
        selection,
        dry_run,
        bus_name: console.outputs.bus_name.clone(),
        sweep_function: console.outputs.sweep_function_name.clone(),
        stage: target.stage,
        receive: ReceiveOptions::default(),
    };
    println!("Replaying onto bus {}:", opts.bus_name);
    let queue = Queue::dead_letters(&console.outputs);
    let (sqs, events) = (&console.clients.sqs, &console.clients.events);
    let replayed = replay(sqs, events, &queue.url, &opts).await?;
    print!("{}", replay_report(&replayed.outcomes, dry_run));
    if replayed.outcomes.iter().any(ReplayOutcome::is_failure) {
        bail!("some dead letters were not replayed (see above)");
    }
    if !replayed.drained {
        bail!(
            "stopped before {} was drained: dead letters may be left that were not \
             looked at; run the command again",
            queue.name
        );
    }
    Ok(false)
}

/// `dlq purge`: every message deleted, after the confirmation.
async fn run_purge(target: &Target, yes: bool) -> anyhow::Result<bool> {
    let console = Console::open(target).await?;
    console.session.before_writing()?;
    let queue = Queue::dead_letters(&console.outputs);
    let question = format!(
        "{}: delete every message of {} for good?",
        console.session.who_and_where(),
        queue.name
    );
    deletion_confirmation(
        target.stage,
        yes,
        &question,
        "purging the dead-letter queue",
    )
    .resolve("not purged")?;
    let before = approximate_counts(&console.clients.sqs, &queue.url)
        .await
        .ok();
    purge(&console.clients.sqs, &queue.url).await?;
    match before {
        Some((visible, in_flight)) => println!(
            "Purged {} (about {} message(s)).",
            queue.name,
            visible + in_flight
        ),
        None => println!("Purged {}.", queue.name),
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use infra::Stage;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn the_command_lines_parse() {
        use clap::Parser;
        let cli = Cli::parse_from([
            "x",
            "replay",
            "--stage",
            "prod",
            "--id",
            "m1",
            "--id",
            "m2",
            "--dry-run",
            "--endpoint-url",
            "http://127.0.0.1:5000",
            "--region",
            "eu-west-1",
            "--profile",
            "ops",
        ]);
        let Command::Replay {
            target,
            ids,
            all,
            dry_run,
        } = cli.command
        else {
            panic!("not replay");
        };
        assert_eq!(target.stage, Stage::Prod);
        assert_eq!(ids, ["m1", "m2"]);
        assert!(!all && dry_run);
        assert_eq!(
            target.aws.endpoint_url.as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(target.aws.region.as_deref(), Some("eu-west-1"));
        assert_eq!(target.aws.profile.as_deref(), Some("ops"));
        assert!(
            Cli::try_parse_from(["x", "replay", "--stage", "dev", "--id", "m", "--all"]).is_err()
        );
        assert!(
            Cli::try_parse_from(["x", "replay", "--stage", "dev", "--bus", "b", "--all"]).is_err(),
            "the bus comes from the stack's outputs"
        );
        assert!(matches!(
            Cli::parse_from(["x", "list", "--stage", "dev", "--json"]).command,
            Command::List {
                json: true,
                max: 1000,
                ..
            }
        ));
        assert!(matches!(
            Cli::parse_from(["x", "purge", "--stage", "staging", "--yes"]).command,
            Command::Purge { yes: true, .. }
        ));
        assert!(Cli::try_parse_from(["x", "purge"]).is_err());
        let Command::Delete(DeleteArgs { target, ids, yes }) = Cli::parse_from([
            "x", "delete", "--stage", "prod", "--id", "m1", "--id", "m2", "--yes",
        ])
        .command
        else {
            panic!("not delete");
        };
        assert_eq!(
            (target.stage, ids, yes),
            (Stage::Prod, vec!["m1".to_owned(), "m2".to_owned()], true)
        );
        assert!(
            Cli::try_parse_from(["x", "delete", "--stage", "dev"]).is_err(),
            "an id is required"
        );
    }
}
