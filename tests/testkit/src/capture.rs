//! An SDK interceptor that keeps what a DynamoDB client sends and receives:
//! the operation, the request's JSON and the response's size, so the bench
//! can count requests by what they are and compute capacity from exactly
//! what was written and read.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

/// One request: its operation (`TransactWriteItems`…), its body, the
/// response's body size.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub operation: String,
    pub request: Value,
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
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "BenchCapture"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = ctx.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let body = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if let Ok(mut v) = self.0.lock() {
            v.push(Exchange {
                operation,
                request: body,
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
