//! The status screen and its verdict, from hand-written reports.

use std::time::Duration;

use infra::{Stage, StageConfig};
use serde_json::json;

use super::*;
use crate::base::ui::Tone;
use crate::models::alarms::AlarmView;
use crate::models::code::LocalBuild;
use crate::models::queues::QueueView;
use crate::models::rules::RuleView;
use crate::models::sweep_report::SweepSummary;

const NOW: i64 = 1_796_000_000_000;
const DAY: i64 = 86_400_000;

fn config() -> StageConfig {
    StageConfig::for_stage(Stage::Dev)
}

fn clean() -> StatusReport {
    let cfg = config();
    StatusReport {
        stage: Stage::Dev,
        who_and_where: "cc-agent-reconciler-dev: account 1, region us-east-1, as me".into(),
        stack: StackState {
            name: "cc-agent-reconciler-dev".into(),
            status: "UPDATE_COMPLETE".into(),
            reason: None,
            created_ms: Some(NOW - 30 * DAY),
            updated_ms: Some(NOW - DAY),
        },
        outputs: Ok(()),
        code: Ok(vec![CodeVersion {
            function: "handler",
            deployed_key: Some("handler/abcdef0123456789.zip".into()),
            code_sha256: Some("q1w2e3r4t5y6u7i8o9p0=".into()),
            stack_sha256: Some("q1w2e3r4t5y6u7i8o9p0=".into()),
            code_check: None,
            last_modified: Some("2026-11-29T10:00:00.000+0000".into()),
            configuration_error: None,
            local: LocalBuild::Missing,
            local_stale: false,
        }]),
        alarms: Ok(infra::names::ALARMS
            .iter()
            .map(|(_, p)| AlarmView {
                name: p.resolve(&cfg),
                state: Some("OK".into()),
                reason: None,
                since_ms: Some(NOW - DAY),
            })
            .collect()),
        rules: Ok(vec![
            rule(
                "ledger",
                "cc-agent-reconciler-ledger-events-dev",
                "ENABLED",
                "handler",
            ),
            rule(
                "replay video.requested",
                "cc-agent-reconciler-replay-video-requested-dev",
                "ENABLED",
                "handler",
            ),
            rule(
                "unrouted",
                "cc-agent-reconciler-unrouted-dev",
                "ENABLED",
                "unrouted",
            ),
        ]),
        dead_letters: Ok(QueueView {
            name: "cc-agent-reconciler-dlq-dev".into(),
            ..QueueView::default()
        }),
        unrouted: Ok(QueueView {
            name: "cc-agent-reconciler-unrouted-dev".into(),
            ..QueueView::default()
        }),
        last_sweep: Ok(Some(LastSweep {
            at_ms: NOW - 3_600_000,
            summary: SweepSummary::default(),
        })),
        stragglers: Ok(0),
        hold_timeout: Duration::from_secs(21_600),
        dashboard_url: Some(dashboard_url("eu-west-1", "cc-agent-reconciler-dev")),
        now_ms: NOW,
    }
}

fn rule(role: &str, name: &str, state: &str, target: &str) -> RuleView {
    RuleView {
        role: role.into(),
        name: name.into(),
        state: Some(state.into()),
        targets: vec![format!(
            "arn:aws:lambda:us-east-1:1:function:cc-agent-reconciler-dev-{target}"
        )],
    }
}

#[test]
fn a_clean_stage_needs_nobody_and_says_so() {
    let r = clean();
    assert!(r.needs_a_person(&config()).is_empty());
    let text = render(&r, &config(), false);
    assert!(
        text.starts_with("cc-agent-reconciler-dev: account 1"),
        "{text}"
    );
    for part in [
        "Stack      cc-agent-reconciler-dev UPDATE_COMPLETE",
        "handler  handler/abcdef0123456789.zip",
        "no local build",
        "cc-agent-reconciler-errors-dev",
        "DLQ        cc-agent-reconciler-dlq-dev: empty",
        "Unrouted   cc-agent-reconciler-unrouted-dev: empty",
        "stragglers 0, expired 0, conflicts 0, drift none",
        "0 HELD job(s) older than the hold timeout (6h0m)",
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/cc-agent-reconciler-dev",
        "All clear.",
    ] {
        assert!(text.contains(part), "{part:?} in\n{text}");
    }
    let ledger_rule: Vec<&str> = text
        .lines()
        .find(|l| l.contains("cc-agent-reconciler-ledger-events-dev"))
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        ledger_rule,
        [
            "ENABLED",
            "ledger",
            "cc-agent-reconciler-ledger-events-dev",
            "cc-agent-reconciler-dev-handler"
        ],
        "{text}"
    );
}

#[test]
fn every_problem_is_a_reason_with_its_runbook() {
    let mut r = clean();
    r.stack.status = "UPDATE_ROLLBACK_COMPLETE".into();
    if let Ok(alarms) = &mut r.alarms {
        alarms[0].state = Some("ALARM".into());
        alarms[6].state = None;
    }
    r.dead_letters = Ok(QueueView {
        name: "dlq".into(),
        visible: 3,
        oldest_sent_ms: Some(NOW - 11 * DAY),
        read: 3,
        ..QueueView::default()
    });
    r.unrouted = Ok(QueueView {
        name: "unrouted".into(),
        visible: 1,
        ..QueueView::default()
    });
    r.last_sweep = Ok(Some(LastSweep {
        at_ms: NOW - 3_600_000,
        summary: SweepSummary::from_report(
            &json!({"drift": [{"account_id": "a2"}], "drifted_accounts": 1}),
        ),
    }));
    r.stragglers = Ok(2);
    let why = r.needs_a_person(&config());
    let all = why.join("\n");
    for part in [
        "the stack is UPDATE_ROLLBACK_COMPLETE",
        "alarm cc-agent-reconciler-errors-dev is in ALARM: docs/operations.md#alarm-errors",
        "alarm cc-agent-reconciler-unrouted-dev does not exist",
        "3 dead letter(s) in dlq: docs/operations.md#alarm-dlq-messages; the oldest is 11d0h old",
        "1 unrouted event(s) in unrouted: docs/operations.md#alarm-unrouted",
        "found ledger drift in 1 account(s): a2",
        "2 hold(s) older than the hold timeout",
    ] {
        assert!(all.contains(part), "{part:?} in\n{all}");
    }
    assert_eq!(why.len(), 7, "{all}");
    let text = render(&r, &config(), false);
    assert!(text.contains("NEEDS A PERSON (exit code 2):"));
    assert!(text.contains("WARNING: act before it is lost"), "{text}");
    assert!(text.contains("SQS deletes it in 3d0h"), "{text}");
}

#[test]
fn code_other_than_the_stacks_is_shown_and_needs_a_person_beyond_dev() {
    let mut r = clean();
    if let Ok(code) = &mut r.code {
        code[0].code_sha256 = Some("hotswapped=".into());
    }
    let text = render(&r, &config(), false);
    assert!(
        text.contains("RUNS OTHER CODE THAN THE STACK NAMES"),
        "{text}"
    );
    assert!(
        r.needs_a_person(&config()).is_empty(),
        "a hotswap on dev is how dev works"
    );
    let mut prod = config();
    prod.stage = Stage::Prod;
    let why = r.needs_a_person(&prod);
    assert!(
        why.iter()
            .any(|w| w.contains("the handler function runs other code than the stack names")),
        "{why:?}"
    );
    // Unknown is not a difference, and says why it is unknown.
    if let Ok(code) = &mut r.code {
        code[0].stack_sha256 = None;
        code[0].code_check = Some("look up s3://b/handler/x.zip: AccessDenied".into());
    }
    let text = render(&r, &config(), false);
    assert!(!text.contains("RUNS OTHER CODE"), "{text}");
    assert!(
        text.contains(
            "not compared with the stack's code: look up s3://b/handler/x.zip: AccessDenied"
        ),
        "{text}"
    );
}

/// Dead letters all in flight (someone is reading them: no sample can
/// be taken): the age comes from the queue's CloudWatch metric, its
/// latest datapoint's time less its age (the SQS mock has no
/// ReceiveMessage: one would fail the call).
#[tokio::test]
async fn the_oldest_dead_letter_is_aged_by_the_queues_metric_without_reading_any() {
    use aws_sdk_cloudwatch::operation::get_metric_statistics::GetMetricStatisticsOutput;
    use aws_sdk_cloudwatch::types::Datapoint;
    use aws_sdk_sqs::operation::get_queue_attributes::GetQueueAttributesOutput;
    use aws_sdk_sqs::types::QueueAttributeName;
    use aws_smithy_mocks::mock;

    let counts = mock!(aws_sdk_sqs::Client::get_queue_attributes).then_output(|| {
        GetQueueAttributesOutput::builder()
            .attributes(QueueAttributeName::ApproximateNumberOfMessages, "0")
            .attributes(
                QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
                "640",
            )
            .build()
    });
    let point = |minutes_ago: i64, age: f64| {
        Datapoint::builder()
            .timestamp(aws_smithy_types::DateTime::from_millis(
                NOW - minutes_ago * 60_000,
            ))
            .maximum(age)
            .build()
    };
    let metric = mock!(aws_sdk_cloudwatch::Client::get_metric_statistics)
        .match_requests(|r| {
            r.namespace() == Some("AWS/SQS")
                && r.metric_name() == Some("ApproximateAgeOfOldestMessage")
                && r.dimensions()[0].value() == Some("cc-agent-reconciler-dlq-prod")
        })
        .then_output(move || {
            GetMetricStatisticsOutput::builder()
                // Out of order, as CloudWatch may answer: the latest counts.
                .datapoints(point(1, 12.0 * 86_400.0))
                .datapoints(point(5, 11.9 * 86_400.0))
                .build()
        });
    let queue = Queue {
        name: "cc-agent-reconciler-dlq-prod".into(),
        url: "https://sqs.eu-west-1.amazonaws.com/1/cc-agent-reconciler-dlq-prod".into(),
    };
    let view = queue_view(
        &crate::aws::mocks::sqs(&[&counts]),
        &crate::aws::mocks::cloudwatch(&[&metric]),
        &queue,
        NOW,
    )
    .await
    .expect("read");
    assert_eq!(view.in_flight, 640);
    assert_eq!(view.read, 0, "no message received");
    assert_eq!(view.oldest_sent_ms, Some(NOW - 60_000 - 12 * DAY));
    let mut r = clean();
    r.dead_letters = Ok(view);
    let text = render(&r, &config(), false);
    assert!(
        text.contains("oldest 12d0h; SQS deletes it in 1d23h — CRITICAL"),
        "{text}"
    );
}

#[test]
fn the_dead_letter_deadline_warns_at_10_days_and_is_critical_at_12() {
    assert_eq!(age_tone(Duration::from_secs(9 * 86_400)), None);
    assert_eq!(
        age_tone(Duration::from_secs(10 * 86_400)),
        Some(Tone::Warning)
    );
    assert_eq!(
        age_tone(Duration::from_secs(12 * 86_400)),
        Some(Tone::Danger)
    );
    let mut r = clean();
    r.dead_letters = Ok(QueueView {
        name: "dlq".into(),
        visible: 1,
        oldest_sent_ms: Some(NOW - 13 * DAY),
        read: 1,
        ..QueueView::default()
    });
    assert!(render(&r, &config(), false).contains("CRITICAL: act now"));
    // A young dead letter needs a person, without the deadline.
    r.dead_letters = Ok(QueueView {
        name: "dlq".into(),
        visible: 1,
        oldest_sent_ms: Some(NOW - DAY),
        read: 1,
        ..QueueView::default()
    });
    let why = r.needs_a_person(&config());
    assert_eq!(why.len(), 1);
    assert!(!why[0].contains("14 days"), "{why:?}");
}

/// A stage whose stage file names no producers deploys its ledger and
/// replay rules disabled: nothing on the bus reaches the handler, which
/// the screen says and a person must hear.
#[test]
fn a_disabled_ledger_rule_needs_a_person() {
    let mut r = clean();
    if let Ok(rules) = &mut r.rules {
        rules[0].state = Some("DISABLED".into());
        rules[1].state = Some("DISABLED".into());
    }
    let why = r.needs_a_person(&config());
    assert_eq!(
        why.len(),
        1,
        "a replay rule without producers is by design: {why:?}"
    );
    assert!(
        why[0].starts_with(
            "the ledger rule cc-agent-reconciler-ledger-events-dev is DISABLED: no event on the \
             bus reaches the handler"
        ),
        "{why:?}"
    );
    let text = render(&r, &config(), false);
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("DISABLED")
            && l.contains("cc-agent-reconciler-ledger-events-dev")),
        "{text}"
    );
    if let Ok(rules) = &mut r.rules {
        rules[2].state = None;
    }
    assert!(r.needs_a_person(&config())[1].contains("does not exist"));
}

/// A function whose configuration cannot be read (no permission, gone):
/// the screen says why, and a person is needed (what runs is unknown).
#[test]
fn an_unreadable_function_configuration_says_why_and_needs_a_person() {
    let mut r = clean();
    if let Ok(code) = &mut r.code {
        code[0].code_sha256 = None;
        code[0].last_modified = None;
        code[0].configuration_error = Some(
            "read the configuration of cc-agent-reconciler-dev-handler: AccessDeniedException: \
             not authorized"
                .into(),
        );
    }
    let why = r.needs_a_person(&config());
    assert_eq!(
        why,
        [
            "the handler function's configuration could not be read: read the configuration of \
          cc-agent-reconciler-dev-handler: AccessDeniedException: not authorized"
        ]
    );
    let text = render(&r, &config(), false);
    assert!(
        text.contains("CONFIGURATION UNREADABLE: read the configuration of"),
        "{text}"
    );
}

#[test]
fn unreadable_sections_and_a_silent_sweep_need_a_person() {
    let mut r = clean();
    r.alarms = Err("AccessDenied: not allowed".into());
    r.last_sweep = Ok(None);
    let why = r.needs_a_person(&config());
    assert!(
        why[0].contains("the alarms could not be read: AccessDenied"),
        "{why:?}"
    );
    assert!(why[1].contains("no sweep report"), "{why:?}");
    // A fresh stack has not swept yet: fine.
    r.stack.created_ms = Some(NOW - 3_600_000);
    assert_eq!(r.needs_a_person(&config()).len(), 1);
    // A report from long ago: the schedule stopped.
    r.last_sweep = Ok(Some(LastSweep {
        at_ms: NOW - DAY,
        summary: SweepSummary::default(),
    }));
    assert!(r.needs_a_person(&config())[1].contains("not running"));
}

/// The JSON a script reads: each section, or `null` and why in
/// `unreadable`, and the verdict.
#[test]
fn the_json_follows_its_schema() {
    let v = to_json(&clean(), &config());
    assert_eq!(v["stage"], "dev");
    assert_eq!(v["stack"]["status"], "UPDATE_COMPLETE");
    assert_eq!(v["code"][0]["function"], "handler");
    assert_eq!(v["code"][0]["local_build"], "missing");
    assert_eq!(v["code"][0]["runs_other_code"], false);
    assert_eq!(v["alarms"][0]["state"], "OK");
    assert_eq!(v["rules"][0]["role"], "ledger");
    assert_eq!(v["rules"][0]["state"], "ENABLED");
    assert_eq!(v["dead_letters"]["messages"], 0);
    assert_eq!(v["last_sweep"]["stragglers"], 0);
    assert_eq!(v["stragglers"], 0);
    assert_eq!(v["hold_timeout_seconds"], 21_600);
    assert_eq!(v["unreadable"], json!({}));
    assert_eq!(v["needs_a_person"], json!([]));
    let mut r = clean();
    r.alarms = Err("AccessDenied: not allowed".into());
    r.last_sweep = Ok(None);
    let v = to_json(&r, &config());
    assert_eq!(v["alarms"], json!(null));
    assert_eq!(v["unreadable"]["alarms"], "AccessDenied: not allowed");
    assert_eq!(v["last_sweep"], json!(null));
    assert!(
        v["unreadable"].get("last_sweep").is_none(),
        "none is not unreadable"
    );
    assert_eq!(
        v["needs_a_person"][0],
        "the alarms could not be read: AccessDenied: not allowed"
    );
}

#[test]
fn alarms_map_to_their_runbook_entries() {
    let cfg = StageConfig::for_stage(Stage::Prod);
    assert_eq!(
        runbook_of("cc-agent-reconciler-dlq-messages-prod", &cfg).as_deref(),
        Some("docs/operations.md#alarm-dlq-messages")
    );
    assert_eq!(runbook_of("someone-elses-alarm", &cfg), None);
}
