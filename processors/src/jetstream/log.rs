//! [`JetStreamLog`]: a partition's commands from its durable JetStream consumer (pinned-client
//! priority group, cumulative acks), replies over core NATS, `Expire` appended by publishing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PriorityPolicy};
use async_nats::jetstream::{self, consumer::PullConsumer, consumer::pull};
use async_trait::async_trait;
use futures::{FutureExt, StreamExt};
use schemas::{CommandEnvelope, Reply, UnixMs};
use tracing::{debug, info, warn};

use crate::jetstream::bus::{REPLY_TO_HEADER, logged_commands, reply_messages};
use crate::jetstream::nats::NatsError;
use crate::log::{
    CommandLog, DeliveryOrder, Handover, LogEntry, LogError, LoggedCommand, ReplyTo, forward_dedupe,
};
use crate::topology::{PartitionId, Topology};

/// Header of a handover message ([`LogEntry::Handover`]): the partition the show goes to. The
/// payload is the show id; [`HANDOVER_ID_HEADER`] carries the request id.
pub const HANDOVER_HEADER: &str = "Boxoffice-Handover";

/// Header carrying a handover's request id.
pub const HANDOVER_ID_HEADER: &str = "Boxoffice-Handover-Id";

/// The headers and payload of a handover message.
pub fn handover_message(handover: &Handover) -> (HeaderMap, Vec<u8>) {
    let mut headers = HeaderMap::new();
    headers.insert(HANDOVER_HEADER, handover.to.0.as_str());
    let id = handover.request_id.to_string();
    headers.insert(HANDOVER_ID_HEADER, id.as_str());
    headers.insert("Nats-Msg-Id", format!("handover:{id}").as_str());
    (headers, handover.show_id.to_string().into_bytes())
}

/// A handover message's entry, if the message is one (`Some(Err)`: one that cannot be read).
fn handover_entry(headers: Option<&HeaderMap>, payload: &[u8]) -> Option<Result<Handover, String>> {
    let header = |name: &str| headers.and_then(|h| h.get(name)).map(|v| v.as_str());
    let to = header(HANDOVER_HEADER)?;
    let read = || -> Result<Handover, String> {
        let show = std::str::from_utf8(payload).map_err(|e| e.to_string())?;
        let request = header(HANDOVER_ID_HEADER).ok_or("a handover without its request id")?;
        Ok(Handover {
            show_id: schemas::ShowId(show.parse().map_err(|e| format!("show id: {e}"))?),
            to: PartitionId(to.to_string()),
            request_id: request.parse().map_err(|e| format!("request id: {e}"))?,
        })
    };
    Some(read())
}

/// Get the partition's durable consumer ready for a new owner. A consumer with deliveries still
/// unacknowledged (the previous owner died or stopped mid-batch) is recreated from its ack floor,
/// so the new owner receives those commands again, first and in order, instead of after their
/// ack wait behind newer ones. A missing consumer starts from the beginning of the stream (every
/// show skips what it has applied).
pub async fn prepare_consumer(
    js: &jetstream::Context,
    topology: &Topology,
    partition: &PartitionId,
) -> Result<PullConsumer, NatsError> {
    let failed = |e: &dyn std::fmt::Display| NatsError::JetStream(e.to_string());
    let stream = js
        .get_stream(&topology.commands.stream)
        .await
        .map_err(|e| failed(&e))?;
    let name = topology.consumer_name(partition);
    let group = topology.processor.priority_group.clone();
    let deliver = match stream.get_consumer::<pull::Config>(&name).await {
        Ok(mut consumer) => {
            let info = consumer.info().await.map_err(|e| failed(&e))?;
            if info.num_ack_pending == 0 {
                // Release a pin a dead owner may still hold, so we are served at once.
                let _ = stream.unpin_consumer(&name, &group).await;
                return Ok(consumer);
            }
            let start_sequence = info.ack_floor.stream_sequence + 1;
            info!(%partition, start_sequence, pending = info.num_ack_pending,
                "recreating consumer from its ack floor");
            stream
                .delete_consumer(&name)
                .await
                .map_err(|e| failed(&e))?;
            DeliverPolicy::ByStartSequence { start_sequence }
        }
        Err(_) => DeliverPolicy::All,
    };
    let config = consumer_config(topology, partition, deliver);
    stream.create_consumer(config).await.map_err(|e| failed(&e))
}

fn consumer_config(
    topology: &Topology,
    partition: &PartitionId,
    deliver: DeliverPolicy,
) -> pull::Config {
    let settings = &topology.processor;
    pull::Config {
        durable_name: Some(topology.consumer_name(partition)),
        filter_subject: topology.partition_filter(partition),
        deliver_policy: deliver,
        ack_policy: AckPolicy::All,
        ack_wait: Duration::from_secs(settings.ack_wait_s),
        max_ack_pending: (settings.batch_size_max * 8) as i64,
        priority_policy: PriorityPolicy::PinnedClient,
        priority_groups: vec![settings.priority_group.clone()],
        priority_timeout: Duration::from_millis(settings.pin_timeout_ms),
        ..Default::default()
    }
}

/// One partition's command log over JetStream. Acknowledgements are cumulative, so deliveries
/// are checked for gaps (see [`LogError::Gap`]): a batch never reaches past a lost delivery.
pub struct JetStreamLog {
    client: async_nats::Client,
    js: jetstream::Context,
    topology: Arc<Topology>,
    messages: pull::Stream,
    /// The last message of each batch handed out and not yet acknowledged, oldest first: acking
    /// one acknowledges everything before it (AckAll). The loop acknowledges a batch while the
    /// next is in hand, so this holds at most a few entries.
    unacked: VecDeque<(u64, jetstream::Message)>,
    /// The last message delivered, until its batch is complete.
    last: Option<(u64, jetstream::Message)>,
    pending: Option<u64>,
    /// The consumer sequence the next delivery must carry (see [`DeliveryOrder`]).
    order: DeliveryOrder,
    /// The consumer, to ask the server how far it delivered (see [`GAP_PROBE_EVERY`]).
    consumer: PullConsumer,
    /// When the server was last asked.
    last_probe: tokio::time::Instant,
}

/// A delivery lost at the tail of the traffic has no later delivery to reveal it, so a partition
/// that has been idle this long asks the server how far it delivered: anything delivered and
/// never received (after [`GAP_PROBE_GRACE`], for a delivery still on its way) is a gap. Idle
/// partitions only: under traffic the next delivery reveals a gap first.
pub const GAP_PROBE_EVERY: Duration = Duration::from_millis(500);

/// How long a delivery the server reports may still be on its way before it counts as lost.
pub const GAP_PROBE_GRACE: Duration = Duration::from_millis(100);

impl std::fmt::Debug for JetStreamLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamLog").finish_non_exhaustive()
    }
}

impl JetStreamLog {
    /// Start pulling `consumer` in the topology's priority group.
    pub async fn open(
        client: async_nats::Client,
        topology: Arc<Topology>,
        consumer: &PullConsumer,
    ) -> Result<JetStreamLog, NatsError> {
        let settings = &topology.processor;
        // Pull requests must expire well inside the pin timeout, or the pin is lost between
        // pulls.
        let expires =
            Duration::from_millis(settings.pin_timeout_ms / 3).max(Duration::from_millis(300));
        let messages = consumer
            .stream()
            .group(settings.priority_group.clone())
            .max_messages_per_batch(settings.batch_size_max)
            .expires(expires)
            .heartbeat(expires / 4)
            .messages()
            .await
            .map_err(|e| NatsError::JetStream(e.to_string()))?;
        Ok(JetStreamLog {
            js: jetstream::new(client.clone()),
            client,
            topology,
            messages,
            unacked: VecDeque::new(),
            last: None,
            pending: None,
            order: DeliveryOrder::after(consumer.cached_info().delivered.consumer_sequence),
            consumer: consumer.clone(),
            last_probe: tokio::time::Instant::now(),
        })
    }

    /// After an idle wait (at most every [`GAP_PROBE_EVERY`]): whether the server delivered more
    /// than arrived. A delivery that turns up within the grace is handed back to be taken;
    /// otherwise the gap is an error. Failing to ask is no error: the next probe asks again.
    async fn probe_for_gap(&mut self) -> Result<Option<jetstream::Message>, LogError> {
        if self.last_probe.elapsed() < GAP_PROBE_EVERY {
            return Ok(None);
        }
        self.last_probe = tokio::time::Instant::now();
        let delivered = match self.consumer.get_info().await {
            Ok(info) => info.delivered.consumer_sequence,
            Err(e) => {
                debug!(error = %e, "could not ask how far the consumer delivered");
                return Ok(None);
            }
        };
        let Some(gap) = self.order.missing(delivered) else {
            return Ok(None);
        };
        match tokio::time::timeout(GAP_PROBE_GRACE, self.messages.next()).await {
            Ok(Some(Ok(message))) => Ok(Some(message)),
            Ok(Some(Err(e))) => Err(unavailable(e)),
            Ok(None) => Err(LogError::Closed),
            Err(_) => Err(gap),
        }
    }

    /// The commands one delivered message carries (one, or a [`schemas::CommandBatch`]'s).
    fn logged(&mut self, message: jetstream::Message) -> Result<Vec<LoggedCommand>, LogError> {
        let info = message.info().map_err(LogError::Fatal)?;
        let seq = info.stream_sequence;
        self.order.accept(info.consumer_sequence)?;
        let at = UnixMs((info.published.unix_timestamp_nanos() / 1_000_000) as i64);
        self.pending = Some(info.pending);
        let logged = |part: usize, entry, reply_to| LoggedCommand {
            seq,
            at,
            entry,
            reply_to,
            part: part as u16,
        };
        let headers = message.headers.as_ref();
        let commands = match handover_entry(headers, &message.payload) {
            Some(Ok(handover)) => vec![logged(0, LogEntry::Handover(handover), None)],
            Some(Err(detail)) => vec![logged(0, LogEntry::Malformed { detail }, None)],
            None => match logged_commands(headers, &message.payload) {
                Ok(commands) => commands
                    .into_iter()
                    .enumerate()
                    .map(|(part, (envelope, reply_to))| {
                        logged(part, LogEntry::Command(envelope), reply_to)
                    })
                    .collect(),
                Err(e) => vec![logged(
                    0,
                    LogEntry::Malformed {
                        detail: e.to_string(),
                    },
                    None,
                )],
            },
        };
        self.last = Some((seq, message));
        Ok(commands)
    }
}

/// Group commit: a batch of fewer than [`BATCH_LINGER_BELOW`] commands waits up to this long after
/// its first command for more. Every batch costs one Paxos round per show whatever its size, and
/// at moderate load the loop otherwise persisted batches of ~10 commands, so Cassandra spent
/// about as much CPU at half load as at full load and the box had no headroom left for the tail.
/// A few milliseconds on the median buys several times fewer rounds; under a deep backlog
/// batches are larger than the threshold and never wait.
pub const BATCH_LINGER: Duration = Duration::from_millis(4);

/// Batches at least this large are taken as they are (see [`BATCH_LINGER`]).
pub const BATCH_LINGER_BELOW: usize = 32;

impl JetStreamLog {
    /// Store `envelope` in its show's command subject and wait for the stream's ack.
    async fn publish(
        &self,
        envelope: &CommandEnvelope,
        headers: HeaderMap,
    ) -> Result<(), LogError> {
        let subject = self.topology.command_subject(envelope.show_id);
        self.publish_on(subject, envelope, headers).await
    }

    /// Store `envelope` on `subject` and wait for the stream's ack.
    async fn publish_on(
        &self,
        subject: String,
        envelope: &CommandEnvelope,
        headers: HeaderMap,
    ) -> Result<(), LogError> {
        let payload = schemas::encode(envelope).map_err(|e| LogError::Fatal(e.into()))?;
        self.store_message(subject, headers, payload).await
    }

    /// Store `entry` in partition `to`: a command as its envelope (answered to `reply_to`), a
    /// handover as its own message; `dedupe`, when given, is its `Nats-Msg-Id`. A malformed
    /// entry has nothing to send.
    async fn send_entry(
        &self,
        to: &PartitionId,
        entry: &LogEntry,
        dedupe: Option<&str>,
        reply_to: Option<&ReplyTo>,
    ) -> Result<(), LogError> {
        let (subject, mut headers, payload) = match entry {
            LogEntry::Command(envelope) => {
                let mut headers = HeaderMap::new();
                if let Some(reply_to) = reply_to {
                    headers.insert(REPLY_TO_HEADER, reply_to.0.as_str());
                }
                let payload = schemas::encode(envelope).map_err(|e| LogError::Fatal(e.into()))?;
                let subject = self.topology.partition_subject(to, envelope.show_id);
                (subject, headers, payload)
            }
            LogEntry::Handover(handover) => {
                let (headers, payload) = handover_message(handover);
                let subject = self.topology.partition_subject(to, handover.show_id);
                (subject, headers, payload)
            }
            LogEntry::Malformed { .. } => return Ok(()),
        };
        if let Some(dedupe) = dedupe {
            headers.insert("Nats-Msg-Id", dedupe);
        }
        self.store_message(subject, headers, payload).await
    }

    /// Store one message on `subject` and wait for the stream's ack.
    async fn store_message(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<(), LogError> {
        let ack = self
            .js
            .publish_with_headers(subject, headers, payload.into())
            .await
            .map_err(unavailable)?;
        ack.await.map_err(unavailable)?;
        Ok(())
    }
}

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(e.to_string().into())
}

#[async_trait]
impl CommandLog for JetStreamLog {
    async fn next_batch(
        &mut self,
        batch_size_max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError> {
        let first = match tokio::time::timeout(wait, self.messages.next()).await {
            Err(_) => match self.probe_for_gap().await? {
                None => return Ok(Vec::new()),
                Some(message) => message,
            },
            Ok(None) => return Err(LogError::Closed),
            Ok(Some(Err(e))) => return Err(unavailable(e)),
            Ok(Some(Ok(message))) => message,
        };
        let linger_until = tokio::time::Instant::now() + BATCH_LINGER;
        let mut batch = self.logged(first)?;
        loop {
            // What has already arrived.
            while batch.len() < batch_size_max {
                match self.messages.next().now_or_never() {
                    Some(Some(Ok(message))) => batch.extend(self.logged(message)?),
                    Some(Some(Err(e))) => {
                        warn!(error = %e, "pull stream error after a partial batch");
                        break;
                    }
                    Some(None) | None => break,
                }
            }
            if batch.len() >= BATCH_LINGER_BELOW.min(batch_size_max) {
                break;
            }
            // A small batch waits a little for more (see BATCH_LINGER); a full one never waits.
            match tokio::time::timeout_at(linger_until, self.messages.next()).await {
                Ok(Some(Ok(message))) => batch.extend(self.logged(message)?),
                Ok(Some(Err(e))) => {
                    warn!(error = %e, "pull stream error after a partial batch");
                    break;
                }
                Ok(None) | Err(_) => break,
            }
        }
        self.unacked.extend(self.last.take());
        Ok(batch)
    }

    async fn ack_through(&mut self, seq: u64) -> Result<(), LogError> {
        let Some(at) = self.unacked.iter().position(|(s, _)| *s == seq) else {
            return match self.unacked.front() {
                Some((first, _)) if *first < seq => Err(LogError::Fatal(
                    format!("ack through {seq}, which ends no delivered batch").into(),
                )),
                // Already acknowledged (cumulatively), or nothing delivered.
                _ => Ok(()),
            };
        };
        // A plain ack, not a double ack: waiting for the server to confirm cost the loop a round
        // trip per batch (up to 50 ms under load) on its critical path. Losing an ack is safe:
        // the batch is durable, so its redelivery is recognised by sequence and answered from the
        // engine's memory. The ack goes out on this connection before anything published after
        // it (such as the lease release on stop), so the server sees it first.
        self.unacked[at].1.ack().await.map_err(unavailable)?;
        self.unacked.drain(..=at);
        Ok(())
    }

    async fn reply(&self, to: &ReplyTo, reply: &Reply) -> Result<(), LogError> {
        let payload = schemas::encode(reply).map_err(|e| LogError::Fatal(e.into()))?;
        self.client
            .publish(to.0.clone(), payload.into())
            .await
            .map_err(unavailable)
    }

    async fn reply_all(&mut self, replies: &[(ReplyTo, Reply)]) -> Result<(), LogError> {
        let messages = reply_messages(replies).map_err(|e| LogError::Fatal(e.into()))?;
        for (subject, payload) in messages {
            self.client
                .publish(subject, payload.into())
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    async fn append(&self, envelope: &CommandEnvelope) -> Result<(), LogError> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", envelope.command_id.to_string().as_str());
        self.publish(envelope, headers).await
    }

    async fn resubmit(
        &self,
        command: &LoggedCommand,
        envelope: &CommandEnvelope,
    ) -> Result<(), LogError> {
        let mut headers = HeaderMap::new();
        // Not the command id: the first copy holds that inside the duplicate window.
        let dedupe = format!("{}:late:{}", envelope.command_id, command.seq);
        headers.insert("Nats-Msg-Id", dedupe.as_str());
        if let Some(to) = &command.reply_to {
            headers.insert(REPLY_TO_HEADER, to.0.as_str());
        }
        self.publish(envelope, headers).await
    }

    async fn forward(&self, command: &LoggedCommand, to: &PartitionId) -> Result<(), LogError> {
        let dedupe = forward_dedupe(command);
        let reply_to = command.reply_to.as_ref();
        self.send_entry(to, &command.entry, Some(&dedupe), reply_to)
            .await
    }

    async fn append_to(&self, to: &PartitionId, entry: &LogEntry) -> Result<(), LogError> {
        let dedupe = match entry {
            LogEntry::Command(envelope) => Some(envelope.command_id.to_string()),
            _ => None,
        };
        self.send_entry(to, entry, dedupe.as_deref(), None).await
    }

    fn pending(&self) -> Option<u64> {
        self.pending
    }
}
