//! CPU time of the pure core per event (`cargo bench -p reconciler-core`;
//! `cargo xtask bench` runs it and reads its last line, JSON). A figure,
//! not a test: machines differ.

use std::hint::black_box;
use std::time::Instant;

use reconciler_core::event::{Event, parse_envelope_bytes};
use reconciler_core::ledger::Meta;
use reconciler_core::memory::MemoryLedger;

// The bench (not the core) reads a clock.
#[allow(clippy::disallowed_methods)]
fn main() {
    let events: Vec<Event> = (0..10_000)
        .flat_map(|n| {
            let account = format!("acct-{}", n % 50);
            let job = format!("job-{n:06}");
            [
                Event::Granted {
                    grant_id: format!("grant-{n}"),
                    account_id: account.clone(),
                    credits: 100,
                },
                Event::Requested {
                    job_id: job.clone(),
                    account_id: account.clone(),
                    credits: 30,
                },
                Event::Rendered {
                    job_id: job,
                    account_id: account,
                    credits: 25,
                },
            ]
        })
        .collect();
    let raw: Vec<Vec<u8>> = events
        .iter()
        .map(|e| {
            serde_json::json!({"id": "e", "detail-type": e.detail_type(), "detail": e.to_detail()})
                .to_string()
                .into_bytes()
        })
        .collect();
    let meta = Meta {
        event_id: "bench".into(),
        at_ms: 1,
    };
    // Warm up, then measure: validation from raw bytes, and the decision
    // with its invariant checks (applied to an in-memory ledger).
    let mut best_parse = f64::MAX;
    let mut best_decide = f64::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        for bytes in &raw {
            black_box(parse_envelope_bytes(black_box(bytes)).ok());
        }
        best_parse = best_parse.min(started.elapsed().as_nanos() as f64 / raw.len() as f64);
        let mut ledger = MemoryLedger::default();
        let started = Instant::now();
        for event in &events {
            black_box(ledger.apply(black_box(event), &meta).ok());
        }
        best_decide = best_decide.min(started.elapsed().as_nanos() as f64 / events.len() as f64);
    }
    println!("validate: {best_parse:.0} ns/event, decide and apply: {best_decide:.0} ns/event");
    println!(
        "{}",
        serde_json::json!({"validate_ns": best_parse.round(), "decide_ns": best_decide.round()})
    );
}
