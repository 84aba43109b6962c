//! A loopback proxy in front of the emulator: it serializes requests (moto
//! applies a transaction item by item, without isolation), injects faults,
//! and — with [`Semantics`] on — gives the tests the real services'
//! behaviours moto skips (what moto does not enforce: conflicts, tokens, limits):
//!
//! - **transaction conflicts**: a transaction stays "in flight" on its items
//!   for [`Semantics::conflict_window`] after moto applied it; another
//!   `TransactWriteItems` or `TransactGetItems` touching one of those items
//!   meanwhile is cancelled (`TransactionConflict`), a plain `PutItem` /
//!   `UpdateItem` / `DeleteItem` on one fails with
//!   `TransactionConflictException`;
//! - **request tokens**: a `TransactWriteItems` resent with the same
//!   `ClientRequestToken` within 10 minutes gets the original success
//!   without being applied again; with other parameters,
//!   `IdempotentParameterMismatchException`; while the first is still in
//!   flight, `TransactionInProgressException`;
//! - **limits**: an item over 400 KB, or two actions on one item in a
//!   transaction, is a `ValidationException`;
//! - **empty SQS receives**: a short-polling `ReceiveMessage` may answer
//!   nothing while messages exist;
//! - **latency**: a delay before every request, so concurrent clients race;
//! - **staggered visibility**: DynamoDB's non-transactional reads are
//!   read-committed, not a snapshot of a transaction being applied. With
//!   [`Semantics::staggered`], a transaction's items become visible to
//!   `GetItem`, `BatchGetItem` and table `Query`s one at a time, in the
//!   request's order: its first item at once (the ledger's account), the
//!   next after each read of the table and each request its flight refused
//!   (so a reader sees an account before its entry); it stays in flight
//!   until the last. Transactional reads see it whole or, in flight, not at
//!   all (cancelled, with `conflicts`).
//!
//! Faults are scripted ([`Proxy::inject`]: the next requests of an operation
//! get these faults) or random ([`Chaos`], from a seed). Every request of
//! the run is counted by what happened to it ([`Proxy::counts`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Request, Response, Server, Upstream, handler, serve};

/// A scripted fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `400 ThrottlingException` without forwarding.
    Throttle,
    /// Forward (the emulator applies it), then drop the connection unanswered.
    LoseResponse,
    /// Answer a short-polling `ReceiveMessage` with no message, without forwarding.
    EmptyReceive,
    /// Answer `500 InternalServerError` without forwarding (a DynamoDB
    /// system error).
    SystemError,
    /// Answer `400 AccessDeniedException` without forwarding: what a
    /// caller whose role lost the permission gets, and no retry passes.
    AccessDenied,
}

impl Fault {
    /// The fault of a name (`throttle`, `lose-response`, `empty-receive`,
    /// `system-error`, `access-denied`).
    pub fn parse(name: &str) -> Option<Fault> {
        match name {
            "throttle" => Some(Fault::Throttle),
            "lose-response" => Some(Fault::LoseResponse),
            "empty-receive" => Some(Fault::EmptyReceive),
            "system-error" => Some(Fault::SystemError),
            "access-denied" => Some(Fault::AccessDenied),
            _ => None,
        }
    }
}

/// The real services' behaviours the proxy adds (all off by default).
#[derive(Debug, Clone, Copy, Default)]
pub struct Semantics {
    /// Transactions conflict on the items they touch while in flight.
    pub conflicts: bool,
    /// How long a transaction stays in flight after moto applied it.
    pub conflict_window: Duration,
    /// `ClientRequestToken` idempotency.
    pub tokens: bool,
    /// The 400 KB item limit and one action per item in a transaction.
    pub limits: bool,
    /// A delay before every request (its network and service time).
    pub latency: Duration,
    /// A transaction's items become visible to non-transactional reads one
    /// at a time, one more after each read of the table (see the module's
    /// documentation); it stays in flight until the last.
    pub staggered: bool,
}

impl Semantics {
    /// DynamoDB's behaviours, with a realistic 5 ms per request.
    pub fn aws() -> Semantics {
        Semantics {
            conflicts: true,
            conflict_window: Duration::from_millis(5),
            tokens: true,
            limits: true,
            latency: Duration::from_millis(5),
            staggered: false,
        }
    }
}

/// Random faults, from a seed: each DynamoDB request is throttled or loses
/// its response with these probabilities (a transaction's with
/// `lose_write_response`: a write applied and its answer lost is what request
/// tokens exist for, and reads far outnumber writes once a sweep reads every
/// shard of the index), each short-polling SQS receive answers empty with
/// `empty_receive`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chaos {
    pub seed: u64,
    pub throttle: f64,
    pub lose_response: f64,
    pub lose_write_response: f64,
    pub empty_receive: f64,
}

/// What happened to the requests, by kind.
pub type Counts = BTreeMap<&'static str, u64>;

/// DynamoDB's item limit.
const MAX_ITEM_BYTES: usize = 400 * 1024;
/// How long a request token is remembered.
const TOKEN_TTL: Duration = Duration::from_secs(600);

#[derive(Default)]
struct State {
    script: VecDeque<(String, Fault)>,
    semantics: Semantics,
    chaos: Option<(Chaos, fastrand::Rng)>,
    /// Items held by in-flight transactions: key → holders.
    in_flight: HashMap<String, u32>,
    /// Tokens: in flight, or done with (body fingerprint, response, when).
    tokens: HashMap<String, TokenState>,
    /// Transactions whose items are still being made visible.
    staggering: Vec<Staggering>,
    /// While pinned ([`Proxy::pin`]): the items of the transactions applied
    /// since, held in flight until the pin goes.
    pinned: Option<Vec<Vec<String>>>,
    counts: Counts,
}

/// A transaction applied upstream whose items non-transactional reads do
/// not all see yet.
struct Staggering {
    /// Every item it touched (held in flight until the last is visible).
    keys: Vec<String>,
    /// Items still hidden, the next to show last: key, and the item as it
    /// was before the transaction (`None`: absent).
    hidden: Vec<(String, Option<Value>)>,
}

enum TokenState {
    InFlight,
    Done {
        body: String,
        response: Response,
        at: Instant,
    },
}

/// The proxy: `endpoint` takes the place of the emulator's. It serves
/// until the last clone is dropped.
#[derive(Clone)]
pub struct Proxy {
    pub endpoint: String,
    state: Arc<Mutex<State>>,
    /// Notified at every conflict ([`Proxy::conflicts_past`]).
    conflicts: Arc<tokio::sync::Notify>,
    /// The emulator; the lock makes requests reach it one at a time.
    upstream: Arc<tokio::sync::Mutex<Upstream>>,
    server: Option<Arc<Server>>,
}

/// The name the tests used before the proxy learned the real semantics.
pub type FaultProxy = Proxy;

impl Proxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5000`) on a free port.
    ///
    /// # Panics
    /// No loopback port could be bound.
    pub async fn start(upstream: &str) -> Proxy {
        let mut proxy = Proxy::behind(upstream);
        let inner = proxy.clone();
        let server = serve(handler(move |request| {
            let proxy = inner.clone();
            async move { proxy.answer(request).await }
        }))
        .await
        .expect("bind proxy");
        proxy.endpoint = server.endpoint();
        proxy.server = Some(Arc::new(server));
        proxy
    }

    /// The proxy's semantics without a listener of its own, for a server
    /// that hands it requests ([`Proxy::answer`]): the local plane's front.
    pub fn behind(upstream: &str) -> Proxy {
        Proxy {
            endpoint: upstream.to_owned(),
            state: Arc::default(),
            conflicts: Arc::default(),
            upstream: Arc::new(tokio::sync::Mutex::new(Upstream::new(upstream))),
            server: None,
        }
    }

    /// What the proxy makes of one request: an answer, or none (dropped).
    pub async fn answer(&self, request: Request) -> Option<Response> {
        match self.handle(&request).await {
            Ok(Answer::Response(response)) => Some(response),
            Ok(Answer::Drop) => None,
            Err(e) => Some(Response::new(502, "text/plain", e.to_string())),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Turns on the real services' behaviours.
    pub fn with_semantics(self, semantics: Semantics) -> Proxy {
        self.state().semantics = semantics;
        self
    }

    /// Sets the delay before every request (a slow service).
    pub fn set_latency(&self, latency: Duration) {
        self.state().semantics.latency = latency;
    }

    /// Turns on random faults.
    pub fn with_chaos(self, chaos: Chaos) -> Proxy {
        self.state().chaos = Some((chaos, fastrand::Rng::with_seed(chaos.seed)));
        self
    }

    /// The next requests for `operation` (e.g. `TransactWriteItems`) get these faults.
    pub fn inject(&self, operation: &str, faults: &[Fault]) {
        let mut state = self.state();
        for fault in faults {
            state.script.push_back((operation.to_owned(), *fault));
        }
    }

    /// Holds every transaction applied from now on in flight (with
    /// `conflicts`: the transactions and reads that touch its items are
    /// cancelled) until the returned pin is dropped, instead of for the
    /// conflict window: a test meets a write in flight when it says so, not
    /// when a clock does.
    pub fn pin(&self) -> Pinned {
        self.state().pinned.get_or_insert_with(Vec::new);
        Pinned(self.clone())
    }

    /// Waits until more than `seen` requests have been refused because a
    /// transaction was in flight (the `conflict` count).
    pub async fn conflicts_past(&self, seen: u64) {
        loop {
            let refused = self.conflicts.notified();
            if self.counts().get("conflict").copied().unwrap_or(0) > seen {
                return;
            }
            refused.await;
        }
    }

    /// Scripted faults not yet used.
    pub fn pending(&self) -> usize {
        self.state().script.len()
    }

    /// What happened to the requests so far, by kind (`forwarded`,
    /// `throttled`, `lost`, `conflict`, `token-replayed`, `in-progress`,
    /// `mismatch`, `too-large`, `same-item`, `empty-receive`).
    pub fn counts(&self) -> Counts {
        self.state().counts.clone()
    }

    fn count(&self, what: &'static str) {
        *self.state().counts.entry(what).or_default() += 1;
    }

    async fn handle(&self, req: &Request) -> std::io::Result<Answer> {
        let target = req.header("x-amz-target").unwrap_or_default().to_owned();
        let operation = req.operation().to_owned();
        let dynamodb = target.starts_with("DynamoDB_");
        let semantics = self.state().semantics;
        if !semantics.latency.is_zero() {
            tokio::time::sleep(semantics.latency).await;
        }
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        let fault = self.fault(&operation, dynamodb, &body);
        match fault {
            Some(Fault::Throttle) => {
                self.count("throttled");
                return Ok(error(
                    "ThrottlingException",
                    "Rate of requests exceeds the allowed throughput.",
                ));
            }
            Some(Fault::SystemError) => {
                self.count("system-error");
                return Ok(Answer::Response(Response::new(
                    500,
                    "application/x-amz-json-1.0",
                    json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError",
                           "message": "Internal server error"})
                    .to_string(),
                )));
            }
            Some(Fault::AccessDenied) => {
                self.count("access-denied");
                return Ok(error(
                    "AccessDeniedException",
                    "User is not authorized to perform this action (injected)",
                ));
            }
            Some(Fault::EmptyReceive) => {
                self.count("empty-receive");
                return Ok(Answer::Response(Response::new(
                    200,
                    "application/x-amz-json-1.0",
                    "{}",
                )));
            }
            Some(Fault::LoseResponse) | None => {}
        }
        if dynamodb
            && semantics.limits
            && let Some(answer) = self.check_limits(&operation, &body)
        {
            return Ok(answer);
        }
        let token = (dynamodb && semantics.tokens && operation == "TransactWriteItems")
            .then(|| body["ClientRequestToken"].as_str().map(str::to_owned))
            .flatten();
        if let Some(token) = &token {
            let fingerprint = fingerprint_without_token(&body);
            let mut state = self.state();
            state.tokens.retain(
                |_, t| !matches!(t, TokenState::Done { at, .. } if at.elapsed() > TOKEN_TTL),
            );
            let seen = match state.tokens.get(token) {
                Some(TokenState::InFlight) => Some(None),
                Some(TokenState::Done { body, response, .. }) if *body == fingerprint => {
                    Some(Some(Ok(response.clone())))
                }
                Some(TokenState::Done { .. }) => Some(Some(Err(()))),
                None => None,
            };
            match seen {
                Some(None) => {
                    *state.counts.entry("in-progress").or_default() += 1;
                    return Ok(error(
                        "TransactionInProgressException",
                        "The transaction with the given request token is already in progress.",
                    ));
                }
                Some(Some(Ok(response))) => {
                    *state.counts.entry("token-replayed").or_default() += 1;
                    return Ok(Answer::Response(response));
                }
                Some(Some(Err(()))) => {
                    *state.counts.entry("mismatch").or_default() += 1;
                    return Ok(error(
                        "IdempotentParameterMismatchException",
                        "The request uses the same client token as a previous, but non-identical request.",
                    ));
                }
                None => {
                    state.tokens.insert(token.clone(), TokenState::InFlight);
                }
            }
        }
        let response = self.forward_held(req, &operation, &body).await;
        if dynamodb && semantics.staggered && reveals(&operation, &body, &response) {
            self.reveal_one();
        }
        if let Some(token) = &token {
            let mut state = self.state();
            match &response {
                Ok(Answer::Response(response)) if response.status == 200 => {
                    state.tokens.insert(
                        token.clone(),
                        TokenState::Done {
                            body: fingerprint_without_token(&body),
                            response: response.clone(),
                            at: Instant::now(),
                        },
                    );
                }
                // A failed request does not spend its token.
                _ => {
                    state.tokens.remove(token);
                }
            }
        }
        if fault == Some(Fault::LoseResponse) {
            // Applied (or refused) upstream; the answer never arrives.
            self.count("lost");
            response?;
            return Ok(Answer::Drop);
        }
        response
    }

    /// The fault this request gets, if any: scripted first, then random.
    fn fault(&self, operation: &str, dynamodb: bool, body: &Value) -> Option<Fault> {
        let mut state = self.state();
        if let Some(position) = state.script.iter().position(|(op, _)| op == operation) {
            return state.script.remove(position).map(|(_, f)| f);
        }
        let short_poll =
            operation == "ReceiveMessage" && body["WaitTimeSeconds"].as_i64().unwrap_or(0) == 0;
        let (chaos, rng) = state.chaos.as_mut()?;
        if short_poll && rng.f64() < chaos.empty_receive {
            return Some(Fault::EmptyReceive);
        }
        if !dynamodb {
            return None;
        }
        let lose = if operation == "TransactWriteItems" {
            chaos.lose_write_response
        } else {
            chaos.lose_response
        };
        let roll = rng.f64();
        if roll < chaos.throttle {
            Some(Fault::Throttle)
        } else if roll < chaos.throttle + lose {
            Some(Fault::LoseResponse)
        } else {
            None
        }
    }

    /// The limits DynamoDB enforces before anything runs.
    fn check_limits(&self, operation: &str, body: &Value) -> Option<Answer> {
        let puts: Vec<&Value> = match operation {
            "PutItem" => vec![&body["Item"]],
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.get("Put").map(|p| &p["Item"]))
                .collect(),
            _ => Vec::new(),
        };
        // An update cannot write more than it sends: its values alone past
        // the limit make the item too large (DynamoDB checks the result).
        let updates: Vec<&Value> = match operation {
            "UpdateItem" => vec![&body["ExpressionAttributeValues"]],
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.get("Update").map(|u| &u["ExpressionAttributeValues"]))
                .collect(),
            _ => Vec::new(),
        };
        if puts
            .iter()
            .chain(&updates)
            .any(|item| json_item_size(item) > MAX_ITEM_BYTES)
        {
            self.count("too-large");
            return Some(error(
                "ValidationException",
                "Item size has exceeded the maximum allowed size",
            ));
        }
        if operation == "TransactWriteItems" {
            let keys = item_keys(operation, body);
            let mut seen = std::collections::HashSet::new();
            if keys.iter().any(|k| !seen.insert(k)) {
                self.count("same-item");
                return Some(error(
                    "ValidationException",
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
        }
        None
    }

    /// Forwards, serialized, with the request's items held in flight (and
    /// conflicts detected) when the conflict semantics are on.
    async fn forward_held(
        &self,
        req: &Request,
        operation: &str,
        body: &Value,
    ) -> std::io::Result<Answer> {
        let semantics = self.state().semantics;
        let keys = if semantics.conflicts {
            item_keys(operation, body)
        } else {
            Vec::new()
        };
        let transactional = operation.starts_with("Transact");
        if !keys.is_empty() {
            let mut state = self.state();
            let busy: Vec<bool> = keys
                .iter()
                .map(|k| state.in_flight.get(k).is_some_and(|n| *n > 0))
                .collect();
            if busy.iter().any(|b| *b) {
                *state.counts.entry("conflict").or_default() += 1;
                drop(state);
                self.conflicts.notify_waiters();
                return Ok(if transactional {
                    cancelled_by_conflict(&busy)
                } else {
                    error(
                        "TransactionConflictException",
                        "Transaction is ongoing for the item",
                    )
                });
            }
            if transactional {
                for k in &keys {
                    *state.in_flight.entry(k.clone()).or_default() += 1;
                }
            }
        }
        let staggered = semantics.staggered && operation == "TransactWriteItems";
        let response = {
            let upstream = self.upstream.lock().await;
            let before = if staggered {
                before_images(&upstream, req, body).await?
            } else {
                Vec::new()
            };
            let response = upstream.send(req).await;
            if staggered {
                // Held in flight until its last item is visible.
                match &response {
                    Ok(r) if r.status == 200 => self.stagger(keys.clone(), before),
                    _ => self.release(&keys),
                }
            }
            response
        };
        self.count("forwarded");
        let response = match response {
            Ok(r) if semantics.staggered && r.status == 200 => Ok(self.mask(operation, body, r)),
            other => other,
        };
        // A transaction applied while pinned stays in flight until the pin
        // goes; one refused leaves flight at once, as on DynamoDB.
        let applied = response.as_ref().is_ok_and(|r| r.status == 200);
        let pinned = !keys.is_empty() && transactional && !staggered && {
            let mut state = self.state();
            match state.pinned.as_mut() {
                Some(pins) if applied => {
                    pins.push(keys.clone());
                    true
                }
                Some(_) => {
                    drop(state);
                    self.release(&keys);
                    true
                }
                None => false,
            }
        };
        if !staggered && !pinned && transactional && !keys.is_empty() {
            let state = self.state.clone();
            let window = semantics.conflict_window;
            tokio::spawn(async move {
                tokio::time::sleep(window).await;
                let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
                for k in &keys {
                    if let Some(n) = state.in_flight.get_mut(k) {
                        *n = n.saturating_sub(1);
                    }
                }
            });
        }
        Ok(Answer::Response(response?))
    }
}

impl Proxy {
    /// Starts making a transaction's items visible: the first at once, the
    /// others hidden behind the images they had before it, the last to be
    /// shown first; `in_flight` (its items, with `conflicts`) stay in
    /// flight until the last is visible.
    fn stagger(&self, in_flight: Vec<String>, before: Vec<(String, Option<Value>)>) {
        // The next to show is popped from the end: the second item first.
        let hidden: Vec<(String, Option<Value>)> = before.into_iter().skip(1).rev().collect();
        if hidden.is_empty() {
            self.release(&in_flight);
            return;
        }
        self.state().staggering.push(Staggering {
            keys: in_flight,
            hidden,
        });
    }

    /// One more item of every staggering transaction becomes visible; a
    /// transaction whose items all are leaves flight.
    fn reveal_one(&self) {
        let done: Vec<Vec<String>> = {
            let mut state = self.state();
            for t in &mut state.staggering {
                t.hidden.pop();
            }
            let (done, going): (Vec<Staggering>, Vec<Staggering>) =
                std::mem::take(&mut state.staggering)
                    .into_iter()
                    .partition(|t| t.hidden.is_empty());
            state.staggering = going;
            done.into_iter().map(|t| t.keys).collect()
        };
        for keys in done {
            self.release(&keys);
        }
    }

    /// The items of a transaction leave flight.
    fn release(&self, keys: &[String]) {
        let mut state = self.state();
        for k in keys {
            if let Some(n) = state.in_flight.get_mut(k) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// A non-transactional read's answer as a reader sees it while
    /// transactions are staggering: each item not yet visible replaced by
    /// its image from before (or left out, if it did not exist).
    fn mask(&self, operation: &str, request: &Value, mut response: Response) -> Response {
        let hidden: HashMap<String, Option<Value>> = {
            let state = self.state();
            state
                .staggering
                .iter()
                .flat_map(|t| t.hidden.iter().cloned())
                .collect()
        };
        if hidden.is_empty() {
            return response;
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&response.body) else {
            return response;
        };
        let table = request["TableName"].clone();
        let masked = match operation {
            "GetItem" => mask_one(&mut body, "Item", &table, &hidden),
            "Query" if request.get("IndexName").is_none() => {
                let n = mask_list(body.get_mut("Items"), &table, &hidden);
                if let Some(items) = body["Items"].as_array().map(Vec::len) {
                    body["Count"] = json!(items);
                }
                n
            }
            "BatchGetItem" => body
                .get_mut("Responses")
                .and_then(Value::as_object_mut)
                .map_or(0, |tables| {
                    tables
                        .iter_mut()
                        .map(|(t, items)| mask_list(Some(items), &json!(t), &hidden))
                        .sum()
                }),
            _ => 0,
        };
        if masked > 0 {
            *self.state().counts.entry("staggered-read").or_default() += 1;
            response.body = body.to_string().into();
            response
                .headers
                .retain(|(k, _)| !k.eq_ignore_ascii_case("x-amz-crc32"));
        }
        response
    }
}

/// Whether a request moves staggering transactions on: a read of the
/// table (which may have seen them half applied), or a request refused
/// because one is in flight (so that a writer waiting on it is not stuck).
fn reveals(operation: &str, body: &Value, answer: &std::io::Result<Answer>) -> bool {
    let read = matches!(operation, "GetItem" | "BatchGetItem")
        || (operation == "Query" && body.get("IndexName").is_none());
    let refused = matches!(answer, Ok(Answer::Response(r)) if r.status == 400
        && String::from_utf8_lossy(&r.body).contains("Transaction"));
    read || refused
}

/// The items a `TransactWriteItems` writes, as they are before it (read
/// from the emulator, one consistent `GetItem` each): `table/pk/sk` and the
/// item (`None`: absent), in the request's order. Condition checks write
/// nothing and are left out.
async fn before_images(
    upstream: &Upstream,
    req: &Request,
    body: &Value,
) -> std::io::Result<Vec<(String, Option<Value>)>> {
    let mut images = Vec::new();
    for action in body["TransactItems"].as_array().into_iter().flatten() {
        let Some((kind, inner)) = action.as_object().and_then(|o| o.iter().next()) else {
            continue;
        };
        let item_key = match kind.as_str() {
            "Put" => key_of(&inner["Item"]),
            "Update" | "Delete" => inner["Key"].clone(),
            _ => continue,
        };
        let get = json!({"TableName": inner["TableName"], "Key": item_key, "ConsistentRead": true});
        let mut request = req.clone();
        request.headers.retain(|(k, _)| {
            !k.eq_ignore_ascii_case("content-length") && !k.eq_ignore_ascii_case("x-amz-target")
        });
        request
            .headers
            .push(("x-amz-target".into(), "DynamoDB_20120810.GetItem".into()));
        request.body = get.to_string().into();
        let answer = upstream.send(&request).await?;
        let found: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        images.push((
            wire_key(&inner["TableName"], &item_key),
            found.get("Item").cloned(),
        ));
    }
    Ok(images)
}

/// The `pk`/`sk` of an item in the wire form.
fn key_of(item: &Value) -> Value {
    json!({"pk": item["pk"], "sk": item["sk"]})
}

/// Replaces `body[field]`, an item, by its image from before if it is
/// hidden (removes it if it did not exist). Returns 1 if it was.
fn mask_one(
    body: &mut Value,
    field: &str,
    table: &Value,
    hidden: &HashMap<String, Option<Value>>,
) -> usize {
    let Some(item) = body.get(field) else {
        return 0;
    };
    let Some(before) = hidden.get(&wire_key(table, item)) else {
        return 0;
    };
    match (before, body.as_object_mut()) {
        (Some(before), Some(o)) => {
            o.insert(field.into(), before.clone());
        }
        (None, Some(o)) => {
            o.remove(field);
        }
        _ => {}
    }
    1
}

/// The same over a list of items. Returns how many were hidden.
fn mask_list(
    items: Option<&mut Value>,
    table: &Value,
    hidden: &HashMap<String, Option<Value>>,
) -> usize {
    let Some(items) = items.and_then(Value::as_array_mut) else {
        return 0;
    };
    let mut masked = 0;
    let shown: Vec<Value> = std::mem::take(items)
        .into_iter()
        .filter_map(|item| match hidden.get(&wire_key(table, &item)) {
            None => Some(item),
            Some(before) => {
                masked += 1;
                before.clone()
            }
        })
        .collect();
    *items = shown;
    masked
}

/// Transactions pinned in flight ([`Proxy::pin`]) until this is dropped.
pub struct Pinned(Proxy);

impl Drop for Pinned {
    fn drop(&mut self) {
        let pinned = self.0.state().pinned.take().unwrap_or_default();
        for keys in pinned {
            self.0.release(&keys);
        }
    }
}

enum Answer {
    /// A response: the emulator's, passed on, or the proxy's own.
    Response(Response),
    /// Close the connection without answering.
    Drop,
}

/// A DynamoDB error answer.
fn dynamodb_error(body: &Value) -> Answer {
    Answer::Response(Response::new(
        400,
        "application/x-amz-json-1.0",
        body.to_string(),
    ))
}

fn error(code: &str, message: &str) -> Answer {
    dynamodb_error(&json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{code}"),
        "message": message,
    }))
}

/// A transaction cancelled because `busy` items were in another in-flight
/// transaction: those reasons are `TransactionConflict`, the others `None`.
fn cancelled_by_conflict(busy: &[bool]) -> Answer {
    let reasons: Vec<Value> = busy
        .iter()
        .map(|b| {
            if *b {
                json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = busy
        .iter()
        .map(|b| if *b { "TransactionConflict" } else { "None" })
        .collect();
    dynamodb_error(&json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "Message": format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        "CancellationReasons": reasons,
    }))
}

/// `table/pk/sk` of an item, or of a key, in the wire form.
fn wire_key(table: &Value, k: &Value) -> String {
    let attr = |name: &str| {
        k.get(name)
            .and_then(|v| v.as_object())
            .and_then(|o| o.values().next())
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    format!(
        "{}/{}/{}",
        table.as_str().unwrap_or_default(),
        attr("pk"),
        attr("sk")
    )
}

/// `table/pk/sk` of every item a request touches, in request order.
fn item_keys(operation: &str, body: &Value) -> Vec<String> {
    let key = wire_key;
    match operation {
        "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|action| {
                let (kind, inner) = action.as_object()?.iter().next()?;
                let k = if kind == "Put" {
                    &inner["Item"]
                } else {
                    &inner["Key"]
                };
                Some(key(&inner["TableName"], k))
            })
            .collect(),
        "PutItem" => vec![key(&body["TableName"], &body["Item"])],
        "UpdateItem" | "DeleteItem" => vec![key(&body["TableName"], &body["Key"])],
        _ => Vec::new(),
    }
}

/// A request's parameters without its token (what a resend must repeat).
fn fingerprint_without_token(body: &Value) -> String {
    /// The JSON with every object's keys sorted: two requests that differ
    /// only in the order of a map's keys (the SDK sends `HashMap`s) are the
    /// same request to DynamoDB.
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&o[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut body = body.clone();
    if let Some(o) = body.as_object_mut() {
        o.remove("ClientRequestToken");
    }
    let mut out = String::new();
    canonical(&body, &mut out);
    out
}

/// An item's size by DynamoDB's rules, from its JSON wire form.
fn json_item_size(item: &Value) -> usize {
    fn value(v: &Value) -> usize {
        let Some((kind, inner)) = v.as_object().and_then(|o| o.iter().next()) else {
            return 0;
        };
        match (kind.as_str(), inner) {
            ("S" | "B", Value::String(s)) => s.len(),
            ("N", Value::String(n)) => n.len().div_ceil(2) + 1,
            ("BOOL" | "NULL", _) => 1,
            ("L", Value::Array(items)) => 3 + items.iter().map(|i| 1 + value(i)).sum::<usize>(),
            ("M", Value::Object(map)) => {
                3 + map
                    .iter()
                    .map(|(k, v)| 1 + k.len() + value(v))
                    .sum::<usize>()
            }
            ("SS" | "NS" | "BS", Value::Array(items)) => {
                items.iter().map(|i| i.as_str().map_or(0, str::len)).sum()
            }
            _ => 0,
        }
    }
    item.as_object()
        .into_iter()
        .flatten()
        .map(|(name, v)| name.len() + value(v))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_the_same_whatever_the_order_of_its_maps_keys() {
        let a: Value = serde_json::from_str(
            r#"{"ClientRequestToken":"t1","TransactItems":[{"Put":{"Item":{"pk":{"S":"a"},"n":{"N":"1"}}}}]}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            r#"{"TransactItems":[{"Put":{"Item":{"n":{"N":"1"},"pk":{"S":"a"}}}}],"ClientRequestToken":"t2"}"#,
        )
        .unwrap();
        assert_eq!(fingerprint_without_token(&a), fingerprint_without_token(&b));
        let c: Value = serde_json::from_str(
            r#"{"TransactItems":[{"Put":{"Item":{"n":{"N":"2"},"pk":{"S":"a"}}}}]}"#,
        )
        .unwrap();
        assert_ne!(fingerprint_without_token(&a), fingerprint_without_token(&c));
    }

    #[test]
    fn the_items_a_request_touches() {
        let body = json!({"TransactItems": [
            {"Put": {"TableName": "t", "Item": {"pk": {"S": "A"}, "sk": {"S": "B"}, "x": {"N": "1"}}}},
            {"Update": {"TableName": "t", "Key": {"pk": {"S": "J"}, "sk": {"S": "JOB"}}}},
            {"ConditionCheck": {"TableName": "t", "Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}}},
        ]});
        let keys = item_keys("TransactWriteItems", &body);
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], keys[2]);
        assert_ne!(keys[0], keys[1]);
        let get = json!({"TransactItems": [{"Get": {"TableName": "t", "Key": {"pk": {"S": "A"}, "sk": {"S": "B"}}}}]});
        assert_eq!(item_keys("TransactGetItems", &get), vec![keys[0].clone()]);
    }

    #[test]
    fn item_sizes_follow_the_rules() {
        let item = json!({"pk": {"S": "ACCOUNT#a"}, "n": {"N": "12345"}, "l": {"L": [{"N": "7"}]}});
        assert_eq!(json_item_size(&item), 11 + 5 + 7);
        let big = json!({"pk": {"S": "x".repeat(MAX_ITEM_BYTES)}});
        assert!(json_item_size(&big) > MAX_ITEM_BYTES);
    }

    #[test]
    fn the_token_fingerprint_ignores_the_token_only() {
        let a = json!({"ClientRequestToken": "t1", "TransactItems": [1]});
        let b = json!({"ClientRequestToken": "t2", "TransactItems": [1]});
        let c = json!({"ClientRequestToken": "t1", "TransactItems": [2]});
        assert_eq!(fingerprint_without_token(&a), fingerprint_without_token(&b));
        assert_ne!(fingerprint_without_token(&a), fingerprint_without_token(&c));
    }
}
