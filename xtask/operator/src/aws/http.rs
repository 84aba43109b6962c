//! The HTTP client every AWS call goes through, credential providers
//! included: the SDK's own (rustls, a proxy from `HTTPS_PROXY`), with
//! connect and answer timeouts ([`timeouts`]), and connection failures
//! that name the endpoint they could not reach ([`Unreachable`]), so that
//! a hung or dead endpoint is one line saying which, and what to check.

use std::time::{Duration, Instant};

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder, ConnectorBuilder};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::timeout::TimeoutConfig;

/// How long a connection may take to open.
const CONNECT_WITHIN: Duration = Duration::from_secs(5);
/// How long an answer may take, by default (`--timeout`).
pub const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// Attempts the SDK's standard retries make of one call.
const ATTEMPTS: u32 = 3;

/// The timeouts of a call whose answer may take `answer_within`: opening
/// a connection (at most [`CONNECT_WITHIN`]), the answer, and the whole
/// call with its retries (each attempt's worth, and some backoff), so that
/// the one that fires is an attempt's, which names the endpoint.
pub fn timeouts(answer_within: Duration) -> TimeoutConfig {
    let connect = CONNECT_WITHIN.min(answer_within);
    TimeoutConfig::builder()
        .connect_timeout(connect)
        .read_timeout(answer_within)
        .operation_timeout((connect + answer_within) * ATTEMPTS + Duration::from_secs(10))
        .build()
}

/// A connection that failed: where to, and how.
#[derive(Debug)]
pub struct Unreachable {
    /// `scheme://host[:port]` of the request.
    pub endpoint: String,
    /// What happened.
    pub failure: Failure,
    pub(super) source: ConnectorError,
}

/// How a connection failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection within this long.
    NoConnection(Duration),
    /// Connected, and no answer within this long.
    NoAnswer(Duration),
    /// The connection was refused (nothing listens there).
    Refused,
    /// Another failure (a name that does not resolve, a reset, TLS).
    Other,
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let endpoint = &self.endpoint;
        match self.failure {
            Failure::NoConnection(after) => write!(
                f,
                "no connection to {endpoint} within {} s",
                after.as_secs_f64()
            ),
            Failure::NoAnswer(after) => {
                write!(
                    f,
                    "{endpoint} did not answer within {} s",
                    after.as_secs_f64()
                )
            }
            Failure::Refused => write!(f, "{endpoint} refused the connection"),
            Failure::Other => write!(f, "{endpoint} could not be reached"),
        }
    }
}

impl std::error::Error for Unreachable {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The SDK's default HTTPS client (what `aws-config` builds when given
/// none), each connector wrapped to name its endpoint in its failures.
pub fn client() -> SharedHttpClient {
    let inner = Builder::new().build_with_connector_fn(|settings, components| {
        let mut builder =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    });
    SharedHttpClient::new(Naming { inner })
}

#[derive(Debug)]
struct Naming {
    inner: SharedHttpClient,
}

impl HttpClient for Naming {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(NamingConnector {
            inner: self.inner.http_connector(settings, components),
            connect: settings.connect_timeout(),
            answer: settings.read_timeout(),
        })
    }
}

#[derive(Debug)]
struct NamingConnector {
    inner: SharedHttpConnector,
    connect: Option<Duration>,
    answer: Option<Duration>,
}

impl HttpConnector for NamingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let endpoint = endpoint_of(request.uri());
        let (connect, answer) = (self.connect, self.answer);
        let sent = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let started = Instant::now();
            sent.await.map_err(|e| {
                let failure = failure(&e, started.elapsed(), connect, answer);
                name(e, endpoint, failure)
            })
        })
    }
}

/// `scheme://authority` of a request's URI (pure).
fn endpoint_of(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => uri.to_owned(),
    }
}

/// What a connector error was (pure but for the error): a timeout before
/// the answer's time was up is the connection's.
fn failure(
    e: &ConnectorError,
    elapsed: Duration,
    connect: Option<Duration>,
    answer: Option<Duration>,
) -> Failure {
    if e.is_timeout() {
        return match (connect, answer) {
            (Some(connect), Some(answer)) if elapsed < answer => Failure::NoConnection(connect),
            (_, Some(answer)) => Failure::NoAnswer(answer),
            (Some(connect), None) => Failure::NoConnection(connect),
            (None, None) => Failure::NoAnswer(elapsed),
        };
    }
    let refused = super::error::sources(e)
        .filter_map(|s| s.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
    if refused {
        Failure::Refused
    } else {
        Failure::Other
    }
}

/// The error again, of the same kind (the SDK retries by kind), with the
/// endpoint and the failure on top of it.
fn name(e: ConnectorError, endpoint: String, failure: Failure) -> ConnectorError {
    let (timeout, io, user, other) = (e.is_timeout(), e.is_io(), e.is_user(), e.as_other());
    let named = Box::new(Unreachable {
        endpoint,
        failure,
        source: e,
    });
    if timeout {
        ConnectorError::timeout(named)
    } else if io {
        ConnectorError::io(named)
    } else if user {
        ConnectorError::user(named)
    } else {
        ConnectorError::other(named, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_the_scheme_and_authority() {
        assert_eq!(
            endpoint_of("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity"),
            "https://sts.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:5000/2015-03-31/functions/f/invocations"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(
            endpoint_of("http://127.0.0.1:5000"),
            "http://127.0.0.1:5000"
        );
    }

    #[test]
    fn a_timeout_is_the_connections_before_the_answers_time() {
        let timeout = || ConnectorError::timeout("t".into());
        let (connect, answer) = (Some(Duration::from_secs(5)), Some(Duration::from_secs(30)));
        assert_eq!(
            failure(&timeout(), Duration::from_secs(5), connect, answer),
            Failure::NoConnection(Duration::from_secs(5))
        );
        assert_eq!(
            failure(&timeout(), Duration::from_secs(30), connect, answer),
            Failure::NoAnswer(Duration::from_secs(30))
        );
        let refused = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(
            failure(&refused, Duration::ZERO, connect, answer),
            Failure::Refused
        );
        let named = name(refused, "http://127.0.0.1:1".into(), Failure::Refused);
        assert!(named.is_io(), "the kind the SDK retries by is kept");
    }

    #[test]
    fn timeouts_leave_room_for_every_attempt() {
        let t = timeouts(Duration::from_secs(2));
        assert_eq!(t.connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(t.read_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(t.operation_timeout(), Some(Duration::from_secs(22)));
        let t = timeouts(ANSWER_WITHIN);
        assert_eq!(t.connect_timeout(), Some(CONNECT_WITHIN));
    }
}
