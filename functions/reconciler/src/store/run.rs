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

use std::time::Instant;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::CancellationReason;
use reconciler_core::contract::table;
use reconciler_core::event::Event;
use reconciler_core::ledger::{
    Account, Change, ConflictReason, Decision, Gather, Known, LedgerError, Meta, Outcome, decide,
    decide_expiry,
};

use super::cache::Confirmed;
use super::errors::{Answer, ItemAnswer, classify, item_answer};
use super::expr::Expr;
use super::items::{ConflictItem, to_item};
use super::keys::Item;
use super::read::route;
use super::txn::{Role, Transaction, gather_transaction, transaction};
use super::{Applied, Command, Ledger, StoreError};

/// What a command knows, and which parts DynamoDB confirmed during it.
pub(super) struct Knowledge {
    pub(super) known: Known,
    /// The cell of the account the command decides in (0: the home cell,
    /// the whole of an account never split).
    pub(super) cell: u32,
    account: bool,
    job: bool,
    record: bool,
}

impl Knowledge {
    fn guessed(known: Known, cell: u32) -> Knowledge {
        Knowledge {
            known,
            cell,
            account: false,
            job: false,
            record: false,
        }
    }

    /// What a consistent read of every item the command rests on knows.
    pub(super) fn read(known: Known, cell: u32) -> Knowledge {
        Knowledge {
            known,
            cell,
            account: true,
            job: true,
            record: true,
        }
    }

    /// What a committed change between the cells made of the command's:
    /// its cell as it is after. The other cells are forgotten: a decision
    /// that needs them again reads them all together again.
    fn gathered(&mut self, gather: &Gather) {
        if let Some(leg) = gather.legs.iter().find(|l| l.after.cell == self.cell) {
            self.known.account = Some(leg.after.clone());
        }
        self.known.others = None;
    }

    /// Whether what was learnt sends the command to another cell than the
    /// one it knows: the home cell counts more cells than assumed (the
    /// account was split meanwhile), or the job, created meanwhile by an
    /// instance that knew another count, lives in another cell. Read again.
    fn rerouted(&self, cmd: &Command<'_>) -> bool {
        let split = self
            .known
            .account
            .as_ref()
            .is_some_and(|a| a.cell == 0 && a.cell_count() > self.known.cells.max(1));
        split || route(cmd, self.known.job.as_ref(), self.known.cells) != self.cell
    }

    /// Marks the item of `role` as confirmed.
    fn confirm(&mut self, role: Role) {
        match role {
            Role::Account => self.account = true,
            Role::Job => self.job = true,
            Role::Record => self.record = true,
            Role::Entry => {}
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

/// Where one command stands: when it started, what it is applying, what
/// it has sent and lost so far.
struct Progress {
    started: Instant,
    meta: Meta,
    /// The invocation: in the token and on what it writes.
    request_id: String,
    requests: u32,
    attempts: u32,
    losses: u32,
    last: String,
}

impl Progress {
    fn new(event_id: &str, at_ms: i64, request_id: &str) -> Progress {
        Progress {
            started: Instant::now(),
            meta: Meta {
                event_id: event_id.into(),
                at_ms,
            },
            request_id: request_id.into(),
            requests: 0,
            attempts: 0,
            losses: 0,
            last: String::from("no attempt finished"),
        }
    }

    /// What the command answers when it gives up.
    fn gave_up(&self) -> StoreError {
        StoreError::Contention {
            attempts: self.attempts,
            seconds: self.started.elapsed().as_secs(),
            last: self.last.clone(),
        }
    }
}

/// What to do after deciding.
// `Commit` is the common case and short-lived; boxing it would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum Next {
    /// Read a consistent snapshot and decide again.
    Read,
    /// Read every cell of the account together and decide again.
    ReadCells,
    /// Commit this change between the account's cells, and decide again.
    Gather(Gather),
    /// Answer without writing money: `duplicate`, or `conflict` and why.
    Answer(Outcome, Option<ConflictReason>),
    /// Commit this change.
    Commit(Change),
}

/// How sending a transaction ended.
enum Sent {
    Committed,
    Cancelled(Cancelled),
    /// The token was spent on another request with other parameters
    /// (`IdempotentParameterMismatchException`): this invocation, retried
    /// by Lambda, decided on the same state before, at another moment, and
    /// committed; read and decide again.
    Superseded,
}

/// A cancelled transaction: each item's reason, and whether others were
/// writing the same items.
struct Cancelled {
    reasons: Vec<(Role, CancellationReason)>,
    contended: bool,
    describe: String,
}

impl Cancelled {
    /// Sorts a cancellation's reasons: failed conditions and contention are
    /// knowledge; anything else is an error (a refused item is not
    /// retried), with `err`, the cancellation, as its source.
    fn sort<E, R>(
        reasons: Vec<(Role, CancellationReason)>,
        err: SdkError<E, R>,
    ) -> Result<Cancelled, StoreError>
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let answers: Vec<ItemAnswer> = reasons.iter().map(|(_, r)| item_answer(r)).collect();
        if let Some(at) = answers.iter().position(|a| *a == ItemAnswer::Fatal) {
            return Err(StoreError::cancelled(&reasons[at].1, err));
        }
        let codes: Vec<&str> = reasons
            .iter()
            .map(|(_, r)| r.code().unwrap_or("None"))
            .collect();
        let describe = format!("transaction cancelled: [{}]", codes.join(", "));
        Ok(Cancelled {
            contended: answers.contains(&ItemAnswer::Contended),
            reasons,
            describe,
        })
    }
}

impl Ledger {
    pub(super) async fn run(
        &self,
        cmd: Command<'_>,
        event_id: &str,
        request_id: &str,
    ) -> Result<Applied, StoreError> {
        let mut p = Progress::new(event_id, self.now_ms(), request_id);
        let mut k = match self.guess(&cmd) {
            Some((known, cell)) => Knowledge::guessed(known, cell),
            None => self.read(&cmd, p.started, &mut p.requests).await?,
        };
        loop {
            if self.retry.spent(p.started) {
                return Err(p.gave_up());
            }
            let change = match next(&cmd, &k, &p.meta)? {
                Next::Read => {
                    k = self.read(&cmd, p.started, &mut p.requests).await?;
                    continue;
                }
                Next::ReadCells => {
                    let cells = k.known.cells;
                    k = self
                        .read_cells(&cmd, cells, p.started, &mut p.requests)
                        .await?;
                    continue;
                }
                Next::Gather(gather) => {
                    k = self.gather(&cmd, k, &gather, &mut p).await?;
                    continue;
                }
                Next::Answer(outcome, conflict) => {
                    return self.answer(&cmd, k, outcome, conflict, &mut p).await;
                }
                Next::Commit(change) => change,
            };
            k = match self.commit(&cmd, k, change, &mut p).await? {
                Ok(applied) => return Ok(applied),
                Err(learnt) => learnt,
            };
        }
    }

    /// Sends the transaction of `change`: what it applied, or what the
    /// command knows after it did not commit.
    async fn commit(
        &self,
        cmd: &Command<'_>,
        k: Knowledge,
        change: Change,
        p: &mut Progress,
    ) -> Result<Result<Applied, Knowledge>, StoreError> {
        p.attempts += 1;
        let key = cmd.business_key();
        let txn = transaction(&self.table, &change, &p.meta, &key, &p.request_id);
        match self.send(&txn, p.started, &mut p.requests).await? {
            Sent::Committed => {
                let mut applied = self.committed(change, p);
                applied.account = self
                    .balances(applied.account, k.known.cells, p.started, &mut p.requests)
                    .await?;
                applied.requests = p.requests;
                Ok(Ok(applied))
            }
            Sent::Cancelled(cancelled) => {
                p.last = cancelled.describe.clone();
                let contended = cancelled.contended;
                let mut k = self.learn(cmd, k, cancelled)?;
                if k.rerouted(cmd) {
                    k = self.read(cmd, p.started, &mut p.requests).await?;
                }
                self.lost(p, contended).await;
                Ok(Err(k))
            }
            Sent::Superseded => {
                p.last = "the decision's token was spent by an earlier attempt".into();
                Ok(Err(self.read(cmd, p.started, &mut p.requests).await?))
            }
        }
    }

    /// After a cancelled transaction: a wrong first guess is corrected at
    /// once; losing again means others write the same items: back off.
    async fn lost(&self, p: &mut Progress, contended: bool) {
        if contended || p.losses > 0 {
            let delay = self.retry.delay(p.losses, p.started.elapsed());
            tokio::time::sleep(delay).await;
        }
        p.losses += 1;
    }

    /// A `duplicate` or a `conflict` (recorded for a human first): no money
    /// moves; the answer carries the current balances and job.
    async fn answer(
        &self,
        cmd: &Command<'_>,
        k: Knowledge,
        outcome: Outcome,
        conflict: Option<ConflictReason>,
        p: &mut Progress,
    ) -> Result<Applied, StoreError> {
        if let (Some(reason), Command::Event(event)) = (&conflict, cmd) {
            p.requests += 1;
            self.record_conflict(event, reason, &p.meta).await?;
        }
        let known = k.known;
        let cell = known
            .account
            .unwrap_or_else(|| Account::in_cell(cmd.account_id(), k.cell));
        let account = self
            .balances(cell, known.cells, p.started, &mut p.requests)
            .await?;
        Ok(Applied {
            outcome,
            account,
            job: known.job.map(|j| (j.job_id, j.status)),
            conflict,
            overdraft: 0,
            requests: p.requests,
            attempts: p.attempts,
        })
    }

    /// A committed change: remembered (the account if it is stored, the
    /// job), and answered.
    fn committed(&self, change: Change, p: &Progress) -> Applied {
        let stored = change.moves_money() || change.account_before.is_some();
        self.cache().confirm(Confirmed {
            account_id: &change.account_after.account_id,
            cell: change.account_after.cell,
            account: stored.then_some(Some(&change.account_after)),
            job: change
                .job
                .as_ref()
                .map(|(_, job)| (job.job_id.as_str(), Some(job))),
        });
        Applied {
            outcome: change.outcome,
            overdraft: change.entry.as_ref().map_or(0, |e| e.overdraft),
            job: change
                .job
                .as_ref()
                .map(|(_, j)| (j.job_id.clone(), j.status)),
            account: change.account_after,
            conflict: None,
            requests: p.requests,
            attempts: p.attempts,
        }
    }

    /// The first guess, from what this instance knows, or `None` to read:
    /// the account as this instance last saw it committed (a cold account is
    /// read: a wrong guess costs a cancelled write, a read costs less); the
    /// job HELD as this instance knows it, or new for a `video.requested`;
    /// a grant's or adjustment's record new.
    ///
    /// A split account is guessed in the cell its home cell, as this
    /// instance knows it, routes the event to: an older count of cells
    /// still names a cell of the account, and the write is guarded by it.
    fn guess(&self, cmd: &Command<'_>) -> Option<(Known, u32)> {
        let Command::Event(event) = cmd else {
            // The sweep acts on an index entry that may be stale: read.
            return None;
        };
        let cache = self.cache();
        let cells = cache.account(event.account_id(), 0)?.cell_count();
        let job = match event {
            Event::Requested { job_id, .. } => cache.held_job(job_id).cloned(),
            Event::Rendered { job_id, .. } | Event::Failed { job_id, .. } => {
                Some(cache.held_job(job_id)?.clone())
            }
            Event::Granted { .. } | Event::Adjusted { .. } => None,
        };
        let cell = route(cmd, job.as_ref(), cells);
        let account = Some(cache.account(event.account_id(), cell)?.clone());
        let known = Known {
            cells,
            account,
            job,
            ..Known::default()
        };
        Some((known, cell))
    }

    /// Remembers what the command confirmed of its account and its job.
    pub(super) fn remember_confirmed(&self, cmd: &Command<'_>, k: &Knowledge) {
        self.cache().confirm(Confirmed {
            account_id: cmd.account_id(),
            cell: k.cell,
            account: k.account.then_some(k.known.account.as_ref()),
            job: cmd
                .job_id()
                .filter(|_| k.job)
                .map(|job_id| (job_id, k.known.job.as_ref())),
        });
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
        let as_assumed = |reason: &CancellationReason| item_answer(reason) == ItemAnswer::AsAssumed;
        let account_held = !cancelled.contended
            && cancelled
                .reasons
                .iter()
                .any(|(role, reason)| *role == Role::Account && as_assumed(reason));
        for (role, reason) in cancelled.reasons {
            match item_answer(&reason) {
                ItemAnswer::AsAssumed if !cancelled.contended => k.confirm(role),
                ItemAnswer::ConditionFailed => {
                    self.learn_item(cmd, &mut k, role, reason.item().cloned(), account_held)?;
                }
                _ => {}
            }
        }
        // The account's other cells were read before this write was sent:
        // a decision that needs them reads them all together again.
        k.known.others = None;
        self.remember_confirmed(cmd, &k);
        Ok(k)
    }

    /// An item whose condition failed: `image` is the item as it is (`None`:
    /// absent), now confirmed.
    fn learn_item(
        &self,
        cmd: &Command<'_>,
        k: &mut Knowledge,
        role: Role,
        image: Option<Item>,
        account_held: bool,
    ) -> Result<(), StoreError> {
        match (role, image) {
            // The next entry exists because the account moved on: the
            // account's own failure tells where it is now.
            (Role::Entry, _) if !account_held => return Ok(()),
            (Role::Entry, _) => {
                return Err(StoreError::Malformed(format!(
                    "account {} is as the change assumed, yet its next ledger entry exists",
                    cmd.account_id()
                )));
            }
            (Role::Account, None) => k.known.account = None,
            (Role::Job, None) => k.known.job = None,
            (Role::Record, None) => {
                k.known.grant = None;
                k.known.adjustment = None;
            }
            (role, Some(item)) => self.absorb(cmd, &mut k.known, role, item)?,
        }
        k.confirm(role);
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
            match classify(&err) {
                Answer::Cancelled(reasons) => {
                    let roles = txn.items.iter().map(|(r, _)| *r);
                    let reasons = roles.zip(reasons.iter().cloned()).collect();
                    return Cancelled::sort(reasons, err).map(Sent::Cancelled);
                }
                Answer::TokenSpent => return Ok(Sent::Superseded),
                Answer::NotNow => {}
                Answer::Failed => return Err(StoreError::from_sdk(err)),
            }
            if self.retry.spent(started) {
                return Err(StoreError::from_sdk(err));
            }
            tracing::debug!(resends, error = %aws_sdk_dynamodb::error::DisplayErrorContext(&err), "resending the same transaction");
            self.retry.backoff(resends).await;
            resends += 1;
        }
    }

    /// Commits a change between the account's cells (`Decision::Gather`)
    /// and learns the cells as they are after; a cancelled one (the cells
    /// moved meanwhile) reads them all again, backing off while others
    /// write them.
    async fn gather(
        &self,
        cmd: &Command<'_>,
        mut k: Knowledge,
        gather: &Gather,
        p: &mut Progress,
    ) -> Result<Knowledge, StoreError> {
        p.attempts += 1;
        let txn = gather_transaction(&self.table, gather, &p.meta, &p.request_id);
        match self.send(&txn, p.started, &mut p.requests).await? {
            Sent::Committed => {
                for leg in &gather.legs {
                    self.cache().confirm(Confirmed {
                        account_id: &leg.after.account_id,
                        cell: leg.after.cell,
                        account: Some(Some(&leg.after)),
                        job: None,
                    });
                }
                k.gathered(gather);
                return Ok(k);
            }
            Sent::Cancelled(cancelled) => {
                p.last = cancelled.describe;
                self.lost(p, cancelled.contended).await;
            }
            Sent::Superseded => {
                p.last = "the change between cells was committed by an earlier attempt".into();
            }
        }
        let cells = k.known.cells;
        self.read_cells(cmd, cells, p.started, &mut p.requests)
            .await
    }

    /// Keeps a conflict for a human (idempotent: one record per key and payload).
    async fn record_conflict(
        &self,
        event: &Event,
        reason: &ConflictReason,
        meta: &Meta,
    ) -> Result<(), StoreError> {
        let item = ConflictItem::new(event, reason, meta);
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
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

/// What to do with the decision `cmd` takes on `k`: never answer
/// `duplicate` or `conflict` from an unconfirmed guess, and read pictures
/// of different moments together.
fn next(cmd: &Command<'_>, k: &Knowledge, meta: &Meta) -> Result<Next, StoreError> {
    let decided = match cmd {
        Command::Event(event) => decide(event, &k.known, meta),
        Command::Expire { job_id, .. } => decide_expiry(job_id, &k.known, meta),
    };
    let confirmed = k.confirmed(cmd);
    match decided {
        // Remembered pictures of different moments: read them together.
        Err(LedgerError::Inconsistent(why)) if !confirmed => {
            tracing::debug!(%why, "reading a consistent snapshot");
            Ok(Next::Read)
        }
        // A consistent snapshot that breaks invariant 2: a broken ledger.
        Err(LedgerError::Inconsistent(why)) => Err(StoreError::Ledger(LedgerError::Broken {
            account_id: cmd.account_id().to_owned(),
            problem: why,
        })),
        Err(other) => Err(other.into()),
        Ok(Decision::Duplicate | Decision::Conflict(_)) if !confirmed => Ok(Next::Read),
        Ok(Decision::Duplicate) => Ok(Next::Answer(Outcome::Duplicate, None)),
        Ok(Decision::Conflict(reason)) => Ok(Next::Answer(Outcome::Conflict, Some(reason))),
        Ok(Decision::Apply(change)) => Ok(Next::Commit(change)),
        Ok(Decision::ReadCells) => Ok(Next::ReadCells),
        Ok(Decision::Gather(gather)) => Ok(Next::Gather(gather)),
    }
}

#[cfg(test)]
#[path = "run_tests.rs"]
mod tests;
