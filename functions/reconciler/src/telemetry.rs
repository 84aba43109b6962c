//! Logs (JSON, tracing) and metrics (CloudWatch Embedded Metric Format).

use reconciler_core::contract::metrics as names;
use tracing_subscriber::EnvFilter;

/// JSON logs on stdout, one object per line; level from `RUST_LOG` (default info).
pub fn init_tracing() {
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = json_lines(filter, std::io::stdout).try_init();
}

/// The functions' log format: one JSON object per line, the event's fields
/// at the top level (no span, no target), written to `writer`.
pub(crate) fn json_lines<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// The EMF collector: every custom metric in our namespace with a `Stage` dimension.
pub struct Metrics(&'static metrics_cloudwatch_embedded::Collector);

impl Metrics {
    pub fn init(stage: &str) -> Result<Metrics, String> {
        metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(names::NAMESPACE)
            .with_dimension(names::STAGE_DIMENSION, stage.to_string())
            .init()
            .map(Metrics)
            .map_err(|e| format!("metrics: {e}"))
    }

    /// Writes the metrics recorded since the last flush as one EMF document.
    pub fn flush(&self) {
        if let Err(e) = self.0.flush(std::io::stdout().lock()) {
            tracing::warn!(error = %e, "could not write metrics");
        }
    }
}
