//! The seam the ingress submits commands through: one call, one decision (or a named failure).
//!
//! Implementations: [`NatsBus`](crate::jetstream::NatsBus) (serve mode: JetStream publish with
//! `Nats-Msg-Id`, reply on an inbox) and [`LocalBus`](crate::embedded::LocalBus) (dev mode: the
//! in-process log of the embedded pipeline).

use async_trait::async_trait;
use schemas::{CommandEnvelope, Reply};

/// A command could not be decided in time.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The command was handed over but no decision arrived in time: its outcome is unknown (the
    /// API answers 503). Submitting the same command id again returns the first outcome.
    #[error("no decision in time; the command may still apply")]
    Timeout,
    /// The log or the processors are down or overloaded; the command was not accepted.
    #[error("command pipeline unavailable: {0}")]
    Unavailable(#[source] crate::Cause),
    /// The command could not be encoded (a bug, not a condition to retry).
    #[error("command encoding failed: {0}")]
    Encode(#[from] schemas::CodecError),
}

impl BusError {
    /// Whether submitting the same command again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            BusError::Timeout | BusError::Unavailable(_) => true,
            BusError::Encode(_) => false,
        }
    }
}

/// Submit a command to its show's partition and wait for the decision.
#[async_trait]
pub trait CommandBus: Send + Sync {
    /// Hand `envelope` to the pipeline and wait (bounded) for the processor's reply.
    async fn submit(&self, envelope: CommandEnvelope) -> Result<Reply, BusError>;
}
