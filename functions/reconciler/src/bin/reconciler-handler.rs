//! `reconciler-handler`: applies EventBridge credit events to the ledger.

use std::sync::Arc;

use reconciler::config::HandlerConfig;
use reconciler::handler::Handler;
use reconciler::start::{self, StartTimer};
use reconciler::store::Ledger;
use reconciler::telemetry::{self, Metrics};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut start = StartTimer::new();
    telemetry::init_tracing();
    start.step("tracing");
    let config =
        HandlerConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    start.step("config");
    let metrics = Arc::new(Metrics::init(&config.stage)?);
    start.step("metrics");
    // Built by the first event (`reconciler::start`: building the client
    // loads the system's root certificates, most of a cold start).
    let handler = Arc::new(OnceCell::new());
    let table: Arc<str> = config.table.into();
    start.log(start::START_UP);
    reconciler::runtime::run_raw_with_context(move |raw: String, context| {
        let (handler, metrics, table) = (handler.clone(), metrics.clone(), table.clone());
        async move {
            let handler = handler
                .get_or_init(|| async {
                    let mut first = StartTimer::new();
                    let aws = reconciler::aws_config().await;
                    first.step("sdk config");
                    let client = aws_sdk_dynamodb::Client::new(&aws);
                    first.step("clients");
                    first.log(start::FIRST_USE);
                    Handler::new(Ledger::new(client, table.to_string()))
                })
                .await;
            let result = handler.handle_as(raw.as_bytes(), &context.request_id).await;
            metrics.flush();
            result.map(|response| response.to_json())
        }
    })
    .await
}
