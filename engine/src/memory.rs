//! Idempotency memory: the outcome of every recent command, by command id.
//!
//! Records sit in a queue in the order they were remembered; their timestamps never decrease (a
//! record is stamped with the latest time seen, so a stream clock stepping back cannot reorder
//! the queue). Pruning pops from the front while the front is older than the retention, so it
//! is O(1) amortized and deterministic: a restored state prunes exactly the same records at the
//! same stream times.

use schemas::{CommandId, Fingerprint, Outcome, UnixMs};

use crate::chunked::Chunked;
use crate::index::{SlotIndex, hash_uuid};

/// How long outcomes are remembered. The contract promises at least 24 h; the extra hour absorbs
/// skew between the ingress clock (which starts the 24 h of its idempotency index) and the stream
/// clock (which stamps records here).
pub const OUTCOME_RETENTION_MS: i64 = 25 * 60 * 60 * 1000;

/// A remembered outcome in compact form: accepted outcomes point at the hold or booking whose
/// immutable fields rebuild the events exactly; everything else is kept whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stored {
    /// `Accepted([Held])` of the hold in this slot.
    Held(u32),
    /// `Accepted([Confirmed])` of the booking in this slot.
    Confirmed(u32),
    /// `Accepted([Released])` of the hold in this slot.
    Released(u32),
    /// `Accepted([Cancelled])` of the booking in this slot.
    Cancelled(u32),
    /// `Accepted([Expired, ...])` of the holds in these slots, in event order (boxed twice so
    /// the record stays two words: `Expire` commands are few).
    #[allow(clippy::box_collection)]
    Expired(Box<Vec<u32>>),
    /// Any other outcome, verbatim.
    Full(Box<Outcome>),
}

/// One remembered command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub(crate) command_id: CommandId,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) at: UnixMs,
    pub(crate) outcome: Stored,
}

/// What the memory knows about a command id.
pub(crate) enum Recall<'a> {
    /// Never seen (or pruned).
    Unknown,
    /// Seen with the same fingerprint: this is its outcome.
    Same(&'a Stored),
    /// Seen with another fingerprint.
    Reused,
}

/// Outcomes by command id, pruned in time order.
#[derive(Clone, Debug)]
pub(crate) struct OutcomeMemory {
    queue: Chunked<Remembered>,
    /// Sequence number of `queue[0]`; a record's sequence number is its position plus this
    /// (wrapping: fewer than 2^32 records are ever remembered at once).
    first_seq: u32,
    /// Sequence numbers by command id.
    by_id: SlotIndex,
    latest_at: UnixMs,
}

impl Default for OutcomeMemory {
    fn default() -> Self {
        OutcomeMemory {
            queue: Chunked::default(),
            first_seq: 0,
            by_id: SlotIndex::default(),
            latest_at: UnixMs(i64::MIN),
        }
    }
}

impl OutcomeMemory {
    fn record(&self, seq: u32) -> &Remembered {
        &self.queue[seq.wrapping_sub(self.first_seq) as usize]
    }

    fn find(&self, command_id: CommandId) -> Option<u32> {
        self.by_id.find(hash_uuid(&command_id.0), |seq| {
            self.record(seq).command_id == command_id
        })
    }

    /// Look a command id up.
    pub(crate) fn recall(&self, command_id: CommandId, fingerprint: Fingerprint) -> Recall<'_> {
        let Some(seq) = self.find(command_id) else {
            return Recall::Unknown;
        };
        let record = self.record(seq);
        if record.fingerprint == fingerprint {
            Recall::Same(&record.outcome)
        } else {
            Recall::Reused
        }
    }

    /// Remember a fresh outcome at `now` (stamped no earlier than the previous record); returns
    /// its sequence number. The command id must be unknown (`recall` said so).
    pub(crate) fn remember(
        &mut self,
        command_id: CommandId,
        fingerprint: Fingerprint,
        now: UnixMs,
        outcome: Stored,
    ) -> u32 {
        let at = UnixMs(now.0.max(self.latest_at.0));
        self.push(Remembered {
            command_id,
            fingerprint,
            at,
            outcome,
        })
    }

    /// Append a record of an unknown command id whose stamp is not older than the last one
    /// (restore feeds sorted records); returns its sequence number.
    pub(crate) fn push(&mut self, record: Remembered) -> u32 {
        self.latest_at = UnixMs(record.at.0.max(self.latest_at.0));
        let seq = self.first_seq.wrapping_add(self.queue.len() as u32);
        let hash = hash_uuid(&record.command_id.0);
        self.queue.push(record);
        self.by_id.insert(hash, seq);
        seq
    }

    /// Forget every record remembered at or before `now - OUTCOME_RETENTION_MS`; reports each
    /// forgotten command id to `forgotten`.
    pub(crate) fn prune(&mut self, now: UnixMs, mut forgotten: impl FnMut(CommandId)) {
        let mut pruned = false;
        while let Some(front) = self.queue.front() {
            if front.at.0.saturating_add(OUTCOME_RETENTION_MS) > now.0 {
                break;
            }
            let command_id = front.command_id;
            let first = self.first_seq;
            self.by_id
                .remove(hash_uuid(&command_id.0), |seq| seq == first);
            self.queue.pop_front();
            self.first_seq = self.first_seq.wrapping_add(1);
            forgotten(command_id);
            pruned = true;
        }
        if pruned {
            self.by_id.shrink();
        }
    }

    /// The record with this sequence number, unless it was forgotten.
    pub(crate) fn at_seq(&self, seq: u32) -> Option<&Remembered> {
        self.queue.get(seq.wrapping_sub(self.first_seq) as usize)
    }

    /// The record of a command id.
    pub(crate) fn get(&self, command_id: CommandId) -> Option<&Remembered> {
        self.find(command_id).map(|seq| self.record(seq))
    }

    /// Every record, oldest first.
    pub(crate) fn records(&self) -> impl Iterator<Item = &Remembered> {
        self.queue.iter()
    }

    /// Number of remembered outcomes.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}
