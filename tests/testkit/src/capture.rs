//! The one SDK interceptor that records requests, for any service: each
//! HTTP request a client transmits (retries included) with its service and
//! operation (from the operation's metadata), its body (as JSON when it is
//! JSON, and as text) and the answer's size and status. The bench computes
//! capacity from exactly what was written and read; the tests count
//! requests, list operations, derive IAM actions or read a request's
//! parameters from it.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// One request: its service (`DynamoDB`, `CloudFormation`…) and operation
/// (`TransactWriteItems`…), its body, the response's body size.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub service: String,
    pub operation: String,
    /// The body as JSON (`Null` when it is not JSON, e.g. a query protocol).
    pub request: Value,
    /// The body as text.
    pub body: String,
    pub response_bytes: usize,
    /// The service answered with an error (e.g. a cancelled transaction).
    pub refused: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<Exchange>>>);

impl Capture {
    /// Everything captured since the last call.
    pub fn take(&self) -> Vec<Exchange> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    /// How many requests were transmitted since the last [`Capture::take`].
    pub fn count(&self) -> usize {
        self.0.lock().map(|v| v.len()).unwrap_or_default()
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "Capture"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = ctx.request();
        let (service, operation) = cfg.load::<Metadata>().map_or_else(
            || {
                let target = request.headers().get("x-amz-target").unwrap_or_default();
                (
                    String::new(),
                    target.rsplit('.').next().unwrap_or_default().to_owned(),
                )
            },
            |m| (m.service().to_owned(), m.name().to_owned()),
        );
        let bytes = request.body().bytes().unwrap_or_default();
        if let Ok(mut v) = self.0.lock() {
            v.push(Exchange {
                service,
                operation,
                request: serde_json::from_slice(bytes).unwrap_or(Value::Null),
                body: String::from_utf8_lossy(bytes).into_owned(),
                response_bytes: 0,
                refused: false,
            });
        }
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        ctx: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = ctx.response();
        let size = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .or_else(|| response.body().bytes().map(<[u8]>::len))
            .unwrap_or(0);
        let cancelled = response.status().as_u16() >= 400;
        if let Ok(mut v) = self.0.lock()
            && let Some(last) = v.last_mut()
        {
            last.response_bytes = size;
            last.refused = cancelled;
        }
        Ok(())
    }
}
