//! `cargo xtask dlq list|replay|delete|purge`: the stage's dead-letter queue
//! (SPEC §6, §7), and `cargo xtask unrouted list|resend|delete`: its queue
//! of unrouted events. Every queue, bus and function name comes from the
//! deployed stack's outputs.
//!
//! - [`letter`]: the two shapes of dead letter, classified (pure);
//! - [`queue`]: reading a queue without consuming it (long polling until
//!   drained), deleting exactly the ids asked for, purging;
//! - [`replay`]: valid dead business events back on the bus;
//! - [`unrouted`]: the unrouted events, resent only by an explicit command;
//! - [`output`]: what the commands print.

pub mod letter;
pub mod output;
pub mod queue;
pub mod replay;
pub mod unrouted;

use anyhow::bail;
use infra::Stage;
use serde_json::Value;

pub use letter::{Classification, DeadLetter, Replay, Shape, classify, invalid_reason};
pub use output::{delete_report, table};
pub use queue::{
    DeleteAction, DeleteOutcome, Queue, ReceiveOptions, Received, approximate_counts, delete, list,
    purge,
};
pub use replay::{
    REPLAY_IS_SAFE, ReplayAction, ReplayOptions, ReplayOutcome, Replayed, Selection, replay,
    replay_report,
};

use crate::aws::Target;
use crate::base::ui::{Act, Confirmation, Given};
use crate::console::{Console, run_command};

/// Whether deleting messages for good may go ahead
/// ([`Act::DeleteMessages`]): the question names who and where.
fn deletion_confirmation(stage: Stage, yes: bool, question: &str, doing: &str) -> Confirmation {
    let given = Given {
        yes,
        interactive: crate::base::ui::interactive(),
        confirm_stack: None,
    };
    Act::DeleteMessages.confirmation(stage, given, question, doing)
}

// ----- the command lines -----

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
    /// are kept (fix the producer, then `delete` them).
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

/// `cargo xtask unrouted`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = UNROUTED_EXAMPLES)]
pub struct UnroutedArgs {
    #[command(subcommand)]
    pub command: UnroutedCommand,
}

const UNROUTED_EXAMPLES: &str = "Examples:
  cargo xtask unrouted list --stage prod
  cargo xtask unrouted resend --stage prod --id 3f1c2a9e-… --as video.rendered
  cargo xtask unrouted delete --stage prod --id 3f1c2a9e-… --yes";

/// `unrouted list|resend|delete`.
#[derive(clap::Subcommand, Debug)]
pub enum UnroutedCommand {
    /// Show the unrouted events (without consuming them) and which ledger
    /// detail-types their detail would validate as.
    #[command(after_help = "Example:\n  cargo xtask unrouted list --stage prod")]
    List {
        #[command(flatten)]
        target: Target,
        /// Read at most this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
    },
    /// Put ONE unrouted event back on the bus under the detail-type you name,
    /// with its original source and detail, if the detail validates as it;
    /// then delete it from the queue.
    #[command(
        after_help = "Example (a producer sent `video.renderd`, now fixed):\n  \
                            cargo xtask unrouted resend --stage prod --id 3f1c2a9e-… --as video.rendered"
    )]
    Resend {
        #[command(flatten)]
        target: Target,
        /// The message id (`unrouted list`).
        #[arg(long = "id", value_name = "MESSAGE_ID")]
        id: String,
        /// The ledger detail-type to send it as.
        #[arg(long = "as", value_name = "DETAIL_TYPE")]
        as_type: String,
    },
    /// Delete exactly these unrouted events (prod: --yes required).
    #[command(
        after_help = "Example:\n  cargo xtask unrouted delete --stage prod --id 3f1c2a9e-… --yes"
    )]
    Delete(DeleteArgs),
}

/// `delete --id … [--yes]` of both queues.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub target: Target,
    /// Delete this message id (repeatable).
    #[arg(long = "id", value_name = "MESSAGE_ID", required = true)]
    pub ids: Vec<String>,
    /// Do not ask (required for prod and without a terminal).
    #[arg(long)]
    pub yes: bool,
}

/// Runs `cargo xtask dlq …`.
///
/// # Errors
/// The stage is not deployed, AWS failed, or some letters were not handled.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        match args.command {
            Command::List { target, json, max } => {
                let console = Console::open(&target).await?;
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
                let console = Console::open(&target).await?;
                if dry_run {
                    eprintln!("{}", console.session.who_and_where());
                } else {
                    console.session.before_writing()?;
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
                let replayed = replay(
                    &console.clients.sqs,
                    &console.clients.events,
                    &queue.url,
                    &opts,
                )
                .await?;
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
            Command::Delete(args) => delete_ids(args, Queue::dead_letters).await,
            Command::Purge { target, yes } => {
                let console = Console::open(&target).await?;
                console.session.before_writing()?;
                let queue = Queue::dead_letters(&console.outputs);
                deletion_confirmation(
                    target.stage,
                    yes,
                    &format!(
                        "{}: delete every message of {} for good?",
                        console.session.who_and_where(),
                        queue.name
                    ),
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
        }
    })
}

/// Deletes exactly the ids asked for from the stage's `queue`, after the
/// confirmation.
async fn delete_ids(
    args: DeleteArgs,
    queue: fn(&infra::StackOutputs) -> Queue,
) -> anyhow::Result<bool> {
    let DeleteArgs { target, ids, yes } = args;
    let console = Console::open(&target).await?;
    let queue = queue(&console.outputs);
    console.session.before_writing()?;
    deletion_confirmation(
        console.stage(),
        yes,
        &format!(
            "{}: delete {} message(s) of {} for good ({})?",
            console.session.who_and_where(),
            ids.len(),
            queue.name,
            ids.join(", ")
        ),
        "deleting messages",
    )
    .resolve("nothing deleted")?;
    let outcomes = delete(
        &console.clients.sqs,
        &queue.url,
        &ids,
        &ReceiveOptions::default(),
    )
    .await?;
    print!("{}", delete_report(&outcomes));
    if outcomes.iter().any(|o| o.action != DeleteAction::Deleted) {
        bail!("some messages were not deleted (see above)");
    }
    Ok(false)
}

/// Runs `cargo xtask unrouted …`.
///
/// # Errors
/// The stage is not deployed, AWS failed, a resend was refused or failed.
pub fn run_unrouted(args: UnroutedArgs) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        match args.command {
            UnroutedCommand::List { target, max } => {
                let console = Console::open(&target).await?;
                eprintln!("{}", console.session.who_and_where());
                let queue = Queue::unrouted(&console.outputs);
                let opts = ReceiveOptions {
                    max_messages: max,
                    ..ReceiveOptions::default()
                };
                let received = list(&console.clients.sqs, &queue.url, &opts).await?;
                let now = crate::base::when::now_ms();
                if received.letters.is_empty() {
                    println!("{}: no unrouted events.", queue.name);
                    return Ok(false);
                }
                let views: Vec<unrouted::UnroutedView> = received
                    .letters
                    .iter()
                    .map(|l| unrouted::view(l, now))
                    .collect();
                print!("{}", unrouted::list_table(&views));
                println!(
                    "{} unrouted event(s) in {}: no ledger rule matched their detail-type, so \
                     the handler never saw them. Fix the producer; then, for each event that \
                     should count, `cargo xtask unrouted resend --stage {stage} --id \
                     <MESSAGE_ID> --as <DETAIL_TYPE>` (applied by business key: safe), or \
                     `cargo xtask unrouted delete --stage {stage} --id <MESSAGE_ID>`.",
                    views.len(),
                    queue.name,
                    stage = target.stage
                );
                Ok(false)
            }
            UnroutedCommand::Resend {
                target,
                id,
                as_type,
            } => {
                let console = Console::open(&target).await?;
                console.session.before_writing()?;
                let queue = Queue::unrouted(&console.outputs);
                let outcome = unrouted::resend(
                    &console.clients.sqs,
                    &console.clients.events,
                    &queue.url,
                    &console.outputs.bus_name,
                    &id,
                    &as_type,
                    &ReceiveOptions::default(),
                )
                .await?;
                let line = unrouted::resend_line(&outcome, target.stage, &id, &as_type);
                match outcome {
                    unrouted::ResendOutcome::Resent => {
                        println!("{line}");
                        Ok(false)
                    }
                    _ => bail!(line),
                }
            }
            UnroutedCommand::Delete(args) => delete_ids(args, Queue::unrouted).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(clap::Parser)]
    struct UnroutedCli {
        #[command(subcommand)]
        command: UnroutedCommand,
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
        let UnroutedCommand::Resend { id, as_type, .. } = UnroutedCli::parse_from([
            "x",
            "resend",
            "--stage",
            "dev",
            "--id",
            "m1",
            "--as",
            "video.rendered",
        ])
        .command
        else {
            panic!("not resend");
        };
        assert_eq!((id.as_str(), as_type.as_str()), ("m1", "video.rendered"));
        assert!(
            UnroutedCli::try_parse_from(["x", "resend", "--stage", "dev", "--id", "m1"]).is_err(),
            "--as is required: never a guess"
        );
    }
}
