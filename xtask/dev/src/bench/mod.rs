//! `cargo xtask bench`: the figures, printed as a table (each beside its
//! target) and written to `target/bench/bench.json` so runs can be
//! compared. Figures, not timed tests: machines differ. It starts its own
//! moto server and builds the release Lambdas (cargo-lambda) the first time.
//!
//! - AWS requests per event by outcome, cold and warm instance;
//! - capacity (WCU, RCU) per event by outcome at 0 and 1,000 open holds on
//!   the account (and 100,000 with `--full`);
//! - the partition-heat model ([`heat`]): 10,000 events/s over 100,000
//!   accounts (Zipf), each partition key's WCU/s and RCU/s in its busiest
//!   second from the keys and item sizes the code writes, the hottest keys,
//!   and the ceiling in events/s with the key it comes from;
//! - CPU time of the pure core per event (`cargo bench -p reconciler-core`);
//! - the handler's latency per event and the functions' cold start beside a
//!   bare `lambda_runtime` function (the ratio, at most 3×, and where the
//!   time goes, step by step: `reconciler::start`), from the release binaries;
//! - each function's peak memory (RSS) on its workload — a 1,000-event burst
//!   through the handler, a sweep over 2,000 stragglers — beside twice its
//!   prod memory, and the handler's CPU time per event at prod's share of a
//!   vCPU;
//! - release package size per function; synth time per stage;
//! - the sweep's reads beside 1,000 and 10,000 (`--full`: 100,000) settled jobs;
//! - the audit of one account's 250,000-entry window (a render farm's six
//!   hours and more): folded a page at a time within the sweep's memory,
//!   over runs of the sweep's timeout that resume from the checkpoint;
//! - the sweep against a backlog ([`backlog`]): 2,000 stragglers among
//!   2,000 and 20,000 open jobs on 1,000 accounts, measured (one lane and
//!   sixteen), then 100,000 stragglers among 1,000,000 open jobs and
//!   100,000 touched accounts derived from the per-item costs;
//! - a busy account: 1,000 events from 1, 4 and 16 instances through the
//!   proxy with DynamoDB's semantics and 5 ms per request.
//!
//! `cargo xtask bench-deploy` measures deploys.

mod backlog;
mod binaries;
pub(crate) mod deploy;
mod heat;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use infra::{Architecture, Stage};
use serde_json::{Value, json};
use testkit::measure;

use testkit::emulator::moto::Moto;

/// `cargo xtask bench`.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  cargo xtask bench\n  cargo xtask bench --quick\n  cargo xtask bench --full"
)]
pub(crate) struct Args {
    /// Skip the release build and what needs it (cold start, latency, sizes).
    #[arg(long)]
    quick: bool,
    /// Also measure 100,000 open holds and 100,000 settled jobs (slow).
    #[arg(long, conflicts_with = "quick")]
    full: bool,
    /// Only these sections (repeatable): requests (with capacity), heat,
    /// core, synth, sweep, audit, backlog, busy, binaries.
    #[arg(long = "section", value_name = "NAME")]
    sections: Vec<String>,
}

impl Args {
    fn wants(&self, section: &str) -> bool {
        self.sections.is_empty() || self.sections.iter().any(|s| s == section)
    }
}

/// One figure.
struct Figure {
    section: &'static str,
    name: String,
    value: String,
    target: String,
    /// Whether it meets its target (`None`: no target).
    met: Option<bool>,
    json: Value,
}

fn figure(section: &'static str, name: impl Into<String>, value: impl Into<String>) -> Figure {
    Figure {
        section,
        name: name.into(),
        value: value.into(),
        target: String::new(),
        met: None,
        json: Value::Null,
    }
}

impl Figure {
    fn target(mut self, target: impl Into<String>, met: bool) -> Figure {
        self.target = target.into();
        self.met = Some(met);
        self
    }

    fn json(mut self, json: Value) -> Figure {
        self.json = json;
        self
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Runs the bench.
///
/// # Errors
/// A section failed (the figures so far are printed first).
pub(crate) fn run(args: Args) -> anyhow::Result<()> {
    let tools = operator::base::tools::ensure()?;
    let moto = Moto::start(&tools)?;
    let mut figures = Vec::new();
    let result = tokio::runtime::Runtime::new()?.block_on(measure(
        &args,
        &tools,
        &moto.endpoint,
        &mut figures,
    ));
    drop(moto);
    print(&figures);
    let dir = operator::root().join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let json: Vec<Value> = figures
        .iter()
        .map(|f| {
            json!({"section": f.section, "figure": f.name, "value": f.value,
                   "target": f.target, "met": f.met, "data": f.json})
        })
        .collect();
    let file = dir.join("bench.json");
    std::fs::write(&file, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("write {}", file.display()))?;
    println!("\nwritten: {}", file.display());
    result?;
    let missed: Vec<&Figure> = figures.iter().filter(|f| f.met == Some(false)).collect();
    anyhow::ensure!(
        missed.is_empty(),
        "{} figure(s) missed their target: {}",
        missed.len(),
        missed
            .iter()
            .map(|f| format!("{} / {}", f.section, f.name))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

fn print(figures: &[Figure]) {
    let rows: Vec<Vec<String>> = figures
        .iter()
        .map(|f| {
            vec![
                f.section.to_owned(),
                f.name.clone(),
                f.value.clone(),
                f.target.clone(),
                match f.met {
                    Some(true) => "ok".into(),
                    Some(false) => "MISSED".into(),
                    None => String::new(),
                },
            ]
        })
        .collect();
    println!(
        "\n{}",
        operator::base::ui::table(&["SECTION", "FIGURE", "VALUE", "TARGET", ""], &rows)
    );
}

async fn measure(
    args: &Args,
    tools: &operator::base::tools::Tools,
    endpoint: &str,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    if args.wants("requests") {
        per_outcome(args, endpoint, figures).await?;
    }
    if args.wants("heat") {
        partition_heat(figures);
    }
    if args.wants("core") {
        core(figures)?;
    }
    if args.wants("synth") {
        synth(figures);
    }
    if args.wants("sweep") {
        sweep(args, endpoint, figures).await?;
    }
    if args.wants("audit") {
        audit(endpoint, figures).await?;
    }
    let backlog = if args.wants("backlog") {
        Some(backlog::run(endpoint, figures).await?)
    } else {
        None
    };
    if args.wants("busy") {
        busy(endpoint, figures).await?;
    }
    let sweep_cpu = if args.quick || !args.wants("binaries") {
        None
    } else {
        binaries(tools, endpoint, figures).await?
    };
    if let Some(measured) = backlog {
        figures.push(backlog::derived(&measured, sweep_cpu)?);
    }
    Ok(())
}

async fn per_outcome(args: &Args, endpoint: &str, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let mut holds = vec![0, 1_000];
    if args.full {
        holds.push(100_000);
    }
    let mut at_zero = std::collections::BTreeMap::new();
    for open in holds {
        eprintln!("bench: events on an account with {open} open holds");
        let measured = measure::per_outcome(endpoint, open).await?;
        for ((outcome, warmth), m) in &measured {
            let money = ["grant", "hold", "debit", "refund"].contains(&outcome.as_str());
            if open == 0 {
                let bound = match (warmth, outcome.as_str()) {
                    (&"warm", "conflict") | (&"cold", _) => 2,
                    _ => 1,
                };
                figures.push(
                    figure(
                        "requests",
                        format!("{outcome}, {warmth} instance"),
                        format!("{} ({})", m.requests, m.outcome),
                    )
                    .target(format!("<= {bound}"), m.requests <= bound)
                    .json(json!({"outcome": outcome, "instance": warmth, "requests": m.requests})),
                );
            }
            // Warm: the write alone; cold: the read (a TransactGetItems of
            // the account and the job) before it, which is where RCU go.
            let total = m.units.wcu + m.units.index_wcu;
            let value = format!(
                "{total} WCU ({} table + {} index), {} RCU",
                m.units.wcu, m.units.index_wcu, m.units.rcu
            );
            let mut f = figure(
                "capacity",
                format!("{outcome}, {warmth} instance, at {open} open holds"),
                value,
            )
            .json(
                json!({"outcome": outcome, "instance": warmth, "open_holds": open,
                         "wcu": m.units.wcu, "index_wcu": m.units.index_wcu, "rcu": m.units.rcu}),
            );
            let key = (outcome.clone(), *warmth);
            if open == 0 {
                at_zero.insert(key, total + m.units.rcu);
                if money {
                    f = f.target("<= 10 WCU + 4 RCU", total <= 10 && m.units.rcu <= 4);
                }
            } else if let Some(base) = at_zero.get(&key) {
                let now = total + m.units.rcu;
                let flat = (f64::from(now) - f64::from(*base)).abs() <= f64::from(*base) * 0.1;
                f = f.target(format!("within 10% of {base} units at 0"), flat);
            }
            figures.push(f);
        }
    }
    for (ids, what) in [
        (
            measure::Ids::Longest('x'),
            "256-character ids (1 byte each)",
        ),
        (
            measure::Ids::Longest('😀'),
            "256-character ids (4 bytes each)",
        ),
    ] {
        eprintln!("bench: events with {what}");
        let measured = measure::per_outcome_with(endpoint, 0, ids).await?;
        for ((outcome, warmth), m) in &measured {
            let total = m.units.wcu + m.units.index_wcu;
            figures.push(
                figure(
                    "capacity",
                    format!("{outcome}, {warmth} instance, {what}"),
                    format!(
                        "{total} WCU ({} table + {} index), {} RCU",
                        m.units.wcu, m.units.index_wcu, m.units.rcu
                    ),
                )
                .json(json!({"outcome": outcome, "instance": warmth, "ids": what,
                             "wcu": m.units.wcu, "index_wcu": m.units.index_wcu, "rcu": m.units.rcu})),
            );
        }
    }
    if !args.full {
        figures.push(figure(
            "capacity",
            "any outcome at 100,000 open holds",
            "the same as at 0 (derived: the items an event writes and reads do not grow with \
             open holds; --full measures it)",
        ));
    }

    Ok(())
}

/// The partition-heat model's figures (no emulator: [`heat`]).
fn partition_heat(figures: &mut Vec<Figure>) {
    use heat::{Mix, RCU_PER_KEY, Space, WCU_PER_KEY};
    let mix = Mix::TARGET;
    eprintln!(
        "bench: partition heat, {} events/s for {} s over {} accounts (Zipf s = {})",
        mix.rate, mix.seconds, mix.accounts, mix.zipf
    );
    let heat = heat::model(&mix);
    print_heat(&heat);
    let per_key = format!("<= {WCU_PER_KEY:.0} WCU/s per key");
    let data = json!({"mix": {"rate": mix.rate, "seconds": mix.seconds, "accounts": mix.accounts,
        "zipf": mix.zipf, "seed": mix.seed}, "split": heat.split, "hottest": heat::hottest_lines(&heat, 10),
        "index_kinds": heat::index_kinds(&heat)});
    for (space, what) in [(Space::Index, "index"), (Space::Table, "table")] {
        let (key, wcu) = heat.max_by(space, |l| l.wcu).unwrap_or(("-", 0.0));
        figures.push(
            figure(
                "heat",
                format!("hottest {what} key, WCU/s"),
                format!("{wcu:.0} ({key})"),
            )
            .target(per_key.clone(), wcu <= WCU_PER_KEY)
            .json(data.clone()),
        );
    }
    let (key, rcu) = heat.max_by(Space::Table, |l| l.rcu).unwrap_or(("-", 0.0));
    figures.push(
        figure(
            "heat",
            "hottest key, RCU/s (every event read cold)",
            format!("{rcu:.0} ({key})"),
        )
        .target(
            format!("<= {RCU_PER_KEY:.0} RCU/s per key"),
            rcu <= RCU_PER_KEY,
        ),
    );
    let target = format!(">= {} events/s", mix.rate);
    if let Some((key, ceiling)) = heat.ceiling(mix.rate, Space::Index) {
        figures.push(
            figure(
                "heat",
                "product ceiling: the index's keys (every account shares them)",
                format!("{ceiling:.0} events/s ({key})"),
            )
            .target(target.clone(), ceiling >= f64::from(mix.rate)),
        );
    }
    if let Some((key, ceiling)) = heat.ceiling(mix.rate, Space::Table) {
        figures.push(
            figure(
                "heat",
                "ceiling of this mix: the table's keys (the head account's share)",
                format!("{ceiling:.0} events/s ({key})"),
            )
            .target(target, ceiling >= f64::from(mix.rate)),
        );
    }
    account_ceilings(&heat, figures);
}

/// The model's hottest keys, its index kinds and its split accounts, as
/// text (the figures follow).
fn print_heat(heat: &heat::Heat) {
    println!(
        "\nhottest partition keys (busiest second):\n{}",
        operator::base::ui::table(
            &["SPACE", "PARTITION KEY", "WCU/S", "RCU/S"],
            &heat::hottest_lines(heat, 10)
        )
    );
    for (kind, (keys, key, wcu)) in heat::index_kinds(heat) {
        println!("index {kind}: {keys} partition key(s) written, busiest {key} at {wcu:.0} WCU/s");
    }
    let split: Vec<String> = heat
        .split
        .iter()
        .map(|(a, n)| format!("{a} ({n})"))
        .collect();
    println!(
        "split into cells (past {} events/s each): {}",
        heat::EVENTS_PER_CELL,
        if split.is_empty() {
            "none".into()
        } else {
            split.join(", ")
        }
    );
}

/// How many events per second one account can send before one of its
/// partitions (its item and its entries; a split account's, one per cell)
/// reaches a limit: its events in their busiest second, scaled to the
/// headroom of its busiest key. For the head account of the mix (split,
/// as the operator is told to) and for the busiest account left whole.
fn account_ceilings(heat: &heat::Heat, figures: &mut Vec<Figure>) {
    use heat::{RCU_PER_KEY, Space, WCU_PER_KEY};
    let busiest = |split: bool| {
        heat.account_events
            .iter()
            .filter(|(id, _)| heat.split.contains_key(*id) == split)
            .max_by_key(|(id, n)| (**n, std::cmp::Reverse((*id).clone())))
    };
    for (split, what) in [
        (true, "one split account's ceiling (a key per cell)"),
        (
            false,
            "one whole account's ceiling (its item and entries share a key)",
        ),
    ] {
        let Some((account, events)) = busiest(split) else {
            continue;
        };
        let cells = heat.split.get(account).copied().unwrap_or(1);
        let keys = (0..cells).map(|k| reconciler::store::keys::cell_pk(account, k));
        let loads: Vec<heat::Load> = keys
            .filter_map(|pk| heat.peak.get(&(Space::Table, pk)).copied())
            .collect();
        let headroom = loads
            .iter()
            .map(|l| (WCU_PER_KEY / l.wcu).min(RCU_PER_KEY / l.rcu.max(f64::MIN_POSITIVE)))
            .fold(f64::INFINITY, f64::min);
        let wcu: f64 = loads.iter().map(|l| l.wcu).sum();
        figures.push(figure(
            "heat",
            what,
            format!(
                "{:.0} events/s ({account}: {events} events/s over {cells} cell(s), {:.1} WCU each)",
                f64::from(*events) * headroom,
                wcu / f64::from(*events)
            ),
        ));
    }
}

fn core(figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    eprintln!("bench: the pure core (cargo bench -p reconciler-core)");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["bench", "-p", "reconciler-core", "--bench", "decide", "-q"])
        .current_dir(operator::root())
        .output()
        .context("run cargo bench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let core: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("cargo bench printed no figures")?;
    figures.push(
        figure(
            "core",
            "validate one event (raw bytes to event)",
            format!("{} ns", core["validate_ns"]),
        )
        .json(core.clone()),
    );
    figures.push(figure(
        "core",
        "decide and apply one event (with invariant checks)",
        format!("{} ns", core["decide_ns"]),
    ));
    Ok(())
}

fn synth(figures: &mut Vec<Figure>) {
    for stage in Stage::ALL {
        let runs = 100;
        let started = Instant::now();
        let mut bytes = 0;
        for _ in 0..runs {
            bytes = std::hint::black_box(infra::synth(stage)).len();
        }
        figures.push(
            figure(
                "synth",
                format!("{stage} template"),
                format!("{} ({bytes} bytes)", ms(started.elapsed() / runs)),
            )
            .json(json!({"stage": stage.as_str(), "ms": started.elapsed().as_secs_f64() * 1000.0 / f64::from(runs), "bytes": bytes})),
        );
    }
}

async fn sweep(args: &Args, endpoint: &str, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let mut settled = vec![1_000, 10_000];
    if args.full {
        settled.push(100_000);
    }
    let mut base = None;
    for n in settled {
        eprintln!("bench: the sweep beside {n} settled jobs");
        let (requests, bytes, by_op) = measure::sweep_reads(endpoint, n).await?;
        let base = *base.get_or_insert(requests);
        figures.push(
            figure(
                "sweep",
                format!("reads beside {n} settled jobs (5 stragglers, 3 accounts)"),
                format!("{requests} requests, {bytes} bytes: {by_op:?}"),
            )
            .target(format!("= {base} (as at 1,000)"), requests == base)
            .json(json!({"settled": n, "requests": requests, "bytes": bytes})),
        );
    }

    Ok(())
}

/// Entries in the long window the audit section proves: more than a render
/// farm's ~216,000 in six hours.
const WINDOW: u64 = 250_000;

/// The audit of one account's [`WINDOW`]-entry window by the sweep as prod
/// runs it: each run given the sweep's timeout before its deadline (and
/// keeping its usual reserve), run after run until the account is proven,
/// its memory growth against the sweep's memory.
async fn audit(endpoint: &str, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let prod = infra::StageConfig::load(Stage::Prod).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (timeout, memory_mb) = (
        u64::from(prod.sweep_timeout_seconds),
        u64::from(prod.sweep_memory_mb),
    );
    eprintln!("bench: the audit of a {WINDOW}-entry window, runs of {timeout} s");
    let w = measure::long_window(endpoint, WINDOW, timeout).await?;
    let slowest = w
        .runs
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    let checkpoints: Vec<u64> = w.runs.iter().map(|(seq, _)| *seq).collect();
    let peak_mb = w.peak_growth_bytes / (1024 * 1024);
    let within = w.clean && slowest < Duration::from_secs(timeout) && peak_mb < memory_mb;
    figures.push(
        figure(
            "audit",
            format!("{WINDOW}-entry window, one account ({} jobs)", w.jobs),
            format!(
                "{} runs (slowest {:.0} s of {timeout} s), checkpoints {checkpoints:?}, \
                 memory +{peak_mb} MB at its highest{}",
                w.runs.len(),
                slowest.as_secs_f64(),
                if w.clean {
                    ", proven clean"
                } else {
                    ", NOT proven"
                }
            ),
        )
        .target(
            format!("proven, each run within the sweep's {timeout} s and {memory_mb} MB"),
            within,
        )
        .json(
            json!({"entries": w.entries, "jobs": w.jobs, "runs": w.runs.len(),
                     "checkpoints": checkpoints, "slowest_s": slowest.as_secs_f64(),
                     "peak_growth_mb": peak_mb, "clean": w.clean}),
        ),
    );
    Ok(())
}

async fn busy(endpoint: &str, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    for instances in [1, 4, 16] {
        testkit::emulator::moto::reset(endpoint)?;
        eprintln!("bench: 1,000 events on one account from {instances} instance(s)");
        let busy =
            measure::busy_account(endpoint, instances, 1_000, Duration::from_millis(5)).await?;
        let f = figure(
            "busy",
            format!("1,000 events, one account, {instances} instance(s), 5 ms/request"),
            format!(
                "{:.0} events/s, attempts p50 {} p99 {}, {:.1} requests per event, {} failed",
                busy.per_second,
                busy.attempts_p50,
                busy.attempts_p99,
                busy.requests_per_event,
                busy.failures
            ),
        )
        .json(
            json!({"instances": instances, "per_second": busy.per_second,
                     "attempts_p50": busy.attempts_p50, "attempts_p99": busy.attempts_p99,
                     "requests_per_event": busy.requests_per_event,
                     "failures": busy.failures}),
        );
        figures.push(if instances == 16 {
            f.target("0 failed", busy.failures == 0)
        } else {
            f
        });
    }

    Ok(())
}

/// The release binaries: package sizes, cold starts, a handler burst and a
/// sweep over many stragglers (latency, CPU, peak memory). Returns the
/// release sweep's CPU time per item (a straggler expired or an account
/// audited), if it was measured.
async fn binaries(
    tools: &operator::base::tools::Tools,
    endpoint: &str,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<Option<Duration>> {
    let arch = Architecture::X86_64;
    eprintln!(
        "bench: release build (cargo lambda, {})",
        operator::base::build::arch_dir(arch)
    );
    let built = operator::base::build::ensure_built(tools, arch)?;
    let (hello_zip, hello) = binaries::build_hello(tools, arch)?;
    package_sizes(&built, &hello_zip, arch, figures)?;
    let direct = aws_sdk_dynamodb::Client::new(&testkit::emulator::sdk_config(endpoint).await);
    let table = format!("bench-binary-{:06x}", fastrand::u32(..));
    reconciler::store::schema::create_table(&direct, &table)
        .await
        .map_err(anyhow::Error::msg)?;
    let root = operator::root();
    let handler = operator::base::build::release_binary(&root, arch, "reconciler-handler");
    let sweep = operator::base::build::release_binary(&root, arch, "reconciler-sweep");
    cold_starts(&[&handler, &sweep, &hello], endpoint, &table, figures).await?;
    let prod = infra::StageConfig::load(Stage::Prod).map_err(|e| anyhow::anyhow!("{e}"))?;
    burst_figures(&handler, endpoint, &table, &prod, figures).await?;
    sweep_figures((&handler, &sweep), endpoint, &table, &prod, figures).await
}

/// Each function's zip, beside a bare `lambda_runtime` function's.
fn package_sizes(
    built: &operator::base::build::Built,
    hello_zip: &std::path::Path,
    arch: Architecture,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    for zip in &built.zips {
        let size = std::fs::metadata(&zip.path)?.len();
        figures.push(
            figure(
                "size",
                format!(
                    "{} package (zip, {})",
                    zip.function.bin,
                    operator::base::build::arch_dir(arch)
                ),
                format!("{:.2} MB", size as f64 / 1e6),
            )
            .json(json!({"function": zip.function.bin, "bytes": size})),
        );
    }
    let hello_size = std::fs::metadata(hello_zip)?.len();
    figures.push(figure(
        "size",
        "bare lambda_runtime function (zip)",
        format!("{:.2} MB", hello_size as f64 / 1e6),
    ));
    Ok(())
}

/// A 1,000-event burst through the release handler: latency, CPU per
/// event at prod's share of a vCPU, peak memory.
async fn burst_figures(
    handler: &std::path::Path,
    endpoint: &str,
    table: &str,
    prod: &infra::StageConfig,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let burst = binaries::handler_burst(handler, endpoint, table, 1_000).await?;
    figures.push(
        figure(
            "latency",
            "handler per event against the emulator (release binary, warm)",
            format!("p50 {}, p99 {}", ms(burst.p50), ms(burst.p99)),
        )
        .json(json!({"p50_ms": burst.p50.as_secs_f64() * 1000.0, "p99_ms": burst.p99.as_secs_f64() * 1000.0})),
    );
    if let Some(cpu) = burst.cpu_per_event {
        let share = cpu_share(prod.handler_memory_mb);
        figures.push(
            figure(
                "memory",
                "handler CPU time per event (1,000-event burst)",
                format!(
                    "{:.2} ms of one core; {} at prod's {} MB ({share:.3} of a vCPU)",
                    cpu.as_secs_f64() * 1000.0,
                    ms(cpu.div_f64(share)),
                    prod.handler_memory_mb
                ),
            )
            .json(
                json!({"cpu_ms": cpu.as_secs_f64() * 1000.0, "memory_mb": prod.handler_memory_mb}),
            ),
        );
    }
    peak_figure(
        figures,
        "handler, a 1,000-event burst",
        burst.peak_rss_kib,
        prod.handler_memory_mb,
    );
    Ok(())
}

/// The release sweep over many stragglers within prod's timeout: time, CPU
/// at prod's share of a vCPU, peak memory. Returns its CPU per item.
async fn sweep_figures(
    (handler, sweep): (&std::path::Path, &std::path::Path),
    endpoint: &str,
    table: &str,
    prod: &infra::StageConfig,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<Option<Duration>> {
    let budget = Duration::from_secs(u64::from(prod.sweep_timeout_seconds));
    let run = binaries::sweep_stragglers(
        (handler, sweep),
        endpoint,
        table,
        (SWEEP_STRAGGLERS, 20),
        budget,
    )
    .await?;
    figures.push(
        figure(
            "memory",
            format!("sweep over {SWEEP_STRAGGLERS} stragglers on 20 accounts (then their audit)"),
            format!(
                "{} expired in {:.1} s; CPU {}",
                run.expired,
                run.took.as_secs_f64(),
                run.cpu.map_or_else(
                    || "not measured".to_owned(),
                    |cpu| {
                        let share = cpu_share(prod.sweep_memory_mb);
                        format!(
                            "{:.2} s of one core, {:.1} s at prod's {} MB ({share:.3} of a vCPU)",
                            cpu.as_secs_f64(),
                            cpu.as_secs_f64() / share,
                            prod.sweep_memory_mb
                        )
                    }
                )
            ),
        )
        .target(
            format!("all {SWEEP_STRAGGLERS} within prod's {} s", budget.as_secs()),
            run.expired == SWEEP_STRAGGLERS as u64 && run.took < budget,
        )
        .json(json!({"stragglers": SWEEP_STRAGGLERS, "expired": run.expired, "seconds": run.took.as_secs_f64(),
                     "cpu_s": run.cpu.map(|c| c.as_secs_f64())})),
    );
    peak_figure(
        figures,
        &format!("sweep, {SWEEP_STRAGGLERS} stragglers"),
        run.peak_rss_kib,
        prod.sweep_memory_mb,
    );
    let items = u32::try_from(run.expired + run.audited)
        .unwrap_or(u32::MAX)
        .max(1);
    Ok(run.cpu.map(|cpu| cpu / items))
}

/// Stragglers the memory section's sweep expires.
const SWEEP_STRAGGLERS: usize = 2_000;

/// The configured memory must be at least this many times the measured peak.
const MEMORY_HEADROOM: u64 = 2;

/// The share of a vCPU Lambda gives a function of `memory_mb` (one full
/// vCPU at 1,769 MB, in proportion below).
fn cpu_share(memory_mb: u32) -> f64 {
    (f64::from(memory_mb) / 1769.0).min(1.0)
}

/// A function's peak resident set beside its prod memory and the headroom.
fn peak_figure(figures: &mut Vec<Figure>, what: &str, peak_kib: Option<u64>, memory_mb: u32) {
    let Some(peak_kib) = peak_kib else {
        figures.push(figure(
            "memory",
            format!("{what}: peak RSS"),
            "not measured (no /proc)",
        ));
        return;
    };
    let peak_mb = peak_kib.div_ceil(1024);
    figures.push(
        figure(
            "memory",
            format!("{what}: peak RSS"),
            format!("{peak_mb} MB"),
        )
        .target(
            format!("x{MEMORY_HEADROOM} <= prod's {memory_mb} MB"),
            peak_mb * MEMORY_HEADROOM <= u64::from(memory_mb),
        )
        .json(json!({"what": what, "peak_rss_kib": peak_kib, "memory_mb": memory_mb})),
    );
}

/// The cold start figures: each binary's time to its first poll, the
/// reconciler's beside the bare function (the ratio's target), and where
/// the reconciler's time goes.
async fn cold_starts(
    binaries: &[&std::path::Path; 3],
    endpoint: &str,
    table: &str,
    figures: &mut Vec<Figure>,
) -> anyhow::Result<()> {
    let measured = binaries::cold_starts(binaries, endpoint, table, 15).await?;
    let bare = &measured[2];
    figures.push(
        figure(
            "cold start",
            format!("{} (process start to first poll)", binaries::HELLO),
            ms(bare.total),
        )
        .json(json!({"binary": binaries::HELLO, "ms": bare.total.as_secs_f64() * 1000.0})),
    );
    for (name, cold) in ["reconciler-handler", "reconciler-sweep"]
        .iter()
        .zip(&measured)
    {
        let ratio = cold.total.as_secs_f64() / bare.total.as_secs_f64().max(1e-9);
        figures.push(
            figure(
                "cold start",
                format!("{name} (process start to first poll)"),
                format!("{} = {ratio:.1}x the bare function", ms(cold.total)),
            )
            .target(
                format!("<= {COLD_START_RATIO:.0}x the bare function"),
                ratio <= COLD_START_RATIO,
            )
            .json(json!({"binary": name, "ms": cold.total.as_secs_f64() * 1000.0, "ratio": ratio})),
        );
        let steps: Vec<String> = cold
            .steps
            .iter()
            .map(|(step, took)| format!("{step} {:.2}", took.as_secs_f64() * 1000.0))
            .collect();
        figures.push(figure(
            "cold start",
            format!("{name}: where the time goes (ms)"),
            format!(
                "{}; process, runtime and first poll {:.2} (the bare function's whole start: {:.2})",
                steps.join(", "),
                cold.outside_steps().as_secs_f64() * 1000.0,
                bare.total.as_secs_f64() * 1000.0
            ),
        ));
    }
    let first = binaries::first_replies(&[binaries[0], binaries[2]], endpoint, table, 7).await?;
    let steps: Vec<String> = first[0]
        .steps
        .iter()
        .map(|(step, took)| format!("{step} {:.2}", took.as_secs_f64() * 1000.0))
        .collect();
    figures.push(
        figure(
            "cold start",
            "reconciler-handler, a cold instance's first event (process start to reply)",
            format!(
                "{} (of which built on first use, ms: {}; the bare function's {}: it answers \
                 without a request)",
                ms(first[0].total),
                steps.join(", "),
                ms(first[1].total)
            ),
        )
        .json(json!({"ms": first[0].total.as_secs_f64() * 1000.0,
                     "bare_ms": first[1].total.as_secs_f64() * 1000.0})),
    );
    Ok(())
}

/// A function's cold start may take at most this many times the bare
/// function's, measured in the same run.
const COLD_START_RATIO: f64 = 3.0;
