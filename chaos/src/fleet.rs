//! The boxoffice processes of a campaign, each a real child process of the `boxoffice` binary,
//! so a fault is what production sees: `kill -9` (no destructor runs), `SIGSTOP` (a frozen
//! process that still holds its sockets), a restart with the same settings.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One kind of process, and which one of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// `boxoffice processor` (all partitions: either one takes over when the other dies).
    Processor(u8),
    /// `boxoffice serve`, an ingress.
    Serve(u8),
    /// `boxoffice tickets`, the ticket worker and payments reconciler.
    Tickets,
    /// `boxoffice payments-sandbox`, with seeded 5xx and lost answers.
    Payments,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Processor(i) => write!(f, "processor-{i}"),
            Role::Serve(i) => write!(f, "serve-{i}"),
            Role::Tickets => f.write_str("tickets"),
            Role::Payments => f.write_str("payments"),
        }
    }
}

/// How to start one process again: its arguments and environment never change across restarts.
#[derive(Clone, Debug)]
pub struct Recipe {
    /// Arguments after the binary.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

/// A process the fleet could not start or signal.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// Spawning failed.
    #[error("cannot start {role}")]
    Spawn {
        /// Which.
        role: Role,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `kill` failed.
    #[error("cannot send {signal} to {role}")]
    Signal {
        /// Which.
        role: Role,
        /// The signal's name.
        signal: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The role was never started.
    #[error("{0} is not part of the fleet")]
    Unknown(Role),
}

/// Every boxoffice process of the run; dropping it kills them all.
pub struct Fleet {
    binary: PathBuf,
    logs: PathBuf,
    recipes: BTreeMap<Role, Recipe>,
    running: BTreeMap<Role, Child>,
}

impl Fleet {
    /// A fleet of `binary`'s processes writing their logs under `logs`.
    pub fn new(binary: &Path, logs: &Path) -> Fleet {
        Fleet {
            binary: binary.to_owned(),
            logs: logs.to_owned(),
            recipes: BTreeMap::new(),
            running: BTreeMap::new(),
        }
    }

    /// Start `role` from `recipe` (remembered for restarts).
    pub fn start(&mut self, role: Role, recipe: Recipe) -> Result<(), FleetError> {
        self.recipes.insert(role, recipe);
        self.spawn(role)
    }

    fn spawn(&mut self, role: Role) -> Result<(), FleetError> {
        let recipe = self.recipes.get(&role).ok_or(FleetError::Unknown(role))?;
        let spawn = |source| FleetError::Spawn { role, source };
        // Appended across restarts: one log per role tells the whole story of the run.
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.logs.join(format!("{role}.log")))
            .map_err(spawn)?;
        let child = Command::new(&self.binary)
            .args(&recipe.args)
            .envs(recipe.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(spawn)?)
            .stderr(log)
            .spawn()
            .map_err(spawn)?;
        self.running.insert(role, child);
        Ok(())
    }

    /// `kill -9` `role` and reap it.
    pub fn kill9(&mut self, role: Role) -> Result<(), FleetError> {
        let mut child = self
            .running
            .remove(&role)
            .ok_or(FleetError::Unknown(role))?;
        child.kill().map_err(|source| FleetError::Signal {
            role,
            signal: "SIGKILL",
            source,
        })?;
        let _ = child.wait();
        Ok(())
    }

    /// Add `args` to `role`'s recipe: they apply from its next (re)start on.
    pub fn amend(&mut self, role: Role, args: &[&str]) -> Result<(), FleetError> {
        let recipe = self
            .recipes
            .get_mut(&role)
            .ok_or(FleetError::Unknown(role))?;
        recipe.args.extend(args.iter().map(|a| a.to_string()));
        Ok(())
    }

    /// Start `role` again with its recipe.
    pub fn restart(&mut self, role: Role) -> Result<(), FleetError> {
        if self.running.contains_key(&role) {
            self.kill9(role)?;
        }
        self.spawn(role)
    }

    /// Freeze (`SIGSTOP`) or thaw (`SIGCONT`) `role`.
    pub fn signal(&self, role: Role, signal: &'static str) -> Result<(), FleetError> {
        let child = self.running.get(&role).ok_or(FleetError::Unknown(role))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .map_err(|source| FleetError::Signal {
                role,
                signal,
                source,
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(FleetError::Signal {
                role,
                signal,
                source: std::io::Error::other(format!("kill exited {status}")),
            })
        }
    }

    /// Roles that died on their own (not by a fault): the campaign restarts them and says so.
    pub fn exited(&mut self) -> Vec<Role> {
        let mut dead = Vec::new();
        for (role, child) in &mut self.running {
            if let Ok(Some(_)) = child.try_wait() {
                dead.push(*role);
            }
        }
        dead
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for child in self.running.values_mut() {
            // A frozen child must be thawed to die cleanly when it is not killed outright.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Poll `url` until it answers 200, up to `limit`.
pub async fn wait_ready(http: &reqwest::Client, url: &str, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if let Ok(r) = http.get(url).send().await
            && r.status().is_success()
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
