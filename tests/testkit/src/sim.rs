//! The simulator, in the spirit of TigerBeetle's: from a seed, a random
//! history of business events (grants, adjustments, jobs with exactly one
//! terminal event, redeliveries, conflicting payloads) is delivered in a
//! random order by several concurrent handler instances and sweeps, through
//! the proxy with DynamoDB's real semantics (transaction conflicts, request
//! tokens, limits) and a random schedule of throttling and lost responses.
//! Afterwards:
//!
//! - every invariant holds on the table (the core's audit of every account,
//!   `held` against its HELD jobs, every job's shape), and the straggler
//!   query, read across every shard of the index with no cutoff, finds
//!   exactly the HELD jobs;
//! - every event was applied exactly once or failed loudly (a failed
//!   invocation is redelivered, as Lambda would, under a new event id;
//!   some invocations crash, before or after their write, whatever the
//!   ledger did);
//! - every response told the truth about what its invocation did: an
//!   applied outcome ⇔ an entry or a job transition carrying its event id,
//!   the outcome word the entry's kind (or the job's write), the balances
//!   those of the version it wrote — or, for `duplicate` and `conflict`,
//!   of a version the account had — and the job's status one it had then;
//! - the final balances are the oracle's (`reconciler_core::oracle`, contract §3
//!   written again), which the history makes independent of the order
//!   (with holds left open, what each account owns is).
//!
//! Seeds vary the conditions ([`Size::ci`]): the SDK's own retries on (they
//! absorb most injected throttles and lost answers) or off (the adapter's
//! resends, `Superseded` and read retries meet them all), and every job
//! settled, or a third of them left HELD (sweeps that do not expire them),
//! so that invariant 2 is checked with holds open.
//!
//! A failing seed is printed; `cargo xtask simulate --seed S` runs that
//! history and fault schedule again (thread timing may differ; the history,
//! the instances' shares and the fault draws do not).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodb::Client;
use reconciler::config::{StragglerAction, SweepConfig};
use reconciler::store::items::{AccountItem, EntryItem, JobItem, from_item};
use reconciler::store::keys;
use reconciler::store::{Applied, Ledger, now_ms};
use reconciler::sweep::{Sweep, SweepInput, Tuning};
use reconciler_core::audit::{Balances, audit};
use reconciler_core::cells::total;
use reconciler_core::event::Event;
use reconciler_core::ledger::EntryKind;
use reconciler_core::ledger::{Account, Entry, Job, JobStatus};
use reconciler_core::oracle::{Money, Oracle, Row};

use crate::emulator::proxy::{Chaos, Counts, Proxy, Semantics};

/// Seeds `cargo xtask test` runs (`cargo xtask simulate` runs more).
pub const CI_SEEDS: u32 = 3;

/// How big a simulated history is, and under which conditions it runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub accounts: usize,
    pub jobs: usize,
    pub instances: usize,
    pub sweeps: usize,
    /// Whether the SDK retries throttled and failed requests itself (off:
    /// every injected fault reaches the adapter's own loops).
    pub sdk_retries: bool,
    /// Whether a third of the jobs are left without a terminal event, and
    /// the sweeps leave their holds alone.
    pub holds_open: bool,
}

impl Size {
    /// What CI runs per seed (a few hundred events, seconds).
    pub const CI: Size = Size {
        accounts: 4,
        jobs: 60,
        instances: 4,
        sweeps: 2,
        sdk_retries: true,
        holds_open: false,
    };

    /// What CI runs once: thousands of events (a minute).
    pub const THOUSANDS: Size = Size {
        accounts: 8,
        jobs: 750,
        instances: 8,
        sweeps: 3,
        sdk_retries: true,
        holds_open: false,
    };

    /// CI's seed `seed`: [`Size::CI`], with the SDK's retries off for every
    /// third seed from 2, and holds left open for every third from 3, so
    /// that `CI_SEEDS` seeds cover all three.
    pub fn ci(seed: u64) -> Size {
        Size {
            sdk_retries: seed % 3 != 2,
            holds_open: seed.is_multiple_of(3),
            ..Size::CI
        }
    }

    /// The command that runs `seed` at this size again, exactly: a failing
    /// seed prints it (the history depends on the size as well as the seed).
    pub fn replay_command(&self, seed: u64) -> String {
        format!(
            "cargo xtask simulate --seed {seed} --seeds 1 --accounts {} --jobs {} \
             --instances {} --sweeps {}{}{}",
            self.accounts,
            self.jobs,
            self.instances,
            self.sweeps,
            if self.sdk_retries {
                ""
            } else {
                " --no-sdk-retries"
            },
            if self.holds_open { " --holds-open" } else { "" },
        )
    }
}

/// What one seed did.
#[derive(Clone, Debug)]
pub struct SimReport {
    pub seed: u64,
    /// Deliveries (first attempts and redeliveries of the history).
    pub events: usize,
    /// Invocations, failed ones included.
    pub invocations: usize,
    /// Invocations that failed loudly (and were redelivered), crashed ones
    /// included.
    pub failed_loudly: usize,
    /// Invocations that crashed, before or after their write.
    pub crashed: usize,
    /// Jobs still HELD at the end.
    pub open_holds: usize,
    pub outcomes: BTreeMap<String, u64>,
    /// Sweeps that ran to the end.
    pub sweeps: usize,
    /// Sweeps that failed, each with why (the next one went on).
    pub sweep_failures: Vec<String>,
    pub expired: u64,
    /// What the proxy did to the requests.
    pub faults: Counts,
    pub duration: Duration,
}

/// Runs one seed against the emulator at `endpoint`.
///
/// # Errors
/// What the run broke, seed first.
pub async fn run(endpoint: &str, seed: u64, size: Size) -> anyhow::Result<SimReport> {
    use anyhow::Context;
    run_seed(endpoint, seed, size)
        .await
        .with_context(|| format!("replay it with `{}`", size.replay_command(seed)))
}

async fn run_seed(endpoint: &str, seed: u64, size: Size) -> anyhow::Result<SimReport> {
    let started = Instant::now();
    let direct = Client::new(&crate::emulator::sdk_config(endpoint).await);
    let table = format!("sim-{seed}-{:06x}", fastrand::u32(..));
    reconciler::store::schema::create_table(&direct, &table)
        .await
        .map_err(anyhow::Error::msg)?;
    let proxy = Proxy::start(endpoint)
        .await
        .with_semantics(Semantics {
            conflicts: true,
            conflict_window: Duration::from_millis(3),
            tokens: true,
            limits: true,
            latency: Duration::from_millis(1),
            staggered: false,
        })
        .with_chaos(Chaos {
            seed,
            throttle: 0.02,
            lose_response: 0.02,
            lose_write_response: 0.05,
            empty_receive: 0.0,
        });
    let proxied = {
        let sdk = crate::emulator::sdk_config(&proxy.endpoint).await;
        let mut conf = aws_sdk_dynamodb::config::Builder::from(&sdk);
        if !size.sdk_retries {
            conf = conf.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled());
        }
        Client::from_conf(conf.build())
    };
    let history = History::new(seed, size);
    let log: Arc<Mutex<Vec<Invocation>>> = Arc::default();
    // Two accounts are split before anything happens to them, so that
    // holds gather credits between cells, debits past zero mark every cell
    // owing and holds clear the marks, all under the same faults; two more
    // splits come while the instances run, on accounts they have cached.
    let direct_ledger = Ledger::new(direct.clone(), table.clone());
    for (account, before, _) in SPLIT.iter().filter(|s| s.1 > 1) {
        direct_ledger
            .split_account(account, *before)
            .await
            .with_context(|| format!("split {account}"))?;
    }

    // Phase 1: the history, shuffled, shared among concurrent instances,
    // with sweeps expiring every hold meanwhile.
    let tasks = instances(&history, seed, size, &proxied, &table, &log);
    let splitter = tokio::spawn(split_meanwhile(Ledger::new(proxied.clone(), table.clone())));
    let sweep_config = SweepConfig {
        stage: "sim".into(),
        table: table.clone(),
        hold_timeout_seconds: 1,
        straggler_action: StragglerAction::Expire,
        summarizer: None,
    };
    let mut expired = 0;
    let mut sweeps = 0;
    // What each sweep said it expired, checked against what it wrote.
    let mut sweep_expired = Vec::new();
    // Sweeps that failed (loudly, as the Lambda would): said in the report.
    let mut sweep_failures = Vec::new();
    // The sweeps' audits run while money moves: a drift they report is a
    // false alarm (or a real break the final check also finds).
    let mut reported_drift = Vec::new();
    for round in 0..size.sweeps {
        tokio::time::sleep(Duration::from_millis(150 + 100 * round as u64)).await;
        let sweep = Sweep::new(
            Ledger::new(proxied.clone(), table.clone()),
            &sweep_config,
            None,
        )
        .with_tuning(Tuning {
            conflict_settle: Duration::ZERO,
            ..Tuning::default()
        });
        // Every hold is a straggler, unless holds are to stay open.
        let input = SweepInput {
            older_than_seconds: Some(if size.holds_open { 3600 } else { 0 }),
            ..SweepInput::default()
        };
        // The sweep resends its reads and guarded writes while DynamoDB
        // answers "not now" or loses the answer (`RetryPolicy::resend`), so
        // even with the SDK's retries off no injected fault fails a sweep:
        // a failure is a problem of the seed.
        let run_id = format!("sweep-{round}");
        match sweep.run(&input, now_ms() + 60_000, &run_id).await {
            Ok(report) => {
                expired += report.expired;
                sweeps += 1;
                sweep_expired.push((run_id, report.expired));
                reported_drift.extend(report.drift.iter().map(|d| format!("{d:?}")));
            }
            Err(e) => sweep_failures.push(format!("{run_id}: {e}")),
        }
    }
    let mut redeliver = Vec::new();
    for task in tasks {
        redeliver.extend(task.await.context("an instance panicked")?);
    }
    splitter.await.context("the splitter panicked")??;
    // Lambda redelivers what failed: a fresh instance, new event ids.
    let retry = Ledger::new(proxied.clone(), table.clone());
    for attempt in 0..6 {
        let mut still = Vec::new();
        for (n, event) in redeliver.into_iter().enumerate() {
            if !deliver(&retry, &event, &format!("retry{attempt}-e{n}"), &log, None).await {
                still.push(event);
            }
        }
        redeliver = still;
        if redeliver.is_empty() {
            break;
        }
    }
    anyhow::ensure!(
        redeliver.is_empty(),
        "seed {seed}: {} event(s) never applied after six redeliveries: {:?}",
        redeliver.len(),
        redeliver.first()
    );

    // Phase 2: conflicting payloads, once everything is applied: each must
    // be a conflict and change nothing.
    let conflicting = Ledger::new(proxied.clone(), table.clone());
    for (n, event) in history.conflicts.iter().enumerate() {
        let id = format!("conflict-e{n}");
        let mut tries = 0;
        while !deliver(&conflicting, event, &format!("{id}-{tries}"), &log, None).await {
            tries += 1;
            anyhow::ensure!(tries < 6, "seed {seed}: {event:?} kept failing");
        }
    }

    let invocations = log.lock().map(|l| l.clone()).unwrap_or_default();
    let (mut problems, open_holds) = check(
        &direct,
        &table,
        &history,
        &invocations,
        &sweep_expired,
        size,
    )
    .await?;
    problems.extend(
        reported_drift
            .into_iter()
            .map(|d| format!("a sweep reported drift while money moved: {d}")),
    );
    problems.extend(
        sweep_failures
            .iter()
            .map(|f| format!("a sweep failed: {f}")),
    );
    anyhow::ensure!(
        problems.is_empty(),
        "seed {seed} broke the ledger:\n  {}",
        problems.join("\n  ")
    );
    let mut outcomes = BTreeMap::new();
    for i in &invocations {
        *outcomes.entry(i.outcome.clone()).or_default() += 1;
    }
    Ok(SimReport {
        seed,
        events: history.deliveries.len() + history.conflicts.len(),
        failed_loudly: invocations.iter().filter(|i| i.failed()).count(),
        crashed: invocations.iter().filter(|i| i.outcome == CRASHED).count(),
        open_holds,
        invocations: invocations.len(),
        outcomes,
        sweeps,
        sweep_failures,
        expired,
        faults: proxy.counts(),
        duration: started.elapsed(),
    })
}

/// One invocation of the handler and what it answered.
#[derive(Clone, Debug)]
struct Invocation {
    event_id: String,
    event: Event,
    /// The contract §4 outcome, or the error type of a failed invocation.
    outcome: String,
    /// What it answered, when it answered.
    response: Option<Applied>,
}

/// The error type of an invocation that crashed (the function timed out or
/// died, before or after its write): Lambda redelivers it.
const CRASHED: &str = "Lambda.Crashed";

/// Where an invocation crashes.
#[derive(Clone, Copy, Debug)]
enum Crash {
    /// Before it reaches the ledger: nothing written.
    Before,
    /// After the ledger answered: written, but the answer is lost.
    After,
}

impl Invocation {
    fn failed(&self) -> bool {
        self.outcome.starts_with("Ledger") || self.outcome == CRASHED
    }

    fn applied(&self) -> bool {
        matches!(
            self.outcome.as_str(),
            "granted" | "held" | "rejected" | "debited" | "refunded" | "adjusted"
        )
    }
}

/// Invokes `ledger` with `event`, crashing where told; records the answer;
/// false on an error or a crash.
async fn deliver(
    ledger: &Ledger,
    event: &Event,
    event_id: &str,
    log: &Mutex<Vec<Invocation>>,
    crash: Option<Crash>,
) -> bool {
    let result = match crash {
        Some(Crash::Before) => None,
        _ => Some(ledger.apply(event, event_id).await),
    };
    let (outcome, response) = match (&result, crash) {
        (_, Some(_)) => (CRASHED.to_owned(), None),
        (Some(Ok(applied)), None) => (applied.outcome.as_str().to_owned(), Some(applied.clone())),
        (Some(Err(e)), None) => (e.error_type().to_owned(), None),
        (None, None) => unreachable!("no result only for a crash before"),
    };
    let ok = response.is_some();
    if let Ok(mut log) = log.lock() {
        log.push(Invocation {
            event_id: event_id.to_owned(),
            event: event.clone(),
            outcome,
            response,
        });
    }
    ok
}

/// A random history whose final balances do not depend on the order its
/// events arrive in (contract §3 invariant 5): unique grant and adjustment ids,
/// every job with exactly one terminal event kind; redeliveries of the same
/// payload anywhere; conflicting payloads apart, after it.
#[derive(Clone, Debug)]
struct History {
    /// In the order the oracle applies them.
    events: Vec<Event>,
    /// What is delivered: every event, and redeliveries.
    deliveries: Vec<Event>,
    /// Conflicting payloads, delivered once the history is applied.
    conflicts: Vec<Event>,
}

impl History {
    fn new(seed: u64, size: Size) -> History {
        let mut rng = fastrand::Rng::with_seed(seed);
        let account = |rng: &mut fastrand::Rng| format!("a{}", rng.usize(..size.accounts));
        let mut events = Vec::new();
        let mut conflicts = Vec::new();
        for a in 0..size.accounts {
            for g in 0..rng.usize(1..4) {
                events.push(Event::Granted {
                    grant_id: format!("g{a}-{g}"),
                    account_id: format!("a{a}"),
                    credits: rng.i64(0..800),
                });
            }
            if rng.bool() {
                events.push(Event::Adjusted {
                    adjustment_id: format!("adj{a}"),
                    account_id: format!("a{a}"),
                    credits: rng.i64(1..50) * if rng.bool() { 1 } else { -1 },
                    reason: "simulated correction".into(),
                });
            }
        }
        for j in 0..size.jobs {
            let account_id = account(&mut rng);
            let job_id = format!("j{j}");
            events.push(Event::Requested {
                job_id: job_id.clone(),
                account_id: account_id.clone(),
                credits: rng.i64(0..60),
            });
            if size.holds_open && rng.u8(..3) == 0 {
                // No terminal event: HELD (or REJECTED) to the end.
                continue;
            }
            if rng.u8(..3) == 0 {
                events.push(Event::Failed {
                    job_id,
                    account_id,
                    reason: Some("simulated failure".into()),
                });
            } else {
                let credits = rng.i64(0..80);
                events.push(Event::Rendered {
                    job_id: job_id.clone(),
                    account_id: account_id.clone(),
                    credits,
                });
                if rng.u8(..4) == 0 {
                    conflicts.push(Event::Rendered {
                        job_id: job_id.clone(),
                        account_id: account_id.clone(),
                        credits: credits + 1,
                    });
                    conflicts.push(Event::Failed {
                        job_id,
                        account_id,
                        reason: None,
                    });
                }
            }
        }
        for e in &events {
            match e {
                Event::Granted {
                    grant_id,
                    account_id,
                    credits,
                } if rng.u8(..4) == 0 => conflicts.push(Event::Granted {
                    grant_id: grant_id.clone(),
                    account_id: account_id.clone(),
                    credits: credits + 1,
                }),
                Event::Adjusted {
                    adjustment_id,
                    account_id,
                    credits,
                    ..
                } => conflicts.push(Event::Adjusted {
                    adjustment_id: adjustment_id.clone(),
                    account_id: account_id.clone(),
                    credits: *credits,
                    reason: "another reason".into(),
                }),
                _ => {}
            }
        }
        let mut deliveries = events.clone();
        for e in &events {
            if rng.u8(..4) == 0 {
                deliveries.push(e.clone());
            }
        }
        History {
            events,
            deliveries,
            conflicts,
        }
    }
}

/// Phase 1's instances: the history shuffled and shared among
/// `size.instances` concurrent handlers, each delivering its share (some
/// invocations crash, drawn from the seed); each returns what failed.
fn instances(
    history: &History,
    seed: u64,
    size: Size,
    proxied: &Client,
    table: &str,
    log: &Arc<Mutex<Vec<Invocation>>>,
) -> Vec<tokio::task::JoinHandle<Vec<Event>>> {
    let mut rng = fastrand::Rng::with_seed(seed ^ 0x5eed);
    let mut deliveries = history.deliveries.clone();
    rng.shuffle(&mut deliveries);
    let mut shares: Vec<Vec<Event>> = vec![Vec::new(); size.instances];
    for event in deliveries.iter() {
        shares[rng.usize(..size.instances)].push(event.clone());
    }
    // Each instance sees its credits first, so that holds are taken (and
    // expired, and captured late) rather than mostly rejected; the order of
    // everything else stays random.
    for share in &mut shares {
        share.sort_by_key(|e| !matches!(e, Event::Granted { .. } | Event::Adjusted { .. }));
    }
    let mut tasks = Vec::new();
    for (instance, share) in shares.into_iter().enumerate() {
        let ledger = Ledger::new(proxied.clone(), table.to_owned());
        let log = log.clone();
        // Which invocations crash: drawn from the seed, per instance.
        let mut crashes = fastrand::Rng::with_seed(seed ^ (instance as u64 + 1) << 32);
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for (n, event) in share.into_iter().enumerate() {
                let id = format!("i{instance}-e{n}");
                let crash = match crashes.u8(..100) {
                    0..2 => Some(Crash::Before),
                    2..4 => Some(Crash::After),
                    _ => None,
                };
                if !deliver(&ledger, &event, &id, &log, crash).await {
                    failed.push(event);
                }
            }
            failed
        }));
    }
    tasks
}

/// The accounts the simulator splits: into how many cells before its
/// history, and into how many while its instances run.
const SPLIT: &[(&str, u32, u32)] = &[("a0", 4, 4), ("a1", 2, 3), ("a2", 1, 3)];

/// The splits made while the instances run, as an operator makes them: a
/// split whose account moved between its read and its write is cancelled,
/// and run again.
async fn split_meanwhile(ledger: Ledger) -> anyhow::Result<()> {
    for (n, (account, before, during)) in SPLIT.iter().enumerate() {
        if during <= before {
            continue;
        }
        tokio::time::sleep(Duration::from_millis(40 * (n as u64 + 1))).await;
        let mut tries = 0;
        while let Err(e) = ledger.split_account(account, *during).await {
            tries += 1;
            anyhow::ensure!(tries < 100, "split {account} into {during}: {e}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

/// The simulated table, read whole and parsed.
struct Table {
    accounts: Vec<Account>,
    jobs: Vec<(Job, JobItem)>,
    /// By account, then seq.
    entries: Vec<Entry>,
}

impl Table {
    /// Scans the table (a test may scan; the functions may not); items it
    /// cannot parse are problems.
    async fn read(
        client: &Client,
        table: &str,
        problems: &mut Vec<String>,
    ) -> anyhow::Result<Table> {
        let items: Vec<reconciler::store::keys::Item> = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .context("scan the simulated table")?;
        let mut t = Table {
            accounts: Vec::new(),
            jobs: Vec::new(),
            entries: Vec::new(),
        };
        for item in items {
            let sk = item
                .get(reconciler_core::contract::table::SORT_KEY)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default();
            let parsed = if sk == keys::ACCOUNT_SK {
                from_item::<AccountItem>(item, "account")
                    .and_then(|a| a.account())
                    .map(|a| t.accounts.push(a))
            } else if sk == keys::JOB_SK {
                from_item::<JobItem>(item, "job").and_then(|j| {
                    let job = j.job()?;
                    t.jobs.push((job, j));
                    Ok(())
                })
            } else if keys::is_entry_sk(&sk) {
                from_item::<EntryItem>(item, "entry")
                    .and_then(|e| e.entry())
                    .map(|e| t.entries.push(e))
            } else {
                Ok(())
            };
            if let Err(malformed) = parsed {
                problems.push(malformed);
            }
        }
        t.entries
            .sort_by(|a, b| (&a.account_id, a.seq).cmp(&(&b.account_id, b.seq)));
        Ok(t)
    }

    /// The entries of one cell of an account (0: its home cell).
    fn entries_of<'a>(
        &'a self,
        account_id: &'a str,
        cell: u32,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        self.entries
            .iter()
            .filter(move |e| e.account_id == account_id && e.cell == cell)
    }

    /// The cells of an account.
    fn cells_of<'a>(&'a self, account_id: &'a str) -> impl Iterator<Item = &'a Account> + 'a {
        self.accounts
            .iter()
            .filter(move |a| a.account_id == account_id)
    }

    /// Every version of a cell of the account: its balances after entries
    /// `1..=seq`, indexed by `seq` (0: before any).
    fn versions(&self, account_id: &str, cell: u32) -> Vec<Balances> {
        let mut versions = vec![Balances::default()];
        for e in self.entries_of(account_id, cell) {
            let last = *versions.last().unwrap_or(&Balances::default());
            versions.push(last.plus(e));
        }
        versions
    }

    fn job(&self, job_id: &str) -> Option<&(Job, JobItem)> {
        self.jobs.iter().find(|(j, _)| j.job_id == job_id)
    }

    /// The statuses a job has been in: after each of its entries, as a
    /// rejection (estimated, never held), and now.
    fn statuses(&self, job_id: &str) -> Vec<JobStatus> {
        let Some((job, _)) = self.job(job_id) else {
            return Vec::new();
        };
        let mut seen = vec![job.status];
        if job.requested.is_some() && job.hold.is_none() {
            seen.push(JobStatus::Rejected);
        }
        let of_kind = |k: EntryKind| match k {
            EntryKind::Hold => Some(JobStatus::Held),
            EntryKind::Debit => Some(JobStatus::Debited),
            EntryKind::Refund => Some(JobStatus::Refunded),
            EntryKind::Expire => Some(JobStatus::Expired),
            EntryKind::Grant | EntryKind::Adjustment | EntryKind::Transfer => None,
        };
        seen.extend(
            self.entries
                .iter()
                .filter(|e| e.job_id() == Some(job_id))
                .filter_map(|e| of_kind(e.kind)),
        );
        seen
    }
}

/// Everything the run must have kept true, as problems (none: all is
/// well), and how many holds were open at the end.
async fn check(
    client: &Client,
    table: &str,
    history: &History,
    invocations: &[Invocation],
    sweep_expired: &[(String, u64)],
    size: Size,
) -> anyhow::Result<(Vec<String>, usize)> {
    let mut problems = Vec::new();
    let t = Table::read(client, table, &mut problems).await?;
    invariants(&t, &mut problems);
    held_in_the_index(client, table, &t, &mut problems).await?;
    writes(&t, invocations, sweep_expired, &mut problems);
    for i in invocations {
        if let Some(response) = &i.response
            && let Err(lie) = response_truth(&t, i, response)
        {
            problems.push(format!(
                "{} answered {} for {:?}: {lie}",
                i.event_id, i.outcome, i.event
            ));
        }
    }
    oracle(&t, history, size, &mut problems);
    let open = t
        .jobs
        .iter()
        .filter(|(j, _)| j.status == JobStatus::Held)
        .count();
    Ok((problems, open))
}

/// The straggler query's guarantee: the sweep's own read of the index
/// (every `HELD` shard and the unsharded key, no cutoff) finds every HELD
/// job of the table and nothing else.
async fn held_in_the_index(
    client: &Client,
    table: &str,
    t: &Table,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let ledger = reconciler::store::Ledger::new(client.clone(), table);
    let mut reader = ledger.open_reader(reconciler::store::open::Open::HeldBefore(i64::MAX), None);
    let mut found = BTreeSet::new();
    while let Some(item) = reader.next(&ledger).await.context("read the index")? {
        match reconciler::store::sweep::open_hold(item) {
            Ok(hold) => {
                found.insert(hold.job_id);
            }
            Err(malformed) => problems.push(malformed),
        }
    }
    let held: BTreeSet<String> = t
        .jobs
        .iter()
        .filter(|(j, _)| j.status == JobStatus::Held)
        .map(|(j, _)| j.job_id.clone())
        .collect();
    for missing in held.difference(&found) {
        problems.push(format!(
            "{missing} is HELD but the straggler query does not find it"
        ));
    }
    for extra in found.difference(&held) {
        problems.push(format!("{extra} is in the index as HELD but is not"));
    }
    Ok(())
}

/// Invariants 1–3 on every account, `held` against its HELD jobs
/// (invariant 2), and every business key applied once.
fn invariants(t: &Table, problems: &mut Vec<String>) {
    for account in &t.accounts {
        let (id, cell) = (&account.account_id, account.cell);
        let own: Vec<Entry> = t.entries_of(id, cell).cloned().collect();
        if let Some(drift) = audit(account, Balances::default(), &own) {
            problems.push(format!("{}: {}", account.name(), drift.problems.join("; ")));
        }
        let holds: i64 = t
            .jobs
            .iter()
            .filter(|(j, _)| &j.account_id == id && j.cell == cell && j.status == JobStatus::Held)
            .map(|(j, _)| j.hold.unwrap_or(0))
            .sum();
        if holds != account.held {
            problems.push(format!(
                "{}: held {} but its HELD jobs hold {holds}",
                account.name(),
                account.held
            ));
        }
    }
    cells(t, problems);
    // Every business key applied once per account (a transfer is no
    // event's effect: its key names the hold it was made for).
    let mut keys = BTreeSet::new();
    for e in t.entries.iter().filter(|e| e.kind != EntryKind::Transfer) {
        if !keys.insert((e.account_id.clone(), e.key.clone())) {
            problems.push(format!("{} applied twice on {}", e.key, e.account_id));
        }
    }
}

/// What cells keep true: each split account has the cells it was split
/// into, its transfers between them sum to zero, and a cell is below zero
/// only while every cell is marked owing.
fn cells(t: &Table, problems: &mut Vec<String>) {
    for (account_id, _, cells) in SPLIT {
        let all: Vec<&Account> = t.cells_of(account_id).collect();
        let counted = all
            .iter()
            .find(|c| c.cell == 0)
            .map_or(1, |h| h.cell_count());
        if counted != *cells {
            problems.push(format!(
                "{account_id}: {counted} cells, not the {cells} it was split into"
            ));
        }
        let moved: i64 = all.iter().map(|c| c.transferred).sum();
        if moved != 0 {
            problems.push(format!("{account_id}: its cells' transfers sum to {moved}"));
        }
        let below = all.iter().any(|c| c.available < 0);
        let marked = all.len() == *cells as usize && all.iter().all(|c| c.owing);
        if below && !marked {
            problems.push(format!(
                "{account_id}: a cell is below zero while not every cell is marked owing"
            ));
        }
    }
}

/// What was written against who says they wrote it: an applied outcome ⇔
/// an entry or a job transition carrying the invocation's event id; every
/// entry by an invocation of the run; every sweep's expiries as reported;
/// every conflicting payload a conflict.
fn writes(
    t: &Table,
    invocations: &[Invocation],
    sweep_expired: &[(String, u64)],
    problems: &mut Vec<String>,
) {
    let mut written: BTreeSet<&str> = t.entries.iter().map(|e| e.event_id.as_str()).collect();
    for (_, item) in &t.jobs {
        written.extend(item.request_event.as_deref());
        written.extend(item.settle_event.as_deref());
    }
    for i in invocations {
        let wrote = written.contains(i.event_id.as_str());
        if i.applied() && !wrote {
            problems.push(format!(
                "{} answered {} for {:?} but wrote nothing",
                i.event_id, i.outcome, i.event
            ));
        }
        if !i.applied() && !i.failed() && wrote {
            problems.push(format!(
                "{} answered {} for {:?} but wrote",
                i.event_id, i.outcome, i.event
            ));
        }
    }
    for e in t
        .entries
        .iter()
        .filter(|e| !e.event_id.starts_with("sweep-"))
    {
        if !invocations.iter().any(|i| i.event_id == e.event_id) {
            problems.push(format!(
                "entry {} of {} by an unknown invocation {}",
                e.seq, e.account_id, e.event_id
            ));
        }
    }
    for (run_id, expired) in sweep_expired {
        let wrote = t
            .entries
            .iter()
            .filter(|e| e.event_id == *run_id && e.kind == EntryKind::Expire)
            .count() as u64;
        if wrote != *expired {
            problems.push(format!(
                "{run_id} reported {expired} expired but wrote {wrote} expiry entries"
            ));
        }
    }
    // Nothing here is corrupt: an error that says so is a bug's.
    for i in invocations.iter().filter(|i| i.outcome == "LedgerError") {
        problems.push(format!(
            "{} failed as LedgerError for {:?}",
            i.event_id, i.event
        ));
    }
    if let Some(i) = invocations
        .iter()
        .find(|i| i.event_id.starts_with("conflict-") && i.outcome != "conflict" && !i.failed())
    {
        problems.push(format!("{:?} was {}, not a conflict", i.event, i.outcome));
    }
}

/// Whether `response`, what invocation `i` answered, tells the truth: the
/// balances are those of a version the account had; an outcome that moved
/// money is the kind of the entry it wrote, at that entry's version; a
/// rejection and a tombstone are the job items they wrote; the job's
/// status is the one that write left, or — for `duplicate` and `conflict`
/// — one the job has been in.
///
/// A split account answers the sums over its cells read together after the
/// write: no one version of one item, so they are held to what any moment
/// of the account keeps (conservation, transfers netting to zero), and the
/// entry to its own cell.
fn response_truth(t: &Table, i: &Invocation, response: &Applied) -> Result<(), String> {
    let account = &response.account;
    let split = account.cell_count() > 1;
    balances_truth(t, account)?;
    let status = response.job.as_ref().map(|(_, s)| *s);
    let entry = t
        .entries
        .iter()
        .find(|e| e.event_id == i.event_id && e.kind != EntryKind::Transfer);
    let job_item = i
        .event
        .job_id()
        .and_then(|j| t.job(j))
        .map(|(_, item)| item);
    let (kind, wrote_status) = match i.outcome.as_str() {
        "granted" => (Some(EntryKind::Grant), None),
        "adjusted" => (Some(EntryKind::Adjustment), None),
        "held" => (Some(EntryKind::Hold), Some(JobStatus::Held)),
        "debited" => (Some(EntryKind::Debit), Some(JobStatus::Debited)),
        "refunded" if entry.is_some() => (Some(EntryKind::Refund), Some(JobStatus::Refunded)),
        "refunded" => {
            // A tombstone: the job written REFUNDED, never held.
            let tomb = job_item.is_some_and(|j| {
                j.settle_event.as_deref() == Some(i.event_id.as_str()) && j.hold.is_none()
            });
            return match (tomb, status) {
                (true, Some(JobStatus::Refunded)) => Ok(()),
                _ => Err(format!(
                    "no refund entry nor tombstone of it; job {status:?}"
                )),
            };
        }
        "rejected" => {
            let rejected = job_item.is_some_and(|j| {
                j.request_event.as_deref() == Some(i.event_id.as_str()) && j.hold.is_none()
            });
            return match (rejected && entry.is_none(), status) {
                (true, Some(JobStatus::Rejected)) => Ok(()),
                _ => Err(format!("its job was not written REJECTED; job {status:?}")),
            };
        }
        _ => {
            // duplicate, conflict: a status the job has been in.
            return match (status, i.event.job_id()) {
                (Some(s), Some(job_id)) if !t.statuses(job_id).contains(&s) => {
                    Err(format!("job {job_id} was never {s}"))
                }
                _ => Ok(()),
            };
        }
    };
    let Some(entry) = entry else {
        return Err("no entry carries its event id".into());
    };
    if Some(entry.kind) != kind {
        return Err(format!(
            "its entry {} is a {}",
            entry.seq,
            entry.kind.as_str()
        ));
    }
    if (!split && entry.seq != account.seq) || entry.account_id != account.account_id {
        return Err(format!(
            "its entry is {} of {}, its balances version {}",
            entry.seq, entry.account_id, account.seq
        ));
    }
    if status != wrote_status {
        return Err(format!(
            "job {status:?}, its write left it {wrote_status:?}"
        ));
    }
    Ok(())
}

/// Whether answered balances are those of a version the account had; a
/// split account's, read over its cells after the write, what any moment
/// of it keeps (conservation, transfers netting to zero).
fn balances_truth(t: &Table, account: &Account) -> Result<(), String> {
    let answered = Balances::of(account);
    if account.cell_count() > 1 {
        if account.transferred != 0 || account.check().is_err() {
            return Err(format!(
                "balances {answered:?} are no moment of the split account"
            ));
        }
        return Ok(());
    }
    let versions = t.versions(&account.account_id, 0);
    let at = versions.get(usize::try_from(account.seq).unwrap_or(usize::MAX));
    if at != Some(&answered) {
        return Err(format!(
            "balances {answered:?}, but version {} of the account was {at:?}",
            account.seq
        ));
    }
    Ok(())
}

/// The oracle's final balances and job rows, whatever the order. With
/// holds left open, which requests were held and which rejected depends on
/// the order, so only what each account owns is compared.
fn oracle(t: &Table, history: &History, size: Size, problems: &mut Vec<String>) {
    let mut oracle = Oracle::default();
    for event in &history.events {
        oracle.apply(event);
    }
    let settled: BTreeSet<&str> = history
        .events
        .iter()
        .filter(|e| matches!(e, Event::Rendered { .. } | Event::Failed { .. }))
        .filter_map(Event::job_id)
        .collect();
    // Every job's final row, up to what the order may change: a job that
    // was charged was charged the same amount; one the oracle holds is held
    // or expired (a sweep ran; the oracle has no clock), or rejected if it
    // never settles; one that ended without a charge (refunded, expired,
    // rejected: which one depends on the order its events came in) ended
    // without one.
    for (job_id, row) in &oracle.jobs {
        let stored = t.job(job_id).map(|(j, _)| (j.status, j.debited));
        let open = !settled.contains(job_id.as_str());
        let uncharged = |s: JobStatus| {
            matches!(
                s,
                JobStatus::Refunded | JobStatus::Expired | JobStatus::Rejected
            )
        };
        let agrees = match (row.row, stored) {
            (Row::Debited { amount }, Some((JobStatus::Debited, debited))) => {
                debited == Some(amount)
            }
            (Row::Held { .. }, Some((JobStatus::Held | JobStatus::Expired, _))) => true,
            (
                Row::Held { .. } | Row::Rejected,
                Some((JobStatus::Held | JobStatus::Rejected, _)),
            ) if open => true,
            (Row::Refunded | Row::Expired | Row::Rejected, Some((status, _))) => uncharged(status),
            _ => false,
        };
        if !agrees {
            problems.push(format!(
                "job {job_id}: stored {stored:?}, the oracle says {:?}",
                row.row
            ));
        }
    }
    for (id, money) in &oracle.accounts {
        let stored = Some(total(id, t.cells_of(id)))
            .filter(|_| t.cells_of(id).next().is_some())
            .map(|a| Money {
                available: a.available,
                held: a.held,
                granted: a.granted,
                debited: a.debited,
                adjusted: a.adjusted,
            })
            .unwrap_or_default();
        let owned = |m: &Money| (m.available + m.held, m.granted, m.debited, m.adjusted);
        let agrees = if size.holds_open {
            owned(&stored) == owned(money)
        } else {
            stored == *money
        };
        if !agrees {
            problems.push(format!(
                "{id}: stored {stored:?}, the oracle says {money:?}"
            ));
        }
    }
}

/// One line per seed.
pub fn describe(r: &SimReport) -> String {
    format!(
        "seed {}: {} events, {} invocations ({} failed loudly, {} of them crashed), {} sweeps \
         ({} failed{}) expired {}, {} holds open at the end; outcomes {:?}; faults {:?}; {:.1} s",
        r.seed,
        r.events,
        r.invocations,
        r.failed_loudly,
        r.crashed,
        r.sweeps,
        r.sweep_failures.len(),
        r.sweep_failures
            .first()
            .map(|f| format!(": {f}"))
            .unwrap_or_default(),
        r.expired,
        r.open_holds,
        r.outcomes,
        r.faults,
        r.duration.as_secs_f64()
    )
}
