//! `cargo xtask unrouted list|resend|delete`: the stage's queue of unrouted
//! events — events on the bus whose detail-type is none of contract §2's (a
//! producer's typo, another case, a `credits.adjusted` no producer may send).
//!
//! Nothing here is automatic. `list` shows them (read without consuming);
//! `resend --id M --as video.rendered` puts **one** back on the bus under the
//! detail-type the operator names, with its original source and detail, and
//! only if the detail passes contract §2's validation for that detail-type
//! (`reconciler_core::event::parse_detail`); then deletes it from the queue.
//! `delete` removes exactly the ids given.

use infra::Stage;
use reconciler_core::event::{CREDITS_ADJUSTED, DETAIL_TYPES, parse_detail};
use serde_json::Value;

use anyhow::bail;

use crate::aws::Target;
use crate::base::ui::{clip, table};
use crate::base::when::format_age;
use crate::commands::{Console, DeleteArgs, delete_ids, run_command};
use crate::models::queues::{
    DeadLetter, Queue, ReceiveOptions, delete_received, list, receive_until, release_all_but,
};
use crate::models::rules;

/// An unrouted event, as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnroutedView {
    /// SQS's message id.
    pub message_id: String,
    /// The event's detail-type as sent.
    pub detail_type: Option<String>,
    /// The event's source.
    pub source: Option<String>,
    /// `grant_id` or `job_id` of its detail, if any.
    pub business_key: Option<String>,
    /// contract §2's detail-types whose validation its detail passes (what
    /// `resend --as` would accept).
    pub fits: Vec<&'static str>,
    /// The age, if known.
    pub age_ms: Option<i64>,
}

/// The envelope of an unrouted message, if its body is an EventBridge event.
fn envelope(letter: &DeadLetter) -> Option<Value> {
    serde_json::from_str::<Value>(&letter.body)
        .ok()
        .filter(Value::is_object)
}

/// What `list` shows of one message (pure).
pub fn view(letter: &DeadLetter, now_ms: i64) -> UnroutedView {
    let event = envelope(letter);
    let text = |key: &str| {
        event
            .as_ref()
            .and_then(|e| e.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let detail = event.as_ref().and_then(|e| e.get("detail"));
    UnroutedView {
        message_id: letter.message_id.clone(),
        detail_type: text("detail-type"),
        source: text("source"),
        business_key: ["grant_id", "job_id"]
            .iter()
            .find_map(|k| detail?.get(k)?.as_str())
            .map(str::to_owned),
        fits: DETAIL_TYPES
            .into_iter()
            .filter(|dt| detail.is_some_and(|d| parse_detail(dt, d).is_ok()))
            .collect(),
        age_ms: letter
            .sent_at_ms
            .map(|sent| now_ms.saturating_sub(sent).max(0)),
    }
}

/// The table `list` prints.
pub fn list_table(views: &[UnroutedView]) -> String {
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|v| {
            vec![
                v.message_id.clone(),
                clip(v.detail_type.as_deref().unwrap_or("-"), 40),
                clip(v.source.as_deref().unwrap_or("-"), 40),
                clip(v.business_key.as_deref().unwrap_or("-"), 40),
                if v.fits.is_empty() {
                    "none".to_owned()
                } else {
                    v.fits.join(" ")
                },
                v.age_ms
                    .map(|ms| format_age(std::time::Duration::from_millis(ms.unsigned_abs())))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(
        &[
            "MESSAGE ID",
            "DETAIL-TYPE",
            "SOURCE",
            "KEY",
            "VALID AS",
            "AGE",
        ],
        &rows,
    )
}

/// `unrouted list --json` (pure): the queue, whether it was read to its
/// end, and each event as the table shows it (docs/operations.md#json).
pub fn list_json(queue: &str, views: &[UnroutedView], drained: bool) -> Value {
    let events: Vec<Value> = views
        .iter()
        .map(|v| {
            serde_json::json!({
                "message_id": v.message_id,
                "detail_type": v.detail_type,
                "source": v.source,
                "business_key": v.business_key,
                "valid_as": v.fits,
                "age_seconds": v.age_ms.map(|ms| ms / 1000),
            })
        })
        .collect();
    serde_json::json!({"queue": queue, "drained": drained, "events": events})
}

/// What a resend puts on the bus.
#[derive(Clone, Debug, PartialEq)]
pub struct Resend {
    /// The original source.
    pub source: String,
    /// The detail-type the operator named.
    pub detail_type: String,
    /// The original detail, unchanged.
    pub detail: Value,
    /// The original time, if any.
    pub time: Option<String>,
}

/// Whether the unrouted event `body` may go back on the bus as `as_type`
/// (pure): `as_type` is one of contract §2's detail-types (never
/// `credits.adjusted`: corrections go through `cargo xtask ledger adjust`),
/// the body is an event with a source, and its detail passes that
/// detail-type's validation.
///
/// # Errors
/// Why not, in one line.
pub fn resend_check(body: &str, as_type: &str) -> Result<Resend, String> {
    if as_type == CREDITS_ADJUSTED {
        return Err(format!(
            "{CREDITS_ADJUSTED} never goes on the bus: an operator corrects an account with \
             `cargo xtask ledger adjust`"
        ));
    }
    if !DETAIL_TYPES.contains(&as_type) {
        return Err(format!(
            "--as {as_type:?} is not a ledger detail-type: one of {}",
            DETAIL_TYPES.join(", ")
        ));
    }
    let event: Value = serde_json::from_str(body)
        .ok()
        .filter(Value::is_object)
        .ok_or("the message is not an EventBridge event (not a JSON object): delete it instead")?;
    let source = event
        .get("source")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the event has no source: it cannot be re-sent as its producer sent it")?;
    let detail = event
        .get("detail")
        .ok_or("the event has no detail: nothing to re-send")?;
    parse_detail(as_type, detail)
        .map_err(|invalid| format!("its detail does not pass {as_type}'s validation: {invalid}"))?;
    Ok(Resend {
        source: source.to_owned(),
        detail_type: as_type.to_owned(),
        detail: detail.clone(),
        time: event.get("time").and_then(Value::as_str).map(str::to_owned),
    })
}

/// What `resend` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResendOutcome {
    /// Put on the bus under the new detail-type, and deleted from the queue.
    Resent,
    /// Put on the bus, but not deleted from the queue: delete it by id.
    ResentNotDeleted(String),
    /// Refused (nothing sent): why.
    Refused(String),
    /// PutEvents failed (nothing sent, the message stays).
    Failed(String),
    /// No such message in the queue.
    NotFound,
}

/// Resends one unrouted event as `as_type` (see [`resend_check`]): on the
/// bus `bus_name` with its original source and detail, then deletes it from
/// the queue. Every other message is released at once.
///
/// # Errors
/// SQS failed while reading the queue (the rest are outcomes).
pub async fn resend(
    sqs: &aws_sdk_sqs::Client,
    events: &aws_sdk_eventbridge::Client,
    queue_url: &str,
    bus_name: &str,
    message_id: &str,
    as_type: &str,
    opts: &ReceiveOptions,
) -> anyhow::Result<ResendOutcome> {
    let letters = receive_until(sqs, queue_url, opts, |got| {
        got.iter().any(|l| l.message_id == message_id)
    })
    .await?
    .letters;
    let outcome = match letters.iter().find(|l| l.message_id == message_id) {
        None => ResendOutcome::NotFound,
        Some(letter) => match resend_check(&letter.body, as_type) {
            Err(why) => ResendOutcome::Refused(why),
            Ok(r) => match crate::models::events::put_event(
                events,
                bus_name,
                &r.source,
                &r.detail_type,
                &r.detail,
                r.time.as_deref(),
            )
            .await
            {
                Err(why) => ResendOutcome::Failed(why),
                Ok(()) => match delete_received(sqs, queue_url, letter).await {
                    Ok(()) => ResendOutcome::Resent,
                    Err(e) => ResendOutcome::ResentNotDeleted(e),
                },
            },
        },
    };
    let mut gone = std::collections::HashSet::new();
    if outcome == ResendOutcome::Resent {
        gone.insert(message_id);
    }
    release_all_but(sqs, queue_url, &letters, &gone).await;
    Ok(outcome)
}

/// The line `resend` prints for its outcome.
pub fn resend_line(
    outcome: &ResendOutcome,
    stage: Stage,
    message_id: &str,
    as_type: &str,
) -> String {
    match outcome {
        ResendOutcome::Resent => format!(
            "resent {message_id} as {as_type} and deleted it from the unrouted queue; the handler \
             applies it by its business key (a duplicate if it was already applied)"
        ),
        ResendOutcome::ResentNotDeleted(e) => format!(
            "resent {message_id} as {as_type}, but it is still in the unrouted queue ({e}): delete \
             it with `cargo xtask unrouted delete --stage {stage} --id {message_id}`"
        ),
        ResendOutcome::Refused(why) => format!("refused, nothing sent: {why}"),
        ResendOutcome::Failed(why) => format!("not resent ({why}); the message stays"),
        ResendOutcome::NotFound => format!("no message {message_id} in the unrouted queue"),
    }
}

/// `cargo xtask unrouted`.
#[derive(clap::Args, Debug)]
#[command(after_long_help = EXAMPLES)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

const EXAMPLES: &str = "Examples:
  cargo xtask unrouted list --stage prod
  cargo xtask unrouted resend --stage prod --id 3f1c2a9e-… --as video.rendered
  cargo xtask unrouted delete --stage prod --id 3f1c2a9e-… --yes";

/// `unrouted list|resend|delete`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Show the unrouted events (without consuming them) and which ledger
    /// detail-types their detail would validate as.
    #[command(after_help = "Examples:\n  cargo xtask unrouted list --stage prod\n  \
                            cargo xtask unrouted list --stage prod --json | jq '.events[].message_id'")]
    List {
        #[command(flatten)]
        target: Target,
        /// Read at most this many messages.
        #[arg(long, default_value_t = 1000)]
        max: usize,
        /// Print JSON instead of a table (see docs/operations.md#json).
        #[arg(long)]
        json: bool,
    },
    /// Put ONE unrouted event back on the bus under the detail-type you name,
    /// with its original source and detail, if the detail validates as it;
    /// then delete it from the queue.
    #[command(
        after_help = "Example (a producer sent `video.renderd`, now fixed):\n  \
                            cargo xtask unrouted resend --stage prod --id 3f1c2a9e-… --as video.rendered"
    )]
    Resend {
        #[command(flatten)]
        target: Target,
        /// The message id (`unrouted list`).
        #[arg(long = "id", value_name = "MESSAGE_ID")]
        id: String,
        /// The ledger detail-type to send it as.
        #[arg(long = "as", value_name = "DETAIL_TYPE")]
        as_type: String,
    },
    /// Delete exactly these unrouted events (prod: --yes required).
    #[command(
        after_help = "Example:\n  cargo xtask unrouted delete --stage prod --id 3f1c2a9e-… --yes"
    )]
    Delete(DeleteArgs),
}

/// Runs `cargo xtask unrouted …`.
///
/// # Errors
/// The stage is not deployed, AWS failed, a resend was refused or failed.
pub fn run(args: Args) -> anyhow::Result<std::process::ExitCode> {
    run_command(async {
        match args.command {
            Command::List { target, max, json } => {
                let console = Console::open(&target).await?;
                eprintln!("{}", console.session.who_and_where());
                let queue = Queue::unrouted(&console.outputs);
                let opts = ReceiveOptions {
                    max_messages: max,
                    ..ReceiveOptions::default()
                };
                let received = list(&console.clients.sqs, &queue.url, &opts).await?;
                let now = crate::base::when::now_ms();
                if json {
                    let views: Vec<UnroutedView> =
                        received.letters.iter().map(|l| view(l, now)).collect();
                    let out = list_json(&queue.name, &views, received.drained);
                    println!("{}", serde_json::to_string_pretty(&out)?);
                    return Ok(false);
                }
                if received.letters.is_empty() {
                    println!("{}: no unrouted events.", queue.name);
                    return Ok(false);
                }
                let views: Vec<UnroutedView> =
                    received.letters.iter().map(|l| view(l, now)).collect();
                print!("{}", list_table(&views));
                println!(
                    "{} unrouted event(s) in {}: no ledger rule matched their detail-type, so \
                     the handler never saw them. Fix the producer; then, for each event that \
                     should count, `cargo xtask unrouted resend --stage {stage} --id \
                     <MESSAGE_ID> --as <DETAIL_TYPE>` (applied by business key: safe), or \
                     `cargo xtask unrouted delete --stage {stage} --id <MESSAGE_ID>`.",
                    views.len(),
                    queue.name,
                    stage = target.stage
                );
                Ok(false)
            }
            Command::Resend {
                target,
                id,
                as_type,
            } => {
                let console = Console::open(&target).await?;
                console.session.before_writing()?;
                let ledger = rules::ledger_rule(&console.clients.events, &console.outputs)
                    .await
                    .map_err(anyhow::Error::msg)?;
                rules::require_enabled(&ledger, "unrouted resend").map_err(anyhow::Error::msg)?;
                let queue = Queue::unrouted(&console.outputs);
                let outcome = resend(
                    &console.clients.sqs,
                    &console.clients.events,
                    &queue.url,
                    &console.outputs.bus_name,
                    &id,
                    &as_type,
                    &ReceiveOptions::default(),
                )
                .await?;
                let line = resend_line(&outcome, target.stage, &id, &as_type);
                match outcome {
                    ResendOutcome::Resent => {
                        println!("{line}");
                        Ok(false)
                    }
                    _ => bail!(line),
                }
            }
            Command::Delete(args) => delete_ids(args, Queue::unrouted).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::queues::classify;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn body(detail_type: &str, detail: Value) -> String {
        json!({"version": "0", "id": "e1", "detail-type": detail_type, "source": "render.farm",
               "time": "2026-11-29T10:00:00Z", "detail": detail})
        .to_string()
    }

    fn letter(body: String) -> DeadLetter {
        DeadLetter {
            message_id: "m1".into(),
            receipt_handle: "h".into(),
            sent_at_ms: Some(1_000),
            classification: classify(&body, &BTreeMap::new()),
            body,
        }
    }

    #[test]
    fn a_typo_resends_under_the_named_detail_type_with_its_source_and_detail() {
        let detail = json!({"job_id": "j1", "account_id": "a1", "credits": 25});
        let r = resend_check(&body("video.renderd", detail.clone()), "video.rendered").unwrap();
        assert_eq!(
            r,
            Resend {
                source: "render.farm".into(),
                detail_type: "video.rendered".into(),
                detail,
                time: Some("2026-11-29T10:00:00Z".into()),
            }
        );
    }

    #[test]
    fn a_detail_that_does_not_validate_or_a_wrong_type_is_refused() {
        let detail = json!({"job_id": "j1", "account_id": "a1", "credits": "25"});
        let why = resend_check(&body("video.renderd", detail), "video.rendered").unwrap_err();
        assert!(why.contains("detail.credits"), "{why}");
        let ok = body(
            "Video.Rendered",
            json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
        );
        let why = resend_check(&ok, "credits.adjusted").unwrap_err();
        assert!(why.contains("ledger adjust"), "{why}");
        let why = resend_check(&ok, "video.paused").unwrap_err();
        assert!(why.contains("not a ledger detail-type"), "{why}");
        assert!(resend_check("not json", "video.rendered").is_err());
        let no_source = json!({"detail-type": "x", "detail": {"job_id": "j", "account_id": "a"}});
        let why = resend_check(&no_source.to_string(), "video.failed").unwrap_err();
        assert!(why.contains("no source"), "{why}");
        let no_detail = json!({"detail-type": "x", "source": "s"});
        assert!(resend_check(&no_detail.to_string(), "video.failed").is_err());
        assert!(
            !resend_check("[]", "video.failed")
                .unwrap_err()
                .contains('\n')
        );
    }

    #[test]
    fn the_list_says_what_each_event_would_validate_as() {
        let v = view(
            &letter(body(
                "video.renderd",
                json!({"job_id": "j1", "account_id": "a1", "credits": 25}),
            )),
            61_000,
        );
        assert_eq!(v.detail_type.as_deref(), Some("video.renderd"));
        assert_eq!(v.business_key.as_deref(), Some("j1"));
        // A job detail with credits validates as all three credit-carrying job
        // events, and as video.failed (extra fields are not refused).
        assert!(v.fits.contains(&"video.rendered"), "{:?}", v.fits);
        assert!(!v.fits.contains(&"credits.granted"));
        let t = list_table(std::slice::from_ref(&v));
        assert!(t.contains("video.renderd") && t.contains("1m0s"), "{t}");
        let j = list_json("q", std::slice::from_ref(&v), true);
        assert_eq!(
            (j["queue"].as_str(), j["drained"].as_bool()),
            (Some("q"), Some(true))
        );
        let event = &j["events"][0];
        assert_eq!(event["detail_type"], "video.renderd");
        assert_eq!(event["business_key"], "j1");
        assert_eq!(event["age_seconds"], 60, "sent at 1 s, seen at 61 s");
        assert!(
            event["valid_as"]
                .as_array()
                .unwrap()
                .contains(&json!("video.rendered"))
        );
        let junk = view(&letter("junk".into()), 0);
        assert_eq!(junk.fits, Vec::<&str>::new());
        assert!(list_table(&[junk]).contains("none"));
        assert!(
            resend_line(&ResendOutcome::NotFound, Stage::Dev, "m9", "video.failed")
                .contains("no message m9")
        );
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[test]
    fn the_command_line_parses() {
        use clap::Parser;
        let Command::Resend { id, as_type, .. } = Cli::parse_from([
            "x",
            "resend",
            "--stage",
            "dev",
            "--id",
            "m1",
            "--as",
            "video.rendered",
        ])
        .command
        else {
            panic!("not resend");
        };
        assert_eq!((id.as_str(), as_type.as_str()), ("m1", "video.rendered"));
        assert!(
            Cli::try_parse_from(["x", "resend", "--stage", "dev", "--id", "m1"]).is_err(),
            "--as is required: never a guess"
        );
    }
}
