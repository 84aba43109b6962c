//! A Lambda Runtime API on loopback, to drive the real release binaries the
//! way Lambda does: the binary polls `/invocation/next`, answers on
//! `/response` or `/error`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::http::{read_request, write_response};

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

#[derive(Clone)]
pub struct RuntimeApi {
    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    queue: mpsc::UnboundedSender<Pending>,
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>,
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind runtime api");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address")
            .to_string();
        let (tx, rx) = mpsc::unbounded_channel::<Pending>();
        let rx = Arc::new(Mutex::new(rx));
        let api = RuntimeApi {
            address,
            queue: tx,
            waiting: Default::default(),
        };
        let waiting = api.waiting.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (rx, waiting) = (rx.clone(), waiting.clone());
                tokio::spawn(async move {
                    let (r, mut w) = conn.into_split();
                    let mut reader = BufReader::new(r);
                    while let Ok(Some(req)) = read_request(&mut reader).await {
                        let path = req.path.clone();
                        if path.ends_with("/invocation/next") {
                            let Some(p) = rx.lock().await.recv().await else {
                                return;
                            };
                            let headers = [
                                ("lambda-runtime-aws-request-id", p.id.clone()),
                                ("lambda-runtime-deadline-ms", p.deadline_ms.to_string()),
                                (
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:test".into(),
                                ),
                                (
                                    "lambda-runtime-trace-id",
                                    "Root=1-00000000-000000000000000000000000".into(),
                                ),
                                ("content-type", "application/json".into()),
                            ];
                            if write_response(&mut w, 200, &headers, &p.payload)
                                .await
                                .is_err()
                            {
                                return;
                            }
                            continue;
                        }
                        let segments: Vec<&str> = path.split('/').collect();
                        // /2018-06-01/runtime/invocation/{id}/{response|error}, or init/error
                        let reply = match segments.as_slice() {
                            [.., "invocation", id, "response"] => Some((
                                id.to_string(),
                                Reply::Ok(
                                    serde_json::from_slice(&req.body)
                                        .unwrap_or(serde_json::Value::Null),
                                ),
                            )),
                            [.., "invocation", id, "error"] => {
                                let v: serde_json::Value =
                                    serde_json::from_slice(&req.body).unwrap_or_default();
                                Some((
                                    id.to_string(),
                                    Reply::Error {
                                        error_type: v["errorType"]
                                            .as_str()
                                            .unwrap_or_default()
                                            .into(),
                                        message: v["errorMessage"]
                                            .as_str()
                                            .unwrap_or_default()
                                            .into(),
                                    },
                                ))
                            }
                            _ => None,
                        };
                        if let Some((id, reply)) = reply
                            && let Some(tx) = waiting.lock().await.remove(&id)
                        {
                            let _ = tx.send(reply);
                        }
                        if write_response(&mut w, 202, &[], b"{\"status\":\"OK\"}")
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        api
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
        let (tx, rx) = oneshot::channel();
        self.waiting.lock().await.insert(id.clone(), tx);
        self.queue
            .send(Pending {
                id,
                payload: payload.to_vec(),
                deadline_ms,
            })
            .expect("runtime api is running");
        tokio::time::timeout(Duration::from_secs(60), rx)
            .await
            .expect("the function answered within 60 s")
            .expect("reply channel")
    }
}
