//! Everything done differently against a local emulator (`--endpoint-url`),
//! in one place, each with the moto behaviour behind it. Everything else
//! runs the same calls as against AWS.
//!
//! - An emulator accepts any credentials and answers as one account in one
//!   region: [`REGION`], [`ACCOUNT`], [`credentials`] (the testkit's
//!   launcher starts emulators with the same).
//! - moto computes a stack's outputs on `CreateStack`/`UpdateStack` only,
//!   never when it executes a change set: [`lacks_outputs`] (the deploy
//!   then refreshes them with an `UpdateStack` of the same template).
//! - moto answers `UpdateTerminationProtection` with a 500: the deploy does
//!   not turn it on there ([`lacks_termination_protection`]).
//! - moto answers `DetectStackDrift` with a 500: `drift` reports the
//!   resources as not checked ([`lacks_drift_detection`]) and still compares
//!   the functions' code.
//! - moto enforces a TLS-only bucket policy against its own plain-HTTP
//!   endpoint: the artifacts bucket gets every setting but that policy
//!   ([`bucket_tls_policy`]).
//! - moto's CloudFormation fetches a `TemplateURL` only from `localhost`
//!   ([`fetchable_endpoint`]).
//! - moto does not implement Lambda's `GetAccountSettings`: the prod
//!   deploy's check of the concurrency quota is skipped there
//!   ([`lacks_lambda_account_settings`]; it is unit-tested with mocks).

use super::Clients;

/// The region an emulator is assumed to be in when none is configured.
pub const REGION: &str = "us-east-1";

/// The account moto answers as.
pub const ACCOUNT: &str = "123456789012";

/// Credentials for an emulator, which accepts any.
pub fn credentials() -> aws_sdk_sts::config::Credentials {
    aws_sdk_sts::config::Credentials::new("testing", "testing", None, None, "emulator")
}

/// Whether the emulator implements termination protection (moto: no).
const TERMINATION_PROTECTION: bool = false;

/// Whether termination protection cannot be turned on here (an emulator
/// without it): the deploy says so instead of failing.
pub fn lacks_termination_protection(clients: &Clients) -> bool {
    clients.on_emulator() && !TERMINATION_PROTECTION
}

/// Whether Lambda's account settings cannot be read here (moto has no
/// `GetAccountSettings`).
pub fn lacks_lambda_account_settings(clients: &Clients) -> bool {
    clients.on_emulator()
}

/// Whether a new stack's first sweep is not started: on an emulator that
/// runs no functions (moto's `Invoke` tries Docker, and writes its failure
/// into the function's log group).
pub fn skips_first_sweep(clients: &Clients, emulator_runs_functions: bool) -> bool {
    clients.on_emulator() && !emulator_runs_functions
}

/// Whether the stack's missing outputs are moto's (it computes none when it
/// executes a change set).
pub fn lacks_outputs(clients: &Clients, reported: usize, declared: usize) -> bool {
    clients.on_emulator() && reported == 0 && declared > 0
}

/// Whether a failed `DetectStackDrift` is the emulator's missing
/// implementation (moto answers it with a server error), not a failure.
pub fn lacks_drift_detection(clients: &Clients, server_error: bool) -> bool {
    clients.on_emulator() && server_error
}

/// The emulator's endpoint as its CloudFormation fetches a `TemplateURL`
/// from it: `localhost`, never `127.0.0.1` (moto accepts only the first).
pub fn fetchable_endpoint(endpoint: &str) -> String {
    endpoint
        .trim_end_matches('/')
        .replace("://127.0.0.1", "://localhost")
}

/// Whether the artifacts bucket gets its TLS-only policy: on AWS, always.
pub fn bucket_tls_policy(clients: &Clients) -> bool {
    !clients.on_emulator()
}
