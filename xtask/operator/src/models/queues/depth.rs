//! A queue's depth and the age of its oldest message, without consuming
//! anything: what status shows of the dead-letter and unrouted queues.

use super::{Queue, ReceiveOptions, approximate_counts};

/// A queue's depth and its oldest message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueView {
    /// Its name.
    pub name: String,
    /// Visible messages.
    pub visible: u64,
    /// Messages someone is reading.
    pub in_flight: u64,
    /// When the oldest message arrived.
    pub oldest_sent_ms: Option<i64>,
    /// How many messages were read to find it (0: from the queue's
    /// `ApproximateAgeOfOldestMessage` metric, which reads none).
    pub read: usize,
}

impl QueueView {
    /// Messages in the queue.
    pub fn depth(&self) -> u64 {
        self.visible + self.in_flight
    }
}

/// The queue's oldest message by CloudWatch (`AWS/SQS`
/// `ApproximateAgeOfOldestMessage`, the latest datapoint of the last 15
/// minutes): when it was sent (the datapoint's time less the age); `None`
/// without a datapoint (a new queue, the emulator). SQS leaves out of this
/// metric a message received three times or more without being deleted
/// (every `dlq list` receives): a lower bound, not the answer.
pub async fn oldest_sent_by_metric(
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue_name: &str,
    now_ms: i64,
) -> Option<i64> {
    use aws_sdk_cloudwatch::types::{Dimension, Statistic};
    let out = cloudwatch
        .get_metric_statistics()
        .namespace("AWS/SQS")
        .metric_name("ApproximateAgeOfOldestMessage")
        .dimensions(
            Dimension::builder()
                .name("QueueName")
                .value(queue_name)
                .build(),
        )
        .start_time(aws_smithy_types::DateTime::from_millis(
            now_ms - 15 * 60_000,
        ))
        .end_time(aws_smithy_types::DateTime::from_millis(now_ms))
        .period(60)
        .statistics(Statistic::Maximum)
        .send()
        .await
        .ok()?;
    out.datapoints()
        .iter()
        .filter_map(|d| Some((d.timestamp()?.to_millis().ok()?, d.maximum()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(at, age)| at - (age * 1000.0) as i64)
}

/// The queue's depth and when its oldest message was sent: the older of
/// the queue's CloudWatch metric (sees messages however many there are,
/// but not those received three times or more) and a sample of at most 100
/// messages (sees those, but with more messages may miss the oldest: said
/// as "of N read").
///
/// # Errors
/// SQS failed.
pub async fn queue_view(
    sqs: &aws_sdk_sqs::Client,
    cloudwatch: &aws_sdk_cloudwatch::Client,
    queue: &Queue,
    now_ms: i64,
) -> Result<QueueView, String> {
    let (visible, in_flight) = approximate_counts(sqs, &queue.url)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let mut view = QueueView {
        name: queue.name.clone(),
        visible,
        in_flight,
        ..QueueView::default()
    };
    if visible + in_flight == 0 {
        return Ok(view);
    }
    let by_metric = oldest_sent_by_metric(cloudwatch, &queue.name, now_ms).await;
    let mut by_sample = None;
    if visible > 0 {
        let opts = ReceiveOptions {
            max_messages: 100,
            wait_seconds: 2,
            visibility_timeout: 30,
            ..ReceiveOptions::default()
        };
        let received = super::list(sqs, &queue.url, &opts)
            .await
            .map_err(|e| format!("{e:#}"))?;
        view.read = received.letters.len();
        by_sample = received.letters.iter().filter_map(|l| l.sent_at_ms).min();
    }
    view.oldest_sent_ms = match (by_metric, by_sample) {
        (Some(m), Some(s)) => Some(m.min(s)),
        (m, s) => m.or(s),
    };
    Ok(view)
}
