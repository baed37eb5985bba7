//! The seam between the waiting room and where its events are kept: [`QueueLog`]. Each show's
//! events are totally ordered; appending returns once the event is applied to this process's
//! [`Folds`](crate::folds::Folds), so the caller reads its own write.
//!
//! Implementations: [`EmbeddedLog`](crate::embedded::EmbeddedLog) (dev mode, redb, one writer)
//! and [`JetStreamLog`](crate::jetstream::JetStreamLog) (serve mode, shared by every ingress).

use async_trait::async_trait;
use schemas::ShowId;
use serde::{Deserialize, Serialize};

use crate::error::QueueError;
use crate::fold::QueueEvent;

/// Condition of an append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Append whatever else was appended meanwhile (joins, uses).
    Any,
    /// Append only if the show's last control event is still at this position (admitters race on
    /// it: one wins, the others learn they were late).
    ControlAt(u64),
}

/// What an append did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Appended {
    /// Stored at `rev` and applied here.
    Applied {
        /// Log position.
        rev: u64,
    },
    /// Another control event came first; nothing was stored.
    Conflict,
}

/// A stored event: the show and the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The show.
    pub show: ShowId,
    /// The change.
    pub event: QueueEvent,
}

impl Record {
    /// MessagePack bytes.
    pub fn encode(&self) -> Vec<u8> {
        rmp_serde::to_vec(self).expect("queue records serialize")
    }

    /// From MessagePack bytes.
    pub fn decode(bytes: &[u8]) -> Result<Record, QueueError> {
        rmp_serde::from_slice(bytes).map_err(|e| QueueError::Corrupt(e.to_string()))
    }
}

/// Where waiting-room events are kept.
#[async_trait]
pub trait QueueLog: Send + Sync {
    /// Append `event` of `show` if `expect` holds; on `Applied` it is already applied to this
    /// process's folds.
    async fn append(
        &self,
        show: ShowId,
        event: QueueEvent,
        expect: Expect,
    ) -> Result<Appended, QueueError>;

    /// Stop: later appends fail, and the log's resources (file, subscription) are released
    /// before this returns.
    async fn close(&self);
}
