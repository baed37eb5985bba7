//! Asking for a handover: move a show's commands to another partition (a hot show getting a
//! partition of its own, or going back to its hashed one). The request is a [`Handover`] entry
//! logged in the partition the show's fence names, so that partition applies every command logged
//! before it first; see [`crate::partition`] for what applying it does.

use std::time::Duration;

use schemas::ShowId;
use uuid::Uuid;

use crate::jetstream::handover_message;
use crate::log::Handover;
use crate::store::{ShowStore, StoreError};
use crate::topology::{PartitionId, Topology};

/// A handover could not be requested or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    /// The show has never been written: there is nothing to move.
    #[error("show {0} not found in the store")]
    UnknownShow(ShowId),
    /// The store could not be read.
    #[error("reading the show's fence: {0}")]
    Store(#[from] StoreError),
    /// The command log did not store the request.
    #[error("logging the handover: {0}")]
    Log(#[source] crate::Cause),
    /// The request was logged, but the show's fence did not name the new partition in time
    /// (the old partition's processor is down or behind).
    #[error("handover of show {show} to {to} logged but not applied after {waited:?}")]
    NotApplied {
        /// The show.
        show: ShowId,
        /// Where it was sent.
        to: PartitionId,
        /// How long we waited.
        waited: Duration,
    },
}

/// What a handover request found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requested {
    /// The show's fence names `to` already.
    AlreadyThere,
    /// The request is logged in `from`, the partition the show's fence names (or, for a show a
    /// build that did not name partitions wrote last, its hashed partition).
    Logged {
        /// Where the request was logged.
        from: PartitionId,
    },
}

/// Log a request to move `show` to partition `to` in the partition that owns it now.
pub async fn request_handover<S: ShowStore>(
    js: &async_nats::jetstream::Context,
    topology: &Topology,
    store: &S,
    show: ShowId,
    to: &PartitionId,
) -> Result<Requested, HandoverError> {
    let (fence, _) = store
        .read_fence(show)
        .await?
        .ok_or(HandoverError::UnknownShow(show))?;
    let from = fence.partition.unwrap_or_else(|| {
        PartitionId(
            crate::topology::partition_index(show, topology.commands.partitions).to_string(),
        )
    });
    if from == *to {
        return Ok(Requested::AlreadyThere);
    }
    let handover = Handover {
        show_id: show,
        to: to.clone(),
        request_id: Uuid::new_v4(),
    };
    let (headers, payload) = handover_message(&handover);
    let subject = topology.partition_subject(&from, show);
    let ack = js
        .publish_with_headers(subject, headers, payload.into())
        .await
        .map_err(|e| HandoverError::Log(e.into()))?;
    ack.await.map_err(|e| HandoverError::Log(e.into()))?;
    Ok(Requested::Logged { from })
}

/// Wait until `show`'s fence names `to`, reading it every 100 ms for at most `timeout`.
pub async fn await_handover<S: ShowStore>(
    store: &S,
    show: ShowId,
    to: &PartitionId,
    timeout: Duration,
) -> Result<(), HandoverError> {
    let started = tokio::time::Instant::now();
    loop {
        let fence = store.read_fence(show).await?;
        if fence.and_then(|(f, _)| f.partition).as_ref() == Some(to) {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(HandoverError::NotApplied {
                show,
                to: to.clone(),
                waited: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
