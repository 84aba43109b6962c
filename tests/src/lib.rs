//! Test tooling shared by the end-to-end tests (and `cargo xtask`):
//!
//! - [`moto`]: a real moto server on a free loopback port, started on demand
//!   (or reused from `MOTO_ENDPOINT`), stopped with the test process;
//! - [`proxy`]: a loopback proxy in front of it that injects faults
//!   (throttling, lost responses) into chosen requests;
//! - [`runtime_api`]: a Lambda Runtime API, to drive the real binaries;
//! - [`counting`]: an SDK interceptor counting the HTTP requests a client sends;
//! - [`lambda`]: starting a release Lambda binary with a template environment;
//! - [`events`]: business events for tests.

pub mod counting;
pub mod events;
pub mod http;
pub mod lambda;
pub mod moto;
pub mod proxy;
pub mod runtime_api;

use std::path::PathBuf;

/// The workspace root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A tool of the project's virtualenv (`.venv/bin/<name>`), installed by `cargo xtask tools`.
pub fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var_os("RECONCILER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let path = venv.join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask test` (or `cargo xtask tools`), which installs the pinned Python tools into .venv",
        path.display()
    );
    path
}

/// An SDK configuration for the emulator at `endpoint` (fixed test credentials).
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "e2e",
        ))
        .load()
        .await
}

/// A fresh, uniquely named ledger table on the emulator.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client, label: &str) -> String {
    let name = format!("ledger-{label}-{:08x}", fastrand::u32(..));
    reconciler::store::schema::create_table(client, &name)
        .await
        .expect("create the ledger table");
    name
}
