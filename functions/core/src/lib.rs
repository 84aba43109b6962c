//! The pure core of the credit reconciler.
//!
//! - [`event`]: the four business events and their validation (SPEC §2);
//! - [`ledger`]: the job state machine, deciding what an event does (SPEC §3);
//! - [`memory`]: an in-memory ledger applying decisions, the reference model
//!   the property tests check the invariants on;
//! - [`contract`]: names shared with the infrastructure (environment variables,
//!   metric names), so the template and the functions cannot drift apart.
//!
//! Nothing here does I/O, reads a clock or allocates an id.

pub mod contract;
pub mod event;
pub mod ledger;
pub mod memory;

#[cfg(test)]
mod transitions;
