//! `boxoffice dev`: all of boxoffice in one process with no external services: the embedded
//! pipeline (same engine and partition loop, in-process log, redb store), the catalog on its
//! embedded store with the demo seed, the sandbox payment provider, and the HTTP API.
//!
//! Everything lives under the data dir, so a restart resumes with holds, bookings and catalog.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use catalog::Catalog;
use fulfilment::dev::DevSettings;
use payments::{PaymentProvider, RetryPolicy, Retrying, SandboxConfig, SandboxProvider};
use processors::embedded::{DevPipeline, PipelineConfig};
use processors::reader::ShowReader;
use rand::RngCore;
use tokio::net::TcpListener;

use ingress::app;
use ingress::config::ApiConfig;

use crate::config::DevConfig;
use crate::idempotency::EmbeddedIndex;
use crate::server::{self, backend};
use crate::sync;
use ingress::state::{AppState, Backends, Probe};

/// File holding the generated auth secret when none is configured.
pub const SECRET_FILE: &str = "auth-secret";

/// How often idle idempotency keys are purged.
const IDEMPOTENCY_PURGE_EVERY: Duration = Duration::from_secs(3600);

pub use crate::server::StartError;

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let what = what.into();
    move |source| StartError::Io { what, source }
}

/// The configured secret, or the one generated on first start and kept in the data dir.
pub fn load_or_create_secret(api: &ApiConfig, data_dir: &Path) -> Result<Vec<u8>, StartError> {
    if let Some(secret) = &api.auth_secret {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(text.trim().as_bytes().to_vec()),
        Ok(_) => tracing::warn!(path = %path.display(), "auth secret file too short; replacing it"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    write_private(&path, &secret).map_err(io(format!("writing {}", path.display())))?;
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

/// A running instance of `boxoffice dev` or `boxoffice serve` (for embedding in tests and tools): the bound address and a handle to
/// stop it.
pub struct DevServer {
    /// Address the API listens on.
    pub addr: std::net::SocketAddr,
    /// Address `/metrics` is served on (`None`: metrics are off).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The application state (token keys, backends).
    pub state: AppState,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), StartError>>,
}

/// The embedded pipeline, taken out on shutdown.
type SharedPipeline = Arc<tokio::sync::Mutex<Option<DevPipeline>>>;

impl DevServer {
    /// Serve `router` on `listener` until stopped; on stop abort `background`, shut the embedded
    /// pipeline down (dev mode) and flush the availability projection.
    pub fn spawn(
        addr: std::net::SocketAddr,
        state: AppState,
        listener: TcpListener,
        router: axum::Router,
        mut background: Vec<tokio::task::JoinHandle<()>>,
        pipeline: Option<SharedPipeline>,
        metrics: Option<(std::net::SocketAddr, tokio::task::JoinHandle<()>)>,
    ) -> DevServer {
        let metrics_addr = metrics.map(|(addr, task)| {
            background.push(task);
            addr
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let catalog = state.backends().catalog.clone();
        let live = state.live().clone();
        let waiting_room = state.waiting_room().cloned();
        let task = tokio::spawn(async move {
            let served = server::serve(listener, router, async {
                let _ = stopped.await;
            })
            .await;
            live.shutdown().await;
            if let Some(room) = waiting_room {
                room.shutdown().await;
            }
            for task in background {
                task.abort();
            }
            if let Some(pipeline) = pipeline
                && let Some(pipeline) = pipeline.lock().await.take()
                && let Err(e) = pipeline.shutdown().await
            {
                tracing::warn!(error = %e, "pipeline stopped with an error");
            }
            if let Err(e) = catalog.flush_availability().await {
                tracing::warn!(error = %e, "final availability flush failed");
            }
            served.map_err(io("serving HTTP"))
        });
        DevServer {
            addr,
            metrics_addr,
            state,
            shutdown,
            task,
        }
    }

    /// Stop serving, drain, shut the pipeline down, and wait.
    pub async fn stop(self) -> Result<(), StartError> {
        let _ = self.shutdown.send(());
        self.task.await.map_err(backend("server"))?
    }
}

/// Run `boxoffice dev` until SIGTERM or Ctrl-C.
pub async fn run(config: DevConfig, after_sale: DevSettings) -> Result<(), StartError> {
    let server = start_with(config, after_sale).await?;
    println!("{}", banner(&server));
    server::shutdown_signal().await;
    server.stop().await
}

fn banner(server: &DevServer) -> String {
    let url = format!("http://{}", server.addr);
    let admin = server.state.keys().sign(&ingress::auth::Claims {
        sub: uuid::Uuid::new_v4().to_string(),
        exp: ingress::auth::HasTokenKeys::now_s(&server.state) + 7 * 86_400,
        roles: vec!["admin".into()],
        iat: None,
    });
    let metrics = server
        .metrics_addr
        .map_or("off".to_owned(), |addr| format!("http://{addr}/metrics"));
    format!(
        "\nboxoffice dev is running at {url}\n\
         \n  guest token:  curl -s -X POST {url}/v1/auth/guest\n\
         \n  events:       curl -s {url}/v1/events\n\
         \n  API document: {url}/openapi.json\n\
         \n  metrics:      {metrics}\n\
         \n  admin token (7 days, this data dir only):\n  {admin}\n"
    )
}

/// Start every part and begin serving, with the after-sale settings (tickets, reconciliation,
/// payment faults) of the `BOXOFFICE_*` variables; returns once the API accepts connections.
pub async fn start(config: DevConfig) -> Result<DevServer, StartError> {
    let after_sale = DevSettings::from_env().map_err(backend("settings"))?;
    start_with(config, after_sale).await
}

/// Start every part with explicit after-sale settings and begin serving.
pub async fn start_with(
    config: DevConfig,
    after_sale: DevSettings,
) -> Result<DevServer, StartError> {
    config.validate()?;
    ingress::telemetry::prometheus();
    let data_dir = config.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(io(format!("creating data dir {}", data_dir.display())))?;
    let secret = load_or_create_secret(&config.api, &data_dir)?;

    let clock = clock::system();
    let mut pipeline_config = PipelineConfig::new(data_dir.clone());
    pipeline_config.clock = clock.clone();
    pipeline_config.reply_timeout = config.api.command_timeout();
    pipeline_config.in_memory = config.bench_ref_mem;
    if config.bench_ref_mem {
        tracing::warn!(
            "REF-MEM: the seat store is in memory; holds and bookings end with the process"
        );
    }
    let pipeline = DevPipeline::start(pipeline_config)
        .await
        .map_err(backend("pipeline"))?;
    let catalog = Arc::new(
        Catalog::open_embedded(&subdir(&data_dir, "catalog")?)
            .await
            .map_err(backend("catalog"))?,
    );
    let sandbox = SandboxProvider::open(&SandboxConfig {
        data_dir: Some(subdir(&data_dir, "payments")?),
        faults: after_sale.payment_faults.config(),
        ..SandboxConfig::default()
    })
    .map_err(backend("payments"))?;
    // Injected 5xx and lost answers are ridden out with the same idempotency key.
    let payments: Arc<dyn PaymentProvider> =
        Arc::new(Retrying::new(sandbox, RetryPolicy::default()));
    let index = EmbeddedIndex::open(&data_dir.join("idempotency.redb"), clock.clone())
        .map_err(backend("idempotency index"))?;

    let reader: Arc<dyn ShowReader> = pipeline.reader();
    let after_sale = fulfilment::dev::start(fulfilment::dev::DevParts {
        data_dir: data_dir.clone(),
        config: after_sale.fulfilment,
        catalog: catalog.clone(),
        shows: pipeline.store(),
        reader: reader.clone(),
        events: pipeline.events(),
        payments: payments.clone(),
    })
    .await
    .map_err(backend("tickets"))?;
    let seat_feed: Arc<dyn live::feed::SeatFeed> =
        Arc::new(live::feed::HubFeed::new(pipeline.events()));
    let backends = Backends {
        bus: Arc::new(pipeline.bus()),
        reader: reader.clone(),
        idempotency: Arc::new(index.clone()),
        catalog: catalog.clone(),
        payments,
        tickets: after_sale.desk.clone(),
        clock,
    };
    let pipeline = Arc::new(tokio::sync::Mutex::new(Some(pipeline)));
    let state = AppState::new(
        config.api.clone(),
        &secret,
        backends,
        seat_feed,
        vec![("pipeline", pipeline_probe(pipeline.clone()))],
    );

    let follower = {
        let guard = pipeline.lock().await;
        let events = guard
            .as_ref()
            .map(|p| p.events())
            .expect("pipeline running");
        sync::spawn_seat_follower(state.clone(), events.subscribe_seats())
    };
    let seeded = sync::seed_and_reconcile(&state).await?;
    tracing::info!(seeded, "catalog ready");
    let directory = crate::waitroom::CatalogDirectory::new(catalog.clone(), reader.clone());
    let room = crate::waitroom::open_dev(&config.api, directory, &secret, &data_dir)
        .await
        .map_err(backend("waiting room"))?;
    state.services().install_waiting_room(room.clone());
    let mut background = vec![
        room.spawn_admitter(),
        follower,
        catalog.spawn_availability_flusher(Duration::from_secs(1)),
        state.limits().spawn_janitor(),
        index.spawn_janitor(IDEMPOTENCY_PURGE_EVERY),
    ];
    background.extend(after_sale.tasks);

    let listener = TcpListener::bind(config.api.http_addr)
        .await
        .map_err(io(format!("binding {}", config.api.http_addr)))?;
    let addr = listener
        .local_addr()
        .map_err(io("reading the bound address"))?;
    let metrics =
        server::spawn_metrics(config.api.metrics_addr, state.prometheus().clone()).await?;
    let router = app::router(state.clone());
    tracing::info!(%addr, data_dir = %data_dir.display(), "boxoffice dev listening");
    Ok(DevServer::spawn(
        addr,
        state,
        listener,
        router,
        background,
        Some(pipeline),
        metrics,
    ))
}

fn subdir(data_dir: &Path, name: &str) -> Result<PathBuf, StartError> {
    let path = data_dir.join(name);
    std::fs::create_dir_all(&path).map_err(io(format!("creating {}", path.display())))?;
    Ok(path)
}

fn pipeline_probe(pipeline: SharedPipeline) -> Probe {
    Arc::new(move || {
        let pipeline = pipeline.clone();
        Box::pin(async move {
            match pipeline.lock().await.as_ref() {
                Some(p) if p.is_healthy() => Ok(()),
                Some(_) => Err("a partition loop stopped".to_owned()),
                None => Err("shutting down".to_owned()),
            }
        })
    })
}
