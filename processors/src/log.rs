//! The command log seam: where a partition's commands come from, in order, and where replies go.
//!
//! Serve mode reads a JetStream consumer ([`crate::jetstream::JetStreamLog`]); dev mode reads an
//! in-process queue ([`crate::embedded::MemLog`]). The partition loop only sees this trait.

use std::time::Duration;

use async_trait::async_trait;
use schemas::{CommandEnvelope, Reply, ShowId, UnixMs};
use uuid::Uuid;

use crate::topology::PartitionId;

/// Where the reply to one command goes: a NATS inbox subject in serve mode, a waiter token in dev
/// mode. Opaque to the partition loop.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplyTo(pub String);

/// What a log position holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEntry {
    /// A decodable command.
    Command(CommandEnvelope),
    /// Move a show to another partition. Logged in the partition that owns the show, so the
    /// owner applies every command logged before it first; applying it names the new partition
    /// in the show's fence, and from then on the old partition forwards the show's commands
    /// there. Never given to the engine: ownership is the pipeline's concern.
    Handover(Handover),
    /// Bytes that are not a command of a schema this build reads. Skipped (and counted), never
    /// allowed to block the partition.
    Malformed {
        /// Why decoding failed.
        detail: String,
    },
}

/// A request to move a show's commands to another partition (see [`LogEntry::Handover`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handover {
    /// The show.
    pub show_id: ShowId,
    /// The partition that applies the show's commands after the handover.
    pub to: PartitionId,
    /// Identity of the request: the log stores a repeated request once.
    pub request_id: Uuid,
}

impl LogEntry {
    /// The show the entry is about, if it can be read.
    pub fn show_id(&self) -> Option<ShowId> {
        match self {
            LogEntry::Command(envelope) => Some(envelope.show_id),
            LogEntry::Handover(handover) => Some(handover.show_id),
            LogEntry::Malformed { .. } => None,
        }
    }
}

/// One command as the log delivered it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedCommand {
    /// Position in the log. Strictly increasing within a partition and never reused, so a show's
    /// `applied_seq` tells which commands it has seen.
    pub seq: u64,
    /// Log time of the command: the engine decides with it, so a replay decides identically.
    pub at: UnixMs,
    /// The command.
    pub entry: LogEntry,
    /// Where the requester waits for the decision, if anyone does.
    pub reply_to: Option<ReplyTo>,
    /// Position within its log message when the message carries several commands (0 for the
    /// first or only one). Commands of one message share `seq`: the loop applies a message
    /// whole, in one conditional batch, so `applied_seq` still tells what a show has seen.
    pub part: u16,
}

/// The log failed. Retryable errors are worth retrying after a pause; fatal ones stop the loop.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log service is unreachable or timed out.
    #[error("command log unavailable: {0}")]
    Unavailable(#[source] crate::Cause),
    /// The log was closed (shutdown): the loop finishes what it holds and exits.
    #[error("command log closed")]
    Closed,
    /// A misconfiguration or protocol violation that retrying cannot fix.
    #[error("command log failed: {0}")]
    Fatal(#[source] crate::Cause),
    /// A delivery was lost in transit (the consumer's delivery sequence skipped). Nothing after
    /// it may be processed or acknowledged: a cumulative ack would acknowledge the lost command
    /// too. The owner starts reading again from the last acknowledged command.
    #[error("delivery {expected} was lost in transit (the next one delivered is {delivered})")]
    Gap {
        /// The delivery sequence that should have come next.
        expected: u64,
        /// The one that came.
        delivered: u64,
    },
}

impl LogError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LogError::Unavailable(_) => true,
            LogError::Closed | LogError::Fatal(_) | LogError::Gap { .. } => false,
        }
    }
}

/// A partition's ordered command log as one consumer sees it.
#[async_trait]
pub trait CommandLog: Send {
    /// The next commands in log order: at least one, at most `batch_size_max`, waiting up to
    /// `wait` for the first and then taking only what is already there. An empty vector means
    /// nothing arrived in time.
    async fn next_batch(
        &mut self,
        batch_size_max: usize,
        wait: Duration,
    ) -> Result<Vec<LoggedCommand>, LogError>;

    /// Acknowledge every delivered command up to and including `seq` (cumulative): they will not
    /// be delivered again. Called strictly after the commands' effects are persisted.
    async fn ack_through(&mut self, seq: u64) -> Result<(), LogError>;

    /// Send a decision to a waiting requester. Best effort: the requester may have given up.
    async fn reply(&self, to: &ReplyTo, reply: &Reply) -> Result<(), LogError>;

    /// Send a batch's decisions, in order. A log whose requesters share a channel overrides this
    /// to send each channel one message for the batch instead of one per decision. Best effort
    /// like [`CommandLog::reply`]: the decisions that failed to go are counted in the `Err`.
    async fn reply_all(&mut self, replies: &[(ReplyTo, Reply)]) -> Result<(), LogError> {
        let mut failed = Vec::new();
        for (to, reply) in replies {
            if let Err(e) = self.reply(to, reply).await {
                failed.push(e);
            }
        }
        match failed.pop() {
            None => Ok(()),
            Some(last) => Err(LogError::Unavailable(
                format!(
                    "{} of {} replies not delivered, the last because: {last}",
                    failed.len() + 1,
                    replies.len()
                )
                .into(),
            )),
        }
    }

    /// Append a command to the log of the command's show (the loop schedules `Expire` this way,
    /// so expiry is ordered with every other command and replays identically).
    async fn append(&self, envelope: &CommandEnvelope) -> Result<(), LogError>;

    /// Append again, at the end of its show's log and with its requester, a command the loop
    /// passed without ever applying it (a show's `applied_seq` overtook it), so it is decided
    /// in its new place instead of lost. Stored once per original position: repeating the call
    /// after a crash does not add a second copy (and the engine would recall it anyway).
    async fn resubmit(
        &self,
        command: &LoggedCommand,
        envelope: &CommandEnvelope,
    ) -> Result<(), LogError>;

    /// Append `command` (its entry and its requester) to partition `to`'s log: the show's fence
    /// names `to`, so this partition may not decide it. Stored once per original position, like
    /// [`CommandLog::resubmit`].
    async fn forward(&self, command: &LoggedCommand, to: &PartitionId) -> Result<(), LogError>;

    /// Append `entry` to partition `to`'s log with no requester: a handover request for the
    /// show's owner, or an `Expire` for the partition a show was handed to. A repeated call with
    /// the same entry is stored once.
    async fn append_to(&self, to: &PartitionId, entry: &LogEntry) -> Result<(), LogError>;

    /// Commands waiting behind the last delivered one, if the log knows (consumer lag).
    fn pending(&self) -> Option<u64> {
        None
    }
}

/// The id under which the copy of `command` forwarded to another partition is stored once: one
/// per original log position, so forwarding again after a crash adds nothing.
pub fn forward_dedupe(command: &LoggedCommand) -> String {
    format!("forward:{}:{}", command.seq, command.part)
}

/// The order a consumer's deliveries must arrive in. The server numbers every delivery of a
/// consumer (stream sequences skip other partitions' commands; these do not), so a delivery whose
/// number is not the next one means one was lost in transit, such as one sent while the
/// connection was being replaced. With cumulative acks nothing after such a gap may be processed:
/// acknowledging it would acknowledge the lost command too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeliveryOrder {
    next: u64,
}

impl DeliveryOrder {
    /// Deliveries continue after `delivered`, the consumer's last delivery number when reading
    /// (re)starts.
    pub fn after(delivered: u64) -> DeliveryOrder {
        DeliveryOrder {
            next: delivered + 1,
        }
    }

    /// The delivery number that must come next.
    pub fn expected(&self) -> u64 {
        self.next
    }

    /// Take delivery number `delivery`, or name the gap before it.
    pub fn accept(&mut self, delivery: u64) -> Result<(), LogError> {
        if delivery != self.next {
            return Err(LogError::Gap {
                expected: self.next,
                delivered: delivery,
            });
        }
        self.next += 1;
        Ok(())
    }

    /// After an idle wait: the server reports it delivered through `delivered`; anything
    /// reported and never received is a gap.
    pub fn missing(&self, delivered: u64) -> Option<LogError> {
        (delivered >= self.next).then_some(LogError::Gap {
            expected: self.next,
            delivered,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skipped_delivery_is_a_gap_and_nothing_after_it_is_taken() {
        let mut order = DeliveryOrder::after(4);
        assert!(order.accept(5).is_ok());
        assert!(order.missing(5).is_none());
        assert!(matches!(
            order.accept(7),
            Err(LogError::Gap {
                expected: 6,
                delivered: 7
            })
        ));
        assert_eq!(order.expected(), 6, "the gap is not stepped over");
        assert!(matches!(
            order.missing(6),
            Some(LogError::Gap { expected: 6, .. })
        ));
    }
}
