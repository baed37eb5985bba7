//! PG-LOCK: the flash-sale benchmark's baseline, the service everyone builds first. Seats are rows
//! in PostgreSQL; a hold locks its seat rows (`SELECT ... FOR UPDATE`), a confirm locks its hold
//! row, and every step is a transaction behind a bounded connection pool. Boxoffice's own
//! pipeline is measured against it, with the same HTTP API subset, tokens and payments sandbox.
//!
//! Modules: [`config`] (arguments), [`schema`] (the tables), [`store`] (the SQL transactions),
//! [`saga`] (confirm: authorize, book, capture or void), [`http`] (routes and handlers) and
//! [`error`] (the refusals and their statuses).

mod config;
mod error;
mod http;
mod saga;
mod schema;
mod store;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use ingress::auth::TokenKeys;
use payments::client::{ClientConfig, HttpPaymentProvider};

use crate::config::Args;
use crate::http::AppState;
use crate::saga::Saga;
use crate::store::Store;

/// How long a request waits for a pooled connection before answering 503: long enough to ride
/// out a burst queued behind the pool, short enough that a stuck database shows as errors.
const POOL_WAIT: Duration = Duration::from_secs(10);

/// How long opening one connection may take.
const POOL_CREATE: Duration = Duration::from_secs(5);

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let args = Args::parse();
    let pool = pool(&args)?;
    schema::ensure(&pool)
        .await
        .with_context(|| format!("creating the schema in {}", args.database_display()))?;
    let payments = HttpPaymentProvider::new(ClientConfig::new(args.payments_url.clone()))
        .context("payments client")?;
    let state = AppState {
        keys: TokenKeys::new(args.auth_secret.as_bytes()),
        saga: Saga {
            store: Store::new(pool.clone(), args.hold_ttl),
            payments: Arc::new(payments),
        },
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    log_settings(&args);
    axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("serving HTTP")?;
    pool.close();
    tracing::info!("pg-lock stopped");
    Ok(())
}

/// Logs to stderr (colours only on a terminal); `RUST_LOG` overrides the default `info`.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// The bounded pool. Connections are opened lazily, each with `synchronous_commit` set by the
/// startup options; recycling is the fast check (a broken connection is dropped when noticed).
fn pool(args: &Args) -> anyhow::Result<Pool> {
    let config = args.pg_config().context("parsing --database-url")?;
    let manager = Manager::from_config(
        config,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(args.pool as usize)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_CREATE))
        .build()
        .context("building the connection pool")
}

/// The one start-up line: where it serves and with which settings (never the secrets).
fn log_settings(args: &Args) {
    tracing::info!(
        addr = %args.addr,
        database = %args.database_display(),
        payments = %args.payments_url,
        hold_ttl_s = args.hold_ttl,
        pool = args.pool,
        synchronous_commit = args.synchronous_commit.as_sql(),
        "pg-lock serving"
    );
}

/// Resolves on SIGINT or SIGTERM; in-flight requests then finish before `main` returns.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
