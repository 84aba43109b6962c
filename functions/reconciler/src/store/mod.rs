//! The DynamoDB adapter: turns the core's decisions into one atomic
//! `TransactWriteItems` each, under DynamoDB's real semantics.
//!
//! Every write is conditioned on the state the decision was computed from
//! (the whole account, the job's status, account and hold, the absence of a
//! grant or adjustment record and of the next entry), so a decision taken on
//! stale knowledge can never commit: it is cancelled, the `ALL_OLD` images in
//! the cancellation reasons become the new knowledge, and the event is
//! decided again. Nothing is read and then blindly written.
//!
//! Cost in AWS requests per event (ARCHITECTURE.md, "One transaction per
//! event"): **1** when this instance knows the state the event needs (the
//! account it last wrote, the job it holds for); **2** otherwise (one
//! consistent `TransactGetItems`, then the transaction). A conflict adds the
//! put of its record. Contention, throttling and lost responses add retries.
//!
//! - [`keys`]: every key of the table; [`items`]: the items and their
//!   validation; [`expr`]: the one expression builder; [`txn`]: the
//!   transaction of a decision and its token;
//! - `run`: the decide–commit–learn loop of one command; `cache`: the
//!   per-instance cache it guesses from; `retry`: how long it keeps trying
//!   and how it backs off ([`RetryPolicy`]); `errors`: what DynamoDB's
//!   answers mean, and [`StoreError`];
//! - [`read`]: the command's consistent read, and the reads of the sweep
//!   and the operator commands; [`open`]: the sweep's reads of the
//!   `open-items` index across its shards; [`sweep`]: the sweep's own writes;
//!   [`repair`]: the repair of an account; [`cells`]: an account's balances
//!   over its cells, and the split; [`schema`]: the table for local
//!   runs; [`size`]: DynamoDB's item-size rules (capacity).

mod cache;
pub mod cells;
mod errors;
pub mod expr;
pub mod items;
pub mod keys;
pub mod open;
pub mod read;
pub mod repair;
mod retry;
mod run;
pub mod schema;
pub mod size;
pub mod sweep;
pub mod txn;

use std::sync::Mutex;

use aws_sdk_dynamodb::Client;
use reconciler_core::event::Event;
use reconciler_core::key::{BusinessKey, JobStep};
use reconciler_core::ledger::{Account, ConflictReason, JobStatus, Outcome};

use cache::Cache;
pub use errors::{SdkFailure, StoreError};
pub use retry::RetryPolicy;

/// What applying one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: Outcome,
    /// The account's balances after the commit (for `duplicate`/`conflict`: current).
    pub account: Account,
    /// The job and its status after (current for `duplicate`/`conflict`); `None` for grants.
    pub job: Option<(String, JobStatus)>,
    /// Why it was a conflict.
    pub conflict: Option<ConflictReason>,
    /// Credits of a debit not covered by a hold.
    pub overdraft: i64,
    /// AWS requests this command sent (resends included; the SDK's own
    /// retries of one request are not counted).
    pub requests: u32,
    /// Attempts at committing (1 without contention).
    pub attempts: u32,
}

/// What the command is about.
#[derive(Debug, Clone, Copy)]
pub enum Command<'a> {
    /// A business event from the bus, or an operator's adjustment.
    Event(&'a Event),
    /// The sweep's expiry of a HELD job whose hold is too old.
    Expire {
        job_id: &'a str,
        account_id: &'a str,
    },
}

impl Command<'_> {
    fn account_id(&self) -> &str {
        match self {
            Command::Event(e) => e.account_id(),
            Command::Expire { account_id, .. } => account_id,
        }
    }

    fn job_id(&self) -> Option<&str> {
        match self {
            Command::Event(e) => e.job_id(),
            Command::Expire { job_id, .. } => Some(job_id),
        }
    }

    /// The key its effect is applied once by.
    fn business_key(&self) -> BusinessKey {
        match self {
            Command::Event(e) => e.business_key(),
            Command::Expire { job_id, .. } => BusinessKey::job(*job_id, JobStep::Expired),
        }
    }
}

/// The ledger on DynamoDB.
pub struct Ledger {
    client: Client,
    table: String,
    cache: Mutex<Cache>,
    clock: fn() -> i64,
    retry: RetryPolicy,
}

/// An invocation id for a caller that has none of its own (not a Lambda
/// invocation): unique, so that its requests are its own.
pub fn new_request_id() -> String {
    format!("local-{:032x}", fastrand::u128(..))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Ledger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Ledger {
            client,
            table: table.into(),
            cache: Mutex::new(Cache::default()),
            clock: now_ms,
            retry: RetryPolicy::default(),
        }
    }

    /// Replaces the clock (tests age holds without waiting).
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the retry policy (tests keep budgets and backoffs short;
    /// the simulator gives up at once, so that faults fail invocations).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a business event (or an adjustment) exactly once, by its
    /// business key.
    ///
    /// The command's future is boxed (here and in [`Ledger::expire`]): the
    /// SDK's futures nest deep, and a caller's future holding them inline
    /// (the handler's, the binary's) would pass the compiler's limit on the
    /// depth of a type's layout. One allocation per command.
    pub async fn apply(&self, event: &Event, event_id: &str) -> Result<Applied, StoreError> {
        self.apply_as(event, event_id, &new_request_id()).await
    }

    /// [`Ledger::apply`] by invocation `request_id` (the Lambda request
    /// id): what its transaction's token and its writes carry, so that no
    /// other invocation's request is taken for its own, and its own resends
    /// are.
    pub async fn apply_as(
        &self,
        event: &Event,
        event_id: &str,
        request_id: &str,
    ) -> Result<Applied, StoreError> {
        Box::pin(self.run(Command::Event(event), event_id, request_id)).await
    }

    /// Expires a HELD job (the sweep run `run_id`). A job that settled
    /// meanwhile is left alone and reported as `duplicate`.
    pub async fn expire(
        &self,
        job_id: &str,
        account_id: &str,
        run_id: &str,
    ) -> Result<Applied, StoreError> {
        Box::pin(self.run(Command::Expire { job_id, account_id }, run_id, run_id)).await
    }
}

#[cfg(test)]
pub(crate) mod mock;
#[cfg(test)]
pub(crate) mod spell;
#[cfg(test)]
mod stored_tests;

#[cfg(test)]
mod tests {
    use super::*;

    /// The ledger's clock is the system's (ms since the Unix epoch).
    #[test]
    fn the_clock_is_the_systems() {
        let system = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        let before = system();
        let now = now_ms();
        let after = system();
        assert!(
            before <= now && now <= after,
            "{before} <= {now} <= {after}"
        );
        let id = new_request_id();
        assert!(id.starts_with("local-") && id.len() == 38, "{id}");
        assert_ne!(id, new_request_id());
    }
}
