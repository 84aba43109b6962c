//! `reconciler-sweep`: every 6 hours (or on a manual invoke), expires stale
//! holds, lists new conflicts and audits the touched accounts (contract §5).

use std::sync::Arc;

use reconciler::config::SweepConfig;
use reconciler::start::{self, StartTimer};
use reconciler::store::Ledger;
use reconciler::summarizer::Summarizer;
use reconciler::sweep::{Sweep, SweepError};
use reconciler::telemetry::{self, Metrics};
use tokio::sync::OnceCell;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut start = StartTimer::new();
    telemetry::init_tracing();
    start.step("tracing");
    let config =
        SweepConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    start.step("config");
    let metrics = Arc::new(Metrics::init(&config.stage)?);
    start.step("metrics");
    // Built by the first invocation (`reconciler::start`: building the
    // clients loads the system's root certificates, most of a cold start).
    let sweep = Arc::new(OnceCell::new());
    let config = Arc::new(config);
    start.log(start::START_UP);
    reconciler::runtime::run_raw_with_context(move |raw: String, context| {
        let (sweep, metrics, config) = (sweep.clone(), metrics.clone(), config.clone());
        async move {
            let sweep = sweep.get_or_init(|| build(&config)).await;
            let deadline_ms = i64::try_from(context.deadline).unwrap_or(i64::MAX);
            let run_id = format!("sweep:{}", context.request_id);
            let result = sweep.handle(&raw, deadline_ms, &run_id).await;
            // The sweep's gauges keep their values between invocations: an
            // invocation refused or aborted before its report must not emit
            // the previous sweep's numbers again.
            if result
                .as_ref()
                .map_or_else(SweepError::has_report, |_| true)
            {
                metrics.flush();
            }
            result
        }
    })
    .await
}

/// The sweep and its clients.
async fn build(config: &SweepConfig) -> Sweep {
    let mut first = StartTimer::new();
    let aws = reconciler::aws_config().await;
    first.step("sdk config");
    let ledger = Ledger::new(aws_sdk_dynamodb::Client::new(&aws), config.table.clone());
    let summarizer = config
        .summarizer
        .clone()
        .map(|s| Summarizer::new(s, aws_sdk_ssm::Client::new(&aws)));
    first.step("clients");
    first.log(start::FIRST_USE);
    Sweep::new(ledger, config, summarizer)
}
