//! The DynamoDB adapter: turns the core's decisions into one atomic
//! `TransactWriteItems` each, and learns the real state from cancellation
//! reasons when its guess was wrong.
//!
//! Every write is conditioned on the state the decision was computed from
//! (the account's `seq`, the job's status, the absence of a grant), so a
//! decision taken on stale knowledge can never commit: it is cancelled, the
//! `ALL_OLD` images in the cancellation reasons become the new knowledge, and
//! the event is decided again. Nothing is read and then blindly written.
//!
//! Cost in AWS requests, per event:
//! - the account is known to this instance (it wrote it last, or the account
//!   is new): grant, hold, debit of the held amount, refund → **1**;
//! - a stale or cold guess, a debit of another amount than the guessed hold → 2;
//! - a duplicate or conflict → at most 2 (a conflict adds one put of its record);
//!   neither writes any money.

pub mod expr;
pub mod items;
pub mod schema;
pub mod sweep;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::types::{
    CancellationReason, ConditionCheck, Get, Put, ReturnValuesOnConditionCheckFailure,
    TransactGetItem, TransactWriteItem, Update,
};
use reconciler_core::event::Event;
use reconciler_core::ledger::{
    Account, Change, ConflictReason, Decision, Job, JobStatus, Known, LedgerError, Meta, Outcome,
    decide, decide_expiry,
};

use expr::Expr;
use items::{
    AccountItem, ConflictItem, EntryItem, GrantItem, Item, JobItem, account_key, from_item,
    grant_key, job_key, to_item,
};

/// Attempts at deciding and committing one event before giving up (the
/// invocation then fails and Lambda retries it later).
const MAX_ATTEMPTS: u32 = 12;
/// Accounts remembered per instance; the cache is cleared when it is full.
const CACHE_CAPACITY: usize = 10_000;
/// Conflict records are kept this long for a human, then expire (TTL).
const CONFLICT_RETENTION_SECONDS: i64 = 90 * 24 * 3600;

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
    /// AWS requests this command took (for logs and tests).
    pub requests: u32,
}

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
    #[error("the ledger table holds a malformed item: {0}")]
    Malformed(String),
    #[error("gave up after {MAX_ATTEMPTS} attempts: {0}")]
    Contention(String),
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
            StoreError::Aws(_) | StoreError::Contention(_) => "LedgerUnavailable",
        }
    }
}

fn aws<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_dynamodb::error::ProvideErrorMetadata + 'static,
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
    /// A business event from the bus.
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
    fn grant_id(&self) -> Option<&str> {
        match self {
            Command::Event(Event::Granted { grant_id, .. }) => Some(grant_id),
            _ => None,
        }
    }
}

/// Which item of a transaction a cancellation reason is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Account,
    Job,
    Grant,
    Entry,
}

/// The ledger on DynamoDB.
pub struct Ledger {
    client: Client,
    table: String,
    /// Last committed state of accounts this instance wrote or read.
    cache: Mutex<HashMap<String, Account>>,
    clock: fn() -> i64,
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
            cache: Mutex::new(HashMap::new()),
            clock: now_ms,
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

    fn cached(&self, account_id: &str) -> Option<Account> {
        self.cache
            .lock()
            .expect("cache lock")
            .get(account_id)
            .cloned()
    }

    fn remember(&self, account: &Account) {
        let mut cache = self.cache.lock().expect("cache lock");
        if cache.len() >= CACHE_CAPACITY && !cache.contains_key(&account.account_id) {
            cache.clear();
        }
        cache.insert(account.account_id.clone(), account.clone());
    }

    /// Applies a business event exactly once (by its business key).
    pub async fn apply(&self, event: &Event, event_id: &str) -> Result<Applied, StoreError> {
        self.run(Command::Event(event), event_id).await
    }

    /// Expires a HELD job (the sweep). A job that settled meanwhile is left alone
    /// and reported as `duplicate`.
    pub async fn expire(
        &self,
        job_id: &str,
        account_id: &str,
        run_id: &str,
    ) -> Result<Applied, StoreError> {
        self.run(Command::Expire { job_id, account_id }, run_id)
            .await
    }

    async fn run(&self, cmd: Command<'_>, event_id: &str) -> Result<Applied, StoreError> {
        let meta = Meta {
            event_id: event_id.into(),
            at_ms: self.now_ms(),
        };
        let mut requests = 0u32;
        // Knowledge confirmed by DynamoDB during this command.
        let mut verified = false;
        let mut known = match cmd {
            // The sweep acts on an index entry that may be stale: read first.
            Command::Expire { .. } => {
                verified = true;
                requests += 1;
                self.read(&cmd).await?
            }
            Command::Event(_) => self.guess(&cmd),
        };
        let mut last_problem = String::new();
        for attempt in 1..=MAX_ATTEMPTS {
            let decided = match cmd {
                Command::Event(event) => decide(event, &known, &meta),
                Command::Expire { job_id, .. } => decide_expiry(job_id, &known, &meta),
            };
            let decision = match decided {
                Ok(d) => d,
                Err(LedgerError::Inconsistent(why)) => {
                    tracing::debug!(%why, "re-reading a consistent snapshot");
                    requests += 1;
                    known = self.read(&cmd).await?;
                    verified = true;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let change = match decision {
                Decision::Duplicate | Decision::Conflict(_) if !verified => {
                    // Never report duplicate/conflict from an unconfirmed guess.
                    requests += 1;
                    known = self.read(&cmd).await?;
                    verified = true;
                    continue;
                }
                Decision::Duplicate => {
                    return Ok(self.unchanged(&cmd, known, Outcome::Duplicate, None, requests));
                }
                Decision::Conflict(reason) => {
                    if let Command::Event(event) = cmd {
                        requests += 1;
                        self.record_conflict(event, &reason, &meta).await?;
                    }
                    let applied =
                        self.unchanged(&cmd, known, Outcome::Conflict, Some(reason), requests);
                    return Ok(applied);
                }
                Decision::Apply(change) => change,
            };
            requests += 1;
            match self.commit(&change, &meta).await? {
                None => {
                    // A change that moved no money on an account that does not
                    // exist left it non-existent: nothing to remember.
                    if change.moves_money() || change.account_before.is_some() {
                        self.remember(&change.account_after);
                    }
                    let job = change
                        .job
                        .as_ref()
                        .map(|(_, j)| (j.job_id.clone(), j.status));
                    return Ok(Applied {
                        outcome: change.outcome,
                        overdraft: change.entry.as_ref().map_or(0, |e| e.overdraft),
                        account: change.account_after,
                        job,
                        conflict: None,
                        requests,
                    });
                }
                Some(cancelled) => {
                    let retry_later = cancelled.retryable;
                    last_problem = cancelled.describe.clone();
                    known = self.learn(&cmd, known, cancelled)?;
                    // A wrong first guess is corrected at once; losing again
                    // means others write the same items: back off, with jitter.
                    if retry_later || verified {
                        backoff(attempt).await;
                    }
                    // After a conflict or throttling, items whose reason is not
                    // a failed condition were not confirmed.
                    verified = verified || !retry_later;
                }
            }
        }
        Err(StoreError::Contention(last_problem))
    }

    /// The first guess, from what this instance knows: the cached account (or
    /// "the account is new"), the job HELD if the account holds for it, else
    /// "the job is new", and "the grant is new".
    fn guess(&self, cmd: &Command<'_>) -> Known {
        let account = self.cached(cmd.account_id());
        let job = match (&account, cmd.job_id()) {
            (Some(a), Some(job_id)) => a
                .holds
                .get(job_id)
                .map(|h| Job::held(job_id, &a.account_id, *h)),
            _ => None,
        };
        Known {
            account,
            job,
            grant: None,
        }
    }

    /// A consistent snapshot of the command's items (one `TransactGetItems`).
    async fn read(&self, cmd: &Command<'_>) -> Result<Known, StoreError> {
        let mut keys = vec![(Role::Account, account_key(cmd.account_id()))];
        if let Some(job_id) = cmd.job_id() {
            keys.push((Role::Job, job_key(job_id)));
        }
        if let Some(grant_id) = cmd.grant_id() {
            keys.push((Role::Grant, grant_key(grant_id)));
        }
        let gets = keys
            .iter()
            .map(|(_, key)| {
                let get = Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(key.clone()))
                    .build()
                    .expect("table and key are set");
                TransactGetItem::builder().get(get).build()
            })
            .collect();
        let out = self
            .client
            .transact_get_items()
            .set_transact_items(Some(gets))
            .send()
            .await
            .map_err(aws)?;
        let mut known = Known::default();
        for ((role, _), response) in keys.iter().zip(out.responses()) {
            let Some(item) = response.item().cloned() else {
                continue;
            };
            self.absorb(&mut known, *role, item)?;
        }
        if let Some(account) = &known.account {
            self.remember(account);
        }
        Ok(known)
    }

    fn absorb(&self, known: &mut Known, role: Role, item: Item) -> Result<(), StoreError> {
        match role {
            Role::Account => {
                let a: AccountItem = from_item(item, "account").map_err(StoreError::Malformed)?;
                known.account = Some(a.account());
            }
            Role::Job => {
                let j: JobItem = from_item(item, "job").map_err(StoreError::Malformed)?;
                known.job = Some(j.job().map_err(StoreError::Malformed)?);
            }
            Role::Grant => {
                let g: GrantItem = from_item(item, "grant").map_err(StoreError::Malformed)?;
                known.grant = Some(g.grant());
            }
            Role::Entry => {}
        }
        Ok(())
    }

    /// Knowledge after a cancelled transaction: items whose condition held are
    /// as assumed; items whose condition failed are as their `ALL_OLD` image
    /// says (no image: the item does not exist). All conditions are evaluated at
    /// one instant, so the result is a consistent snapshot.
    fn learn(
        &self,
        cmd: &Command<'_>,
        mut known: Known,
        cancelled: Cancelled,
    ) -> Result<Known, StoreError> {
        let failed = |r: &CancellationReason| r.code() == Some("ConditionalCheckFailed");
        // A condition is known to hold only when its reason is `None` and the
        // transaction was not cut short by a conflict or throttling (then the
        // other items' reasons say nothing about their conditions).
        let account_held = !cancelled.retryable
            && cancelled
                .reasons
                .iter()
                .any(|(role, r)| *role == Role::Account && r.code() == Some("None"));
        for (role, reason) in cancelled.reasons {
            if !failed(&reason) {
                continue;
            }
            match (role, reason.item().cloned()) {
                // The next entry exists because the account moved on: the
                // account's own failure tells us where it is now.
                (Role::Entry, _) if !account_held => {}
                (Role::Entry, _) => {
                    return Err(StoreError::Malformed(format!(
                        "account {} is at the version the change assumed, yet its next ledger entry exists",
                        cmd.account_id()
                    )));
                }
                (Role::Account, None) => known.account = None,
                (Role::Job, None) => known.job = None,
                (Role::Grant, None) => known.grant = None,
                (role, Some(item)) => self.absorb(&mut known, role, item)?,
            }
        }
        // What the account holds for the job is the job's truth too.
        if let (Some(a), None, Some(job_id)) = (&known.account, &known.job, cmd.job_id())
            && let Some(h) = a.holds.get(job_id)
        {
            known.job = Some(Job::held(job_id, &a.account_id, *h));
        }
        match &known.account {
            Some(a) => self.remember(a),
            None => {
                self.cache
                    .lock()
                    .expect("cache lock")
                    .remove(cmd.account_id());
            }
        }
        Ok(known)
    }

    fn unchanged(
        &self,
        cmd: &Command<'_>,
        known: Known,
        outcome: Outcome,
        conflict: Option<ConflictReason>,
        requests: u32,
    ) -> Applied {
        let job = known.job.map(|j| (j.job_id, j.status));
        Applied {
            outcome,
            account: known
                .account
                .unwrap_or_else(|| Account::new(cmd.account_id())),
            job,
            conflict,
            overdraft: 0,
            requests,
        }
    }

    /// Builds the transaction of a change (see [`transaction`]) and sends it.
    /// `Ok(None)`: committed. `Ok(Some(_))`: cancelled, with the reasons.
    async fn commit(&self, change: &Change, meta: &Meta) -> Result<Option<Cancelled>, StoreError> {
        let items = transaction(&self.table, change, meta);
        let (roles, writes): (Vec<Role>, Vec<TransactWriteItem>) = items.into_iter().unzip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(err) => {
                let reasons = match err.as_service_error() {
                    Some(service) if service.is_transaction_canceled_exception() => {
                        match service {
                            aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(t) => {
                                t.cancellation_reasons().to_vec()
                            }
                            _ => unreachable!("checked above"),
                        }
                    }
                    Some(service) if service.is_transaction_in_progress_exception() => {
                        return Ok(Some(Cancelled {
                            reasons: vec![],
                            retryable: true,
                            describe: "transaction in progress".into(),
                        }));
                    }
                    _ => return Err(aws(err)),
                };
                let mut retryable = false;
                let mut codes = Vec::new();
                for reason in &reasons {
                    let code = reason.code().unwrap_or("None");
                    match code {
                        "None" | "ConditionalCheckFailed" => {}
                        "TransactionConflict"
                        | "ThrottlingError"
                        | "ProvisionedThroughputExceeded"
                        | "RequestLimitExceeded" => retryable = true,
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
                Ok(Some(Cancelled {
                    reasons: roles.into_iter().zip(reasons).collect(),
                    retryable,
                    describe: format!("transaction cancelled: [{}]", codes.join(", ")),
                }))
            }
        }
    }

    /// Keeps a conflict for a human (idempotent: one record per key and payload).
    async fn record_conflict(
        &self,
        event: &Event,
        reason: &ConflictReason,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let key = match event {
            Event::Granted { grant_id, .. } => format!("grant:{grant_id}"),
            other => format!(
                "job:{}:{}",
                other.job_id().unwrap_or_default(),
                other.detail_type()
            ),
        };
        let detail = event.to_detail().to_string();
        let sk = items::fingerprint(&detail);
        // Unique per record (time, key, payload), so the sweep's "listed up
        // to here" marker can never fall between two records sharing a key.
        // Hashed, not spelled out: index sort keys are capped at 1,024 bytes
        // and ids may be 256 characters of up to 4 bytes each.
        let open_key = format!(
            "{:015}#{}",
            meta.at_ms,
            items::fingerprint(&format!("{key}\n{detail}"))
        );
        let item = ConflictItem {
            pk: format!("CONFLICT#{key}"),
            sk,
            key: key.clone(),
            account_id: event.account_id().into(),
            detail_type: event.detail_type().into(),
            detail,
            reason: reason.to_string(),
            event_id: meta.event_id.clone(),
            at_ms: meta.at_ms,
            open_kind: items::OPEN_CONFLICT.into(),
            open_key,
            expires_at: meta.at_ms / 1000 + CONFLICT_RETENTION_SECONDS,
        };
        let (names, values) = Expr::new().condition_absent("pk").into_parts();
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)))
            .condition_expression(names.0)
            .set_expression_attribute_names(Some(names.1))
            .set_expression_attribute_values(values)
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

/// A cancelled transaction: each item's reason, and whether to back off first.
struct Cancelled {
    reasons: Vec<(Role, CancellationReason)>,
    retryable: bool,
    describe: String,
}

/// Exponential backoff with full jitter: up to 20 ms · 2^attempt, capped at 1 s.
async fn backoff(attempt: u32) {
    let cap = (20u64 << attempt.min(6)).min(1_000);
    let ms = fastrand::u64(0..=cap);
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A `Put` of `item`, guarded by `guard`, returning the old item if the guard fails.
fn guarded_put(table: &str, item: Item, guard: Expr) -> TransactWriteItem {
    let (cond, values) = guard.into_parts();
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(cond.0)
        .set_expression_attribute_names(Some(cond.1))
        .set_expression_attribute_values(values)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .expect("put is complete");
    TransactWriteItem::builder().put(put).build()
}

/// The one `TransactWriteItems` of a change: the account (put or checked,
/// conditioned on its version), the job (created, or moved from the status the
/// decision assumed), the grant record, and the ledger entry.
fn transaction(table: &str, change: &Change, meta: &Meta) -> Vec<(Role, TransactWriteItem)> {
    let now = meta.at_ms;
    let absent = || Expr::new().condition_absent("pk");
    let mut items = Vec::new();

    let account = &change.account_after;
    let account_guard = match &change.account_before {
        None => absent(),
        Some(before) => Expr::new().condition_eq("seq", before.seq as i64),
    };
    let item = if change.moves_money() {
        guarded_put(
            table,
            to_item(&AccountItem::new(account, now)),
            account_guard,
        )
    } else {
        let (cond, values) = account_guard.into_parts();
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(account_key(&account.account_id)))
            .condition_expression(cond.0)
            .set_expression_attribute_names(Some(cond.1))
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("condition check is complete");
        TransactWriteItem::builder().condition_check(check).build()
    };
    items.push((Role::Account, item));

    if let Some((before, after)) = &change.job {
        let write = match before {
            None => guarded_put(table, to_item(&JobItem::new(after, now)), absent()),
            Some(before) => {
                let update = expr::job_transition(before, after, now);
                let update = Update::builder()
                    .table_name(table)
                    .set_key(Some(job_key(&after.job_id)))
                    .update_expression(update.update)
                    .condition_expression(update.condition)
                    .set_expression_attribute_names(Some(update.names))
                    .set_expression_attribute_values(Some(update.values))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .expect("update is complete");
                TransactWriteItem::builder().update(update).build()
            }
        };
        items.push((Role::Job, write));
    }
    if let Some(grant) = &change.grant {
        let item = to_item(&GrantItem::new(grant, &meta.event_id, now));
        items.push((Role::Grant, guarded_put(table, item, absent())));
    }
    if let Some(entry) = &change.entry {
        let item = to_item(&EntryItem::new(entry));
        items.push((Role::Entry, guarded_put(table, item, absent())));
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use reconciler_core::memory::MemoryLedger;

    fn offline_ledger() -> Ledger {
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .build();
        Ledger::new(Client::from_conf(conf), "t")
    }

    fn reason(code: &str) -> CancellationReason {
        CancellationReason::builder().code(code).build()
    }

    #[test]
    fn a_transaction_conflict_confirms_nothing() {
        let ledger = offline_ledger();
        let event = Event::Granted {
            grant_id: "g".into(),
            account_id: "a".into(),
            credits: 1,
        };
        let cmd = Command::Event(&event);
        // The account lost a race (not a failed condition); the next entry
        // exists because the account moved on. Not a malformed ledger.
        let raced = Cancelled {
            reasons: vec![
                (Role::Account, reason("TransactionConflict")),
                (Role::Grant, reason("None")),
                (Role::Entry, reason("ConditionalCheckFailed")),
            ],
            retryable: true,
            describe: String::new(),
        };
        assert!(ledger.learn(&cmd, Known::default(), raced).is_ok());
        // The account's condition held, yet its next entry exists: malformed.
        let broken = Cancelled {
            reasons: vec![
                (Role::Account, reason("None")),
                (Role::Grant, reason("None")),
                (Role::Entry, reason("ConditionalCheckFailed")),
            ],
            retryable: false,
            describe: String::new(),
        };
        assert!(matches!(
            ledger.learn(&cmd, Known::default(), broken),
            Err(StoreError::Malformed(_))
        ));
    }

    /// Every transaction the adapter can build, for every kind of change,
    /// follows DynamoDB's expression grammar (the emulator is more lenient).
    #[test]
    fn every_transaction_follows_the_aws_grammar() {
        let meta = Meta {
            event_id: "e".into(),
            at_ms: 1,
        };
        let grant = |id: &str, c| Event::Granted {
            grant_id: id.into(),
            account_id: "a".into(),
            credits: c,
        };
        let req = |c| Event::Requested {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: c,
        };
        let rendered = |c| Event::Rendered {
            job_id: "j".into(),
            account_id: "a".into(),
            credits: c,
        };
        let failed = Event::Failed {
            job_id: "j".into(),
            account_id: "a".into(),
            reason: Some("x".into()),
        };
        let histories: Vec<Vec<Event>> = vec![
            vec![grant("g", 10)],
            vec![grant("g", 10), req(5)],
            vec![req(5)],
            vec![grant("g", 10), req(5), rendered(5)],
            vec![grant("g", 10), req(5), rendered(7)],
            vec![grant("g", 10), req(5), failed.clone()],
            vec![failed.clone()],
            vec![rendered(3)],
            vec![req(50), rendered(3)],
        ];
        let mut checked = 0;
        for history in histories {
            let mut ledger = MemoryLedger::default();
            for event in &history {
                let decision = decide(event, &ledger.known(event), &meta).unwrap();
                if let Decision::Apply(change) = &decision {
                    for (_, item) in transaction("t", change, &meta) {
                        expr::assert_aws_grammar(&item);
                        checked += 1;
                    }
                }
                ledger.apply(event, &meta).unwrap();
            }
        }
        // The sweep's expiry of a hold.
        let mut ledger = MemoryLedger::default();
        for event in [grant("g", 10), req(5)] {
            ledger.apply(&event, &meta).unwrap();
        }
        let known = ledger.known(&req(5));
        let Decision::Apply(change) = decide_expiry("j", &known, &meta).unwrap() else {
            panic!("a HELD job expires");
        };
        for (_, item) in transaction("t", &change, &meta) {
            expr::assert_aws_grammar(&item);
            checked += 1;
        }
        assert!(checked >= 20, "checked {checked} items");
    }
}
