//! The handler: one EventBridge event in, one SPEC §4 response out.

use std::time::Instant;

use lambda_runtime::Diagnostic;
use reconciler_core::contract::metrics as names;
use reconciler_core::event::{InvalidEvent, envelope_labels, parse_envelope_bytes};
use reconciler_core::ledger::Outcome;
use serde::Serialize;

use crate::store::{Applied, Ledger, StoreError};

/// The SPEC §4 response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Response {
    pub outcome: &'static str,
    pub account: AccountView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<JobView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub account_id: String,
    pub available: i64,
    pub held: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobView {
    pub job_id: String,
    pub status: &'static str,
}

impl From<&Applied> for Response {
    fn from(a: &Applied) -> Self {
        Response {
            outcome: a.outcome.as_str(),
            account: AccountView {
                account_id: a.account.account_id.clone(),
                available: a.account.available,
                held: a.account.held,
            },
            job: a.job.as_ref().map(|(job_id, status)| JobView {
                job_id: job_id.clone(),
                status: status.as_str(),
            }),
        }
    }
}

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

    /// Validates and applies one raw invocation payload.
    pub async fn handle(&self, raw: &[u8]) -> Result<Response, HandlerError> {
        let started = Instant::now();
        let envelope = match parse_envelope_bytes(raw) {
            Ok(e) => e,
            Err(invalid) => {
                let (event_id, replay_name) = envelope_labels(raw);
                metrics::counter!(names::INVALID_EVENTS).increment(1);
                if replay_name.is_some() {
                    metrics::counter!(names::REPLAYED_EVENTS, names::OUTCOME_DIMENSION => names::NOT_APPLIED_OUTCOME)
                        .increment(1);
                }
                tracing::error!(
                    event_id = event_id.as_deref().unwrap_or("none"),
                    replay_name = replay_name.as_deref(),
                    error_type = InvalidEvent::ERROR_TYPE,
                    field = %invalid.field,
                    error = %invalid,
                    "event refused; nothing written"
                );
                return Err(invalid.into());
            }
        };
        let event = &envelope.event;
        let event_id = envelope.id.as_deref().unwrap_or("none");
        // An event replayed from the bus's archive: logged and counted as such,
        // so an operator sees what a replay window applied and what it found
        // already applied.
        let replay_name = envelope.replay_name.as_deref();
        let result = self.ledger.apply(event, event_id).await;
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        let applied = match result {
            Ok(a) => a,
            Err(e) => {
                let err = HandlerError::from(e);
                if replay_name.is_some() {
                    metrics::counter!(names::REPLAYED_EVENTS, names::OUTCOME_DIMENSION => names::NOT_APPLIED_OUTCOME)
                        .increment(1);
                }
                tracing::error!(
                    event_id,
                    detail_type = event.detail_type(),
                    account_id = event.account_id(),
                    job_id = event.job_id(),
                    business_key = %event.business_key().transition(),
                    replay_name,
                    latency_ms,
                    error_type = err.error_type(),
                    error = %err,
                    "event not applied"
                );
                return Err(err);
            }
        };
        metrics::counter!(names::EVENTS, names::OUTCOME_DIMENSION => applied.outcome.as_str())
            .increment(1);
        if replay_name.is_some() {
            metrics::counter!(names::REPLAYED_EVENTS, names::OUTCOME_DIMENSION => applied.outcome.as_str())
                .increment(1);
        }
        if applied.outcome == Outcome::Conflict {
            metrics::counter!(names::CONFLICTS).increment(1);
        }
        if applied.overdraft > 0 {
            metrics::counter!(names::OVERDRAFTS).increment(1);
        }
        let conflict = applied.conflict.as_ref().map(|c| c.to_string());
        let business_key = event.business_key().transition();
        let fields = (
            event_id,
            event.detail_type(),
            event.account_id(),
            event.job_id(),
        );
        if let Some(reason) = conflict {
            tracing::warn!(
                event_id = fields.0,
                detail_type = fields.1,
                account_id = fields.2,
                job_id = fields.3,
                %business_key,
                outcome = applied.outcome.as_str(),
                replay_name,
                latency_ms,
                requests = applied.requests,
                attempts = applied.attempts,
                %reason,
                "conflict: recorded for the sweep report, no money moved"
            );
        } else {
            tracing::info!(
                event_id = fields.0,
                detail_type = fields.1,
                account_id = fields.2,
                job_id = fields.3,
                %business_key,
                outcome = applied.outcome.as_str(),
                replay_name,
                latency_ms,
                requests = applied.requests,
                attempts = applied.attempts,
                available = applied.account.available,
                held = applied.account.held,
                overdraft = applied.overdraft,
                "event applied"
            );
        }
        Ok(Response::from(&applied))
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
