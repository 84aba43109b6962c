//! The simulator, in the spirit of TigerBeetle's: from a seed, a random
//! history of business events (grants, adjustments, jobs with exactly one
//! terminal event, redeliveries, conflicting payloads) is delivered in a
//! random order by several concurrent handler instances and sweeps, through
//! the proxy with DynamoDB's real semantics (transaction conflicts, request
//! tokens, limits) and a random schedule of throttling and lost responses.
//! Afterwards:
//!
//! - every invariant holds on the table (the core's audit of every account,
//!   `held` against its HELD jobs, every job's shape);
//! - every event was applied exactly once or failed loudly (a failed
//!   invocation is redelivered, as Lambda would, under a new event id);
//! - every response told the truth about what its invocation did (an
//!   applied outcome ⇔ an entry or a job transition carrying its event id);
//! - the final balances are the oracle's (`reconciler_core::oracle`, SPEC §3
//!   written again), which the history makes independent of the order.
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
use reconciler::store::{Ledger, now_ms};
use reconciler::sweep::{Sweep, SweepInput, Tuning};
use reconciler_core::audit::{Balances, audit};
use reconciler_core::event::Event;
use reconciler_core::ledger::{Account, Entry, Job, JobStatus};
use reconciler_core::oracle::{Money, Oracle, Row};

use crate::emulator::proxy::{Chaos, Counts, Proxy, Semantics};

/// Seeds `cargo xtask test` runs (`cargo xtask simulate` runs more).
pub const CI_SEEDS: u32 = 3;

/// How big a simulated history is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size {
    pub accounts: usize,
    pub jobs: usize,
    pub instances: usize,
    pub sweeps: usize,
}

impl Size {
    /// What CI runs per seed (a few hundred events, seconds).
    pub const CI: Size = Size {
        accounts: 4,
        jobs: 60,
        instances: 4,
        sweeps: 2,
    };

    /// What CI runs once: thousands of events (a minute).
    pub const THOUSANDS: Size = Size {
        accounts: 8,
        jobs: 750,
        instances: 8,
        sweeps: 3,
    };

    /// The command that runs `seed` at this size again, exactly: a failing
    /// seed prints it (the history depends on the size as well as the seed).
    pub fn replay_command(&self, seed: u64) -> String {
        format!(
            "cargo xtask simulate --seed {seed} --seeds 1 --accounts {} --jobs {} \
             --instances {} --sweeps {}",
            self.accounts, self.jobs, self.instances, self.sweeps
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
    /// Invocations that failed loudly (and were redelivered).
    pub failed_loudly: usize,
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
            empty_receive: 0.0,
        });
    let proxied = Client::new(&crate::emulator::sdk_config(&proxy.endpoint).await);
    let history = History::new(seed, size);
    let log: Arc<Mutex<Vec<Invocation>>> = Arc::default();

    // Phase 1: the history, shuffled, shared among concurrent instances,
    // with sweeps expiring every hold meanwhile.
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
        let ledger = Ledger::new(proxied.clone(), table.clone());
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut failed = Vec::new();
            for (n, event) in share.into_iter().enumerate() {
                let id = format!("i{instance}-e{n}");
                if !deliver(&ledger, &event, &id, &log).await {
                    failed.push(event);
                }
            }
            failed
        }));
    }
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
        let input = SweepInput {
            older_than_seconds: Some(0),
            ..SweepInput::default()
        };
        // A sweep that fails (an index query throttled past its retries)
        // fails loudly; the next one continues.
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
    // Lambda redelivers what failed: a fresh instance, new event ids.
    let retry = Ledger::new(proxied.clone(), table.clone());
    for attempt in 0..6 {
        let mut still = Vec::new();
        for (n, event) in redeliver.into_iter().enumerate() {
            if !deliver(&retry, &event, &format!("retry{attempt}-e{n}"), &log).await {
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
        while !deliver(&conflicting, event, &format!("{id}-{tries}"), &log).await {
            tries += 1;
            anyhow::ensure!(tries < 6, "seed {seed}: {event:?} kept failing");
        }
    }

    let invocations = log.lock().map(|l| l.clone()).unwrap_or_default();
    let mut problems = check(&direct, &table, &history, &invocations, &sweep_expired).await?;
    problems.extend(
        reported_drift
            .into_iter()
            .map(|d| format!("a sweep reported drift while money moved: {d}")),
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
    /// The SPEC §4 outcome, or the error type of a failed invocation.
    outcome: String,
}

impl Invocation {
    fn failed(&self) -> bool {
        self.outcome.starts_with("Ledger")
    }

    fn applied(&self) -> bool {
        matches!(
            self.outcome.as_str(),
            "granted" | "held" | "rejected" | "debited" | "refunded" | "adjusted"
        )
    }
}

/// Invokes `ledger` with `event`; records the answer; false on an error.
async fn deliver(
    ledger: &Ledger,
    event: &Event,
    event_id: &str,
    log: &Mutex<Vec<Invocation>>,
) -> bool {
    let result = ledger.apply(event, event_id).await;
    let outcome = match &result {
        Ok(applied) => applied.outcome.as_str().to_owned(),
        Err(e) => e.error_type().to_owned(),
    };
    if let Ok(mut log) = log.lock() {
        log.push(Invocation {
            event_id: event_id.to_owned(),
            event: event.clone(),
            outcome,
        });
    }
    result.is_ok()
}

/// A random history whose final balances do not depend on the order its
/// events arrive in (SPEC §3 invariant 5): unique grant and adjustment ids,
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

/// Everything the run must have kept true, as problems (none: all is well).
async fn check(
    client: &Client,
    table: &str,
    history: &History,
    invocations: &[Invocation],
    sweep_expired: &[(String, u64)],
) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    // The whole table (a test may scan; the functions may not).
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
    let (mut accounts, mut jobs, mut entries) = (
        Vec::<Account>::new(),
        Vec::<(Job, JobItem)>::new(),
        Vec::<Entry>::new(),
    );
    for item in items {
        let sk = item
            .get(reconciler_core::contract::table::SORT_KEY)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default();
        let parsed = if sk == keys::ACCOUNT_SK {
            from_item::<AccountItem>(item, "account")
                .and_then(|a| a.account())
                .map(|a| accounts.push(a))
        } else if sk == keys::JOB_SK {
            from_item::<JobItem>(item, "job").and_then(|j| {
                let job = j.job()?;
                jobs.push((job, j));
                Ok(())
            })
        } else if keys::is_entry_sk(&sk) {
            from_item::<EntryItem>(item, "entry")
                .and_then(|e| e.entry())
                .map(|e| entries.push(e))
        } else {
            Ok(())
        };
        if let Err(malformed) = parsed {
            problems.push(malformed);
        }
    }
    entries.sort_by(|a, b| (&a.account_id, a.seq).cmp(&(&b.account_id, b.seq)));

    // Invariants 1–3, and held = the holds of the HELD jobs (invariant 2).
    for account in &accounts {
        let own: Vec<Entry> = entries
            .iter()
            .filter(|e| e.account_id == account.account_id)
            .cloned()
            .collect();
        if let Some(drift) = audit(account, Balances::default(), &own) {
            problems.push(format!(
                "{}: {}",
                account.account_id,
                drift.problems.join("; ")
            ));
        }
        let holds: i64 = jobs
            .iter()
            .filter(|(j, _)| j.account_id == account.account_id && j.status == JobStatus::Held)
            .map(|(j, _)| j.hold.unwrap_or(0))
            .sum();
        if holds != account.held {
            problems.push(format!(
                "{}: held {} but its HELD jobs hold {holds}",
                account.account_id, account.held
            ));
        }
    }

    // Exactly once: no business key was applied twice.
    let mut keys = BTreeSet::new();
    for e in &entries {
        if !keys.insert((e.account_id.clone(), e.key.clone())) {
            problems.push(format!("{} applied twice on {}", e.key, e.account_id));
        }
    }

    // The truth of every response: an applied outcome is exactly an
    // invocation whose event id is on an entry or a job transition.
    let mut written: BTreeSet<&str> = entries.iter().map(|e| e.event_id.as_str()).collect();
    for (_, item) in &jobs {
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
    for e in entries.iter().filter(|e| !e.event_id.starts_with("sweep-")) {
        if !invocations.iter().any(|i| i.event_id == e.event_id) {
            problems.push(format!(
                "entry {} of {} by an unknown invocation {}",
                e.seq, e.account_id, e.event_id
            ));
        }
    }
    // The truth of every sweep: what it reported expired is what it wrote.
    for (run_id, expired) in sweep_expired {
        let wrote = entries.iter().filter(|e| e.event_id == *run_id).count() as u64;
        if wrote != *expired {
            problems.push(format!(
                "{run_id} reported {expired} expired but wrote {wrote} expiry entries"
            ));
        }
    }
    if let Some(i) = invocations
        .iter()
        .find(|i| i.event_id.starts_with("conflict-") && i.outcome != "conflict" && !i.failed())
    {
        problems.push(format!("{:?} was {}, not a conflict", i.event, i.outcome));
    }

    // The oracle: final balances, whatever the order.
    let mut oracle = Oracle::default();
    for event in &history.events {
        oracle.apply(event);
    }
    // …and every job's final row, up to what the order may change: a job
    // that was charged was charged the same amount; one the oracle holds is
    // held or expired (a sweep ran; the oracle has no clock); one that ended
    // without a charge (refunded, expired, rejected: which one depends on
    // the order its events came in) ended without one.
    for (job_id, row) in &oracle.jobs {
        let stored = jobs
            .iter()
            .find(|(j, _)| j.job_id == *job_id)
            .map(|(j, _)| (j.status, j.debited));
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
        let stored = accounts
            .iter()
            .find(|a| a.account_id == *id)
            .map(|a| Money {
                available: a.available,
                held: a.held,
                granted: a.granted,
                debited: a.debited,
                adjusted: a.adjusted,
            })
            .unwrap_or_default();
        if stored != *money {
            problems.push(format!(
                "{id}: stored {stored:?}, the oracle says {money:?}"
            ));
        }
    }
    Ok(problems)
}

/// One line per seed.
pub fn describe(r: &SimReport) -> String {
    format!(
        "seed {}: {} events, {} invocations ({} failed loudly), {} sweeps ({} failed{}) expired \
         {}; outcomes {:?}; faults {:?}; {:.1} s",
        r.seed,
        r.events,
        r.invocations,
        r.failed_loudly,
        r.sweeps,
        r.sweep_failures.len(),
        r.sweep_failures
            .first()
            .map(|f| format!(": {f}"))
            .unwrap_or_default(),
        r.expired,
        r.outcomes,
        r.faults,
        r.duration.as_secs_f64()
    )
}
