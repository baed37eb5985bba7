//! Serve mode: `boxoffice tickets` ([`start_tickets`]) is a durable JetStream consumer of the
//! booking facts (`bookings.<showId>`, one message per show per processor batch) feeding the ticket worker lanes, acking each fact only
//! once it is handled (a crash redelivers it), plus the payments reconciler. Several processes
//! may share the consumer. [`serve_desk`] gives `boxoffice serve` its view of the same tickets.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer::AckPolicy, consumer::pull};
use catalog::Catalog;
use futures::StreamExt;
use payments::{ClientConfig, HttpPaymentProvider, PaymentProvider};
use processors::cql::CqlStore;
use processors::reader::{ShowReader, StateReader};
use processors::topology::Topology;
use schemas::ShowFacts;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::{FulfilmentConfig, TicketsArgs};
use crate::desk::Desk;
use crate::issue::Issuer;
use crate::reconcile::Reconciler;
use crate::store::{CqlTicketStore, TicketStore};
use crate::worker::{Job, Lanes, TicketWorker};
use crate::{StartError, keys};

/// Booking-fact messages handed out and not yet acknowledged, at most (bounds memory and
/// redelivery work; a message holds one processor batch's facts of a show).
pub const FACTS_IN_FLIGHT_MAX: i64 = 4096;

/// How long JetStream waits for an ack (or a sign of progress) before redelivering a fact. Short,
/// because it is how long the facts a crashed worker had taken wait before another worker (or
/// the restarted one) gets them, and the contract promises tickets within 5 s of a confirm;
/// a live worker slower than this says so every [`FACT_PROGRESS_EVERY`]. Each sign of progress
/// starts the wait again, so a worker that dies while busy with a fact it took a second ago
/// leaves it for its last sign plus this: with 3 s and a sign every second, `scripts/chaos
/// --only "kill-9 tickets"` saw 26 of 532 bookings get their tickets 5.1-7.2 s after the
/// confirm (a worker killed about a second after taking them, restarted a second later).
pub const FACT_ACK_WAIT: Duration = Duration::from_millis(1_500);

/// How often a worker still handling a message's facts tells JetStream it is in progress (a
/// third of [`FACT_ACK_WAIT`]: two signs may be late before a live worker's facts go elsewhere,
/// which costs only a duplicate delivery, taken without a second effect).
pub const FACT_PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Pause after a consumer error, so a persisting one does not spin.
pub const CONSUMER_ERROR_PAUSE: Duration = Duration::from_millis(200);

/// How long a failed fact waits before it is redelivered.
pub const FACT_RETRY_DELAY: Duration = Duration::from_secs(5);

/// The failure of `part` to start, keeping what went wrong as its source.
fn backend<E: Into<processors::Cause>>(part: &'static str) -> impl FnOnce(E) -> StartError {
    move |failure| StartError::Backend {
        part,
        source: failure.into(),
    }
}

/// The desk of `boxoffice serve`: keys from the configuration (or derived from the auth secret),
/// tickets in CQL.
pub async fn serve_desk(
    config: &FulfilmentConfig,
    auth_secret: Option<&str>,
    cql_nodes: &str,
    keyspace: &str,
    payments: Arc<dyn PaymentProvider>,
) -> Result<Arc<Desk>, StartError> {
    config.validate()?;
    let keys = keys::required(config.ticket_keys.as_deref(), auth_secret)?;
    let store = CqlTicketStore::connect(cql_nodes, keyspace).await?;
    Ok(Arc::new(Desk::new(keys, Arc::new(store), payments)))
}

/// A running `boxoffice tickets`.
#[derive(Debug)]
pub struct TicketsService {
    stop: watch::Sender<bool>,
    consumer: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl TicketsService {
    /// Stop taking facts, abort the lanes and the reconciler, and wait for the consumer.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.consumer.await;
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Run `boxoffice tickets` until SIGTERM or Ctrl-C.
pub async fn run_tickets(args: TicketsArgs) -> Result<(), StartError> {
    let topology = match &args.streams {
        Some(path) => Topology::load(path).map_err(backend("streams.yaml"))?,
        None => Topology::builtin(),
    };
    let service = start_tickets(args, topology).await?;
    tracing::info!("boxoffice tickets is consuming booking facts");
    shutdown_signal().await;
    service.stop().await;
    Ok(())
}

/// Connect everything and start consuming.
pub async fn start_tickets(
    args: TicketsArgs,
    topology: Topology,
) -> Result<TicketsService, StartError> {
    let config = &args.fulfilment;
    config.validate()?;
    let keys = keys::required(config.ticket_keys.as_deref(), args.auth_secret.as_deref())?;
    let keyspace = topology.cql.keyspace.clone();
    // Connected side by side: a restarted worker's start-up is time its bookings wait for
    // tickets (the contract's 5 s bound includes a worker crash).
    let (shows, catalog, store, nats) = tokio::try_join!(
        async {
            CqlStore::connect(&args.cql_nodes, &keyspace)
                .await
                .map_err(backend("show store"))
        },
        open_catalog(&args.cql_nodes, &topology),
        async {
            CqlTicketStore::connect(&args.cql_nodes, &keyspace)
                .await
                .map_err(StartError::from)
        },
        async {
            processors::jetstream::connect(&args.nats_url)
                .await
                .map_err(backend("nats"))
        },
    )?;
    let reader: Arc<dyn ShowReader> = Arc::new(StateReader::new(Arc::new(shows)));
    let store: Arc<dyn TicketStore> = Arc::new(store);
    let payments: Arc<dyn PaymentProvider> = Arc::new(
        HttpPaymentProvider::new(ClientConfig::new(args.payments_url.clone()))
            .map_err(backend("payments client"))?,
    );
    let worker = Arc::new(TicketWorker::new(Issuer::new(keys, catalog), store.clone()));
    let (lanes, mut tasks) = Lanes::spawn(worker, config.lanes());
    let messages = open_consumer(&nats, &topology, &args.consumer).await?;
    let reconciler = Arc::new(Reconciler::new(payments, reader, store));
    tasks.push(reconciler.spawn(config.reconcile_interval()));
    let (stop, stopped) = watch::channel(false);
    let consumer = tokio::spawn(consume(messages, lanes, stopped));
    Ok(TicketsService {
        stop,
        consumer,
        tasks,
    })
}

async fn open_catalog(nodes: &str, topology: &Topology) -> Result<Arc<Catalog>, StartError> {
    let nodes: Vec<String> = nodes.split(',').map(|n| n.trim().to_owned()).collect();
    let keyspace = &topology.cql.keyspace;
    let session = catalog::CqlStore::connect(&nodes)
        .await
        .map_err(backend("catalog store"))?;
    // Idempotent: the catalog tables may not exist yet if no ingress has started.
    catalog::CqlStore::provision(&session, keyspace, topology.cql.replication_factor)
        .await
        .map_err(backend("catalog schema"))?;
    let store = catalog::CqlStore::new(session, keyspace)
        .await
        .map_err(backend("catalog store"))?;
    let catalog = Catalog::open(Arc::new(store))
        .await
        .map_err(backend("catalog"))?;
    Ok(Arc::new(catalog))
}

async fn open_consumer(
    nats: &async_nats::Client,
    topology: &Topology,
    name: &str,
) -> Result<pull::Stream, StartError> {
    let failed = |e: &dyn std::fmt::Display| backend("booking facts consumer")(e.to_string());
    let js = jetstream::new(nats.clone());
    let stream = js
        .get_stream(&topology.booking_events.stream)
        .await
        .map_err(|e| failed(&e))?;
    let config = pull::Config {
        durable_name: Some(name.to_owned()),
        filter_subject: format!("{}.>", topology.booking_events.subject_prefix),
        ack_policy: AckPolicy::Explicit,
        ack_wait: FACT_ACK_WAIT,
        max_ack_pending: FACTS_IN_FLIGHT_MAX,
        ..Default::default()
    };
    let mut consumer: jetstream::consumer::PullConsumer = stream
        .get_or_create_consumer(name, config.clone())
        .await
        .map_err(|e| failed(&e))?;
    let found = &consumer.info().await.map_err(|e| failed(&e))?.config;
    if found.ack_wait != config.ack_wait || found.max_ack_pending != config.max_ack_pending {
        // Made by an older build: both settings can be changed in place.
        tracing::info!(
            consumer = name,
            "updating the booking facts consumer's settings"
        );
        consumer = stream
            .update_consumer(config)
            .await
            .map_err(|e| failed(&e))?;
    }
    consumer.messages().await.map_err(|e| failed(&e))
}

/// Hand each fact to its lane; ack it once handled, ask for redelivery if it failed.
async fn consume(mut messages: pull::Stream, lanes: Lanes, mut stopped: watch::Receiver<bool>) {
    loop {
        let message = tokio::select! {
            next = messages.next() => next,
            _ = stopped.changed() => return,
        };
        let message = match message {
            Some(Ok(message)) => message,
            Some(Err(e)) => {
                // Missed heartbeats and reconnects surface here; the stream recovers by itself.
                tracing::warn!(error = %e, "booking facts consumer error");
                tokio::time::sleep(CONSUMER_ERROR_PAUSE).await;
                continue;
            }
            None => return,
        };
        let facts = match ShowFacts::decode_message(&message.payload) {
            Ok(facts) => facts,
            Err(e) => {
                tracing::error!(subject = %message.subject, error = %e, "undecodable booking facts; dropped");
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let mut outcomes = Vec::with_capacity(facts.len());
        for fact in facts {
            let (done, outcome) = oneshot::channel();
            outcomes.push(outcome);
            let job = Job {
                fact,
                done: Some(done),
            };
            if lanes.send(job).await.is_err() {
                return;
            }
        }
        tokio::spawn(async move {
            // One message, one ack: handled when every fact in it is; otherwise all of them come
            // again (the worker takes a fact twice without a second effect).
            let handled = handled_in_time(&message, outcomes).await;
            let kind = if handled {
                AckKind::Ack
            } else {
                AckKind::Nak(Some(FACT_RETRY_DELAY))
            };
            if let Err(e) = message.ack_with(kind).await {
                tracing::warn!(error = %e, "ack of booking facts failed; they will be redelivered");
            }
        });
    }
}

/// Wait until every fact of `message` is handled (true) or one failed, telling JetStream the
/// message is in progress meanwhile so it is not handed to another worker.
async fn handled_in_time(
    message: &jetstream::Message,
    outcomes: Vec<oneshot::Receiver<Result<(), crate::worker::WorkError>>>,
) -> bool {
    let all = futures::future::join_all(outcomes);
    tokio::pin!(all);
    let mut progress = tokio::time::interval(FACT_PROGRESS_EVERY);
    progress.tick().await;
    loop {
        tokio::select! {
            outcomes = &mut all => {
                return outcomes.into_iter().all(|outcome| matches!(outcome, Ok(Ok(()))));
            }
            _ = progress.tick() => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, "progress of booking facts not sent");
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
