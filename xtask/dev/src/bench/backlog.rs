//! The sweep against a backlog: measured on the emulator as far as it goes
//! (400 stragglers among 400 and 4,000 open jobs on 200 accounts),
//! then derived for the scale the product is built for — 1,000,000 open
//! jobs of which 100,000 are stragglers, and 100,000 touched accounts —
//! from the measured per-item costs (requests, capacity units) and one
//! stated assumption, DynamoDB's time per request ([`AWS_REQUEST_MS`]).
//!
//! The emulator cannot be timed for AWS, nor filled to scale: it is a
//! Python process, every index query of it scans the whole table, and
//! every transaction copies the whole table first (its rollback), once per
//! item — a sweep over 2,000 stragglers of a 6,000-item table takes it
//! minutes. So times at scale are derived; requests and capacity per item
//! are what the code sends, and are measured.

use std::time::Duration;

use reconciler::store::open::{OPEN_PAGE_ITEMS, OPEN_READ_CONCURRENCY, Open};
use reconciler::sweep::Margin;
use serde_json::json;
use testkit::measure::{self, Backlog};

use super::{Figure, figure};

/// An assumption, not a measurement: DynamoDB's time per request from a
/// Lambda in its region. AWS states single-digit milliseconds for reads and
/// writes (<https://aws.amazon.com/dynamodb/features/>); a transaction
/// does two rounds inside DynamoDB. 10 ms for every request rounds up.
const AWS_REQUEST_MS: f64 = 10.0;

/// The scale of the target.
const TARGET_STRAGGLERS: f64 = 100_000.0;
const TARGET_ACCOUNTS: f64 = 100_000.0;

/// The measured backlog: stragglers, and the accounts they are spread over.
const STRAGGLERS: usize = 400;
const ACCOUNTS: usize = 200;

/// The measured runs; returns the one the target's scale is derived from
/// ([`derived`], once the release sweep's CPU is known).
pub(super) async fn run(endpoint: &str, figures: &mut Vec<Figure>) -> anyhow::Result<Backlog> {
    let lanes = reconciler::sweep::SWEEP_LANES;
    let mut measured = Vec::new();
    for (open, lanes) in [
        (STRAGGLERS, 1),
        (STRAGGLERS, lanes),
        (10 * STRAGGLERS, lanes),
    ] {
        eprintln!(
            "bench: a sweep over {STRAGGLERS} stragglers among {open} open jobs, {lanes} lane(s)"
        );
        let b = measure::backlog(endpoint, (open, STRAGGLERS, ACCOUNTS), lanes).await?;
        anyhow::ensure!(
            b.complete && b.expired == STRAGGLERS as u64 && b.audited == ACCOUNTS as u64,
            "the sweep did not finish the backlog: {b:?}"
        );
        figures.push(measured_figure(&b));
        measured.push(b);
    }
    let big = measured.pop().expect("three runs");
    let small = measured.pop().expect("three runs");
    let per = |b: &Backlog| b.straggler_phase.requests as f64 / b.stragglers as f64;
    figures.push(
        figure(
            "backlog",
            format!(
                "straggler phase: requests per straggler, {STRAGGLERS} vs {} open jobs",
                10 * STRAGGLERS
            ),
            format!("{:.3} vs {:.3}", per(&small), per(&big)),
        )
        .target(
            "equal (fresh holds are never read)",
            small.straggler_phase.requests == big.straggler_phase.requests,
        ),
    );
    Ok(big)
}

fn measured_figure(b: &Backlog) -> Figure {
    figure(
        "backlog",
        format!(
            "measured: {} stragglers among {} open jobs, {} accounts, {} lane(s)",
            b.stragglers, b.open, b.accounts, b.lanes
        ),
        format!(
            "{:.1} s on the emulator; stragglers {} requests {:?} ({} WCU, {} RCU); \
             audit {} requests {:?} ({} WCU, {} RCU); memory +{} MB",
            b.took.as_secs_f64(),
            b.straggler_phase.requests,
            b.straggler_phase.by_operation,
            b.straggler_phase.units.wcu,
            b.straggler_phase.units.rcu,
            b.audit_phase.requests,
            b.audit_phase.by_operation,
            b.audit_phase.units.wcu,
            b.audit_phase.units.rcu,
            b.peak_growth_bytes / (1024 * 1024)
        ),
    )
    .json(
        json!({"open": b.open, "stragglers": b.stragglers, "accounts": b.accounts,
                 "lanes": b.lanes, "seconds": b.took.as_secs_f64(),
                 "straggler_requests": b.straggler_phase.requests,
                 "straggler_wcu": b.straggler_phase.units.wcu,
                 "straggler_rcu": b.straggler_phase.units.rcu,
                 "audit_requests": b.audit_phase.requests,
                 "audit_wcu": b.audit_phase.units.wcu, "audit_rcu": b.audit_phase.units.rcu,
                 "peak_growth_bytes": b.peak_growth_bytes}),
    )
}

/// What a measured run's costs per item make of the target's scale.
#[derive(Debug, Clone, Copy, PartialEq)]
struct AtScale {
    /// Seconds the straggler phase and the audit phase wait on DynamoDB.
    stragglers_s: f64,
    audit_s: f64,
    /// Seconds of CPU both phases take at the function's share of a vCPU.
    cpu_s: f64,
    /// Runs of the sweep it takes, each stopping at its budget.
    runs: u32,
    /// Write units per second the sweep puts on the table meanwhile.
    wcu_per_s: f64,
}

/// How a sweep runs: lanes, usable seconds per run, CPU per item (a
/// straggler or an account) at its share of a vCPU.
#[derive(Debug, Clone, Copy)]
struct Runs {
    lanes: usize,
    usable_s: f64,
    cpu_per_item_s: f64,
}

/// Per-item costs of a measured run, at [`TARGET_STRAGGLERS`] and
/// [`TARGET_ACCOUNTS`] (pure: unit-tested). A run's time is the larger of
/// its waits on DynamoDB (spread over the lanes) and its CPU: the lanes
/// wait while the CPU works, so the two overlap.
fn at_scale(b: &Backlog, r: Runs) -> AtScale {
    let lanes = r.lanes.max(1) as f64;
    let queries = *b.straggler_phase.by_operation.get("Query").unwrap_or(&0) as f64;
    // Expiry requests per straggler: the phase without its index pages.
    let expiry = (b.straggler_phase.requests as f64 - queries) / b.stragglers as f64;
    // The first page of every partition of the kind, a few at a time, then
    // one page per page's worth of stragglers.
    let first_pages = Open::HeldBefore(0).partitions().len() as f64;
    let pages =
        first_pages / OPEN_READ_CONCURRENCY as f64 + TARGET_STRAGGLERS / f64::from(OPEN_PAGE_ITEMS);
    let stragglers_s = (pages + TARGET_STRAGGLERS * expiry / lanes) * AWS_REQUEST_MS / 1000.0;
    let per_account = b.audit_phase.requests as f64 / b.accounts as f64;
    let audit_s = TARGET_ACCOUNTS * per_account / lanes * AWS_REQUEST_MS / 1000.0;
    let cpu_s = (TARGET_STRAGGLERS + TARGET_ACCOUNTS) * r.cpu_per_item_s;
    let wcu_per_straggler = f64::from(b.straggler_phase.units.wcu) / b.stragglers as f64;
    let per_straggler_s = expiry * AWS_REQUEST_MS / 1000.0;
    AtScale {
        stragglers_s,
        audit_s,
        cpu_s,
        runs: ((stragglers_s + audit_s).max(cpu_s) / r.usable_s)
            .ceil()
            .max(1.0) as u32,
        wcu_per_s: lanes * wcu_per_straggler / per_straggler_s,
    }
}

/// The usable seconds of a run of `timeout_s`: what the sweep's reserve
/// (`Margin::default`) leaves.
fn usable(timeout_s: u32) -> f64 {
    let total = Duration::from_secs(u64::from(timeout_s));
    total
        .saturating_sub(Margin::default().reserve(total))
        .as_secs_f64()
}

/// The target's scale on prod's sweep, from `b` and the release sweep's CPU
/// per item on one core (the `binaries` section), if measured.
pub(super) fn derived(b: &Backlog, cpu_per_item: Option<Duration>) -> anyhow::Result<Figure> {
    let prod = infra::StageConfig::load(infra::Stage::Prod).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (timeout_s, memory_mb) = (prod.sweep_timeout_seconds, prod.sweep_memory_mb);
    let share = super::cpu_share(memory_mb);
    let runs = Runs {
        lanes: b.lanes,
        usable_s: usable(timeout_s),
        cpu_per_item_s: cpu_per_item.map_or(0.0, |c| c.as_secs_f64() / share),
    };
    let s = at_scale(b, runs);
    let one = at_scale(b, Runs { lanes: 1, ..runs });
    let cpu = match cpu_per_item {
        Some(c) => format!(
            "CPU {:.0} s at {memory_mb} MB's {share:.2} vCPU ({:.2} ms an item on one core)",
            s.cpu_s,
            c.as_secs_f64() * 1000.0
        ),
        None => "CPU not measured (the binaries section measures it)".to_owned(),
    };
    Ok(figure(
        "backlog",
        format!(
            "derived: 100,000 stragglers among 1,000,000 open jobs, 100,000 touched accounts, \
             {} lanes, at {AWS_REQUEST_MS} ms per request",
            b.lanes
        ),
        format!(
            "waits: stragglers {:.0} s + audit {:.0} s; {cpu}: {} run(s) of prod's {timeout_s} s \
             ({:.0} s usable; one lane: {} runs); {:.0} WCU/s on the table meanwhile",
            s.stragglers_s, s.audit_s, s.runs, runs.usable_s, one.runs, s.wcu_per_s
        ),
    )
    .target("one run", cpu_per_item.is_some() && s.runs == 1)
    .json(
        json!({"stragglers_s": s.stragglers_s, "audit_s": s.audit_s, "cpu_s": s.cpu_s,
                 "runs": s.runs, "runs_one_lane": one.runs, "wcu_per_s": s.wcu_per_s,
                 "request_ms": AWS_REQUEST_MS, "usable_s": runs.usable_s}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use testkit::measure::{PhaseCost, Units};

    fn phase(requests: usize, queries: usize, wcu: u32) -> PhaseCost {
        PhaseCost {
            requests,
            by_operation: BTreeMap::from([("Query".to_owned(), queries)]),
            units: Units {
                wcu,
                ..Units::default()
            },
        }
    }

    /// 1,000 stragglers in 2,100 requests of which 100 index pages: two
    /// requests per expiry; 500 accounts audited in 2,000 requests: four
    /// each. At 100,000 of each and 10 ms a request, 16 lanes: the
    /// stragglers take (33/8 + 1,000 + 100,000·2/16)·10 ms = 135.04 s, the
    /// audit 100,000·4/16·10 ms = 250 s: two runs of 255 s usable; 8 WCU a
    /// straggler at 16 lanes of one per 20 ms: 6,400 WCU/s.
    #[test]
    fn per_item_costs_scale_to_the_target() {
        let b = Backlog {
            open: 10_000,
            stragglers: 1_000,
            accounts: 500,
            lanes: 16,
            expired: 1_000,
            audited: 500,
            complete: true,
            straggler_phase: phase(2_100, 100, 8_000),
            audit_phase: phase(2_000, 5, 0),
            took: Duration::ZERO,
            peak_growth_bytes: 0,
        };
        let r = Runs {
            lanes: 16,
            usable_s: 255.0,
            cpu_per_item_s: 0.0,
        };
        let s = at_scale(&b, r);
        assert!((s.stragglers_s - 135.041_25).abs() < 1e-6, "{s:?}");
        assert!((s.audit_s - 250.0).abs() < 1e-9, "{s:?}");
        assert_eq!(s.runs, 2);
        assert!((s.wcu_per_s - 6_400.0).abs() < 1e-6, "{s:?}");
        assert_eq!(at_scale(&b, Runs { lanes: 1, ..r }).runs, 24);
        // 2.7 ms of CPU an item: 200,000 items take 540 s, more than the
        // waits: three runs.
        let cpu_bound = at_scale(
            &b,
            Runs {
                cpu_per_item_s: 0.0027,
                ..r
            },
        );
        assert!((cpu_bound.cpu_s - 540.0).abs() < 1e-6, "{cpu_bound:?}");
        assert_eq!(cpu_bound.runs, 3);
    }

    #[test]
    fn a_run_keeps_ten_seconds_or_fifteen_percent() {
        assert_eq!(usable(300), 255.0);
        assert_eq!(usable(900), 765.0);
        assert_eq!(usable(60), 50.0);
    }
}
