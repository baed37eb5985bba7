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
use schemas::{CommandEnvelope, Reply};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::bus::{BusError, CommandBus};
use crate::partition::wall_now;
use crate::serve::nats::NatsError;
use crate::topology::Topology;

/// Header carrying the subject the processor replies to. (The message's own reply subject is
/// taken by JetStream's publish acknowledgement.)
pub const REPLY_TO_HEADER: &str = "Boxoffice-Reply-To";

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<Reply>>>>;

/// Submits commands through JetStream. Cloning shares the connection and the reply inbox.
#[derive(Clone)]
pub struct NatsBus {
    js: jetstream::Context,
    topology: Arc<Topology>,
    inbox: String,
    waiters: Waiters,
    next_token: Arc<AtomicU64>,
    reply_timeout: Duration,
    _router: Arc<AbortOnDrop>,
}

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
                let token = message
                    .subject
                    .rsplit('.')
                    .next()
                    .and_then(|t| t.parse::<u64>().ok());
                let waiter = token.and_then(|t| routed.lock().expect("waiters lock").remove(&t));
                match (waiter, schemas::decode::<Reply>(&message.payload)) {
                    (Some(tx), Ok(reply)) => {
                        let _ = tx.send(reply);
                    }
                    (None, _) => debug!(subject = %message.subject, "reply for nobody (timed out)"),
                    (Some(_), Err(e)) => debug!(error = %e, "undecodable reply"),
                }
            }
        });
        Ok(NatsBus {
            js: jetstream::new(client),
            topology,
            inbox,
            waiters,
            next_token: Arc::new(AtomicU64::new(1)),
            reply_timeout,
            _router: Arc::new(AbortOnDrop(router)),
        })
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
        let subject = self.topology.command_subject(envelope.show_id);
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload.to_vec().into())
            .await
            // Not sent at all: nothing can apply.
            .map_err(|e| BusError::Unavailable(e.to_string()))?;
        match tokio::time::timeout(self.reply_timeout, ack).await {
            Ok(Ok(ack)) => Ok(!ack.duplicate),
            Ok(Err(e)) => match e.kind() {
                async_nats::jetstream::context::PublishErrorKind::StreamNotFound => {
                    Err(BusError::Unavailable(e.to_string()))
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
        let payload = schemas::encode(&envelope)?;
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let reply_subject = format!("{}.{token}", self.inbox);
        let (tx, rx) = oneshot::channel();
        self.waiters.lock().expect("waiters lock").insert(token, tx);
        let forget = || self.waiters.lock().expect("waiters lock").remove(&token);
        let command_id = envelope.command_id.to_string();
        let stored = match self
            .publish(&envelope, &payload, &command_id, &reply_subject)
            .await
        {
            Ok(stored) => stored,
            Err(e) => {
                forget();
                return Err(e);
            }
        };
        if !stored {
            // A retry inside the duplicate window: the first copy's reply went to its own
            // requester. Log a distinct copy; the engine answers it with the first outcome.
            let copy_id = format!("{command_id}:{}", wall_now().0);
            if let Err(e) = self
                .publish(&envelope, &payload, &copy_id, &reply_subject)
                .await
            {
                forget();
                return Err(e);
            }
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
