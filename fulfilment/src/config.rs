//! Settings of the after-sale parts, as flags and `BOXOFFICE_*` variables. `boxoffice dev`,
//! `boxoffice serve` and `boxoffice tickets` flatten [`FulfilmentConfig`]; `boxoffice tickets`
//! adds the service addresses in [`TicketsArgs`].

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser};

/// Ticket keys, worker lanes and reconciliation periods.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct FulfilmentConfig {
    /// Ticket signing keys, `"k2:<base64>,k1:<base64>"`: the first signs new tickets, every one
    /// verifies (rotation: put a new key first, keep the old ones after it). When unset,
    /// `boxoffice dev` generates one and keeps it in the data dir, and serve mode derives one
    /// (id `a1`) from BOXOFFICE_AUTH_SECRET.
    #[arg(long, env = "BOXOFFICE_TICKET_KEYS", hide_env_values = true)]
    pub ticket_keys: Option<String>,

    /// Ticket worker lanes rendering in parallel (one show's facts always use the same lane, in
    /// order); 0 means one per CPU.
    #[arg(long, env = "BOXOFFICE_TICKET_WORKERS", default_value_t = 0)]
    pub ticket_workers: usize,

    /// Seconds between runs of the payments reconciler (it also runs at start).
    #[arg(
        long = "reconcile-interval",
        env = "BOXOFFICE_RECONCILE_INTERVAL",
        default_value_t = 30
    )]
    pub reconcile_interval_s: u64,

    /// Seconds between sweeps of the source of truth for tickets and refunds that a crash or a
    /// lagging event subscriber missed (dev mode; serve mode's durable consumer needs none). It
    /// also runs at start.
    #[arg(
        long = "sweep-interval",
        env = "BOXOFFICE_SWEEP_INTERVAL",
        default_value_t = 300
    )]
    pub sweep_interval_s: u64,
}

impl Default for FulfilmentConfig {
    fn default() -> Self {
        FulfilmentConfig {
            ticket_keys: None,
            ticket_workers: 0,
            reconcile_interval_s: 30,
            sweep_interval_s: 300,
        }
    }
}

/// A setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    /// The environment variable naming the setting.
    pub setting: &'static str,
    /// Why it cannot work.
    pub reason: String,
}

/// Only for reading [`FulfilmentConfig`] from the environment.
#[derive(Parser, Debug)]
struct FromEnv {
    #[command(flatten)]
    config: FulfilmentConfig,
}

impl FulfilmentConfig {
    /// The settings given by `BOXOFFICE_*` variables (defaults elsewhere), for embedders that
    /// start a mode without a command line.
    pub fn from_env() -> Result<FulfilmentConfig, ConfigError> {
        FromEnv::try_parse_from(["boxoffice"])
            .map(|parsed| parsed.config)
            .map_err(|e| ConfigError {
                setting: "BOXOFFICE_TICKET_*",
                reason: e.to_string(),
            })
    }

    /// Check every setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.reconcile_interval_s == 0 {
            return Err(ConfigError {
                setting: "BOXOFFICE_RECONCILE_INTERVAL",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.sweep_interval_s == 0 {
            return Err(ConfigError {
                setting: "BOXOFFICE_SWEEP_INTERVAL",
                reason: "must be at least 1 second".into(),
            });
        }
        if self.ticket_workers > 256 {
            return Err(ConfigError {
                setting: "BOXOFFICE_TICKET_WORKERS",
                reason: "must be at most 256".into(),
            });
        }
        Ok(())
    }

    /// Lanes to run: the setting, or one per CPU.
    pub fn lanes(&self) -> usize {
        if self.ticket_workers > 0 {
            return self.ticket_workers;
        }
        std::thread::available_parallelism().map_or(2, |n| n.get())
    }

    /// Reconciler period.
    pub fn reconcile_interval(&self) -> Duration {
        Duration::from_secs(self.reconcile_interval_s)
    }

    /// Sweep period.
    pub fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_s)
    }
}

/// `boxoffice tickets`: the serve-mode ticket worker and payments reconciler.
#[derive(Args, Debug, Clone)]
pub struct TicketsArgs {
    /// NATS server URL(s), comma-separated.
    #[arg(
        long,
        env = "BOXOFFICE_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,

    /// CQL contact points (`host:port`), comma-separated.
    #[arg(long, env = "BOXOFFICE_CQL_NODES", default_value = "127.0.0.1:9042")]
    pub cql_nodes: String,

    /// streams.yaml shared with the processors and the ingress (the built-in one when unset).
    #[arg(long, env = "BOXOFFICE_STREAMS")]
    pub streams: Option<PathBuf>,

    /// Base URL of the payments service.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_URL",
        default_value = "http://127.0.0.1:8090"
    )]
    pub payments_url: String,

    /// HS256 secret of the API; used only to derive the ticket key when `BOXOFFICE_TICKET_KEYS`
    /// is unset, exactly as `boxoffice serve` does.
    #[arg(long, env = "BOXOFFICE_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<String>,

    /// Name of the durable JetStream consumer (every `boxoffice tickets` process of one
    /// deployment shares it, so each booking fact is handled by one of them).
    #[arg(long, env = "BOXOFFICE_TICKETS_CONSUMER", default_value = "tickets")]
    pub consumer: String,

    /// Ticket keys, lanes and periods.
    #[command(flatten)]
    pub fulfilment: FulfilmentConfig,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        tickets: TicketsArgs,
    }

    #[test]
    fn defaults_parse_and_validate() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.tickets.fulfilment, FulfilmentConfig::default());
        cli.tickets.fulfilment.validate().unwrap();
        assert!(cli.tickets.fulfilment.lanes() >= 1);
    }

    #[test]
    fn unusable_periods_are_refused() {
        let cli = Cli::try_parse_from(["x", "--reconcile-interval", "0"]).unwrap();
        assert!(cli.tickets.fulfilment.validate().is_err());
        let cli = Cli::try_parse_from(["x", "--ticket-workers", "3"]).unwrap();
        assert_eq!(cli.tickets.fulfilment.lanes(), 3);
    }
}
