//! Lambda's asynchronous invocation, one event at a time
//! (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html>):
//!
//! - a function error is retried "two more times, with a one-minute wait
//!   between the first two attempts, and two minutes between the second
//!   and third" (`MaximumRetryAttempts` of the invoke config, 0–2), all
//!   under the same request id;
//! - a throttle "returns the event to the queue" and retries with "the
//!   retry interval increases exponentially from 1 second after the first
//!   attempt to a maximum of 5 minutes", without spending an attempt;
//! - an event older than `MaximumEventAgeInSeconds` (6 hours by default),
//!   or out of retries, is discarded: sent to the on-failure destination
//!   with Lambda's record, sent **with the function's execution role**
//!   (<https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html>),
//!   and counted in `AsyncEventsDropped` (which, as AWS's launch post says,
//!   counts events sent to a destination too).
//!
//! The waits are on the plane's clock, so a test sees the three attempts of
//! three minutes by moving it.

use std::time::Duration;

use super::Ctx;
use super::clock::Busy;
use super::lambda::{Refused, failure_record};
use super::telemetry::lambda_metric;
use crate::runtime_api::Reply;

/// One queued event.
pub struct Queued {
    pub function: String,
    pub request_id: String,
    pub payload: Vec<u8>,
    pub enqueued_ms: i64,
    /// Held while an attempt runs or is due.
    pub busy: Busy,
}

/// The wait before the attempt after `failed` attempts that failed (pure).
pub fn retry_delay(failed: u32) -> Duration {
    Duration::from_secs(if failed <= 1 { 60 } else { 120 })
}

/// The wait after `throttles` throttles in a row (pure): 1 s after the
/// first, doubling, at most 5 minutes.
pub fn throttle_delay(throttles: u32) -> Duration {
    Duration::from_secs(1u64 << throttles.saturating_sub(1).min(9)).min(Duration::from_secs(300))
}

/// Runs the event's attempts until one succeeds or it is discarded.
pub async fn run(ctx: &Ctx, queued: Queued) {
    let Queued {
        function,
        request_id,
        payload,
        enqueued_ms,
        busy,
    } = queued;
    let mut busy = Some(busy);
    lambda_metric(ctx, &function, "AsyncEventsReceived", 1.0, "Count").await;
    let (mut failed, mut throttles, mut last) = (0u32, 0u32, None);
    loop {
        let Some(config) = ctx.functions.get(&function).map(|f| f.config.clone()) else {
            return;
        };
        let age_ms = ctx.clock.now_ms() - enqueued_ms;
        if age_ms > i64::from(config.max_event_age_s) * 1000 {
            discard(
                ctx,
                &function,
                &request_id,
                "EventAgeExceeded",
                failed,
                &payload,
                last.as_ref(),
            )
            .await;
            return;
        }
        lambda_metric(
            ctx,
            &function,
            "AsyncEventAge",
            age_ms as f64,
            "Milliseconds",
        )
        .await;
        let wait = match ctx
            .functions
            .invoke(ctx, &function, &payload, &request_id)
            .await
        {
            Ok(invoked) => {
                ctx.trace.attempt(
                    &request_id,
                    &function,
                    failed + 1,
                    &invoked.reply,
                    ctx.clock.now_ms(),
                );
                if !matches!(invoked.reply, Reply::Error { .. }) {
                    return;
                }
                failed += 1;
                last = Some(invoked.reply);
                if failed > config.max_retries {
                    discard(
                        ctx,
                        &function,
                        &request_id,
                        "RetriesExhausted",
                        failed,
                        &payload,
                        last.as_ref(),
                    )
                    .await;
                    return;
                }
                throttles = 0;
                retry_delay(failed)
            }
            Err(Refused::Throttled) => {
                throttles += 1;
                if config.reserved == Some(0) {
                    // "Lambda begins sending new events to the configured
                    // … on-failure destination without any retries."
                    discard(
                        ctx,
                        &function,
                        &request_id,
                        "RetriesExhausted",
                        failed,
                        &payload,
                        None,
                    )
                    .await;
                    return;
                }
                throttle_delay(throttles)
            }
            Err(Refused::NotFound(_)) => return,
            Err(Refused::Broken(why)) => {
                eprintln!("local plane: {function}: {why}");
                failed += 1;
                if failed > config.max_retries {
                    discard(
                        ctx,
                        &function,
                        &request_id,
                        "RetriesExhausted",
                        failed,
                        &payload,
                        None,
                    )
                    .await;
                    return;
                }
                retry_delay(failed)
            }
        };
        // Not busy while it waits: a test moves the clock past the wait.
        drop(busy.take());
        let due = ctx.clock.now_ms() + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        ctx.clock.sleep_until(due).await;
        busy = Some(ctx.work.start());
    }
}

/// Sends the event to the on-failure destination (if any) and counts it
/// dropped.
async fn discard(
    ctx: &Ctx,
    function: &str,
    request_id: &str,
    condition: &str,
    attempts: u32,
    payload: &[u8],
    last: Option<&Reply>,
) {
    lambda_metric(ctx, function, "AsyncEventsDropped", 1.0, "Count").await;
    let Some(f) = ctx.functions.get(function) else {
        return;
    };
    let Some(destination) = f.config.on_failure.clone() else {
        ctx.trace.discarded(request_id, function, condition, None);
        return;
    };
    let record = failure_record(
        &f.config,
        request_id,
        condition,
        attempts,
        payload,
        last,
        ctx.clock.now_ms(),
    );
    let sent = super::telemetry::send_as_role(
        ctx,
        &f.config.role_arn,
        function,
        &destination,
        &record.to_string(),
        &[],
    )
    .await;
    match sent {
        Ok(message_id) => ctx
            .trace
            .discarded(request_id, function, condition, Some(&message_id)),
        Err(why) => {
            eprintln!("local plane: {function}: the on-failure record was not delivered: {why}");
            lambda_metric(ctx, function, "DestinationDeliveryFailures", 1.0, "Count").await;
            ctx.trace.discarded(request_id, function, condition, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_errors_wait_one_minute_then_two() {
        assert_eq!(retry_delay(1), Duration::from_secs(60));
        assert_eq!(retry_delay(2), Duration::from_secs(120));
    }

    #[test]
    fn throttles_back_off_from_one_second_to_five_minutes() {
        assert_eq!(throttle_delay(1), Duration::from_secs(1));
        assert_eq!(throttle_delay(2), Duration::from_secs(2));
        assert_eq!(throttle_delay(9), Duration::from_secs(256));
        assert_eq!(throttle_delay(10), Duration::from_secs(300));
        assert_eq!(throttle_delay(40), Duration::from_secs(300));
    }
}
