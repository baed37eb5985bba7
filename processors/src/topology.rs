//! `streams.yaml`: the declared topology of streams, partitions, processor settings and the CQL
//! keyspace. `boxoffice provision` applies it; processors and the ingress read it to agree on
//! subjects and partitions.
//!
//! Commands are published on `<prefix>.<showId>`; the stream's subject transform stores them as
//! `<prefix>.<partition>.<showId>` with `{{partition(N,1)}}`, so the stream is the single
//! authority on partitioning. A hot show listed under `hot_shows` is published straight to
//! `<prefix>.<label>.<showId>` and gets a partition (and a consumer) of its own.

use std::path::Path;

use schemas::ShowId;
use serde::Deserialize;
use uuid::Uuid;

/// The topology shipped with this build (the repository's `streams.yaml`).
pub const BUILTIN_STREAMS_YAML: &str = include_str!("../../streams.yaml");

/// `streams.yaml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid YAML for the schema: the message names the key and its line.
    #[error("{0}")]
    Parse(String),
    /// Parsed, but a value is unusable.
    #[error("invalid topology: {0}")]
    Invalid(String),
}

/// Where a stream keeps its messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Storage {
    /// On disk (survives a server restart).
    #[default]
    File,
    /// In memory.
    Memory,
}

/// The whole declared topology.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The partitioned booking command stream.
    pub commands: CommandStream,
    /// Seat deltas for live seat maps (`<prefix>.<showId>`).
    pub seat_events: EventStream,
    /// Booking facts for tickets, payments and read models (`<prefix>.<showId>`).
    pub booking_events: EventStream,
    /// How processors consume and lease partitions.
    pub processor: ProcessorSettings,
    /// The CQL keyspace holding show state.
    pub cql: CqlSettings,
    /// The waiting rooms' log (joins, admissions, uses), shared by every ingress. Absent: the
    /// defaults of [`WaitingRoomStream`].
    #[serde(default)]
    pub waiting_room: WaitingRoomStream,
}

/// The waiting-room stream: `<subject_prefix>.<showId>.join|used|control`, followed whole by
/// every ingress. Names default to the command stream's with a suffix, so a topology that renames
/// its command stream (a test's, another deployment's) gets waiting rooms of its own.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomStream {
    /// JetStream stream name; absent: `<commands.stream>_WAITING_ROOM`.
    #[serde(default)]
    pub stream: Option<String>,
    /// First subject token; absent: `<commands.subject_prefix>_waitroom`.
    #[serde(default)]
    pub subject_prefix: Option<String>,
    /// Stream replicas; absent: the command stream's.
    #[serde(default)]
    pub replicas: Option<usize>,
    /// Messages older than this are dropped, in seconds (a queue older than this is long over).
    #[serde(default = "WaitingRoomStream::default_max_age_s")]
    pub max_age_s: u64,
    /// Window in which a repeated `Nats-Msg-Id` is dropped, in seconds.
    #[serde(default = "WaitingRoomStream::default_duplicate_window_s")]
    pub duplicate_window_s: u64,
    /// Where messages are kept.
    #[serde(default)]
    pub storage: Storage,
}

impl WaitingRoomStream {
    fn default_max_age_s() -> u64 {
        90 * 86_400
    }

    fn default_duplicate_window_s() -> u64 {
        120
    }
}

impl Default for WaitingRoomStream {
    fn default() -> Self {
        WaitingRoomStream {
            stream: None,
            subject_prefix: None,
            replicas: None,
            max_age_s: WaitingRoomStream::default_max_age_s(),
            duplicate_window_s: WaitingRoomStream::default_duplicate_window_s(),
            storage: Storage::File,
        }
    }
}

/// The command stream and its partitioning.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandStream {
    /// JetStream stream name.
    pub stream: String,
    /// First subject token (`cmd`).
    pub subject_prefix: String,
    /// Number of hashed partitions.
    pub partitions: u16,
    /// Stream replicas (1 or 3 on a cluster).
    pub replicas: usize,
    /// Messages older than this are dropped, in seconds.
    pub max_age_s: u64,
    /// Window in which a repeated `Nats-Msg-Id` is dropped, in seconds.
    pub duplicate_window_s: u64,
    /// Where messages are kept.
    pub storage: Storage,
    /// Shows that get a partition of their own.
    #[serde(default)]
    pub hot_shows: Vec<HotShow>,
}

/// A show with a dedicated partition.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotShow {
    /// The show.
    pub show_id: Uuid,
    /// Partition label: lowercase letters, digits and `-`, starting with a letter.
    pub partition: String,
}

/// An event stream.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStream {
    /// JetStream stream name.
    pub stream: String,
    /// First subject token.
    pub subject_prefix: String,
    /// Stream replicas.
    pub replicas: usize,
    /// Messages older than this are dropped, in seconds.
    pub max_age_s: u64,
    /// Window in which a repeated `Nats-Msg-Id` is dropped, in seconds.
    pub duplicate_window_s: u64,
    /// Where messages are kept.
    pub storage: Storage,
}

/// Processor behaviour.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorSettings {
    /// Durable consumer names are `<prefix>-<partition>`.
    pub consumer_prefix: String,
    /// Priority group the pinned client pulls in.
    pub priority_group: String,
    /// Most commands decided per loop iteration (and per conditional batch of one show).
    pub batch_size_max: usize,
    /// How long an iteration waits for its first command, in milliseconds.
    pub batch_wait_ms: u64,
    /// How long a busy loop lingers for more commands when a batch came back small, in
    /// milliseconds (0: never). See [`crate::partition::LoopSettings::linger`].
    #[serde(default)]
    pub linger_ms: u64,
    /// Redelivery delay for unacknowledged commands, in seconds.
    pub ack_wait_s: u64,
    /// A pinned client that stops pulling for this long loses its pin, in milliseconds.
    pub pin_timeout_ms: u64,
    /// KV bucket holding one lease per partition.
    pub lease_bucket: String,
    /// A lease not renewed for this long may be taken over, in milliseconds.
    pub lease_ttl_ms: u64,
}

/// CQL keyspace settings.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CqlSettings {
    /// Keyspace name.
    pub keyspace: String,
    /// Replication factor (1 on a single node).
    pub replication_factor: u32,
}

/// A partition's name: a decimal index for hashed partitions, a label for a hot show's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionId(pub String);

impl std::fmt::Display for PartitionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Topology {
    /// The topology shipped with this build.
    pub fn builtin() -> Topology {
        Topology::from_yaml(BUILTIN_STREAMS_YAML).expect("the shipped streams.yaml is valid")
    }

    /// Read and validate a `streams.yaml` file.
    pub fn load(path: &Path) -> Result<Topology, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Topology::from_yaml(&text)
    }

    /// Parse and validate YAML text. Unknown keys are refused with their name and line.
    pub fn from_yaml(text: &str) -> Result<Topology, TopologyError> {
        let topology: Topology =
            serde_saphyr::from_str(text).map_err(|e| TopologyError::Parse(e.to_string()))?;
        topology.validate()?;
        Ok(topology)
    }

    fn validate(&self) -> Result<(), TopologyError> {
        let invalid = |m: String| Err(TopologyError::Invalid(m));
        let c = &self.commands;
        if c.partitions == 0 {
            return invalid("commands.partitions must be at least 1".into());
        }
        for (what, name) in [
            ("commands.stream", &c.stream),
            ("seat_events.stream", &self.seat_events.stream),
            ("booking_events.stream", &self.booking_events.stream),
            ("commands.subject_prefix", &c.subject_prefix),
            (
                "seat_events.subject_prefix",
                &self.seat_events.subject_prefix,
            ),
            (
                "booking_events.subject_prefix",
                &self.booking_events.subject_prefix,
            ),
            ("processor.consumer_prefix", &self.processor.consumer_prefix),
            ("processor.lease_bucket", &self.processor.lease_bucket),
            ("processor.priority_group", &self.processor.priority_group),
            ("waiting_room.stream", &self.waiting_room_stream()),
            (
                "waiting_room.subject_prefix",
                &self.waiting_room_subject_prefix(),
            ),
        ] {
            if !is_token(name) {
                return invalid(format!(
                    "{what} {name:?} must be letters, digits, '-' or '_'"
                ));
            }
        }
        let mut labels = std::collections::BTreeSet::new();
        let mut shows = std::collections::BTreeSet::new();
        for hot in &c.hot_shows {
            let label = &hot.partition;
            let starts_with_letter = label
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_lowercase());
            if !starts_with_letter
                || !label
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
            {
                return invalid(format!(
                    "hot show partition {label:?} must start with a lowercase letter and use a-z, 0-9, '-'"
                ));
            }
            if !labels.insert(label.clone()) {
                return invalid(format!("hot show partition {label:?} is used twice"));
            }
            if !shows.insert(hot.show_id) {
                return invalid(format!(
                    "show {} is listed twice under hot_shows",
                    hot.show_id
                ));
            }
        }
        if self.processor.batch_size_max == 0 {
            return invalid("processor.batch_size_max must be at least 1".into());
        }
        if self.processor.lease_ttl_ms < 500 {
            return invalid("processor.lease_ttl_ms must be at least 500".into());
        }
        if self.cql.replication_factor == 0 {
            return invalid("cql.replication_factor must be at least 1".into());
        }
        if !self
            .cql
            .keyspace
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            || self.cql.keyspace.is_empty()
        {
            return invalid(format!(
                "cql.keyspace {:?} must be letters, digits or '_'",
                self.cql.keyspace
            ));
        }
        Ok(())
    }

    /// The waiting-room stream's name.
    pub fn waiting_room_stream(&self) -> String {
        self.waiting_room
            .stream
            .clone()
            .unwrap_or_else(|| format!("{}_WAITING_ROOM", self.commands.stream))
    }

    /// The waiting-room stream's first subject token.
    pub fn waiting_room_subject_prefix(&self) -> String {
        self.waiting_room
            .subject_prefix
            .clone()
            .unwrap_or_else(|| format!("{}_waitroom", self.commands.subject_prefix))
    }

    /// The waiting-room stream's replicas.
    pub fn waiting_room_replicas(&self) -> usize {
        self.waiting_room.replicas.unwrap_or(self.commands.replicas)
    }

    /// Every partition: the hashed ones (`"0"`..), then the hot shows' own.
    pub fn partitions(&self) -> Vec<PartitionId> {
        let hashed = (0..self.commands.partitions).map(|i| PartitionId(i.to_string()));
        let hot = self
            .commands
            .hot_shows
            .iter()
            .map(|h| PartitionId(h.partition.clone()));
        hashed.chain(hot).collect()
    }

    /// The partition that applies `show`'s commands.
    pub fn partition_of(&self, show: ShowId) -> PartitionId {
        match self.hot_partition(show) {
            Some(label) => PartitionId(label.to_string()),
            None => PartitionId(partition_index(show, self.commands.partitions).to_string()),
        }
    }

    fn hot_partition(&self, show: ShowId) -> Option<&str> {
        let hot = self.commands.hot_shows.iter();
        hot.filter(|h| h.show_id == show.0)
            .map(|h| h.partition.as_str())
            .next()
    }

    /// The subject a command for `show` is published on.
    pub fn command_subject(&self, show: ShowId) -> String {
        let prefix = &self.commands.subject_prefix;
        match self.hot_partition(show) {
            Some(label) => format!("{prefix}.{label}.{show}"),
            None => format!("{prefix}.{show}"),
        }
    }

    /// The subject that stores a command for `show` straight in `partition`, whatever the
    /// show hashes to: a forwarded command, or a handover request for the show's owner.
    pub fn partition_subject(&self, partition: &PartitionId, show: ShowId) -> String {
        format!("{}.{partition}.{show}", self.commands.subject_prefix)
    }

    /// Subjects the command stream captures: `<prefix>.<showId>`, partitioned by the stream's
    /// transform, and `<prefix>.<partition>.<showId>` for any partition, so a hot show's
    /// partition, a forwarded command or a handover needs no change to the stream.
    pub fn command_stream_subjects(&self) -> Vec<String> {
        let prefix = &self.commands.subject_prefix;
        vec![format!("{prefix}.*"), format!("{prefix}.*.*")]
    }

    /// The stream transform `(source, destination)` that partitions hashed shows.
    pub fn command_transform(&self) -> (String, String) {
        let prefix = &self.commands.subject_prefix;
        let n = self.commands.partitions;
        (
            format!("{prefix}.*"),
            format!("{prefix}.{{{{partition({n},1)}}}}.{{{{wildcard(1)}}}}"),
        )
    }

    /// The filter subject of a partition's consumer.
    pub fn partition_filter(&self, partition: &PartitionId) -> String {
        format!("{}.{}.*", self.commands.subject_prefix, partition.0)
    }

    /// The durable consumer name of a partition.
    pub fn consumer_name(&self, partition: &PartitionId) -> String {
        format!("{}-{}", self.processor.consumer_prefix, partition.0)
    }

    /// Subject of a show's seat deltas.
    pub fn seat_subject(&self, show: ShowId) -> String {
        format!("{}.{show}", self.seat_events.subject_prefix)
    }

    /// Subject of a show's booking facts.
    pub fn booking_subject(&self, show: ShowId) -> String {
        format!("{}.{show}", self.booking_events.subject_prefix)
    }
}

/// Subject-token-safe name.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
}

/// The hashed partition of a show, computed exactly as the NATS server's `{{partition(n,1)}}`
/// transform does (FNV-1a, 32 bit, over the subject token), so dev mode, metrics and tests agree
/// with the stream.
pub fn partition_index(show: ShowId, partitions: u16) -> u16 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in show.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash % u32::from(partitions.max(1))) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_streams_yaml_is_valid() {
        let t = Topology::builtin();
        assert!(t.commands.partitions >= 1);
        assert_eq!(
            t.partitions().len(),
            usize::from(t.commands.partitions) + t.commands.hot_shows.len()
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_name_and_line() {
        let text =
            BUILTIN_STREAMS_YAML.replacen("  partitions:", "  partitons_typo: 3\n  partitions:", 1);
        let err = Topology::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains("partitons_typo"), "{err}");
        let line = text
            .lines()
            .position(|l| l.contains("partitons_typo"))
            .unwrap()
            + 1;
        assert!(err.contains(&format!("line {line}")), "{err}");
    }

    #[test]
    fn hot_shows_get_their_own_partition_and_subject() {
        let show = ShowId(Uuid::from_u128(42));
        let text = BUILTIN_STREAMS_YAML.replacen(
            "  hot_shows: []",
            &format!(
                "  hot_shows:\n    - show_id: {}\n      partition: hot-a",
                show.0
            ),
            1,
        );
        let t = Topology::from_yaml(&text).unwrap();
        assert_eq!(t.partition_of(show), PartitionId("hot-a".into()));
        assert_eq!(t.command_subject(show), format!("cmd.hot-a.{show}"));
        assert!(t.partitions().contains(&PartitionId("hot-a".into())));
        // The stream captures every partition's own subjects, the hot one's included.
        assert!(t.command_stream_subjects().contains(&"cmd.*.*".to_string()));
        assert_eq!(
            t.partition_subject(&PartitionId("3".into()), show),
            format!("cmd.3.{show}")
        );
        let other = ShowId(Uuid::from_u128(43));
        assert_eq!(t.command_subject(other), format!("cmd.{other}"));
    }

    #[test]
    fn invalid_values_are_named() {
        let text = BUILTIN_STREAMS_YAML.replacen("  partitions: ", "  partitions: 0 #", 1);
        let err = Topology::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains("commands.partitions"), "{err}");
    }

    #[test]
    fn the_waiting_room_stream_follows_the_command_stream_unless_named() {
        let mut t = Topology::builtin();
        t.commands.stream = "CMD_T".into();
        t.commands.subject_prefix = "cmd_t".into();
        t.commands.replicas = 3;
        assert_eq!(t.waiting_room_stream(), "CMD_T_WAITING_ROOM");
        assert_eq!(t.waiting_room_subject_prefix(), "cmd_t_waitroom");
        assert_eq!(t.waiting_room_replicas(), 3);
        assert_eq!(t.waiting_room.max_age_s, 90 * 86_400);

        let text = BUILTIN_STREAMS_YAML.replacen(
            "waiting_room:\n",
            "waiting_room:\n  stream: WR\n  subject_prefix: wr\n  replicas: 1\n",
            1,
        );
        let t = Topology::from_yaml(&text).unwrap();
        assert_eq!(
            (t.waiting_room_stream(), t.waiting_room_subject_prefix()),
            ("WR".to_string(), "wr".to_string())
        );
        assert_eq!(t.waiting_room_replicas(), 1);

        let without: String = BUILTIN_STREAMS_YAML
            .split("waiting_room:")
            .next()
            .unwrap()
            .to_string();
        let t = Topology::from_yaml(&without).unwrap();
        assert_eq!(t.waiting_room, WaitingRoomStream::default());
    }

    #[test]
    fn unknown_waiting_room_keys_are_refused() {
        let text =
            BUILTIN_STREAMS_YAML.replacen("waiting_room:\n", "waiting_room:\n  max_msgs: 3\n", 1);
        let err = Topology::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains("max_msgs"), "{err}");
        let text = BUILTIN_STREAMS_YAML.replacen(
            "waiting_room:\n",
            "waiting_room:\n  subject_prefix: \"a.b\"\n",
            1,
        );
        let err = Topology::from_yaml(&text).unwrap_err().to_string();
        assert!(err.contains("waiting_room.subject_prefix"), "{err}");
    }

    #[test]
    fn partition_index_spreads_and_is_stable() {
        let mut counts = [0u32; 4];
        for i in 0..4000u128 {
            counts[usize::from(partition_index(ShowId(Uuid::from_u128(i * 7919)), 4))] += 1;
        }
        assert!(counts.iter().all(|&c| c > 700), "{counts:?}");
        let show = ShowId(Uuid::from_u128(1));
        assert_eq!(partition_index(show, 8), partition_index(show, 8));
    }

    #[test]
    fn transform_uses_the_partition_function() {
        let t = Topology::builtin();
        let (src, dest) = t.command_transform();
        assert_eq!(src, "cmd.*");
        assert_eq!(
            dest,
            format!(
                "cmd.{{{{partition({},1)}}}}.{{{{wildcard(1)}}}}",
                t.commands.partitions
            )
        );
    }
}
