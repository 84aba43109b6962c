//! The sweep (contract §5): what the event stream never finished, settled every
//! 6 hours.
//!
//! One run does three things, in this order, each through the sparse
//! `open-items` index so that its reads grow with what is open, never with the
//! size of the table:
//!
//! 1. **stragglers** — finds HELD jobs whose hold is older than the cutoff and,
//!    per the stage's straggler action, expires them with [`Ledger::expire`]
//!    (the handler's conditional transaction: a `video.rendered` racing the
//!    sweep settles the job exactly once, and late capture covers the rest)
//!    or only reports them. First: releasing blocked credits matters most
//!    when the time budget is tight;
//! 2. **audit** — for every account whose money moved since its last audit,
//!    recomputes its balances from its audit checkpoint plus the ledger
//!    entries after it, and reports drift. A clean account loses its audit
//!    mark and gets a new checkpoint if it is still as audited; a drifted one
//!    keeps both, so every sweep reports it until it is fixed. After the
//!    stragglers, so the accounts their expiries touched are audited in the
//!    same run;
//! 3. **conflicts** — lists the conflict records written by the handler since
//!    the last sweep (a marker in the `SWEEP`/`STATE` item says where the last
//!    listing stopped), then moves the marker. Last: it only reports, and
//!    what it does not reach is listed by the next sweep.
//!
//! `dry_run` reads and reports but writes nothing. Work stops early enough
//! before the Lambda deadline ([`Budget`]); whatever is left is still open in
//! the index, so the next run continues it. Two sweeps at once are harmless:
//! expiry, mark removal and the conflict marker are all conditional writes.

pub mod audit;
pub mod budget;
pub mod input;
pub mod lanes;
pub mod report;

use std::time::Duration;

use lambda_runtime::Diagnostic;
use reconciler_core::ledger::{Account, Outcome};

use crate::config::{StragglerAction, SweepConfig};
use crate::store::items::OpenHold;
use crate::store::open::Open;
use crate::store::sweep::{audit_mark, open_conflict, open_hold};
use crate::store::{Ledger, StoreError, now_ms};
use crate::summarizer::Summarizer;
pub use budget::{Budget, Margin};
pub use input::{InvalidInput, SweepInput, parse_input};
use lanes::Lanes;
use reconciler_core::audit::{self as money, AccountAudit, Balances, Doubt};
pub use report::{
    ConflictView, Phase, Report, StragglerOutcome, StragglerView, SummarySource,
    deterministic_summary,
};

/// The summarizer sees at most this much of the report.
pub const SUMMARIZER_INPUT_BYTES: usize = 8 * 1024;

/// How many stragglers, or accounts, the sweep works on at once by default:
/// 16 round trips in flight turn a straggler's ~25 ms into ~1.6 ms of the
/// run (docs/sweep.md, "Keeping up"), and stay far below what one sweep's
/// connections and a table's capacity take.
pub const SWEEP_LANES: usize = 16;

/// Knobs with production defaults; tests turn them.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Reserve before the deadline (default: 10 s or 15 %).
    pub margin: Margin,
    /// Items per `Query` page; `None`: DynamoDB's 1 MB pages for an
    /// account's entries, [`crate::store::open::OPEN_PAGE_ITEMS`] per shard
    /// of the index.
    pub page_size: Option<i32>,
    /// Conflicts younger than this are left for the next sweep, so a record
    /// still being written (its time is taken before the write) is never
    /// skipped by a marker that already moved past it.
    pub conflict_settle: Duration,
    /// Longest list in the report (counts are always complete).
    pub list_cap: usize,
    /// The clock of the cutoff and the budget, in ms since the Unix epoch.
    pub clock: fn() -> i64,
    /// How many stragglers are expired, and accounts audited, at once
    /// ([`Lanes`]: never two of one account). 1: one at a time, in the
    /// order read.
    pub lanes: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            margin: Margin::default(),
            page_size: None,
            conflict_settle: Duration::from_secs(60),
            list_cap: 100,
            clock: now_ms,
            lanes: SWEEP_LANES,
        }
    }
}

/// Why a sweep invocation failed. The error type Lambda reports is
/// [`SweepError::error_type`].
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The payload was refused; nothing was done.
    #[error(transparent)]
    InvalidInput(#[from] InvalidInput),
    /// DynamoDB failed in a way that stops the whole sweep (an index query).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sweep ran to its end, but some items could not be swept; the
    /// report was logged. Failing makes the sweep-errors alarm fire.
    #[error("{failed} item(s) could not be swept, first: {first}. {summary}")]
    ItemsFailed {
        failed: u64,
        first: String,
        summary: String,
    },
}

impl SweepError {
    /// Whether the sweep ran to its end (report logged, metrics set) before
    /// failing: only then are there metrics of this invocation to emit.
    pub fn has_report(&self) -> bool {
        matches!(self, SweepError::ItemsFailed { .. })
    }

    pub fn error_type(&self) -> &'static str {
        match self {
            SweepError::InvalidInput(_) => InvalidInput::ERROR_TYPE,
            SweepError::Store(e) => e.error_type(),
            SweepError::ItemsFailed { .. } => "SweepItemsFailed",
        }
    }
}

impl From<SweepError> for Diagnostic {
    fn from(e: SweepError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

/// The sweep over one ledger table.
pub struct Sweep {
    ledger: Ledger,
    hold_timeout_seconds: u64,
    straggler_action: StragglerAction,
    summarizer: Option<Summarizer>,
    tuning: Tuning,
}

/// What the run has done so far, and where it is.
struct Run<'a> {
    input: &'a SweepInput,
    budget: Budget,
    run_id: &'a str,
    now_ms: i64,
    report: Report,
}

/// What concurrent work needs of the run: a copy, so that the report can
/// be written while the work is in flight.
#[derive(Clone, Copy)]
struct At<'a> {
    dry_run: bool,
    budget: Budget,
    run_id: &'a str,
    now_ms: i64,
}

impl<'a> Run<'a> {
    fn at(&self) -> At<'a> {
        At {
            dry_run: self.input.dry_run,
            budget: self.budget,
            run_id: self.run_id,
            now_ms: self.now_ms,
        }
    }

    fn fail(&mut self, what: String, cap: usize) {
        tracing::warn!(run_id = self.run_id, problem = %what, "sweep item failed");
        self.report.failed_items += 1;
        push_capped(
            &mut self.report.errors,
            what,
            cap,
            &mut self.report.lists_truncated,
        );
    }
}

/// One straggler's work, done: its outcome, or what failed.
struct Settled {
    job_id: String,
    /// Its place in the report's list, if it is listed.
    slot: Option<usize>,
    outcome: Result<StragglerOutcome, String>,
}

/// What one account's audit found, for the report.
struct Audited {
    /// The account was there to audit.
    audited: bool,
    /// The audit reached the end of the account's window.
    finished: bool,
    drift: Option<audit::DriftView>,
    unproven: bool,
    mark_kept: bool,
}

impl Audited {
    /// Nothing to audit: the index entry outlived its item.
    fn nothing() -> Audited {
        Audited {
            audited: false,
            finished: true,
            drift: None,
            unproven: false,
            mark_kept: false,
        }
    }
}

fn push_capped<T>(list: &mut Vec<T>, item: T, cap: usize, truncated: &mut bool) {
    if list.len() < cap {
        list.push(item);
    } else {
        *truncated = true;
    }
}

impl Sweep {
    /// A sweep with the stage's configuration (the table is the ledger's).
    pub fn new(ledger: Ledger, config: &SweepConfig, summarizer: Option<Summarizer>) -> Self {
        Sweep {
            ledger,
            hold_timeout_seconds: config.hold_timeout_seconds,
            straggler_action: config.straggler_action,
            summarizer,
            tuning: Tuning::default(),
        }
    }

    pub fn with_tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// One invocation: parses the raw payload, runs, emits the metrics, logs
    /// the report as one JSON line and returns it.
    ///
    /// `deadline_ms` is the Lambda deadline (ms since the Unix epoch);
    /// `run_id` identifies the run in logs and in the entries of the holds it
    /// expires.
    pub async fn handle(
        &self,
        raw: &str,
        deadline_ms: i64,
        run_id: &str,
    ) -> Result<Report, SweepError> {
        let input = parse_input(raw).inspect_err(|e| {
            tracing::error!(
                run_id,
                error_type = InvalidInput::ERROR_TYPE,
                field = %e.field,
                error = %e,
                "sweep input refused; nothing done"
            );
        })?;
        let report = self
            .run(&input, deadline_ms, run_id)
            .await
            .inspect_err(|e| {
                tracing::error!(run_id, error_type = e.error_type(), error = %e, "sweep failed");
            })?;
        for (name, value) in report.metric_values() {
            metrics::gauge!(name).set(value);
        }
        tracing::info!(
            run_id,
            stragglers = report.stragglers,
            expired = report.expired,
            conflicts = report.conflicts,
            drifted_accounts = report.drifted_accounts,
            audited_accounts = report.audited_accounts,
            complete = report.complete,
            dry_run = report.dry_run,
            failed_items = report.failed_items,
            report = %report.to_json(),
            "sweep report"
        );
        if report.failed_items > 0 {
            return Err(SweepError::ItemsFailed {
                failed: report.failed_items,
                first: report.errors.first().cloned().unwrap_or_default(),
                summary: report.summary.clone(),
            });
        }
        Ok(report)
    }

    /// Runs the sweep until done or until the budget before `deadline_ms` is spent.
    pub async fn run(
        &self,
        input: &SweepInput,
        deadline_ms: i64,
        run_id: &str,
    ) -> Result<Report, SweepError> {
        let clock = self.tuning.clock;
        let started_ms = clock();
        let older_than = input
            .older_than_seconds
            .unwrap_or(self.hold_timeout_seconds);
        let mut run = Run {
            input,
            budget: Budget::new(deadline_ms, self.tuning.margin, clock),
            run_id,
            now_ms: started_ms,
            report: Report::new(
                run_id,
                input.dry_run,
                input.trigger,
                self.straggler_action,
                older_than,
            ),
        };
        tracing::info!(
            run_id,
            dry_run = input.dry_run,
            older_than_seconds = older_than,
            straggler_action = run.report.straggler_action,
            time_left_ms = run.budget.until_deadline().as_millis() as u64,
            "sweep started"
        );
        for (i, phase) in Phase::ALL.into_iter().enumerate() {
            let finished = match phase {
                Phase::Stragglers => self.settle_stragglers(&mut run, older_than).await?,
                Phase::Audit => self.audit_accounts(&mut run).await?,
                Phase::Conflicts => self.list_conflicts(&mut run).await?,
            };
            if !finished {
                run.report.remaining = Phase::ALL[i..].to_vec();
                break;
            }
            run.report.remaining.retain(|p| *p != phase);
        }
        let mut report = run.report;
        report.complete = report.remaining.is_empty();
        if !report.complete {
            tracing::warn!(
                run_id,
                remaining = ?report.remaining,
                "sweep stopped before its deadline; the next run continues"
            );
        }
        self.summarize(&mut report, &run.budget, run_id).await;
        report.duration_ms = (clock() - started_ms).max(0) as u64;
        Ok(report)
    }

    /// The report's summary: the deterministic sentence, or the
    /// summarizer's text when one is configured and answers in time.
    async fn summarize(&self, report: &mut Report, budget: &Budget, run_id: &str) {
        report.summary = deterministic_summary(report);
        let Some(summarizer) = &self.summarizer else {
            return;
        };
        // Leave a second to log and answer.
        let at_most = budget
            .until_deadline()
            .saturating_sub(Duration::from_secs(1));
        let input = report.for_summarizer(SUMMARIZER_INPUT_BYTES);
        match summarizer.summarize(&input, at_most).await {
            Ok(text) => {
                report.summary = text;
                report.summary_source = SummarySource::Model;
            }
            Err(e) => tracing::warn!(
                run_id,
                error = %e,
                "summarizer failed; the report carries the deterministic summary"
            ),
        }
    }

    /// Phase 3: conflicts recorded since the last sweep. `Ok(false)`: stopped by the budget.
    async fn list_conflicts(&self, run: &mut Run<'_>) -> Result<bool, StoreError> {
        if run.budget.exhausted() {
            return Ok(false);
        }
        let cap = self.tuning.list_cap;
        let state = self.ledger.sweep_state().await?;
        // Only records older than the settle time: their keys sort below this.
        let settle_ms = self.tuning.conflict_settle.as_millis() as i64;
        let bound = format!("{:015}", (run.now_ms - settle_ms).max(0));
        let mut reader = self.ledger.open_reader(
            Open::ConflictsAfter(state.conflicts_listed_until),
            self.tuning.page_size,
        );
        let mut last_listed: Option<String> = None;
        let finished = loop {
            if run.budget.exhausted() {
                break false;
            }
            let Some(item) = reader.next(&self.ledger).await? else {
                break true;
            };
            let c = open_conflict(item)?;
            // Every shard is read in `open_key` order: what comes next is
            // younger still.
            if c.open_key >= bound {
                break true;
            }
            run.report.conflicts += 1;
            let view = ConflictView {
                detail: serde_json::from_str(&c.detail)
                    .unwrap_or(serde_json::Value::String(c.detail)),
                key: c.key,
                account_id: c.account_id,
                detail_type: c.detail_type,
                reason: c.reason,
                at_ms: c.at_ms,
            };
            push_capped(
                &mut run.report.conflict_list,
                view,
                cap,
                &mut run.report.lists_truncated,
            );
            last_listed = Some(c.open_key);
        };
        if let Some(until) = last_listed.filter(|_| !run.input.dry_run) {
            self.ledger
                .advance_conflict_marker(&until, run.now_ms)
                .await?;
        }
        Ok(finished)
    }

    /// Phase 1: HELD jobs older than `older_than` seconds, settled
    /// [`Tuning::lanes`] accounts at a time. `Ok(false)`: stopped by the
    /// budget.
    async fn settle_stragglers(
        &self,
        run: &mut Run<'_>,
        older_than: u64,
    ) -> Result<bool, StoreError> {
        let cap = self.tuning.list_cap;
        let older_than_ms = i64::try_from(older_than.saturating_mul(1000)).unwrap_or(i64::MAX);
        let cutoff_ms = run.now_ms.saturating_sub(older_than_ms);
        let mut reader = self
            .ledger
            .open_reader(Open::HeldBefore(cutoff_ms), self.tuning.page_size);
        let at = run.at();
        let mut lanes = Lanes::new(self.tuning.lanes);
        let read = loop {
            if run.budget.exhausted() {
                break Ok(false);
            }
            if lanes.full() {
                // Room first; then the budget is asked again.
                if let Some(done) = lanes.next().await {
                    self.record_straggler(run, done);
                }
                continue;
            }
            let item = match reader.next(&self.ledger).await {
                Ok(Some(item)) => item,
                Ok(None) => break Ok(true),
                Err(e) => break Err(e),
            };
            run.report.stragglers += 1;
            let job = match open_hold(item) {
                Ok(job) => job,
                Err(malformed) => {
                    run.fail(format!("straggler: {malformed}"), cap);
                    continue;
                }
            };
            run.report.straggler_credits = run.report.straggler_credits.saturating_add(job.hold);
            let slot = run.report.straggler_jobs.len();
            let view = StragglerView {
                job_id: job.job_id.clone(),
                account_id: job.account_id.clone(),
                hold: Some(job.hold),
                held_at_ms: Some(job.held_at_ms),
                // Until its work says.
                outcome: StragglerOutcome::Failed,
            };
            push_capped(
                &mut run.report.straggler_jobs,
                view,
                cap,
                &mut run.report.lists_truncated,
            );
            let slot = (slot < run.report.straggler_jobs.len()).then_some(slot);
            lanes.push(job.account_id.clone(), Box::pin(self.settle(at, job, slot)));
        };
        // What is in flight finishes, even after a failed read: its outcome
        // is reported.
        while let Some(done) = lanes.next().await {
            self.record_straggler(run, done);
        }
        read
    }

    /// What becomes of one straggler: expired (or found settled), or only
    /// reported (the stage's action, or a dry run).
    async fn settle(&self, at: At<'_>, job: OpenHold, slot: Option<usize>) -> Settled {
        let outcome = if at.dry_run {
            Ok(StragglerOutcome::DryRun)
        } else if self.straggler_action == StragglerAction::Report {
            Ok(StragglerOutcome::Reported)
        } else {
            match self
                .ledger
                .expire(&job.job_id, &job.account_id, at.run_id)
                .await
            {
                Ok(applied) if applied.outcome == Outcome::Expired => Ok(StragglerOutcome::Expired),
                Ok(_) => Ok(StragglerOutcome::Settled),
                Err(e) => Err(format!("expire job {}: {e}", job.job_id)),
            }
        };
        Settled {
            job_id: job.job_id,
            slot,
            outcome,
        }
    }

    /// A straggler's outcome, in the report.
    fn record_straggler(&self, run: &mut Run<'_>, done: Settled) {
        let outcome = match done.outcome {
            Ok(outcome) => outcome,
            Err(what) => {
                run.fail(what, self.tuning.list_cap);
                StragglerOutcome::Failed
            }
        };
        if outcome == StragglerOutcome::Expired {
            run.report.expired += 1;
        }
        tracing::debug!(run_id = run.run_id, job_id = %done.job_id, ?outcome, "straggler");
        if let Some(view) = done.slot.and_then(|i| run.report.straggler_jobs.get_mut(i)) {
            view.outcome = outcome;
        }
    }

    /// Phase 2: accounts touched since their last audit, [`Tuning::lanes`]
    /// at a time. `Ok(false)`: stopped by the budget.
    async fn audit_accounts(&self, run: &mut Run<'_>) -> Result<bool, StoreError> {
        let mut reader = self
            .ledger
            .open_reader(Open::AuditMarked, self.tuning.page_size);
        let at = run.at();
        let mut lanes = Lanes::new(self.tuning.lanes);
        // Whether an audit was cut short by the budget.
        let mut cut = false;
        let read = loop {
            if run.budget.exhausted() || cut {
                break Ok(false);
            }
            if lanes.full() {
                // Room first; then the budget is asked again.
                if let Some(done) = lanes.next().await {
                    cut |= !self.record_audit(run, done);
                }
                continue;
            }
            let item = match reader.next(&self.ledger).await {
                Ok(Some(item)) => item,
                Ok(None) => break Ok(true),
                Err(e) => break Err(e),
            };
            let (account_id, cell) = match audit_mark(&item) {
                Ok(marked) => marked,
                Err(malformed) => {
                    run.report.audit_failures += 1;
                    run.fail(format!("audit: {malformed}"), self.tuning.list_cap);
                    continue;
                }
            };
            // One lane per account: the cells of a split account are
            // audited one after the other.
            let lane = account_id.clone();
            let work = async move {
                let audited = self.audit_account(at, &account_id, cell).await;
                (Account::in_cell(account_id, cell).name(), audited)
            };
            lanes.push(lane, Box::pin(work));
        };
        while let Some(done) = lanes.next().await {
            cut |= !self.record_audit(run, done);
        }
        read.map(|finished| finished && !cut)
    }

    /// One account's audit, in the report. `false`: the budget cut it short.
    fn record_audit(
        &self,
        run: &mut Run<'_>,
        (account_id, audited): (String, Result<Audited, StoreError>),
    ) -> bool {
        let audited = match audited {
            Ok(audited) => audited,
            Err(e) => {
                run.report.audit_failures += 1;
                run.fail(format!("audit {account_id}: {e}"), self.tuning.list_cap);
                return true;
            }
        };
        let report = &mut run.report;
        report.audited_accounts += u64::from(audited.audited);
        report.audits_unproven += u64::from(audited.unproven);
        report.audit_marks_kept += u64::from(audited.mark_kept);
        if let Some(drift) = audited.drift {
            report.drifted_accounts += 1;
            push_capped(
                &mut report.drift,
                drift,
                self.tuning.list_cap,
                &mut report.lists_truncated,
            );
        }
        audited.finished
    }

    /// The audit of one account ([`AccountAudit`]): its entries since its
    /// checkpoint folded a page at a time, the checkpoint moved as the pages
    /// are proven. `finished: false`: the budget stopped it; the next run
    /// goes on from the checkpoint.
    async fn audit_account(
        &self,
        at: At<'_>,
        account_id: &str,
        cell: u32,
    ) -> Result<Audited, StoreError> {
        let Some((account, checkpoint)) = self.ledger.account_for_audit(account_id, cell).await?
        else {
            // The index entry outlived its item: nothing to audit.
            return Ok(Audited::nothing());
        };
        // From the last proven version, or from the first entry. A
        // checkpoint ahead of the account (a racing sweep saw a newer
        // version, or the account was restored alone) proves nothing about
        // this version: audit it from the first entry.
        let base = checkpoint
            .filter(|c| c.audited_seq <= account.seq)
            .map_or_else(Balances::default, |c| c.balances());
        let mut audit = AccountAudit::new(&account, base);
        let (finished, saved) = self.fold_window(at, &mut audit, base.seq).await?;
        let verdict = audit.verdict();
        let mut audited = Audited {
            audited: true,
            finished,
            unproven: verdict.unproven,
            ..Audited::nothing()
        };
        if let Some(drift) = verdict.drift {
            // The mark stays and the checkpoint does not move: the account is
            // audited (and reported) again by every sweep until it is fixed,
            // so the LedgerDrift alarm stays in ALARM until then.
            tracing::error!(
                run_id = at.run_id,
                account_id,
                cell,
                problems = ?drift.problems,
                "ledger drift: the entries do not sum to the balances, or the jobs do not back the holds"
            );
            audited.drift = Some(drift.into());
            audited.unproven = false;
            return Ok(audited);
        }
        if at.dry_run {
            return Ok(audited);
        }
        // Clean up to the account as read: the mark goes if nothing moved
        // since. Otherwise the mark stays and the checkpoint moves alone to
        // what was proven, so that the next audit reads only what came after.
        if verdict.clean
            && self
                .ledger
                .clear_audit_mark(&account, at.now_ms, at.run_id)
                .await?
        {
            return Ok(audited);
        }
        audited.mark_kept = true;
        if verdict.proven.seq > saved {
            self.ledger
                .advance_checkpoint(account_id, cell, &verdict.proven, at.now_ms, at.run_id)
                .await?;
        }
        Ok(audited)
    }

    /// Folds the account's window into `audit` a page at a time — the
    /// entries, the jobs whose holds they move, the takes of the holds they
    /// release — settling each page's doubts on one transactional read,
    /// until the window's end, a doubt a write in flight explains, or the
    /// budget (`false`). A page proven with more to come moves the
    /// checkpoint (not in a dry run, nor once drift is found), so that a
    /// window too long for one run, or a run cut short, is not read again.
    /// Returns whether it finished, and the checkpoint's seq now.
    async fn fold_window(
        &self,
        at: At<'_>,
        audit: &mut AccountAudit,
        mut saved: u64,
    ) -> Result<(bool, u64), StoreError> {
        let (account_id, cell) = (audit.account_id().to_owned(), audit.cell());
        let mut start = None;
        while !audit.done() {
            if at.budget.exhausted() {
                return Ok((false, saved));
            }
            let page = self
                .ledger
                .entries_page(
                    &account_id,
                    cell,
                    audit.next_seq(),
                    audit.last_seq(),
                    self.tuning.page_size,
                    start.take(),
                )
                .await?;
            let jobs = self.ledger.jobs(&money::jobs_holding(&page.items)).await?;
            let takes = self
                .ledger
                .entries(&account_id, cell, &audit.takes_needed(&page.items, &jobs))
                .await?;
            let doubts = audit.fold(&page.items, &jobs, &takes);
            self.settle_doubts(audit, doubts).await?;
            let Some(next) = page.next else {
                let doubts = audit.end();
                self.settle_doubts(audit, doubts).await?;
                break;
            };
            start = Some(next);
            let verdict = audit.verdict();
            if verdict.drift.is_none() && verdict.proven.seq > saved && !at.dry_run {
                self.ledger
                    .advance_checkpoint(&account_id, cell, &verdict.proven, at.now_ms, at.run_id)
                    .await?;
                saved = verdict.proven.seq;
            }
        }
        Ok((true, saved))
    }

    /// Settles an audit's doubts, if any, on one transactional read of them
    /// with the account.
    async fn settle_doubts(
        &self,
        audit: &mut AccountAudit,
        doubts: Vec<Doubt>,
    ) -> Result<(), StoreError> {
        if !doubts.is_empty() {
            let (account_id, cell) = (audit.account_id().to_owned(), audit.cell());
            let snapshot = self
                .ledger
                .audit_snapshot(&account_id, cell, &doubts)
                .await?;
            audit.settle(&snapshot);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
