//! The sweep's phases against a mocked DynamoDB: index pages, reads and
//! writes scripted in the order the sweep must send them (any other
//! request fails the test), the states scripted the reference model's.

use std::sync::atomic::{AtomicI64, Ordering};

use aws_sdk_dynamodb::types::AttributeValue;
use reconciler_core::contract::table;
use reconciler_core::memory::MemoryLedger;

use super::*;
use crate::store::items::{
    AuditCheckpointItem, ConflictItem, EntryItem, FORMAT_VERSION, SweepStateItem, to_item,
};
use crate::store::keys::{self, Item};
use crate::store::mock::*;

/// A phase's first read of the index is one `Query` per partition of its
/// kind: 32 shards and the unsharded key of item format 1, so 32 more
/// requests than when each kind was one partition.
const MORE: usize = 32;

/// The Lambda deadline of every run: five minutes after [`NOW`].
const DEADLINE: i64 = NOW + 300_000;

fn config(action: StragglerAction) -> SweepConfig {
    SweepConfig {
        stage: "test".into(),
        table: TABLE.into(),
        hold_timeout_seconds: 6 * 3600,
        straggler_action: action,
        summarizer: None,
    }
}

/// A sweep on the script: pages of two, no reserve before the deadline,
/// conflicts settle for a minute, the clock at [`NOW`].
fn sweep(dynamo: &Dynamo, action: StragglerAction) -> Sweep {
    Sweep::new(dynamo.ledger(), &config(action), None).with_tuning(Tuning {
        margin: Margin {
            min: Duration::ZERO,
            fraction: 0.0,
        },
        page_size: Some(2),
        conflict_settle: Duration::from_secs(60),
        list_cap: 10,
        clock: || NOW,
        // The script answers in the order the requests are sent.
        lanes: 1,
    })
}

fn input(dry_run: bool) -> SweepInput {
    SweepInput {
        dry_run,
        ..SweepInput::default()
    }
}

/// The key a page of the index ends at (what DynamoDB hands back as
/// `LastEvaluatedKey`).
fn page_end(item: &Item) -> Item {
    [
        table::PARTITION_KEY,
        table::SORT_KEY,
        table::OPEN_INDEX_PARTITION_KEY,
        table::OPEN_INDEX_SORT_KEY,
    ]
    .into_iter()
    .map(|k| (k.to_owned(), item[k].clone()))
    .collect()
}

/// An account's ledger entries, as stored.
fn entry_items(ledger: &MemoryLedger, account_id: &str) -> Vec<Item> {
    ledger
        .entries_of(account_id, 0)
        .iter()
        .map(|e| to_item(&EntryItem::new(e)))
        .collect()
}

/// The handler's record of a conflicting `video.requested`, written at `at_ms`.
fn conflict(job_id: &str, credits: i64, at_ms: i64) -> ConflictItem {
    let event = requested(job_id, "a1", credits);
    let key = event.business_key();
    let detail = event.to_detail().to_string();
    ConflictItem {
        pk: keys::conflict_pk(&key),
        sk: keys::fingerprint(&detail),
        v: FORMAT_VERSION,
        open_key: keys::conflict_open_key(at_ms, &key, &detail),
        key: key.transition(),
        account_id: "a1".into(),
        detail_type: event.detail_type().into(),
        detail,
        reason: "video.requested was already applied with 30 credits".into(),
        event_id: "e9".into(),
        at_ms,
        open_kind: keys::conflict_open_kind(&key),
        expires_at: at_ms / 1000 + 90 * 24 * 3600,
    }
}

/// The checkpoint a sweep put on its own (`PutItem`), and its guard.
fn checkpoint_put(dynamo: &Dynamo) -> AuditCheckpointItem {
    let put = dynamo
        .sent()
        .into_iter()
        .find_map(|s| match s {
            Sent::Put(p) => Some(p),
            _ => None,
        })
        .expect("a PutItem");
    assert!(
        put.condition_expression()
            .is_some_and(|c| c.contains("audited_seq")),
        "only forward: {put:?}"
    );
    serde_dynamo::from_item(put.item().cloned().unwrap()).unwrap()
}

fn nothing_written(dynamo: &Dynamo) -> bool {
    dynamo.sent().iter().all(|s| !s.writes())
}

/// Each straggler of the report with its outcome, in the order settled.
fn outcomes(report: &Report) -> Vec<(&str, StragglerOutcome)> {
    report
        .straggler_jobs
        .iter()
        .map(|s| (s.job_id.as_str(), s.outcome))
        .collect()
}

fn query(sent: &Sent) -> &aws_sdk_dynamodb::operation::query::QueryInput {
    match sent {
        Sent::Query(q) => q,
        other => panic!("expected a Query, sent {}", other.operation()),
    }
}

/// One straggler's expiry is refused by DynamoDB: it is reported as failed,
/// the others — on both pages of the index — still expire, and `handle`
/// fails the invocation as `SweepItemsFailed` after the whole run.
#[tokio::test]
async fn a_straggler_whose_expiry_fails_is_reported_and_the_others_still_expire() {
    fn script() -> Dynamo {
        let holding = |a: &str, j: &str| after(&[grant("g", a, 100), requested(j, a, 30)]);
        let (s1, s2, s3) = (
            holding("a1", "j1"),
            holding("a2", "j2"),
            holding("a3", "j3"),
        );
        let read = |s: &MemoryLedger, a: &str, j: &str| {
            vec![
                Some(account_item(&s.accounts[a])),
                Some(job_item(&s.jobs[j])),
            ]
        };
        let j2 = job_item(&s2.jobs["j2"]);
        Dynamo::new()
            .index(
                "HELD",
                vec![job_item(&s1.jobs["j1"]), j2.clone()],
                Some(page_end(&j2)),
            )
            .reads(read(&s1, "a1", "j1"))
            .commits()
            .reads(read(&s2, "a2", "j2"))
            .write_fails(item_too_large)
            .queries(vec![job_item(&s3.jobs["j3"])], None)
            .reads(read(&s3, "a3", "j3"))
            .commits()
            .index("AUDIT", vec![], None)
            .gets(None)
            .index("CONFLICT", vec![], None)
    }

    let dynamo = script();
    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert_eq!(
        (report.stragglers, report.expired, report.failed_items),
        (3, 2, 1)
    );
    assert_eq!(
        outcomes(&report),
        [
            ("j1", StragglerOutcome::Expired),
            ("j2", StragglerOutcome::Failed),
            ("j3", StragglerOutcome::Expired)
        ]
    );
    assert!(
        report.errors[0].contains("expire job j2") && report.errors[0].contains("maximum"),
        "{:?}",
        report.errors
    );
    assert!(report.complete);
    let sent = dynamo.sent();
    let first = query(&sent[0]);
    assert_eq!(first.index_name(), Some(table::OPEN_INDEX));
    assert_eq!(first.exclusive_start_key(), None);
    let second = query(&sent[5 + MORE]);
    assert_eq!(
        second.exclusive_start_key(),
        Some(&page_end(&job_item(
            &after(&[grant("g", "a2", 100), requested("j2", "a2", 30)]).jobs["j2"]
        )))
    );

    let dynamo = script();
    let err = sweep(&dynamo, StragglerAction::Expire)
        .handle("{}", DEADLINE, "run-2")
        .await
        .unwrap_err();

    assert!(
        matches!(&err, SweepError::ItemsFailed { failed: 1, first, .. } if first.contains("j2")),
        "{err:?}"
    );
    assert_eq!(err.error_type(), "SweepItemsFailed");
    assert!(err.has_report());
}

/// An account whose balances were edited by hand (conservation still holds,
/// but the ledger does not sum to them): reported as drift, and its audit
/// mark is left in place — no write at all — so every sweep reports it until
/// it is corrected.
#[tokio::test]
async fn the_audit_of_an_account_with_drift_keeps_its_mark_and_reports_it() {
    let history = after(&[
        grant("g1", "a1", 100),
        requested("j1", "a1", 30),
        rendered("j1", "a1", 25),
    ]);
    let mut edited = history.accounts["a1"].clone();
    edited.available += 5;
    edited.granted += 5;
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![account_item(&history.accounts["a1"])], None)
        .queries(vec![account_item(&edited)], None)
        .queries(entry_items(&history, "a1"), None)
        .batch_gets(vec![job_item(&history.jobs["j1"])])
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert!(nothing_written(&dynamo), "{:?}", dynamo.operations());
    assert_eq!(
        (
            report.audited_accounts,
            report.drifted_accounts,
            report.audit_marks_kept,
            report.failed_items
        ),
        (1, 1, 0, 0)
    );
    let drift = &report.drift[0];
    assert_eq!(drift.account_id, "a1");
    let problems = drift.problems.join("; ");
    assert!(
        problems.contains("available") && problems.contains("granted"),
        "{problems}"
    );
}

/// An account marked for audit that cannot be audited (here its mark has
/// lost its account id) fails that account's audit: the run reports it and
/// emits no `LedgerDrift`, so the drift alarm keeps its state instead of
/// turning OK on an audit that did not cover every marked account.
#[tokio::test]
async fn an_account_whose_audit_fails_leaves_no_ledger_drift_datapoint() {
    let mark: Item = [(
        table::OPEN_INDEX_PARTITION_KEY.to_owned(),
        AttributeValue::S("AUDIT#00".into()),
    )]
    .into();
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![mark], None)
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert!(report.complete, "every phase ran to its end");
    assert_eq!((report.failed_items, report.audit_failures), (1, 1));
    let emitted: Vec<&str> = report.metric_values().into_iter().map(|(n, _)| n).collect();
    assert!(!emitted.contains(&"LedgerDrift"), "{emitted:?}");
    assert!(emitted.contains(&"Stragglers"), "{emitted:?}");
}

/// The account was read at seq 3, but one of the jobs its entries hold for
/// has moved since (its last entry is 4): nothing is proven about its hold
/// yet. No drift is reported; the mark stays for the next sweep, and the
/// checkpoint stops short of that hold.
#[tokio::test]
async fn an_audit_whose_job_moved_after_the_audited_version_keeps_the_mark_without_drift() {
    let audited = after(&[
        grant("g1", "a1", 100),
        requested("j1", "a1", 30),
        requested("j2", "a1", 10),
    ]);
    let now = after(&[
        grant("g1", "a1", 100),
        requested("j1", "a1", 30),
        requested("j2", "a1", 10),
        rendered("j1", "a1", 25),
    ]);
    assert_eq!(now.jobs["j1"].entries, [2, 4]);
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![account_item(&audited.accounts["a1"])], None)
        .queries(vec![account_item(&audited.accounts["a1"])], None)
        .queries(entry_items(&audited, "a1"), None)
        .batch_gets(vec![job_item(&now.jobs["j1"]), job_item(&now.jobs["j2"])])
        .puts()
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    // The mark stays; the checkpoint moves, but not past j1's take (entry
    // 2): nothing verified it, since its job moved after it. The next audit
    // reads from entry 2, and compares j1's release with it.
    assert_eq!(
        dynamo
            .operations()
            .iter()
            .filter(|o| **o != "Query" && **o != "BatchGetItem" && **o != "GetItem")
            .collect::<Vec<_>>(),
        [&"PutItem"]
    );
    assert_eq!(checkpoint_put(&dynamo).audited_seq, 1);
    assert_eq!(
        (
            report.audited_accounts,
            report.drifted_accounts,
            report.audit_marks_kept
        ),
        (1, 0, 1)
    );
    assert!(report.drift.is_empty());
}

/// Two clean accounts: a1 (audited from its checkpoint at seq 2: only entry
/// 3 is read, and the take of the hold it releases) loses its mark and gets
/// a checkpoint at seq 3; a2 moved
/// between its audit and the removal (the removal's condition fails), so
/// its mark is kept and counted, and its checkpoint moves alone.
#[tokio::test]
async fn a_mark_the_account_moved_past_is_kept_and_counted() {
    let a1 = after(&[
        grant("g1", "a1", 100),
        requested("j1", "a1", 30),
        rendered("j1", "a1", 25),
    ]);
    let a1_at_2 = after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]);
    let checkpoint = AuditCheckpointItem::new(
        "a1",
        0,
        &Balances::of(&a1_at_2.accounts["a1"]),
        NOW - 1,
        "run-0",
    );
    let a2 = after(&[grant("g2", "a2", 50)]);
    let a2_moved = after(&[grant("g2", "a2", 50), grant("g3", "a2", 5)]);
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index(
            "AUDIT",
            vec![
                account_item(&a1.accounts["a1"]),
                account_item(&a2.accounts["a2"]),
            ],
            None,
        )
        .queries(
            vec![account_item(&a1.accounts["a1"]), to_item(&checkpoint)],
            None,
        )
        .queries(entry_items(&a1, "a1")[2..].to_vec(), None)
        .batch_gets(vec![job_item(&a1.jobs["j1"])])
        // j1's debit releases a hold taken before the checkpoint: its take.
        .batch_gets(vec![entry_items(&a1, "a1")[1].clone()])
        .commits()
        .queries(vec![account_item(&a2.accounts["a2"])], None)
        .queries(entry_items(&a2, "a2"), None)
        .cancels(vec![
            failed(Some(account_item(&a2_moved.accounts["a2"]))),
            held(),
        ])
        .puts()
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert_eq!(
        (
            report.audited_accounts,
            report.drifted_accounts,
            report.audit_marks_kept,
            report.failed_items
        ),
        (2, 0, 1, 0)
    );
    let sent = dynamo.sent();
    let entries = query(&sent[3 + 2 * MORE]);
    let bounds = entries.expression_attribute_values().unwrap();
    assert!(
        bounds
            .values()
            .filter(|v| **v == AttributeValue::S(keys::entry_sk(3)))
            .count()
            == 2,
        "only entry 3 is read after the checkpoint: {bounds:?}"
    );
    let cleared = &dynamo.writes()[0];
    let removal = cleared.transact_items()[0].update().unwrap();
    assert_eq!(removal.key(), &keys::account_key("a1"));
    assert_eq!(removal.update_expression(), "REMOVE #open_kind, #open_key");
    let moved = cleared.transact_items()[1].put().unwrap();
    assert_eq!(moved.item()["audited_seq"], AttributeValue::N("3".into()));
    // a2 moved on: its mark stays, its checkpoint moves to the version
    // audited (seq 1), alone.
    let a2_checkpoint = checkpoint_put(&dynamo);
    assert_eq!(
        (a2_checkpoint.account_id.as_str(), a2_checkpoint.audited_seq),
        ("a2", 1)
    );
}

/// Conflicts are listed from the marker on, across pages, up to the first
/// one younger than the settle time; the marker then moves to the last one
/// listed — only forward (its condition), and an update refused because
/// another sweep listed further is no failure.
#[tokio::test]
async fn the_conflicts_phase_moves_the_marker_forward_to_the_last_listed() {
    let marker = conflict("j0", 40, NOW - 900_000).open_key;
    let c1 = conflict("j1", 40, NOW - 300_000);
    let c2 = conflict("j2", 40, NOW - 120_000);
    let young = conflict("j3", 40, NOW - 10_000);
    let state = SweepStateItem {
        conflicts_listed_until: Some(marker.clone()),
        updated_at_ms: Some(NOW - 6 * 3600 * 1000),
        ..SweepStateItem::default()
    };
    for another_sweep_went_further in [false, true] {
        let dynamo = Dynamo::new()
            .index("HELD", vec![], None)
            .index("AUDIT", vec![], None)
            .gets(Some(to_item(&state)))
            .index(
                "CONFLICT",
                vec![to_item(&c1), to_item(&c2)],
                Some(page_end(&to_item(&c2))),
            )
            .queries(vec![to_item(&young)], None);
        let dynamo = if another_sweep_went_further {
            dynamo.update_refused()
        } else {
            dynamo.updates()
        };

        let report = sweep(&dynamo, StragglerAction::Expire)
            .run(&input(false), DEADLINE, "run-1")
            .await
            .unwrap();

        dynamo.assert_done();
        assert_eq!((report.conflicts, report.failed_items), (2, 0));
        assert!(report.complete);
        let listed: Vec<_> = report
            .conflict_list
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(listed, [c1.key.as_str(), c2.key.as_str()]);
        let sent = dynamo.sent();
        let listing = query(&sent[3 + 2 * MORE]);
        assert!(
            listing
                .key_condition_expression()
                .is_some_and(|k| k.contains('>'))
        );
        assert!(
            listing
                .expression_attribute_values()
                .unwrap()
                .values()
                .any(|v| *v == AttributeValue::S(marker.clone())),
            "listed after the marker"
        );
        let Sent::Update(update) = &sent[5 + 3 * MORE] else {
            panic!("the marker moves last: {:?}", dynamo.operations());
        };
        assert_eq!(update.key(), Some(&keys::sweep_state_key()));
        let values = update.expression_attribute_values().unwrap();
        assert!(
            values
                .values()
                .any(|v| *v == AttributeValue::S(c2.open_key.clone()))
        );
        assert!(
            !values
                .values()
                .any(|v| *v == AttributeValue::S(young.open_key.clone()))
        );
        let guard = update.condition_expression().unwrap();
        assert!(
            guard.contains("attribute_not_exists") && guard.contains('<'),
            "only forward: {guard}"
        );
    }
}

static CLOCK: AtomicI64 = AtomicI64::new(NOW);
/// Held by a test on [`moving_clock`] while it runs: one test at a time
/// moves it.
static CLOCK_USED: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A clock at [`NOW`] that a script moves past the deadline
/// ([`past_the_deadline`]); hold [`CLOCK_USED`] while using it.
fn moving_clock() -> i64 {
    CLOCK.load(Ordering::SeqCst)
}

fn past_the_deadline() {
    CLOCK.store(DEADLINE, Ordering::SeqCst);
}

/// The budget runs out while the first page of marked accounts is audited:
/// the item in hand is finished, the next page is not asked for, and the
/// report says the audit and the conflicts are left for the next run.
#[tokio::test]
async fn the_time_budget_stops_between_pages_and_says_what_is_left() {
    let _clock = CLOCK_USED.lock().await;
    CLOCK.store(NOW, Ordering::SeqCst);
    let a1 = after(&[grant("g1", "a1", 100)]);
    let marked = account_item(&a1.accounts["a1"]);
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![marked.clone()], Some(page_end(&marked)))
        .queries(vec![marked], None)
        .queries(entry_items(&a1, "a1"), None)
        .commits_then(past_the_deadline);
    let sweep =
        Sweep::new(dynamo.ledger(), &config(StragglerAction::Expire), None).with_tuning(Tuning {
            margin: Margin {
                min: Duration::ZERO,
                fraction: 0.0,
            },
            page_size: Some(1),
            clock: moving_clock,
            lanes: 1,
            ..Tuning::default()
        });

    let report = sweep.run(&input(false), DEADLINE, "run-1").await.unwrap();

    dynamo.assert_done();
    assert!(!report.complete);
    assert_eq!(report.remaining, [Phase::Audit, Phase::Conflicts]);
    assert_eq!((report.audited_accounts, report.audit_marks_kept), (1, 0));
}

/// A budget spent before the sweep starts sends nothing and leaves all
/// three phases to the next run.
#[tokio::test]
async fn a_budget_spent_from_the_start_sends_nothing() {
    let dynamo = Dynamo::new();

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), NOW, "run-1")
        .await
        .unwrap();

    assert!(dynamo.sent().is_empty());
    assert!(!report.complete);
    assert_eq!(report.remaining, Phase::ALL);
}

/// A dry run reads and reports everything — a straggler, a clean account,
/// a conflict — and writes nothing: no expiry (not even its read), no mark
/// removal, no marker.
#[tokio::test]
async fn a_dry_run_reads_and_reports_but_writes_nothing() {
    let history = after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]);
    let c1 = conflict("j9", 40, NOW - 300_000);
    let dynamo = Dynamo::new()
        .index("HELD", vec![job_item(&history.jobs["j1"])], None)
        .index("AUDIT", vec![account_item(&history.accounts["a1"])], None)
        .queries(vec![account_item(&history.accounts["a1"])], None)
        .queries(entry_items(&history, "a1"), None)
        .batch_gets(vec![job_item(&history.jobs["j1"])])
        .gets(None)
        .index("CONFLICT", vec![to_item(&c1)], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(true), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert!(nothing_written(&dynamo), "{:?}", dynamo.operations());
    assert!(report.dry_run && report.complete);
    assert_eq!((report.stragglers, report.expired), (1, 0));
    assert_eq!(report.straggler_jobs[0].outcome, StragglerOutcome::DryRun);
    assert_eq!(
        (
            report.audited_accounts,
            report.drifted_accounts,
            report.audit_marks_kept
        ),
        (1, 0, 0)
    );
    assert_eq!(report.conflicts, 1);
    // What the audit compares and where the listing starts are read
    // strongly consistent.
    let sent = dynamo.sent();
    let Sent::BatchGet(jobs) = &sent[4 + 2 * MORE] else {
        panic!("{:?}", dynamo.operations());
    };
    let request = &jobs.request_items().unwrap()[TABLE];
    assert_eq!(request.keys(), [keys::job_key("j1")]);
    assert_eq!(request.consistent_read(), Some(true));
    let Sent::Get(state) = &sent[5 + 2 * MORE] else {
        panic!("{:?}", dynamo.operations());
    };
    assert_eq!(state.key(), Some(&keys::sweep_state_key()));
    assert_eq!(state.consistent_read(), Some(true));
}

/// A HELD job in the index without its hold, and an audit mark without its
/// account id (hand edits, a bug of another writer): each is reported as a
/// failed item naming it, and the sweep goes on with the rest instead of
/// failing the whole run every six hours.
#[tokio::test]
async fn malformed_index_items_are_reported_and_the_rest_is_swept() {
    let holding = |a: &str, j: &str| after(&[grant("g", a, 100), requested(j, a, 30)]);
    let (s1, s3) = (holding("a1", "j1"), holding("a3", "j3"));
    let mut no_hold = job_item(&holding("a2", "j2").jobs["j2"]);
    no_hold.remove("hold");
    let mut no_account = account_item(&s1.accounts["a1"]);
    no_account.remove(table::OPEN_INDEX_SORT_KEY);
    let read = |s: &MemoryLedger, a: &str, j: &str| {
        vec![
            Some(account_item(&s.accounts[a])),
            Some(job_item(&s.jobs[j])),
        ]
    };
    let dynamo = Dynamo::new()
        .index(
            "HELD",
            vec![job_item(&s1.jobs["j1"]), no_hold, job_item(&s3.jobs["j3"])],
            None,
        )
        .reads(read(&s1, "a1", "j1"))
        .commits()
        .reads(read(&s3, "a3", "j3"))
        .commits()
        .index("AUDIT", vec![no_account], None)
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .expect("the sweep runs to the end");

    dynamo.assert_done();
    assert_eq!(
        (report.stragglers, report.expired, report.failed_items),
        (3, 2, 2)
    );
    assert!(report.complete);
    assert!(
        report.errors[0].starts_with("straggler: malformed held job (index) item")
            && report.errors[0].contains("hold"),
        "{:?}",
        report.errors
    );
    assert!(
        report.errors[1].contains("an item marked for audit does not name its account"),
        "{:?}",
        report.errors
    );
}

/// The key a page of an account's entries ends at.
fn entries_end(item: &Item) -> Item {
    [table::PARTITION_KEY, table::SORT_KEY]
        .into_iter()
        .map(|k| (k.to_owned(), item[k].clone()))
        .collect()
}

/// The values a `Query` was sent with.
fn query_values(sent: &Sent) -> Vec<AttributeValue> {
    query(sent)
        .expression_attribute_values()
        .map(|v| v.values().cloned().collect())
        .unwrap_or_default()
}

/// The round's scenario, through the sweep: grant 100, hold j1 30, a clean
/// audit (checkpoint at 2); the job's hold edited to 20 by hand;
/// `video.failed` releases 20. The entries since the checkpoint sum to the
/// balances, and j1 is REFUNDED as its last entry says — but the release is
/// compared with its take, entry 2, read by key: drift, nothing written.
#[tokio::test]
async fn a_release_is_compared_with_its_take_from_before_the_checkpoint() {
    let mut state = after(&[grant("g1", "a1", 100), requested("j1", "a1", 30)]);
    let checkpoint = AuditCheckpointItem::new(
        "a1",
        0,
        &Balances::of(&state.accounts["a1"]),
        NOW - 1,
        "run-0",
    );
    state.jobs.get_mut("j1").unwrap().hold = Some(20);
    state.apply(&failed_job("j1", "a1"), &meta("e3")).unwrap();
    let account = &state.accounts["a1"];
    assert_eq!((account.available, account.held), (90, 10));
    let entries = entry_items(&state, "a1");
    let dynamo = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![account_item(account)], None)
        .queries(vec![account_item(account), to_item(&checkpoint)], None)
        .queries(entries[2..].to_vec(), None)
        .batch_gets(vec![job_item(&state.jobs["j1"])])
        .batch_gets(vec![entries[1].clone()])
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert!(nothing_written(&dynamo), "{:?}", dynamo.operations());
    assert_eq!((report.audited_accounts, report.drifted_accounts), (1, 1));
    let problems = report.drift[0].problems.join("; ");
    assert!(
        problems.contains("job j1: 20 credits released at entry 3")
            && problems.contains("moved 30 held credits"),
        "{problems}"
    );
    let Sent::BatchGet(takes) = &dynamo.sent()[5 + 2 * MORE] else {
        panic!("{:?}", dynamo.operations());
    };
    assert_eq!(
        takes.request_items().unwrap()[TABLE].keys(),
        [keys::entry_key("a1", 2)]
    );
}

/// A window longer than one run: five entries in pages of two. Each page
/// proven with more to come moves the checkpoint; the budget, spent after
/// the second page, stops the run inside the account (the audit and the
/// conflicts left for the next run); the next run reads only entry 5, from
/// the checkpoint, and clears the mark.
#[tokio::test]
async fn a_long_window_is_audited_a_page_at_a_time_and_resumed_from_its_checkpoint() {
    let history = after(&[
        grant("g1", "a1", 10),
        grant("g2", "a1", 10),
        grant("g3", "a1", 10),
        grant("g4", "a1", 10),
        grant("g5", "a1", 10),
    ]);
    let account = account_item(&history.accounts["a1"]);
    let entries = entry_items(&history, "a1");
    let sweep_at = |dynamo: &Dynamo| {
        Sweep::new(dynamo.ledger(), &config(StragglerAction::Expire), None).with_tuning(Tuning {
            margin: Margin {
                min: Duration::ZERO,
                fraction: 0.0,
            },
            page_size: Some(2),
            clock: moving_clock,
            lanes: 1,
            ..Tuning::default()
        })
    };
    let _clock = CLOCK_USED.lock().await;
    CLOCK.store(NOW, Ordering::SeqCst);
    let first = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![account.clone()], None)
        .queries(vec![account.clone()], None)
        .queries(entries[..2].to_vec(), Some(entries_end(&entries[1])))
        .puts()
        .queries(entries[2..4].to_vec(), Some(entries_end(&entries[3])))
        .puts_then(past_the_deadline);

    let report = sweep_at(&first)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    first.assert_done();
    assert!(!report.complete);
    assert_eq!(report.remaining, [Phase::Audit, Phase::Conflicts]);
    assert_eq!((report.audited_accounts, report.audit_marks_kept), (1, 1));
    let saved: Vec<u64> = first
        .sent()
        .iter()
        .filter_map(|s| match s {
            Sent::Put(p) => {
                let c: AuditCheckpointItem =
                    serde_dynamo::from_item(p.item().cloned().unwrap()).unwrap();
                Some(c.audited_seq)
            }
            _ => None,
        })
        .collect();
    assert_eq!(saved, [2, 4], "the checkpoint moved with every page proven");

    CLOCK.store(NOW, Ordering::SeqCst);
    let at_4 = after(&[
        grant("g1", "a1", 10),
        grant("g2", "a1", 10),
        grant("g3", "a1", 10),
        grant("g4", "a1", 10),
    ]);
    let checkpoint =
        AuditCheckpointItem::new("a1", 0, &Balances::of(&at_4.accounts["a1"]), NOW, "run-1");
    let second = Dynamo::new()
        .index("HELD", vec![], None)
        .index("AUDIT", vec![account.clone()], None)
        .queries(vec![account, to_item(&checkpoint)], None)
        .queries(entries[4..].to_vec(), None)
        .commits()
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep_at(&second)
        .run(&input(false), DEADLINE, "run-2")
        .await
        .unwrap();

    second.assert_done();
    assert!(report.complete);
    assert_eq!((report.audit_marks_kept, report.drifted_accounts), (0, 0));
    let read = query_values(&second.sent()[3 + 2 * MORE]);
    assert!(
        read.contains(&AttributeValue::S(keys::entry_sk(5)))
            && !read.contains(&AttributeValue::S(keys::entry_sk(1))),
        "only entry 5 is read: {read:?}"
    );
}

/// The account was read at seq 3 but its entry 3 was not among the
/// entries (a query is no snapshot: the transaction that wrote both was
/// still being applied). The audit reads the account and entry 3 again in
/// one transaction: there, it was a write in flight — no drift, the mark
/// stays, the checkpoint moves to entry 2; gone while the account is at 3,
/// it is drift, and nothing is written.
#[tokio::test]
async fn a_missing_last_entry_is_read_again_with_the_account_before_it_is_drift() {
    let history = after(&[
        grant("g1", "a1", 10),
        grant("g2", "a1", 10),
        grant("g3", "a1", 10),
    ]);
    let account = account_item(&history.accounts["a1"]);
    let entries = entry_items(&history, "a1");
    for in_flight in [true, false] {
        let dynamo = Dynamo::new()
            .index("HELD", vec![], None)
            .index("AUDIT", vec![account.clone()], None)
            .queries(vec![account.clone()], None)
            .queries(entries[..2].to_vec(), None)
            .reads(vec![
                Some(account.clone()),
                in_flight.then(|| entries[2].clone()),
            ]);
        let dynamo = if in_flight { dynamo.puts() } else { dynamo };
        let dynamo = dynamo.gets(None).index("CONFLICT", vec![], None);

        let report = sweep(&dynamo, StragglerAction::Expire)
            .run(&input(false), DEADLINE, "run-1")
            .await
            .unwrap();

        dynamo.assert_done();
        let Sent::Read(snapshot) = &dynamo.sent()[4 + 2 * MORE] else {
            panic!("{:?}", dynamo.operations());
        };
        let read: Vec<_> = snapshot
            .transact_items()
            .iter()
            .map(|g| g.get().unwrap().key().clone())
            .collect();
        assert_eq!(read, [keys::account_key("a1"), keys::entry_key("a1", 3)]);
        if in_flight {
            assert_eq!(
                (
                    report.drifted_accounts,
                    report.audit_marks_kept,
                    report.audits_unproven
                ),
                (0, 1, 1)
            );
            assert_eq!(checkpoint_put(&dynamo).audited_seq, 2);
        } else {
            assert_eq!(report.drifted_accounts, 1);
            assert!(nothing_written(&dynamo), "{:?}", dynamo.operations());
            assert!(
                report.drift[0]
                    .problems
                    .iter()
                    .any(|p| p == "entry 3 of the ledger is missing"),
                "{:?}",
                report.drift[0].problems
            );
        }
    }
}

/// A straggler whose account item is missing (deleted, or a restore
/// without it): expiring it would take `held` below zero. It is refused as
/// a `LedgerError` naming the job and the account — a failed item — and the
/// sweep goes on: the next straggler expires, the audit and the conflicts
/// run. Before, the core panicked on it, and every later sweep died there.
#[tokio::test]
async fn a_straggler_whose_account_is_missing_fails_alone_and_the_sweep_goes_on() {
    let s1 = after(&[grant("g", "a1", 100), requested("j1", "a1", 30)]);
    let s2 = after(&[grant("g", "a2", 100), requested("j2", "a2", 30)]);
    let dynamo = Dynamo::new()
        .index(
            "HELD",
            vec![job_item(&s1.jobs["j1"]), job_item(&s2.jobs["j2"])],
            None,
        )
        .reads(vec![None, Some(job_item(&s1.jobs["j1"]))])
        .reads(vec![
            Some(account_item(&s2.accounts["a2"])),
            Some(job_item(&s2.jobs["j2"])),
        ])
        .commits()
        .index("AUDIT", vec![], None)
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert!(report.complete);
    assert_eq!(
        (report.stragglers, report.expired, report.failed_items),
        (2, 1, 1)
    );
    let error = &report.errors[0];
    assert!(
        error.contains("expire job j1")
            && error.contains("account a1")
            && error.contains("does not exist"),
        "{error}"
    );
}

/// Stragglers on three partitions — `HELD#06` (j1), `HELD#11` (j2) and the
/// unsharded `HELD` of item format 1 (j0, written before the upgrade) — are
/// expired oldest hold first, whatever partition holds them: the first read
/// asks every partition of the kind once, the old one included.
#[tokio::test]
async fn stragglers_of_every_shard_and_of_format_1_are_settled_oldest_first() {
    let history = after(&[
        grant("g", "a1", 100),
        requested("j0", "a1", 10),
        requested("j1", "a1", 20),
        requested("j2", "a1", 30),
    ]);
    let held_at = |job: &str, at_ms: i64| {
        to_item(&crate::store::items::JobItem::new(
            &history.jobs[job],
            "e0",
            at_ms,
        ))
    };
    let mut j0 = held_at("j0", NOW - 9 * 3600 * 1000);
    j0.insert("v".into(), AttributeValue::N("1".into()));
    j0.insert(
        table::OPEN_INDEX_PARTITION_KEY.into(),
        AttributeValue::S("HELD".into()),
    );
    let j1 = held_at("j1", NOW - 7 * 3600 * 1000);
    let j2 = held_at("j2", NOW - 8 * 3600 * 1000);
    assert_eq!(
        j1[table::OPEN_INDEX_PARTITION_KEY],
        AttributeValue::S("HELD#06".into())
    );
    assert_eq!(
        j2[table::OPEN_INDEX_PARTITION_KEY],
        AttributeValue::S("HELD#11".into())
    );
    let mut state = history.clone();
    let mut reads = Vec::new();
    for job in ["j0", "j2", "j1"] {
        reads.push(vec![
            Some(account_item(&state.accounts["a1"])),
            Some(job_item(&state.jobs[job])),
        ]);
        state.expire(job, &meta("run-1")).unwrap();
    }
    let mut dynamo = Dynamo::new().index("HELD", vec![j1, j2, j0], None);
    for read in reads {
        dynamo = dynamo.reads(read).commits();
    }
    let dynamo = dynamo
        .index("AUDIT", vec![], None)
        .gets(None)
        .index("CONFLICT", vec![], None);

    let report = sweep(&dynamo, StragglerAction::Expire)
        .run(&input(false), DEADLINE, "run-1")
        .await
        .unwrap();

    dynamo.assert_done();
    assert_eq!(
        outcomes(&report),
        [
            ("j0", StragglerOutcome::Expired),
            ("j2", StragglerOutcome::Expired),
            ("j1", StragglerOutcome::Expired)
        ]
    );
    let mut asked: Vec<String> = dynamo.sent()[..MORE + 1]
        .iter()
        .map(|s| partition_of(query(s)))
        .collect();
    asked.sort();
    let mut every: Vec<String> = (0..32).map(|i| format!("HELD#{i:02}")).collect();
    every.push("HELD".into());
    every.sort();
    assert_eq!(asked, every);
}
