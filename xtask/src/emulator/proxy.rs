//! A loopback proxy in front of the emulator that injects faults.
//!
//! Each request whose `X-Amz-Target` contains the chosen operation takes the
//! next fault from the script; everything else is forwarded untouched.
//!
//! Requests are forwarded one at a time: moto applies a transaction item by
//! item without isolation from concurrent requests (and rolls back by
//! restoring a table snapshot), so racing clients must reach it serialized,
//! as DynamoDB's serializable transactions would order them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use super::http::{read_request, write_response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer `400 ThrottlingException` without forwarding.
    Throttle,
    /// Forward (the emulator commits), then drop the connection unanswered.
    LoseResponse,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub endpoint: String,
    script: Arc<Mutex<VecDeque<Fault>>>,
    operation: Arc<Mutex<String>>,
    one_at_a_time: Arc<tokio::sync::Mutex<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5000`) on a free port.
    pub async fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        );
        let upstream = upstream.trim_start_matches("http://").to_string();
        let proxy = FaultProxy {
            endpoint,
            script: Default::default(),
            operation: Arc::new(Mutex::new(String::new())),
            one_at_a_time: Default::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (p, upstream) = (p.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = p.serve(conn, &upstream).await;
                });
            }
        });
        proxy
    }

    /// The next requests for `operation` (e.g. `TransactWriteItems`) get these faults.
    pub fn inject(&self, operation: &str, faults: &[Fault]) {
        *self.operation.lock().expect("proxy state lock") = operation.into();
        self.script
            .lock()
            .expect("proxy state lock")
            .extend(faults.iter().copied());
    }

    /// Faults not yet used.
    pub fn pending(&self) -> usize {
        self.script.lock().expect("proxy state lock").len()
    }

    async fn serve(&self, conn: TcpStream, upstream: &str) -> std::io::Result<()> {
        let (r, mut w) = conn.into_split();
        let mut reader = BufReader::new(r);
        while let Some(req) = read_request(&mut reader).await? {
            let target = req.header("x-amz-target").unwrap_or_default().to_string();
            let fault = {
                let op = self.operation.lock().expect("proxy state lock").clone();
                if !op.is_empty() && target.contains(&op) {
                    self.script.lock().expect("proxy state lock").pop_front()
                } else {
                    None
                }
            };
            match fault {
                Some(Fault::Throttle) => {
                    let body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
                    write_response(
                        &mut w,
                        400,
                        &[("content-type", "application/x-amz-json-1.0".into())],
                        body,
                    )
                    .await?;
                }
                Some(Fault::LoseResponse) => {
                    let _serial = self.one_at_a_time.lock().await;
                    let _ = forward(upstream, &req.raw).await?;
                    return Ok(()); // close without answering
                }
                None => {
                    let response = {
                        let _serial = self.one_at_a_time.lock().await;
                        forward(upstream, &req.raw).await?
                    };
                    w.write_all(&response).await?;
                    w.flush().await?;
                    // The upstream answered HTTP/1.0-style (close-delimited): so do we.
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Sends one request on a fresh connection and reads the response to EOF.
async fn forward(upstream: &str, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(upstream).await?;
    // Ask the upstream to close after answering, so EOF delimits the response.
    let text = String::from_utf8_lossy(raw);
    let (head, _) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let head_len = head.len() + 4;
    let mut rewritten = Vec::with_capacity(raw.len() + 20);
    for line in head.split("\r\n") {
        if line.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        rewritten.extend_from_slice(line.as_bytes());
        rewritten.extend_from_slice(b"\r\n");
    }
    rewritten.extend_from_slice(b"connection: close\r\n\r\n");
    rewritten.extend_from_slice(&raw[head_len.min(raw.len())..]);
    s.write_all(&rewritten).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out)
}
