//! The local AWS the commands and the tests run against: a real moto server
//! ([`moto`]), a loopback proxy in front of it that injects faults and the
//! real services' behaviours the emulator lacks ([`proxy`]), and a Lambda Runtime API
//! that drives the real binaries the way Lambda does ([`runtime_api`]).
//!
//! This is the one place that starts an emulator or builds an SDK
//! configuration for one: `cargo xtask run`, `moto`, `test`, `bench` and
//! the end-to-end tests all come here.

pub mod moto;
pub mod proxy;
pub mod runtime_api;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// What the commands take an emulator to be (one home: the operator's
/// session, which falls back to them under `--endpoint-url`).
pub use operator::aws::emulator::{ACCOUNT, REGION, credentials};

/// The environment Lambda gives a function process, pointed at the
/// emulator at `endpoint` with [`credentials`] and [`REGION`]: cleared
/// first, so the process sees only this and what the caller adds (the
/// template's variables). One home for the bench and the tests.
pub fn lambda_env(
    cmd: &mut std::process::Command,
    runtime_api: &str,
    function_name: &str,
    memory_mb: u32,
    endpoint: &str,
) {
    let keys = credentials();
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", keys.access_key_id())
        .env("AWS_SECRET_ACCESS_KEY", keys.secret_access_key())
        .env("AWS_ENDPOINT_URL", endpoint);
}

/// An SDK configuration for the emulator at `endpoint`: test credentials,
/// [`REGION`].
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .load()
        .await
}
