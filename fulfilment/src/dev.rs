//! Dev mode wiring: the ticket worker fed by the embedded pipeline's in-process booking facts,
//! the sweep that makes lost facts harmless, and the payments reconciler, all in the
//! `boxoffice dev` process and over files in its data dir.

use std::path::PathBuf;
use std::sync::Arc;

use catalog::Catalog;
use clap::{Args, Parser};
use payments::{FaultArgs, PaymentProvider};
use processors::events::EventHub;
use processors::reader::ShowReader;
use processors::store::ShowStore;
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinHandle;

use crate::config::{ConfigError, FulfilmentConfig};
use crate::desk::Desk;
use crate::issue::Issuer;
use crate::reconcile::Reconciler;
use crate::store::{EmbeddedTicketStore, TICKETS_FILE, TicketStore};
use crate::sweep::Sweeper;
use crate::worker::{Job, Lanes, TicketWorker};
use crate::{StartError, keys};

/// The after-sale settings of `boxoffice dev`: tickets and reconciliation, plus fault injection
/// for its in-process sandbox payment provider.
#[derive(Args, Debug, Clone, Default)]
pub struct DevSettings {
    /// Ticket keys, lanes and periods.
    #[command(flatten)]
    pub fulfilment: FulfilmentConfig,
    /// Faults of the in-process sandbox provider (`BOXOFFICE_PAYMENTS_FAULT_*`).
    #[command(flatten)]
    pub payment_faults: FaultArgs,
}

/// Only for reading [`DevSettings`] from the environment.
#[derive(Parser, Debug)]
struct FromEnv {
    #[command(flatten)]
    settings: DevSettings,
}

impl DevSettings {
    /// The settings given by `BOXOFFICE_*` variables, for embedders without a command line.
    pub fn from_env() -> Result<DevSettings, ConfigError> {
        FromEnv::try_parse_from(["boxoffice"])
            .map(|parsed| parsed.settings)
            .map_err(|e| ConfigError {
                setting: "BOXOFFICE_*",
                reason: e.to_string(),
            })
    }
}

/// What dev mode's after-sale side runs over.
pub struct DevParts<S> {
    /// The data dir (ticket store file, generated ticket keys).
    pub data_dir: PathBuf,
    /// Settings.
    pub config: FulfilmentConfig,
    /// The catalog (what tickets print; the shows to sweep).
    pub catalog: Arc<Catalog>,
    /// The embedded show store (the sweep reads bookings from it).
    pub shows: Arc<S>,
    /// By-id reads of holds and bookings (the reconciler).
    pub reader: Arc<dyn ShowReader>,
    /// The embedded pipeline's event fan-out.
    pub events: EventHub,
    /// The payment provider.
    pub payments: Arc<dyn PaymentProvider>,
}

/// The running after-sale side: the API's desk and the background tasks to abort on shutdown.
#[derive(Debug)]
pub struct Running {
    /// For the API.
    pub desk: Arc<Desk>,
    /// Worker lanes, event feeder, sweeper, reconciler.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Start the ticket worker, sweep and reconciler of dev mode.
pub async fn start<S: ShowStore>(parts: DevParts<S>) -> Result<Running, StartError> {
    parts.config.validate()?;
    let keys = keys::load_or_create(parts.config.ticket_keys.as_deref(), &parts.data_dir)?;
    let store: Arc<dyn TicketStore> = Arc::new(EmbeddedTicketStore::open(
        &parts.data_dir.join(TICKETS_FILE),
    )?);
    let issuer = Issuer::new(keys.clone(), parts.catalog.clone());
    let worker = Arc::new(TicketWorker::new(issuer, store.clone()));
    let (lanes, mut tasks) = Lanes::spawn(worker.clone(), parts.config.lanes());
    let lagged = Arc::new(Notify::new());
    // Subscribe before the first sweep, so no fact falls between the two.
    tasks.push(spawn_feeder(&parts.events, lanes, lagged.clone()));
    let sweeper = Sweeper::new(
        parts.shows.clone(),
        parts.catalog.clone(),
        worker,
        parts.payments.clone(),
    );
    tasks.push(spawn_sweeper(
        sweeper,
        parts.config.sweep_interval(),
        lagged,
    ));
    let reconciler = Arc::new(Reconciler::new(
        parts.payments.clone(),
        parts.reader.clone(),
        store.clone(),
    ));
    tasks.push(reconciler.spawn(parts.config.reconcile_interval()));
    let desk = Arc::new(Desk::new(keys, store, parts.payments));
    Ok(Running { desk, tasks })
}

/// Booking facts from the in-process hub into the lanes; a lag (facts dropped for this
/// subscriber) wakes the sweeper.
fn spawn_feeder(events: &EventHub, lanes: Lanes, lagged: Arc<Notify>) -> JoinHandle<()> {
    let mut facts = events.subscribe_bookings();
    tokio::spawn(async move {
        loop {
            match facts.recv().await {
                Ok(fact) => {
                    let job = Job {
                        fact: (*fact).clone(),
                        done: None,
                    };
                    if lanes.send(job).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(missed)) => {
                    metrics::counter!("boxoffice_ticket_facts_missed_total").increment(missed);
                    tracing::warn!(missed, "ticket worker lagged; sweeping");
                    lagged.notify_one();
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

fn spawn_sweeper<S: ShowStore>(
    sweeper: Sweeper<S>,
    every: std::time::Duration,
    lagged: Arc<Notify>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let report = sweeper.run_once().await;
            if report.issued + report.statuses + report.refunds + report.errors > 0 {
                tracing::info!(?report, "sweep repaired tickets and refunds");
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = lagged.notified() => {}
            }
        }
    })
}
