//! The event seam: seat deltas and booking facts leave the partition loop here, after persist.
//!
//! Serve mode publishes to JetStream (`seats.<showId>`, `bookings.<showId>`, see
//! [`crate::jetstream::NatsEventSink`]); dev mode fans out in process through [`EventHub`], which the
//! ingress subscribes to for live seat maps and projections.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use schemas::{SeatDelta, ShowEvent};
use tokio::sync::broadcast;

/// Everything one loop iteration publishes, in order per show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventBatch {
    /// One delta per show whose seats changed (or whose version moved), versions contiguous.
    pub seat_deltas: Vec<SeatDelta>,
    /// Booking facts, in decision order, each with its deduplication id.
    pub show_events: Vec<KeyedEvent>,
}

/// A booking fact with the id the transport deduplicates it by (`Nats-Msg-Id`): the show, the log
/// sequence of the command that produced it and its place among that command's events, so a
/// republish after a crash carries the same id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedEvent {
    /// Deduplication id, `<show>:<seq>:<index>`.
    pub dedupe_id: String,
    /// The fact.
    pub event: ShowEvent,
}

impl EventBatch {
    /// Whether there is nothing to publish.
    pub fn is_empty(&self) -> bool {
        self.seat_deltas.is_empty() && self.show_events.is_empty()
    }
}

/// Publishing events failed.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The event transport is unreachable or did not confirm in time; publishing again is safe
    /// (each event carries a deduplication id).
    #[error("event transport unavailable: {0}")]
    Unavailable(#[source] crate::Cause),
    /// An event could not be encoded.
    #[error("event encoding failed: {0}")]
    Encode(#[from] schemas::CodecError),
}

impl EventError {
    /// Whether publishing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            EventError::Unavailable(_) => true,
            EventError::Encode(_) => false,
        }
    }
}

/// What confirms a batch handed to the transport ([`EventSink::send`]).
pub type Confirmation = Pin<Box<dyn Future<Output = Result<(), EventError>> + Send>>;

/// Where a partition loop publishes what it committed.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publish a batch; returns once the transport holds it.
    async fn publish(&self, batch: &EventBatch) -> Result<(), EventError>;

    /// Hand a batch to the transport now, ahead of anything this process sends after this
    /// returns (the loop's replies), and return what confirms it. So a requester that hears its
    /// answer finds the seat change already on its way to every ingress's projection. The
    /// default publishes the batch whole first.
    async fn send(&self, batch: &EventBatch) -> Result<Confirmation, EventError> {
        self.publish(batch).await?;
        Ok(Box::pin(std::future::ready(Ok(()))))
    }
}

/// Bounded capacity of each in-process channel; a subscriber that falls further behind sees
/// `RecvError::Lagged` and must resynchronise (viewers reload the seat map).
pub const EVENT_HUB_CAPACITY: usize = 4096;

/// In-process fan-out of seat deltas and booking facts (dev mode). Cloning shares the channels.
#[derive(Clone, Debug)]
pub struct EventHub {
    seats: broadcast::Sender<Arc<SeatDelta>>,
    bookings: broadcast::Sender<Arc<ShowEvent>>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self::new(EVENT_HUB_CAPACITY)
    }
}

impl EventHub {
    /// A hub whose channels each buffer `capacity` events.
    pub fn new(capacity: usize) -> Self {
        let (seats, _) = broadcast::channel(capacity);
        let (bookings, _) = broadcast::channel(capacity);
        Self { seats, bookings }
    }

    /// Every seat delta of every show from now on.
    pub fn subscribe_seats(&self) -> broadcast::Receiver<Arc<SeatDelta>> {
        self.seats.subscribe()
    }

    /// Every booking fact of every show from now on.
    pub fn subscribe_bookings(&self) -> broadcast::Receiver<Arc<ShowEvent>> {
        self.bookings.subscribe()
    }
}

#[async_trait]
impl EventSink for EventHub {
    async fn publish(&self, batch: &EventBatch) -> Result<(), EventError> {
        // A send error only means nobody is subscribed right now: events are not stored in dev
        // mode (the show state is), so there is nothing to retry.
        for delta in &batch.seat_deltas {
            let _ = self.seats.send(Arc::new(delta.clone()));
        }
        for keyed in &batch.show_events {
            let _ = self.bookings.send(Arc::new(keyed.event.clone()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{SeatChange, SeatId, SeatStatus, ShowId, UnixMs};
    use uuid::Uuid;

    #[tokio::test]
    async fn subscribers_receive_published_deltas_in_order() {
        let hub = EventHub::new(8);
        let mut seats = hub.subscribe_seats();
        let show = ShowId(Uuid::from_u128(1));
        let delta = |from, to| SeatDelta {
            schema: schemas::SCHEMA_VERSION,
            show_id: show,
            from_version: from,
            version: to,
            changes: vec![SeatChange {
                seat_id: SeatId::derive(show, 0),
                status: SeatStatus::Held,
            }],
            at: UnixMs(5),
        };
        let batch = EventBatch {
            seat_deltas: vec![delta(0, 1), delta(1, 2)],
            show_events: vec![],
        };
        hub.publish(&batch).await.unwrap();
        assert_eq!(seats.recv().await.unwrap().version, 1);
        assert_eq!(seats.recv().await.unwrap().from_version, 1);
    }
}
