//! Logs (JSON, tracing) and metrics (CloudWatch Embedded Metric Format).

use reconciler_core::contract::metrics as names;

/// JSON logs on stdout, one object per line; level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
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
