//! The campaign's own NATS and Cassandra, run by `scripts/services` with the settings in the
//! environment (ports, run dir: see `scripts/chaos`), so they can be killed and restarted without
//! touching anyone else's instance.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One of the two backing services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// nats-server.
    Nats,
    /// Cassandra.
    Cassandra,
}

/// A service that could not be killed or started.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Running `scripts/services` or `kill` failed.
    #[error("{what}")]
    Run {
        /// What was attempted.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `scripts/services up` did not bring the services back.
    #[error("scripts/services up exited {0}")]
    Up(std::process::ExitStatus),
}

/// Where the services run, as `scripts/services` lays it out.
#[derive(Clone, Debug)]
pub struct Instance {
    script: PathBuf,
    run_dir: PathBuf,
    /// `nats://host:port`.
    pub nats_url: String,
    /// `host:port` of the CQL node.
    pub cql_nodes: String,
}

impl Instance {
    /// The instance `scripts/services` (under `root`) manages with the current environment.
    pub fn from_env(root: &Path) -> Instance {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
        let run_dir = PathBuf::from(var(
            "BOXOFFICE_RUN_DIR",
            &root.join(".run").to_string_lossy(),
        ));
        Instance {
            script: root.join("scripts/services"),
            run_dir,
            nats_url: format!("nats://127.0.0.1:{}", var("BOXOFFICE_NATS_PORT", "14222")),
            cql_nodes: format!("127.0.0.1:{}", var("BOXOFFICE_CQL_PORT", "19042")),
        }
    }

    /// Start whatever is not running and wait until both are ready.
    pub fn up(&self) -> Result<(), InstanceError> {
        let status = Command::new(&self.script)
            .arg("up")
            .status()
            .map_err(|source| InstanceError::Run {
                what: format!("{} up", self.script.display()),
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(InstanceError::Up(status))
        }
    }

    /// `kill -9` one service (by the pid file `scripts/services` keeps).
    pub fn kill9(&self, service: Service) -> Result<(), InstanceError> {
        let pid_file = match service {
            Service::Nats => self.run_dir.join("nats/nats-server.pid"),
            Service::Cassandra => self.run_dir.join("cassandra/cassandra.pid"),
        };
        let pid = std::fs::read_to_string(&pid_file).map_err(|source| InstanceError::Run {
            what: format!("read {}", pid_file.display()),
            source,
        })?;
        let pid = pid.trim().to_owned();
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .map_err(|source| InstanceError::Run {
                what: format!("kill -9 {pid}"),
                source,
            })?;
        // Wait until it is gone, so `up` starts a new one rather than finding the old.
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(())
    }
}
