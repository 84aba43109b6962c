//! What the operator console commands (`status`, `logs`, `ledger`, `sweep`,
//! `replay`, `dlq`, `unrouted`, `smoke`) share: an opened stage — who and
//! where ([`Session`]), the deployed stack's outputs (every name a command
//! acts on: never rebuilt by hand) — and one client per service.

use std::future::Future;
use std::process::ExitCode;

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
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
    /// The functions (code version, direct invocations): at
    /// `AWS_ENDPOINT_URL_LAMBDA` when it is set ([`lambda_endpoint`]).
    pub lambda: aws_sdk_lambda::Client,
    /// The ops-alerts topic's subscribers.
    pub sns: aws_sdk_sns::Client,
    /// The ledger table (read through [`reconciler::store::Ledger`]).
    pub dynamodb: aws_sdk_dynamodb::Client,
}

/// Where the Lambda client sends requests when `AWS_ENDPOINT_URL_LAMBDA` is
/// set (pure: `env` reads the environment). The SDK lets `--endpoint-url`
/// (a programmatic endpoint) win over it; here the service's own variable
/// wins, so that against a local emulator, which cannot run functions, the
/// invocations can go to a Lambda-compatible endpoint (a Runtime API shim,
/// `cargo lambda watch`) while everything else goes to the emulator.
pub fn lambda_endpoint(env: impl Fn(&str) -> Option<String>) -> Option<String> {
    env("AWS_ENDPOINT_URL_LAMBDA").filter(|e| !e.trim().is_empty())
}

impl OpsClients {
    /// Every client from `config` (see [`lambda_endpoint`]).
    pub fn new(config: &SdkConfig) -> OpsClients {
        let mut lambda = aws_sdk_lambda::config::Builder::from(config);
        if let Some(endpoint) = lambda_endpoint(|name| std::env::var(name).ok()) {
            lambda = lambda.endpoint_url(endpoint);
        }
        OpsClients {
            cfn: aws_sdk_cloudformation::Client::new(config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            events: aws_sdk_eventbridge::Client::new(config),
            logs: aws_sdk_cloudwatchlogs::Client::new(config),
            lambda: aws_sdk_lambda::Client::from_conf(lambda.build()),
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

/// An AWS error in one line: `Code: message`; an answer the SDK could not
/// read as `HTTP <status> …` (e.g. an emulator's error page for an action
/// it does not implement); else the chain, cut short.
pub fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match (e.code(), e.message(), e.raw_response()) {
        (Some(code), Some(message), _) => format!("{code}: {message}"),
        (Some(code), None, _) => code.to_owned(),
        (None, _, Some(raw)) => format!(
            "HTTP {} with an answer the SDK could not read (does this endpoint implement the \
             action?)",
            raw.status().as_u16()
        ),
        (None, _, None) => crate::base::ui::clip(
            &aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
            300,
        ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_endpoint_comes_from_its_own_variable() {
        let env = |value: Option<&'static str>| {
            move |name: &str| {
                (name == "AWS_ENDPOINT_URL_LAMBDA")
                    .then_some(value)
                    .flatten()
                    .map(str::to_owned)
            }
        };
        assert_eq!(lambda_endpoint(env(None)), None);
        assert_eq!(lambda_endpoint(env(Some(" "))), None);
        assert_eq!(
            lambda_endpoint(env(Some("http://127.0.0.1:9001"))).as_deref(),
            Some("http://127.0.0.1:9001")
        );
    }
}
