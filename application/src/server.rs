//! Serving the router on a TCP listener until SIGTERM or Ctrl-C, then draining in-flight requests.

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Serve `router` on `listener` until `shutdown` resolves, then finish in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Small writes (live seat updates, short answers) must not wait for the peer's delayed ACK.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Serve `GET /metrics` of this process's registry on its own listener at `addr` (`None`: off),
/// apart from the API: the series describe the service's inner workings and are for its
/// operators, not its clients, and a scraper needs no API credentials or rate-limit budget.
/// Returns the bound address and the serving task (abort it to stop).
pub async fn spawn_metrics(
    addr: ingress::config::MetricsAddr,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
) -> Result<Option<(SocketAddr, tokio::task::JoinHandle<()>)>, StartError> {
    let Some(addr) = addr.0 else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Io {
            what: format!(
                "binding the metrics address {addr} (BOXOFFICE_METRICS_ADDR; `off` serves none)"
            ),
            source,
        })?;
    let bound = listener.local_addr().map_err(|source| StartError::Io {
        what: "reading the bound metrics address".into(),
        source,
    })?;
    let router = Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let prometheus = prometheus.clone();
            async move { ingress::routes::ops::prometheus_text(&prometheus) }
        }),
    );
    tracing::info!(%bound, "metrics at http://{bound}/metrics");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::warn!(error = %e, "the metrics endpoint stopped");
        }
    });
    Ok(Some((bound, task)))
}

/// Resolves on Ctrl-C or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested; draining in-flight requests");
}

/// Why `boxoffice dev` could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is unusable.
    #[error("configuration: {0}")]
    Config(#[from] ingress::config::ConfigError),
    /// A file or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A backing part could not start.
    #[error("{part} failed to start: {source}")]
    Backend {
        /// Which part.
        part: &'static str,
        /// Why.
        #[source]
        source: processors::Cause,
    },
}

/// The failure of `part` to start, keeping what went wrong as its source (an error, or words).
pub fn backend<E: Into<processors::Cause>>(part: &'static str) -> impl FnOnce(E) -> StartError {
    move |failure| StartError::Backend {
        part,
        source: failure.into(),
    }
}
