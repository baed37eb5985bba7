//! `boxoffice serve`: the stateless HTTP front of the full pipeline. Commands go to JetStream
//! through [`NatsBus`], reads come from Cassandra/ScyllaDB through the processors' store, the
//! catalog lives in CQL tables (search index rebuilt in memory at start), payments go to the
//! payments service over HTTP, and Idempotency-Keys are claimed in a NATS KV bucket.
//!
//! Seat deltas arrive on the seat-event subjects; this process folds them into `availableSeats`.

use std::sync::Arc;
use std::time::Duration;

use catalog::Catalog;
use fulfilment::FulfilmentConfig;
use futures::StreamExt;
use payments::{ClientConfig, HttpPaymentProvider, PaymentProvider};
use processors::cql::CqlStore;
use processors::jetstream::NatsBus;
use processors::reader::{ShowReader, StateReader};
use processors::topology::Topology;
use schemas::SeatDelta;
use tokio::net::TcpListener;

use crate::config::ServeConfig;
use crate::dev::{DevServer, StartError};
use crate::idempotency::KvIndex;
use crate::server::{self, backend};
use crate::sync;
use ingress::app;
use ingress::state::{AppState, Backends, Probe};

/// Run `boxoffice serve` until SIGTERM or Ctrl-C.
pub async fn run(config: ServeConfig, after_sale: FulfilmentConfig) -> Result<(), StartError> {
    let topology = match &config.streams {
        Some(path) => Topology::load(path).map_err(backend("streams.yaml"))?,
        None => Topology::builtin(),
    };
    let server = start_full(config, topology, after_sale).await?;
    println!("boxoffice serve is listening on http://{}", server.addr);
    server::shutdown_signal().await;
    server.stop().await
}

/// Connect every backing service and begin serving, with the topology of `--streams`.
pub async fn start(config: ServeConfig) -> Result<DevServer, StartError> {
    let topology = match &config.streams {
        Some(path) => Topology::load(path).map_err(backend("streams.yaml"))?,
        None => Topology::builtin(),
    };
    start_with(config, topology).await
}

/// Connect every backing service and begin serving with `topology` (streams, subjects, keyspace
/// shared with the processors), with the ticket settings of the `BOXOFFICE_*` variables.
pub async fn start_with(config: ServeConfig, topology: Topology) -> Result<DevServer, StartError> {
    let after_sale = FulfilmentConfig::from_env().map_err(backend("settings"))?;
    start_full(config, topology, after_sale).await
}

/// Connect every backing service and begin serving with `topology` and explicit ticket settings.
pub async fn start_full(
    config: ServeConfig,
    topology: Topology,
    after_sale: FulfilmentConfig,
) -> Result<DevServer, StartError> {
    config.validate()?;
    ingress::telemetry::prometheus();
    let secret = config
        .api
        .auth_secret
        .clone()
        .unwrap_or_default()
        .into_bytes();
    let topology = Arc::new(topology);
    let nats = processors::jetstream::connect(&config.nats_url)
        .await
        .map_err(backend("nats"))?;
    let bus = NatsBus::new(nats.clone(), topology.clone(), config.api.command_timeout())
        .await
        .map_err(backend("nats bus"))?;
    let js = async_nats::jetstream::new(nats.clone());
    let index = KvIndex::open(&js, topology.commands.replicas)
        .await
        .map_err(backend("idempotency bucket"))?;

    let nodes = config.cql_nodes.join(",");
    let keyspace = topology.cql.keyspace.clone();
    let store = CqlStore::connect(&nodes, &keyspace)
        .await
        .map_err(backend("show store"))?;
    let store = Arc::new(store);
    let reader: Arc<dyn ShowReader> = Arc::new(StateReader::new(store));

    let session = catalog::CqlStore::connect(&config.cql_nodes)
        .await
        .map_err(backend("catalog store"))?;
    // Idempotent: creates the catalog tables beside the show state if they are missing.
    catalog::CqlStore::provision(&session, &keyspace, topology.cql.replication_factor)
        .await
        .map_err(backend("catalog schema"))?;
    let catalog_store = catalog::CqlStore::new(session, &keyspace)
        .await
        .map_err(backend("catalog store"))?;
    let catalog = Arc::new(
        Catalog::open(Arc::new(catalog_store))
            .await
            .map_err(backend("catalog"))?,
    );
    let payments: Arc<dyn PaymentProvider> = Arc::new(
        HttpPaymentProvider::new(ClientConfig::new(config.payments_url.clone()))
            .map_err(backend("payments client"))?,
    );
    let tickets = fulfilment::serve::serve_desk(
        &after_sale,
        config.api.auth_secret.as_deref(),
        &nodes,
        &keyspace,
        payments.clone(),
    )
    .await
    .map_err(backend("tickets"))?;

    let seat_feed: Arc<dyn live::feed::SeatFeed> =
        Arc::new(live::feed::NatsFeed::new(nats.clone(), topology.clone()));
    let backends = Backends {
        bus: Arc::new(bus),
        reader,
        idempotency: Arc::new(index),
        catalog: catalog.clone(),
        payments,
        tickets,
        clock: clock::system(),
    };
    let state = AppState::new(
        config.api.clone(),
        &secret,
        backends,
        seat_feed,
        vec![("nats", nats_probe(nats.clone()))],
    );
    let seat_subjects = format!("{}.>", topology.seat_events.subject_prefix);
    let deltas = nats
        .subscribe(seat_subjects)
        .await
        .map_err(backend("seat events"))?;
    let follower = spawn_nats_follower(state.clone(), deltas);
    sync::reconcile(&state).await?;
    let directory =
        crate::waitroom::CatalogDirectory::new(catalog.clone(), state.backends().reader.clone());
    let room =
        crate::waitroom::open_serve(&config.api, nats.clone(), &topology, directory, &secret)
            .await
            .map_err(backend("waiting room"))?;
    state.services().install_waiting_room(room.clone());
    let background = vec![
        room.spawn_admitter(),
        follower,
        catalog.spawn_availability_flusher(Duration::from_secs(1)),
        state.limits().spawn_janitor(),
    ];
    let listener = TcpListener::bind(config.api.http_addr)
        .await
        .map_err(|source| StartError::Io {
            what: format!("binding {}", config.api.http_addr),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Io {
        what: "reading the bound address".into(),
        source,
    })?;
    let metrics =
        server::spawn_metrics(config.api.metrics_addr, state.prometheus().clone()).await?;
    let router = app::router(state.clone());
    Ok(DevServer::spawn(
        addr, state, listener, router, background, None, metrics,
    ))
}

fn nats_probe(client: async_nats::Client) -> Probe {
    Arc::new(move || {
        let client = client.clone();
        Box::pin(async move {
            match client.connection_state() {
                async_nats::connection::State::Connected => Ok(()),
                other => Err(format!("nats is {other:?}")),
            }
        })
    })
}

/// Fold seat deltas from the seat-event subjects into the availability projection.
fn spawn_nats_follower(
    state: AppState,
    mut deltas: async_nats::Subscriber,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(message) = deltas.next().await {
            match schemas::decode::<SeatDelta>(&message.payload) {
                Ok(delta) => sync::apply(&state, &delta).await,
                Err(e) => tracing::warn!(error = %e, "undecodable seat delta"),
            }
        }
    })
}
