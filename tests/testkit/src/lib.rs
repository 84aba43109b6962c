//! The testkit: what the end-to-end tests (`tests/e2e/`), the simulator
//! and the benchmarks run AWS with. The operator's binary never compiles it.
//!
//! - [`emulator`]: the moto launcher, the fault proxy and its DynamoDB
//!   semantics, the Lambda Runtime API;
//! - [`sim`]: the simulator (random histories, faults, the oracle);
//! - [`lambda`]: starting a Lambda binary with a template environment;
//! - [`lambda_api`]: a Lambda Invoke API shim in front of the emulator,
//!   running the real binaries (and shipping their logs);
//! - [`intercept`]: a proxy answering some requests itself, forwarding the rest;
//! - [`stage`]: a stage's resources built by hand, with their outputs;
//! - [`capture`]: the one SDK interceptor that records requests;
//! - [`events`]: business events for tests;
//! - [`plane`]: the pure parts of the local data plane (`cargo xtask up`):
//!   alarm evaluation, metric math, EMF, schedule expressions.

// Test tooling: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

pub mod capture;
pub mod emulator;
pub mod events;
pub mod http;
pub mod intercept;
pub mod lambda;
pub mod lambda_api;
pub mod measure;
pub mod plane;
pub mod sim;
pub mod stage;

/// The Lambda Runtime API, with the emulator tooling (`cargo xtask bench`
/// drives the release binaries with it too).
pub use crate::emulator::runtime_api;

/// Lambda packages of the binaries the tests drive (`target/debug`, what
/// `cargo xtask test` builds), laid out as cargo-lambda lays them out
/// (`<dir>/<bin>/bootstrap.zip`), for deploys to the emulator: the tests
/// build for the host, the release build is the deploy's (see README).
///
/// Each package's `bootstrap` is a two-line launcher of the test build's
/// binary (`exec <target>/debug/<bin>`), not the binary itself: a deploy
/// uploads, hashes and stores a few hundred bytes instead of ~50 MB per
/// function, which the emulator is slow at, and the local plane, which runs
/// the deployed `bootstrap`, runs the test build all the same. Packed once
/// per test process, with fixed timestamps.
pub fn prebuilt_artifacts() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| pack(None)).clone()
}

/// The same binaries packed with a `release.txt` of `tag` next to them:
/// other content, so other code keys and another release version, as a
/// new build of the code would have.
pub fn prebuilt_release(tag: &str) -> std::path::PathBuf {
    pack(Some(tag))
}

fn pack(tag: Option<&str>) -> std::path::PathBuf {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!(
        "e2e-artifacts-{}{}",
        std::process::id(),
        tag.map(|t| format!("-{t}")).unwrap_or_default()
    ));
    for function in operator::base::build::FUNCTIONS {
        let binary = lambda::binary(function.bin);
        let launcher = format!("#!/bin/sh\nexec '{}' \"$@\"\n", binary.display());
        let out = dir.join(function.bin);
        std::fs::create_dir_all(&out).unwrap();
        let mut zip =
            zip::ZipWriter::new(std::fs::File::create(out.join("bootstrap.zip")).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .unix_permissions(0o755)
            .last_modified_time(zip::DateTime::default())
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("bootstrap", options).unwrap();
        zip.write_all(launcher.as_bytes()).unwrap();
        if let Some(tag) = tag {
            zip.start_file("release.txt", options).unwrap();
            zip.write_all(tag.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
    }
    dir
}

/// A fresh, uniquely named ledger table on the emulator.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client, label: &str) -> String {
    let name = format!("ledger-{label}-{:08x}", fastrand::u32(..));
    reconciler::store::schema::create_table(client, &name)
        .await
        .expect("create the ledger table");
    name
}
