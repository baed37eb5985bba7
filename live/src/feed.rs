//! Where a show's committed seat deltas come from: the in-process [`EventHub`] in dev mode, the
//! seat-event subject `seats.<showId>` on NATS in serve mode. The live fan-out opens one
//! subscription per show that has viewers in this process, never one per viewer.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use processors::events::EventHub;
use processors::topology::Topology;
use schemas::{SeatDelta, ShowId};
use tokio::sync::broadcast::error::RecvError;

/// One item of a show's seat feed.
#[derive(Clone, Debug)]
pub enum FeedItem {
    /// A committed delta of the show, in publication order.
    Delta(Arc<SeatDelta>),
    /// Something was lost (the subscriber fell behind or a message was unreadable): whoever
    /// follows the show must resynchronise from the source of truth.
    Lost,
}

/// The deltas of one show, from the moment of subscribing; the subscription ends when dropped.
pub type SeatStream = BoxStream<'static, FeedItem>;

/// Subscribing to a show's seat deltas failed.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The transport is unreachable; subscribing again later may work.
    #[error("seat feed unavailable: {0}")]
    Unavailable(String),
}

impl FeedError {
    /// Whether subscribing again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            FeedError::Unavailable(_) => true,
        }
    }
}

/// A source of committed seat deltas per show.
#[async_trait]
pub trait SeatFeed: Send + Sync + 'static {
    /// Every delta of `show` committed from now on. Returns once the subscription is in place,
    /// so a seat map read afterwards cannot miss a change that the stream will not deliver.
    async fn subscribe(&self, show: ShowId) -> Result<SeatStream, FeedError>;
}

/// Dev mode: the embedded pipeline's in-process hub. The hub carries every show, so each
/// subscription filters its own show (dev mode has few shows and viewers; serve mode filters by
/// subject on the server).
#[derive(Clone, Debug)]
pub struct HubFeed {
    hub: EventHub,
}

impl HubFeed {
    /// A feed over `hub`.
    pub fn new(hub: EventHub) -> HubFeed {
        HubFeed { hub }
    }
}

#[async_trait]
impl SeatFeed for HubFeed {
    async fn subscribe(&self, show: ShowId) -> Result<SeatStream, FeedError> {
        let receiver = self.hub.subscribe_seats();
        let stream = futures::stream::unfold(receiver, move |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(delta) if delta.show_id == show => {
                        return Some((FeedItem::Delta(delta), receiver));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Some((FeedItem::Lost, receiver)),
                    Err(RecvError::Closed) => return None,
                }
            }
        });
        Ok(stream.boxed())
    }
}

/// Serve mode: a core NATS subscription on the show's seat-event subject (the processors publish
/// there through JetStream). Core delivery is at most once: a message lost on a reconnect shows
/// up as a version gap, which the follower repairs from the source of truth.
#[derive(Clone, Debug)]
pub struct NatsFeed {
    client: async_nats::Client,
    topology: Arc<Topology>,
}

impl NatsFeed {
    /// A feed over `client` with the subjects of `topology`.
    pub fn new(client: async_nats::Client, topology: Arc<Topology>) -> NatsFeed {
        NatsFeed { client, topology }
    }
}

#[async_trait]
impl SeatFeed for NatsFeed {
    async fn subscribe(&self, show: ShowId) -> Result<SeatStream, FeedError> {
        let subject = self.topology.seat_subject(show);
        let subscriber = self
            .client
            .subscribe(subject)
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        // The SUB must reach the server before the caller reads the seat map; a flush is the
        // round trip that proves it did.
        self.client
            .flush()
            .await
            .map_err(|e| FeedError::Unavailable(e.to_string()))?;
        let stream = subscriber.map(move |message| {
            match schemas::decode::<SeatDelta>(&message.payload) {
                Ok(delta) if delta.show_id == show => FeedItem::Delta(Arc::new(delta)),
                Ok(delta) => {
                    tracing::warn!(%show, other = %delta.show_id, "seat delta of another show on this subject");
                    FeedItem::Lost
                }
                Err(e) => {
                    tracing::warn!(%show, error = %e, "undecodable seat delta");
                    FeedItem::Lost
                }
            }
        });
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use processors::events::{EventBatch, EventSink};
    use schemas::UnixMs;

    fn delta(show: ShowId, from: u64, to: u64) -> SeatDelta {
        SeatDelta {
            schema: schemas::SCHEMA_VERSION,
            show_id: show,
            from_version: from,
            version: to,
            changes: vec![],
            at: UnixMs(0),
        }
    }

    #[tokio::test]
    async fn hub_feed_yields_only_its_show_and_reports_lag() {
        let hub = EventHub::new(2);
        let feed = HubFeed::new(hub.clone());
        let mine = ShowId(uuid::Uuid::from_u128(1));
        let other = ShowId(uuid::Uuid::from_u128(2));
        let mut stream = feed.subscribe(mine).await.unwrap();
        let batch = EventBatch {
            seat_deltas: vec![delta(other, 0, 1), delta(mine, 0, 1)],
            show_events: vec![],
        };
        hub.publish(&batch).await.unwrap();
        match stream.next().await {
            Some(FeedItem::Delta(d)) => assert_eq!((d.show_id, d.version), (mine, 1)),
            other => panic!("expected my delta, got {other:?}"),
        }
        let flood = EventBatch {
            seat_deltas: (1..6).map(|v| delta(mine, v, v + 1)).collect(),
            show_events: vec![],
        };
        hub.publish(&flood).await.unwrap();
        assert!(matches!(stream.next().await, Some(FeedItem::Lost)));
    }
}
