//! Loop metrics through the `metrics` facade, and how they leave a processor process.
//!
//! Where the loop is embedded (`boxoffice dev`) the ingress's recorder collects them and its
//! `/metrics` serves them. `boxoffice processor` has no ingress: [`serve_exporter`] installs a
//! Prometheus recorder with the loop's buckets ([`with_buckets`]) and serves `GET /metrics`
//! itself, and [`watch_lag`] keeps every partition's [`LAG`] current from its consumer's info, so
//! the gauge also grows while a loop is stalled or its partition has no owner.
//! Labels are bounded: the partition (one value per partition of streams.yaml) and fixed outcome
//! names.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_nats::jetstream;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::topology::{PartitionId, Topology};

/// Commands per loop iteration.
pub const BATCH_SIZE: &str = "boxoffice_pipeline_batch_size";
/// Seconds spent deciding one show's commands.
pub const DECIDE_SECONDS: &str = "boxoffice_pipeline_decide_seconds";
/// Seconds from index write to the conditional batch's answer.
pub const PERSIST_SECONDS: &str = "boxoffice_pipeline_persist_seconds";
/// Seconds to publish a batch's events.
pub const PUBLISH_SECONDS: &str = "boxoffice_pipeline_publish_seconds";
/// Seconds to send a batch's replies (after its conditional batch committed).
pub const REPLY_SECONDS: &str = "boxoffice_pipeline_reply_seconds";
/// Seconds the loop waited for the previous batch's events to be out before acknowledging it.
pub const TAIL_WAIT_SECONDS: &str = "boxoffice_pipeline_tail_wait_seconds";
/// Seconds to acknowledge a batch (cumulatively) once its events are out.
pub const ACK_SECONDS: &str = "boxoffice_pipeline_ack_seconds";
/// Commands waiting in the partition behind the last delivered one.
pub const LAG: &str = "boxoffice_pipeline_lag";
/// Commands by result (`accepted`, `rejected`, `recalled`, `redelivered`, `malformed`, and for
/// commands a show passed without applying: `placed_late`, `late_expire_dropped`, `forgotten`).
pub const COMMANDS: &str = "boxoffice_pipeline_commands_total";
/// Conditional batches refused by the fence.
pub const FENCE_CONFLICTS: &str = "boxoffice_pipeline_fence_conflicts_total";
/// Deliveries found lost in transit; each restarts the partition from its last acknowledgement.
pub const DELIVERY_GAPS: &str = "boxoffice_pipeline_delivery_gaps_total";

pub(crate) fn batch_size(partition: &PartitionId, n: usize) {
    metrics::histogram!(BATCH_SIZE, "partition" => partition.0.clone()).record(n as f64);
}

pub(crate) fn decide_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(DECIDE_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn persist_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(PERSIST_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn publish_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(PUBLISH_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn reply_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(REPLY_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn tail_wait_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(TAIL_WAIT_SECONDS, "partition" => partition.0.clone())
        .record(d.as_secs_f64());
}

pub(crate) fn ack_time(partition: &PartitionId, d: Duration) {
    metrics::histogram!(ACK_SECONDS, "partition" => partition.0.clone()).record(d.as_secs_f64());
}

pub(crate) fn lag(partition: &PartitionId, pending: u64) {
    metrics::gauge!(LAG, "partition" => partition.0.clone()).set(pending as f64);
}

pub(crate) fn command(partition: &PartitionId, result: &'static str) {
    metrics::counter!(COMMANDS, "partition" => partition.0.clone(), "result" => result)
        .increment(1);
}

pub(crate) fn delivery_gap(partition: &PartitionId) {
    metrics::counter!(DELIVERY_GAPS, "partition" => partition.0.clone()).increment(1);
}

pub(crate) fn fence_conflict(partition: &PartitionId) {
    metrics::counter!(FENCE_CONFLICTS, "partition" => partition.0.clone()).increment(1);
}

/// Bucket bounds (seconds) of the loop's `*_seconds` histograms: a stage takes from well under a
/// millisecond (decide) to tens of milliseconds (a conditional batch under load).
pub const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Bucket bounds (commands) of [`BATCH_SIZE`]; the shipped `batch_size_max` is 256.
pub const BATCH_SIZE_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

const SECONDS_HISTOGRAMS: [&str; 6] = [
    DECIDE_SECONDS,
    PERSIST_SECONDS,
    PUBLISH_SECONDS,
    REPLY_SECONDS,
    TAIL_WAIT_SECONDS,
    ACK_SECONDS,
];

/// `builder` with the loop's histogram buckets, so its histograms export as Prometheus
/// histograms (a recorder without buckets exports them as summaries) with bounds that fit them.
/// A program embedding the loop can give its own recorder the same buckets.
pub fn with_buckets(builder: PrometheusBuilder) -> PrometheusBuilder {
    let full = |name: &str| Matcher::Full(name.to_string());
    let mut builder = builder
        .set_buckets_for_metric(full(BATCH_SIZE), BATCH_SIZE_BUCKETS)
        .expect("static bucket list is non-empty");
    for name in SECONDS_HISTOGRAMS {
        builder = builder
            .set_buckets_for_metric(full(name), SECONDS_BUCKETS)
            .expect("static bucket list is non-empty");
    }
    builder
}

/// Give the loop's metrics their `# HELP` lines and units.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_histogram!(BATCH_SIZE, Unit::Count, "Commands per loop iteration.");
    describe_histogram!(
        DECIDE_SECONDS,
        Unit::Seconds,
        "Deciding one show's commands."
    );
    describe_histogram!(
        PERSIST_SECONDS,
        Unit::Seconds,
        "Index write to the conditional batch's answer."
    );
    describe_histogram!(
        PUBLISH_SECONDS,
        Unit::Seconds,
        "Publishing a batch's events."
    );
    describe_histogram!(REPLY_SECONDS, Unit::Seconds, "Sending a batch's replies.");
    describe_histogram!(
        TAIL_WAIT_SECONDS,
        Unit::Seconds,
        "Waiting for the previous batch's events before acknowledging it."
    );
    describe_histogram!(ACK_SECONDS, Unit::Seconds, "Acknowledging a batch.");
    describe_gauge!(
        LAG,
        Unit::Count,
        "Commands in the partition not yet delivered to its processor."
    );
    describe_counter!(COMMANDS, Unit::Count, "Commands by result.");
    describe_counter!(
        FENCE_CONFLICTS,
        Unit::Count,
        "Conditional batches refused by the fence."
    );
    describe_counter!(
        DELIVERY_GAPS,
        Unit::Count,
        "Deliveries lost in transit (the partition restarted from its last acknowledgement)."
    );
}

/// The metrics endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another `metrics` recorder is installed in this process (fatal: nothing would reach ours).
    #[error("another metrics recorder is already installed in this process")]
    RecorderTaken,
    /// The address could not be bound (retryable once it is free; fatal for the process).
    #[error(
        "metrics address {addr}: {source} (give each processor its own --metrics-addr, or `off`)"
    )]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: std::io::Error,
    },
}

/// This process's Prometheus recorder, installed as the global `metrics` recorder on first use.
fn recorder() -> Result<PrometheusHandle, MetricsError> {
    // `None`: someone else's recorder was installed first.
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = with_buckets(PrometheusBuilder::new()).build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            Some(handle)
        })
        .clone()
        .ok_or(MetricsError::RecorderTaken)
}

/// How often the exporter drains histogram samples into their buckets, so memory stays flat
/// however rarely `/metrics` is scraped.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// How long [`Exporter::stop`] waits for open scrapes to finish before cutting them off.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running `/metrics` endpoint. [`Exporter::stop`] closes it, kept-alive connections included;
/// dropping it stops accepting but leaves those connections to the runtime.
#[derive(Debug)]
pub struct Exporter {
    local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Exporter {
    /// The bound address (the chosen port when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let scrapes in flight finish and close every connection, so nothing
    /// answers at the address once this returns. Aborting the accept loop alone is not enough:
    /// each connection is served by its own task, and a scraper's kept-alive connection would go
    /// on being answered.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let task = &mut self.task;
        if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
            warn!("metrics endpoint: open connections cut off after {STOP_GRACE:?}");
        }
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn render(State(handle): State<PrometheusHandle>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
}

/// Install the process's Prometheus recorder and serve everything recorded through the `metrics`
/// facade as Prometheus text at `GET http://<addr>/metrics` (other paths answer 404).
pub async fn serve_exporter(addr: SocketAddr) -> Result<Exporter, MetricsError> {
    let handle = recorder()?;
    let bind = |source| MetricsError::Bind { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(bind)?;
    let local_addr = listener.local_addr().map_err(bind)?;
    let app = axum::Router::new()
        .route("/metrics", get(render))
        .with_state(handle.clone());
    let (shutdown, mut stopping) = watch::channel(false);
    let task = tokio::spawn(async move {
        let upkeep = async {
            let mut every = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        };
        tokio::select! {
            served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                })
                .into_future() => {
                if let Err(e) = served {
                    warn!(error = %e, "metrics endpoint stopped");
                }
            }
            () = upkeep => {}
        }
    });
    Ok(Exporter {
        local_addr,
        shutdown,
        task,
    })
}

/// How often [`watch_lag`] reads the partitions' consumer info.
pub const LAG_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Keep [`LAG`] current for `partitions` from their durable consumers' info every `every`
/// (`num_pending`: commands in the partition not yet delivered), until the task is dropped. The
/// loop sets the same gauge from each delivered message; this keeps it true while no message is
/// delivered (a stalled loop, a partition without an owner). A partition whose consumer does not
/// exist yet (never owned) gets its gauge once it does.
pub async fn watch_lag(
    client: async_nats::Client,
    topology: Arc<Topology>,
    partitions: Vec<PartitionId>,
    every: Duration,
) {
    let js = jetstream::new(client);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let stream = match js.get_stream_no_info(&topology.commands.stream).await {
            Ok(stream) => stream,
            Err(e) => {
                debug!(error = %e, "lag: command stream unavailable");
                continue;
            }
        };
        for partition in &partitions {
            match stream
                .consumer_info(topology.consumer_name(partition))
                .await
            {
                Ok(info) => lag(partition, info.num_pending),
                Err(e) => debug!(%partition, error = %e, "lag: no consumer info"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn http_get(addr: SocketAddr, path: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        response
    }

    #[tokio::test]
    async fn the_exporter_serves_the_loop_metrics_with_their_buckets_at_metrics_only() {
        let exporter = serve_exporter("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let partition = PartitionId("exporter-test".into());
        batch_size(&partition, 3);
        persist_time(&partition, Duration::from_millis(3));
        lag(&partition, 7);
        let body = http_get(exporter.local_addr(), "/metrics").await;
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        for line in [
            r#"boxoffice_pipeline_batch_size_bucket{partition="exporter-test",le="2"} 0"#,
            r#"boxoffice_pipeline_batch_size_bucket{partition="exporter-test",le="4"} 1"#,
            r#"boxoffice_pipeline_persist_seconds_bucket{partition="exporter-test",le="0.0025"} 0"#,
            r#"boxoffice_pipeline_persist_seconds_bucket{partition="exporter-test",le="0.005"} 1"#,
            r#"boxoffice_pipeline_lag{partition="exporter-test"} 7"#,
            "# HELP boxoffice_pipeline_batch_size Commands per loop iteration.",
        ] {
            assert!(body.lines().any(|l| l == line), "no {line:?} in\n{body}");
        }
        let elsewhere = http_get(exporter.local_addr(), "/").await;
        assert!(elsewhere.starts_with("HTTP/1.1 404"), "{elsewhere}");
    }

    #[tokio::test]
    async fn stop_closes_kept_alive_connections_and_the_port() {
        let exporter = serve_exporter("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let addr = exporter.local_addr();
        let mut kept = tokio::net::TcpStream::connect(addr).await.unwrap();
        kept.write_all(b"GET /metrics HTTP/1.1\r\nhost: test\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        kept.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 200");

        exporter.stop().await;
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), kept.read_to_end(&mut rest))
            .await
            .expect("the kept-alive connection is closed by stop")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn a_taken_address_is_a_clear_error() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let err = serve_exporter(addr).await.unwrap_err();
        assert!(matches!(err, MetricsError::Bind { .. }), "{err}");
        assert!(err.to_string().contains("--metrics-addr"), "{err}");
    }
}
