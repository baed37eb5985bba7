//! [`NatsBus`]: the serve-mode [`CommandBus`]. Publishes a command to its show's subject with
//! `Nats-Msg-Id` = the command id and a reply subject in a header, then waits (bounded) for the
//! processor's reply on this process's inbox.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream;
use async_trait::async_trait;
use futures::StreamExt;
use schemas::{BatchedCommand, CodecError, CommandBatch, CommandEnvelope, Reply, ShowId};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::bus::{BusError, CommandBus};
use crate::jetstream::nats::NatsError;
use crate::log::ReplyTo;
use crate::topology::Topology;

/// Header carrying the subject the processor replies to. (The message's own reply subject is
/// taken by JetStream's publish acknowledgement.)
pub const REPLY_TO_HEADER: &str = "Boxoffice-Reply-To";

/// Header marking a command message whose payload is a [`CommandBatch`] of this many commands
/// (each with its own reply address) instead of one [`CommandEnvelope`].
pub const BATCH_HEADER: &str = "Boxoffice-Batch";

/// The commands a message of a command subject carries, with their requesters' addresses: one
/// envelope (address in [`REPLY_TO_HEADER`]) or, under [`BATCH_HEADER`], a [`CommandBatch`].
pub fn logged_commands(
    headers: Option<&HeaderMap>,
    payload: &[u8],
) -> Result<Vec<(CommandEnvelope, Option<ReplyTo>)>, CodecError> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    if header(BATCH_HEADER).is_some() {
        let batch: CommandBatch = schemas::decode(payload)?;
        return Ok(batch
            .commands
            .into_iter()
            .map(|c| (c.envelope, c.reply_to.map(ReplyTo)))
            .collect());
    }
    let envelope = schemas::decode::<CommandEnvelope>(payload)?;
    Ok(vec![(
        envelope,
        header(REPLY_TO_HEADER).map(|v| ReplyTo(v.to_string())),
    )])
}

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// Last subject token of a message that carries several replies for one inbox
/// ([`reply_messages`]); a single reply goes to `<inbox>.<waiter token>` as before.
const BATCH_TOKEN: &str = "batch";

/// Several replies for one inbox: `(waiter token, reply)` in decision order.
#[derive(Debug, Serialize, Deserialize)]
struct ReplyBatch(Vec<(u64, Reply)>);

/// The messages that carry a batch's `replies`: one per requesting process (inbox), so a batch
/// of N decisions for K processes costs K messages through the server instead of N. A reply
/// whose address is not `<inbox>.<token>` goes alone to its address.
pub fn reply_messages(replies: &[(ReplyTo, Reply)]) -> Result<Vec<(String, Vec<u8>)>, CodecError> {
    let mut by_inbox: Vec<(&str, ReplyBatch)> = Vec::new();
    let mut messages = Vec::new();
    for (to, reply) in replies {
        let Some((inbox, token)) = inbox_and_token(&to.0) else {
            messages.push((to.0.clone(), schemas::encode(reply)?));
            continue;
        };
        match by_inbox.iter_mut().find(|(i, _)| *i == inbox) {
            Some((_, batch)) => batch.0.push((token, reply.clone())),
            None => by_inbox.push((inbox, ReplyBatch(vec![(token, reply.clone())]))),
        }
    }
    for (inbox, mut batch) in by_inbox {
        if let [(token, reply)] = batch.0.as_mut_slice() {
            messages.push((format!("{inbox}.{token}"), schemas::encode(reply)?));
        } else {
            messages.push((format!("{inbox}.{BATCH_TOKEN}"), schemas::encode(&batch)?));
        }
    }
    Ok(messages)
}

fn inbox_and_token(address: &str) -> Option<(&str, u64)> {
    let (inbox, token) = address.rsplit_once('.')?;
    Some((inbox, token.parse().ok()?))
}

/// Hand the replies one message carries to their waiters.
fn route(waiters: &Waiters, subject: &str, payload: &[u8]) {
    let deliver =
        |token: u64, reply: Reply| match waiters.lock().expect("waiters lock").remove(&token) {
            Some(tx) => {
                let _ = tx.send(reply);
            }
            None => debug!(token, "reply for nobody (timed out)"),
        };
    match subject.rsplit('.').next() {
        Some(BATCH_TOKEN) => match schemas::decode::<ReplyBatch>(payload) {
            Ok(ReplyBatch(replies)) => replies.into_iter().for_each(|(t, r)| deliver(t, r)),
            Err(e) => debug!(error = %e, "undecodable reply batch"),
        },
        Some(token) => match (token.parse::<u64>(), schemas::decode::<Reply>(payload)) {
            (Ok(token), Ok(reply)) => deliver(token, reply),
            (Err(_), _) => debug!(%subject, "reply to no waiter token"),
            (_, Err(e)) => debug!(error = %e, "undecodable reply"),
        },
        None => {}
    }
}

/// Submits commands through JetStream. Cloning shares the connection and the reply inbox.
#[derive(Clone)]
pub struct NatsBus {
    js: jetstream::Context,
    topology: Arc<Topology>,
    inbox: String,
    waiters: Waiters,
    next_token: Arc<AtomicU64>,
    reply_timeout: Duration,
    lanes: Lanes,
    _router: Arc<AbortOnDrop>,
}

/// Commands waiting to be logged, per show, behind that show's message in flight.
type Lanes = Arc<Mutex<HashMap<ShowId, Lane>>>;

/// One show's publishing: at most one message in flight; what arrives meanwhile goes out
/// together in the next one.
#[derive(Default)]
struct Lane {
    waiting: Vec<Queued>,
}

/// A command waiting for its show's next message, and who to tell how logging it went.
struct Queued {
    envelope: CommandEnvelope,
    reply_subject: String,
    logged: oneshot::Sender<Result<(), BusError>>,
}

/// Most commands in one message: bounds the message (about 200 bytes each) and the work a
/// partition loop takes in one piece.
pub const BATCH_COMMANDS_MAX: usize = 128;

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("inbox", &self.inbox)
            .finish_non_exhaustive()
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl NatsBus {
    /// A bus over `client` that waits at most `reply_timeout` for each decision.
    pub async fn new(
        client: async_nats::Client,
        topology: Arc<Topology>,
        reply_timeout: Duration,
    ) -> Result<NatsBus, NatsError> {
        let inbox = client.new_inbox();
        let mut replies = client
            .subscribe(format!("{inbox}.*"))
            .await
            .map_err(|e| NatsError::JetStream(e.to_string()))?;
        let waiters: Waiters = Arc::default();
        let routed = waiters.clone();
        let router = tokio::spawn(async move {
            while let Some(message) = replies.next().await {
                route(&routed, &message.subject, &message.payload);
            }
        });
        Ok(NatsBus {
            js: jetstream::new(client),
            topology,
            inbox,
            waiters,
            next_token: Arc::new(AtomicU64::new(1)),
            reply_timeout,
            lanes: Arc::default(),
            _router: Arc::new(AbortOnDrop(router)),
        })
    }

    /// Log `envelope` in its show's next message. The first command of an idle show goes out at
    /// once (alone); commands that arrive while a message of their show is being stored wait
    /// and go out together as one [`CommandBatch`] as soon as it is acknowledged, so a hot show
    /// costs the log one message per round trip instead of one per command.
    async fn log(&self, envelope: CommandEnvelope, reply_subject: String) -> Result<(), BusError> {
        let show = envelope.show_id;
        let (logged, outcome) = oneshot::channel();
        let lead = {
            let mut lanes = self.lanes.lock().expect("lanes lock");
            let idle = !lanes.contains_key(&show);
            let lane = lanes.entry(show).or_default();
            lane.waiting.push(Queued {
                envelope,
                reply_subject,
                logged,
            });
            idle
        };
        if lead {
            self.clone().publish_waiting(show).await;
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(BusError::Unavailable("the publisher stopped".into())))
    }

    /// Publish what waits for `show` as one message and, if more arrived meanwhile, hand the
    /// rest to a task of its own (so no requester publishes for others forever).
    async fn publish_waiting(self, show: ShowId) {
        if self.publish_next(show).await {
            tokio::spawn(async move { while self.publish_next(show).await {} });
        }
    }

    /// Publish one message of what waits for `show` and tell each command how it went; whether
    /// more waits. The lane is dropped once nothing does: the show is idle again.
    async fn publish_next(&self, show: ShowId) -> bool {
        let batch = {
            let mut lanes = self.lanes.lock().expect("lanes lock");
            let Some(lane) = lanes.get_mut(&show) else {
                return false;
            };
            let take = lane.waiting.len().min(BATCH_COMMANDS_MAX);
            lane.waiting.drain(..take).collect::<Vec<_>>()
        };
        let result = self.publish_batch(&batch).await;
        for queued in batch {
            let _ = queued
                .logged
                .send(result.as_ref().map(|_| ()).map_err(shared));
        }
        let mut lanes = self.lanes.lock().expect("lanes lock");
        match lanes.get(&show) {
            Some(lane) if !lane.waiting.is_empty() => true,
            _ => {
                lanes.remove(&show);
                false
            }
        }
    }

    /// One message for `batch`: a lone command as an envelope under its command id (a repeat
    /// the stream drops as a duplicate is logged again as a distinct copy, see `submit`),
    /// several as a [`CommandBatch`].
    async fn publish_batch(&self, batch: &[Queued]) -> Result<(), BusError> {
        if let [single] = batch {
            return self.publish_single(single).await;
        }
        let commands = batch
            .iter()
            .map(|q| BatchedCommand {
                envelope: q.envelope.clone(),
                reply_to: Some(q.reply_subject.clone()),
            })
            .collect();
        let payload = schemas::encode(&CommandBatch {
            schema: schemas::SCHEMA_VERSION,
            commands,
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(BATCH_HEADER, batch.len().to_string().as_str());
        let show = batch[0].envelope.show_id;
        self.store(show, headers, payload).await.map(|_| ())
    }

    async fn publish_single(&self, queued: &Queued) -> Result<(), BusError> {
        let payload = schemas::encode(&queued.envelope)?;
        let command_id = queued.envelope.command_id.to_string();
        let stored = self
            .publish(
                &queued.envelope,
                &payload,
                &command_id,
                &queued.reply_subject,
            )
            .await?;
        if !stored {
            // A retry inside the duplicate window: the first copy's reply went to its own
            // requester. Log a distinct copy; the engine answers it with the first outcome.
            let copy_id = format!("{command_id}:{}", uuid::Uuid::new_v4());
            self.publish(&queued.envelope, &payload, &copy_id, &queued.reply_subject)
                .await?;
        }
        Ok(())
    }

    /// Publish with `msg_id`; `Ok(true)` if the stream stored it, `Ok(false)` if it dropped it as
    /// a duplicate.
    async fn publish(
        &self,
        envelope: &CommandEnvelope,
        payload: &[u8],
        msg_id: &str,
        reply_subject: &str,
    ) -> Result<bool, BusError> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        headers.insert(REPLY_TO_HEADER, reply_subject);
        self.store(envelope.show_id, headers, payload.to_vec())
            .await
    }

    /// Store one message in `show`'s command subject; `Ok(true)` if stored, `Ok(false)` if the
    /// stream dropped it as a duplicate of its `Nats-Msg-Id`.
    async fn store(
        &self,
        show: ShowId,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<bool, BusError> {
        let subject = self.topology.command_subject(show);
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            // Not sent at all: nothing can apply.
            .map_err(|e| BusError::Unavailable(e.into()))?;
        match tokio::time::timeout(self.reply_timeout, ack).await {
            Ok(Ok(ack)) => Ok(!ack.duplicate),
            Ok(Err(e)) => match e.kind() {
                async_nats::jetstream::context::PublishErrorKind::StreamNotFound => {
                    Err(BusError::Unavailable(e.into()))
                }
                // The server may have stored it before failing to tell us.
                _ => Err(BusError::Timeout),
            },
            Err(_) => Err(BusError::Timeout),
        }
    }
}

#[async_trait]
impl CommandBus for NatsBus {
    async fn submit(&self, envelope: CommandEnvelope) -> Result<Reply, BusError> {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let reply_subject = format!("{}.{token}", self.inbox);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters lock").insert(token, tx);
        let forget = || self.waiters.lock().expect("waiters lock").remove(&token);
        if let Err(e) = self.log(envelope, reply_subject).await {
            forget();
            return Err(e);
        }
        match tokio::time::timeout(self.reply_timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) | Err(_) => {
                forget();
                Err(BusError::Timeout)
            }
        }
    }
}

/// One message's logging outcome, for each command it carried.
fn shared(error: &BusError) -> BusError {
    match error {
        BusError::Timeout => BusError::Timeout,
        BusError::Unavailable(reason) => BusError::Unavailable(reason.to_string().into()),
        BusError::Encode(e) => {
            BusError::Unavailable(format!("command encoding failed: {e}").into())
        }
    }
}

#[cfg(test)]
mod tests {
    use schemas::{CommandId, Outcome, Rejection, ShowId};
    use uuid::Uuid;

    use super::*;

    fn reply(n: u128) -> Reply {
        Reply {
            schema: schemas::SCHEMA_VERSION,
            command_id: CommandId(Uuid::from_u128(n)),
            show_id: ShowId(Uuid::from_u128(7)),
            version: n as u64,
            outcome: Outcome::Rejected(Rejection::UnknownShow),
        }
    }

    fn to(address: &str) -> ReplyTo {
        ReplyTo(address.into())
    }

    #[test]
    fn one_message_per_inbox_and_every_reply_reaches_its_waiter() {
        let replies = [
            (to("_INBOX.a.1"), reply(1)),
            (to("_INBOX.b.9"), reply(2)),
            (to("_INBOX.a.2"), reply(3)),
            (to("elsewhere"), reply(4)),
            (to("_INBOX.a.3"), reply(5)),
        ];
        let messages = reply_messages(&replies).unwrap();
        let subjects: Vec<&str> = messages.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(subjects, ["elsewhere", "_INBOX.a.batch", "_INBOX.b.9"]);

        let waiters: Waiters = Arc::default();
        let mut receivers = Vec::new();
        for token in [1, 2, 3, 9] {
            let (tx, rx) = oneshot::channel();
            waiters.lock().unwrap().insert(token, tx);
            receivers.push((token, rx));
        }
        for (subject, payload) in &messages {
            route(&waiters, subject, payload);
        }
        let expected = [(1, 1), (2, 3), (3, 5), (9, 2)];
        for ((token, mut rx), (want_token, want_reply)) in receivers.into_iter().zip(expected) {
            assert_eq!(token, want_token);
            assert_eq!(rx.try_recv().unwrap(), reply(want_reply));
        }
        assert!(waiters.lock().unwrap().is_empty());
    }

    #[test]
    fn a_reply_for_a_waiter_gone_touches_no_other_waiter() {
        let messages = reply_messages(&[(to("_INBOX.a.1"), reply(1))]).unwrap();
        let waiters: Waiters = Arc::default();
        let (tx, mut rx) = oneshot::channel();
        waiters.lock().unwrap().insert(2, tx);
        for (subject, payload) in &messages {
            route(&waiters, subject, payload);
        }
        assert!(rx.try_recv().is_err());
        assert!(waiters.lock().unwrap().contains_key(&2));
    }
}
