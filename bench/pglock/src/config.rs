//! Command-line arguments (each also read from a `PGLOCK_*` environment variable), and the
//! PostgreSQL connection settings derived from them.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// The PG-LOCK service's settings.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pg-lock",
    version,
    about = "PG-LOCK: the flash-sale benchmark's textbook baseline (seat rows in PostgreSQL behind row locks)"
)]
pub struct Args {
    /// Address to serve HTTP on.
    #[arg(long, env = "PGLOCK_ADDR", default_value = "127.0.0.1:8090")]
    pub addr: SocketAddr,

    /// PostgreSQL URL (`scripts/postgres env` prints the local one).
    #[arg(
        long,
        env = "PGLOCK_DATABASE_URL",
        default_value = "postgres://boxbench:boxbench@127.0.0.1:15432/boxbench",
        hide_env_values = true
    )]
    pub database_url: String,

    /// HS256 secret of the bearer tokens (the same one boxoffice's ingress uses).
    #[arg(long, env = "PGLOCK_AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: String,

    /// Base URL of boxoffice's payments sandbox (`boxoffice payments-sandbox`).
    #[arg(long, env = "PGLOCK_PAYMENTS_URL")]
    pub payments_url: String,

    /// How long a hold keeps its seats, in seconds.
    #[arg(long, env = "PGLOCK_HOLD_TTL", default_value_t = 600,
        value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub hold_ttl: u32,

    /// PostgreSQL connections in the pool (the cluster allows 200).
    #[arg(long, env = "PGLOCK_POOL", default_value_t = 16,
        value_parser = clap::value_parser!(u32).range(1..=190))]
    pub pool: u32,

    /// `synchronous_commit` of every pooled connection: `on` waits for the WAL flush per commit.
    #[arg(long, env = "PGLOCK_SYNCHRONOUS_COMMIT", value_enum, default_value_t = SyncCommit::On)]
    pub synchronous_commit: SyncCommit,
}

/// The two `synchronous_commit` settings the benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncCommit {
    /// Durable: a commit returns after its WAL record is flushed to disk.
    On,
    /// A commit returns before the flush; a crash may lose the last ~0.6 s of commits (never
    /// corrupts them).
    Off,
}

impl SyncCommit {
    /// The setting's spelling in SQL.
    pub fn as_sql(self) -> &'static str {
        match self {
            SyncCommit::On => "on",
            SyncCommit::Off => "off",
        }
    }
}

impl Args {
    /// The connection settings: the URL plus `synchronous_commit` as a startup option, so every
    /// connection the pool opens has it from its first statement (no per-checkout `SET`).
    pub fn pg_config(&self) -> Result<tokio_postgres::Config, tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = self.database_url.parse()?;
        let options = format!(
            "{} -c synchronous_commit={}",
            config.get_options().unwrap_or_default(),
            self.synchronous_commit.as_sql()
        );
        config.options(options.trim_start());
        if config.get_application_name().is_none() {
            config.application_name("pg-lock");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        Ok(config)
    }

    /// The database as it can be logged: user, hosts, ports and name, never the password.
    pub fn database_display(&self) -> String {
        let Ok(config) = self.database_url.parse::<tokio_postgres::Config>() else {
            return "(unparsable URL)".to_owned();
        };
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        format!(
            "postgres://{}@{}:{}/{}",
            config.get_user().unwrap_or("?"),
            hosts.join(","),
            ports.join(","),
            config.get_dbname().unwrap_or("?")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec![
            "pg-lock",
            "--auth-secret",
            "s",
            "--payments-url",
            "http://127.0.0.1:1",
            "--database-url",
            "postgres://u:secret@127.0.0.1:15432/db",
        ];
        argv.extend_from_slice(extra);
        Args::parse_from(argv)
    }

    #[test]
    fn synchronous_commit_becomes_a_startup_option() {
        let config = args(&["--synchronous-commit", "off"]).pg_config().unwrap();
        assert_eq!(config.get_options(), Some("-c synchronous_commit=off"));
        let config = args(&[]).pg_config().unwrap();
        assert_eq!(config.get_options(), Some("-c synchronous_commit=on"));
    }

    #[test]
    fn the_logged_database_has_no_password() {
        let shown = args(&[]).database_display();
        assert_eq!(shown, "postgres://u@127.0.0.1:15432/db");
    }

    #[test]
    fn pool_and_ttl_are_bounded() {
        assert!(
            Args::try_parse_from([
                "pg-lock",
                "--auth-secret",
                "s",
                "--payments-url",
                "x",
                "--pool",
                "0"
            ])
            .is_err()
        );
        assert!(
            Args::try_parse_from([
                "pg-lock",
                "--auth-secret",
                "s",
                "--payments-url",
                "x",
                "--hold-ttl",
                "0"
            ])
            .is_err()
        );
    }
}
