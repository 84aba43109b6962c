//! The sweep against a real moto server: stragglers (expire, report only, dry
//! run), races with a late `video.rendered`, the read cost on a big table,
//! drift after a direct corruption, the time budget, conflicts listed once,
//! and the summarizer against a local fake OpenAI-compatible server whose API
//! key lives in moto's SSM.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use reconciler::config::{StragglerAction, SummarizerConfig, SweepConfig};
use reconciler::store::items::{
    AccountItem, AuditCheckpointItem, EntryItem, JobItem, from_item, to_item,
};
use reconciler::store::keys::{Item, account_key, audit_checkpoint_key, job_key};
use reconciler::store::{Ledger, now_ms};
use reconciler::summarizer::Summarizer;
use reconciler::sweep::{
    Margin, Phase, Report, StragglerOutcome, SummarySource, Sweep, SweepInput, Tuning,
    deterministic_summary,
};
use reconciler_core::event::Event;
use reconciler_core::key::BusinessKey;
use reconciler_core::ledger::{Account, Entry, EntryKind, Job, JobStatus, Outcome};
use serde_json::{Value, json};
use testkit::capture::Capture;
use testkit::emulator::proxy::FaultProxy;
use testkit::events::*;
use testkit::http::{Request, Response};

const HOUR_MS: i64 = 3_600_000;

/// The index queries of a sweep that finds each page short: every phase
/// reads the first page of each of its partitions (32 shards and the
/// unsharded key of item format 1).
const INDEX_QUERIES: u64 = 3 * 33;

/// A clock 7 hours in the past: holds taken with it are stragglers under the
/// default 6-hour timeout.
fn seven_hours_ago() -> i64 {
    now_ms() - 7 * HOUR_MS
}

/// A deadline far enough away never to stop a sweep.
fn far_deadline() -> i64 {
    now_ms() + 300_000
}

struct Env {
    client: Client,
    table: String,
    sdk: aws_config::SdkConfig,
    capture: Capture,
}

impl Env {
    async fn new(label: &str) -> Env {
        Self::at(testkit::emulator::moto::shared_endpoint(), label).await
    }

    async fn at(endpoint: &str, label: &str) -> Env {
        let sdk = testkit::emulator::sdk_config(endpoint).await;
        let capture = Capture::default();
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(capture.clone())
            .build();
        let client = Client::from_conf(conf);
        let table = testkit::fresh_table(&client, label).await;
        Env {
            client,
            table,
            sdk,
            capture,
        }
    }

    /// The operations the client sent since the last call.
    fn sent(&self) -> Vec<String> {
        self.capture
            .take()
            .into_iter()
            .map(|e| e.operation)
            .collect()
    }

    /// A handler-side ledger (a fresh Lambda instance) on the real clock.
    fn ledger(&self) -> Ledger {
        Ledger::new(self.client.clone(), self.table.clone())
    }

    /// A handler-side ledger whose writes happen at `clock`.
    fn ledger_at(&self, clock: fn() -> i64) -> Ledger {
        self.ledger().with_clock(clock)
    }

    fn config(&self, action: StragglerAction) -> SweepConfig {
        SweepConfig {
            stage: "dev".into(),
            table: self.table.clone(),
            hold_timeout_seconds: 6 * 3600,
            straggler_action: action,
            summarizer: None,
        }
    }

    /// A sweep with small pages (pagination everywhere) that lists conflicts
    /// at once (no settle time).
    fn sweep(&self, action: StragglerAction) -> Sweep {
        self.sweep_with(action, None)
    }

    fn sweep_with(&self, action: StragglerAction, summarizer: Option<Summarizer>) -> Sweep {
        Sweep::new(self.ledger(), &self.config(action), summarizer).with_tuning(Tuning {
            page_size: Some(2),
            conflict_settle: Duration::ZERO,
            ..Tuning::default()
        })
    }

    /// Writes `item` as it is (a hand edit: no guard, no validation).
    async fn put(&self, item: Item) {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }

    async fn get(&self, key: Item) -> Option<Item> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    async fn job(&self, job_id: &str) -> Job {
        let item = self.get(job_key(job_id)).await.expect("job exists");
        from_item::<JobItem>(item, "job").unwrap().job().unwrap()
    }

    async fn account(&self, account_id: &str) -> AccountItem {
        let item = self
            .get(account_key(account_id))
            .await
            .expect("account exists");
        from_item(item, "account").unwrap()
    }

    /// The account's audit checkpoint, if a clean audit wrote one.
    async fn checkpoint(&self, account_id: &str) -> Option<AuditCheckpointItem> {
        let item = self.get(audit_checkpoint_key(account_id)).await?;
        Some(from_item(item, "audit checkpoint").unwrap())
    }

    async fn balances(&self, account_id: &str) -> (i64, i64) {
        let a = self.account(account_id).await;
        (a.available, a.held)
    }

    /// The account's ledger entries, in order.
    async fn entries(&self, account_id: &str) -> Vec<Entry> {
        Ledger::new(self.client.clone(), self.table.clone())
            .entries_between(account_id, 0, 1, u64::MAX, None)
            .await
            .unwrap()
    }

    /// Every item of the table, keyed by pk/sk (tests may scan; the sweep may not).
    async fn snapshot(&self) -> BTreeMap<(String, String), Item> {
        let mut all = BTreeMap::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for item in out.items() {
                let s = |k: &str| item[k].as_s().unwrap().clone();
                all.insert((s("pk"), s("sk")), item.clone());
            }
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return all,
            }
        }
    }

    async fn batch_put(&self, items: Vec<Item>) {
        for chunk in items.chunks(25) {
            let writes = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .unwrap(),
                        )
                        .build()
                })
                .collect();
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, writes)
                .send()
                .await
                .unwrap();
            assert!(
                out.unprocessed_items().is_none_or(|u| u.is_empty()),
                "moto processes every batch"
            );
        }
    }
}

async fn apply(ledger: &Ledger, event: Event) -> Outcome {
    ledger.apply(&event, "evt").await.unwrap().outcome
}

async fn sweep_once(sweep: &Sweep, input: SweepInput) -> Report {
    sweep
        .run(
            &input,
            far_deadline(),
            &format!("run-{:x}", fastrand::u32(..)),
        )
        .await
        .unwrap()
}

fn manual(older_than_seconds: Option<u64>, dry_run: bool) -> SweepInput {
    SweepInput {
        older_than_seconds,
        dry_run,
        ..SweepInput::default()
    }
}

/// `a1` with 100 credits, two holds taken 7 hours ago (j1: 30, j2: 20) and a
/// recent one (j3: 10).
async fn two_stragglers_and_a_fresh_hold(env: &Env) {
    let old = env.ledger_at(seven_hours_ago);
    assert_eq!(apply(&old, grant("g1", "a1", 100)).await, Outcome::Granted);
    assert_eq!(apply(&old, req("j1", "a1", 30)).await, Outcome::Held);
    assert_eq!(apply(&old, req("j2", "a1", 20)).await, Outcome::Held);
    assert_eq!(
        apply(&env.ledger(), req("j3", "a1", 10)).await,
        Outcome::Held
    );
}

#[tokio::test]
async fn stragglers_are_found_and_expired() {
    let env = Env::new("stragglers").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    let sweep = env.sweep(StragglerAction::Expire);

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(
        (report.stragglers, report.expired, report.conflicts),
        (2, 2, 0)
    );
    assert_eq!(report.drift, vec![]);
    assert!(report.complete && report.remaining.is_empty());
    assert_eq!(report.audited_accounts, 1, "a1 was touched");
    assert_eq!(
        report.summary,
        "2 stragglers found, 2 expired; 0 conflicts since the last sweep; \
         ledger drift in 0 of 1 audited account."
    );
    let jobs: Vec<(&str, StragglerOutcome)> = report
        .straggler_jobs
        .iter()
        .map(|s| (s.job_id.as_str(), s.outcome))
        .collect();
    assert_eq!(
        jobs,
        [
            ("j1", StragglerOutcome::Expired),
            ("j2", StragglerOutcome::Expired)
        ]
    );
    assert_eq!(env.job("j1").await.status, JobStatus::Expired);
    assert_eq!(env.job("j2").await.status, JobStatus::Expired);
    assert_eq!(
        env.job("j3").await.status,
        JobStatus::Held,
        "the fresh hold stays"
    );
    assert_eq!(env.balances("a1").await, (90, 10));
    let entries = env.entries("a1").await;
    let expiries: Vec<_> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Expire)
        .collect();
    assert_eq!(expiries.len(), 2);
    assert!(expiries.iter().all(|e| e.event_id == report.run_id));
    assert_eq!(
        env.account("a1").await.open_kind,
        None,
        "audited, mark removed"
    );

    let json = report.to_json();
    for key in ["stragglers", "expired", "conflicts", "drift", "summary"] {
        assert!(json.get(key).is_some(), "contract key {key} in {json}");
    }

    // Nothing left: the next sweep finds nothing and audits nothing.
    let again = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(
        (again.stragglers, again.expired, again.audited_accounts),
        (0, 0, 0)
    );

    // A manual sweep with `older_than_seconds: 0` takes the fresh hold too.
    let all = sweep_once(&sweep, manual(Some(0), false)).await;
    assert_eq!(
        (all.stragglers, all.expired, all.older_than_seconds),
        (1, 1, 0)
    );
    assert_eq!(env.balances("a1").await, (100, 0));
    assert_eq!(all.drift, vec![]);
    assert_eq!(all.audited_accounts, 1);
}

#[tokio::test]
async fn the_report_action_only_reports() {
    let env = Env::new("report-only").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    let sweep = env.sweep(StragglerAction::Report);

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((report.stragglers, report.expired), (2, 0));
    assert_eq!(report.straggler_action, "report");
    assert!(
        report
            .straggler_jobs
            .iter()
            .all(|s| s.outcome == StragglerOutcome::Reported)
    );
    assert!(
        report.summary.contains("reported only"),
        "{}",
        report.summary
    );
    for job in ["j1", "j2", "j3"] {
        assert_eq!(env.job(job).await.status, JobStatus::Held);
    }
    assert_eq!(env.balances("a1").await, (40, 60));
    // Still HELD: the next sweep reports them again; the account was audited once.
    let again = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(
        (again.stragglers, again.expired, again.audited_accounts),
        (2, 0, 0)
    );
}

#[tokio::test]
async fn a_dry_run_changes_nothing() {
    let env = Env::new("dry-run").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    // A conflict: the same grant id with another amount.
    assert_eq!(
        apply(&env.ledger(), grant("g1", "a1", 99)).await,
        Outcome::Conflict
    );
    let sweep = env.sweep(StragglerAction::Expire);

    let before = env.snapshot().await;
    let report = sweep_once(&sweep, manual(Some(0), true)).await;
    assert!(report.dry_run);
    assert_eq!(
        (report.stragglers, report.expired, report.conflicts),
        (3, 0, 1)
    );
    assert_eq!(report.audited_accounts, 1);
    assert!(
        report
            .straggler_jobs
            .iter()
            .all(|s| s.outcome == StragglerOutcome::DryRun)
    );
    assert!(
        report.summary.contains("none expired (dry run)"),
        "{}",
        report.summary
    );
    assert_eq!(env.snapshot().await, before, "not one item changed");
    // It emits what it found, not what it would have done: the conflict it
    // listed is listed again by the next real sweep and must count once.
    assert_eq!(
        report.metric_values(),
        [
            ("Stragglers", 3.0),
            ("StragglerCredits", 60.0),
            ("Expired", 0.0),
            ("LedgerDrift", 0.0),
            ("SweepConflicts", 0.0)
        ]
    );

    // A real run then does what the dry run only reported.
    let real = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((real.stragglers, real.expired, real.conflicts), (2, 2, 1));
    assert_eq!(real.metric_values()[4], ("SweepConflicts", 1.0));
}

#[tokio::test]
async fn a_render_before_the_sweep_leaves_nothing_to_expire() {
    let env = Env::new("race-rendered-first").await;
    let old = env.ledger_at(seven_hours_ago);
    apply(&old, grant("g1", "a1", 100)).await;
    apply(&old, req("j1", "a1", 30)).await;
    assert_eq!(
        apply(&env.ledger(), rendered("j1", "a1", 25)).await,
        Outcome::Debited
    );

    let report = sweep_once(&env.sweep(StragglerAction::Expire), SweepInput::default()).await;
    assert_eq!((report.stragglers, report.expired), (0, 0));
    assert_eq!(report.drift, vec![]);
    assert_eq!(env.job("j1").await.status, JobStatus::Debited);
    assert_eq!(env.balances("a1").await, (75, 0));
    let kinds: Vec<String> = env
        .entries("a1")
        .await
        .into_iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["grant", "hold", "debit"],
        "debited once, never expired"
    );
}

#[tokio::test]
async fn a_render_after_the_sweep_is_a_late_capture() {
    let env = Env::new("race-sweep-first").await;
    let old = env.ledger_at(seven_hours_ago);
    apply(&old, grant("g1", "a1", 100)).await;
    apply(&old, req("j1", "a1", 30)).await;
    let sweep = env.sweep(StragglerAction::Expire);

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((report.stragglers, report.expired), (1, 1));
    assert_eq!(env.balances("a1").await, (100, 0));

    let handler = env.ledger();
    assert_eq!(
        apply(&handler, rendered("j1", "a1", 25)).await,
        Outcome::Debited
    );
    assert_eq!(env.job("j1").await.status, JobStatus::Debited);
    assert_eq!(env.balances("a1").await, (75, 0));
    assert_eq!(
        apply(&handler, rendered("j1", "a1", 25)).await,
        Outcome::Duplicate
    );
    let kinds: Vec<String> = env
        .entries("a1")
        .await
        .into_iter()
        .map(|e| e.kind.as_str().to_owned())
        .collect();
    assert_eq!(kinds, ["grant", "hold", "expire", "debit"]);

    let after = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((after.stragglers, after.audited_accounts), (0, 1));
    assert_eq!(
        after.drift,
        vec![],
        "the late capture keeps the ledger exact"
    );
}

/// The sweep and the renders at the same time, through a proxy that orders
/// the requests as DynamoDB's serializable transactions would: every job is
/// settled by exactly one of them, and late capture covers the rest. One
/// account per job, so that the race is between the two settlements of a job
/// (not over an account's version).
#[tokio::test]
async fn a_sweep_racing_renders_settles_each_hold_once() {
    let proxy = FaultProxy::start(testkit::emulator::moto::shared_endpoint()).await;
    let env = Env::at(&proxy.endpoint, "race-concurrent").await;
    let old = env.ledger_at(seven_hours_ago);
    let jobs: Vec<(String, String)> = (0..20)
        .map(|n| (format!("j{n:02}"), format!("a{n:02}")))
        .collect();
    for (job, account) in &jobs {
        apply(&old, grant(&format!("g-{account}"), account, 100)).await;
        assert_eq!(apply(&old, req(job, account, 30)).await, Outcome::Held);
    }
    let sweep = env.sweep(StragglerAction::Expire);
    let handler = env.ledger();
    let (report, outcomes) = tokio::join!(sweep_once(&sweep, SweepInput::default()), async {
        // Newest first, while the sweep goes oldest first: they meet in the middle.
        let mut outcomes = Vec::new();
        for (job, account) in jobs.iter().rev() {
            outcomes.push(apply(&handler, rendered(job, account, 25)).await);
        }
        outcomes
    });
    assert!(
        outcomes.iter().all(|o| *o == Outcome::Debited),
        "{outcomes:?}"
    );
    let mut expiries = 0;
    for (job, account) in &jobs {
        assert_eq!(env.job(job).await.status, JobStatus::Debited);
        assert_eq!(env.balances(account).await, (75, 0), "{job}");
        let kinds: Vec<String> = env
            .entries(account)
            .await
            .into_iter()
            .map(|e| e.kind.as_str().to_owned())
            .collect();
        match kinds.as_slice() {
            [_, _, debit] => assert_eq!(debit, "debit", "{job}: {kinds:?}"),
            [_, _, expire, debit] => {
                assert_eq!(
                    (expire.as_str(), debit.as_str()),
                    ("expire", "debit"),
                    "{job}"
                );
                expiries += 1;
            }
            other => panic!("{job}: {other:?}"),
        }
    }
    assert_eq!(expiries, report.expired, "each expiry reported, none twice");
    assert!(
        report.expired > 0 && report.expired < 20,
        "both orders happened: {} expired by the sweep, the rest rendered first",
        report.expired
    );
    let settled = report
        .straggler_jobs
        .iter()
        .filter(|s| s.outcome == StragglerOutcome::Settled)
        .count() as u64;
    assert_eq!(report.stragglers, report.expired + settled);
    let audit = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(audit.drift, vec![], "{:?}", audit.drift);
}

/// `n` DEBITED jobs of other accounts, written directly.
fn settled_jobs(n: usize) -> Vec<Item> {
    (0..n)
        .map(|i| {
            let job = Job {
                cell: 0,
                job_id: format!("settled-{i:05}"),
                account_id: format!("old-{:02}", i % 10),
                status: JobStatus::Debited,
                requested: Some(10),
                hold: Some(10),
                debited: Some(10),
                reason: None,
                entries: vec![1, 2],
            };
            to_item(&JobItem::new(&job, "seed", 1_000))
        })
        .collect()
}

/// Ten audited accounts (no audit mark) with `per_account` grant entries each.
fn audited_accounts_with_history(per_account: u64) -> Vec<Item> {
    let mut items = Vec::new();
    for a in 0..10 {
        let account_id = format!("old-{a:02}");
        for seq in 1..=per_account {
            let entry = Entry {
                cell: 0,
                transferred_delta: 0,
                account_id: account_id.clone(),
                seq,
                kind: EntryKind::Grant,
                key: BusinessKey::grant(format!("{account_id}-{seq}")).entry(),
                amount: 1,
                available_delta: 1,
                held_delta: 0,
                granted_delta: 1,
                debited_delta: 0,
                adjusted_delta: 0,
                overdraft: 0,
                available_after: seq as i64,
                held_after: 0,
                event_id: "seed".into(),
                at_ms: 1_000,
            };
            items.push(to_item(&EntryItem::new(&entry)));
        }
        let mut account = Account::new(&account_id);
        account.available = per_account as i64;
        account.granted = per_account as i64;
        account.seq = per_account;
        let mut item = AccountItem::new(&account, 1_000);
        item.open_kind = None;
        item.open_key = None;
        items.push(to_item(&item));
    }
    items
}

#[tokio::test]
async fn the_sweeps_reads_grow_with_stragglers_and_touched_accounts_not_the_table() {
    let env = Env::new("read-cost").await;
    // The bulk: 2,000 settled jobs and 10 audited accounts with 2,000 entries.
    env.batch_put(settled_jobs(2_000)).await;
    env.batch_put(audited_accounts_with_history(200)).await;
    // What is open: 5 stragglers on 3 accounts.
    let old = env.ledger_at(seven_hours_ago);
    let mut stragglers = 0;
    for (account, holds) in [("a1", 2), ("a2", 2), ("a3", 1)] {
        apply(&old, grant(&format!("g-{account}"), account, 100)).await;
        for h in 0..holds {
            apply(&old, req(&format!("{account}-j{h}"), account, 10)).await;
            stragglers += 1;
        }
    }
    let touched = 3;
    let sweep = Sweep::new(env.ledger(), &env.config(StragglerAction::Expire), None);
    env.sent();

    let report = sweep_once(&sweep, SweepInput::default()).await;
    let operations = env.sent();
    let requests = operations.len();
    assert_eq!(
        (report.stragglers, report.expired),
        (stragglers, stragglers)
    );
    assert_eq!(report.audited_accounts, touched);
    assert_eq!(report.drift, vec![]);
    assert!(!operations.iter().any(|op| op == "Scan"), "{operations:?}");
    // Per straggler: a consistent read and the expiry transaction. Per touched
    // account: the account with its checkpoint (one Query), its entries, the
    // jobs its hold entries name (one BatchGetItem), the mark removal with the
    // new checkpoint (one transaction). Plus the index's first pages (each
    // phase reads its 32 shards and the unsharded key of item format 1: 99
    // queries) and the sweep's state: about 2·5 + 4·3 + 99 + 3 = 124.
    let bound = 2 * stragglers + 4 * touched + INDEX_QUERIES + 3;
    assert!(
        requests as u64 <= bound,
        "{requests} requests for {stragglers} stragglers and {touched} accounts \
         in a table of 4,000+ items (bound {bound}): {operations:?}"
    );
    assert!(
        requests as u64 >= 2 * stragglers,
        "the stragglers were read and expired"
    );

    for account in ["a1", "a2", "a3"] {
        let checkpoint = env
            .checkpoint(account)
            .await
            .expect("a clean audit checkpoints");
        assert_eq!(checkpoint.audited_seq, env.account(account).await.seq);
    }
    env.sent();

    // Nothing open any more: a few requests, whatever the table holds.
    sweep_once(&sweep, SweepInput::default()).await;
    let sent = env.sent();
    assert!(sent.len() as u64 <= INDEX_QUERIES + 2, "{sent:?}");
}

#[tokio::test]
async fn the_next_audit_reads_only_the_entries_after_the_checkpoint() {
    let env = Env::new("checkpoint").await;
    let handler = env.ledger();
    for g in 0..40 {
        apply(&handler, grant(&format!("g{g}"), "a1", 1)).await;
    }
    let sweep = env.sweep(StragglerAction::Expire); // pages of 2 items
    let queries = |ops: Vec<String>| ops.iter().filter(|op| *op == "Query").count();
    env.sent();

    // The first audit reads all 40 entries: 20 pages or more.
    let first = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((first.audited_accounts, first.drifted_accounts), (1, 0));
    let first_queries = queries(env.sent());
    assert!(first_queries >= 20, "{first_queries} queries");
    let checkpoint = env.checkpoint("a1").await.expect("checkpoint");
    assert_eq!(
        (
            checkpoint.audited_seq,
            checkpoint.audited_available,
            checkpoint.audited_held,
            checkpoint.audited_granted,
            checkpoint.audited_debited
        ),
        (40, 40, 0, 40, 0)
    );
    assert!(env.account("a1").await.open_kind.is_none(), "mark removed");

    // The handler writes the account again (a full Put): the checkpoint,
    // a separate item, survives it.
    apply(&handler, req("j1", "a1", 5)).await;
    assert_eq!(env.account("a1").await.seq, 41);
    assert_eq!(env.checkpoint("a1").await, Some(checkpoint));

    // The second audit reads entry 41 only: one page of entries, plus the
    // account and the index's first pages (straggler, audit-mark and
    // conflict partitions).
    env.sent();
    let second = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((second.audited_accounts, second.drifted_accounts), (1, 0));
    let second_queries = queries(env.sent());
    assert!(
        second_queries <= INDEX_QUERIES as usize + 2,
        "{second_queries} queries"
    );
    let moved = env.checkpoint("a1").await.expect("checkpoint");
    assert_eq!(
        (
            moved.audited_seq,
            moved.audited_available,
            moved.audited_held
        ),
        (41, 35, 5)
    );

    // A corruption after the checkpoint is still drift, recomputed from it.
    apply(&handler, rendered("j1", "a1", 5)).await;
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a1")))
        .update_expression("SET available = :corrupted")
        .expression_attribute_values(":corrupted", AttributeValue::N("99".into()))
        .send()
        .await
        .unwrap();
    let drifted = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(drifted.drifted_accounts, 1);
    assert_eq!(
        (
            drifted.drift[0].stored.available,
            drifted.drift[0].recomputed.available
        ),
        (99, 35)
    );
    assert_eq!(
        env.checkpoint("a1").await.unwrap().audited_seq,
        41,
        "a drifted account's checkpoint does not move"
    );
}

/// A busy account (a writer never stops) is audited by every sweep, and
/// its checkpoint moves forward every time, whether or not its mark could
/// go: the next audit reads what came since, never the whole history.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_accounts_checkpoint_moves_while_money_keeps_moving() {
    // A writer and the sweeps race on one account: through the proxy, whose
    // one connection to moto gives each transaction the isolation DynamoDB
    // gives it (moto applies a transaction item by item, and two racing
    // directly can leave an entry written and its account not).
    let proxy = FaultProxy::start(testkit::emulator::moto::shared_endpoint()).await;
    let env = Env::at(&proxy.endpoint, "busy-checkpoint").await;
    let handler = env.ledger();
    apply(&handler, grant("g-0", "busy", 1)).await;
    // The writer keeps writing until the sweeps below are done.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (handler, stop) = (env.ledger(), stop.clone());
        tokio::spawn(async move {
            let mut g = 0;
            while !stop.load(Ordering::SeqCst) {
                g += 1;
                apply(&handler, grant(&format!("g-{g}"), "busy", 1)).await;
            }
            g
        })
    };
    let sweep = env.sweep(StragglerAction::Expire);
    let mut seen = Vec::new();
    let mut kept = 0;
    for _ in 0..5 {
        let before = env.checkpoint("busy").await.map(|c| c.audited_seq);
        let report = sweep_once(&sweep, SweepInput::default()).await;
        assert_eq!(report.drifted_accounts, 0, "{report:?}");
        let after = env.checkpoint("busy").await.map(|c| c.audited_seq);
        if report.audit_marks_kept > 0 {
            // The account moved past the version audited: the mark stays,
            // and the checkpoint moved all the same.
            kept += 1;
            assert!(
                after > before,
                "kept mark, checkpoint {before:?} -> {after:?}"
            );
        }
        seen.extend(after);
        // Let the writer move the account on before the next sweep (a
        // writer that stopped fails the test with its reason, not a hang).
        // A guard against a hang, not a speed check.
        let seq = env.account("busy").await.seq;
        let waiting = Instant::now();
        while env.account("busy").await.seq == seq {
            if writer.is_finished() {
                writer.await.unwrap();
                panic!("the writer stopped before it was told to");
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(300),
                "the writer has not moved the account past seq {seq} in 5 minutes"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    stop.store(true, Ordering::SeqCst);
    let written = writer.await.unwrap();
    println!("{kept} sweeps kept the mark; checkpoints {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "only forward: {seen:?}"
    );
    let distinct: std::collections::BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        seen.len(),
        "every sweep moved the checkpoint, the account moving on or not: {seen:?}"
    );
    // Quiet again: a sweep audits what came since and clears the mark.
    let last = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(last.drifted_accounts, 0);
    assert_eq!(
        env.checkpoint("busy").await.unwrap().audited_seq,
        u64::try_from(written).unwrap() + 1
    );
    assert!(
        env.account("busy").await.open_kind.is_none(),
        "mark removed"
    );
}

#[tokio::test]
async fn drift_after_a_direct_corruption_is_reported() {
    let env = Env::new("drift").await;
    let handler = env.ledger();
    for account in ["a1", "a2", "a3"] {
        apply(&handler, grant(&format!("g-{account}"), account, 100)).await;
        apply(&handler, req(&format!("{account}-j1"), account, 30)).await;
        apply(&handler, rendered(&format!("{account}-j1"), account, 25)).await;
    }
    // Someone edits a2's balance by hand.
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a2")))
        .update_expression("SET available = :corrupted")
        .expression_attribute_values(":corrupted", AttributeValue::N("82".into()))
        .send()
        .await
        .unwrap();
    let sweep = env.sweep(StragglerAction::Expire);

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(report.audited_accounts, 3);
    assert_eq!(report.drifted_accounts, 1);
    assert_eq!(report.drift.len(), 1, "clean accounts are not reported");
    let drift = &report.drift[0];
    assert_eq!(drift.account_id, "a2");
    assert_eq!((drift.stored.available, drift.stored.held), (82, 0));
    assert_eq!((drift.recomputed.available, drift.recomputed.held), (75, 0));
    assert!(
        drift.problems.iter().any(|p| p.contains("conservation")),
        "{:?}",
        drift.problems
    );
    let json = report.to_json();
    assert_eq!(json["drift"][0]["stored"]["available"], 82);
    assert_eq!(json["drift"][0]["recomputed"]["available"], 75);
    let metrics: BTreeMap<&str, f64> = report.metric_values().into_iter().collect();
    assert_eq!(metrics["LedgerDrift"], 1.0);
    assert!(
        report
            .summary
            .contains("ledger drift in 1 of 3 audited accounts")
    );

    assert!(env.checkpoint("a1").await.is_some());
    assert_eq!(env.checkpoint("a2").await, None, "no checkpoint on drift");

    // Not cleared: the next sweep audits and reports a2 again (the clean
    // accounts were cleared), so the LedgerDrift alarm holds…
    let again = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((again.audited_accounts, again.drifted_accounts), (1, 1));
    assert_eq!(again.drift[0].account_id, "a2");
    assert_eq!(again.metric_values()[3], ("LedgerDrift", 1.0));
    assert_eq!(
        env.account("a2").await.open_kind.as_deref(),
        Some("AUDIT#09")
    );
    assert_eq!(env.checkpoint("a2").await, None);

    // …until someone corrects the account from its entries.
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a2")))
        .update_expression("SET available = :fixed")
        .expression_attribute_values(":fixed", AttributeValue::N("75".into()))
        .send()
        .await
        .unwrap();
    let fixed = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((fixed.audited_accounts, fixed.drifted_accounts), (1, 0));
    assert_eq!(fixed.metric_values()[3], ("LedgerDrift", 0.0));
    let checkpoint = env.checkpoint("a2").await.expect("checkpoint");
    assert_eq!(
        (checkpoint.audited_seq, checkpoint.audited_available),
        (3, 75)
    );

    // Nothing touched since: nothing to audit.
    let next = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((next.audited_accounts, next.drifted_accounts), (0, 0));
    assert_eq!(next.metric_values()[3], ("LedgerDrift", 0.0));
}

/// The drift procedure's repair: an account item edited by hand (its
/// entries intact) is put back to what its entries sum to by
/// `ledger repair`, guarded on the item as read; the next sweep finds it
/// clean. A ledger whose jobs disagree with its entries is refused.
#[tokio::test]
async fn a_hand_edited_account_is_repaired_from_its_entries() {
    let env = Env::new("repair").await;
    let handler = env.ledger();
    apply(&handler, grant("g-1", "a1", 100)).await;
    apply(&handler, req("j1", "a1", 30)).await;
    apply(&handler, rendered("j1", "a1", 25)).await;
    let clean =
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), false, |_, _| {
            panic!("nothing to confirm")
        })
        .await
        .unwrap();
    assert_eq!(clean, operator::commands::ledger::Repair::Clean);

    // Someone edits a1's balance by hand.
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a1")))
        .update_expression("SET available = :a")
        .expression_attribute_values(":a", AttributeValue::N("82".into()))
        .send()
        .await
        .unwrap();
    let sweep = env.sweep(StragglerAction::Expire);
    assert_eq!(
        sweep_once(&sweep, SweepInput::default())
            .await
            .drifted_accounts,
        1
    );

    // The dry run says what would change and writes nothing.
    let dry =
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), true, |_, _| {
            panic!("a dry run asks nothing")
        })
        .await
        .unwrap();
    let operator::commands::ledger::Repair::Needed { stored, recomputed } = &dry else {
        panic!("{dry:?}");
    };
    assert_eq!((stored.available, stored.seq), (82, 3));
    assert_eq!((recomputed.available, recomputed.seq), (75, 3));
    assert_eq!(env.account("a1").await.available, 82);
    let text = operator::commands::ledger::render_repair("a1", &dry);
    println!("{text}");
    assert!(text.contains("dry run: nothing written"), "{text}");

    // Not confirmed: nothing written.
    let refused =
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), false, |_, _| {
            anyhow::bail!("not confirmed: nothing repaired")
        })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("not confirmed"));
    assert_eq!(env.account("a1").await.available, 82);

    // A repair planned on a version that then moved writes nothing.
    let stale = env.ledger().account("a1", 0).await.unwrap().unwrap();
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a1")))
        .update_expression("SET overdrafts = :o")
        .expression_attribute_values(":o", AttributeValue::N("0".into()))
        .send()
        .await
        .unwrap();
    let mut moved = stale.clone();
    moved.available = 81;
    assert!(
        !env.ledger()
            .repair_account(&moved, recomputed)
            .await
            .unwrap()
    );
    assert_eq!(
        env.account("a1").await.available,
        82,
        "guarded: nothing written"
    );

    // Confirmed: repaired, marked, and the next sweep finds it clean.
    let done =
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), false, |_, _| {
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        matches!(done, operator::commands::ledger::Repair::Repaired { .. }),
        "{done:?}"
    );
    println!("{}", operator::commands::ledger::render_repair("a1", &done));
    let account = env.account("a1").await;
    assert_eq!((account.available, account.seq), (75, 3));
    assert_eq!(account.open_kind.as_deref(), Some("AUDIT#15"));
    let after = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((after.audited_accounts, after.drifted_accounts), (1, 0));
    // And the handler goes on from the repaired version.
    apply(&handler, grant("g-2", "a1", 5)).await;
    assert_eq!(env.account("a1").await.seq, 4);

    // A job edited by hand: the balances alone cannot make the ledger
    // whole; refused, nothing written.
    apply(&handler, req("j2", "a1", 10)).await;
    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(job_key("j2")))
        .update_expression("SET #s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", AttributeValue::S("REFUNDED".into()))
        .send()
        .await
        .unwrap();
    let error =
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), false, |_, _| {
            Ok(())
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("jobs disagree with its entries") && error.contains("escalate"),
        "{error}"
    );
}

/// Grant 100, hold j1 30, a clean sweep; then j1's `hold` is edited to 20
/// out of band, and `video.failed` releases 20: the account holds 10 with
/// no HELD job, while the entries since the checkpoint sum to the balances
/// and j1 is REFUNDED as they say. The audit reads the release's take —
/// entry 2, before its window, named by the job — and reports the
/// difference; the mark stays, so every sweep reports it until it is fixed.
#[tokio::test]
async fn a_release_that_does_not_match_its_audited_take_is_drift() {
    let env = Env::new("take-release").await;
    let handler = env.ledger();
    apply(&handler, grant("g1", "a1", 100)).await;
    apply(&handler, req("j1", "a1", 30)).await;
    let sweep = env.sweep(StragglerAction::Expire);
    let clean = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((clean.audited_accounts, clean.drifted_accounts), (1, 0));
    assert_eq!(env.checkpoint("a1").await.unwrap().audited_seq, 2);
    assert!(env.account("a1").await.open_kind.is_none(), "mark removed");

    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(job_key("j1")))
        .update_expression("SET #h = :h")
        .expression_attribute_names("#h", "hold")
        .expression_attribute_values(":h", AttributeValue::N("20".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        apply(&env.ledger(), failed("j1", "a1")).await,
        Outcome::Refunded
    );
    assert_eq!(env.balances("a1").await, (90, 10));

    for _ in 0..2 {
        let report = sweep_once(&sweep, SweepInput::default()).await;
        assert_eq!((report.audited_accounts, report.drifted_accounts), (1, 1));
        let problems = report.drift[0].problems.join("; ");
        assert!(
            problems.contains("job j1: 20 credits released at entry 3")
                && problems.contains("moved 30 held credits"),
            "{problems}"
        );
        assert_eq!(
            env.account("a1").await.open_kind.as_deref(),
            Some("AUDIT#15")
        );
        assert_eq!(env.checkpoint("a1").await.unwrap().audited_seq, 2);
    }
}

/// What a repair cannot mend, it refuses, naming it, and writes nothing:
/// a `seq` raised by hand (repairing the balances would leave the account
/// refusing every later event), and a last entry deleted (repairing would
/// take the paid 50-credit grant away for good: its redelivery would
/// answer `duplicate`).
#[tokio::test]
async fn a_repair_refuses_a_raised_seq_and_a_missing_last_entry() {
    let env = Env::new("repair-refused").await;
    let handler = env.ledger();
    apply(&handler, grant("g-1", "a1", 100)).await;
    apply(&handler, grant("g-2", "a1", 50)).await;
    let repair = || async {
        operator::commands::ledger::repair(&env.ledger(), &env.table, ("a1", 0), false, |_, _| {
            Ok(())
        })
        .await
        .unwrap_err()
        .to_string()
    };

    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a1")))
        .update_expression("SET seq = :s")
        .expression_attribute_values(":s", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    let refused = repair().await;
    assert!(
        refused.contains("its seq is 5, but its entries end at 2")
            && refused.contains("nothing is repaired"),
        "{refused}"
    );
    assert_eq!(env.account("a1").await.seq, 5, "nothing written");

    env.client
        .update_item()
        .table_name(&env.table)
        .set_key(Some(account_key("a1")))
        .update_expression("SET seq = :s")
        .expression_attribute_values(":s", AttributeValue::N("2".into()))
        .send()
        .await
        .unwrap();
    env.client
        .delete_item()
        .table_name(&env.table)
        .set_key(Some(reconciler::store::keys::entry_key("a1", 2)))
        .send()
        .await
        .unwrap();
    let refused = repair().await;
    assert!(
        refused.contains("its seq is 2, but its entries end at 1"),
        "{refused}"
    );
    let account = env.account("a1").await;
    assert_eq!(
        (account.available, account.granted),
        (150, 150),
        "nothing written"
    );
}

/// A clock that moves one second forward at every reading.
fn ticking() -> i64 {
    static START: OnceLock<i64> = OnceLock::new();
    static TICKS: AtomicI64 = AtomicI64::new(0);
    let start = *START.get_or_init(now_ms);
    start + TICKS.fetch_add(1, Ordering::SeqCst) * 1_000
}

#[tokio::test]
async fn the_time_budget_stops_the_sweep_and_the_next_run_finishes() {
    let env = Env::new("budget").await;
    let old = env.ledger_at(seven_hours_ago);
    for account in ["a1", "a2", "a3"] {
        apply(&old, grant(&format!("g-{account}"), account, 100)).await;
        for j in 0..4 {
            apply(&old, req(&format!("{account}-j{j}"), account, 10)).await;
        }
    }
    let config = env.config(StragglerAction::Expire);

    // A deadline already inside the margin: nothing is started.
    let late = Sweep::new(env.ledger(), &config, None);
    let report = late
        .run(&SweepInput::default(), now_ms() + 5_000, "late")
        .await
        .unwrap();
    assert!(!report.complete);
    assert_eq!(report.remaining, Phase::ALL.to_vec());
    assert_eq!(
        (report.stragglers, report.expired, report.audited_accounts),
        (0, 0, 0)
    );
    assert!(
        report.summary.contains("Stopped before the deadline"),
        "{}",
        report.summary
    );
    assert_eq!(env.job("a1-j0").await.status, JobStatus::Held);

    // Ten seconds on a clock that ticks at every look: stops half-way through.
    let short = Sweep::new(env.ledger(), &config, None).with_tuning(Tuning {
        clock: ticking,
        margin: Margin {
            min: Duration::ZERO,
            fraction: 0.0,
        },
        page_size: Some(5),
        ..Tuning::default()
    });
    let deadline = ticking() + 10_000;
    let first = short
        .run(&SweepInput::default(), deadline, "short")
        .await
        .unwrap();
    assert!(!first.complete);
    // Stragglers come first: stopped in them, the audit and the conflicts wait.
    assert_eq!(
        first.remaining,
        [Phase::Stragglers, Phase::Audit, Phase::Conflicts]
    );
    assert!(
        first.expired > 0 && first.expired < 12,
        "some work done, some left: {}",
        first.expired
    );

    // The next run continues where it stopped.
    let second = sweep_once(&env.sweep(StragglerAction::Expire), SweepInput::default()).await;
    assert!(second.complete);
    assert_eq!(second.stragglers, 12 - first.expired);
    assert_eq!(first.expired + second.expired, 12);
    assert_eq!(second.audited_accounts, 3);
    assert_eq!(second.drift, vec![]);
    for account in ["a1", "a2", "a3"] {
        assert_eq!(env.balances(account).await, (100, 0));
    }
}

#[tokio::test]
async fn conflicts_since_the_last_sweep_are_listed_once() {
    let env = Env::new("conflicts").await;
    let handler = env.ledger();
    apply(&handler, grant("g1", "a1", 100)).await;
    assert_eq!(
        apply(&handler, grant("g1", "a1", 90)).await,
        Outcome::Conflict
    );
    apply(&handler, req("j1", "a1", 10)).await;
    assert_eq!(
        apply(&handler, req("j1", "a1", 11)).await,
        Outcome::Conflict
    );
    assert_eq!(
        apply(&handler, req("j1", "a2", 10)).await,
        Outcome::Conflict
    );

    // With the production settle time, conflicts of the last minute wait for
    // the next sweep — and the marker does not move past them.
    let patient = Sweep::new(env.ledger(), &env.config(StragglerAction::Expire), None);
    assert_eq!(
        sweep_once(&patient, SweepInput::default()).await.conflicts,
        0
    );

    let sweep = env.sweep(StragglerAction::Expire); // no settle time, pages of 2
    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(report.conflicts, 3);
    let listed: Vec<(&str, &str, i64)> = report
        .conflict_list
        .iter()
        .map(|c| {
            (
                c.key.as_str(),
                c.account_id.as_str(),
                c.detail["credits"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("grant:g1", "a1", 90),
            ("job:j1:video.requested", "a1", 11),
            ("job:j1:video.requested", "a2", 10)
        ]
    );
    assert!(report.conflict_list.iter().all(|c| !c.reason.is_empty()));
    assert_eq!(report.conflict_list[0].detail_type, "credits.granted");
    assert!(report.summary.contains("3 conflicts since the last sweep"));

    // Listed once: a second sweep lists none, even after a redelivery of a
    // conflicting event (the same record)…
    assert_eq!(
        apply(&handler, grant("g1", "a1", 90)).await,
        Outcome::Conflict
    );
    assert_eq!(sweep_once(&sweep, SweepInput::default()).await.conflicts, 0);
    // …but a new conflict is listed by the next one.
    assert_eq!(
        apply(&handler, grant("g1", "a1", 80)).await,
        Outcome::Conflict
    );
    let next = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(next.conflicts, 1);
    assert_eq!(next.conflict_list[0].detail["credits"], 80);
}

/// How the fake chat-completions server answers.
#[derive(Debug, Clone, Copy)]
enum Fake {
    Reply(&'static str),
    Status(u16),
    /// Answers only once the test opens the gate ([`FakeOpenAi::open`]).
    Held,
    Garbage,
}

/// A local OpenAI-compatible server; it records what it receives.
struct FakeOpenAi {
    base_url: String,
    received: Arc<Mutex<Vec<Request>>>,
    gate: Arc<tokio::sync::Semaphore>,
    _server: testkit::http::Server,
}

impl FakeOpenAi {
    async fn start(mode: Fake) -> FakeOpenAi {
        let received: Arc<Mutex<Vec<Request>>> = Arc::default();
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let (log, held) = (received.clone(), gate.clone());
        let server = testkit::http::serve(testkit::http::handler(move |request| {
            let (log, held) = (log.clone(), held.clone());
            async move {
                log.lock().unwrap().push(request);
                if matches!(mode, Fake::Held) {
                    let _ = held.acquire().await;
                }
                Some(fake_answer(mode).await)
            }
        }))
        .await
        .unwrap();
        FakeOpenAi {
            base_url: format!("{}/v1", server.endpoint()),
            received,
            gate,
            _server: server,
        }
    }

    fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }

    /// Lets a held answer go.
    fn open(&self) {
        self.gate.add_permits(1_000);
    }
}

/// What the fake server answers in `mode`.
async fn fake_answer(mode: Fake) -> Response {
    let ok = |text: &str| {
        json!({"id": "chatcmpl-1", "object": "chat.completion",
               "choices": [{"index": 0, "finish_reason": "stop",
                            "message": {"role": "assistant", "content": text}}]})
    };
    match mode {
        Fake::Reply(text) => Response::json(200, &ok(text)),
        Fake::Status(status) => Response::json(status, &json!({"error": {"message": "boom"}})),
        Fake::Held => Response::json(200, &ok("too late")),
        Fake::Garbage => Response::new(200, "application/json", "<html>not json"),
    }
}

/// Puts an API key into moto's SSM as a SecureString; returns (name, key).
async fn api_key_in_ssm(env: &Env) -> (String, String) {
    let ssm = aws_sdk_ssm::Client::new(&env.sdk);
    let name = format!(
        "/cc-agent-reconciler/test-{:08x}/openai-api-key",
        fastrand::u32(..)
    );
    let key = format!("sk-test-{:016x}", fastrand::u64(..));
    ssm.put_parameter()
        .name(&name)
        .value(&key)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    (name, key)
}

/// A table with two stragglers, a fresh hold and a conflict; every sweep
/// below is a dry run, so they all see the same table.
async fn summarizer_env(label: &str) -> Env {
    let env = Env::new(label).await;
    two_stragglers_and_a_fresh_hold(&env).await;
    apply(&env.ledger(), grant("g1", "a1", 99)).await;
    env
}

async fn summarized(env: &Env, base_url: &str, parameter: &str, timeout_ms: u64) -> Report {
    let summarizer = Summarizer::new(
        SummarizerConfig {
            base_url: base_url.into(),
            model: "gpt-test".into(),
            api_key_parameter: parameter.into(),
            timeout_ms,
        },
        aws_sdk_ssm::Client::new(&env.sdk),
    );
    let sweep = env.sweep_with(StragglerAction::Expire, Some(summarizer));
    sweep_once(&sweep, manual(None, true)).await
}

/// The report without what may differ between two runs over the same table.
fn numbers(report: &Report) -> Value {
    let mut json = report.to_json();
    for key in ["summary", "summary_source", "run_id", "duration_ms"] {
        json.as_object_mut().unwrap().remove(key);
    }
    json
}

#[tokio::test]
async fn the_summarizer_summarizes_with_the_key_from_ssm() {
    let env = summarizer_env("summarizer-ok").await;
    let (parameter, key) = api_key_in_ssm(&env).await;
    let fake = FakeOpenAi::start(Fake::Reply("Two stale holds were found; nothing drifted.")).await;

    let report = summarized(&env, &fake.base_url, &parameter, 5_000).await;
    assert_eq!(
        report.summary,
        "Two stale holds were found; nothing drifted."
    );
    assert_eq!(report.summary_source, SummarySource::Model);

    let received = fake.received();
    assert_eq!(received.len(), 1);
    let request = &received[0];
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {key}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["model"], "gpt-test");
    assert!(body["max_tokens"].as_u64().is_some());
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    let sent = body["messages"][1]["content"].as_str().unwrap();
    assert!(sent.len() <= 8 * 1024);
    let sent: Value = serde_json::from_str(sent).expect("the report as JSON");
    assert_eq!(
        (sent["stragglers"].as_u64(), sent["conflicts"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(sent.get("summary").is_none());
    assert!(
        !report.to_json().to_string().contains(&key),
        "the key is not in the report"
    );

    // The sweep's numbers are the same without a summarizer.
    let plain = sweep_once(&env.sweep(StragglerAction::Expire), manual(None, true)).await;
    assert_eq!(numbers(&report), numbers(&plain));
    assert_eq!(plain.summary_source, SummarySource::Deterministic);
}

#[tokio::test]
async fn every_summarizer_failure_falls_back_to_the_deterministic_summary() {
    let env = summarizer_env("summarizer-failures").await;
    let (parameter, key) = api_key_in_ssm(&env).await;
    let plain = sweep_once(&env.sweep(StragglerAction::Expire), manual(None, true)).await;

    for mode in [Fake::Status(500), Fake::Status(401), Fake::Garbage] {
        let fake = FakeOpenAi::start(mode).await;
        let report = summarized(&env, &fake.base_url, &parameter, 5_000).await;
        assert_eq!(
            report.summary_source,
            SummarySource::Deterministic,
            "{mode:?}"
        );
        assert_eq!(report.summary, deterministic_summary(&report), "{mode:?}");
        assert_eq!(numbers(&report), numbers(&plain), "{mode:?}");
        let received = fake.received();
        assert_eq!(received.len(), 1, "{mode:?}: asked once");
        assert_eq!(
            received[0].header("authorization"),
            Some(format!("Bearer {key}").as_str())
        );
    }

    // A server that answers only after the sweep is over: the sweep
    // reports without it (had it waited, it would still be waiting; the
    // guard turns such a hang into a failure, it measures no speed).
    let fake = FakeOpenAi::start(Fake::Held).await;
    let report = tokio::time::timeout(
        Duration::from_secs(300),
        summarized(&env, &fake.base_url, &parameter, 300),
    )
    .await
    .expect("the sweep waited for a summarizer that never answered");
    assert_eq!(report.summary_source, SummarySource::Deterministic);
    assert_eq!(report.summary, deterministic_summary(&report));
    assert_eq!(fake.received().len(), 1, "the request was sent");
    fake.open();

    // No such parameter: no request at all.
    let fake = FakeOpenAi::start(Fake::Reply("unused")).await;
    let report = summarized(
        &env,
        &fake.base_url,
        "/cc-agent-reconciler/missing-key",
        5_000,
    )
    .await;
    assert_eq!(report.summary_source, SummarySource::Deterministic);
    assert_eq!(numbers(&report), numbers(&plain));
    assert!(fake.received().is_empty());

    // Nobody listening: port 1 of loopback (tcpmux), which no test server
    // binds (they take ports the system picks), refuses the connection.
    let report = summarized(&env, "http://127.0.0.1:1/v1", &parameter, 2_000).await;
    assert_eq!(report.summary_source, SummarySource::Deterministic);
}

/// A HELD job in the index without its hold (the index still lists it): the
/// sweep names it as a failed item and settles the real stragglers, rather
/// than failing the whole run before its audit every six hours.
#[tokio::test]
async fn a_held_job_without_its_hold_is_reported_and_the_others_expire() {
    let env = Env::new("no-hold").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    let held = Job {
        cell: 0,
        job_id: "j0".into(),
        account_id: "a1".into(),
        status: JobStatus::Held,
        requested: Some(5),
        hold: Some(5),
        debited: None,
        reason: None,
        entries: vec![],
    };
    let mut no_hold = to_item(&JobItem::new(&held, "seed", 1_000));
    no_hold.remove("hold");
    env.put(no_hold).await;
    let sweep = env.sweep(StragglerAction::Expire);

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(
        (report.stragglers, report.expired, report.failed_items),
        (3, 2, 1)
    );
    assert!(
        report.errors[0].contains("j0") && report.errors[0].contains("hold"),
        "{:?}",
        report.errors
    );
    assert!(report.complete, "the audit and conflicts phases ran too");
    assert_eq!(report.audited_accounts, 1);
    assert_eq!(env.job("j1").await.status, JobStatus::Expired);
    assert_eq!(env.job("j2").await.status, JobStatus::Expired);
}

#[tokio::test]
async fn an_item_that_cannot_be_swept_fails_the_invocation_after_the_others() {
    let env = Env::new("item-failure").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    // A HELD-indexed job the ledger cannot read (an unknown status), older than
    // the real stragglers so the sweep meets it first.
    let held = Job {
        cell: 0,
        job_id: "j0".into(),
        account_id: "a1".into(),
        status: JobStatus::Held,
        requested: Some(5),
        hold: Some(5),
        debited: None,
        reason: None,
        entries: vec![],
    };
    let mut bogus = to_item(&JobItem::new(&held, "seed", 1_000));
    bogus.insert("status".into(), AttributeValue::S("PAUSED".into()));
    env.put(bogus).await;
    let sweep = env.sweep(StragglerAction::Expire);

    let error = sweep
        .handle("{}", far_deadline(), "run-failing")
        .await
        .expect_err("a failed item fails the invocation");
    assert_eq!(error.error_type(), "SweepItemsFailed");
    assert!(error.has_report());
    let message = error.to_string();
    assert!(
        message.contains("1 item(s)") && message.contains("j0"),
        "{message}"
    );
    // The other stragglers were expired all the same.
    assert_eq!(env.job("j1").await.status, JobStatus::Expired);
    assert_eq!(env.job("j2").await.status, JobStatus::Expired);
    assert_eq!(env.balances("a1").await, (90, 10));

    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!(
        (report.stragglers, report.expired, report.failed_items),
        (1, 0, 1)
    );
    assert_eq!(report.straggler_jobs[0].outcome, StragglerOutcome::Failed);
    assert!(report.errors[0].contains("PAUSED"), "{:?}", report.errors);
    assert!(
        report
            .summary
            .ends_with("1 item could not be swept (see errors)."),
        "{}",
        report.summary
    );

    // Refused input is a different error, before any work.
    let refused = sweep
        .handle(r#"{"dry_run": 1}"#, far_deadline(), "r")
        .await
        .unwrap_err();
    assert_eq!(refused.error_type(), "InvalidInput");
    assert!(!refused.has_report());
}

/// An item as item format 1 wrote it: `v` 1, its index entry under the
/// kind's one unsharded key.
async fn to_format_1(env: &Env, key: Item, legacy_kind: &str) {
    let mut item = env.get(key).await.expect("the item exists");
    item.insert("v".into(), AttributeValue::N("1".into()));
    item.insert("open_kind".into(), AttributeValue::S(legacy_kind.into()));
    env.put(item).await;
}

/// How many index entries the unsharded key of item format 1 still holds.
async fn left_under(env: &Env, legacy_kind: &str) -> i32 {
    env.client
        .query()
        .table_name(&env.table)
        .index_name(reconciler_core::contract::table::OPEN_INDEX)
        .key_condition_expression("open_kind = :k")
        .expression_attribute_values(":k", AttributeValue::S(legacy_kind.into()))
        .send()
        .await
        .unwrap()
        .count()
}

/// A table written by item format 1 migrates by use: a straggler and a
/// fresh hold of format 1 (under `HELD`) and their account (under `AUDIT`).
/// The handler settles the fresh hold on its format-1 items; the sweep finds
/// the old straggler under `HELD` and the other under its shard, and audits
/// the account clean. Nothing is left under the unsharded keys.
#[tokio::test]
async fn a_table_of_item_format_1_is_swept_and_migrates_by_use() {
    let env = Env::new("format-1").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    to_format_1(&env, job_key("j1"), "HELD").await;
    to_format_1(&env, job_key("j3"), "HELD").await;
    to_format_1(&env, account_key("a1"), "AUDIT").await;
    assert_eq!(
        (
            left_under(&env, "HELD").await,
            left_under(&env, "AUDIT").await
        ),
        (2, 1)
    );

    assert_eq!(
        apply(&env.ledger(), rendered("j3", "a1", 10)).await,
        Outcome::Debited
    );
    let account = env.account("a1").await;
    assert_eq!(
        (account.v, account.open_kind.as_deref()),
        (3, Some("AUDIT#15"))
    );
    let report = sweep_once(&env.sweep(StragglerAction::Expire), SweepInput::default()).await;

    assert_eq!((report.stragglers, report.expired), (2, 2));
    assert_eq!((report.audited_accounts, report.drifted_accounts), (1, 0));
    assert_eq!(env.job("j1").await.status, JobStatus::Expired);
    assert_eq!(env.job("j2").await.status, JobStatus::Expired);
    assert_eq!(env.balances("a1").await, (90, 0));
    assert_eq!(
        (
            left_under(&env, "HELD").await,
            left_under(&env, "AUDIT").await
        ),
        (0, 0)
    );
}

/// 24 stragglers of three accounts, swept with sixteen lanes: the three
/// accounts' first expiries are all sent before any is written (the sweep
/// works on accounts at once), and each account's expiries follow one
/// another — a job's requests are never interleaved with another job's of
/// its account (two would contend for the account item). Every hold
/// expires and each account's audit is clean.
#[tokio::test]
async fn a_sweep_works_on_accounts_at_once_but_on_one_account_at_a_time() {
    let env = Env::new("lanes").await;
    let old = env.ledger_at(seven_hours_ago);
    for a in ["a1", "a2", "a3"] {
        assert_eq!(
            apply(&old, grant(&format!("g-{a}"), a, 100)).await,
            Outcome::Granted
        );
        for n in 0..8 {
            assert_eq!(
                apply(&old, req(&format!("{a}-j{n}"), a, 5)).await,
                Outcome::Held
            );
        }
    }
    env.capture.take();
    let sweep =
        Sweep::new(env.ledger(), &env.config(StragglerAction::Expire), None).with_tuning(Tuning {
            lanes: 16,
            ..Tuning::default()
        });

    let report = sweep_once(&sweep, SweepInput::default()).await;

    assert_eq!((report.stragglers, report.expired), (24, 24));
    assert_eq!((report.audited_accounts, report.drifted_accounts), (3, 0));
    for a in ["a1", "a2", "a3"] {
        assert_eq!(env.balances(a).await, (100, 0), "{a}");
    }
    // (operation, job) of each expiry request, in the order sent.
    let job = job_named_in();
    let expiries: Vec<(String, String)> = env
        .capture
        .take()
        .into_iter()
        .filter(|e| e.operation.starts_with("Transact"))
        .filter_map(|e| Some((e.operation, job(&e.body)?)))
        .collect();
    let first_write = expiries
        .iter()
        .position(|(op, _)| op == "TransactWriteItems")
        .unwrap();
    let mut early: Vec<&str> = expiries[..first_write]
        .iter()
        .map(|(_, j)| &j[..2])
        .collect();
    early.sort_unstable();
    early.dedup();
    assert_eq!(early, ["a1", "a2", "a3"], "{expiries:?}");
    for a in ["a1", "a2", "a3"] {
        let mut jobs: Vec<&str> = expiries
            .iter()
            .filter(|(_, j)| j.starts_with(a))
            .map(|(_, j)| j.as_str())
            .collect();
        jobs.dedup();
        assert_eq!(jobs.len(), 8, "{a}: one run of requests per job: {jobs:?}");
    }
}

/// The first job id (`a1-j0`…) a request body names.
fn job_named_in() -> impl Fn(&str) -> Option<String> {
    |body: &str| {
        let at = body.find("JOB#")? + 4;
        let id: String = body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (!id.is_empty()).then_some(id)
    }
}

/// DynamoDB refuses the first reads of the index (`AccessDenied`: no retry
/// passes): the sweep fails as `LedgerUnavailable`, having started no
/// other read once one failed and left none running, so the faults are
/// used up exactly; the next sweep runs.
#[tokio::test]
async fn a_failed_index_read_fails_the_sweep_and_leaves_no_read_behind() {
    let proxy =
        testkit::emulator::proxy::FaultProxy::start(testkit::emulator::moto::shared_endpoint())
            .await;
    let env = Env::at(&proxy.endpoint, "index-fails").await;
    two_stragglers_and_a_fresh_hold(&env).await;
    let failing = reconciler::store::open::OPEN_READ_CONCURRENCY;
    proxy.inject(
        "Query",
        &vec![testkit::emulator::proxy::Fault::AccessDenied; failing],
    );
    let sweep = env.sweep(StragglerAction::Expire);

    let failed = sweep
        .run(&SweepInput::default(), far_deadline(), "run-1")
        .await
        .unwrap_err();

    assert_eq!(failed.error_type(), "LedgerUnavailable", "{failed}");
    assert_eq!(proxy.pending(), 0, "every read ran once, none more");
    let report = sweep_once(&sweep, SweepInput::default()).await;
    assert_eq!((report.stragglers, report.expired), (2, 2));
}
