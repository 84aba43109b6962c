//! `cargo xtask dlq` and `cargo xtask unrouted` against a moto server: the
//! same library functions the commands run (`operator::dlq`), on a hand-built
//! stage (`testkit::stage::HandBuilt`: the queues, the bus with its rules — the
//! ledger rule feeding a capture queue, since moto cannot deliver to a
//! Lambda target — under unique names, and the outputs naming them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use infra::Stage;
use operator::commands::dlq;
use operator::commands::dlq::{ReplayAction, ReplayOptions, Selection};
use operator::commands::unrouted::{self, ResendOutcome};
use operator::models::queues::{self, Queue, ReceiveOptions, Replay, Shape};
use serde_json::{Value, json};
use testkit::http::Response;
use testkit::intercept::{InterceptProxy, Responder};
use testkit::stage::{HandBuilt, envelope, on_failure_record};

async fn stage(stage: Stage) -> HandBuilt {
    let config = testkit::emulator::sdk_config(testkit::emulator::moto::shared_endpoint()).await;
    HandBuilt::create(&config, stage).await
}

fn replay_options(s: &HandBuilt, selection: Selection, dry_run: bool) -> ReplayOptions {
    ReplayOptions {
        selection,
        dry_run,
        bus_name: s.outputs.bus_name.clone(),
        sweep_function: s.outputs.sweep_function_name.clone(),
        stage: s.stage,
        receive: ReceiveOptions::default(),
    }
}

async fn replay(s: &HandBuilt, selection: Selection, dry_run: bool) -> Vec<dlq::ReplayOutcome> {
    let c = s.clients();
    let replayed = dlq::replay(
        &c.sqs,
        &c.events,
        &s.outputs.dead_letter_queue_url,
        &replay_options(s, selection, dry_run),
    )
    .await
    .unwrap();
    assert!(replayed.drained, "the default bounds drain a test queue");
    replayed.outcomes
}

async fn list(s: &HandBuilt) -> Vec<queues::DeadLetter> {
    let received = queues::list(
        &s.clients().sqs,
        &s.outputs.dead_letter_queue_url,
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert!(received.drained);
    received.letters
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_replayed_and_purged() {
    let s = stage(Stage::Dev).await;
    let (sqs, events) = (s.clients().sqs, s.clients().events);
    let dlq_url = s.outputs.dead_letter_queue_url.clone();
    let eb_detail = json!({"job_id": "job-eb", "account_id": "acme", "reason": "gpu"});
    let eb_id = s
        .send(
            &dlq_url,
            &envelope("video.failed", eb_detail.clone()).to_string(),
            &[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Rate Exceeded."),
                ("RULE_ARN", "arn:aws:events:us-east-1:123456789012:rule/b/x"),
                (
                    "TARGET_ARN",
                    "arn:aws:lambda:us-east-1:123456789012:function:h",
                ),
            ],
        )
        .await;
    let lambda_detail = json!({"grant_id": "g-lambda", "account_id": "acme", "credits": 7});
    let lambda_id = s
        .send(
            &dlq_url,
            &on_failure_record(
                envelope("credits.granted", lambda_detail.clone()),
                "DynamoDbError",
                "throttled",
            ),
            &[],
        )
        .await;
    let sweep_id = s
        .send(
            &dlq_url,
            &on_failure_record(
                json!({"older_than_seconds": 3600, "dry_run": false}),
                "SweepError",
                "table not found",
            ),
            &[],
        )
        .await;
    let unknown_id = s.send(&dlq_url, "hello, not a dead letter", &[]).await;

    // list: every message, classified, and nothing consumed (twice in a row).
    for _ in 0..2 {
        let letters = list(&s).await;
        let by_id: HashMap<&str, &queues::DeadLetter> =
            letters.iter().map(|l| (l.message_id.as_str(), l)).collect();
        assert_eq!(by_id.len(), 4, "{letters:#?}");
        let eb = &by_id[eb_id.as_str()].classification;
        assert_eq!(eb.shape, Shape::EventBridgeTarget);
        assert_eq!(eb.detail_type.as_deref(), Some("video.failed"));
        assert_eq!(eb.business_key.as_deref(), Some("job-eb"));
        assert_eq!(eb.error_type.as_deref(), Some("SDK_CLIENT_ERROR"));
        let lambda = &by_id[lambda_id.as_str()].classification;
        assert_eq!(lambda.shape, Shape::LambdaOnFailure);
        assert_eq!(lambda.business_key.as_deref(), Some("g-lambda"));
        assert_eq!(lambda.error_type.as_deref(), Some("DynamoDbError"));
        let sweep = &by_id[sweep_id.as_str()].classification;
        assert_eq!(
            (sweep.shape, &sweep.replay),
            (Shape::LambdaOnFailure, &Replay::Sweep)
        );
        let unknown = &by_id[unknown_id.as_str()].classification;
        assert_eq!(
            (unknown.shape, &unknown.replay),
            (Shape::Unknown, &Replay::Unknown)
        );
        assert!(
            letters.iter().all(|l| l.sent_at_ms.is_some()),
            "SentTimestamp"
        );
        let table = dlq::table(&letters, operator::base::when::now_ms());
        assert_eq!(table.lines().count(), 5, "{table}");
    }

    // A dry run sends nothing and deletes nothing.
    let dry = replay(&s, Selection::All, true).await;
    assert_eq!(
        dry.iter()
            .filter(|o| o.action == ReplayAction::WouldReplay)
            .count(),
        2
    );
    assert!(s.drain(&s.capture_url).await.is_empty());
    assert_eq!(list(&s).await.len(), 4);

    // replay --all: the two business events go back on the bus, the others stay.
    let outcomes = replay(&s, Selection::All, false).await;
    let action = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.message_id == id)
            .map(|o| o.action.clone())
            .unwrap()
    };
    assert_eq!(action(&eb_id), ReplayAction::Replayed, "{outcomes:#?}");
    assert_eq!(action(&lambda_id), ReplayAction::Replayed);
    assert!(
        matches!(action(&sweep_id), ReplayAction::Kept(why) if why.contains("cargo xtask sweep") && why.contains(&s.outputs.sweep_function_name))
    );
    assert!(matches!(action(&unknown_id), ReplayAction::Kept(_)));
    assert!(!outcomes.iter().any(dlq::ReplayOutcome::is_failure));
    let report = dlq::replay_report(&outcomes, false);
    assert!(report.contains("2 replayed, 2 kept"), "{report}");

    let captured = s.drain(&s.capture_url).await;
    let mut got: BTreeMap<String, (Value, Value)> = captured
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap().to_owned(),
                (e["detail"].clone(), e["source"].clone()),
            )
        })
        .collect();
    assert_eq!(captured.len(), 2, "{captured:#?}");
    assert_eq!(
        got.remove("video.failed"),
        Some((eb_detail, json!("video.service")))
    );
    assert_eq!(
        got.remove("credits.granted"),
        Some((lambda_detail, json!("video.service")))
    );

    let left: Vec<String> = list(&s).await.into_iter().map(|l| l.message_id).collect();
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&sweep_id) && left.contains(&unknown_id));

    // replay --id of an unknown id: not found (a failure), nothing sent.
    let outcomes = replay(
        &s,
        Selection::Ids(vec!["no-such-id".into(), sweep_id.clone()]),
        false,
    )
    .await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes
            .iter()
            .any(|o| o.message_id == "no-such-id" && o.action == ReplayAction::NotFound)
    );
    assert!(s.drain(&s.capture_url).await.is_empty());

    // A bus that does not exist: PutEvents fails, the message stays.
    let eb_again = s
        .send(
            &dlq_url,
            &envelope(
                "video.requested",
                json!({"job_id": "j2", "account_id": "a", "credits": 1}),
            )
            .to_string(),
            &[("ERROR_CODE", "X")],
        )
        .await;
    let mut opts = replay_options(&s, Selection::Ids(vec![eb_again.clone()]), false);
    opts.bus_name = "no-such-bus".into();
    let outcomes = dlq::replay(&sqs, &events, &dlq_url, &opts)
        .await
        .unwrap()
        .outcomes;
    assert!(
        matches!(&outcomes[0].action, ReplayAction::Failed(_)),
        "{outcomes:#?}"
    );
    assert_eq!(list(&s).await.len(), 3);

    // purge: empty.
    queues::purge(&sqs, &dlq_url).await.unwrap();
    assert!(list(&s).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_kept_by_replay_and_deleted_by_id() {
    let s = stage(Stage::Dev).await;
    let sqs = s.clients().sqs;
    let dlq_url = s.outputs.dead_letter_queue_url.clone();
    // Refused by the handler: credits is not a number.
    let invalid_id = s
        .send(
            &dlq_url,
            &on_failure_record(
                envelope(
                    "video.requested",
                    json!({"job_id": "job-bad", "account_id": "acme", "credits": "x"}),
                ),
                "InvalidEvent",
                "invalid event: field `detail.credits` must be a JSON number",
            ),
            &[],
        )
        .await;
    // Not delivered (a transient failure), but invalid anyway: no account_id.
    let undeliverable_invalid_id = s
        .send(
            &dlq_url,
            &envelope("video.failed", json!({"job_id": "job-no-account"})).to_string(),
            &[
                ("ERROR_CODE", "SDK_CLIENT_ERROR"),
                ("ERROR_MESSAGE", "Rate Exceeded."),
            ],
        )
        .await;
    // Failed for a transient reason: replayed.
    let transient_detail = json!({"grant_id": "g-1", "account_id": "acme", "credits": 3});
    let transient_id = s
        .send(
            &dlq_url,
            &on_failure_record(
                envelope("credits.granted", transient_detail.clone()),
                "LedgerUnavailable",
                "DynamoDB timed out",
            ),
            &[],
        )
        .await;
    let unknown_id = s.send(&dlq_url, "not a dead letter", &[]).await;

    let dry = replay(&s, Selection::All, true).await;
    let would: Vec<&str> = dry
        .iter()
        .filter(|o| o.action == ReplayAction::WouldReplay)
        .map(|o| o.message_id.as_str())
        .collect();
    assert_eq!(would, [transient_id.as_str()], "{dry:#?}");

    // replay --all: only the transient failure goes back on the bus.
    let outcomes = replay(&s, Selection::All, false).await;
    let action = |id: &str| {
        outcomes
            .iter()
            .find(|o| o.message_id == id)
            .map(|o| o.action.clone())
            .unwrap()
    };
    assert_eq!(
        action(&transient_id),
        ReplayAction::Replayed,
        "{outcomes:#?}"
    );
    for (id, field) in [
        (&invalid_id, "detail.credits"),
        (&undeliverable_invalid_id, "detail.account_id"),
    ] {
        let ReplayAction::Kept(why) = action(id) else {
            panic!("{id} not kept: {outcomes:#?}");
        };
        assert!(why.starts_with("invalid: "), "{why}");
        assert!(why.contains(field), "{why}");
        assert!(why.contains("fix the producer"), "{why}");
        assert!(
            why.contains(&format!("dlq delete --stage dev --id {id}")),
            "{why}"
        );
    }
    assert!(!outcomes.iter().any(dlq::ReplayOutcome::is_failure));
    let report = dlq::replay_report(&outcomes, false);
    assert!(report.contains("1 replayed, 3 kept"), "{report}");
    let captured = s.drain(&s.capture_url).await;
    assert_eq!(captured.len(), 1, "{captured:#?}");
    assert_eq!(captured[0]["detail"], transient_detail);

    // Replaying again sends nothing: the invalid ones are still kept.
    let again = replay(&s, Selection::All, false).await;
    assert!(
        again
            .iter()
            .all(|o| matches!(o.action, ReplayAction::Kept(_))),
        "{again:#?}"
    );
    assert!(s.drain(&s.capture_url).await.is_empty());

    // delete --id: exactly that letter goes; an unknown id is reported.
    let outcomes = queues::delete(
        &sqs,
        &dlq_url,
        &[invalid_id.clone(), "no-such-id".into(), invalid_id.clone()],
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        outcomes
            .iter()
            .map(|o| (o.message_id.as_str(), &o.action))
            .collect::<Vec<_>>(),
        [
            (invalid_id.as_str(), &queues::DeleteAction::Deleted),
            ("no-such-id", &queues::DeleteAction::NotFound),
        ]
    );
    assert_eq!(outcomes[0].business_key.as_deref(), Some("job-bad"));
    let mut left: Vec<String> = list(&s).await.into_iter().map(|l| l.message_id).collect();
    left.sort();
    let mut expected = vec![undeliverable_invalid_id.clone(), unknown_id.clone()];
    expected.sort();
    assert_eq!(left, expected);
    assert!(s.drain(&s.capture_url).await.is_empty());

    // Deleting it again: not found, nothing else touched.
    let outcomes = queues::delete(
        &sqs,
        &dlq_url,
        std::slice::from_ref(&invalid_id),
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcomes[0].action, queues::DeleteAction::NotFound);
    assert_eq!(list(&s).await.len(), 2);
}

/// A proxy in front of moto answering the first `empty` ReceiveMessage calls
/// with no message without asking moto (as SQS may, while messages exist);
/// it counts every receive, and fails the test on a short poll (a receive
/// without `WaitTimeSeconds`, the one that answers empty most often).
async fn empty_receives(empty: u32) -> (InterceptProxy, Arc<AtomicU32>) {
    let receives = Arc::new(AtomicU32::new(0));
    let seen = receives.clone();
    let responder: Responder = Arc::new(move |req| {
        let seen = seen.clone();
        Box::pin(async move {
            let receive = req
                .header("x-amz-target")
                .is_some_and(|t| t.ends_with("ReceiveMessage"));
            if !receive {
                return None;
            }
            let body: Value = serde_json::from_slice(&req.body).expect("a JSON ReceiveMessage");
            let wait = body["WaitTimeSeconds"].as_i64().unwrap_or(0);
            assert!(wait > 0, "a short poll: {body}");
            if seen.fetch_add(1, Ordering::SeqCst) < empty {
                return Some(Response::new(
                    200,
                    "application/x-amz-json-1.0",
                    r#"{"Messages": []}"#,
                ));
            }
            None
        })
    });
    let proxy = InterceptProxy::start(testkit::emulator::moto::shared_endpoint(), responder).await;
    (proxy, receives)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_long_polls_through_empty_answers_until_the_queue_is_drained() {
    let s = stage(Stage::Dev).await;
    let dlq_url = s.outputs.dead_letter_queue_url.clone();
    let mut ids = Vec::new();
    for i in 0..13 {
        ids.push(
            s.send(
                &dlq_url,
                &envelope(
                    "video.failed",
                    json!({"job_id": format!("j{i}"), "account_id": "a"}),
                )
                .to_string(),
                &[("ERROR_CODE", "X")],
            )
            .await,
        );
    }
    let (proxy, receives) = empty_receives(3).await;
    let sqs = aws_sdk_sqs::Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
    let opts = ReceiveOptions {
        wait_seconds: 1,
        ..ReceiveOptions::default()
    };
    // Three empty answers in a row, and 13 messages (two pages): all found.
    let received = queues::list(&sqs, &dlq_url, &opts).await.unwrap();
    let mut got: Vec<String> = received
        .letters
        .iter()
        .map(|l| l.message_id.clone())
        .collect();
    got.sort();
    ids.sort();
    assert_eq!(got, ids);
    assert!(received.drained, "it stopped because nothing was visible");
    assert_eq!(
        receives.load(Ordering::SeqCst),
        5,
        "3 empty answers, then 2 pages"
    );

    // delete finds its id behind empty answers too.
    let (proxy, _) = empty_receives(2).await;
    let sqs = aws_sdk_sqs::Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
    let outcomes = queues::delete(&sqs, &dlq_url, &ids[12..], &opts)
        .await
        .unwrap();
    assert_eq!(outcomes[0].action, queues::DeleteAction::Deleted);
    assert_eq!(list(&s).await.len(), 12);

    // replay --all goes round after round past one round's bounds (5
    // letters here): all 12 replayed, the queue drained.
    let mut replay_opts = replay_options(&s, Selection::All, false);
    replay_opts.receive = ReceiveOptions {
        max_messages: 5,
        ..opts
    };
    let replayed = dlq::replay(&sqs, &s.clients().events, &dlq_url, &replay_opts)
        .await
        .unwrap();
    assert!(replayed.drained);
    assert_eq!(replayed.outcomes.len(), 12);
    assert!(
        replayed
            .outcomes
            .iter()
            .all(|o| o.action == ReplayAction::Replayed),
        "{:#?}",
        replayed.outcomes
    );
    assert!(list(&s).await.is_empty());
    assert_eq!(s.drain(&s.capture_url).await.len(), 12);

    // A dry run looks at one round only and says the queue was not drained.
    for i in 0..3 {
        s.send(
            &dlq_url,
            &envelope(
                "video.failed",
                json!({"job_id": format!("k{i}"), "account_id": "a"}),
            )
            .to_string(),
            &[("ERROR_CODE", "X")],
        )
        .await;
    }
    let mut dry = replay_opts.clone();
    dry.dry_run = true;
    dry.receive.max_messages = 2;
    let looked = dlq::replay(&sqs, &s.clients().events, &dlq_url, &dry)
        .await
        .unwrap();
    assert_eq!(looked.outcomes.len(), 2);
    assert!(!looked.drained, "a bound stopped it: said so");

    // A drained queue is not waited on: the count says empty, no receive at all.
    queues::purge(&s.clients().sqs, &dlq_url).await.unwrap();
    let (proxy, receives) = empty_receives(0).await;
    let sqs = aws_sdk_sqs::Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
    let received = queues::list(&sqs, &dlq_url, &ReceiveOptions::default())
        .await
        .unwrap();
    assert!(received.letters.is_empty() && received.drained);
    assert_eq!(
        receives.load(Ordering::SeqCst),
        0,
        "no receive, so no 20-second wait"
    );

    // Answers that never bring anything while messages exist: bounded.
    s.send(&dlq_url, "x", &[]).await;
    let (proxy, receives) = empty_receives(u32::MAX).await;
    let sqs = aws_sdk_sqs::Client::new(&testkit::emulator::sdk_config(&proxy.endpoint).await);
    let received = queues::list(&sqs, &dlq_url, &opts).await.unwrap();
    assert!(
        received.letters.is_empty() && !received.drained,
        "said: not drained"
    );
    assert_eq!(receives.load(Ordering::SeqCst), 5, "max_empty_rounds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrouted_events_are_listed_and_resent_only_when_asked() {
    let s = stage(Stage::Staging).await;
    let c = s.clients();
    let unrouted_url = s.outputs.unrouted_queue_url.clone();
    // A producer's typo, and an adjustment someone tried to send on the bus.
    let typo = json!({"job_id": "j1", "account_id": "acme", "credits": 25});
    for (detail_type, detail) in [
        ("video.renderd", typo.clone()),
        (
            "credits.adjusted",
            json!({"adjustment_id": "x", "account_id": "acme", "credits": 5, "reason": "r"}),
        ),
    ] {
        operator::models::events::put_event(
            &c.events,
            &s.outputs.bus_name,
            "render.farm",
            detail_type,
            &detail,
            None,
        )
        .await
        .unwrap();
    }
    assert!(
        s.drain(&s.capture_url).await.is_empty(),
        "the ledger rule saw neither"
    );

    let received = queues::list(&c.sqs, &unrouted_url, &ReceiveOptions::default())
        .await
        .unwrap();
    assert_eq!(received.letters.len(), 2);
    let views: Vec<unrouted::UnroutedView> = received
        .letters
        .iter()
        .map(|l| unrouted::view(l, operator::base::when::now_ms()))
        .collect();
    let typo_view = views
        .iter()
        .find(|v| v.detail_type.as_deref() == Some("video.renderd"))
        .unwrap();
    assert!(typo_view.fits.contains(&"video.rendered"));
    assert_eq!(typo_view.source.as_deref(), Some("render.farm"));
    let adjusted = views
        .iter()
        .find(|v| v.detail_type.as_deref() == Some("credits.adjusted"))
        .unwrap();
    assert!(adjusted.fits.is_empty(), "{adjusted:?}");
    let table = unrouted::list_table(&views);
    assert_eq!(table.lines().count(), 3, "{table}");
    // Listing consumed nothing, and sent nothing anywhere.
    assert!(s.drain(&s.capture_url).await.is_empty());

    let resend = |id: String, as_type: &'static str| {
        let c = c.clone();
        let (url, bus) = (unrouted_url.clone(), s.outputs.bus_name.clone());
        async move {
            unrouted::resend(
                &c.sqs,
                &c.events,
                &url,
                &bus,
                &id,
                as_type,
                &ReceiveOptions::default(),
            )
            .await
            .unwrap()
        }
    };
    // Refused: as a detail-type its detail does not fit; as an adjustment; unknown id.
    let refused = resend(typo_view.message_id.clone(), "credits.granted").await;
    assert!(
        matches!(&refused, ResendOutcome::Refused(why) if why.contains("detail.grant_id")),
        "{refused:?}"
    );
    let refused = resend(adjusted.message_id.clone(), "credits.adjusted").await;
    assert!(
        matches!(&refused, ResendOutcome::Refused(why) if why.contains("ledger adjust")),
        "{refused:?}"
    );
    assert_eq!(
        resend("no-such-id".into(), "video.failed").await,
        ResendOutcome::NotFound
    );
    assert!(s.drain(&s.capture_url).await.is_empty(), "nothing was sent");

    // Resent as the operator says: the ledger rule gets it, with its source and detail.
    let done = resend(typo_view.message_id.clone(), "video.rendered").await;
    assert_eq!(done, ResendOutcome::Resent);
    let captured = s.drain(&s.capture_url).await;
    assert_eq!(captured.len(), 1, "{captured:#?}");
    assert_eq!(captured[0]["detail-type"], "video.rendered");
    assert_eq!(captured[0]["source"], "render.farm");
    assert_eq!(captured[0]["detail"], typo);
    let left = queues::list(&c.sqs, &unrouted_url, &ReceiveOptions::default())
        .await
        .unwrap()
        .letters;
    assert_eq!(
        left.len(),
        1,
        "the resent one left the queue, the other stays"
    );
    assert_eq!(left[0].message_id, adjusted.message_id);

    // delete removes exactly the one asked for.
    let outcomes = queues::delete(
        &c.sqs,
        &unrouted_url,
        std::slice::from_ref(&adjusted.message_id),
        &ReceiveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(outcomes[0].action, queues::DeleteAction::Deleted);
    let queue = Queue::unrouted(&s.outputs);
    assert_eq!(
        queues::approximate_counts(&c.sqs, &queue.url)
            .await
            .unwrap(),
        (0, 0)
    );
}
