//! A hot-show move in the middle of the sale, rolled out as an operator would: the show gets a
//! partition of its own in a new `streams.yaml`, `boxoffice provision` applies it, a processor for
//! the new partition starts, one ingress restarts with the new topology, `boxoffice handover`
//! moves the show through its old partition, then the other ingress restarts. The two
//! processors keep the old topology for the rest of the run, so commands reach the old partition
//! after the move and the new one before it, and are forwarded to the show's owner of the moment.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use processors::store::ShowStore;
use processors::topology::{BUILTIN_STREAMS_YAML, PartitionId};
use schemas::ShowId;
use uuid::Uuid;

use crate::fleet::{Fleet, FleetError, Recipe, Role};
use crate::instance::Instance;

/// The partition the moved show gets.
pub const HOT_PARTITION: &str = "hot-a";

/// The processor of the hot partition (the pair are 0 and 1).
pub const HOT_PROCESSOR: Role = Role::Processor(2);

/// What a move needs to know.
#[derive(Clone, Debug)]
pub struct HotMove {
    /// The `boxoffice` binary.
    pub binary: PathBuf,
    /// Where the new `streams.yaml` is written.
    pub streams: PathBuf,
    /// The show to move.
    pub show: ShowId,
}

/// A step of the move failed.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// Writing the new topology.
    #[error("writing {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A `boxoffice` subcommand failed.
    #[error("boxoffice {what} failed: {detail}")]
    Step {
        /// Which subcommand.
        what: &'static str,
        /// Its exit status or why it could not run.
        detail: String,
    },
    /// A process could not be started or restarted.
    #[error(transparent)]
    Fleet(#[from] FleetError),
}

impl HotMove {
    /// The move of `show`, its topology written under `dir`.
    pub fn new(binary: &Path, dir: &Path, show: Uuid) -> HotMove {
        HotMove {
            binary: binary.to_owned(),
            streams: dir.join("streams-hot.yaml"),
            show: ShowId(show),
        }
    }

    /// Write the new topology and provision it.
    pub async fn provision(&self, instance: &Instance) -> Result<(), MoveError> {
        let entry = format!(
            "  hot_shows:\n    - show_id: {}\n      partition: {HOT_PARTITION}",
            self.show
        );
        let text = BUILTIN_STREAMS_YAML.replacen("  hot_shows: []", &entry, 1);
        std::fs::write(&self.streams, text).map_err(|source| MoveError::Write {
            path: self.streams.clone(),
            source,
        })?;
        let args = self.with_services(instance, &["provision"]);
        self.run("provision", args).await
    }

    /// Start the hot partition's processor, with the new topology.
    pub fn start_processor(&self, fleet: &mut Fleet, instance: &Instance) -> Result<(), MoveError> {
        let mut args = self.with_services(
            instance,
            &[
                "processor",
                "--partitions",
                HOT_PARTITION,
                "--metrics-addr",
                "off",
            ],
        );
        args.extend(["--processor-id".into(), "chaos-hot".into()]);
        fleet.start(
            HOT_PROCESSOR,
            Recipe {
                args,
                env: Vec::new(),
            },
        )?;
        Ok(())
    }

    /// Restart `ingress` with the new topology (its recipe keeps it for later restarts).
    pub fn switch_ingress(&self, fleet: &mut Fleet, ingress: Role) -> Result<(), MoveError> {
        let streams = self.streams.to_string_lossy().into_owned();
        fleet.amend(ingress, &["--streams", &streams])?;
        fleet.restart(ingress)?;
        Ok(())
    }

    /// `boxoffice handover`, waiting until the old partition applied it.
    pub async fn hand_over(&self, instance: &Instance) -> Result<(), MoveError> {
        let show = self.show.to_string();
        let args = self.with_services(
            instance,
            &[
                "handover",
                "--show",
                &show,
                "--to",
                HOT_PARTITION,
                "--wait-s",
                "60",
            ],
        );
        self.run("handover", args).await
    }

    /// `handover-applied`: once quiet, the show's fence names the hot partition.
    pub async fn unapplied<S: ShowStore>(&self, store: &S) -> Option<String> {
        let hot = PartitionId(HOT_PARTITION.into());
        let fence = match store.read_fence(self.show).await {
            Ok(found) => found.map(|(fence, _)| fence),
            Err(e) => return Some(format!("VIOLATION handover-applied: fence unreadable: {e}")),
        };
        let named = fence.as_ref().and_then(|f| f.partition.as_ref());
        (named != Some(&hot)).then(|| {
            format!(
                "VIOLATION handover-applied: show {} was handed to {hot}; once quiet its fence is {fence:?}",
                self.show
            )
        })
    }

    fn with_services(&self, instance: &Instance, first: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = first.iter().map(|a| a.to_string()).collect();
        args.extend([
            "--streams".into(),
            self.streams.to_string_lossy().into_owned(),
            "--nats-url".into(),
            instance.nats_url.clone(),
            "--cql-nodes".into(),
            instance.cql_nodes.clone(),
        ]);
        args
    }

    /// Run a `boxoffice` subcommand to its end, off the runtime's threads.
    async fn run(&self, what: &'static str, args: Vec<String>) -> Result<(), MoveError> {
        let binary = self.binary.clone();
        let status = tokio::task::spawn_blocking(move || Command::new(binary).args(args).status())
            .await
            .map_err(|e| MoveError::Step {
                what,
                detail: e.to_string(),
            })?
            .map_err(|e| MoveError::Step {
                what,
                detail: e.to_string(),
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(MoveError::Step {
                what,
                detail: format!("exited {status}"),
            })
        }
    }
}

/// How long an ingress restarted with the new topology may take to be ready.
pub const INGRESS_READY: Duration = Duration::from_secs(60);
