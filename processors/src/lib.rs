//! The pipeline: commands partitioned by show, applied in log order by exactly one partition
//! loop each, persisted as one conditional batch per show, then published, answered and acked.
//!
//! # Layout
//! Seams (traits the rest of the system codes against):
//! - [`bus`]: [`bus::CommandBus`] — the ingress submits a `CommandEnvelope` and awaits its
//!   `Reply` (`BusError::Timeout` = outcome unknown). Impls: [`embedded::LocalBus`] (dev) and
//!   `jetstream::NatsBus` (JetStream).
//! - [`store`]: [`store::ShowStore`] — the source of truth the loop persists through (fenced
//!   conditional batches, index rows, expiry hints); [`reader::ShowReader`] — by-id reads for the
//!   ingress that see every answered write ([`reader::StateReader`] over any `ShowStore`: a
//!   hold or booking is read as its own row(s), a whole show through a cache validated by its
//!   applied sequence).
//! - [`log`]: [`log::CommandLog`] — a partition's ordered commands, cumulative acks, replies.
//! - [`events`]: [`events::EventSink`] — where seat deltas and booking facts go after persist;
//!   [`events::EventHub`] is the in-process fan-out (dev) the ingress subscribes to.
//!
//! The loop and its parts:
//! - [`partition`]: [`partition::PartitionLoop`] — prefetch -> decide (pure `engine`) ->
//!   persist (one conditional batch per touched show, index rows beside it) -> reply ->
//!   publish -> ack; a batch's publish and ack overlap the next batch's decide and persist.
//! - [`expiry`]: when to append `Expire` commands to the partition's own log.
//! - [`rows`]: engine rows <-> stored `(kind, id, body)` rows.
//! - [`metrics`]: batch sizes, decide/persist/publish latencies, lag, via the `metrics` facade.
//! - [`topology`]: `streams.yaml` (streams, partitions, hot shows, processor and CQL settings).
//!
//! Adapters, named by technology as in the other crates (`embedded`, `jetstream`, `cql`):
//! - [`embedded`]: in-process log + embedded redb store + `EventHub` + `LocalBus`, and
//!   `DevPipeline`, which wires them for `boxoffice dev`.
//! - [`jetstream`]: the JetStream command log, events, the ingress's `NatsBus`, partition leases
//!   in NATS KV, connecting to a server.
//! - [`cql`]: the ScyllaDB/Cassandra show store with its change-log rows, and the schema.
//! - [`processor`]: the `boxoffice processor` runtime over `jetstream` and `cql`.
//!
//! A command flows: ingress -> `CommandBus::submit` -> log (partition of its show) ->
//! `PartitionLoop` decides it with the stream time -> `ShowStore::persist` (fenced) -> reply to
//! the waiting `submit` -> `EventSink::publish` (in the background) -> ack.

/// What failed underneath a store, log, event or lease error (a driver's error, an I/O error, a
/// decode error), kept as that error's `source()` so nothing of it is lost on the way up.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

pub mod bus;
pub mod cli;
pub mod cql;
pub mod embedded;
pub mod events;
pub mod expiry;
pub mod handover;
pub mod jetstream;
pub mod log;
pub mod metrics;
pub mod partition;
pub mod processor;
pub mod provision;
pub mod reader;
pub mod rows;
pub mod store;
pub mod topology;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(feature = "fixtures")]
pub mod readback;
