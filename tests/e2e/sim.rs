//! The simulator (`testkit::sim`) on a bounded number of seeds: random
//! histories through concurrent handler instances and sweeps, under
//! DynamoDB's real semantics and random faults, checked against the
//! invariants, the truth of every response, and the oracle. Seeds 1..=N
//! (`SIM_SEEDS`, default `testkit::sim::CI_SEEDS`), each under its
//! conditions (`Size::ci`: the SDK's retries on or off, holds settled or
//! left open); `cargo xtask simulate` runs more.

#[tokio::test]
async fn random_histories_under_faults_keep_every_promise() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::from(testkit::sim::CI_SEEDS));
    let (mut conflicts, mut token_replayed) = (0, 0);
    for seed in 1..=seeds {
        let size = testkit::sim::Size::ci(seed);
        let report = testkit::sim::run(testkit::emulator::moto::shared_endpoint(), seed, size)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        println!("{}", testkit::sim::describe(&report));
        assert!(
            report.invocations >= report.events,
            "every event was delivered"
        );
        assert!(
            report.crashed > 0 && report.failed_loudly >= report.crashed,
            "seed {seed}: invocations failed and were redelivered: {}",
            testkit::sim::describe(&report)
        );
        if size.holds_open {
            assert!(
                report.open_holds > 0,
                "seed {seed}: holds stayed open, so invariant 2 was checked with them"
            );
        }
        let faults = &report.faults;
        assert!(
            faults.get("throttled").copied().unwrap_or(0) > 0
                && faults.get("lost").copied().unwrap_or(0) > 0,
            "seed {seed}: the run met faults: {faults:?}"
        );
        conflicts += faults.get("conflict").copied().unwrap_or(0);
        token_replayed += faults.get("token-replayed").copied().unwrap_or(0);
        assert!(
            report.outcomes.get("conflict").copied().unwrap_or(0) > 0,
            "seed {seed}: conflicting payloads were delivered: {:?}",
            report.outcomes
        );
    }
    if seeds >= u64::from(testkit::sim::CI_SEEDS) {
        assert!(conflicts > 0, "transactions met DynamoDB's conflicts");
        assert!(
            token_replayed > 0,
            "resends after lost answers met DynamoDB's token idempotency"
        );
    }
}

/// One seed at the scale of a real burst: thousands of events through eight
/// concurrent instances and three sweeps, the same checks.
#[tokio::test]
async fn a_history_of_thousands_of_events_keeps_every_promise() {
    let report = testkit::sim::run(
        testkit::emulator::moto::shared_endpoint(),
        1_000,
        testkit::sim::Size::THOUSANDS,
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}"));
    println!("{}", testkit::sim::describe(&report));
    assert!(report.events >= 2_000, "{} events", report.events);
    assert!(report.invocations >= report.events);
    let faults = &report.faults;
    for fault in ["throttled", "lost", "conflict", "token-replayed"] {
        assert!(
            faults.get(fault).copied().unwrap_or(0) > 0,
            "the run met {fault}: {faults:?}"
        );
    }
}
