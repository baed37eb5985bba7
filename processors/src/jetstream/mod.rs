//! The NATS JetStream side of serve mode: the command log ([`JetStreamLog`]), events
//! ([`NatsEventSink`]), the ingress's [`NatsBus`], partition leases in NATS KV ([`Lease`]) and
//! connecting to a server.

pub(crate) mod bus;
mod events;
mod lease;
mod log;
pub(crate) mod nats;

pub use bus::{BATCH_COMMANDS_MAX, BATCH_HEADER, NatsBus, REPLY_TO_HEADER, logged_commands};
pub use events::NatsEventSink;
pub use lease::{Lease, LeaseError};
pub use log::{
    HANDOVER_HEADER, HANDOVER_ID_HEADER, JetStreamLog, handover_message, prepare_consumer,
};
pub use nats::{NatsError, check_server_version, connect};
