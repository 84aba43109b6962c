//! The handler: one EventBridge event in, one response out (the contract's
//! [`Response`]), and one log line ([`LogLine`]) from which its metrics are
//! counted too.

mod line;

use std::time::Instant;

use lambda_runtime::Diagnostic;
use reconciler_core::contract::log::{Cost, EventFields, LogLine, NO_EVENT_ID};
use reconciler_core::contract::{AccountView, JobView, Outcome, Response};
use reconciler_core::event::{Envelope, InvalidEvent, envelope_labels, parse_envelope_bytes};

use crate::store::{Applied, Ledger, StoreError};

/// Why an invocation failed. The error type Lambda reports is the variant's
/// name: `InvalidEvent` for refused input (nothing written), `LedgerUnavailable`
/// when DynamoDB could not be reached or kept cancelling (Lambda retries it).
#[derive(thiserror::Error)]
pub enum HandlerError {
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// As the Lambda runtime logs a handler's error (`{:?}`): the error type
/// and the message, one readable line like the handler's own, not a
/// dump of the enum.
impl std::fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {self}", self.error_type())
    }
}

impl HandlerError {
    pub fn error_type(&self) -> &'static str {
        match self {
            HandlerError::Invalid(_) => InvalidEvent::ERROR_TYPE,
            HandlerError::Store(e) => e.error_type(),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(e: HandlerError) -> Diagnostic {
        Diagnostic {
            error_type: e.error_type().into(),
            error_message: e.to_string(),
        }
    }
}

pub struct Handler {
    ledger: Ledger,
}

impl Handler {
    pub fn new(ledger: Ledger) -> Self {
        Handler { ledger }
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// Validates and applies one raw invocation payload, as an invocation
    /// of its own ([`crate::store::new_request_id`]).
    pub async fn handle(&self, raw: &[u8]) -> Result<Response, HandlerError> {
        self.handle_as(raw, &crate::store::new_request_id()).await
    }

    /// Validates and applies one raw invocation payload: Lambda invocation
    /// `request_id`, which its write carries ([`Ledger::apply_as`]).
    pub async fn handle_as(&self, raw: &[u8], request_id: &str) -> Result<Response, HandlerError> {
        let started = Instant::now();
        let envelope = match parse_envelope_bytes(raw) {
            Ok(e) => e,
            Err(invalid) => {
                line::record(&refused(raw, &invalid));
                return Err(invalid.into());
            }
        };
        let event = event_fields(&envelope);
        let result = self
            .ledger
            .apply_as(&envelope.event, &event.event_id, request_id)
            .await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        match result {
            Ok(applied) => {
                line::record(&applied_line(event, &applied, latency_ms));
                Ok(response(&applied))
            }
            Err(e) => {
                let err = HandlerError::from(e);
                line::record(&LogLine::NotApplied {
                    event,
                    latency_ms,
                    error_type: err.error_type().into(),
                    error: err.to_string(),
                });
                Err(err)
            }
        }
    }
}

/// What the log says of a valid event. One replayed from the bus's archive
/// carries its replay's name, so an operator sees what a replay window
/// applied and what it found already applied.
fn event_fields(envelope: &Envelope) -> EventFields {
    let event = &envelope.event;
    EventFields {
        event_id: envelope.id.as_deref().unwrap_or(NO_EVENT_ID).to_owned(),
        detail_type: event.detail_type().to_owned(),
        account_id: event.account_id().to_owned(),
        job_id: event.job_id().map(str::to_owned),
        business_key: event.business_key(),
        replay_name: envelope.replay_name.clone(),
    }
}

/// The line of a payload refused as invalid: what it had of an envelope.
fn refused(raw: &[u8], invalid: &InvalidEvent) -> LogLine {
    let (event_id, replay_name) = envelope_labels(raw);
    LogLine::Refused {
        event_id: event_id.unwrap_or_else(|| NO_EVENT_ID.to_owned()),
        replay_name,
        field: invalid.field.clone(),
        error: invalid.to_string(),
    }
}

/// The line of an event the ledger answered: applied, duplicate or conflict.
fn applied_line(event: EventFields, applied: &Applied, latency_ms: f64) -> LogLine {
    let cost = Cost {
        latency_ms,
        requests: applied.requests,
        attempts: applied.attempts,
    };
    match &applied.conflict {
        Some(reason) => LogLine::Conflict {
            event,
            cost,
            reason: reason.to_string(),
        },
        None => LogLine::Applied {
            event,
            outcome: outcome(applied),
            cost,
            available: applied.account.available,
            held: applied.account.held,
            overdraft: applied.overdraft,
        },
    }
}

/// The response word of what an event did.
fn outcome(applied: &Applied) -> Outcome {
    applied
        .outcome
        .response()
        .expect("an event's outcome is a response's: only the sweep expires holds")
}

/// The response of an event the ledger answered.
fn response(applied: &Applied) -> Response {
    Response {
        outcome: outcome(applied),
        account: AccountView {
            account_id: applied.account.account_id.clone(),
            available: applied.account.available,
            held: applied.account.held,
        },
        job: applied.job.as_ref().map(|(job_id, status)| JobView {
            job_id: job_id.clone(),
            status: *status,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The runtime logs a failed invocation's error with `{:?}`: one line
    /// that reads like the handler's own, the error type first.
    #[test]
    fn the_runtimes_log_line_of_an_error_is_readable() {
        let invalid = reconciler_core::event::parse_envelope_bytes(b"{oops").unwrap_err();
        let line = format!("{:?}", HandlerError::from(invalid));
        assert!(line.starts_with("InvalidEvent: "), "{line}");
        assert!(!line.contains("InvalidEvent {"), "no enum dump: {line}");
    }
}
