//! A loopback HTTP proxy in front of the emulator that answers some requests
//! itself and forwards the rest: the Lambda Invoke API shim
//! ([`crate::lambda_api`]) answers invocations, a test answers
//! `ReceiveMessage` with nothing (what SQS short polling may do while
//! messages exist), and everything else reaches moto unchanged.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::http::{Request, Response, Server, Upstream, handler, serve};

/// What the proxy asks of each request: `Some` answers it, `None` forwards it.
pub type Responder =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Option<Response>> + Send>> + Send + Sync>;

/// The proxy: its endpoint (`http://127.0.0.1:<port>`); it serves until the
/// last clone is dropped.
#[derive(Clone)]
pub struct InterceptProxy {
    pub endpoint: String,
    _server: Arc<Server>,
}

impl InterceptProxy {
    /// Starts a proxy to `upstream` (e.g. moto's endpoint) on a free port.
    pub async fn start(upstream: &str, responder: Responder) -> InterceptProxy {
        let upstream = Upstream::new(upstream);
        let server = serve(handler(move |request| {
            let (upstream, responder) = (upstream.clone(), responder.clone());
            async move {
                match responder(request.clone()).await {
                    Some(answer) => Some(answer),
                    None => Some(upstream.send(&request).await.unwrap_or_else(|e| {
                        Response::new(502, "text/plain", format!("upstream: {e}"))
                    })),
                }
            }
        }))
        .await
        .expect("bind proxy");
        InterceptProxy {
            endpoint: server.endpoint(),
            _server: Arc::new(server),
        }
    }
}
