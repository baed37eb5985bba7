//! [`NatsEventSink`]: seat deltas to `seats.<showId>`, booking facts to `bookings.<showId>`, each
//! with a `Nats-Msg-Id` so a republish after a crash is dropped by the stream.

use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_trait::async_trait;

use crate::events::{EventBatch, EventError, EventSink};
use crate::topology::Topology;

/// Publishes a loop's events to JetStream and waits for every acknowledgement.
#[derive(Clone)]
pub struct NatsEventSink {
    js: jetstream::Context,
    topology: Arc<Topology>,
}

impl std::fmt::Debug for NatsEventSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsEventSink").finish_non_exhaustive()
    }
}

impl NatsEventSink {
    /// A sink over `client` with subjects from `topology`.
    pub fn new(client: async_nats::Client, topology: Arc<Topology>) -> NatsEventSink {
        NatsEventSink {
            js: jetstream::new(client),
            topology,
        }
    }

    async fn send(
        &self,
        subject: String,
        dedupe_id: &str,
        payload: Vec<u8>,
    ) -> Result<jetstream::context::PublishAckFuture, EventError> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", dedupe_id);
        self.js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(|e| EventError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl EventSink for NatsEventSink {
    async fn publish(&self, batch: &EventBatch) -> Result<(), EventError> {
        let mut acks = Vec::with_capacity(batch.seat_deltas.len() + batch.show_events.len());
        for delta in &batch.seat_deltas {
            let id = format!("{}:{}", delta.show_id, delta.version);
            let subject = self.topology.seat_subject(delta.show_id);
            acks.push(self.send(subject, &id, schemas::encode(delta)?).await?);
        }
        for keyed in &batch.show_events {
            let subject = self.topology.booking_subject(keyed.event.show_id);
            acks.push(
                self.send(subject, &keyed.dedupe_id, schemas::encode(&keyed.event)?)
                    .await?,
            );
        }
        let acks = acks.into_iter().map(std::future::IntoFuture::into_future);
        for result in futures::future::join_all(acks).await {
            result.map_err(|e| EventError::Unavailable(e.to_string()))?;
        }
        Ok(())
    }
}
