//! Command-line entry points behind `boxoffice processor` and `boxoffice provision` (the binary
//! only parses and calls these).

use std::path::PathBuf;

use tokio::sync::watch;
use tracing::info;

use crate::provision::{ProvisionError, ProvisionReport, ProvisionTarget, provision};
use crate::serve::{ProcessorConfig, ProcessorError, run_processor};
use crate::topology::{PartitionId, Topology, TopologyError};

/// `boxoffice processor`: apply partitions' commands (serve mode).
#[derive(clap::Args, Debug, Clone)]
pub struct ProcessorArgs {
    /// NATS server URL.
    #[arg(
        long,
        env = "BOXOFFICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// CQL contact points, comma separated host:port.
    #[arg(long, env = "BOXOFFICE_CQL_NODES", default_value = "127.0.0.1:9042")]
    pub cql_nodes: String,
    /// Topology file; the built-in streams.yaml when absent.
    #[arg(long, env = "BOXOFFICE_STREAMS")]
    pub streams: Option<PathBuf>,
    /// Partitions to process, comma separated (e.g. `0,1,hot-a`); all when absent.
    #[arg(long, env = "BOXOFFICE_PARTITIONS", value_delimiter = ',')]
    pub partitions: Vec<String>,
    /// This process's name in partition leases; a unique one is made when absent.
    #[arg(long, env = "BOXOFFICE_PROCESSOR_ID")]
    pub processor_id: Option<String>,
    /// Most shows each partition keeps decoded in memory.
    #[arg(long, env = "BOXOFFICE_SHOWS_CACHED_MAX", default_value_t = 1024)]
    pub shows_cached_max: usize,
}

/// `boxoffice provision`: create or update streams, the lease bucket and the CQL schema.
#[derive(clap::Args, Debug, Clone)]
pub struct ProvisionArgs {
    /// NATS server URL.
    #[arg(
        long,
        env = "BOXOFFICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// CQL contact points, comma separated host:port.
    #[arg(long, env = "BOXOFFICE_CQL_NODES", default_value = "127.0.0.1:9042")]
    pub cql_nodes: String,
    /// Topology file; the built-in streams.yaml when absent.
    #[arg(long, env = "BOXOFFICE_STREAMS")]
    pub streams: Option<PathBuf>,
    /// Replication factor of the keyspace (overrides streams.yaml's `cql.replication_factor`).
    #[arg(long, env = "BOXOFFICE_CQL_REPLICATION_FACTOR")]
    pub replication_factor: Option<u32>,
    /// Leave NATS alone.
    #[arg(long)]
    pub skip_nats: bool,
    /// Leave the CQL schema alone.
    #[arg(long)]
    pub skip_cql: bool,
}

/// A command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// streams.yaml unusable.
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// Provisioning failed.
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    /// The processor failed.
    #[error(transparent)]
    Processor(#[from] ProcessorError),
    /// Signal handling could not be installed.
    #[error("signals: {0}")]
    Signals(std::io::Error),
}

fn topology(path: &Option<PathBuf>) -> Result<Topology, TopologyError> {
    match path {
        Some(path) => Topology::load(path),
        None => Ok(Topology::builtin()),
    }
}

/// Run `boxoffice provision`.
pub async fn provision_command(args: ProvisionArgs) -> Result<ProvisionReport, CliError> {
    let mut topology = topology(&args.streams)?;
    if let Some(rf) = args.replication_factor {
        topology.cql.replication_factor = rf;
    }
    let target = ProvisionTarget {
        nats_url: (!args.skip_nats).then_some(args.nats_url),
        cql_nodes: (!args.skip_cql).then_some(args.cql_nodes),
    };
    Ok(provision(&topology, &target).await?)
}

/// Run `boxoffice processor` until SIGTERM or Ctrl-C, then finish the batches in hand and release
/// the leases.
pub async fn processor_command(args: ProcessorArgs) -> Result<(), CliError> {
    let owner = args.processor_id.clone().unwrap_or_else(|| {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        format!("processor-{}-{}", std::process::id(), &tag[..8])
    });
    let config = ProcessorConfig {
        nats_url: args.nats_url,
        cql_nodes: args.cql_nodes,
        topology: topology(&args.streams)?,
        partitions: args.partitions.into_iter().map(PartitionId).collect(),
        owner,
        shows_cached_max: args.shows_cached_max,
    };
    let (stop, stop_rx) = watch::channel(false);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => info!("SIGTERM: finishing the batches in hand"),
            _ = tokio::signal::ctrl_c() => info!("interrupt: finishing the batches in hand"),
        }
        let _ = stop.send(true);
    });
    Ok(run_processor(config, stop_rx).await?)
}
