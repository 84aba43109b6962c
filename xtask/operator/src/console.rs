//! What the operator console commands (`status`, `logs`, `ledger`, `sweep`,
//! `replay`, `dlq`, `unrouted`, `smoke`) share: an opened stage — who and
//! where ([`Session`]), the deployed stack's outputs (every name a command
//! acts on: never rebuilt by hand) — and one client per service.

use std::future::Future;
use std::process::ExitCode;

use infra::{StackOutputs, Stage};

use crate::aws::{Clients, Session, Target, sdk_error};

/// The exit code of a command that ran but found something a person must
/// look at (`status`, `sweep`): distinct from 1, a failed command.
pub const NEEDS_A_PERSON: u8 = 2;

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
        let clients = Clients::new(&session.config);
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

/// Runs a command's async body on a fresh runtime; `Ok(true)` means "ran,
/// but a person is needed" (exit code [`NEEDS_A_PERSON`]).
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
        ExitCode::from(NEEDS_A_PERSON)
    } else {
        ExitCode::SUCCESS
    })
}

/// Puts one event on a bus: `Ok` only when PutEvents accepted it (no failed
/// entry).
///
/// # Errors
/// PutEvents failed or reported the entry failed (one line).
pub async fn put_event(
    events: &aws_sdk_eventbridge::Client,
    bus_name: &str,
    source: &str,
    detail_type: &str,
    detail: &serde_json::Value,
    time: Option<&str>,
) -> Result<(), String> {
    let mut entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus_name)
        .source(source)
        .detail_type(detail_type)
        .detail(detail.to_string());
    if let Some(t) = time.and_then(|t| {
        aws_smithy_types::DateTime::from_str(t, aws_smithy_types::date_time::Format::DateTime).ok()
    }) {
        entry = entry.time(t);
    }
    let out = events
        .put_events()
        .entries(entry.build())
        .send()
        .await
        .map_err(|e| format!("PutEvents failed: {}", sdk_error(&e)))?;
    if let Some(e) = out.entries().iter().find(|e| e.error_code().is_some()) {
        return Err(format!(
            "PutEvents reported {}: {}",
            e.error_code().unwrap_or_default(),
            e.error_message().unwrap_or_default()
        ));
    }
    if out.failed_entry_count() > 0 {
        return Err("PutEvents reported a failed entry".to_owned());
    }
    Ok(())
}

/// The deployed stack's outputs: the names the operator commands act on.
///
/// # Errors
/// The stack does not exist here, or lacks outputs (an older stack).
async fn stack_outputs(session: &Session) -> anyhow::Result<StackOutputs> {
    let cfn = aws_sdk_cloudformation::Client::new(&session.config);
    let described = crate::cfn::stack::of_session(&cfn, session).await?;
    crate::cfn::stack::stack_outputs(&infra::stack_name(session.stage.stage), &described)
        .map_err(anyhow::Error::msg)
}
