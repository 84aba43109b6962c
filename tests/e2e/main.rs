//! The end-to-end tests: one test binary (one link of the AWS SDK), a module
//! per area, every test against a real moto server (`cargo xtask test` starts
//! one and passes `MOTO_ENDPOINT`; run alone, the first test starts one from
//! the project's virtualenv). Their tooling is the testkit
//! (`tests/testkit`).

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod big_account;
mod cells;
mod console;
mod deploy;
mod dlq;
mod handler_binary;
mod ledger;
mod ledger_commands;
mod logs;
mod plane;
mod policy;
mod rehearsals;
mod replay;
mod semantics;
mod signin;
mod sim;
mod smoke;
mod stack;
mod status;
mod sweep;
mod sweep_binary;
mod user_errors;
