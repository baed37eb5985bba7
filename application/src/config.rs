//! Start-up configuration of the modes this crate assembles: one clap-derived struct per mode,
//! each field a flag and a `BOXOFFICE_*` environment variable, validated before the server binds.

use std::path::PathBuf;

use clap::Args;
use ingress::config::{ApiConfig, ConfigError};

fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::invalid(setting, reason)
}

/// `boxoffice dev`: everything in one process over an embedded store under a data dir.
#[derive(Args, Debug, Clone)]
pub struct DevConfig {
    /// HTTP API settings.
    #[command(flatten)]
    pub api: ApiConfig,

    /// Directory holding all embedded state (store, catalog, search index, auth secret); a
    /// restart with the same directory resumes with everything intact.
    #[arg(long, env = "BOXOFFICE_DATA_DIR", default_value = ".data/dev")]
    pub data_dir: PathBuf,

    /// Benchmarks only (REF-MEM in `scripts/bench flash-sale`): keep the pipeline's seat store
    /// in memory, so the run measures the HTTP front and the engine without a durable store.
    /// Holds and bookings are lost when the process exits. Hidden from `--help`.
    #[arg(long, env = "BOXOFFICE_BENCH_REF_MEM", hide = true)]
    pub bench_ref_mem: bool,
}

impl DevConfig {
    /// Check every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.api.validate()?;
        if self.data_dir.as_os_str().is_empty() {
            return Err(invalid("BOXOFFICE_DATA_DIR", "must not be empty"));
        }
        Ok(())
    }
}

/// `boxoffice serve`: the stateless HTTP front over NATS JetStream, ScyllaDB/Cassandra and the
/// payments service.
#[derive(Args, Debug, Clone)]
pub struct ServeConfig {
    /// HTTP API settings.
    #[command(flatten)]
    pub api: ApiConfig,

    /// NATS server URL(s), comma-separated.
    #[arg(
        long,
        env = "BOXOFFICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,

    /// CQL contact points (`host:port`), comma-separated.
    #[arg(
        long,
        env = "BOXOFFICE_CQL_NODES",
        default_value = "127.0.0.1:9042",
        value_delimiter = ','
    )]
    pub cql_nodes: Vec<String>,

    /// streams.yaml: streams, partitions, subjects and the CQL keyspace, shared with the
    /// processors (the built-in topology when unset).
    #[arg(long, env = "BOXOFFICE_STREAMS")]
    pub streams: Option<PathBuf>,

    /// Base URL of the payments service (`boxoffice payments-sandbox` or a real provider bridge).
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub payments_url: String,
}

impl ServeConfig {
    /// Check every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.api.validate()?;
        if self.api.auth_secret.is_none() {
            return Err(invalid(
                "BOXOFFICE_AUTH_SECRET",
                "required in serve mode (every ingress must share it)",
            ));
        }
        if self.cql_nodes.iter().all(|n| n.trim().is_empty()) {
            return Err(invalid("BOXOFFICE_CQL_NODES", "needs at least one node"));
        }
        if self.nats_url.trim().is_empty() {
            return Err(invalid("BOXOFFICE_NATS_URL", "must not be empty"));
        }
        Ok(())
    }
}
