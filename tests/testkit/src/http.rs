//! HTTP for the testkit's servers and proxies, on hyper (the HTTP stack the
//! AWS SDK already brings): one way to serve a loopback endpoint
//! ([`serve`]) and one way to pass a request on to another ([`Upstream`]),
//! so every fake endpoint, proxy and Runtime API speaks the same, complete
//! HTTP/1.1 (keep-alive, chunked bodies) instead of a parser of its own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// One request, read whole.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path and query, as sent (`/2015-03-31/functions/f/invocations`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The operation an AWS JSON-protocol request names (the part of
    /// `X-Amz-Target` after the dot: `TransactWriteItems`), or `""`.
    pub fn operation(&self) -> &str {
        self.header("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
    }
}

/// One response.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Response {
    /// A response with a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
        Response {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    /// A JSON response.
    pub fn json(status: u16, body: &serde_json::Value) -> Response {
        Response::new(status, "application/json", body.to_string())
    }

    /// The response with one more header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What a handler answers: a response, or nothing at all (the connection is
/// closed unanswered: a response lost on the way).
pub type Answer = Option<Response>;

/// A request handler: `Some` answers, `None` drops the connection.
pub type Handler =
    Arc<dyn Fn(Request) -> Pin<Box<dyn Future<Output = Answer> + Send>> + Send + Sync>;

/// Makes a [`Handler`] of an async closure.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    Arc::new(move |request| Box::pin(f(request)))
}

/// A server on a loopback port; dropping it stops accepting connections.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (`127.0.0.1:<port>`).
    pub address: SocketAddr,
    accept: tokio::task::JoinHandle<()>,
}

impl Server {
    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Serves `handler` on a port of 127.0.0.1 the system picks (bound here:
/// no other server can take it between choosing and binding).
///
/// # Errors
/// No loopback port could be bound.
pub async fn serve(handler: Handler) -> std::io::Result<Server> {
    serve_on(0, handler).await
}

/// Serves `handler` on `port` of 127.0.0.1 (0: one the system picks).
///
/// # Errors
/// The port could not be bound.
pub async fn serve_on(port: u16, handler: Handler) -> std::io::Result<Server> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    let address = listener.local_addr()?;
    let accept = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let handler = handler.clone();
                    async move { respond(&handler, request).await }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(Server { address, accept })
}

/// One exchange: the handler's answer, or the error that closes the
/// connection unanswered.
async fn respond(
    handler: &Handler,
    request: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Dropped> {
    let request = read(request).await.map_err(|_| Dropped)?;
    match handler(request).await {
        Some(response) => Ok(to_hyper(response)),
        None => Err(Dropped),
    }
}

/// The error that makes hyper close a connection without answering: the
/// handler dropped the response, or the request could not be read.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no answer")
    }
}

impl std::error::Error for Dropped {}

async fn read(request: hyper::Request<Incoming>) -> Result<Request, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Request {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned()),
        headers: headers_of(&parts.headers),
        body,
    })
}

fn headers_of(map: &hyper::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn to_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(response.status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    for (name, value) in &response.headers {
        // Hyper frames the body itself.
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            out.headers_mut().append(n, v);
        }
    }
    out
}

/// Another HTTP endpoint requests are passed on to, over kept-alive,
/// pooled connections: headers and body as received (so a signature still
/// verifies), the answer as given.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// `http://host:port`.
    pub endpoint: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Upstream {
    /// An upstream at `endpoint` (`http://127.0.0.1:5000`).
    pub fn new(endpoint: &str) -> Upstream {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Upstream {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            client: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// Sends `request` and reads the whole answer.
    ///
    /// # Errors
    /// The upstream could not be reached or broke off.
    pub async fn send(&self, request: &Request) -> std::io::Result<Response> {
        let uri: hyper::Uri = format!("{}{}", self.endpoint, request.path)
            .parse()
            .map_err(std::io::Error::other)?;
        let mut out = hyper::Request::new(Full::new(request.body.clone()));
        *out.method_mut() = request
            .method
            .parse()
            .map_err(|_| std::io::Error::other(format!("bad method {}", request.method)))?;
        *out.uri_mut() = uri;
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                out.headers_mut().append(n, v);
            }
        }
        let response = self
            .client
            .request(out)
            .await
            .map_err(std::io::Error::other)?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: headers_of(&parts.headers),
            body,
        })
    }
}
