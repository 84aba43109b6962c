//! The decide–commit–learn loop against a mocked DynamoDB: what it sends,
//! in which order, and what it makes of every kind of answer. The states
//! scripted are the reference model's ([`after`]); the requests expected
//! are written by hand from ARCHITECTURE.md's table ("One transaction per
//! event", [`crate::store::spell`]), never built with the adapter's own
//! code, so a condition dropped from the adapter fails here.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput,
};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use reconciler_core::ledger::{ConflictReason, JobStatus, LedgerError, Outcome};

use crate::store::errors::{Answer, classify};
use crate::store::expr::Expr;
use crate::store::items::{EntryItem, to_item};
use crate::store::keys::{self, Item};
use crate::store::mock::*;
use crate::store::spell::{Spelled, absent, guard, spell_all, when};
use crate::store::{RetryPolicy, StoreError};

const A: &str = "a1";
const J: &str = "j1";

/// Which items a transaction writes, each on which conditions.
type Shape = Vec<(&'static str, String, Vec<String>)>;

/// A transaction as sent, spelled out.
fn spelled(sent: &TransactWriteItemsInput) -> Vec<Spelled> {
    spell_all(sent.transact_items())
}

/// `sent`'s items and conditions are `expected`, and it carries a token.
#[track_caller]
fn assert_shape(sent: &TransactWriteItemsInput, expected: &Shape) {
    let got: Shape = spelled(sent)
        .into_iter()
        .map(|s| (s.op, s.key, s.when))
        .collect();
    assert_eq!(&got, expected);
    assert!(sent.client_request_token().is_some_and(|t| t.len() <= 36));
}

fn entry(seq: u64) -> String {
    format!("ACCOUNT#a1 / ENTRY#{seq:020}")
}

/// A hold of a new job on a1: the account guarded by what it was.
fn a_hold(job: &str, seq: u64, balances: [i64; 5]) -> Shape {
    vec![
        (
            "Put",
            "ACCOUNT#a1 / ACCOUNT".into(),
            guard(seq, balances, 0),
        ),
        ("Put", format!("JOB#{job} / JOB"), absent()),
        ("Put", entry(seq + 1), absent()),
    ]
}

/// A job of a1 moved on from `status` (its hold released when HELD).
fn a_move(
    job_status: &str,
    hold: Option<i64>,
    seq: u64,
    balances: [i64; 5],
    overdrafts: u64,
) -> Shape {
    let status = format!("status = {job_status:?}");
    let hold = hold.map(|h| format!("hold = {h}"));
    let mut job = vec!["v <= 3", status.as_str(), "account_id = \"a1\""];
    job.extend(hold.as_deref());
    vec![
        (
            "Put",
            "ACCOUNT#a1 / ACCOUNT".into(),
            guard(seq, balances, overdrafts),
        ),
        ("Update", "JOB#j1 / JOB".into(), when(&job)),
        ("Put", entry(seq + 1), absent()),
    ]
}

fn with(mut item: Item, attr: &str, value: AttributeValue) -> Item {
    item.insert(attr.into(), value);
    item
}

fn without(mut item: Item, attr: &str) -> Item {
    item.remove(attr);
    item
}

/// An instance that committed the account's last change decides on what it
/// remembers: one `TransactWriteItems` guarded by that state, no read.
#[tokio::test]
async fn a_warm_guess_commits_in_one_request() {
    let before = after(&[grant("g1", A, 100)]);
    let event = requested(J, A, 30);
    let dynamo = Dynamo::new().commits();
    let ledger = dynamo.ledger();
    ledger.remember(&before.accounts[A], None);

    let applied = ledger.apply_as(&event, "e2", "r2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!((applied.requests, applied.attempts), (1, 1));
    let a = &applied.account;
    assert_eq!((a.available, a.held, a.seq), (70, 30, 2));
    assert_eq!(dynamo.operations(), ["TransactWriteItems"]);
    let sent = &dynamo.writes()[0];
    assert_shape(sent, &a_hold(J, 1, [100, 0, 100, 0, 0]));
    let items = spelled(sent);
    let at = format!("updated_at_ms = {NOW}");
    items[0].assert_writes(&[
        "available = 70",
        "held = 30",
        "granted = 100",
        "seq = 2",
        &at,
    ]);
    items[1].assert_writes(&["status = \"HELD\"", "hold = 30", "request_id = \"r2\""]);
    items[2].assert_writes(&[
        "seq = 2",
        "held_delta = 30",
        "available_delta = -30",
        "event_id = \"e2\"",
        "request_id = \"r2\"",
    ]);
    dynamo.assert_done();
}

/// A cold instance reads the account and the job in one consistent
/// `TransactGetItems`, then commits: two requests. It remembers what it
/// committed, so the next event on the account costs one.
#[tokio::test]
async fn a_cold_instance_reads_then_commits_and_is_warm_after() {
    let before = after(&[grant("g1", A, 100)]);
    let first = requested(J, A, 30);
    let second = requested("j2", A, 20);
    let dynamo = Dynamo::new()
        .reads(vec![Some(account_item(&before.accounts[A])), None])
        .commits()
        .commits();
    let ledger = dynamo.ledger();

    let applied = ledger.apply(&first, "e2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!((applied.requests, applied.attempts), (2, 1));
    let Sent::Read(read) = &dynamo.sent()[0] else {
        panic!("the first request reads: {:?}", dynamo.operations());
    };
    let gets: Vec<_> = read
        .transact_items()
        .iter()
        .map(|g| g.get().expect("a get"))
        .collect();
    assert!(gets.iter().all(|g| g.table_name() == TABLE));
    let read_keys: Vec<_> = gets.iter().map(|g| g.key().clone()).collect();
    assert_eq!(read_keys, [keys::account_key(A), keys::job_key(J)]);
    assert_shape(&dynamo.writes()[0], &a_hold(J, 1, [100, 0, 100, 0, 0]));

    let applied = ledger.apply(&second, "e3").await.unwrap();

    assert_eq!((applied.requests, applied.attempts), (1, 1));
    assert_shape(&dynamo.writes()[1], &a_hold("j2", 2, [70, 30, 100, 0, 0]));
    assert_eq!(
        dynamo.operations(),
        [
            "TransactGetItems",
            "TransactWriteItems",
            "TransactWriteItems"
        ]
    );
}

/// The instance remembers j1 HELD, but the sweep expired it meanwhile. The
/// debit decided on memory is cancelled; the `ALL_OLD` images of the
/// account and the job are the real state (the entry's failure only says
/// the account moved on), and the event is decided again on them — a late
/// capture — with no read in between.
#[tokio::test]
async fn a_cancellation_teaches_the_real_items_and_the_event_is_decided_again_on_them() {
    let remembered = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let mut real = remembered.clone();
    real.expire(J, &meta("sweep")).unwrap();
    let event = rendered(J, A, 25);
    let dynamo = Dynamo::new()
        .cancels(vec![
            failed(Some(account_item(&real.accounts[A]))),
            failed(Some(job_item(&real.jobs[J]))),
            failed(Some(to_item(&EntryItem::new(&real.entries[2])))),
        ])
        .commits();
    let ledger = dynamo.ledger();
    ledger.remember(&remembered.accounts[A], Some(&remembered.jobs[J]));

    let applied = ledger.apply(&event, "e3").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Debited);
    assert_eq!(
        applied.overdraft, 25,
        "a late capture after EXPIRED overdraws"
    );
    assert_eq!((applied.requests, applied.attempts), (2, 2));
    assert_eq!(
        dynamo.operations(),
        ["TransactWriteItems", "TransactWriteItems"]
    );
    let writes = dynamo.writes();
    // Decided on memory: j1 HELD 30, a1 at seq 2.
    assert_shape(
        &writes[0],
        &a_move("HELD", Some(30), 2, [70, 30, 100, 0, 0], 0),
    );
    // Decided again on the images: j1 EXPIRED, a1 at seq 3 after the expiry.
    assert_shape(
        &writes[1],
        &a_move("EXPIRED", None, 3, [100, 0, 100, 0, 0], 0),
    );
    assert_ne!(
        writes[0].client_request_token(),
        writes[1].client_request_token(),
        "another decision, another token"
    );
    assert_eq!(ledger.remembered(A), Some(applied.account));
}

/// A `video.requested` the instance remembers applying is a duplicate — but
/// only once DynamoDB confirms it: memory may be stale.
#[tokio::test]
async fn a_duplicate_guessed_from_memory_is_read_before_it_is_answered() {
    let state = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let dynamo = Dynamo::new().reads(vec![
        Some(account_item(&state.accounts[A])),
        Some(job_item(&state.jobs[J])),
    ]);
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], Some(&state.jobs[J]));

    let applied = ledger.apply(&requested(J, A, 30), "e3").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Duplicate);
    assert_eq!(applied.account, state.accounts[A]);
    assert_eq!(applied.job, Some((J.into(), JobStatus::Held)));
    assert_eq!((applied.requests, applied.attempts), (1, 0));
    assert_eq!(dynamo.operations(), ["TransactGetItems"]);
}

/// Likewise a conflict (another estimate for a HELD job): read, then its
/// record is put (conditioned on its absence: one record per payload).
#[tokio::test]
async fn a_conflict_guessed_from_memory_is_read_before_it_is_recorded() {
    let state = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let event = requested(J, A, 40);
    let dynamo = Dynamo::new()
        .reads(vec![
            Some(account_item(&state.accounts[A])),
            Some(job_item(&state.jobs[J])),
        ])
        .puts();
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], Some(&state.jobs[J]));

    let applied = ledger.apply(&event, "e3").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Conflict);
    assert!(matches!(
        applied.conflict,
        Some(ConflictReason::AmountMismatch {
            applied: 30,
            received: 40,
            ..
        })
    ));
    assert_eq!(applied.requests, 2);
    assert_eq!(dynamo.operations(), ["TransactGetItems", "PutItem"]);
    let Sent::Put(put) = &dynamo.sent()[1] else {
        unreachable!()
    };
    let item = put.item().expect("an item");
    assert_eq!(
        item["pk"],
        AttributeValue::S(keys::conflict_pk(&event.business_key()))
    );
    assert!(
        put.condition_expression()
            .is_some_and(|c| c.contains("attribute_not_exists"))
    );
}

/// Under contention DynamoDB cuts the evaluation short: a `None` reason next
/// to a `TransactionConflict` does not mean that item's condition held. The
/// job's image (DEBITED) is real and makes `video.failed` a conflict, but
/// the account was not confirmed: the conflict is read before it is answered.
#[tokio::test]
async fn contention_confirms_nothing_so_a_conflict_is_read_before_it_is_answered() {
    let remembered = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let real = after(&[grant("g1", A, 100), requested(J, A, 30), rendered(J, A, 25)]);
    let dynamo = Dynamo::new()
        .cancels(vec![
            held(),
            failed(Some(job_item(&real.jobs[J]))),
            contended(),
        ])
        .reads(vec![
            Some(account_item(&real.accounts[A])),
            Some(job_item(&real.jobs[J])),
        ])
        .puts();
    let ledger = dynamo.ledger();
    ledger.remember(&remembered.accounts[A], Some(&remembered.jobs[J]));

    let applied = ledger.apply(&failed_job(J, A), "e4").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Conflict);
    assert_eq!(applied.account, real.accounts[A], "the balances read");
    assert_eq!(
        dynamo.operations(),
        ["TransactWriteItems", "TransactGetItems", "PutItem"]
    );
}

/// Contention teaches nothing: the same decision is resent (same items,
/// same token) after a backoff, until it commits. The jitter is drawn from
/// this thread's generator, seeded here: the six backoffs of up to 100 ms
/// are the same every run and add up to more than 30 ms (a sleep never
/// ends early, however busy the machine); without backoff they take none.
#[tokio::test]
async fn contention_backs_off_and_resends_the_same_decision() {
    fastrand::seed(20);
    let state = after(&[grant("g1", A, 100)]);
    let event = requested(J, A, 30);
    let mut dynamo = Dynamo::new();
    for _ in 0..6 {
        dynamo = dynamo.cancels(vec![contended(), held(), held()]);
    }
    let dynamo = dynamo.commits();
    let ledger = dynamo.ledger().with_retry(RetryPolicy {
        budget: Duration::from_secs(10),
        base: Duration::from_millis(100),
        cap: Duration::from_millis(100),
        patience: Duration::from_secs(3600),
    });
    ledger.remember(&state.accounts[A], None);

    let started = Instant::now();
    let applied = ledger.apply(&event, "e2").await.unwrap();
    let waited = started.elapsed();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!((applied.requests, applied.attempts), (7, 7));
    let writes = dynamo.writes();
    assert_shape(&writes[0], &a_hold(J, 1, [100, 0, 100, 0, 0]));
    assert!(
        writes.iter().all(|w| w == &writes[0]),
        "the same decision, resent"
    );
    assert!(
        waited >= Duration::from_millis(30),
        "six contended attempts waited only {waited:?}"
    );
}

/// `TransactionInProgressException`: this very request is still being
/// applied. It is resent unchanged — same token, same items — so that
/// DynamoDB answers it with the original outcome.
#[tokio::test]
async fn a_transaction_in_progress_is_resent_with_the_same_token_and_items() {
    let state = after(&[grant("g1", A, 100)]);
    let event = requested(J, A, 30);
    let dynamo = Dynamo::new().write_fails(in_progress).commits();
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);

    let applied = ledger.apply(&event, "e2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!((applied.requests, applied.attempts), (2, 1));
    let writes = dynamo.writes();
    assert_eq!(writes.len(), 2);
    assert_shape(&writes[0], &a_hold(J, 1, [100, 0, 100, 0, 0]));
    assert_eq!(writes[1], writes[0], "same token, same items");
}

/// A request that never left, and one whose response was lost (it may have
/// committed): both resent unchanged, so a commit that happened answers
/// with its original success and none is applied twice.
#[tokio::test]
async fn a_transport_error_is_resent_with_the_same_token_and_items() {
    let state = after(&[grant("g1", A, 100)]);
    let event = requested(J, A, 30);
    let dynamo = Dynamo::new()
        .write_unanswered(Fault::Unreachable)
        .write_unanswered(Fault::LostResponse)
        .commits();
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);

    let applied = ledger.apply(&event, "e2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!((applied.requests, applied.attempts), (3, 1));
    let writes = dynamo.writes();
    assert_eq!(writes.len(), 3);
    assert_shape(&writes[0], &a_hold(J, 1, [100, 0, 100, 0, 0]));
    assert!(
        writes.iter().all(|w| w == &writes[0]),
        "same token, same items"
    );
}

/// Two invocations of one event decided on one cached state in one
/// millisecond (the mocks' clock stands still; the cache is set back to the
/// same state for the second) send requests of their own: another token,
/// another request id on the job or entry they write. Otherwise DynamoDB
/// answers the second with the first's success (its token, its parameters)
/// and both count as `granted`. Each one's own resend is its own request
/// again, token and all.
#[tokio::test]
async fn two_invocations_of_one_event_on_one_state_send_requests_of_their_own() {
    let state = after(&[grant("g1", A, 100)]);
    let event = grant("g2", A, 50);
    let dynamo = Dynamo::new()
        .write_unanswered(Fault::LostResponse)
        .commits()
        .commits();
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);
    ledger.apply_as(&event, "e2", "lambda-1").await.unwrap();
    ledger.remember(&state.accounts[A], None);
    ledger.apply_as(&event, "e2", "lambda-2").await.unwrap();

    let writes = dynamo.writes();
    assert_eq!(writes.len(), 3);
    assert_eq!(
        writes[0], writes[1],
        "the first's resend: its own request again"
    );
    assert_ne!(
        writes[1].client_request_token(),
        writes[2].client_request_token()
    );
    let expected: Shape = vec![
        (
            "Put",
            "ACCOUNT#a1 / ACCOUNT".into(),
            guard(1, [100, 0, 100, 0, 0], 0),
        ),
        ("Put", "GRANT#g2 / GRANT".into(), absent()),
        ("Put", entry(2), absent()),
    ];
    for (write, request_id) in [(&writes[1], "lambda-1"), (&writes[2], "lambda-2")] {
        assert_shape(write, &expected);
        spelled(write)[2]
            .assert_writes(&["event_id = \"e2\"", &format!("request_id = {request_id:?}")]);
    }
}

/// The faults the script injects are the SDK errors they stand for, and
/// the ones the adapter resends.
#[tokio::test]
async fn the_scripted_transport_faults_are_what_the_adapter_resends() {
    let dynamo = Dynamo::new()
        .write_unanswered(Fault::Unreachable)
        .write_unanswered(Fault::LostResponse);
    let client = dynamo.client();
    let item = Expr::new().absent("pk").put(TABLE, keys::grant_key("g1"));
    for expected in ["DispatchFailure", "ResponseError"] {
        let err = client
            .transact_write_items()
            .transact_items(item.clone())
            .client_request_token("t")
            .send()
            .await
            .unwrap_err();
        let kind = match &err {
            SdkError::DispatchFailure(_) => "DispatchFailure",
            SdkError::ResponseError(_) => "ResponseError",
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(kind, expected);
        assert!(matches!(classify(&err), Answer::NotNow), "{err:?}");
    }
}

/// `IdempotentParameterMismatchException`: an earlier attempt of this
/// invocation decided on the same state and spent the token on its own
/// commit. Read, and the event turns out a duplicate.
#[tokio::test]
async fn a_token_spent_by_an_earlier_attempt_leads_to_a_read_and_a_duplicate() {
    let remembered = after(&[grant("g1", A, 100)]);
    let real = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let dynamo = Dynamo::new().write_fails(token_spent).reads(vec![
        Some(account_item(&real.accounts[A])),
        Some(job_item(&real.jobs[J])),
    ]);
    let ledger = dynamo.ledger();
    ledger.remember(&remembered.accounts[A], None);

    let applied = ledger.apply(&requested(J, A, 30), "e2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Duplicate);
    assert_eq!(applied.account, real.accounts[A]);
    assert_eq!((applied.requests, applied.attempts), (2, 1));
    assert_eq!(
        dynamo.operations(),
        ["TransactWriteItems", "TransactGetItems"]
    );
}

/// Losing race after race until the retry budget is spent: the invocation
/// fails as `LedgerUnavailable` (Lambda retries the event later).
#[tokio::test]
async fn contention_past_the_retry_budget_fails_as_ledger_unavailable() {
    let state = after(&[grant("g1", A, 100)]);
    let dynamo = Dynamo::new().always_cancels(vec![contended(), held(), held()]);
    let ledger = dynamo.ledger().with_retry(RetryPolicy {
        budget: Duration::from_millis(30),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        patience: Duration::from_secs(1),
    });
    ledger.remember(&state.accounts[A], None);

    let err = ledger.apply(&requested(J, A, 30), "e2").await.unwrap_err();

    assert!(
        matches!(&err, StoreError::Contention { attempts, last, .. }
            if *attempts >= 2 && last.contains("TransactionConflict")),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "LedgerUnavailable");
    assert_eq!(dynamo.writes().len() as u32, {
        let StoreError::Contention { attempts, .. } = err else {
            unreachable!()
        };
        attempts
    });
}

/// A transaction DynamoDB keeps answering "in progress" is resent unchanged
/// until the budget is spent, then fails as `LedgerUnavailable`.
#[tokio::test]
async fn a_transaction_in_progress_past_the_retry_budget_fails_as_ledger_unavailable() {
    let state = after(&[grant("g1", A, 100)]);
    let dynamo = Dynamo::new().always_fails(in_progress);
    let ledger = dynamo.ledger().with_retry(RetryPolicy {
        budget: Duration::from_millis(30),
        base: Duration::from_millis(1),
        cap: Duration::from_millis(2),
        patience: Duration::from_secs(1),
    });
    ledger.remember(&state.accounts[A], None);

    let err = ledger.apply(&requested(J, A, 30), "e2").await.unwrap_err();

    assert!(matches!(err, StoreError::Aws { .. }), "{err:?}");
    assert_eq!(err.error_type(), "LedgerUnavailable");
    let writes = dynamo.writes();
    assert!(writes.len() >= 2);
    assert!(writes.iter().all(|w| w == &writes[0]), "resent unchanged");
}

/// A warm instance's `video.requested` whose transaction DynamoDB refuses
/// as an item over 400 KB: the script and the error.
async fn refused_as_too_large() -> (Dynamo, StoreError) {
    let state = after(&[grant("g1", A, 100)]);
    let dynamo = Dynamo::new().write_fails(item_too_large);
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);
    let err = ledger.apply(&requested(J, A, 30), "e2").await.unwrap_err();
    (dynamo, err)
}

/// DynamoDB refuses the request itself (an item over 400 KB): retrying the
/// same event cannot help. One request, `LedgerError`.
#[tokio::test]
async fn an_item_too_large_is_refused_as_a_ledger_error_without_retry() {
    let (dynamo, err) = refused_as_too_large().await;

    assert!(
        matches!(&err, StoreError::Refused { message, .. } if message.contains("maximum allowed size")),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "LedgerError");
    assert_eq!(dynamo.operations(), ["TransactWriteItems"]);
}

/// The same refusal as a cancellation reason (`ValidationError` on one item).
#[tokio::test]
async fn a_cancellation_for_a_validation_error_is_refused_without_retry() {
    let state = after(&[grant("g1", A, 100)]);
    let too_large = CancellationReason::builder()
        .code("ValidationError")
        .message("Item size to update has exceeded the maximum allowed size")
        .build();
    let dynamo = Dynamo::new().cancels(vec![held(), held(), too_large]);
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);

    let err = ledger.apply(&requested(J, A, 30), "e2").await.unwrap_err();

    assert!(matches!(&err, StoreError::Refused { .. }), "{err:?}");
    assert_eq!(err.error_type(), "LedgerError");
    assert_eq!(dynamo.operations(), ["TransactWriteItems"]);
}

/// A store error keeps the SDK's error as its source, for whoever wants
/// more than the message; the message is what it always said.
#[tokio::test]
async fn a_refusal_keeps_the_sdks_error_as_its_source() {
    let (_, err) = refused_as_too_large().await;

    assert!(
        err.to_string()
            .starts_with("DynamoDB refused the request: "),
        "{err}"
    );
    let source = std::error::Error::source(&err).expect("the SDK's error");
    let sdk = source
        .downcast_ref::<SdkError<TransactWriteItemsError>>()
        .expect("the TransactWriteItems error itself");
    assert_eq!(
        sdk.as_service_error().and_then(|e| e.code()),
        Some("ValidationException")
    );
}

/// Stored items this code would never write, each with what the error must
/// name: (what, account item, job item, expected in the message).
fn malformed_cases() -> Vec<(&'static str, Item, Item, &'static str)> {
    let state = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let account = account_item(&state.accounts[A]);
    let job = job_item(&state.jobs[J]);
    let num = |n: &str| AttributeValue::N(n.into());
    let text = |s: &str| AttributeValue::S(s.into());
    let mut other = state.accounts[A].clone();
    other.account_id = "a2".into();
    vec![
        (
            "an account of an unknown format version",
            with(account.clone(), "v", num("4")),
            job.clone(),
            "format version 4",
        ),
        (
            "an account whose id disagrees with its key",
            with(account.clone(), "account_id", text("a2")),
            job.clone(),
            "ACCOUNT#a2",
        ),
        (
            "another account's item under this account's key",
            account_item(&other),
            job.clone(),
            "names account a2",
        ),
        (
            "an account with a balance of the wrong type",
            with(account.clone(), "available", text("lots")),
            job.clone(),
            "ACCOUNT#a1 / ACCOUNT",
        ),
        (
            "a job of an unknown status",
            account.clone(),
            with(job.clone(), "status", text("PAUSED")),
            "unknown status",
        ),
        (
            "a HELD job without a hold",
            account.clone(),
            without(job.clone(), "hold"),
            "JOB#j1",
        ),
        (
            "a job with an unknown format version",
            account.clone(),
            with(job.clone(), "v", num("7")),
            "format version 7",
        ),
    ]
}

/// A malformed stored item in the `ALL_OLD` images of a cancellation stops
/// the command with the item named: no panic, no retry.
#[tokio::test]
async fn a_malformed_item_in_a_cancellation_stops_the_command_naming_it() {
    let state = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    for (what, account, job, named) in malformed_cases() {
        let dynamo = Dynamo::new().cancels(vec![failed(Some(account)), failed(Some(job)), held()]);
        let ledger = dynamo.ledger();
        ledger.remember(&state.accounts[A], Some(&state.jobs[J]));

        let err = ledger.apply(&rendered(J, A, 25), "e3").await.unwrap_err();

        assert!(
            matches!(&err, StoreError::Malformed(m) if m.contains(named)),
            "{what}: {err:?}"
        );
        assert_eq!(err.error_type(), "LedgerError", "{what}");
        assert_eq!(dynamo.operations(), ["TransactWriteItems"], "{what}");
    }
}

/// The same items in a consistent read: the same error, no retry.
#[tokio::test]
async fn a_malformed_item_in_a_read_stops_the_command_naming_it() {
    for (what, account, job, named) in malformed_cases() {
        let dynamo = Dynamo::new().reads(vec![Some(account), Some(job)]);
        let ledger = dynamo.ledger();

        let err = ledger.apply(&rendered(J, A, 25), "e3").await.unwrap_err();

        assert!(
            matches!(&err, StoreError::Malformed(m) if m.contains(named)),
            "{what}: {err:?}"
        );
        assert_eq!(dynamo.operations(), ["TransactGetItems"], "{what}");
        assert_eq!(ledger.remembered(A), None, "{what}: nothing remembered");
    }
}

/// The instance remembers the account after the sweep expired j1 (it wrote
/// to it since) but j1 from before (HELD 30): a job holding more than its
/// account holds. Pictures of two moments; one consistent read settles it.
#[tokio::test]
async fn an_inconsistent_picture_from_memory_is_read_again_consistently() {
    let before = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let mut real = before.clone();
    real.expire(J, &meta("sweep")).unwrap();
    let event = rendered(J, A, 25);
    let dynamo = Dynamo::new()
        .reads(vec![
            Some(account_item(&real.accounts[A])),
            Some(job_item(&real.jobs[J])),
        ])
        .commits();
    let ledger = dynamo.ledger();
    ledger.remember(&real.accounts[A], Some(&before.jobs[J]));

    let applied = ledger.apply(&event, "e4").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Debited);
    assert_eq!(applied.overdraft, 25);
    assert_eq!(
        dynamo.operations(),
        ["TransactGetItems", "TransactWriteItems"]
    );
    assert_shape(
        &dynamo.writes()[0],
        &a_move("EXPIRED", None, 3, [100, 0, 100, 0, 0], 0),
    );
}

/// The same contradiction in one consistent snapshot is no stale memory: the
/// ledger is broken (invariant 2), and nothing is decided on it.
#[tokio::test]
async fn a_consistent_snapshot_that_breaks_invariant_2_is_a_broken_ledger() {
    let granted = after(&[grant("g1", A, 100)]);
    let holding = after(&[grant("g1", A, 100), requested(J, A, 30)]);
    let dynamo = Dynamo::new().reads(vec![
        Some(account_item(&granted.accounts[A])),
        Some(job_item(&holding.jobs[J])),
    ]);
    let ledger = dynamo.ledger();

    let err = ledger.apply(&rendered(J, A, 25), "e3").await.unwrap_err();

    assert!(
        matches!(&err, StoreError::Ledger(LedgerError::Broken { account_id, .. }) if account_id == A),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "LedgerError");
    assert_eq!(dynamo.operations(), ["TransactGetItems"]);
}

/// A `TransactGetItems` cancelled because a write to its items is in flight
/// is read again after a backoff.
#[tokio::test]
async fn a_read_cancelled_by_a_write_in_flight_is_read_again() {
    let state = after(&[grant("g1", A, 100)]);
    let event = requested(J, A, 30);
    let dynamo = Dynamo::new()
        .read_cancelled(vec![contended(), held()])
        .reads(vec![Some(account_item(&state.accounts[A])), None])
        .commits();
    let ledger = dynamo.ledger();

    let applied = ledger.apply(&event, "e2").await.unwrap();

    assert_eq!(applied.outcome, Outcome::Held);
    assert_eq!(applied.requests, 3);
    assert_eq!(
        dynamo.operations(),
        ["TransactGetItems", "TransactGetItems", "TransactWriteItems"]
    );
    assert_shape(&dynamo.writes()[0], &a_hold(J, 1, [100, 0, 100, 0, 0]));
}

/// The account is exactly as the change assumed (its condition held), yet
/// the entry the change numbers next exists: entries and account disagree,
/// a malformed ledger — not something deciding again could fix.
#[tokio::test]
async fn an_existing_next_entry_while_the_account_is_as_assumed_is_malformed() {
    let state = after(&[grant("g1", A, 100)]);
    let other = after(&[grant("g1", A, 100), grant("g2", A, 5)]);
    let dynamo = Dynamo::new().cancels(vec![
        held(),
        held(),
        failed(Some(to_item(&EntryItem::new(&other.entries[1])))),
    ]);
    let ledger = dynamo.ledger();
    ledger.remember(&state.accounts[A], None);

    let err = ledger.apply(&requested(J, A, 30), "e2").await.unwrap_err();

    assert!(
        matches!(&err, StoreError::Malformed(m) if m.contains("next ledger entry exists")),
        "{err:?}"
    );
    assert_eq!(dynamo.operations(), ["TransactWriteItems"]);
}

/// The sweep expires a HELD job the index lists under account a1; the job
/// item read says it belongs to a2 (jobs never change accounts: an edited
/// item). Nothing is decided on it: malformed, named, no write. Before the
/// check, the expiry panicked when a1 held less than the job's hold, and
/// otherwise committed: a1's credits released for a2's job, and an entry
/// written into a2's ledger numbered after a1's.
#[tokio::test]
async fn an_expiry_whose_job_names_another_account_is_malformed() {
    let a2 = after(&[grant("g2", "a2", 100), requested(J, "a2", 30)]);
    let a1_idle = after(&[grant("g1", A, 100)]);
    let a1_holding = after(&[grant("g1", A, 100), requested("j0", A, 30)]);
    for a1 in [a1_idle, a1_holding] {
        let dynamo = Dynamo::new().reads(vec![
            Some(account_item(&a1.accounts[A])),
            Some(job_item(&a2.jobs[J])),
        ]);
        let ledger = dynamo.ledger();

        let err = ledger.expire(J, A, "sweep").await.unwrap_err();

        assert!(
            matches!(&err, StoreError::Malformed(m) if m.contains("JOB#j1") && m.contains("a2")),
            "{err:?}"
        );
        assert_eq!(dynamo.operations(), ["TransactGetItems"]);
    }
}
