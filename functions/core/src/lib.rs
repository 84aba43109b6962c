//! The pure core of the credit reconciler.
//!
//! - [`event`]: the four business events and their validation (contract §2);
//! - [`key`]: the business key an effect is applied once by, and its two
//!   stored spellings;
//! - [`ledger`]: the job state machine, deciding what an event does (contract §3);
//! - [`cells`]: one busy account's money spread over several items, and
//!   the transfers that keep a hold's answer the whole account's;
//! - [`audit`]: the money audit (invariants 1–3), written once, used by the
//!   sweep, the local run, the reference model and the tests;
//! - [`memory`]: an in-memory ledger applying decisions, the reference model
//!   the property tests check the invariants on;
//! - [`oracle`]: contract §3 written again from the contract alone, the
//!   independent model the property tests and the simulator compare with;
//! - [`contract`]: names shared with the infrastructure (environment variables,
//!   metric names), so the template and the functions cannot drift apart;
//!   and the handler's response and log line, typed for whoever writes or
//!   reads them.
//!
//! Nothing here does I/O, reads a clock or allocates an id.

// No printing either (`clippy.toml` keeps the functions out; these the
// macros): outside tests, the core says things by returning them.
#![cfg_attr(
    not(test),
    deny(clippy::print_stdout, clippy::print_stderr, clippy::dbg_macro)
)]

pub mod audit;
pub mod cells;
pub mod contract;
pub mod event;
pub mod key;
pub mod ledger;
pub mod memory;
pub mod oracle;

#[cfg(test)]
mod transitions;
