//! A replay's pure parts: names, plans, windows, progress and counts.

use std::time::Duration;

use serde_json::Value;

use crate::models::logs::LogLine;

use super::*;
use infra::Stage;
use serde_json::json;

const T: i64 = 1_795_946_400_000; // 2026-11-29T10:00:00Z
const HOUR: i64 = 3_600_000;

fn plan() -> ReplayPlan {
    ReplayPlan {
        name: replay_name(Stage::Staging, T, T + 4 * HOUR, 0xbeef),
        archive_arn: "arn:aws:events:us-east-1:1:archive/a".into(),
        bus_arn: "arn:aws:events:us-east-1:1:event-bus/b".into(),
        rule_arn: "arn:aws:events:us-east-1:1:rule/b/r".into(),
        detail_type: None,
        from_ms: T,
        to_ms: T + 4 * HOUR,
    }
}

#[test]
fn names_fit_eventbridge_limits() {
    let name = replay_name(Stage::Staging, T, T + 4 * HOUR, 0xbeef);
    assert_eq!(
        name,
        "cc-agent-reconciler-staging-20261129T1000-20261129T1400-beef"
    );
    for stage in Stage::ALL {
        let name = replay_name(stage, T, T + HOUR, 0xffff);
        assert!(name.len() <= 64, "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
    }
}

#[test]
fn windows_are_checked_against_the_archive() {
    let archive = ArchiveInfo {
        name: "a".into(),
        state: "ENABLED".into(),
        retention_days: Some(7),
        created_ms: Some(T - 30 * 24 * HOUR),
        ..ArchiveInfo::default()
    };
    assert_eq!(
        check_window(T, T + HOUR, T + 2 * HOUR, &archive),
        Ok(vec![])
    );
    assert!(
        check_window(T, T, T + HOUR, &archive)
            .unwrap_err()
            .contains("is not before")
    );
    assert!(
        check_window(T, T + 2 * HOUR, T, &archive)
            .unwrap_err()
            .contains("future")
    );
    let old = check_window(T - 10 * 24 * HOUR, T, T, &archive).unwrap();
    assert!(old[0].contains("keeps events 7 days"), "{old:?}");
    let young = ArchiveInfo {
        created_ms: Some(T),
        retention_days: None,
        ..archive
    };
    let before = check_window(T - HOUR, T + HOUR, T + 2 * HOUR, &young).unwrap();
    assert!(
        before[0].contains("holds nothing from before"),
        "{before:?}"
    );
}

#[test]
fn a_dry_run_says_what_the_api_tells_and_that_it_is_safe() {
    let archive = ArchiveInfo {
        name: "cc-agent-reconciler-staging-ledger-archive".into(),
        state: "ENABLED".into(),
        event_count: 1204,
        size_bytes: 880_000,
        retention_days: Some(30),
        created_ms: None,
    };
    let text = dry_run_text(&plan(), &archive, &["careful".into()]);
    for part in [
        "Dry run: nothing started.",
        "2026-11-29T10:00:00Z to 2026-11-29T14:00:00Z",
        "1204 events, 880000 bytes in all; kept 30 days",
        "does not say how many",
        "only the rule arn:aws:events:us-east-1:1:rule/b/r",
        "Warning:     careful",
        "business key",
    ] {
        assert!(text.contains(part), "{part} in {text}");
    }
}

#[test]
fn progress_says_how_far_through_the_window() {
    let p = Progress {
        state: "RUNNING".into(),
        reason: None,
        last_replayed_ms: Some(T + HOUR),
    };
    assert!(
        progress_line(&plan(), &p).ends_with("RUNNING, replayed up to 2026-11-29T11:00:00Z (25%)")
    );
    let failed = Progress {
        state: "FAILED".into(),
        reason: Some("archive deleted".into()),
        last_replayed_ms: None,
    };
    assert!(failed.finished());
    assert!(progress_line(&plan(), &failed).ends_with("FAILED: archive deleted"));
    assert!(
        !Progress {
            state: "STARTING".into(),
            reason: None,
            last_replayed_ms: None
        }
        .finished()
    );
}

#[test]
fn outcomes_are_counted_from_the_handlers_lines_of_this_replay() {
    let line = |v: Value| LogLine {
        function: "handler",
        timestamp_ms: 1,
        event_id: "e".into(),
        message: v.to_string(),
    };
    let at = |t: i64, v: Value| LogLine {
        timestamp_ms: t,
        ..line(v)
    };
    let lines = vec![
        line(json!({"message": "event applied", "outcome": "granted", "replay_name": "r1"})),
        line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
        line(json!({"message": "event applied", "outcome": "duplicate", "replay_name": "r1"})),
        line(json!({"message": "conflict", "outcome": "conflict", "replay_name": "r1"})),
        line(
            json!({"message": "event not applied", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
        ),
        // e7 failed, Lambda retried it, it applied: one event, held.
        at(
            20,
            json!({"event_id": "e7", "outcome": "held", "replay_name": "r1"}),
        ),
        at(
            10,
            json!({"event_id": "e7", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
        ),
        // e8 failed twice: one failed event.
        at(
            11,
            json!({"event_id": "e8", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
        ),
        at(
            21,
            json!({"event_id": "e8", "error_type": "LedgerUnavailable", "replay_name": "r1"}),
        ),
        line(json!({"message": "event applied", "outcome": "granted", "replay_name": "other"})),
        line(json!({"message": "event applied", "outcome": "granted"})),
        LogLine {
            message: "START RequestId: x".into(),
            ..line(json!({}))
        },
    ];
    let counts = count_outcomes(&lines, "r1");
    assert_eq!(counts.total(), 7);
    assert_eq!(counts.applied(), 2);
    assert_eq!(
        counts.line(),
        "7 replayed: 2 duplicate, 2 applied (granted 1, held 1), 1 conflict, 2 failed"
    );
    assert_eq!(
        OutcomeCounts::default().line(),
        "0 replayed: 0 duplicate, 0 applied, 0 conflict, 0 failed"
    );
}

fn outputs() -> infra::outputs::StackOutputs {
    infra::outputs::StackOutputs {
        bus_arn: "arn:aws:events:eu-west-1:111122223333:event-bus/cc-agent-reconciler-prod".into(),
        ledger_events_rule_arn: "arn:aws:events:eu-west-1:111122223333:rule/\
             cc-agent-reconciler-prod/cc-agent-reconciler-prod-ledger-events"
            .into(),
        replay_rule_names: Some(
            infra::names::REPLAY_RULES
                .map(|r| r.resolve(&infra::StageConfig::for_stage(Stage::Prod)))
                .join(","),
        ),
        ..Default::default()
    }
}

#[test]
fn a_detail_type_replays_onto_its_replay_rule_only() {
    let o = outputs();
    let all = super::plan(Stage::Prod, &o, (T, T + HOUR), None, 1).unwrap();
    assert_eq!(all.rule_arn, o.ledger_events_rule_arn);
    assert_eq!(all.detail_type, None);
    let rendered = super::plan(Stage::Prod, &o, (T, T + HOUR), Some("video.rendered"), 1).unwrap();
    assert_eq!(
        rendered.rule_arn,
        "arn:aws:events:eu-west-1:111122223333:rule/cc-agent-reconciler-prod/\
         cc-agent-reconciler-prod-replay-video-rendered"
    );
    let archive = ArchiveInfo::default();
    assert!(
        dry_run_text(&rendered, &archive, &[])
            .contains("(the replays of video.rendered: no other event is replayed)")
    );
    let typo = super::plan(Stage::Prod, &o, (T, T + HOUR), Some("video.renderd"), 1).unwrap_err();
    assert!(
        typo.contains("--detail-type video.renderd: not a ledger detail-type")
            && typo.contains("video.rendered"),
        "{typo}"
    );
    let mut older = o.clone();
    older.replay_rule_names = None;
    assert!(
        super::plan(Stage::Prod, &older, (T, T + HOUR), Some("video.failed"), 1)
            .unwrap_err()
            .contains("deploy the stage first")
    );
}

#[test]
fn the_arguments_parse_with_their_defaults() {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        replay: Args,
    }
    let cli = Cli::parse_from([
        "x",
        "--stage",
        "prod",
        "--from",
        "6h",
        "--to",
        "now",
        "--dry-run",
        "--detail-type",
        "video.failed",
    ]);
    assert!(cli.replay.dry_run);
    assert_eq!(cli.replay.detail_type.as_deref(), Some("video.failed"));
    assert_eq!(cli.replay.log_wait, Duration::from_secs(60));
    assert!(
        Cli::try_parse_from(["x", "--stage", "prod", "--from", "6h"]).is_err(),
        "--to is required"
    );
}
