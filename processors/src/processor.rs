//! `boxoffice processor`: one supervisor per partition: acquire the partition's lease, ready its
//! consumer, run the partition loop until stopped or the lease is lost, release, repeat.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::cql::CqlStore;
use crate::jetstream::{JetStreamLog, Lease, NatsEventSink, prepare_consumer};
use crate::log::LogError;
use crate::partition::{LoopError, LoopSettings, PartitionLoop};
use crate::store::StoreError;
use crate::topology::{PartitionId, Topology};

/// What a processor process runs.
#[derive(Clone, Debug)]
pub struct ProcessorConfig {
    /// NATS server URL.
    pub nats_url: String,
    /// CQL contact points, comma separated `host:port`.
    pub cql_nodes: String,
    /// The topology (streams.yaml).
    pub topology: Topology,
    /// Partitions to process; empty means all.
    pub partitions: Vec<PartitionId>,
    /// This process's name in leases (unique per process).
    pub owner: String,
    /// Most shows each loop keeps decoded in memory.
    pub shows_cached_max: usize,
    /// Where the process reads the time (leases, the loops' reading of the log's time).
    pub clock: clock::SharedClock,
}

/// The processor could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// NATS unusable.
    #[error(transparent)]
    Nats(#[from] crate::jetstream::NatsError),
    /// The store unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A partition named on the command line is not in the topology.
    #[error("unknown partition {0:?} (see streams.yaml)")]
    UnknownPartition(String),
}

/// Key of a partition's lease in the bucket.
pub fn lease_key(partition: &PartitionId) -> String {
    format!("partition-{partition}")
}

/// Run every selected partition until `stop` turns true; each loop finishes the batch in hand
/// and releases its lease.
pub async fn run_processor(
    config: ProcessorConfig,
    stop: watch::Receiver<bool>,
) -> Result<(), ProcessorError> {
    let topology = Arc::new(config.topology.clone());
    let all = topology.partitions();
    let partitions = if config.partitions.is_empty() {
        all.clone()
    } else {
        config.partitions.clone()
    };
    if let Some(unknown) = partitions.iter().find(|p| !all.contains(p)) {
        return Err(ProcessorError::UnknownPartition(unknown.0.clone()));
    }
    let client = crate::jetstream::connect(&config.nats_url).await?;
    let js = jetstream::new(client.clone());
    let bucket = js
        .get_key_value(&topology.processor.lease_bucket)
        .await
        .map_err(|e| {
            crate::jetstream::NatsError::JetStream(format!(
                "lease bucket: {e} (run `boxoffice provision`)"
            ))
        })?;
    let store = Arc::new(CqlStore::connect(&config.cql_nodes, &topology.cql.keyspace).await?);
    let sink = Arc::new(NatsEventSink::new(client.clone(), topology.clone()));
    let mut tasks = Vec::new();
    for partition in partitions {
        let supervisor = Supervisor {
            partition,
            client: client.clone(),
            js: js.clone(),
            bucket: bucket.clone(),
            store: store.clone(),
            sink: sink.clone(),
            topology: topology.clone(),
            owner: config.owner.clone(),
            shows_cached_max: config.shows_cached_max,
            clock: config.clock.clone(),
            stop: stop.clone(),
        };
        tasks.push(tokio::spawn(supervisor.run()));
    }
    for task in tasks {
        if let Err(e) = task.await {
            error!(error = %e, "partition supervisor panicked");
        }
    }
    Ok(())
}

struct Supervisor {
    partition: PartitionId,
    client: async_nats::Client,
    js: jetstream::Context,
    bucket: jetstream::kv::Store,
    store: Arc<CqlStore>,
    sink: Arc<NatsEventSink>,
    topology: Arc<Topology>,
    owner: String,
    shows_cached_max: usize,
    clock: clock::SharedClock,
    stop: watch::Receiver<bool>,
}

impl Supervisor {
    async fn run(mut self) {
        let ttl = Duration::from_millis(self.topology.processor.lease_ttl_ms);
        let key = lease_key(&self.partition);
        while !*self.stop.borrow() {
            let lease = match Lease::acquire(
                self.bucket.clone(),
                &key,
                &self.owner,
                ttl,
                self.clock.clone(),
            )
            .await
            {
                Ok(Some(lease)) => lease,
                Ok(None) => {
                    self.pause(ttl / 3).await;
                    continue;
                }
                Err(e) => {
                    warn!(partition = %self.partition, error = %e, "lease check failed");
                    self.pause(ttl / 3).await;
                    continue;
                }
            };
            let result = self.consume_while_held(&lease).await;
            lease.release().await;
            match result {
                Ok(()) => {}
                Err(LoopError::LeaseLost) => {
                    info!(partition = %self.partition, "lease lost; standing by");
                }
                Err(e) => {
                    error!(partition = %self.partition, error = %e, "partition loop failed");
                    self.pause(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Consume under `lease`, starting over from the last acknowledged command after a delivery
    /// lost in transit (the lease stays ours: nothing was written out of order).
    async fn consume_while_held(&self, lease: &Lease) -> Result<(), LoopError> {
        loop {
            match self.consume(lease).await {
                Err(LoopError::Log(gap @ LogError::Gap { .. })) => {
                    warn!(partition = %self.partition, error = %gap,
                        "delivery lost in transit; reading again from the last acknowledged command");
                    crate::metrics::delivery_gap(&self.partition);
                }
                other => return other,
            }
        }
    }

    async fn consume(&self, lease: &Lease) -> Result<(), LoopError> {
        let fatal = |e: crate::jetstream::NatsError| {
            LoopError::Log(crate::log::LogError::Unavailable(e.to_string().into()))
        };
        let consumer = prepare_consumer(&self.js, &self.topology, &self.partition)
            .await
            .map_err(fatal)?;
        let log = JetStreamLog::open(self.client.clone(), self.topology.clone(), &consumer)
            .await
            .map_err(fatal)?;
        let mut settings = LoopSettings::new(self.partition.clone());
        settings.clock = self.clock.clone();
        settings.batch_size_max = self.topology.processor.batch_size_max;
        settings.batch_wait = Duration::from_millis(self.topology.processor.batch_wait_ms);
        settings.linger = Duration::from_millis(self.topology.processor.linger_ms);
        settings.shows_cached_max = self.shows_cached_max;
        let partition_loop = PartitionLoop::new(
            settings,
            lease.ownership(),
            log,
            self.store.clone(),
            self.sink.clone(),
            self.stop.clone(),
        );
        partition_loop.run().await.map(|_| ())
    }

    async fn pause(&mut self, how_long: Duration) {
        let _ = tokio::time::timeout(how_long, self.stop.changed()).await;
    }
}
