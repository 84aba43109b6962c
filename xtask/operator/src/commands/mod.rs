//! The commands room: one module per command (arguments, then plan, run,
//! render), and what they share: an opened stage ([`Console`]: who and
//! where, the deployed stack's outputs — every name a command acts on,
//! never rebuilt by hand — and the clients), running a command's body to
//! its exit code, and deleting queue messages by id (`dlq` and `unrouted`).
//!
//! A command imports the rooms below, never another command.

pub mod dlq;
pub mod ledger;
pub mod logs;
pub mod policy;
pub mod replay;
pub mod send;
pub mod smoke;
pub mod stack;
pub mod status;
pub mod sweep;
pub mod synth;
pub mod unrouted;

use std::future::Future;
use std::process::ExitCode;

use infra::{StackOutputs, Stage};

use anyhow::bail;
use clap::Args;

use crate::aws::{Clients, Session, Target};
use crate::base::ui::{Act, Confirmation, Given};
use crate::models::queues::{DeleteAction, Queue, ReceiveOptions, delete, delete_report};

/// A deployed stage, opened: who and where, its outputs, the clients.
#[derive(Clone, Debug)]
pub struct Console {
    /// The stage's configuration, the SDK configuration, who and where.
    pub session: Session,
    /// The deployed stack's outputs.
    pub outputs: StackOutputs,
    /// The clients.
    pub clients: Clients,
}

impl Console {
    /// Opens `target`: its configuration, who and where, and the deployed
    /// stack's outputs.
    ///
    /// # Errors
    /// A bad stage file, unusable credentials, or no deployed stack (one
    /// line each).
    pub async fn open(target: &Target) -> anyhow::Result<Console> {
        Console::from_session(Session::open(target).await?).await
    }

    /// Opens the stage of an existing session.
    ///
    /// # Errors
    /// The stack is not deployed or lacks outputs.
    pub async fn from_session(session: Session) -> anyhow::Result<Console> {
        let outputs = stack_outputs(&session).await?;
        let clients = session.clients();
        Ok(Console {
            session,
            outputs,
            clients,
        })
    }

    /// The stage.
    pub fn stage(&self) -> Stage {
        self.session.stage.stage
    }

    /// The ledger table, read through the store's read API.
    pub fn ledger(&self) -> reconciler::store::Ledger {
        reconciler::store::Ledger::new(
            self.clients.dynamodb.clone(),
            self.outputs.ledger_table_name.clone(),
        )
    }
}

/// The deployed stack's outputs: the names the operator commands act on.
///
/// # Errors
/// The stack does not exist here, or lacks outputs (an older stack).
async fn stack_outputs(session: &Session) -> anyhow::Result<StackOutputs> {
    let cfn = session.clients().cfn;
    let described = crate::cfn::stack::of_session(&cfn, session).await?;
    crate::cfn::stack::stack_outputs(&infra::stack_name(session.stage.stage), &described)
        .map_err(anyhow::Error::msg)
}

/// Runs a command's async body on a fresh runtime; `Ok(true)` means "ran,
/// but a person is needed" (exit code [`crate::base::exit::NEEDS_A_PERSON`]).
///
/// # Errors
/// The body's error, or the runtime could not start.
pub fn run_command<F>(body: F) -> anyhow::Result<ExitCode>
where
    F: Future<Output = anyhow::Result<bool>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(if runtime.block_on(body)? {
        ExitCode::from(crate::base::exit::NEEDS_A_PERSON)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether deleting messages for good may go ahead
/// ([`Act::DeleteMessages`]): the question names who and where.
pub(crate) fn deletion_confirmation(
    stage: Stage,
    yes: bool,
    question: &str,
    doing: &str,
) -> Confirmation {
    let given = Given {
        yes,
        interactive: crate::base::ui::interactive(),
        confirm_stack: None,
    };
    Act::DeleteMessages.confirmation(stage, given, question, doing)
}

/// `delete --id … [--yes]` of both queues.
#[derive(Args, Debug)]
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

/// Deletes exactly the ids asked for from the stage's `queue`, after the
/// confirmation.
pub(crate) async fn delete_ids(
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
