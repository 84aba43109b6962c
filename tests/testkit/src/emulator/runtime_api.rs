//! A Lambda Runtime API on loopback, to drive the real release binaries the
//! way Lambda does: the binary polls `/invocation/next`, answers on
//! `/response` or `/error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};

use crate::http::{Request, Response, Server, handler, serve};

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Ok(serde_json::Value),
    /// `errorType`, `errorMessage`.
    Error {
        error_type: String,
        message: String,
    },
}

struct Pending {
    id: String,
    payload: Vec<u8>,
    deadline_ms: i64,
}

/// The function ARN the API gives when none is named.
const TEST_FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:test";

/// The API; it serves until the last clone is dropped.
#[derive(Clone)]
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    queue: mpsc::UnboundedSender<Pending>,
    waiting: Waiting,
    _server: Arc<Server>,
}

type Waiting = Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>;

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        RuntimeApi::start_as(TEST_FUNCTION_ARN).await
    }

    /// An API for the function `function_arn` (what the runtime is told it
    /// runs as).
    pub async fn start_as(function_arn: &str) -> RuntimeApi {
        let (tx, rx) = mpsc::unbounded_channel::<Pending>();
        let rx = Arc::new(Mutex::new(rx));
        let waiting: Waiting = Arc::default();
        let answers = waiting.clone();
        let arn: Arc<str> = Arc::from(function_arn);
        let server = serve(handler(move |request| {
            let (rx, waiting, arn) = (rx.clone(), answers.clone(), arn.clone());
            async move { Some(route(request, &rx, &waiting, &arn).await) }
        }))
        .await
        .expect("bind runtime api");
        RuntimeApi {
            address: server.address.to_string(),
            queue: tx,
            waiting,
            _server: Arc::new(server),
        }
    }

    /// Invokes the function with `payload` and waits for its reply (deadline: 60 s from now).
    pub async fn invoke(&self, payload: &[u8]) -> Reply {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        self.invoke_with_deadline(payload, now_ms + 60_000).await
    }

    /// Invokes the function with `payload` and the given deadline (the
    /// `Lambda-Runtime-Deadline-Ms` header, ms since the Unix epoch), and waits
    /// for its reply.
    pub async fn invoke_with_deadline(&self, payload: &[u8], deadline_ms: i64) -> Reply {
        let id = format!("req-{:016x}", fastrand::u64(..));
        self.invoke_as(&id, payload, deadline_ms, Duration::from_secs(60))
            .await
            .expect("the function answered within 60 s")
    }

    /// Invokes the function with `payload` as the request `id` with the
    /// given deadline, and waits at most `wait` for its reply: `None` if it
    /// did not answer in time (the runtime may still be running it).
    pub async fn invoke_as(
        &self,
        id: &str,
        payload: &[u8],
        deadline_ms: i64,
        wait: Duration,
    ) -> Option<Reply> {
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().await.insert(id.to_owned(), tx);
        self.queue
            .send(Pending {
                id: id.to_owned(),
                payload: payload.to_vec(),
                deadline_ms,
            })
            .ok()?;
        let reply = tokio::time::timeout(wait, rx).await.ok()?.ok();
        if reply.is_none() {
            self.waiting.lock().await.remove(id);
        }
        reply
    }
}

/// One request of the function's runtime: the next invocation (waiting for
/// one), or its answer to one.
async fn route(
    request: Request,
    queue: &Mutex<mpsc::UnboundedReceiver<Pending>>,
    waiting: &Waiting,
    function_arn: &str,
) -> Response {
    if request.path.ends_with("/invocation/next") {
        let Some(p) = queue.lock().await.recv().await else {
            return Response::new(500, "text/plain", "the API stopped");
        };
        return Response::new(200, "application/json", p.payload)
            .with_header("lambda-runtime-aws-request-id", p.id)
            .with_header("lambda-runtime-deadline-ms", p.deadline_ms.to_string())
            .with_header("lambda-runtime-invoked-function-arn", function_arn)
            .with_header(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000",
            );
    }
    if let Some((id, reply)) = reply_of(&request)
        && let Some(tx) = waiting.lock().await.remove(&id)
    {
        let _ = tx.send(reply);
    }
    Response::new(202, "application/json", r#"{"status":"OK"}"#)
}

/// `/2018-06-01/runtime/invocation/{id}/{response|error}`: the id and the reply.
fn reply_of(request: &Request) -> Option<(String, Reply)> {
    let segments: Vec<&str> = request.path.split('/').collect();
    match segments.as_slice() {
        [.., "invocation", id, "response"] => Some((
            (*id).to_owned(),
            Reply::Ok(serde_json::from_slice(&request.body).unwrap_or(serde_json::Value::Null)),
        )),
        [.., "invocation", id, "error"] => {
            let v: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or_default();
            Some((
                (*id).to_owned(),
                Reply::Error {
                    error_type: v["errorType"].as_str().unwrap_or_default().into(),
                    message: v["errorMessage"].as_str().unwrap_or_default().into(),
                },
            ))
        }
        _ => None,
    }
}
