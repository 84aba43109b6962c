//! The ledger's workloads measured against the emulator (what `cargo xtask
//! bench` prints and the big-account test holds flat): requests and capacity per
//! event by outcome (cold and warm instance, at 0 and 1,000 open holds on
//! the account), the sweep's reads beside thousands of settled jobs, and a
//! busy account written by many instances at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use reconciler::config::{StragglerAction, SweepConfig};
use reconciler::store::items::{AccountItem, EntryItem, JobItem, to_item};
use reconciler::store::keys::Item;
use reconciler::store::size::{item_size, read_units, write_units};
use reconciler::store::{Ledger, now_ms};
use reconciler::sweep::{Sweep, SweepInput, Tuning};
use reconciler_core::contract::table::OPEN_INDEX_PARTITION_KEY;
use reconciler_core::event::Event;
use reconciler_core::key::{BusinessKey, JobStep};
use reconciler_core::ledger::{Account, Entry, Job, JobStatus};
use serde_json::Value;

use crate::capture::{Capture, Exchange};
use crate::emulator::proxy::{Proxy, Semantics};

/// Capacity one event consumed, by DynamoDB's item-size rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Units {
    /// Write units of the table's items (transactional writes count double).
    pub wcu: u32,
    /// Write units of the `open-items` index (an item entering or leaving it).
    pub index_wcu: u32,
    /// Read units (transactional reads count double).
    pub rcu: u32,
}

/// A client to `endpoint` whose requests are captured.
pub async fn captured_client(endpoint: &str) -> (Client, Capture) {
    let capture = Capture::default();
    let sdk = crate::emulator::sdk_config(endpoint).await;
    let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(capture.clone())
        .build();
    (Client::from_conf(conf), capture)
}

/// The `pk`/`sk` of an item or key in DynamoDB's JSON wire form.
fn wire_key(v: &Value) -> Option<Item> {
    use aws_sdk_dynamodb::types::AttributeValue;
    use reconciler_core::contract::table::{PARTITION_KEY, SORT_KEY};
    let s = |name: &str| v.get(name)?.get("S")?.as_str().map(str::to_owned);
    Some(Item::from([
        (
            PARTITION_KEY.to_owned(),
            AttributeValue::S(s(PARTITION_KEY)?),
        ),
        (SORT_KEY.to_owned(), AttributeValue::S(s(SORT_KEY)?)),
    ]))
}

async fn size_now(direct: &Client, table: &str, key: Item) -> usize {
    direct
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .ok()
        .and_then(|o| o.item)
        .map_or(0, |i| item_size(&i))
}

/// The capacity of what `exchanges` wrote and read, from the items as they
/// are after them (an update is charged on the larger of its item before
/// and after; the two differ by a few bytes of status here). A condition
/// check is charged as a transactional write.
pub async fn units(direct: &Client, table: &str, exchanges: &[Exchange]) -> Units {
    let mut u = Units::default();
    for x in exchanges {
        match x.operation.as_str() {
            "TransactWriteItems" => {
                for action in x.request["TransactItems"].as_array().into_iter().flatten() {
                    let Some((kind, inner)) = action.as_object().and_then(|o| o.iter().next())
                    else {
                        continue;
                    };
                    let key = if kind == "Put" {
                        wire_key(&inner["Item"])
                    } else {
                        wire_key(&inner["Key"])
                    };
                    let Some(key) = key else { continue };
                    let size = size_now(direct, table, key).await;
                    u.wcu += write_units(size, true);
                    let enters =
                        kind == "Put" && inner["Item"].get(OPEN_INDEX_PARTITION_KEY).is_some();
                    let leaves = kind == "Update"
                        && inner["UpdateExpression"].as_str().is_some_and(|e| {
                            e.contains("REMOVE")
                                && e.contains(&format!("#{OPEN_INDEX_PARTITION_KEY}"))
                        });
                    // A cancelled transaction writes nothing (its index
                    // entries neither); its items are still charged here,
                    // conservatively, as if written.
                    if (enters || leaves) && !x.refused {
                        u.index_wcu += 1;
                    }
                }
            }
            "TransactGetItems" => {
                for action in x.request["TransactItems"].as_array().into_iter().flatten() {
                    if let Some(key) = wire_key(&action["Get"]["Key"]) {
                        u.rcu += read_units(size_now(direct, table, key).await, true);
                    }
                }
            }
            "PutItem" => {
                if let Some(key) = wire_key(&x.request["Item"]) {
                    u.wcu += write_units(size_now(direct, table, key).await, false);
                }
                u.index_wcu += u32::from(x.request["Item"].get(OPEN_INDEX_PARTITION_KEY).is_some());
            }
            "GetItem" | "Query" | "BatchGetItem" => {
                u.rcu += read_units(x.response_bytes, false);
            }
            _ => {}
        }
    }
    u
}

/// One measured event.
#[derive(Clone, Debug)]
pub struct Measured {
    pub outcome: String,
    pub requests: usize,
    pub units: Units,
}

/// A client straight to the emulator and a new ledger table named `name`.
async fn fresh_table(endpoint: &str, name: &str) -> anyhow::Result<(Client, String)> {
    let direct = Client::new(&crate::emulator::sdk_config(endpoint).await);
    reconciler::store::schema::create_table(&direct, name)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok((direct, name.to_owned()))
}

/// Writes items with `BatchWriteItem` (25 at a time).
pub async fn batch_put(client: &Client, table: &str, items: Vec<Item>) -> anyhow::Result<()> {
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("an item is set"),
                    )
                    .build()
            })
            .collect();
        let mut pending = Some(writes);
        while let Some(writes) = pending.take() {
            let out = client
                .batch_write_item()
                .request_items(table, writes)
                .send()
                .await?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(table))
                .filter(|w| !w.is_empty());
        }
    }
    Ok(())
}

/// The entry that moves `account` by `[available, held, granted, debited]`
/// under `key`, the account moved: what a seed writes directly.
fn seed_entry(account: &mut Account, key: BusinessKey, amount: i64, deltas: [i64; 4]) -> Entry {
    let [available, held, granted, debited] = deltas;
    account.available += available;
    account.held += held;
    account.granted += granted;
    account.debited += debited;
    account.seq += 1;
    Entry {
        cell: 0,
        transferred_delta: 0,
        account_id: account.account_id.clone(),
        seq: account.seq,
        kind: key.entry_kind(),
        key: key.entry(),
        amount,
        available_delta: available,
        held_delta: held,
        granted_delta: granted,
        debited_delta: debited,
        adjusted_delta: 0,
        overdraft: 0,
        available_after: account.available,
        held_after: account.held,
        event_id: "seed".into(),
        at_ms: 1,
    }
}

/// A job of `account_id` holding 10 credits since entry `seq`.
fn held_job(job_id: &str, account_id: &str, seq: u64) -> Job {
    Job {
        cell: 0,
        job_id: job_id.to_owned(),
        account_id: account_id.to_owned(),
        status: JobStatus::Held,
        requested: Some(10),
        hold: Some(10),
        debited: None,
        reason: None,
        entries: vec![seq],
    }
}

/// An account with `holds` open holds of 10 credits (HELD jobs, their hold
/// entries, the account), consistent with the ledger's invariants, written
/// directly: what thousands of `video.requested` would leave.
pub async fn seed_account(
    client: &Client,
    table: &str,
    account_id: &str,
    holds: usize,
    credits: i64,
) -> anyhow::Result<()> {
    let mut items = Vec::with_capacity(2 * holds + 2);
    let mut account = Account::new(account_id);
    let grant = seed_entry(
        &mut account,
        BusinessKey::grant(format!("seed-{account_id}")),
        credits,
        [credits, 0, credits, 0],
    );
    items.push(to_item(&EntryItem::new(&grant)));
    for n in 0..holds {
        let job_id = format!("{account_id}-open-{n:06}");
        let hold = seed_entry(
            &mut account,
            BusinessKey::job(job_id.clone(), JobStep::Requested),
            10,
            [-10, 10, 0, 0],
        );
        items.push(to_item(&JobItem::new(
            &held_job(&job_id, account_id, hold.seq),
            "seed",
            now_ms(),
        )));
        items.push(to_item(&EntryItem::new(&hold)));
    }
    items.push(to_item(&AccountItem::new(&account, now_ms())));
    batch_put(client, table, items).await
}

/// How long the ids of a measured workload are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ids {
    /// A few characters (`big`, `warm-debit`, `g-warm`).
    Short,
    /// The contract's longest: 256 characters, each of `char` (one byte
    /// for `x`, four for an emoji).
    Longest(char),
}

impl Ids {
    /// `base`, padded to this length.
    fn id(self, base: &str) -> String {
        match self {
            Ids::Short => base.to_owned(),
            Ids::Longest(c) => {
                let pad = reconciler_core::event::MAX_ID_CHARS.saturating_sub(base.chars().count());
                format!("{base}{}", c.to_string().repeat(pad))
            }
        }
    }
}

/// Requests and capacity of each outcome on an account with `holds` open
/// holds: a warm instance (which knows the account and the jobs it held),
/// and a cold one (a fresh instance per event).
pub async fn per_outcome(
    endpoint: &str,
    holds: usize,
) -> anyhow::Result<BTreeMap<(String, &'static str), Measured>> {
    per_outcome_with(endpoint, holds, Ids::Short).await
}

/// [`per_outcome`], with ids of that length.
pub async fn per_outcome_with(
    endpoint: &str,
    holds: usize,
    ids: Ids,
) -> anyhow::Result<BTreeMap<(String, &'static str), Measured>> {
    let (direct, table) = fresh_table(
        endpoint,
        &format!("bench-{holds}-{:06x}", fastrand::u32(..)),
    )
    .await?;
    let account_id = ids.id("big");
    let account = account_id.as_str();
    seed_account(&direct, &table, account, holds, 1_000_000).await?;
    let (client, capture) = captured_client(endpoint).await;
    let grant = |id: &str, c| Event::Granted {
        grant_id: ids.id(id),
        account_id: account.into(),
        credits: c,
    };
    let req = |job: &str, c| Event::Requested {
        job_id: ids.id(job),
        account_id: account.into(),
        credits: c,
    };
    let rendered = |job: &str, c| Event::Rendered {
        job_id: ids.id(job),
        account_id: account.into(),
        credits: c,
    };
    let failed = |job: &str| Event::Failed {
        job_id: ids.id(job),
        account_id: account.into(),
        reason: None,
    };
    let mut results = BTreeMap::new();
    for warmth in ["warm", "cold"] {
        let warm = Ledger::new(client.clone(), table.clone());
        // Prime the warm instance: it knows the account, and holds two jobs.
        let tag = warmth;
        warm.apply(&grant(&format!("prime-{tag}"), 1), "p").await?;
        warm.apply(&req(&format!("{tag}-debit"), 10), "p").await?;
        warm.apply(&req(&format!("{tag}-refund"), 10), "p").await?;
        let scenarios: Vec<(&str, Event)> = vec![
            ("grant", grant(&format!("g-{tag}"), 5)),
            ("hold", req(&format!("{tag}-new"), 10)),
            ("debit", rendered(&format!("{tag}-debit"), 12)),
            ("refund", failed(&format!("{tag}-refund"))),
            ("rejected", req(&format!("{tag}-too-big"), 1_000_000_000)),
            ("duplicate", grant(&format!("g-{tag}"), 5)),
            ("conflict", grant(&format!("g-{tag}"), 6)),
        ];
        for (name, event) in scenarios {
            capture.take();
            let applied = if warmth == "warm" {
                warm.apply(&event, "bench").await?
            } else {
                Ledger::new(client.clone(), table.clone())
                    .apply(&event, "bench")
                    .await?
            };
            let exchanges = capture.take();
            let units = units(&direct, &table, &exchanges).await;
            results.insert(
                (
                    name.to_owned(),
                    if warmth == "warm" { "warm" } else { "cold" },
                ),
                Measured {
                    outcome: applied.outcome.as_str().to_owned(),
                    requests: exchanges.len(),
                    units,
                },
            );
        }
    }
    Ok(results)
}

/// The sweep's reads on a table holding `settled` settled jobs (and ten
/// accounts with history), with 5 stragglers on 3 accounts: requests and
/// response bytes by operation.
pub async fn sweep_reads(
    endpoint: &str,
    settled: usize,
) -> anyhow::Result<(usize, usize, BTreeMap<String, usize>)> {
    let (direct, table) = fresh_table(
        endpoint,
        &format!("bench-sweep-{settled}-{:06x}", fastrand::u32(..)),
    )
    .await?;
    let items: Vec<Item> = (0..settled)
        .map(|i| {
            let job = Job {
                cell: 0,
                job_id: format!("settled-{i:06}"),
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
        .collect();
    batch_put(&direct, &table, items).await?;
    let old = Ledger::new(direct.clone(), table.clone()).with_clock(|| now_ms() - 7 * 3_600_000);
    for (account, holds) in [("s1", 2), ("s2", 2), ("s3", 1)] {
        old.apply(
            &Event::Granted {
                grant_id: format!("g-{account}"),
                account_id: account.into(),
                credits: 100,
            },
            "seed",
        )
        .await?;
        for h in 0..holds {
            old.apply(
                &Event::Requested {
                    job_id: format!("{account}-j{h}"),
                    account_id: account.into(),
                    credits: 10,
                },
                "seed",
            )
            .await?;
        }
    }
    let (client, capture) = captured_client(endpoint).await;
    let config = bench_sweep(&table);
    let sweep = Sweep::new(Ledger::new(client, table.clone()), &config, None).with_tuning(Tuning {
        conflict_settle: Duration::ZERO,
        ..Tuning::default()
    });
    capture.take();
    let report = sweep
        .run(&SweepInput::default(), now_ms() + 300_000, "bench")
        .await?;
    anyhow::ensure!(report.expired == 5, "the sweep expired {}", report.expired);
    let exchanges = capture.take();
    let bytes = exchanges.iter().map(|x| x.response_bytes).sum();
    let mut by_operation = BTreeMap::new();
    for x in &exchanges {
        *by_operation.entry(x.operation.clone()).or_default() += 1;
    }
    Ok((exchanges.len(), bytes, by_operation))
}

/// What a burst on one account from several instances did.
#[derive(Clone, Debug)]
pub struct Busy {
    pub per_second: f64,
    pub attempts_p50: u32,
    pub attempts_p99: u32,
    pub failures: usize,
    /// DynamoDB requests per committed event, every read and every
    /// cancelled transaction included (DynamoDB charges a cancelled
    /// transaction's capacity too): what contention costs.
    pub requests_per_event: f64,
}

/// `events` events on one account (holds and their debits) from
/// `instances` concurrent instances, through the proxy with DynamoDB's
/// semantics and `latency` per request.
pub async fn busy_account(
    endpoint: &str,
    instances: usize,
    events: usize,
    latency: Duration,
) -> anyhow::Result<Busy> {
    let (_, table) = fresh_table(
        endpoint,
        &format!("bench-busy-{instances}-{:06x}", fastrand::u32(..)),
    )
    .await?;
    let proxy = Proxy::start(endpoint).await.with_semantics(Semantics {
        conflicts: true,
        conflict_window: latency,
        tokens: true,
        limits: true,
        latency,
        staggered: false,
    });
    let client = Client::new(&crate::emulator::sdk_config(&proxy.endpoint).await);
    Ledger::new(client.clone(), table.clone())
        .apply(
            &Event::Granted {
                grant_id: "busy-funds".into(),
                account_id: "busy".into(),
                credits: 1_000_000_000,
            },
            "seed",
        )
        .await?;
    // Each job's request and render go to random instances, in order.
    let mut queues: Vec<Vec<Event>> = vec![Vec::new(); instances];
    for n in 0..events / 2 {
        let job = format!("busy-{n:05}");
        queues[fastrand::usize(..instances)].push(Event::Requested {
            job_id: job.clone(),
            account_id: "busy".into(),
            credits: 10,
        });
        queues[fastrand::usize(..instances)].push(Event::Rendered {
            job_id: job,
            account_id: "busy".into(),
            credits: 9,
        });
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for queue in queues {
        let ledger = Ledger::new(client.clone(), table.clone());
        tasks.push(tokio::spawn(async move {
            let mut attempts = Vec::new();
            let mut failures = 0;
            for event in queue {
                match ledger.apply(&event, "busy").await {
                    Ok(applied) => attempts.push(applied.attempts),
                    Err(_) => failures += 1,
                }
            }
            (attempts, failures)
        }));
    }
    let mut attempts = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (a, f) = task.await?;
        attempts.extend(a);
        failures += f;
    }
    let elapsed = started.elapsed();
    attempts.sort_unstable();
    let pct = |p: f64| {
        attempts
            .get(((attempts.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    let counts = proxy.counts();
    let sent = counts.get("forwarded").copied().unwrap_or(0)
        + counts.get("conflict").copied().unwrap_or(0);
    Ok(Busy {
        per_second: attempts.len() as f64 / elapsed.as_secs_f64(),
        attempts_p50: pct(0.50),
        attempts_p99: pct(0.99),
        failures,
        requests_per_event: sent as f64 / attempts.len().max(1) as f64,
    })
}

/// What auditing one long window took, run after run.
#[derive(Clone, Debug)]
pub struct LongWindow {
    /// Entries in the window.
    pub entries: u64,
    /// Jobs whose holds the window took and released (some still HELD).
    pub jobs: usize,
    /// Each run: the checkpoint it left (`audited_seq`) and how long it
    /// took against its own deadline.
    pub runs: Vec<(u64, Duration)>,
    /// Whether the last run proved the window clean and cleared the mark.
    pub clean: bool,
    /// The process's resident memory at its highest during the audit,
    /// above what it was when the audit started.
    pub peak_growth_bytes: u64,
}

/// An account's long window, written directly (what `entries` events
/// would leave): grants, and jobs whose holds are taken and released — a
/// few hundred open at a time, so that many releases come pages after
/// their takes — a last few left HELD. Consistent with every invariant.
fn long_window_items(account_id: &str, entries: u64) -> (Vec<Item>, usize) {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut account = Account::new(account_id);
    let mut items = Vec::new();
    let mut open: std::collections::VecDeque<Job> = Default::default();
    let mut jobs = 0;
    while account.seq < entries {
        let entry = match rng.u8(..10) {
            0..4 => {
                let grant = BusinessKey::grant(format!("g{}", account.seq));
                seed_entry(&mut account, grant, 100, [100, 0, 100, 0])
            }
            4..7 if open.len() < 500 && account.available >= 10 => {
                jobs += 1;
                let job_id = format!("{account_id}-job-{jobs:07}");
                let hold = BusinessKey::job(job_id.clone(), JobStep::Requested);
                let e = seed_entry(&mut account, hold, 10, [-10, 10, 0, 0]);
                open.push_back(held_job(&job_id, account_id, e.seq));
                e
            }
            _ => match open.pop_front() {
                Some(mut job) => {
                    let debit = BusinessKey::job(job.job_id.clone(), JobStep::Rendered);
                    let e = seed_entry(&mut account, debit, 9, [1, -10, 0, 9]);
                    job.status = JobStatus::Debited;
                    job.debited = Some(9);
                    job.entries.push(e.seq);
                    items.push(to_item(&JobItem::new(&job, "seed", 1)));
                    e
                }
                None => continue,
            },
        };
        items.push(to_item(&EntryItem::new(&entry)));
    }
    for job in open {
        items.push(to_item(&JobItem::new(&job, "seed", now_ms())));
    }
    items.push(to_item(&AccountItem::new(&account, now_ms())));
    (items, jobs)
}

/// This process's resident memory now and at its highest since the last
/// reset (`VmRSS`, `VmHWM`), in bytes; the reset (`clear_refs`) makes the
/// next high-water mark the audit's own.
fn resident() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

/// The sweep's audit of one account whose window holds `entries` entries
/// (written directly: see [`long_window_items`]), each run given
/// `run_seconds` before its deadline (the sweep keeps its usual reserve),
/// run after run until the account is proven and its mark cleared.
///
/// # Errors
/// The emulator failed, or a run reported drift or a failure.
pub async fn long_window(
    endpoint: &str,
    entries: u64,
    run_seconds: u64,
) -> anyhow::Result<LongWindow> {
    let (direct, table) =
        fresh_table(endpoint, &format!("bench-window-{:06x}", fastrand::u32(..))).await?;
    let account_id = "farm";
    let jobs = {
        let (items, jobs) = long_window_items(account_id, entries);
        batch_put(&direct, &table, items).await?;
        jobs
    };
    let config = bench_sweep(&table);
    let sweep = Sweep::new(Ledger::new(direct.clone(), table.clone()), &config, None);
    // The audit's own high-water mark: reset it (Linux: `5` to clear_refs).
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (at_start, _) = resident();
    let mut runs = Vec::new();
    let mut clean = false;
    for run in 0..100 {
        let started = Instant::now();
        let deadline = now_ms() + i64::try_from(run_seconds * 1000).unwrap_or(i64::MAX);
        let report = sweep
            .run(&SweepInput::default(), deadline, &format!("bench-{run}"))
            .await?;
        anyhow::ensure!(
            report.drifted_accounts == 0 && report.failed_items == 0,
            "run {run}: {:?} {:?}",
            report.drift,
            report.errors
        );
        let checkpoint = Ledger::new(direct.clone(), table.clone())
            .account_for_audit(account_id, 0)
            .await?
            .and_then(|(_, c)| c)
            .map_or(0, |c| c.audited_seq);
        runs.push((checkpoint, started.elapsed()));
        if report.complete && report.audit_marks_kept == 0 && report.audited_accounts == 1 {
            clean = true;
            break;
        }
    }
    let (_, peak) = resident();
    Ok(LongWindow {
        entries,
        jobs,
        runs,
        clean,
        peak_growth_bytes: peak.saturating_sub(at_start),
    })
}

/// The measured sweeps' configuration: six hours' hold timeout, expiring.
fn bench_sweep(table: &str) -> SweepConfig {
    SweepConfig {
        stage: "bench".into(),
        table: table.to_owned(),
        hold_timeout_seconds: 6 * 3600,
        straggler_action: StragglerAction::Expire,
        summarizer: None,
    }
}

/// What one phase of a sweep sent, and what it cost.
#[derive(Clone, Debug, Default)]
pub struct PhaseCost {
    pub requests: usize,
    pub by_operation: BTreeMap<String, usize>,
    pub units: Units,
}

/// One sweep over a backlog ([`backlog`]), phase by phase.
#[derive(Clone, Debug)]
pub struct Backlog {
    pub open: usize,
    pub stragglers: usize,
    pub accounts: usize,
    pub lanes: usize,
    pub expired: u64,
    pub audited: u64,
    pub complete: bool,
    /// The straggler phase: the index's first pages and the expiries.
    pub straggler_phase: PhaseCost,
    /// The audit phase: the marked accounts' audits.
    pub audit_phase: PhaseCost,
    /// The run, on the emulator.
    pub took: Duration,
    /// The process's resident memory at its highest during the run, above
    /// what it was when the run started.
    pub peak_growth_bytes: u64,
}

/// `open` HELD jobs of 10 credits spread over `accounts` accounts, the
/// first `stragglers` of them held seven hours ago and the others now;
/// each account granted what its holds take, every entry written, every
/// account marked for audit. Consistent with every invariant.
fn backlog_items(open: usize, stragglers: usize, accounts: usize) -> Vec<Item> {
    let now = now_ms();
    let mut ledgers: Vec<Account> = (0..accounts)
        .map(|a| Account::new(format!("acct-{a:06}")))
        .collect();
    let mut items = Vec::with_capacity(2 * open + 2 * accounts);
    for (a, account) in ledgers.iter_mut().enumerate() {
        let holds = open / accounts + usize::from(a < open % accounts);
        let credits = 10 * holds as i64;
        let grant = BusinessKey::grant(format!("seed-{}", account.account_id));
        let e = seed_entry(account, grant, credits, [credits, 0, credits, 0]);
        items.push(to_item(&EntryItem::new(&e)));
    }
    for n in 0..open {
        let account = &mut ledgers[n % accounts];
        let job_id = format!("job-{n:07}");
        let hold = BusinessKey::job(job_id.clone(), JobStep::Requested);
        let e = seed_entry(account, hold, 10, [-10, 10, 0, 0]);
        let held_at = if n < stragglers {
            now - 7 * 3_600_000
        } else {
            now
        };
        let job = held_job(&job_id, &account.account_id, e.seq);
        items.push(to_item(&JobItem::new(&job, "seed", held_at)));
        items.push(to_item(&EntryItem::new(&e)));
    }
    items.extend(ledgers.iter().map(|a| to_item(&AccountItem::new(a, now))));
    items
}

/// A sweep's requests split into its straggler phase and its audit phase:
/// the audit starts with its first index query (`AUDIT#…`), and ends where
/// the conflicts' phase reads the sweep's state (`SWEEP`).
fn phases(exchanges: &[Exchange]) -> (&[Exchange], &[Exchange]) {
    let audit_starts = exchanges
        .iter()
        .position(|x| x.operation == "Query" && x.body.contains("\"AUDIT#"))
        .unwrap_or(exchanges.len());
    let audit_ends = exchanges
        .iter()
        .position(|x| x.body.contains("\"SWEEP\""))
        .unwrap_or(exchanges.len())
        .max(audit_starts);
    (
        &exchanges[..audit_starts],
        &exchanges[audit_starts..audit_ends],
    )
}

/// What one phase's requests were, and cost.
async fn phase_cost(direct: &Client, table: &str, xs: &[Exchange]) -> PhaseCost {
    let mut by_operation = BTreeMap::new();
    for x in xs {
        *by_operation.entry(x.operation.clone()).or_default() += 1;
    }
    PhaseCost {
        requests: xs.len(),
        by_operation,
        units: units(direct, table, xs).await,
    }
}

/// One sweep, `lanes` at a time, over a backlog written directly
/// ([`backlog_items`]): requests and capacity of its straggler phase and of
/// its audit phase (split where the audit's first index query is sent),
/// its time on the emulator and its memory growth.
///
/// # Errors
/// The emulator failed, or the sweep reported drift or a failure.
pub async fn backlog(
    endpoint: &str,
    (open, stragglers, accounts): (usize, usize, usize),
    lanes: usize,
) -> anyhow::Result<Backlog> {
    let (direct, table) = fresh_table(
        endpoint,
        &format!("bench-backlog-{:06x}", fastrand::u32(..)),
    )
    .await?;
    let seeding = Instant::now();
    batch_put(&direct, &table, backlog_items(open, stragglers, accounts)).await?;
    eprintln!("  written in {:.1} s", seeding.elapsed().as_secs_f64());
    let (client, capture) = captured_client(endpoint).await;
    let config = bench_sweep(&table);
    let sweep = Sweep::new(Ledger::new(client, table.clone()), &config, None).with_tuning(Tuning {
        lanes,
        ..Tuning::default()
    });
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (at_start, _) = resident();
    let started = Instant::now();
    let report = sweep
        .run(&SweepInput::default(), now_ms() + 3_600_000, "bench")
        .await?;
    let took = started.elapsed();
    let (_, peak) = resident();
    eprintln!("  swept in {:.1} s", took.as_secs_f64());
    anyhow::ensure!(
        report.drifted_accounts == 0 && report.failed_items == 0,
        "{:?} {:?}",
        report.drift,
        report.errors
    );
    let exchanges = capture.take();
    let (s, a) = phases(&exchanges);
    let (straggler_phase, audit_phase) = (
        phase_cost(&direct, &table, s).await,
        phase_cost(&direct, &table, a).await,
    );
    let backlog = Ok(Backlog {
        open,
        stragglers,
        accounts,
        lanes,
        expired: report.expired,
        audited: report.audited_accounts,
        complete: report.complete,
        straggler_phase,
        audit_phase,
        took,
        peak_growth_bytes: peak.saturating_sub(at_start),
    });
    // Dropped: the emulator would hold it in memory for the rest of the
    // bench.
    direct.delete_table().table_name(&table).send().await?;
    backlog
}
