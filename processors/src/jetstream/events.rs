//! [`NatsEventSink`]: seat deltas to `seats.<showId>`, booking facts to `bookings.<showId>` (one
//! [`ShowFacts`] message per show per batch), each with a `Nats-Msg-Id` so a republish of the same
//! batch after a crash is dropped by the stream.

use std::sync::Arc;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_trait::async_trait;
use schemas::{ShowFacts, ShowId};

use crate::events::{Confirmation, EventBatch, EventError, EventSink, KeyedEvent};
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

/// How long a publish waits for the stream's acknowledgement before it is sent again (same
/// `Nats-Msg-Id`, so the stream keeps one copy). The loop acknowledges a batch only after its
/// events are acknowledged, so an acknowledgement lost with a connection (not late: lost) stalls
/// the partition for this long; stores answer in milliseconds, so a second is generous and keeps
/// recovery from a reconnect within the two seconds the service promises.
pub const EVENT_ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

impl NatsEventSink {
    /// A sink over `client` with subjects from `topology`.
    pub fn new(client: async_nats::Client, topology: Arc<Topology>) -> NatsEventSink {
        NatsEventSink {
            js: jetstream::ContextBuilder::new()
                .timeout(EVENT_ACK_TIMEOUT)
                .build(client),
            topology,
        }
    }

    async fn send_one(
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
            .map_err(|e| EventError::Unavailable(e.into()))
    }
}

#[async_trait]
impl EventSink for NatsEventSink {
    async fn publish(&self, batch: &EventBatch) -> Result<(), EventError> {
        self.send(batch).await?.await
    }

    async fn send(&self, batch: &EventBatch) -> Result<Confirmation, EventError> {
        let mut acks = Vec::with_capacity(batch.seat_deltas.len() + batch.show_events.len());
        for delta in &batch.seat_deltas {
            let id = format!("{}:{}", delta.show_id, delta.version);
            let subject = self.topology.seat_subject(delta.show_id);
            acks.push(self.send_one(subject, &id, schemas::encode(delta)?).await?);
        }
        for (show, facts) in facts_by_show(&batch.show_events) {
            let subject = self.topology.booking_subject(show);
            let id = dedupe_id(facts);
            let message = ShowFacts {
                schema: schemas::SCHEMA_VERSION,
                show_id: show,
                facts: facts.iter().map(|keyed| keyed.event.clone()).collect(),
            };
            acks.push(
                self.send_one(subject, &id, schemas::encode(&message)?)
                    .await?,
            );
        }
        Ok(Box::pin(async move {
            let acks = acks.into_iter().map(std::future::IntoFuture::into_future);
            for result in futures::future::join_all(acks).await {
                result.map_err(|e| EventError::Unavailable(e.into()))?;
            }
            Ok(())
        }))
    }
}

/// The batch's facts in runs of one show (the loop emits a show's facts together, in order).
fn facts_by_show(facts: &[KeyedEvent]) -> impl Iterator<Item = (ShowId, &[KeyedEvent])> {
    facts
        .chunk_by(|a, b| a.event.show_id == b.event.show_id)
        .filter_map(|run| Some((run.first()?.event.show_id, run)))
}

/// The id the stream deduplicates a facts message by: its first and last facts' ids. A republish
/// of the same batch (a crash before the ack) is dropped; a replay that cut the batch differently
/// publishes again, and consumers already take a fact twice (JetStream delivers at least once).
fn dedupe_id(facts: &[KeyedEvent]) -> String {
    match facts {
        [] => String::new(),
        [only] => only.dedupe_id.clone(),
        [first, .., last] => format!("{}..{}", first.dedupe_id, last.dedupe_id),
    }
}

#[cfg(test)]
mod tests {
    use schemas::{Event, HoldId, ShowEvent, UnixMs};
    use uuid::Uuid;

    use super::*;

    fn keyed(show: u128, seq: u64) -> KeyedEvent {
        let show_id = ShowId(Uuid::from_u128(show));
        KeyedEvent {
            dedupe_id: format!("{show_id}:{seq}:0"),
            event: ShowEvent {
                schema: schemas::SCHEMA_VERSION,
                show_id,
                version: seq,
                at: UnixMs(seq as i64),
                event: Event::Released {
                    hold_id: HoldId(Uuid::from_u128(seq.into())),
                    seats: vec![],
                },
            },
        }
    }

    #[test]
    fn one_message_per_show_run_named_by_its_first_and_last_fact() {
        let facts = [keyed(1, 10), keyed(1, 11), keyed(1, 12), keyed(2, 13)];
        let runs: Vec<(ShowId, Vec<u64>, String)> = facts_by_show(&facts)
            .map(|(show, run)| {
                let versions = run.iter().map(|k| k.event.version).collect();
                (show, versions, dedupe_id(run))
            })
            .collect();
        let (one, two) = (ShowId(Uuid::from_u128(1)), ShowId(Uuid::from_u128(2)));
        assert_eq!(
            runs,
            [
                (one, vec![10, 11, 12], format!("{one}:10:0..{one}:12:0")),
                (two, vec![13], format!("{two}:13:0")),
            ]
        );
    }
}
