//! A loopback HTTP proxy in front of the emulator that answers some requests
//! itself and forwards the rest: the Lambda Invoke API shim
//! ([`crate::lambda_api`]) answers invocations, a test answers
//! `ReceiveMessage` with nothing (what SQS short polling may do while
//! messages exist), and everything else reaches moto unchanged.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::emulator::http::{Request, read_request, write_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A response the proxy gives instead of forwarding.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// `200` with a JSON body of the given content type.
    pub fn json(content_type: &str, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status: 200,
            headers: vec![("content-type", content_type.to_owned())],
            body: body.into(),
        }
    }
}

/// What the proxy asks of each request: `Some` answers it, `None` forwards it.
pub type Responder =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Option<Answer>> + Send>> + Send + Sync>;

/// The proxy: its endpoint (`http://127.0.0.1:<port>`).
#[derive(Clone)]
pub struct InterceptProxy {
    pub endpoint: String,
}

impl InterceptProxy {
    /// Starts a proxy to `upstream` (e.g. moto's endpoint) on a free port.
    pub async fn start(upstream: &str, responder: Responder) -> InterceptProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (upstream, responder) = (upstream.clone(), responder.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &upstream, responder).await;
                });
            }
        });
        InterceptProxy { endpoint }
    }
}

async fn serve(conn: TcpStream, upstream: &str, responder: Responder) -> std::io::Result<()> {
    let (r, mut w) = conn.into_split();
    let mut reader = BufReader::new(r);
    while let Some(req) = read_request(&mut reader).await? {
        let raw = req.raw.clone();
        match responder(req).await {
            Some(answer) => {
                write_response(&mut w, answer.status, &answer.headers, &answer.body).await?;
            }
            None => {
                let response = forward(upstream, &raw).await?;
                w.write_all(&response).await?;
                w.flush().await?;
                // The upstream answered close-delimited: so do we.
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Sends one request on a fresh connection, asking the upstream to close
/// after answering, and reads the response to EOF.
async fn forward(upstream: &str, raw: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = TcpStream::connect(upstream).await?;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut rewritten = Vec::with_capacity(raw.len() + 20);
    for line in head.trim_end().split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            rewritten.extend_from_slice(line.as_bytes());
            rewritten.extend_from_slice(b"\r\n");
        }
    }
    rewritten.extend_from_slice(b"connection: close\r\n\r\n");
    rewritten.extend_from_slice(&raw[split..]);
    s.write_all(&rewritten).await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    Ok(out)
}
