//! Command-line entry points behind `boxoffice processor` and `boxoffice provision` (the binary
//! only parses and calls these).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use crate::handover::{HandoverError, Requested, await_handover, request_handover};
use crate::metrics::{Exporter, LAG_POLL_INTERVAL, MetricsError, serve_exporter, watch_lag};
use crate::processor::{ProcessorConfig, ProcessorError, run_processor};
use crate::provision::{ProvisionError, ProvisionReport, ProvisionTarget, provision};
use crate::topology::{PartitionId, Topology, TopologyError};

/// Where serve mode's backing services are and the topology they are laid out by: the flags
/// every serve-mode subcommand of this crate takes.
#[derive(clap::Args, Debug, Clone)]
pub struct ServiceArgs {
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
}

/// `boxoffice processor`: apply partitions' commands (serve mode).
#[derive(clap::Args, Debug, Clone)]
pub struct ProcessorArgs {
    /// NATS, the CQL store and the topology.
    #[command(flatten)]
    pub services: ServiceArgs,
    /// Partitions to process, comma separated (e.g. `0,1,hot-a`); all when absent.
    #[arg(long, env = "BOXOFFICE_PARTITIONS", value_delimiter = ',')]
    pub partitions: Vec<String>,
    /// This process's name in partition leases, unique per process (a process takes back at once
    /// a lease it gave up that still names it); a unique one is made when absent.
    #[arg(long, env = "BOXOFFICE_PROCESSOR_ID")]
    pub processor_id: Option<String>,
    /// Most shows each partition keeps decoded in memory.
    #[arg(long, env = "BOXOFFICE_SHOWS_CACHED_MAX", default_value_t = 1024)]
    pub shows_cached_max: usize,
    /// Serve Prometheus metrics at `http://<addr>/metrics`: `ip:port` (port 0 picks a free one,
    /// logged), or `off`. Give each processor on a host its own.
    #[arg(long, env = "BOXOFFICE_METRICS_ADDR", default_value = DEFAULT_METRICS_ADDR)]
    pub metrics_addr: MetricsAddr,
}

/// Where `boxoffice processor` serves `/metrics` unless told otherwise: loopback only, so
/// nothing is exposed beyond the host by default.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// Where a processor serves its metrics: an address, or nowhere (`off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<SocketAddr>);

impl FromStr for MetricsAddr {
    type Err = String;

    fn from_str(text: &str) -> Result<MetricsAddr, String> {
        match text.trim() {
            "off" => Ok(MetricsAddr(None)),
            addr => addr
                .parse()
                .map(|addr| MetricsAddr(Some(addr)))
                .map_err(|e| {
                    format!("{addr:?}: {e} (expected ip:port, e.g. 127.0.0.1:9464, or off)")
                }),
        }
    }
}

/// `boxoffice provision`: create or update streams, the lease bucket and the CQL schema.
#[derive(clap::Args, Debug, Clone)]
pub struct ProvisionArgs {
    /// NATS, the CQL store and the topology.
    #[command(flatten)]
    pub services: ServiceArgs,
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

/// `boxoffice handover`: move a show's commands to another partition (serve mode).
#[derive(clap::Args, Debug, Clone)]
pub struct HandoverArgs {
    /// NATS, the CQL store and the topology.
    #[command(flatten)]
    pub services: ServiceArgs,
    /// The show to move.
    #[arg(long)]
    pub show: uuid::Uuid,
    /// The partition that applies its commands from now on: a hashed partition's index or a
    /// hot show's label.
    #[arg(long)]
    pub to: String,
    /// How long to wait for the show's current partition to apply the handover, in seconds
    /// (0: do not wait).
    #[arg(long, default_value_t = 30)]
    pub wait_s: u64,
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
    /// The metrics endpoint could not start.
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Signal handling could not be installed.
    #[error("signals: {0}")]
    Signals(std::io::Error),
    /// A handover could not be requested or was not applied.
    #[error(transparent)]
    Handover(#[from] HandoverError),
    /// A backing service could not be reached.
    #[error("connecting to {what}: {source}")]
    Connect {
        /// Which service.
        what: &'static str,
        /// Why.
        source: crate::Cause,
    },
}

impl ServiceArgs {
    /// The topology file given, or the built-in one.
    fn topology(&self) -> Result<Topology, TopologyError> {
        match &self.streams {
            Some(path) => Topology::load(path),
            None => Ok(Topology::builtin()),
        }
    }
}

/// Run `boxoffice provision`.
pub async fn provision_command(args: ProvisionArgs) -> Result<ProvisionReport, CliError> {
    let mut topology = args.services.topology()?;
    if let Some(rf) = args.replication_factor {
        topology.cql.replication_factor = rf;
    }
    let target = ProvisionTarget {
        nats_url: (!args.skip_nats).then_some(args.services.nats_url),
        cql_nodes: (!args.skip_cql).then_some(args.services.cql_nodes),
    };
    Ok(provision(&topology, &target).await?)
}

/// Run `boxoffice handover`: log the request in the show's partition and, unless told not to,
/// wait until it is applied. Returns what happened, for the operator.
pub async fn handover_command(args: HandoverArgs) -> Result<String, CliError> {
    let services = &args.services;
    let topology = services.topology()?;
    let to = PartitionId(args.to.clone());
    let show = schemas::ShowId(args.show);
    let connect = |what| {
        move |e: &dyn std::fmt::Display| CliError::Connect {
            what,
            source: e.to_string().into(),
        }
    };
    let store = crate::cql::CqlStore::connect(&services.cql_nodes, &topology.cql.keyspace)
        .await
        .map_err(|e| connect("CQL")(&e))?;
    let client = crate::jetstream::connect(&services.nats_url)
        .await
        .map_err(|e| connect("NATS")(&e))?;
    let js = async_nats::jetstream::new(client);
    let from = match request_handover(&js, &topology, &store, show, &to).await? {
        Requested::AlreadyThere => return Ok(format!("show {show} is in partition {to} already")),
        Requested::Logged { from } => from,
    };
    if args.wait_s == 0 {
        return Ok(format!(
            "handover of show {show} from {from} to {to} logged"
        ));
    }
    let wait = std::time::Duration::from_secs(args.wait_s);
    await_handover(&store, show, &to, wait).await?;
    Ok(format!("show {show} moved from partition {from} to {to}"))
}

/// Serve mode's processor with its telemetry: the partition loops ([`run_processor`]) and, when
/// metrics are on, the `/metrics` endpoint and the consumer-lag watcher beside them.
#[derive(Debug)]
pub struct ProcessorProcess {
    config: ProcessorConfig,
    stop: watch::Receiver<bool>,
    exporter: Option<Exporter>,
    lag: Option<JoinHandle<()>>,
}

impl ProcessorProcess {
    /// Bind the metrics endpoint (when `metrics` is an address) and start watching the lag of
    /// `config`'s partitions; [`ProcessorProcess::run`] then runs the loops until `stop`.
    pub async fn start(
        config: ProcessorConfig,
        metrics: MetricsAddr,
        stop: watch::Receiver<bool>,
    ) -> Result<ProcessorProcess, CliError> {
        let mut process = ProcessorProcess {
            config,
            stop,
            exporter: None,
            lag: None,
        };
        let Some(addr) = metrics.0 else {
            return Ok(process);
        };
        let exporter = serve_exporter(addr).await?;
        info!("metrics at http://{}/metrics", exporter.local_addr());
        process.exporter = Some(exporter);
        let client = crate::jetstream::connect(&process.config.nats_url)
            .await
            .map_err(ProcessorError::from)?;
        let topology = Arc::new(process.config.topology.clone());
        let partitions = if process.config.partitions.is_empty() {
            topology.partitions()
        } else {
            process.config.partitions.clone()
        };
        process.lag = Some(tokio::spawn(watch_lag(
            client,
            topology,
            partitions,
            LAG_POLL_INTERVAL,
        )));
        Ok(process)
    }

    /// The metrics endpoint's address, when metrics are on.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.exporter.as_ref().map(Exporter::local_addr)
    }

    /// Run the partition loops until `stop` turns true (each finishes its batch in hand and
    /// releases its lease); the metrics endpoint closes with them, before this returns.
    pub async fn run(mut self) -> Result<(), CliError> {
        let ran = run_processor(self.config.clone(), self.stop.clone()).await;
        if let Some(exporter) = self.exporter.take() {
            exporter.stop().await;
        }
        Ok(ran?)
    }
}

impl Drop for ProcessorProcess {
    fn drop(&mut self) {
        if let Some(lag) = &self.lag {
            lag.abort();
        }
    }
}

/// Run `boxoffice processor` until SIGTERM or Ctrl-C, then finish the batches in hand and release
/// the leases.
pub async fn processor_command(args: ProcessorArgs) -> Result<(), CliError> {
    let owner = args.processor_id.clone().unwrap_or_else(|| {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        format!("processor-{}-{}", std::process::id(), &tag[..8])
    });
    let config = ProcessorConfig {
        topology: args.services.topology()?,
        nats_url: args.services.nats_url,
        cql_nodes: args.services.cql_nodes,
        partitions: args.partitions.into_iter().map(PartitionId).collect(),
        owner,
        shows_cached_max: args.shows_cached_max,
        clock: clock::system(),
    };
    let (stop, stop_rx) = watch::channel(false);
    let process = ProcessorProcess::start(config, args.metrics_addr, stop_rx).await?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::Signals)?;
    tokio::spawn(async move {
        tokio::select! {
            _ = terminate.recv() => info!("SIGTERM: finishing the batches in hand"),
            _ = tokio::signal::ctrl_c() => info!("interrupt: finishing the batches in hand"),
        }
        let _ = stop.send(true);
    });
    process.run().await
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        args: ProcessorArgs,
    }

    fn metrics_addr(argv: &[&str]) -> Result<MetricsAddr, clap::Error> {
        let argv = std::iter::once("processor").chain(argv.iter().copied());
        Command::try_parse_from(argv).map(|c| c.args.metrics_addr)
    }

    #[test]
    fn metrics_are_served_on_loopback_unless_turned_off() {
        let default = metrics_addr(&[]).unwrap();
        assert_eq!(
            default,
            MetricsAddr(Some("127.0.0.1:9464".parse().unwrap()))
        );
        let chosen = metrics_addr(&["--metrics-addr", "0.0.0.0:9500"]).unwrap();
        assert_eq!(chosen, MetricsAddr(Some("0.0.0.0:9500".parse().unwrap())));
        assert_eq!(
            metrics_addr(&["--metrics-addr", "off"]).unwrap(),
            MetricsAddr(None)
        );
        let wrong = metrics_addr(&["--metrics-addr", "localhost"]).unwrap_err();
        assert!(wrong.to_string().contains("expected ip:port"), "{wrong}");
    }
}
