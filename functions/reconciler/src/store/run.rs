//! The decide–commit–learn loop of one command, under DynamoDB's real
//! semantics (ARCHITECTURE.md, "One transaction per event"):
//!
//! - decide on the best knowledge: the instance's cache, else one consistent
//!   read; a `duplicate` or `conflict` only on knowledge DynamoDB confirmed
//!   during this command;
//! - commit one transaction with a token derived from the decision, and
//!   resend *that very request* after a lost response, throttling or
//!   `TransactionInProgressException`: a commit that happened answers with
//!   its original success, so the invocation that applied an event says so;
//! - on a cancellation, learn the real items from the `ALL_OLD` images and
//!   decide again; back off (full jitter) while others write the same items;
//!   give up as `LedgerUnavailable` when the retry budget is spent.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{CancellationReason, Get, TransactGetItem};
use reconciler_core::contract::table;
use reconciler_core::event::Event;
use reconciler_core::ledger::{
    Account, ConflictReason, Decision, Known, LedgerError, Meta, Outcome, decide, decide_expiry,
};

use super::expr::Expr;
use super::items::{
    AccountItem, AdjustmentItem, ConflictItem, FORMAT_VERSION, GrantItem, JobItem, from_item,
    to_item,
};
use super::keys::{self, Item};
use super::txn::{Role, Transaction, transaction};
use super::{Applied, Command, Ledger, StoreError, aws, backoff, backoff_delay};

/// How long a command keeps trying, and how it backs off.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Time one command may spend on contention, throttling and lost
    /// responses before it fails as `LedgerUnavailable` (and Lambda retries
    /// the event). Below the handler's timeout.
    pub budget: Duration,
    /// First backoff ceiling; it doubles with every loss.
    pub base: Duration,
    /// Largest backoff ceiling.
    pub cap: Duration,
    /// How long a command waits before it stops backing off and retries at
    /// once on each loss (so the oldest waiters go first).
    pub patience: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            budget: Duration::from_secs(20),
            base: Duration::from_millis(10),
            cap: Duration::from_millis(500),
            patience: Duration::from_secs(5),
        }
    }
}

/// Service error codes that mean "not now": the same request may pass later.
const TRANSIENT: [&str; 6] = [
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
];

/// Cancellation reason codes that mean "others were writing": nothing was
/// learned about the item, try again later.
const CONTENDED: [&str; 4] = [
    "TransactionConflict",
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "RequestLimitExceeded",
];

/// What a command knows, and which parts DynamoDB confirmed during it.
struct Knowledge {
    known: Known,
    account: bool,
    job: bool,
    record: bool,
}

impl Knowledge {
    fn guessed(known: Known) -> Knowledge {
        Knowledge {
            known,
            account: false,
            job: false,
            record: false,
        }
    }

    /// Whether everything the command's decision rests on was confirmed.
    fn confirmed(&self, cmd: &Command<'_>) -> bool {
        let record = matches!(
            cmd,
            Command::Event(Event::Granted { .. } | Event::Adjusted { .. })
        );
        self.account && (self.job || cmd.job_id().is_none()) && (self.record || !record)
    }
}

/// How sending a transaction ended.
enum Sent {
    Committed,
    Cancelled(Cancelled),
    /// The token was spent on another request with other parameters
    /// (`IdempotentParameterMismatchException`): another invocation decided
    /// on the same state and committed; read and decide again.
    Superseded,
}

/// A cancelled transaction: each item's reason, and whether others were
/// writing the same items.
struct Cancelled {
    reasons: Vec<(Role, CancellationReason)>,
    contended: bool,
    describe: String,
}

impl Ledger {
    pub(super) async fn run(
        &self,
        cmd: Command<'_>,
        event_id: &str,
    ) -> Result<Applied, StoreError> {
        let started = Instant::now();
        let meta = Meta {
            event_id: event_id.into(),
            at_ms: self.now_ms(),
        };
        let mut requests = 0u32;
        let mut attempts = 0u32;
        let mut losses = 0u32;
        let mut last = String::from("no attempt finished");
        let mut k = match self.guess(&cmd) {
            Some(known) => Knowledge::guessed(known),
            None => self.read(&cmd, started, &mut requests).await?,
        };
        loop {
            if started.elapsed() > self.retry.budget {
                return Err(StoreError::Contention {
                    attempts,
                    seconds: started.elapsed().as_secs(),
                    last,
                });
            }
            let decided = match cmd {
                Command::Event(event) => decide(event, &k.known, &meta),
                Command::Expire { job_id, .. } => decide_expiry(job_id, &k.known, &meta),
            };
            let decided = match decided {
                // Remembered pictures of different moments: read them together.
                Err(LedgerError::Inconsistent(why)) if !k.confirmed(&cmd) => {
                    tracing::debug!(%why, "reading a consistent snapshot");
                    k = self.read(&cmd, started, &mut requests).await?;
                    continue;
                }
                // A consistent snapshot that breaks invariant 2: a broken ledger.
                Err(LedgerError::Inconsistent(why)) => {
                    return Err(StoreError::Ledger(LedgerError::Broken {
                        account_id: cmd.account_id().to_owned(),
                        problem: why,
                    }));
                }
                other => other?,
            };
            let change = match decided {
                Decision::Duplicate | Decision::Conflict(_) if !k.confirmed(&cmd) => {
                    // Never answer duplicate/conflict from an unconfirmed guess.
                    k = self.read(&cmd, started, &mut requests).await?;
                    continue;
                }
                Decision::Duplicate => {
                    return Ok(unchanged(
                        &cmd,
                        k.known,
                        Outcome::Duplicate,
                        None,
                        requests,
                        attempts,
                    ));
                }
                Decision::Conflict(reason) => {
                    if let Command::Event(event) = cmd {
                        requests += 1;
                        self.record_conflict(event, &reason, &meta).await?;
                    }
                    return Ok(unchanged(
                        &cmd,
                        k.known,
                        Outcome::Conflict,
                        Some(reason),
                        requests,
                        attempts,
                    ));
                }
                Decision::Apply(change) => change,
            };
            attempts += 1;
            let txn = transaction(&self.table, &change, &meta, &cmd.business_key());
            match self.send(&txn, started, &mut requests).await? {
                Sent::Committed => {
                    let mut cache = self.cache();
                    if change.moves_money() || change.account_before.is_some() {
                        cache.remember_account(&change.account_after);
                    }
                    if let Some((_, job)) = &change.job {
                        cache.remember_job(&job.job_id, Some(job));
                    }
                    return Ok(Applied {
                        outcome: change.outcome,
                        overdraft: change.entry.as_ref().map_or(0, |e| e.overdraft),
                        job: change
                            .job
                            .as_ref()
                            .map(|(_, j)| (j.job_id.clone(), j.status)),
                        account: change.account_after,
                        conflict: None,
                        requests,
                        attempts,
                    });
                }
                Sent::Cancelled(cancelled) => {
                    last = cancelled.describe.clone();
                    let contended = cancelled.contended;
                    k = self.learn(&cmd, k, cancelled)?;
                    // A wrong first guess is corrected at once; losing again
                    // means others write the same items: back off.
                    if contended || losses > 0 {
                        let delay = backoff_delay(&self.retry, losses, started.elapsed());
                        tokio::time::sleep(delay).await;
                    }
                    losses += 1;
                }
                Sent::Superseded => {
                    last = "the decision's token was spent by another invocation".into();
                    k = self.read(&cmd, started, &mut requests).await?;
                }
            }
        }
    }

    /// The first guess, from what this instance knows, or `None` to read:
    /// the account as this instance last saw it committed (a cold account is
    /// read: a wrong guess costs a cancelled write, a read costs less); the
    /// job HELD as this instance knows it, or new for a `video.requested`;
    /// a grant's or adjustment's record new.
    fn guess(&self, cmd: &Command<'_>) -> Option<Known> {
        let Command::Event(event) = cmd else {
            // The sweep acts on an index entry that may be stale: read.
            return None;
        };
        let cache = self.cache();
        let account = Some(cache.accounts.get(event.account_id())?.clone());
        let job = match event {
            Event::Requested { job_id, .. } => cache.jobs.get(job_id).cloned(),
            Event::Rendered { job_id, .. } | Event::Failed { job_id, .. } => {
                Some(cache.jobs.get(job_id)?.clone())
            }
            Event::Granted { .. } | Event::Adjusted { .. } => None,
        };
        Some(Known {
            account,
            job,
            ..Known::default()
        })
    }

    /// The keys a command's decision rests on, with their roles.
    fn keys(&self, cmd: &Command<'_>) -> Vec<(Role, Item)> {
        let mut keys = vec![(Role::Account, keys::account_key(cmd.account_id()))];
        if let Some(job_id) = cmd.job_id() {
            keys.push((Role::Job, keys::job_key(job_id)));
        }
        match cmd {
            Command::Event(Event::Granted { grant_id, .. }) => {
                keys.push((Role::Record, keys::grant_key(grant_id)));
            }
            Command::Event(Event::Adjusted { adjustment_id, .. }) => {
                keys.push((Role::Record, keys::adjustment_key(adjustment_id)));
            }
            _ => {}
        }
        keys
    }

    /// A consistent snapshot of the command's items (one `TransactGetItems`;
    /// read again after a backoff while a write to them is in flight).
    async fn read(
        &self,
        cmd: &Command<'_>,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Knowledge, StoreError> {
        let keys = self.keys(cmd);
        let gets: Vec<TransactGetItem> = keys
            .iter()
            .map(|(_, key)| {
                let get = Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .build()
                    .expect("a get with a table and a key is complete");
                TransactGetItem::builder().get(get).build()
            })
            .collect();
        let mut conflicts = 0u32;
        let out = loop {
            *requests += 1;
            match self
                .client
                .transact_get_items()
                .set_transact_items(Some(gets.clone()))
                .send()
                .await
            {
                Ok(out) => break out,
                Err(e) => {
                    let contended = match e.as_service_error() {
                        Some(TransactGetItemsError::TransactionCanceledException(t)) => t
                            .cancellation_reasons()
                            .iter()
                            .any(|r| r.code().is_some_and(|c| CONTENDED.contains(&c))),
                        Some(s) => s.code().is_some_and(|c| TRANSIENT.contains(&c)),
                        None => transient_transport(&e),
                    };
                    if !contended || started.elapsed() > self.retry.budget {
                        return Err(aws(e));
                    }
                    backoff(&self.retry, conflicts).await;
                    conflicts += 1;
                }
            }
        };
        let mut known = Known::default();
        for ((role, _), response) in keys.iter().zip(out.responses()) {
            if let Some(item) = response.item().cloned() {
                self.absorb(cmd, &mut known, *role, item)?;
            }
        }
        let mut cache = self.cache();
        match &known.account {
            Some(a) => cache.remember_account(a),
            None => {
                cache.accounts.remove(cmd.account_id());
            }
        }
        if let Some(job_id) = cmd.job_id() {
            cache.remember_job(job_id, known.job.as_ref());
        }
        Ok(Knowledge {
            known,
            account: true,
            job: true,
            record: true,
        })
    }

    /// Reads a stored item into `known` (validated: a malformed item stops
    /// the command with its key named).
    fn absorb(
        &self,
        cmd: &Command<'_>,
        known: &mut Known,
        role: Role,
        item: Item,
    ) -> Result<(), StoreError> {
        let malformed = StoreError::Malformed;
        match role {
            Role::Account => {
                let account = from_item::<AccountItem>(item, "account")
                    .and_then(|i| i.account())
                    .map_err(malformed)?;
                if account.account_id != cmd.account_id() {
                    return Err(StoreError::Malformed(format!(
                        "the account item of {} names account {}",
                        cmd.account_id(),
                        account.account_id
                    )));
                }
                known.account = Some(account);
            }
            Role::Job => {
                let job = from_item::<JobItem>(item, "job")
                    .and_then(|i| i.job())
                    .map_err(malformed)?;
                // An expiry acts on the account the open-items index lists
                // the job under, a projection of the job item itself, and
                // jobs never change accounts: a job naming another account
                // was edited. Deciding on it would release the listed
                // account's credits for another account's job.
                if let Command::Expire { account_id, .. } = cmd
                    && job.account_id != *account_id
                {
                    return Err(StoreError::Malformed(format!(
                        "the job item {} names account {}, but the open-items index lists it \
                         under account {account_id}",
                        keys::job_pk(&job.job_id),
                        job.account_id
                    )));
                }
                known.job = Some(job);
            }
            Role::Record => match cmd {
                Command::Event(Event::Adjusted { .. }) => {
                    known.adjustment = Some(
                        from_item::<AdjustmentItem>(item, "adjustment")
                            .and_then(|i| i.adjustment())
                            .map_err(malformed)?,
                    );
                }
                _ => {
                    known.grant = Some(
                        from_item::<GrantItem>(item, "grant")
                            .and_then(|i| i.grant())
                            .map_err(malformed)?,
                    );
                }
            },
            Role::Entry => {}
        }
        Ok(())
    }

    /// Sends a transaction, and resends exactly it (same items, same token)
    /// while DynamoDB answers "not now" or the answer is lost.
    async fn send(
        &self,
        txn: &Transaction,
        started: Instant,
        requests: &mut u32,
    ) -> Result<Sent, StoreError> {
        let writes: Vec<_> = txn.items.iter().map(|(_, w)| w.clone()).collect();
        let mut resends = 0u32;
        loop {
            *requests += 1;
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(writes.clone()))
                .client_request_token(&txn.token)
                .send()
                .await;
            let err = match result {
                Ok(_) => return Ok(Sent::Committed),
                Err(err) => err,
            };
            match err.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(t)) => {
                    let roles = txn.items.iter().map(|(r, _)| *r);
                    return cancelled(roles.zip(t.cancellation_reasons().iter().cloned()))
                        .map(Sent::Cancelled);
                }
                Some(TransactWriteItemsError::IdempotentParameterMismatchException(_)) => {
                    return Ok(Sent::Superseded);
                }
                Some(s) if s.code().is_some_and(|c| TRANSIENT.contains(&c)) => {}
                None if transient_transport(&err) => {}
                _ => return Err(aws(err)),
            }
            if started.elapsed() > self.retry.budget {
                return Err(aws(err));
            }
            tracing::debug!(resends, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "resending the same transaction");
            backoff(&self.retry, resends).await;
            resends += 1;
        }
    }

    /// What a cancellation teaches: the `ALL_OLD` image of every item whose
    /// condition failed (or that it is absent), and that every item whose
    /// reason is `None` was as guessed — unless others were writing, which
    /// cuts the evaluation short and confirms nothing.
    fn learn(
        &self,
        cmd: &Command<'_>,
        mut k: Knowledge,
        cancelled: Cancelled,
    ) -> Result<Knowledge, StoreError> {
        let held = |role: Role| {
            !cancelled.contended
                && cancelled
                    .reasons
                    .iter()
                    .any(|(r, reason)| *r == role && reason.code() == Some("None"))
        };
        let account_held = held(Role::Account);
        for (role, reason) in cancelled.reasons {
            match reason.code() {
                Some("None") if !cancelled.contended => match role {
                    Role::Account => k.account = true,
                    Role::Job => k.job = true,
                    Role::Record => k.record = true,
                    Role::Entry => {}
                },
                Some("ConditionalCheckFailed") => match (role, reason.item().cloned()) {
                    // The next entry exists because the account moved on:
                    // the account's own failure tells where it is now.
                    (Role::Entry, _) if !account_held => {}
                    (Role::Entry, _) => {
                        return Err(StoreError::Malformed(format!(
                            "account {} is as the change assumed, yet its next ledger entry exists",
                            cmd.account_id()
                        )));
                    }
                    (role, item) => {
                        match (role, item) {
                            (Role::Account, None) => k.known.account = None,
                            (Role::Job, None) => k.known.job = None,
                            (Role::Record, None) => {
                                k.known.grant = None;
                                k.known.adjustment = None;
                            }
                            (role, Some(item)) => self.absorb(cmd, &mut k.known, role, item)?,
                            (Role::Entry, None) => {}
                        }
                        match role {
                            Role::Account => k.account = true,
                            Role::Job => k.job = true,
                            Role::Record => k.record = true,
                            Role::Entry => {}
                        }
                    }
                },
                _ => {}
            }
        }
        let mut cache = self.cache();
        if k.account {
            match &k.known.account {
                Some(a) => cache.remember_account(a),
                None => {
                    cache.accounts.remove(cmd.account_id());
                }
            }
        }
        if let (true, Some(job_id)) = (k.job, cmd.job_id()) {
            cache.remember_job(job_id, k.known.job.as_ref());
        }
        Ok(k)
    }

    /// Keeps a conflict for a human (idempotent: one record per key and payload).
    async fn record_conflict(
        &self,
        event: &Event,
        reason: &ConflictReason,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let key = event.business_key();
        let detail = event.to_detail().to_string();
        let item = ConflictItem {
            pk: keys::conflict_pk(&key),
            sk: keys::fingerprint(&detail),
            v: FORMAT_VERSION,
            open_key: keys::conflict_open_key(meta.at_ms, &key, &detail),
            key: key.transition(),
            account_id: event.account_id().into(),
            detail_type: event.detail_type().into(),
            detail,
            reason: reason.to_string(),
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
            open_kind: keys::OPEN_CONFLICT.into(),
            expires_at: meta.at_ms / 1000 + CONFLICT_RETENTION_SECONDS,
        };
        let guard = Expr::new().absent(table::PARTITION_KEY);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)))
            .set_condition_expression(guard.condition_expression())
            .set_expression_attribute_names(guard.names())
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Already recorded by an earlier delivery of the same payload.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(aws(e)),
        }
    }
}

/// Conflict records are kept this long for a human, then expire (TTL).
const CONFLICT_RETENTION_SECONDS: i64 = 90 * 24 * 3600;

/// Whether an error without a service answer is worth resending: a lost or
/// unreadable response, a timeout, a failed connection.
fn transient_transport<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool {
    use aws_sdk_dynamodb::error::SdkError;
    matches!(
        e,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_)
    )
}

/// Sorts a cancellation's reasons: failed conditions and contention are
/// knowledge; anything else is an error (a refused item is not retried).
fn cancelled(
    reasons: impl Iterator<Item = (Role, CancellationReason)>,
) -> Result<Cancelled, StoreError> {
    let reasons: Vec<(Role, CancellationReason)> = reasons.collect();
    let mut contended = false;
    let mut codes = Vec::new();
    for (_, reason) in &reasons {
        let code = reason.code().unwrap_or("None");
        match code {
            "None" | "ConditionalCheckFailed" => {}
            c if CONTENDED.contains(&c) => contended = true,
            other => {
                let text = format!(
                    "transaction cancelled: {other}: {}",
                    reason.message().unwrap_or("")
                );
                return Err(if other == "ValidationError" {
                    StoreError::Refused(text)
                } else {
                    StoreError::Aws(text)
                });
            }
        }
        codes.push(code.to_string());
    }
    Ok(Cancelled {
        reasons,
        contended,
        describe: format!("transaction cancelled: [{}]", codes.join(", ")),
    })
}

/// What an event that changed nothing answers: the current balances and job.
fn unchanged(
    cmd: &Command<'_>,
    known: Known,
    outcome: Outcome,
    conflict: Option<ConflictReason>,
    requests: u32,
    attempts: u32,
) -> Applied {
    Applied {
        outcome,
        account: known
            .account
            .unwrap_or_else(|| Account::new(cmd.account_id())),
        job: known.job.map(|j| (j.job_id, j.status)),
        conflict,
        overdraft: 0,
        requests,
        attempts,
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
