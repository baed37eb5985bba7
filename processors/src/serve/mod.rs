//! Serve mode: JetStream command log ([`JetStreamLog`]), Cassandra/ScyllaDB store ([`CqlStore`]),
//! JetStream events ([`NatsEventSink`]), the ingress's [`NatsBus`], partition leases in NATS KV
//! ([`Lease`]) and the `boxoffice processor` runtime ([`run_processor`]).

pub(crate) mod bus;
mod changes;
pub(crate) mod cql;
mod events;
mod lease;
mod log;
pub(crate) mod nats;
mod processor;

pub use bus::{BATCH_COMMANDS_MAX, BATCH_HEADER, NatsBus, REPLY_TO_HEADER, logged_commands};
pub use changes::{CHANGES_KIND, OUTCOME_TTL_S, OUTCOMES_KIND};
pub use cql::{Backend, CqlStore, schema_statements};
pub use events::NatsEventSink;
pub use lease::{Lease, LeaseError};
pub use log::{JetStreamLog, prepare_consumer};
pub use nats::{NatsError, check_server_version, connect};
pub use processor::{ProcessorConfig, ProcessorError, run_processor};
