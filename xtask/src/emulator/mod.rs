//! The local AWS the commands and the tests run against: a real moto server
//! ([`moto`]), a loopback proxy in front of it that injects faults and the
//! real services' behaviours the emulator lacks ([`proxy`]), an SDK
//! interceptor counting requests ([`counting`]), and a Lambda Runtime API
//! that drives the real binaries the way Lambda does ([`runtime_api`]).
//!
//! This is the one place that starts an emulator or builds an SDK
//! configuration with test credentials: `cargo xtask run`, `moto`, `test`,
//! `bench` and the end-to-end tests all come here.

pub mod counting;
pub mod http;
pub mod moto;
pub mod proxy;
pub mod runtime_api;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The region an emulator is assumed to be in when none is configured.
pub const REGION: &str = "us-east-1";

/// The account moto answers as.
pub const ACCOUNT: &str = "123456789012";

/// Credentials for an emulator, which accepts any.
pub fn credentials() -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "emulator")
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
