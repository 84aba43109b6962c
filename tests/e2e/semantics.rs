//! The ledger under DynamoDB's real semantics, which moto skips, given by
//! the proxy (`testkit::emulator::proxy::Semantics`): transaction conflicts on
//! reads and writes, request-token idempotency, item limits; and what the
//! adapter must never do whatever happens (overwrite a change made out of
//! band, decide on a malformed item).

use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use reconciler::config::{StragglerAction, SweepConfig};
use reconciler::store::items::{JobItem, to_item};
use reconciler::store::keys::account_key;
use reconciler::store::{Ledger, StoreError};
use reconciler::sweep::{Sweep, SweepInput, Tuning};
use reconciler_core::audit::{Balances, audit};
use reconciler_core::event::Event;
use reconciler_core::ledger::{Job, JobStatus, Outcome};
use testkit::emulator::proxy::{Fault, Proxy, Semantics};
use testkit::events::*;

/// A fresh table, and clients to it straight and through a proxy with `semantics`.
struct Env {
    direct: Client,
    proxied: Client,
    table: String,
    proxy: Proxy,
}

impl Env {
    async fn new(label: &str, semantics: Semantics) -> Env {
        let moto = testkit::emulator::moto::shared_endpoint();
        let direct = Client::new(&testkit::emulator::sdk_config(moto).await);
        let table = testkit::fresh_table(&direct, label).await;
        let proxy = Proxy::start(moto).await.with_semantics(semantics);
        let proxied = Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
        Env {
            direct,
            proxied,
            table,
            proxy,
        }
    }

    /// A new Lambda instance behind the proxy: nothing cached.
    fn instance(&self) -> Ledger {
        Ledger::new(self.proxied.clone(), self.table.clone())
    }

    fn count(&self, what: &str) -> u64 {
        self.proxy.counts().get(what).copied().unwrap_or(0)
    }

    /// The account as stored, audited against its entries (the core's audit).
    async fn audited(&self, account: &str) -> Option<reconciler_core::audit::Drift> {
        let ledger = Ledger::new(self.direct.clone(), self.table.clone());
        let stored = ledger.account(account, 0).await.unwrap().unwrap();
        let entries = ledger
            .entries_between(account, 0, 1, stored.seq, None)
            .await
            .unwrap();
        audit(&stored, Balances::default(), &entries)
    }
}

fn tokens() -> Semantics {
    Semantics {
        tokens: true,
        ..Semantics::default()
    }
}

/// A lost response: the SDK resends with the same token, DynamoDB answers
/// with the original success, and the invocation that applied the event
/// says so — not `duplicate` (moto alone, which ignores tokens, would make
/// it one).
#[tokio::test]
async fn a_lost_response_is_answered_with_what_this_invocation_did() {
    let env = Env::new("token-lost", tokens()).await;
    let ledger = env.instance();
    ledger.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    for (event, outcome) in [
        (grant("g1", "a1", 10), Outcome::Granted),
        (req("j1", "a1", 30), Outcome::Held),
        (rendered("j1", "a1", 25), Outcome::Debited),
    ] {
        env.proxy
            .inject("TransactWriteItems", &[Fault::LoseResponse]);
        let applied = ledger.apply(&event, "e1").await.unwrap();
        assert_eq!(applied.outcome, outcome, "{event:?}");
    }
    assert_eq!(env.count("lost"), 3);
    assert_eq!(
        env.count("token-replayed"),
        3,
        "each resend got the original answer"
    );
    assert_eq!(env.audited("a1").await, None);
}

/// A table with tokens, a1 granted 100, and two instances on clocks `a`
/// and `b` that both know it at seq 1 (the second read it: a duplicate).
async fn two_instances_knowing_a1(
    label: &str,
    a: fn() -> i64,
    b: fn() -> i64,
) -> (Env, Ledger, Ledger) {
    let env = Env::new(label, tokens()).await;
    let (a, b) = (env.instance().with_clock(a), env.instance().with_clock(b));
    a.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    let known = b.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    assert_eq!((known.outcome, known.account.seq), (Outcome::Duplicate, 1));
    (env, a, b)
}

/// A clock that stands still: every write at the same millisecond.
fn frozen() -> i64 {
    1_800_000_000_000
}

/// Two invocations of one event (one event id) decided on one cached state
/// in one millisecond. Before, the second sent the very request the first
/// had sent — same items, same token — and DynamoDB answered it with the
/// first's success: both said `granted`, for one grant. Each invocation's
/// request is its own now (its request id in the token and on what it
/// writes): the second's conditions are evaluated, fail, and it answers
/// `duplicate`.
#[tokio::test]
async fn two_invocations_of_one_event_in_one_millisecond_are_told_apart() {
    let (env, a, b) = two_instances_knowing_a1("same-ms", frozen, frozen).await;

    let first = a.apply(&grant("g1", "a1", 5), "e1").await.unwrap();
    let second = b.apply(&grant("g1", "a1", 5), "e1").await.unwrap();

    assert_eq!(first.outcome, Outcome::Granted);
    assert_eq!(second.outcome, Outcome::Duplicate);
    assert_eq!(second.account.available, 105, "the current balances");
    assert_eq!(env.count("token-replayed"), 0, "{:?}", env.proxy.counts());
    assert_eq!(env.audited("a1").await, None);
}

/// A second later than [`frozen`].
fn a_second_later() -> i64 {
    frozen() + 1_000
}

/// One invocation's token spent with other parameters: Lambda retries an
/// invocation (the same request id) whose first attempt committed but
/// whose answer was lost; the retry lands on another instance that knows
/// the account as the first attempt did, and decides the same a second
/// later — the same token, other items (`IdempotentParameterMismatch`). It
/// reads, and answers `duplicate`.
#[tokio::test]
async fn a_token_spent_by_the_same_invocation_is_read_and_decided_again() {
    let (env, a, b) = two_instances_knowing_a1("token-mismatch", frozen, a_second_later).await;
    let event = grant("g1", "a1", 5);
    assert_eq!(
        a.apply_as(&event, "e1", "lambda-1").await.unwrap().outcome,
        Outcome::Granted
    );
    let again = b.apply_as(&event, "e1", "lambda-1").await.unwrap();
    assert_eq!(again.outcome, Outcome::Duplicate);
    assert_eq!(again.account.available, 105, "the current balances");
    assert_eq!(env.count("mismatch"), 1);
}

/// A `TransactGetItems` touching an item a transaction is writing is
/// cancelled (`TransactionConflict`); the adapter backs off and reads again
/// instead of failing the invocation. Writes racing a write likewise. The
/// test holds each commit in flight until it has seen the other request
/// meet it (`Proxy::pin`, `Proxy::conflicts_past`), so nothing depends on
/// when requests arrive.
#[tokio::test]
async fn reads_and_writes_that_meet_a_write_in_flight_back_off() {
    let env = Env::new(
        "conflicts",
        Semantics {
            conflicts: true,
            ..Semantics::default()
        },
    )
    .await;
    let writer = env.instance();
    let other_writer = env.instance();
    writer.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    other_writer
        .apply(&grant("g0", "a1", 100), "e0")
        .await
        .unwrap();
    // The commit stays in flight on a1: a cold instance's read meets it.
    let pin = env.proxy.pin();
    writer.apply(&req("j1", "a1", 10), "e1").await.unwrap();
    let reader = env.instance();
    let read = tokio::spawn(async move { reader.apply(&req("j2", "a1", 10), "e2").await });
    env.proxy.conflicts_past(0).await;
    drop(pin);
    let read = read.await.unwrap().unwrap();
    assert_eq!(read.outcome, Outcome::Held);
    assert_eq!(
        read.account.held, 20,
        "decided on the state after the first"
    );
    assert!(read.requests >= 2, "read again after a backoff: {read:?}");
    let conflicts_on_reads = env.count("conflict");
    assert!(conflicts_on_reads >= 1, "{:?}", env.proxy.counts());
    // A warm instance's write meets the last commit likewise.
    let pin = env.proxy.pin();
    writer.apply(&req("j3", "a1", 10), "e3").await.unwrap();
    let before_write = env.count("conflict");
    let write = tokio::spawn(async move { other_writer.apply(&req("j4", "a1", 10), "e4").await });
    env.proxy.conflicts_past(before_write).await;
    drop(pin);
    let write = write.await.unwrap().unwrap();
    assert_eq!((write.outcome, write.account.held), (Outcome::Held, 40));
    assert!(write.attempts >= 2, "sent again after a backoff: {write:?}");
    assert_eq!(env.audited("a1").await, None);
}

/// The sweep's expiry whose response is lost is still reported `expired`
/// (the resend with its token gets the original success), not `settled`.
#[tokio::test]
async fn a_sweep_expiry_whose_answer_is_lost_is_reported_expired() {
    let env = Env::new("token-sweep", tokens()).await;
    let old = Ledger::new(env.proxied.clone(), env.table.clone())
        .with_clock(|| reconciler::store::now_ms() - 7 * 3_600_000);
    old.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    old.apply(&req("j1", "a1", 30), "e1").await.unwrap();
    let config = SweepConfig {
        stage: "dev".into(),
        table: env.table.clone(),
        hold_timeout_seconds: 6 * 3600,
        straggler_action: StragglerAction::Expire,
        summarizer: None,
    };
    let sweep = Sweep::new(env.instance(), &config, None).with_tuning(Tuning {
        conflict_settle: Duration::ZERO,
        ..Tuning::default()
    });
    env.proxy
        .inject("TransactWriteItems", &[Fault::LoseResponse]);
    let report = sweep
        .run(
            &SweepInput::default(),
            reconciler::store::now_ms() + 300_000,
            "run-1",
        )
        .await
        .unwrap();
    assert_eq!((report.stragglers, report.expired), (1, 1));
    assert_eq!(env.count("token-replayed"), 1);
}

/// Reads that are not a snapshot. Through the proxy, every transaction's
/// items become visible one at a time (`Semantics::staggered`): the
/// account at once, its job after the next read of the table, its entry
/// after the one after. Turn by turn, a handler moves an account's money —
/// holds, a debit and a refund of holds taken before the last audit, a
/// grant — and a sweep audits it at once, reading the account at its new
/// version and the entries before the newest is visible: a missing last
/// entry, read again with the account in one transaction (whole there),
/// so the audit stops unproven, every turn — never a drift. Once the
/// writes are all visible, a sweep proves the account and clears its mark.
#[tokio::test]
async fn the_audit_stays_quiet_while_transactions_are_seen_half_applied() {
    let env = Env::new(
        "staggered",
        Semantics {
            conflicts: true,
            staggered: true,
            ..Semantics::default()
        },
    )
    .await;
    let config = SweepConfig {
        stage: "dev".into(),
        table: env.table.clone(),
        hold_timeout_seconds: 6 * 3600,
        straggler_action: StragglerAction::Expire,
        summarizer: None,
    };
    let sweep = Sweep::new(env.instance(), &config, None);
    let sweep_now = |run: usize| {
        let sweep = &sweep;
        async move {
            sweep
                .run(
                    &SweepInput::default(),
                    reconciler::store::now_ms() + 300_000,
                    &format!("run-{run}"),
                )
                .await
                .unwrap()
        }
    };
    let writer = env.instance();
    let turns = [
        grant("g0", "a1", 100),
        req("j1", "a1", 30),
        req("j2", "a1", 20),
        rendered("j1", "a1", 25),
        failed("j2", "a1"),
        grant("g1", "a1", 10),
    ];
    for (turn, event) in turns.iter().enumerate() {
        writer.apply(event, &format!("e{turn}")).await.unwrap();
        let report = sweep_now(turn).await;
        assert!(report.drift.is_empty(), "turn {turn}: {:?}", report.drift);
        assert_eq!(
            (
                report.audited_accounts,
                report.audits_unproven,
                report.failed_items
            ),
            (1, 1, 0),
            "turn {turn}: the newest entry was not visible yet"
        );
    }
    assert!(
        env.count("staggered-read") >= turns.len() as u64,
        "{:?}",
        env.proxy.counts()
    );
    let settled = sweep_now(turns.len()).await;
    assert!(settled.drift.is_empty(), "{:?}", settled.drift);
    assert_eq!(
        (
            settled.audited_accounts,
            settled.audits_unproven,
            settled.audit_marks_kept
        ),
        (1, 0, 0),
        "proven whole, mark cleared"
    );
    assert_eq!(env.audited("a1").await, None);
}

/// A `video.failed` with a 500 KB reason, through the handler and under
/// DynamoDB's 400 KB item limit: refunded, the reason kept to its first 512
/// characters and marked as cut — a long reason is never a reason to refuse
/// a refund. An item over the limit (only an event built around the
/// validation can make one now: ids are 256 characters at most) is refused
/// (`ValidationException`): a `LedgerError` (retrying cannot help),
/// nothing written.
#[tokio::test]
async fn a_long_reason_is_cut_and_an_item_over_the_size_limit_is_refused_not_retried() {
    let env = Env::new(
        "limits",
        Semantics {
            limits: true,
            ..Semantics::default()
        },
    )
    .await;
    let ledger = env.instance();
    ledger.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    ledger.apply(&req("j1", "a1", 30), "e1").await.unwrap();
    let raw = serde_json::json!({
        "version": "0", "id": "e2", "detail-type": "video.failed", "source": "video",
        "time": "2026-11-29T00:00:00Z",
        "detail": {"job_id": "j1", "account_id": "a1", "reason": "x".repeat(500 * 1024)},
    });
    let response = reconciler::handler::Handler::new(env.instance())
        .handle(raw.to_string().as_bytes())
        .await
        .unwrap();
    assert_eq!(response.outcome.as_str(), "refunded");
    let direct = Ledger::new(env.direct.clone(), env.table.clone());
    let job = direct.job_item("j1").await.unwrap().unwrap();
    assert_eq!(job.status, "REFUNDED");
    assert_eq!(job.reason, Some(format!("{}…[cut]", "x".repeat(512))));

    let huge = Event::Granted {
        grant_id: "g".repeat(500 * 1024),
        account_id: "a1".into(),
        credits: 5,
    };
    let error = ledger.apply(&huge, "e3").await.unwrap_err();
    assert!(matches!(error, StoreError::Refused { .. }), "{error}");
    assert_eq!(error.error_type(), "LedgerError");
    assert_eq!(env.count("too-large"), 1, "refused once, not retried");
    let account = direct.account("a1", 0).await.unwrap().unwrap();
    assert_eq!(account.granted, 100, "nothing was written");
}

/// A warm instance remembers an account; someone changes it out of band
/// (same version). The next event is never decided on the remembered
/// picture: an edit that keeps the account's conservation is built upon
/// (and the audit reports it as drift); one that breaks it stops the account
/// with a `LedgerError` until it is repaired. Either way the edit survives.
#[tokio::test]
async fn a_change_made_out_of_band_is_never_overwritten() {
    let env = Env::new("out-of-band", Semantics::default()).await;
    let warm = env.instance();
    warm.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    let edit = |expression: &'static str, values: Vec<(&'static str, &'static str)>| {
        let mut update = env
            .direct
            .update_item()
            .table_name(&env.table)
            .set_key(Some(account_key("a1")))
            .update_expression(expression);
        for (name, value) in values {
            update = update.expression_attribute_values(name, AttributeValue::N(value.into()));
        }
        update.send()
    };
    // Conserving: 50 more available, 50 more granted, without an entry.
    edit(
        "SET available = :a, granted = :g",
        vec![(":a", "150"), (":g", "150")],
    )
    .await
    .unwrap();
    let applied = warm.apply(&grant("g1", "a1", 10), "e1").await.unwrap();
    assert_eq!(applied.outcome, Outcome::Granted);
    assert_eq!(
        applied.account.available, 160,
        "decided on the edited item (150 + 10), not on the remembered one (110)"
    );
    let drift = env.audited("a1").await.expect("the edit is drift");
    assert_eq!(
        (drift.stored.available, drift.recomputed.available),
        (160, 110)
    );
    // Breaking: available alone.
    edit("SET available = :a", vec![(":a", "999")])
        .await
        .unwrap();
    let error = warm.apply(&grant("g2", "a1", 10), "e2").await.unwrap_err();
    assert_eq!(error.error_type(), "LedgerError");
    assert!(error.to_string().contains("conservation"), "{error}");
    let stored = Ledger::new(env.direct.clone(), env.table.clone())
        .account("a1", 0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.available, 999, "the edit survives");
}

/// A stored job that breaks its shape (HELD without a hold) stops an event
/// on it with a `LedgerError` naming the item: no panic, no retries.
#[tokio::test]
async fn a_malformed_job_is_a_ledger_error_naming_it() {
    let env = Env::new("malformed", Semantics::default()).await;
    let ledger = env.instance();
    ledger.apply(&grant("g0", "a1", 100), "e0").await.unwrap();
    let job = Job {
        cell: 0,
        job_id: "j1".into(),
        account_id: "a1".into(),
        status: JobStatus::Held,
        requested: Some(5),
        hold: Some(5),
        debited: None,
        reason: None,
        entries: vec![],
    };
    let mut item = to_item(&JobItem::new(&job, "seed", 1));
    item.remove("hold");
    env.direct
        .put_item()
        .table_name(&env.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
    let forwarded = env.count("forwarded");
    let error = env
        .instance()
        .apply(&rendered("j1", "a1", 5), "e1")
        .await
        .unwrap_err();
    assert_eq!(error.error_type(), "LedgerError");
    assert!(
        error.to_string().contains("JOB#j1") && error.to_string().contains("no valid hold"),
        "{error}"
    );
    assert_eq!(env.count("forwarded"), forwarded + 1, "one read, no retry");
}

/// A raw DynamoDB client, retries off: each call is one request, its answer
/// exactly what the service (here, the proxy) said.
async fn raw_client(endpoint: &str) -> Client {
    let config = testkit::emulator::sdk_config(endpoint).await;
    Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
            .build(),
    )
}

fn put(table: &str, pk: &str, n: &str) -> aws_sdk_dynamodb::types::TransactWriteItem {
    aws_sdk_dynamodb::types::TransactWriteItem::builder()
        .put(
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(table)
                .item("pk", AttributeValue::S(pk.into()))
                .item("sk", AttributeValue::S("PROBE".into()))
                .item("n", AttributeValue::N(n.into()))
                .build()
                .unwrap(),
        )
        .build()
}

fn code<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or("?").to_owned()
}

/// The proxy's token semantics on their own, as DynamoDB documents them: a
/// resend while the first request is still running is
/// `TransactionInProgressException`; once it succeeded, the same token and
/// request get the original success; the same token with another request
/// is `IdempotentParameterMismatchException`. (A slow emulator, behind the
/// proxy, keeps the first request running.)
#[tokio::test]
async fn the_proxy_gives_dynamodbs_token_answers() {
    let moto = testkit::emulator::moto::shared_endpoint();
    let direct = Client::new(&testkit::emulator::sdk_config(moto).await);
    let table = testkit::fresh_table(&direct, "token-probe").await;
    // The emulator behind a gate: a transaction waits there until the test
    // opens it, so the first request is surely still running when the
    // second arrives.
    let arrived = std::sync::Arc::new(tokio::sync::Notify::new());
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let (seen, held) = (arrived.clone(), gate.clone());
    let slow: testkit::intercept::Responder = std::sync::Arc::new(move |req| {
        let (seen, held) = (seen.clone(), held.clone());
        Box::pin(async move {
            if req
                .header("x-amz-target")
                .is_some_and(|t| t.ends_with("TransactWriteItems"))
            {
                seen.notify_one();
                held.acquire().await.unwrap().forget();
            }
            None
        })
    });
    let slow_moto = testkit::intercept::InterceptProxy::start(moto, slow).await;
    let proxy = Proxy::start(&slow_moto.endpoint)
        .await
        .with_semantics(tokens());
    let client = raw_client(&proxy.endpoint).await;
    let send = |n: &str| {
        client
            .transact_write_items()
            .transact_items(put(&table, "probe", n))
            .client_request_token("probe-token-1")
            .send()
    };

    let first = tokio::spawn(send("1"));
    arrived.notified().await;
    let resent = send("1").await.expect_err("the first is still running");
    // Open the gate for every transaction from here on.
    gate.add_permits(1_000);
    assert_eq!(
        code(resent.as_service_error().unwrap()),
        "TransactionInProgressException"
    );
    first.await.unwrap().expect("the first succeeds");
    send("1")
        .await
        .expect("the same request again: the original success");
    let other = send("2").await.expect_err("another request, same token");
    assert_eq!(
        code(other.as_service_error().unwrap()),
        "IdempotentParameterMismatchException"
    );
    let counts = proxy.counts();
    assert_eq!(
        (
            counts.get("in-progress").copied(),
            counts.get("token-replayed").copied(),
            counts.get("mismatch").copied()
        ),
        (Some(1), Some(1), Some(1)),
        "{counts:?}"
    );
    let stored = direct
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("probe".into()))
        .key("sk", AttributeValue::S("PROBE".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stored.item().unwrap()["n"],
        AttributeValue::N("1".into()),
        "applied once, never by the mismatched request"
    );
}

/// DynamoDB refuses a transaction with two actions on one item before
/// running it (moto does not always): the proxy's limits say so.
#[tokio::test]
async fn the_proxy_refuses_two_actions_on_one_item() {
    let env = Env::new(
        "same-item",
        Semantics {
            limits: true,
            ..Semantics::default()
        },
    )
    .await;
    let client = raw_client(&env.proxy.endpoint).await;
    let refused = client
        .transact_write_items()
        .transact_items(put(&env.table, "twice", "1"))
        .transact_items(put(&env.table, "twice", "2"))
        .send()
        .await
        .expect_err("two actions on one item");
    let service = refused.as_service_error().unwrap();
    assert_eq!(code(service), "ValidationException");
    assert!(
        aws_sdk_dynamodb::error::ProvideErrorMetadata::message(service)
            .is_some_and(|m| m.contains("multiple operations on one item"))
    );
    assert_eq!(env.count("same-item"), 1);
    assert_eq!(env.count("forwarded"), 0, "refused before anything ran");
}

/// SQS short polling may answer nothing while messages exist: the proxy's
/// chaos does so to every short poll, and the operator commands' long polls
/// still find the letter.
#[tokio::test]
async fn the_proxy_answers_short_polls_empty_and_long_polls_still_read() {
    let moto = testkit::emulator::moto::shared_endpoint();
    let proxy = Proxy::start(moto)
        .await
        .with_chaos(testkit::emulator::proxy::Chaos {
            seed: 7,
            empty_receive: 1.0,
            ..Default::default()
        });
    let sqs = aws_sdk_sqs::Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
    let url = sqs
        .create_queue()
        .queue_name(format!("short-poll-{:06x}", fastrand::u32(..0x0100_0000)))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    sqs.send_message()
        .queue_url(&url)
        .message_body("{}")
        .send()
        .await
        .unwrap();
    let short = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(0)
        .send()
        .await
        .unwrap();
    assert!(short.messages().is_empty(), "a short poll came back empty");
    let received = operator::models::queues::list(
        &sqs,
        &url,
        &operator::models::queues::ReceiveOptions {
            wait_seconds: 1,
            ..operator::models::queues::ReceiveOptions::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(received.letters.len(), 1, "the long poll read it");
    assert_eq!(proxy.counts().get("empty-receive").copied(), Some(1));
}
