//! Process-wide telemetry: the Prometheus recorder behind the `metrics` facade (every crate in the
//! process records into it) and the tracing subscriber.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static PROMETHEUS: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus registry, installing it as the global `metrics` recorder on first use.
/// A recorder installed by someone else first (an embedding program) leaves us with a detached
/// registry, so `/metrics` still answers.
pub fn prometheus() -> PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            // The embedded pipeline (dev mode) records its loop histograms here too; they get
            // their own bounds (batch sizes are counts, not seconds).
            let builder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static bucket list is non-empty");
            let recorder = processors::metrics::with_buckets(builder).build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was installed before ours; /metrics is partial");
            }
            spawn_upkeep(handle.clone());
            handle
        })
        .clone()
}

/// How often histogram samples are folded into their buckets. A recorder built by hand keeps
/// every raw sample until it is rendered, so without this an unscraped ingress would grow.
const UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// Fold histogram samples into buckets every [`UPKEEP_INTERVAL`] on a small named thread (the
/// registry is process-wide and may be created outside any tokio runtime).
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no metrics upkeep thread; histograms fold only when scraped");
    }
}

/// Install a `tracing` subscriber reading `RUST_LOG` (default `info`); a no-op when one exists.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
