//! The handler's response: what a successful invocation returns, the same
//! for an event from the bus and an operator's adjustment.
//!
//! ```json
//! {"outcome": "debited",
//!  "account": {"account_id": "a1", "available": 75, "held": 0},
//!  "job": {"job_id": "j1", "status": "DEBITED"}}
//! ```
//!
//! `job` is absent for grants and adjustments; for `duplicate` and
//! `conflict` the balances and the job's status are the current ones.
//! [`Response::to_json`] writes it (the handler), [`Response::from_json`]
//! reads it back (whoever invoked the handler), naming the field at fault.

use std::fmt;

use serde_json::{Map, Value};

use super::json::{BadField, Object};
use crate::ledger::JobStatus;

/// The response's field names.
const OUTCOME: &str = "outcome";
const ACCOUNT: &str = "account";
const ACCOUNT_ID: &str = "account_id";
const AVAILABLE: &str = "available";
const HELD: &str = "held";
const JOB: &str = "job";
const JOB_ID: &str = "job_id";
const STATUS: &str = "status";

/// What an event did: the response's `outcome` (and the `Outcome`
/// dimension of the handler's metrics). The sweep's `expired` is not one:
/// no event expires a hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Granted,
    Held,
    Rejected,
    Debited,
    Refunded,
    Adjusted,
    Duplicate,
    Conflict,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Outcome::Granted,
        Outcome::Held,
        Outcome::Rejected,
        Outcome::Debited,
        Outcome::Refunded,
        Outcome::Adjusted,
        Outcome::Duplicate,
        Outcome::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Granted => "granted",
            Outcome::Held => "held",
            Outcome::Rejected => "rejected",
            Outcome::Debited => "debited",
            Outcome::Refunded => "refunded",
            Outcome::Adjusted => "adjusted",
            Outcome::Duplicate => "duplicate",
            Outcome::Conflict => "conflict",
        }
    }

    /// The outcome a word names, if any.
    pub fn parse(word: &str) -> Option<Outcome> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == word)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An account's balances, as the response shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountView {
    pub account_id: String,
    pub available: i64,
    pub held: i64,
}

/// A job's status, as the response shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
}

/// The handler's answer to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub outcome: Outcome,
    pub account: AccountView,
    /// `None` for grants and adjustments.
    pub job: Option<JobView>,
}

impl Response {
    /// The response as the handler returns it, fields in the contract's
    /// order (`outcome`, `account`, `job`) where serde_json keeps order.
    pub fn to_json(&self) -> Value {
        let mut account = Map::new();
        account.insert(ACCOUNT_ID.into(), self.account.account_id.clone().into());
        account.insert(AVAILABLE.into(), self.account.available.into());
        account.insert(HELD.into(), self.account.held.into());
        let mut response = Map::new();
        response.insert(OUTCOME.into(), self.outcome.as_str().into());
        response.insert(ACCOUNT.into(), Value::Object(account));
        if let Some(job) = &self.job {
            let mut view = Map::new();
            view.insert(JOB_ID.into(), job.job_id.clone().into());
            view.insert(STATUS.into(), job.status.as_str().into());
            response.insert(JOB.into(), Value::Object(view));
        }
        Value::Object(response)
    }

    /// Reads a response (the inverse of [`Response::to_json`]); unknown
    /// fields are ignored.
    pub fn from_json(value: &Value) -> Result<Response, BadField> {
        let response = Object::of(value, "")?;
        let outcome = response.word(OUTCOME, "an outcome", Outcome::parse)?;
        let account = response.object(ACCOUNT)?;
        let job = response
            .optional_object(JOB)?
            .map(|job| {
                Ok::<_, BadField>(JobView {
                    job_id: job.string(JOB_ID)?,
                    status: job.word(STATUS, "a job status", JobStatus::parse)?,
                })
            })
            .transpose()?;
        Ok(Response {
            outcome,
            account: AccountView {
                account_id: account.string(ACCOUNT_ID)?,
                available: account.integer(AVAILABLE)?,
                held: account.integer(HELD)?,
            },
            job,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn debited() -> Response {
        Response {
            outcome: Outcome::Debited,
            account: AccountView {
                account_id: "a1".into(),
                available: 75,
                held: 0,
            },
            job: Some(JobView {
                job_id: "j1".into(),
                status: JobStatus::Debited,
            }),
        }
    }

    /// The contract's example, written out by hand.
    #[test]
    fn a_response_is_the_contracts_json() {
        let expected = json!({"outcome": "debited",
            "account": {"account_id": "a1", "available": 75, "held": 0},
            "job": {"job_id": "j1", "status": "DEBITED"}});
        assert_eq!(debited().to_json(), expected);
        assert_eq!(Response::from_json(&expected), Ok(debited()));
        let grant = json!({"outcome": "granted",
            "account": {"account_id": "a1", "available": 100, "held": 0}});
        let read = Response::from_json(&grant).unwrap();
        assert_eq!(read.job, None);
        assert_eq!(read.to_json(), grant, "no job for grants");
    }

    #[test]
    fn every_outcome_word_is_the_contracts() {
        let words: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            words,
            [
                "granted",
                "held",
                "rejected",
                "debited",
                "refunded",
                "adjusted",
                "duplicate",
                "conflict"
            ]
        );
        assert_eq!(
            Outcome::parse("expired"),
            None,
            "the sweep's, not an event's"
        );
        assert_eq!(format!("{:<9}|", Outcome::Held), "held     |");
    }

    #[test]
    fn a_bad_response_names_its_field() {
        let cases = [
            (json!([]), "$", "must be a JSON object"),
            (json!({"account": {}}), "outcome", "is missing"),
            (
                json!({"outcome": "expired", "account": {}}),
                "outcome",
                "not an outcome",
            ),
            (json!({"outcome": "held"}), "account", "is missing"),
            (
                json!({"outcome": "held", "account": {"account_id": "a", "available": "5", "held": 0}}),
                "account.available",
                "must be an integer",
            ),
            (
                json!({"outcome": "held", "account": {"account_id": "a", "available": 5, "held": 0},
                       "job": {"job_id": "j", "status": "PAUSED"}}),
                "job.status",
                "not a job status",
            ),
        ];
        for (value, field, words) in cases {
            let err = Response::from_json(&value).unwrap_err();
            assert_eq!(err.field, field, "{value}");
            assert!(
                err.to_string().contains(words),
                "{err} should say {words:?}"
            );
        }
    }
}
