//! What the operator console commands (`status`, `logs`, `ledger`, `sweep`,
//! `replay`, `dlq`, `unrouted`, `smoke`) share: an opened stage — who and
//! where ([`Session`]), the deployed stack's outputs (every name a command
//! acts on: never rebuilt by hand) — and one client per service.

use std::future::Future;
use std::process::ExitCode;

use aws_config::SdkConfig;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use infra::{StackOutputs, Stage};

use crate::aws::{Session, Target};

/// The exit code of a command that ran but found something a person must
/// look at (`status`, `sweep`): distinct from 1, a failed command.
pub const NEEDS_A_PERSON: u8 = 2;

/// One client per service the console commands use, from one configuration.
#[derive(Clone, Debug)]
pub struct OpsClients {
    /// The stack (status, parameters).
    pub cfn: aws_sdk_cloudformation::Client,
    /// Alarms and their history.
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    /// The dead-letter and unrouted queues.
    pub sqs: aws_sdk_sqs::Client,
    /// The bus, its archive and replays.
    pub events: aws_sdk_eventbridge::Client,
    /// The functions' log groups.
    pub logs: aws_sdk_cloudwatchlogs::Client,
    /// The functions (code version, direct invocations). Honours
    /// `AWS_ENDPOINT_URL_LAMBDA` over `--endpoint-url`, as the SDK does.
    pub lambda: aws_sdk_lambda::Client,
    /// The ops-alerts topic's subscribers.
    pub sns: aws_sdk_sns::Client,
    /// The ledger table (read through [`reconciler::store::Ledger`]).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl OpsClients {
    /// Every client from `config`.
    pub fn new(config: &SdkConfig) -> OpsClients {
        OpsClients {
            cfn: aws_sdk_cloudformation::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
        }
    }
}

/// A deployed stage, opened: who and where, its outputs, the clients.
#[derive(Clone, Debug)]
pub struct Console {
    /// The stage's configuration, the SDK configuration, who and where.
    pub session: Session,
    /// The deployed stack's outputs.
    pub outputs: StackOutputs,
    /// The clients.
    pub clients: OpsClients,
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
        let outputs = session.outputs().await?;
        let clients = OpsClients::new(&session.config);
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

/// An AWS error in one line: `Code: message`, or the whole chain when the
/// service sent no code (e.g. a connection error).
pub fn sdk_error<E>(e: &E) -> String
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => aws_smithy_types::error::display::DisplayErrorContext(e)
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
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
