//! Glue to the Lambda Runtime API.

use std::future::Future;

use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{
    Context, Diagnostic, LambdaEvent, LambdaInvocation, Runtime, layers, service_fn,
};
use serde::Serialize;

/// Runs `f` for every invocation with the payload's raw text and the
/// invocation's [`Context`]: its `deadline` (milliseconds since the Unix
/// epoch) bounds the sweep's work, its `request_id` identifies the
/// invocation in the ledger items it writes (and the sweep's run).
///
/// The runtime would otherwise parse the payload before our code sees it, and
/// report unparseable JSON with its own error type; contract §2 wants every
/// invalid input reported as `InvalidEvent`. So the payload is handed over
/// as a JSON string and parsed by the handler itself.
pub async fn run_raw_with_context<F, Fut, R, E>(f: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(String, Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<R, E>> + Send + 'static,
    R: Serialize + Send + 'static,
    E: Into<Diagnostic> + std::fmt::Debug + Send + 'static,
{
    let service = service_fn(move |event: LambdaEvent<String>| f(event.payload, event.context));
    Runtime::new(service)
        .layer(RawPayload)
        .layer(layers::TracingLayer::new())
        .run()
        .await
}

#[derive(Clone, Copy)]
struct RawPayload;

impl<S> Layer<S> for RawPayload {
    type Service = RawPayloadService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RawPayloadService(inner)
    }
}

struct RawPayloadService<S>(S);

impl<S: Service<LambdaInvocation>> Service<LambdaInvocation> for RawPayloadService<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut req: LambdaInvocation) -> Self::Future {
        let text = String::from_utf8_lossy(&req.body).into_owned();
        req.body = serde_json::to_vec(&text)
            .expect("a string always serializes")
            .into();
        self.0.call(req)
    }
}
