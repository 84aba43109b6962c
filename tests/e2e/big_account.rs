//! A business account with 20,000 open holds (a render farm) keeps
//! answering, at the cost and in the requests of an empty one: the account
//! item does not grow with its open jobs (see ARCHITECTURE.md, "The ledger's
//! items"). The same measurement as `cargo xtask bench` (which also runs it
//! at 100,000 with `--full`), with the figures asserted.

use testkit::measure::per_outcome;

#[tokio::test]
async fn an_account_with_20000_open_holds_costs_what_an_empty_one_does() {
    let endpoint = testkit::emulator::moto::shared_endpoint();
    let empty = per_outcome(endpoint, 0).await.expect("an empty account");
    let big = per_outcome(endpoint, 20_000)
        .await
        .expect("an account with 20,000 open holds");
    assert_eq!(
        empty.keys().collect::<Vec<_>>(),
        big.keys().collect::<Vec<_>>()
    );
    for (key, small) in &empty {
        let (outcome, warmth) = key;
        let large = &big[key];
        println!(
            "{outcome:>9} {warmth}: {} requests, {:?} (empty: {} requests, {:?})",
            large.requests, large.units, small.requests, small.units
        );
        assert_eq!(large.outcome, small.outcome, "{key:?}");
        // Requests: at most 2 per event; 1 on a warm instance, which knows
        // the account (money moving, a rejection, a duplicate: its guarded
        // write, committed or cancelled, answers); 2 for a conflict (read
        // before it is recorded).
        let most = if *warmth == "warm" && outcome != "conflict" {
            1
        } else {
            2
        };
        assert!(
            large.requests <= most,
            "{key:?}: {} requests",
            large.requests
        );
        assert_eq!(large.requests, small.requests, "{key:?}");
        // Capacity: flat (within 10 %), and within the target.
        let flat = |a: u32, b: u32| a.abs_diff(b) * 10 <= b.max(1);
        assert!(
            flat(large.units.wcu, small.units.wcu),
            "{key:?}: {:?} vs {:?}",
            large.units,
            small.units
        );
        assert!(
            flat(large.units.rcu, small.units.rcu),
            "{key:?}: {:?} vs {:?}",
            large.units,
            small.units
        );
        assert!(
            large.units.wcu + large.units.index_wcu <= 10,
            "{key:?}: {:?}",
            large.units
        );
        assert!(large.units.rcu <= 4, "{key:?}: {:?}", large.units);
    }
}
