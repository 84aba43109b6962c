//! The reconciler's Lambdas, over the pure core (`reconciler_core`):
//!
//! - [`store`]: the DynamoDB adapter (one `TransactWriteItems` per event);
//! - [`handler`]: validate, apply, respond (contract §2–§4);
//! - [`sweep`]: stragglers, audit, conflicts, the report (contract §5), and
//!   [`summarizer`], its optional chat-completions summary;
//! - [`config`]: the environment, read once and validated at start;
//! - [`telemetry`], [`runtime`]: JSON logs, EMF metrics, the Runtime API glue.
//!
//! The binaries in `src/bin/` only wire these together.

pub mod config;
pub mod handler;
pub mod runtime;
pub mod store;
pub mod summarizer;
pub mod sweep;
pub mod telemetry;

/// An AWS SDK configuration from the standard environment (region, credentials,
/// `AWS_ENDPOINT_URL` for a local emulator).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
