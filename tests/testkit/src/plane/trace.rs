//! What became of each event: the rules that matched it, the invocations it
//! caused, their attempts and errors, where it ended (a dead-letter queue,
//! an on-failure destination, nowhere). `cargo xtask send` prints it from
//! `GET /_local/trace/event/<id>`; on AWS the same story is told by the
//! logs, the metrics and the queues, which the plane writes too.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::runtime_api::Reply;

/// The traces; clones share them.
#[derive(Clone, Default, Debug)]
pub struct Trace {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default, Debug)]
struct Inner {
    /// Event id (or request id of a direct invocation) → its steps.
    steps: HashMap<String, Vec<String>>,
    /// Request id → the event it carries.
    requests: HashMap<String, String>,
    /// Every (function, action, resource) a function's role was asked for
    /// and allowed: what its code needs (the permissions test compares it
    /// with the role).
    authorized: BTreeSet<(String, String, String)>,
}

impl Trace {
    fn add(&self, key: &str, step: String) {
        if let Ok(mut inner) = self.inner.lock() {
            let key = inner
                .requests
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_owned());
            inner.steps.entry(key).or_default().push(step);
        }
    }

    /// A rule matched the event.
    pub fn matched(&self, event: &str, rule: &str) {
        self.add(event, format!("rule {rule} matched"));
    }

    /// Lambda accepted the event from a rule as request `request`.
    pub fn accepted(&self, event: &str, rule: &str, request: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.requests.insert(request.to_owned(), event.to_owned());
        }
        self.add(
            event,
            format!("rule {rule} → Lambda accepted it (request {request})"),
        );
    }

    /// An attempt of request `request` ran.
    pub fn attempt(&self, request: &str, function: &str, n: u32, reply: &Reply, at_ms: i64) {
        let outcome = match reply {
            Reply::Ok(value) => value
                .get("outcome")
                .and_then(Value::as_str)
                .map_or_else(|| "succeeded".to_owned(), |o| format!("outcome {o}")),
            Reply::Error {
                error_type,
                message,
            } => format!("{error_type}: {message}"),
        };
        let at = operator::base::when::format_time(at_ms);
        self.add(
            request,
            format!("{function} attempt {n} at {at}: {outcome}"),
        );
    }

    /// Lambda discarded request `request` (`condition`), to a destination
    /// message or to nowhere.
    pub fn discarded(&self, request: &str, function: &str, condition: &str, message: Option<&str>) {
        let to = message.map_or_else(
            || "no on-failure destination took it: dropped".to_owned(),
            |m| format!("sent to the on-failure destination (message {m})"),
        );
        self.add(request, format!("{function} gave up ({condition}): {to}"));
    }

    /// The rule's delivery failed and went to its dead-letter queue.
    pub fn dead_lettered(&self, event: &str, rule: &str, code: &str, message: &str) {
        self.add(
            event,
            format!("rule {rule} could not deliver ({code}): dead letter {message}"),
        );
    }

    /// The rule's delivery failed and nothing kept the event.
    pub fn lost(&self, event: &str, rule: &str, why: &str) {
        self.add(
            event,
            format!("rule {rule} could not deliver, and the event is lost: {why}"),
        );
    }

    /// A function's role allowed `action` on `resource`.
    pub fn authorized(&self, function: &str, action: &str, resource: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner
                .authorized
                .insert((function.to_owned(), action.to_owned(), resource.to_owned()));
        }
    }

    /// Every authorization so far, as JSON (`[{function, action, resource}]`).
    pub fn authorizations(&self) -> Value {
        let seen = self
            .inner
            .lock()
            .map(|inner| inner.authorized.clone())
            .unwrap_or_default();
        Value::Array(
            seen.into_iter()
                .map(|(function, action, resource)| {
                    json!({"function": function, "action": action, "resource": resource})
                })
                .collect(),
        )
    }

    /// The steps of `event` so far, as JSON.
    pub fn of(&self, event: &str) -> Value {
        let steps = self
            .inner
            .lock()
            .ok()
            .and_then(|inner| inner.steps.get(event).cloned())
            .unwrap_or_default();
        json!({"event_id": event, "steps": steps})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_events_invocations_are_told_with_it() {
        let trace = Trace::default();
        trace.matched("e1", "ledger-events");
        trace.accepted("e1", "ledger-events", "r1");
        let error = Reply::Error {
            error_type: "InvalidEvent".into(),
            message: "field `detail.credits`".into(),
        };
        trace.attempt("r1", "handler", 1, &error, 0);
        trace.discarded("r1", "handler", "RetriesExhausted", Some("m1"));
        let steps = trace.of("e1")["steps"].clone();
        let steps: Vec<&str> = steps
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(steps.len(), 4, "{steps:?}");
        assert!(steps[2].contains("attempt 1") && steps[2].contains("InvalidEvent"));
        assert!(steps[3].contains("message m1"));
        assert_eq!(trace.of("unknown")["steps"], json!([]));
    }
}
