//! The simulator (`xtask::sim`) on a bounded number of seeds: random
//! histories through concurrent handler instances and sweeps, under
//! DynamoDB's real semantics and random faults, checked against the
//! invariants, the truth of every response, and the oracle. Seeds 1..=N
//! (`SIM_SEEDS`, default `xtask::sim::CI_SEEDS`); `cargo xtask simulate`
//! runs more.

#[tokio::test]
async fn random_histories_under_faults_keep_every_promise() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::from(xtask::sim::CI_SEEDS));
    let mut token_replayed = 0;
    for seed in 1..=seeds {
        let report = xtask::sim::run(
            xtask::emulator::moto::shared_endpoint(),
            seed,
            xtask::sim::Size::CI,
        )
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
        println!("{}", xtask::sim::describe(&report));
        assert!(
            report.invocations >= report.events,
            "every event was delivered"
        );
        let faults = &report.faults;
        assert!(
            faults.get("throttled").copied().unwrap_or(0) > 0
                && faults.get("lost").copied().unwrap_or(0) > 0,
            "seed {seed}: the run met faults: {faults:?}"
        );
        assert!(
            faults.get("conflict").copied().unwrap_or(0) > 0,
            "seed {seed}: transactions met DynamoDB's conflicts: {faults:?}"
        );
        token_replayed += faults.get("token-replayed").copied().unwrap_or(0);
        assert!(
            report.outcomes.get("conflict").copied().unwrap_or(0) > 0,
            "seed {seed}: conflicting payloads were delivered: {:?}",
            report.outcomes
        );
    }
    assert!(
        token_replayed > 0 || seeds < u64::from(xtask::sim::CI_SEEDS),
        "resends after lost answers met DynamoDB's token idempotency"
    );
}
