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
//!   transaction of a decision and its token; `run`: the decide–commit–learn
//!   loop; [`read`]: consistent reads and the queries of the sweep and the
//!   operator commands; [`sweep`]: the sweep's own writes; [`schema`]: the
//!   table for local runs; [`size`]: DynamoDB's item-size rules (capacity).

pub mod expr;
pub mod items;
pub mod keys;
pub mod read;
pub mod repair;
mod run;
pub mod schema;
pub mod size;
pub mod sweep;
pub mod txn;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use reconciler_core::event::Event;
use reconciler_core::key::{BusinessKey, JobStep};
use reconciler_core::ledger::{Account, ConflictReason, Job, JobStatus, LedgerError, Outcome};

pub use run::RetryPolicy;

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

/// Why a command could not be applied. [`StoreError::error_type`] names
/// what the operator should do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request failed: {0}")]
    Aws(String),
    /// DynamoDB refused the request itself (e.g. an item over its size limit):
    /// retrying the same event cannot succeed.
    #[error("DynamoDB refused the request: {0}")]
    Refused(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A stored item is not what this code writes: fix (or migrate) the item.
    #[error("the ledger table holds a malformed item: {0}")]
    Malformed(String),
    #[error("gave up after {attempts} attempts in {seconds} s: {last}")]
    Contention {
        attempts: u32,
        seconds: u64,
        last: String,
    },
}

impl StoreError {
    /// The error type reported to Lambda: `LedgerError` for what retrying
    /// cannot fix (a refused request, a malformed item, an overflow),
    /// `LedgerUnavailable` for what it may (DynamoDB unreachable, contention).
    pub fn error_type(&self) -> &'static str {
        match self {
            StoreError::Ledger(_) | StoreError::Malformed(_) | StoreError::Refused(_) => {
                "LedgerError"
            }
            StoreError::Aws(_) | StoreError::Contention { .. } => "LedgerUnavailable",
        }
    }
}

/// An SDK error as a store error: `ValidationException` is a refusal (the
/// same request will never pass), the rest may pass later.
fn aws<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    let refused = e
        .as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|code| code == "ValidationException");
    let text = DisplayErrorContext(e).to_string();
    if refused {
        StoreError::Refused(text)
    } else {
        StoreError::Aws(text)
    }
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

/// Per-instance memory of the state this instance last saw committed: what
/// lets an event cost one request. Bounded; cleared when full.
#[derive(Debug, Default)]
struct Cache {
    accounts: HashMap<String, Account>,
    /// HELD jobs (the state a `video.rendered` or `video.failed` needs).
    jobs: HashMap<String, Job>,
}

/// Entries each part of the cache holds at most.
const CACHE_CAPACITY: usize = 10_000;

impl Cache {
    fn remember_account(&mut self, account: &Account) {
        if self.accounts.len() >= CACHE_CAPACITY && !self.accounts.contains_key(&account.account_id)
        {
            self.accounts.clear();
        }
        self.accounts
            .insert(account.account_id.clone(), account.clone());
    }

    fn remember_job(&mut self, job_id: &str, job: Option<&Job>) {
        match job.filter(|j| j.status == JobStatus::Held) {
            Some(job) => {
                if self.jobs.len() >= CACHE_CAPACITY && !self.jobs.contains_key(job_id) {
                    self.jobs.clear();
                }
                self.jobs.insert(job_id.to_owned(), job.clone());
            }
            None => {
                self.jobs.remove(job_id);
            }
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
    pub async fn apply(&self, event: &Event, event_id: &str) -> Result<Applied, StoreError> {
        self.run(Command::Event(event), event_id).await
    }

    /// Expires a HELD job (the sweep). A job that settled meanwhile is left
    /// alone and reported as `duplicate`.
    pub async fn expire(
        &self,
        job_id: &str,
        account_id: &str,
        run_id: &str,
    ) -> Result<Applied, StoreError> {
        self.run(Command::Expire { job_id, account_id }, run_id)
            .await
    }
}

/// Exponential backoff with full jitter: up to `base · 2^attempt`, capped.
async fn backoff(policy: &RetryPolicy, attempt: u32) {
    tokio::time::sleep(backoff_delay(policy, attempt, Duration::ZERO)).await;
}

/// The backoff before attempt `attempt + 1` of a command that has waited
/// `waited` already: full jitter up to `base · 2^attempt` (capped), shrunk as
/// the wait grows towards [`RetryPolicy::patience`], after which it retries
/// at once. Plain exponential backoff lets the unluckiest waiter wait
/// longest and lose again (on a busy account, some events starve); this
/// favours the oldest waiters, so an account's writers take turns roughly
/// in the order they arrived.
fn backoff_delay(policy: &RetryPolicy, attempt: u32, waited: Duration) -> Duration {
    let cap = policy
        .base
        .saturating_mul(1 << attempt.min(16))
        .min(policy.cap);
    let left = 1.0 - (waited.as_secs_f64() / policy.patience.as_secs_f64().max(1e-3)).min(1.0);
    let ceiling = (cap.as_millis() as f64 * left) as u64;
    Duration::from_millis(fastrand::u64(0..=ceiling))
}

#[cfg(test)]
pub(crate) mod mock;
