//! `dlq replay`: dead business events back on the bus.
//!
//! Only letters that failed for transient reasons go back: a valid business
//! event of either shape is put on the stage's bus with its original
//! `source`, `detail-type`, `detail` and `time`, and its message is deleted
//! only once PutEvents accepted it. Invalid events, sweep failures and
//! unknown messages stay, each with what to do instead.
//!
//! Replaying is safe: the reconciler keys every effect on the business key
//! (`grant_id`, `job_id` + transition), never on the EventBridge `id`, so a
//! replayed event that was in fact applied is a `duplicate` and moves no money.

use std::collections::HashSet;

use infra::Stage;

use crate::models::queues::{
    DeadLetter, Outcome, ReceiveOptions, Replay, delete_received, receive_all, release_all_but,
};

/// Said wherever events are replayed.
pub const REPLAY_IS_SAFE: &str = "Replaying is safe: the reconciler keys every effect on the \
     business key (grant_id, job_id + transition), so an event that was already applied \
     is a duplicate and moves no money.";

/// Which dead letters `replay` handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every dead letter in the queue.
    All,
    /// These message ids.
    Ids(Vec<String>),
}

/// What `replay` did (or, with `dry_run`, would do) with one dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayAction {
    /// Put back on the bus and deleted from the queue.
    Replayed,
    /// Would be put back on the bus (dry run).
    WouldReplay,
    /// Put on the bus, but deleting it from the queue failed (it may be replayed again: harmless).
    ReplayedNotDeleted(String),
    /// Kept in the queue: why.
    Kept(String),
    /// PutEvents refused it; kept in the queue.
    Failed(String),
    /// No such message id in the queue.
    NotFound,
}

/// One line of a replay report.
pub type ReplayOutcome = Outcome<ReplayAction>;

impl ReplayOutcome {
    /// Whether this outcome means the replay did not do what was asked.
    pub fn is_failure(&self) -> bool {
        matches!(
            self.action,
            ReplayAction::Failed(_) | ReplayAction::NotFound | ReplayAction::ReplayedNotDeleted(_)
        )
    }
}

/// How `replay` runs.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Which dead letters.
    pub selection: Selection,
    /// Only say what would happen.
    pub dry_run: bool,
    /// The bus to put the events on (the stack's `BusName`).
    pub bus_name: String,
    /// The sweep function (the stack's `SweepFunctionName`), for what to do
    /// with a failed sweep.
    pub sweep_function: String,
    /// The stage (for the commands it suggests).
    pub stage: Stage,
    /// How to read the queue.
    pub receive: ReceiveOptions,
}

/// Why `replay` keeps a dead letter whose event is invalid, and what to do.
pub fn invalid_kept_reason(message: &str, stage: Stage, message_id: &str) -> String {
    format!(
        "invalid: {message}; fix the producer and send a corrected event, or delete this \
         letter with `cargo xtask dlq delete --stage {stage} --id {message_id}`"
    )
}

/// What [`replay`] did.
#[derive(Clone, Debug, Default)]
pub struct Replayed {
    /// One outcome per dead letter handled (or id asked for).
    pub outcomes: Vec<ReplayOutcome>,
    /// `false`: a bound of the receive was reached before the queue was
    /// drained, and letters may be left that were not looked at.
    pub drained: bool,
}

/// Replays dead letters: each valid business event goes back on the bus with
/// its original source, detail-type and detail; its message is deleted only
/// when PutEvents reports no failed entry. Invalid events (see
/// [`super::letter::invalid_reason`]), sweep failures and unknown messages stay.
///
/// With [`Selection::All`] it goes round after round (a round receives up to
/// the receive options' bounds) while the queue is not drained and the last
/// round replayed something: letters beyond one round's bounds are replayed
/// too, and whatever is left unlooked-at is said (`drained: false`).
///
/// # Errors
/// SQS failed while reading the queue (per-message failures are outcomes).
pub async fn replay(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue_url: &str,
    opts: &ReplayOptions,
) -> anyhow::Result<Replayed> {
    let mut done = Replayed::default();
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let received = receive_all(sqs, queue_url, &opts.receive).await?;
        let round = replay_round(sqs, events, queue_url, opts, &received.letters, &seen).await;
        let progressed = round.iter().any(|o| o.action == ReplayAction::Replayed);
        seen.extend(received.letters.iter().map(|l| l.message_id.clone()));
        done.outcomes.extend(round);
        done.drained = received.drained;
        let again = opts.selection == Selection::All && !opts.dry_run && progressed;
        if received.drained || !again {
            return Ok(done);
        }
    }
}

/// One round of [`replay`]: the letters received, less those a previous
/// round handled; every letter not replayed is released.
async fn replay_round(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue_url: &str,
    opts: &ReplayOptions,
    letters: &[DeadLetter],
    seen: &HashSet<String>,
) -> Vec<ReplayOutcome> {
    let selected: Vec<&DeadLetter> = match &opts.selection {
        Selection::All => letters
            .iter()
            .filter(|l| !seen.contains(&l.message_id))
            .collect(),
        Selection::Ids(ids) => letters
            .iter()
            .filter(|l| ids.contains(&l.message_id))
            .collect(),
    };
    let mut outcomes = Vec::new();
    for letter in selected {
        let c = &letter.classification;
        let action = match &c.replay {
            Replay::Unknown => ReplayAction::Kept(
                "unknown message shape: never replayed automatically; inspect it with `dlq list --json`"
                    .to_owned(),
            ),
            Replay::Invalid { message } => {
                ReplayAction::Kept(invalid_kept_reason(message, opts.stage, &letter.message_id))
            }
            Replay::Sweep => ReplayAction::Kept(format!(
                "not a business event (a sweep failure): not re-sent; run the sweep instead \
                 (`cargo xtask sweep --stage {stage}`, function {function}), then delete this \
                 letter with `cargo xtask dlq delete --stage {stage} --id {id}`",
                stage = opts.stage,
                function = opts.sweep_function,
                id = letter.message_id
            )),
            Replay::Event { .. } if opts.dry_run => ReplayAction::WouldReplay,
            Replay::Event {
                source,
                detail_type,
                detail,
                time,
            } => {
                match crate::models::events::put_event(
                    events,
                    &opts.bus_name,
                    source,
                    detail_type,
                    detail,
                    time.as_deref(),
                )
                .await
                {
                    Err(why) => ReplayAction::Failed(why),
                    Ok(()) => match delete_received(sqs, queue_url, letter).await {
                        Ok(()) => ReplayAction::Replayed,
                        Err(e) => ReplayAction::ReplayedNotDeleted(e),
                    },
                }
            }
        };
        outcomes.push(Outcome::of(letter, action));
    }
    let deleted: HashSet<&str> = outcomes
        .iter()
        .filter(|o| o.action == ReplayAction::Replayed)
        .map(|o| o.message_id.as_str())
        .collect();
    release_all_but(sqs, queue_url, letters, &deleted).await;
    if let Selection::Ids(ids) = &opts.selection {
        for id in ids {
            if !letters.iter().any(|l| &l.message_id == id) {
                outcomes.push(Outcome::missing(id, ReplayAction::NotFound));
            }
        }
    }
    outcomes
}

/// The report `replay` prints.
pub fn replay_report(outcomes: &[ReplayOutcome], dry_run: bool) -> String {
    let mut out = String::new();
    for o in outcomes {
        let what = o.what();
        let line = match &o.action {
            ReplayAction::Replayed => {
                format!("replayed     {what}: put on the bus, deleted from the queue")
            }
            ReplayAction::WouldReplay => format!("would replay {what}"),
            ReplayAction::ReplayedNotDeleted(e) => {
                format!(
                    "replayed     {what}, but not deleted from the queue ({e}); replaying it again is harmless"
                )
            }
            ReplayAction::Kept(why) => format!("kept         {what}: {why}"),
            ReplayAction::Failed(why) => format!("FAILED       {what}: {why}; kept in the queue"),
            ReplayAction::NotFound => format!("NOT FOUND    {what}: no such message in the queue"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let count = |f: fn(&ReplayAction) -> bool| outcomes.iter().filter(|o| f(&o.action)).count();
    let replayed = count(|a| {
        matches!(
            a,
            ReplayAction::Replayed | ReplayAction::ReplayedNotDeleted(_)
        )
    });
    let would = count(|a| matches!(a, ReplayAction::WouldReplay));
    let kept = count(|a| matches!(a, ReplayAction::Kept(_)));
    let failed = count(|a| matches!(a, ReplayAction::Failed(_) | ReplayAction::NotFound));
    if dry_run {
        out.push_str(&format!(
            "Dry run: {would} would be replayed, {kept} kept, {failed} not found.\n"
        ));
    } else {
        out.push_str(&format!(
            "{replayed} replayed, {kept} kept, {failed} failed or not found.\n"
        ));
    }
    out.push_str(REPLAY_IS_SAFE);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::queues::classify;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn the_reason_an_invalid_letter_is_kept_says_what_to_do() {
        let why = invalid_kept_reason(
            "invalid event: field `detail.credits` is negative (-3)",
            Stage::Prod,
            "m-7",
        );
        assert!(
            why.starts_with("invalid: invalid event: field `detail.credits` is negative"),
            "{why}"
        );
        assert!(why.contains("fix the producer and send a corrected event"));
        assert!(why.contains("`cargo xtask dlq delete --stage prod --id m-7`"));
        let record = json!({
            "requestContext": {"functionArn": "arn:f", "condition": "RetriesExhausted"},
            "requestPayload": {"detail-type": "video.failed", "source": "s",
                               "detail": {"job_id": "j", "account_id": 7}},
            "responsePayload": {"errorType": "InvalidEvent", "errorMessage": "bad"}
        });
        let letter = DeadLetter {
            message_id: "m-7".into(),
            receipt_handle: "h".into(),
            sent_at_ms: None,
            body: String::new(),
            classification: classify(&record.to_string(), &BTreeMap::new()),
        };
        let j = letter.to_json(0);
        assert_eq!(j["replay"], "never-invalid");
        assert!(j["invalid"].as_str().unwrap().contains("detail.account_id"));
    }

    #[test]
    fn the_replay_report_says_replaying_is_safe() {
        let outcomes = vec![
            ReplayOutcome {
                message_id: "m1".into(),
                detail_type: Some("video.failed".into()),
                business_key: Some("j1".into()),
                action: ReplayAction::Replayed,
            },
            ReplayOutcome {
                message_id: "m2".into(),
                detail_type: None,
                business_key: None,
                action: ReplayAction::Kept("invoke the sweep instead".into()),
            },
        ];
        let r = replay_report(&outcomes, false);
        assert!(r.contains("1 replayed, 1 kept, 0 failed"));
        assert!(r.contains("invoke the sweep instead"));
        assert!(r.contains("business key"));
        assert!(!outcomes.iter().any(ReplayOutcome::is_failure));
        let dry = replay_report(
            &[ReplayOutcome {
                action: ReplayAction::WouldReplay,
                ..outcomes[0].clone()
            }],
            true,
        );
        assert!(dry.contains("Dry run: 1 would be replayed"), "{dry}");
    }
}
