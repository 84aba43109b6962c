//! The stage's queues (dead letters, unrouted events): reading one without
//! consuming it, deleting exactly what was asked, the two shapes of dead
//! letter classified ([`letter`]), and a queue's depth and oldest message
//! ([`depth`]).
//!
//! SQS short polling samples a subset of its servers: an empty answer is not
//! an empty queue. So [`receive_all`] **long-polls** (`WaitTimeSeconds`, up
//! to 20) and keeps going while `ApproximateNumberOfMessages` says messages
//! are still visible; it returns as soon as none is (what it received is in
//! flight, invisible, until [`release`]d). It never waits on a drained queue:
//! the count is read before every receive.

use std::collections::{BTreeMap, HashSet};

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

mod depth;
mod letter;

use crate::aws::sdk_error;

pub use depth::{QueueView, oldest_sent_by_metric, queue_view};
pub use letter::{
    Classification, DeadLetter, FALLBACK_SOURCE, Replay, Shape, classify, invalid_reason,
};

/// A queue of the stack: its URL and name (both from the stack's outputs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    /// The queue's URL.
    pub url: String,
    /// The queue's name.
    pub name: String,
}

impl Queue {
    /// The stage's dead-letter queue.
    pub fn dead_letters(outputs: &infra::StackOutputs) -> Queue {
        Queue {
            url: outputs.dead_letter_queue_url.clone(),
            name: outputs.dead_letter_queue_name.clone(),
        }
    }

    /// The stage's queue of unrouted events.
    pub fn unrouted(outputs: &infra::StackOutputs) -> Queue {
        Queue {
            url: outputs.unrouted_queue_url.clone(),
            name: outputs.unrouted_queue_name.clone(),
        }
    }
}

/// How [`receive_all`] reads the queue.
#[derive(Clone, Copy, Debug)]
pub struct ReceiveOptions {
    /// Seconds a received message stays invisible (nothing is consumed: it
    /// is released at the end, or reappears after this).
    pub visibility_timeout: i32,
    /// `WaitTimeSeconds` of each receive (long polling; at most 20).
    pub wait_seconds: i32,
    /// At most this many distinct messages.
    pub max_messages: usize,
    /// At most this many ReceiveMessage calls.
    pub max_rounds: usize,
    /// Stop after this many receives in a row brought nothing new while the
    /// queue still counted visible messages (they may belong to someone
    /// else's receive and reappear later).
    pub max_empty_rounds: usize,
}

impl Default for ReceiveOptions {
    fn default() -> Self {
        ReceiveOptions {
            visibility_timeout: 60,
            wait_seconds: 20,
            max_messages: 1000,
            max_rounds: 200,
            max_empty_rounds: 5,
        }
    }
}

/// What [`receive_all`] received.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Every distinct message, oldest first; in flight until released.
    pub letters: Vec<DeadLetter>,
    /// `true`: the queue counted no visible message at the end (everything
    /// there was received); `false`: a bound was reached first.
    pub drained: bool,
}

/// The queue's approximate counts: (visible, in flight).
///
/// # Errors
/// SQS failed (the queue does not exist, no permission).
pub async fn approximate_counts(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
) -> anyhow::Result<(u64, u64)> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read the attributes of {queue_url}: {}", sdk_error(&e)))?;
    let get = |name: &QueueAttributeName| {
        out.attributes()
            .and_then(|a| a.get(name))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok((
        get(&QueueAttributeName::ApproximateNumberOfMessages),
        get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
    ))
}

/// Reads the queue without consuming it: [`receive_all`], then [`release`]
/// every message at once, so that the next reader sees them all.
///
/// # Errors
/// SQS failed.
pub async fn list(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: &ReceiveOptions,
) -> anyhow::Result<Received> {
    let received = receive_all(sqs, queue_url, opts).await?;
    release(sqs, queue_url, received.letters.iter()).await;
    Ok(received)
}

/// Makes received messages visible again right away (visibility timeout 0).
/// Best effort: a message not released reappears when its visibility timeout
/// ends anyway.
pub async fn release<'a>(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    letters: impl Iterator<Item = &'a DeadLetter>,
) {
    let letters: Vec<&DeadLetter> = letters.collect();
    for chunk in letters.chunks(10) {
        let entries = chunk.iter().enumerate().filter_map(|(i, l)| {
            aws_sdk_sqs::types::ChangeMessageVisibilityBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(&l.receipt_handle)
                .visibility_timeout(0)
                .build()
                .ok()
        });
        let _ = sqs
            .change_message_visibility_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await;
    }
}

/// [`release`]s every received message but those in `gone` (deleted).
pub async fn release_all_but(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    letters: &[DeadLetter],
    gone: &HashSet<&str>,
) {
    release(
        sqs,
        queue_url,
        letters
            .iter()
            .filter(|l| !gone.contains(l.message_id.as_str())),
    )
    .await;
}

/// Receives every message of the queue, each once (see the module): the
/// messages stay invisible until their timeout ends or they are
/// [`release`]d.
///
/// # Errors
/// SQS failed.
pub async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: &ReceiveOptions,
) -> anyhow::Result<Received> {
    receive_until(sqs, queue_url, opts, |_| false).await
}

/// [`receive_all`], stopping early once `done` holds for the messages
/// received so far.
///
/// # Errors
/// SQS failed.
pub async fn receive_until(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    opts: &ReceiveOptions,
    done: impl Fn(&[DeadLetter]) -> bool,
) -> anyhow::Result<Received> {
    let mut letters: Vec<DeadLetter> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut empty_rounds = 0;
    let mut drained = false;
    for _ in 0..opts.max_rounds {
        if letters.len() >= opts.max_messages || done(&letters) {
            break;
        }
        let (visible, _) = approximate_counts(sqs, queue_url).await?;
        if visible == 0 {
            drained = true;
            break;
        }
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(
                i32::try_from(opts.max_messages.saturating_sub(letters.len()).clamp(1, 10))
                    .unwrap_or(10),
            )
            .visibility_timeout(opts.visibility_timeout)
            .wait_time_seconds(opts.wait_seconds.clamp(0, 20))
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("receive from {queue_url}: {}", sdk_error(&e)))?;
        let mut new = 0;
        for m in out.messages() {
            let (Some(id), Some(handle)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            if !seen.insert(id.to_owned()) {
                if let Some(l) = letters.iter_mut().find(|l| l.message_id == id) {
                    l.receipt_handle = handle.to_owned();
                }
                continue;
            }
            new += 1;
            let attributes: BTreeMap<String, String> = m
                .message_attributes()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| v.string_value().map(|s| (k.clone(), s.to_owned())))
                .collect();
            let body = m.body().unwrap_or_default().to_owned();
            let sent_at_ms = m
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::SentTimestamp))
                .and_then(|s| s.parse().ok());
            letters.push(DeadLetter {
                message_id: id.to_owned(),
                receipt_handle: handle.to_owned(),
                sent_at_ms,
                classification: classify(&body, &attributes),
                body,
            });
        }
        if new == 0 {
            empty_rounds += 1;
            if empty_rounds >= opts.max_empty_rounds {
                break;
            }
        } else {
            empty_rounds = 0;
        }
    }
    letters.sort_by_key(|l| (l.sent_at_ms, l.message_id.clone()));
    Ok(Received { letters, drained })
}

/// What `delete` did with one message id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeleteAction {
    /// Deleted from the queue.
    Deleted,
    /// No such message id in the queue.
    NotFound,
    /// DeleteMessage failed; the message stays.
    Failed(String),
}

/// What a command did with one message: a line of its report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome<A> {
    /// The SQS message id (asked for, or found).
    pub message_id: String,
    /// The event's detail-type, if found and any.
    pub detail_type: Option<String>,
    /// The event's business key, if found and any.
    pub business_key: Option<String>,
    /// What happened.
    pub action: A,
}

impl<A> Outcome<A> {
    /// The outcome of `action` on a received message.
    pub fn of(letter: &DeadLetter, action: A) -> Outcome<A> {
        Outcome {
            message_id: letter.message_id.clone(),
            detail_type: letter.classification.detail_type.clone(),
            business_key: letter.classification.business_key.clone(),
            action,
        }
    }

    /// An id that is not in the queue.
    pub fn missing(message_id: &str, action: A) -> Outcome<A> {
        Outcome {
            message_id: message_id.to_owned(),
            detail_type: None,
            business_key: None,
            action,
        }
    }

    /// `<message id> (<detail-type>, <business key>)`, for reports.
    pub fn what(&self) -> String {
        format!(
            "{} ({}, {})",
            self.message_id,
            self.detail_type.as_deref().unwrap_or("-"),
            self.business_key.as_deref().unwrap_or("-")
        )
    }
}

/// One line of a delete report.
pub type DeleteOutcome = Outcome<DeleteAction>;

/// Deletes exactly the messages with these ids: receives until every id is
/// found (or the queue is drained), deletes each found one by its receipt
/// handle, makes every other received message visible again at once, and
/// reports ids that are not in the queue as [`DeleteAction::NotFound`].
///
/// # Errors
/// SQS failed while reading the queue (per-message failures are outcomes).
pub async fn delete(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    ids: &[String],
    opts: &ReceiveOptions,
) -> anyhow::Result<Vec<DeleteOutcome>> {
    let mut wanted: Vec<&String> = Vec::new();
    for id in ids {
        if !wanted.contains(&id) {
            wanted.push(id);
        }
    }
    let received = receive_until(sqs, queue_url, opts, |got| {
        wanted
            .iter()
            .all(|id| got.iter().any(|l| &l.message_id == *id))
    })
    .await?;
    let letters = received.letters;
    let mut outcomes = Vec::new();
    let mut deleted: HashSet<&str> = HashSet::new();
    for id in &wanted {
        let Some(letter) = letters.iter().find(|l| &l.message_id == *id) else {
            outcomes.push(Outcome::missing(id, DeleteAction::NotFound));
            continue;
        };
        let action = match delete_received(sqs, queue_url, letter).await {
            Ok(()) => {
                deleted.insert(letter.message_id.as_str());
                DeleteAction::Deleted
            }
            Err(e) => DeleteAction::Failed(e),
        };
        outcomes.push(Outcome::of(letter, action));
    }
    release_all_but(sqs, queue_url, &letters, &deleted).await;
    Ok(outcomes)
}

/// Deletes one received message by its receipt handle.
///
/// # Errors
/// DeleteMessage failed (one line).
pub async fn delete_received(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    letter: &DeadLetter,
) -> Result<(), String> {
    sqs.delete_message()
        .queue_url(queue_url)
        .receipt_handle(&letter.receipt_handle)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| sdk_error(&e))
}

/// Deletes every message of the queue (PurgeQueue).
///
/// # Errors
/// SQS failed (e.g. another purge less than 60 seconds ago).
pub async fn purge(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> anyhow::Result<()> {
    sqs.purge_queue()
        .queue_url(queue_url)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "purge {queue_url}: {} (SQS allows one purge per queue every 60 seconds)",
                sdk_error(&e)
            )
        })?;
    Ok(())
}

/// The report `delete` prints.
pub fn delete_report(outcomes: &[DeleteOutcome]) -> String {
    let mut out = String::new();
    for o in outcomes {
        let what = o.what();
        let line = match &o.action {
            DeleteAction::Deleted => format!("deleted      {what}"),
            DeleteAction::NotFound => {
                format!(
                    "NOT FOUND    {}: no such message in the queue",
                    o.message_id
                )
            }
            DeleteAction::Failed(e) => format!("FAILED       {what}: {e}; kept in the queue"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    let deleted = outcomes
        .iter()
        .filter(|o| o.action == DeleteAction::Deleted)
        .count();
    out.push_str(&format!(
        "{deleted} deleted, {} not found or failed.\n",
        outcomes.len() - deleted
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delete_report_names_what_was_not_found() {
        let outcomes = vec![
            DeleteOutcome {
                message_id: "m1".into(),
                detail_type: Some("video.requested".into()),
                business_key: Some("j1".into()),
                action: DeleteAction::Deleted,
            },
            DeleteOutcome {
                message_id: "nope".into(),
                detail_type: None,
                business_key: None,
                action: DeleteAction::NotFound,
            },
        ];
        let r = delete_report(&outcomes);
        assert!(r.contains("deleted      m1 (video.requested, j1)"), "{r}");
        assert!(r.contains("NOT FOUND    nope"), "{r}");
        assert!(r.contains("1 deleted, 1 not found or failed."), "{r}");
    }
}
