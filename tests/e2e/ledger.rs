//! The DynamoDB adapter against a real moto server: every outcome, the cost in
//! requests, lost responses, throttling, contention, invalid input.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::Client;
use reconciler::handler::Handler;
use reconciler::store::{Applied, Ledger};
use reconciler_core::audit::{Balances, audit};
use reconciler_core::event::Event;
use reconciler_core::ledger::{Entry, JobStatus, Outcome};
use reconciler_core::memory::MemoryLedger;
use testkit::capture::Capture;
use testkit::emulator::proxy::{Fault, FaultProxy};
use testkit::events::*;

struct Env {
    client: Client,
    table: String,
    counter: Capture,
}

impl Env {
    async fn new(label: &str) -> Env {
        Self::at(testkit::emulator::moto::shared_endpoint(), label, None).await
    }

    async fn at(endpoint: &str, label: &str, table: Option<String>) -> Env {
        let counter = Capture::default();
        let sdk = testkit::emulator::sdk_config(endpoint).await;
        let conf = aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(counter.clone())
            .build();
        let client = Client::from_conf(conf);
        let table = match table {
            Some(t) => t,
            None => testkit::fresh_table(&client, label).await,
        };
        counter.take();
        Env {
            client,
            table,
            counter,
        }
    }

    /// A new Lambda instance: nothing cached.
    fn instance(&self) -> Ledger {
        Ledger::new(self.client.clone(), self.table.clone())
    }

    async fn item_count(&self) -> usize {
        let out = self
            .client
            .scan()
            .table_name(&self.table)
            .send()
            .await
            .unwrap();
        out.items().len()
    }

    /// The account's ledger entries, in order.
    async fn entries(&self, account: &str) -> Vec<Entry> {
        self.instance()
            .entries_between(account, 0, 1, u64::MAX, None)
            .await
            .unwrap()
    }

    /// Invariants 1 and 3 on the real table (the core's audit): the entries,
    /// numbered without gaps, sum to the stored balances, which are the ones
    /// the last command answered.
    async fn assert_no_drift(&self, account: &str, applied: &Applied) {
        let entries = self.entries(account).await;
        let stored = self.instance().account(account, 0).await.unwrap().unwrap();
        assert_eq!(stored, applied.account, "the answer is what was stored");
        assert_eq!(
            audit(&stored, Balances::default(), &entries),
            None,
            "ledger of {account} drifts from its balances"
        );
    }
}

#[tokio::test]
async fn every_outcome_through_the_real_adapter() {
    let env = Env::new("outcomes").await;
    let ledger = env.instance();
    type Step = (Event, Outcome, (i64, i64), Option<JobStatus>);
    let steps: Vec<Step> = vec![
        (grant("g1", "a1", 100), Outcome::Granted, (100, 0), None),
        (grant("g1", "a1", 100), Outcome::Duplicate, (100, 0), None),
        (grant("g1", "a1", 90), Outcome::Conflict, (100, 0), None),
        (
            req("j1", "a1", 30),
            Outcome::Held,
            (70, 30),
            Some(JobStatus::Held),
        ),
        (
            req("j1", "a1", 30),
            Outcome::Duplicate,
            (70, 30),
            Some(JobStatus::Held),
        ),
        (
            req("j1", "a1", 31),
            Outcome::Conflict,
            (70, 30),
            Some(JobStatus::Held),
        ),
        (
            rendered("j1", "a1", 25),
            Outcome::Debited,
            (75, 0),
            Some(JobStatus::Debited),
        ),
        (
            rendered("j1", "a1", 25),
            Outcome::Duplicate,
            (75, 0),
            Some(JobStatus::Debited),
        ),
        (
            failed("j1", "a1"),
            Outcome::Conflict,
            (75, 0),
            Some(JobStatus::Debited),
        ),
        (
            req("j2", "a1", 500),
            Outcome::Rejected,
            (75, 0),
            Some(JobStatus::Rejected),
        ),
        (
            rendered("j2", "a1", 80),
            Outcome::Debited,
            (-5, 0),
            Some(JobStatus::Debited),
        ),
        (grant("g2", "a1", 50), Outcome::Granted, (45, 0), None),
        (
            req("j3", "a1", 40),
            Outcome::Held,
            (5, 40),
            Some(JobStatus::Held),
        ),
        (
            failed("j3", "a1"),
            Outcome::Refunded,
            (45, 0),
            Some(JobStatus::Refunded),
        ),
        (
            failed("j3", "a1"),
            Outcome::Duplicate,
            (45, 0),
            Some(JobStatus::Refunded),
        ),
        (
            failed("j4", "a1"),
            Outcome::Refunded,
            (45, 0),
            Some(JobStatus::Refunded),
        ),
        (
            req("j4", "a1", 10),
            Outcome::Duplicate,
            (45, 0),
            Some(JobStatus::Refunded),
        ),
        (
            rendered("j4", "a1", 10),
            Outcome::Conflict,
            (45, 0),
            Some(JobStatus::Refunded),
        ),
        (
            req("j5", "a1", 5),
            Outcome::Held,
            (40, 5),
            Some(JobStatus::Held),
        ),
        (
            rendered("j5", "a2", 5),
            Outcome::Conflict,
            (0, 0),
            Some(JobStatus::Held),
        ),
    ];
    let mut model = MemoryLedger::default();
    for (n, (event, outcome, balances, status)) in steps.into_iter().enumerate() {
        let applied = ledger.apply(&event, &format!("evt-{n}")).await.unwrap();
        assert_eq!(applied.outcome, outcome, "step {n}: {event:?}");
        assert_eq!(
            (applied.account.available, applied.account.held),
            balances,
            "step {n}: {event:?}"
        );
        assert_eq!(applied.job.as_ref().map(|j| j.1), status, "step {n}");
        let expected = model
            .apply(
                &event,
                &reconciler_core::ledger::Meta {
                    event_id: String::new(),
                    at_ms: 0,
                },
            )
            .unwrap();
        assert_eq!(
            applied.outcome, expected,
            "adapter and model agree at step {n}"
        );
        if event.account_id() == "a1" {
            env.assert_no_drift("a1", &applied).await;
        }
    }
    let entries = env.entries("a1").await;
    assert_eq!(
        entries.len(),
        model.entries.len(),
        "one entry per money movement"
    );
    let last = entries.last().unwrap();
    assert_eq!((last.available_after, last.held_after), (40, 5));
    assert_eq!(last.kind.as_str(), "hold");
    assert_eq!(last.event_id, "evt-18");
}

/// The cost table of ARCHITECTURE.md ("One transaction per event"), counted
/// by an SDK interceptor: one request where the instance knows the state
/// the event needs, two otherwise, never more without contention.
#[tokio::test]
async fn one_request_when_the_instance_knows_two_otherwise() {
    let env = Env::new("cost").await;
    let ledger = env.instance();
    // A cold instance reads first: a wrong guess would cost a cancelled write.
    let first = ledger.apply(&grant("g1", "a1", 100), "e").await.unwrap();
    assert_eq!((env.counter.take().len(), first.requests), (2, 2));
    // Warm: the account it wrote, the jobs it holds for.
    let warm = [
        grant("g2", "a1", 5),
        req("j1", "a1", 30),
        rendered("j1", "a1", 30),
        req("j2", "a1", 20),
        failed("j2", "a1"),
        req("j3", "a1", 10),
        rendered("j3", "a1", 12),
        req("j9", "a1", 500),
    ];
    for event in &warm {
        let applied = ledger.apply(event, "e").await.unwrap();
        assert_eq!(
            env.counter.take().len(),
            1,
            "{event:?} ({})",
            applied.outcome
        );
        assert_eq!(applied.requests, 1);
    }
    // A job another instance held: this one reads it, then commits.
    let other = env.instance();
    other.apply(&req("j4", "a1", 10), "e").await.unwrap();
    env.counter.take().len();
    let a = ledger.apply(&rendered("j4", "a1", 10), "e").await.unwrap();
    assert_eq!(a.outcome, Outcome::Debited);
    assert_eq!(env.counter.take().len(), 2);

    // A duplicate: at most two requests, and nothing written.
    let items = env.item_count().await;
    env.counter.take().len();
    for event in warm.iter().chain([&grant("g1", "a1", 100)]) {
        let a = ledger.apply(event, "e").await.unwrap();
        assert_eq!(a.outcome, Outcome::Duplicate, "{event:?}");
        assert!(env.counter.take().len() <= 2, "{event:?}");
    }
    assert_eq!(env.item_count().await, items, "duplicates write nothing");

    // A cold instance: two requests for its first event on an account, one after.
    let cold = env.instance();
    env.counter.take().len();
    cold.apply(&grant("g3", "a1", 1), "e").await.unwrap();
    assert_eq!(env.counter.take().len(), 2);
    cold.apply(&grant("g4", "a1", 1), "e").await.unwrap();
    assert_eq!(env.counter.take().len(), 1);
}

#[tokio::test]
async fn a_lost_response_changes_nothing() {
    let moto = testkit::emulator::moto::shared_endpoint();
    let proxy = FaultProxy::start(moto).await;
    let direct = Env::new("lost").await;
    let env = Env::at(&proxy.endpoint, "lost", Some(direct.table.clone())).await;
    let ledger = env.instance();
    ledger.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    for event in [
        grant("g1", "a1", 10),
        req("j1", "a1", 30),
        rendered("j1", "a1", 30),
    ] {
        proxy.inject("TransactWriteItems", &[Fault::LoseResponse]);
        let applied = ledger.apply(&event, "e1").await.unwrap();
        assert_eq!(proxy.pending(), 0, "the fault was used");
        assert!(
            matches!(
                applied.outcome,
                Outcome::Granted | Outcome::Held | Outcome::Debited | Outcome::Duplicate
            ),
            "{event:?}: {}",
            applied.outcome
        );
    }
    let cold = direct.instance();
    let now = cold.apply(&grant("g0", "a1", 100), "e").await.unwrap();
    assert_eq!(
        (now.account.available, now.account.held),
        (80, 0),
        "each event applied once"
    );
    direct.assert_no_drift("a1", &now).await;
    assert_eq!(
        direct.entries("a1").await.len(),
        4,
        "grant, grant, hold, debit"
    );
}

#[tokio::test]
async fn a_throttled_request_is_retried() {
    let moto = testkit::emulator::moto::shared_endpoint();
    let proxy = FaultProxy::start(moto).await;
    let direct = Env::new("throttle").await;
    let env = Env::at(&proxy.endpoint, "throttle", Some(direct.table.clone())).await;
    let ledger = env.instance();
    // Warm the instance: the next event is one transaction.
    ledger.apply(&grant("g0", "a1", 1), "e").await.unwrap();
    env.counter.take().len();
    proxy.inject("TransactWriteItems", &[Fault::Throttle, Fault::Throttle]);
    let applied = ledger.apply(&grant("g1", "a1", 10), "e").await.unwrap();
    assert_eq!(applied.outcome, Outcome::Granted);
    assert_eq!(
        env.counter.take().len(),
        3,
        "two throttled attempts, then the commit"
    );
    assert_eq!(applied.account.available, 11);
}

#[tokio::test]
async fn concurrent_instances_never_lose_an_update() {
    // Four Lambda instances (each handles one event at a time, as Lambda does)
    // writing the same account at once, through the serializing proxy (moto's
    // transactions are not isolated from each other; DynamoDB's are).
    let direct = Env::new("contention").await;
    let proxy = FaultProxy::start(testkit::emulator::moto::shared_endpoint()).await;
    let env = Env::at(&proxy.endpoint, "contention", Some(direct.table.clone())).await;
    env.instance()
        .apply(&grant("g0", "a1", 1_000), "e")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for instance in 0..4 {
        let ledger = env.instance();
        tasks.push(tokio::spawn(async move {
            for n in 0..6 {
                let job = format!("j{instance}-{n}");
                let held = ledger.apply(&req(&job, "a1", 10), "e").await.unwrap();
                assert_eq!(held.outcome, Outcome::Held);
                let debited = ledger.apply(&rendered(&job, "a1", 7), "e").await.unwrap();
                assert_eq!(debited.outcome, Outcome::Debited);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let now = env
        .instance()
        .apply(&grant("g0", "a1", 1_000), "e")
        .await
        .unwrap();
    assert_eq!(
        (now.account.available, now.account.held),
        (1_000 - 24 * 7, 0)
    );
    env.assert_no_drift("a1", &now).await;
}

#[tokio::test]
async fn arrival_order_does_not_change_final_balances() {
    let env = Env::new("order").await;
    let mut events = vec![grant("g1", "a1", 100), grant("g2", "a2", 50)];
    for j in 0..6 {
        let account = if j % 2 == 0 { "a1" } else { "a2" };
        let job = format!("j{j}");
        events.push(req(&job, account, 10 + j));
        events.push(if j % 3 == 0 {
            failed(&job, account)
        } else {
            rendered(&job, account, 5 + j)
        });
    }
    let mut reversed = events.clone();
    reversed.reverse();
    let mut results = Vec::new();
    for (run, stream) in [events, reversed].into_iter().enumerate() {
        let table = testkit::fresh_table(&env.client, &format!("order{run}")).await;
        let ledger = Ledger::new(env.client.clone(), table);
        let mut balances = BTreeMap::new();
        for e in &stream {
            let a = ledger.apply(e, "e").await.unwrap();
            balances.insert(
                a.account.account_id.clone(),
                (a.account.available, a.account.held),
            );
        }
        // Redelivery of everything changes nothing.
        for e in &stream {
            let a = ledger.apply(e, "again").await.unwrap();
            assert!(matches!(a.outcome, Outcome::Duplicate | Outcome::Conflict));
        }
        results.push(balances);
    }
    assert_eq!(results[0], results[1]);
}

#[tokio::test]
async fn invalid_events_write_nothing() {
    let env = Env::new("invalid").await;
    let handler = Handler::new(env.instance());
    let bad: Vec<&[u8]> = vec![
        b"{not json",
        br#"{"detail-type": "video.requested", "detail": {"job_id": "j", "account_id": "a", "credits": 1.5}}"#,
        br#"{"detail-type": "video.requested", "detail": {"job_id": "j", "account_id": "a", "credits": "5"}}"#,
        br#"{"detail-type": "credits.granted", "detail": {"grant_id": "g", "account_id": "a", "credits": -1}}"#,
        br#"{"detail-type": "credits.granted", "detail": {"grant_id": "g", "account_id": "a", "credits": 1000000000001}}"#,
        br#"{"detail-type": "credits.refunded", "detail": {"grant_id": "g", "account_id": "a", "credits": 1}}"#,
        br#"{"detail-type": "video.failed", "detail": {"account_id": "a"}}"#,
    ];
    for raw in bad {
        let err = handler.handle(raw).await.unwrap_err();
        assert_eq!(
            err.error_type(),
            "InvalidEvent",
            "{}",
            String::from_utf8_lossy(raw)
        );
    }
    assert_eq!(env.counter.count(), 0, "nothing was even sent");
    assert_eq!(env.item_count().await, 0, "nothing was written");
}

#[tokio::test]
async fn the_handler_answers_in_the_spec_shape() {
    let env = Env::new("shape").await;
    let handler = Handler::new(env.instance());
    let ev = |dt: &str, detail: serde_json::Value| {
        serde_json::json!({"id": "e1", "detail-type": dt, "source": "video", "detail": detail})
            .to_string()
    };
    handler
        .handle(
            ev(
                "credits.granted",
                serde_json::json!({"grant_id": "g1", "account_id": "a1", "credits": 100}),
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    handler
        .handle(
            ev(
                "video.requested",
                serde_json::json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let r = handler
        .handle(
            ev(
                "video.rendered",
                serde_json::json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(
        r.to_json(),
        serde_json::json!({"outcome": "debited",
            "account": {"account_id": "a1", "available": 75, "held": 0},
            "job": {"job_id": "j1", "status": "DEBITED"}})
    );
    let g = handler
        .handle(
            ev(
                "credits.granted",
                serde_json::json!({"grant_id": "g2", "account_id": "a1", "credits": 5}),
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let v = g.to_json();
    assert_eq!(v["outcome"], "granted");
    assert!(v.get("job").is_none(), "no job for grants");
}
