//! `reconciler-handler`: applies EventBridge credit events to the ledger.

use std::sync::Arc;

use reconciler::config::HandlerConfig;
use reconciler::handler::Handler;
use reconciler::store::Ledger;
use reconciler::telemetry::{self, Metrics};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    telemetry::init_tracing();
    let config =
        HandlerConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    let metrics = Arc::new(Metrics::init(&config.stage)?);
    let client = aws_sdk_dynamodb::Client::new(&reconciler::aws_config().await);
    let handler = Arc::new(Handler::new(Ledger::new(client, config.table)));
    reconciler::runtime::run_raw_with_context(move |raw: String, context| {
        let (handler, metrics) = (handler.clone(), metrics.clone());
        async move {
            let result = handler.handle_as(raw.as_bytes(), &context.request_id).await;
            metrics.flush();
            result.map(|response| response.to_json())
        }
    })
    .await
}
