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
use crate::packed::PackedMs;

/// How long outcomes are remembered. The contract promises at least 24 h; the extra hour absorbs
/// skew between the ingress clock (which starts the 24 h of its idempotency index) and the stream
/// clock (which stamps records here).
pub const OUTCOME_RETENTION_MS: i64 = 25 * 60 * 60 * 1000;

/// A remembered outcome as `decide` hands it over: accepted outcomes point at the hold or
/// booking whose immutable fields rebuild the events exactly; everything else is kept whole.
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
    /// `Accepted([Expired, ...])` of the holds in these slots, in event order.
    Expired(Vec<u32>),
    /// Any other outcome, verbatim.
    Full(Box<Outcome>),
}

/// A remembered outcome as the memory lends it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoredRef<'a> {
    /// See [`Stored::Held`].
    Held(u32),
    /// See [`Stored::Confirmed`].
    Confirmed(u32),
    /// See [`Stored::Released`].
    Released(u32),
    /// See [`Stored::Cancelled`].
    Cancelled(u32),
    /// See [`Stored::Expired`].
    Expired(&'a [u32]),
    /// See [`Stored::Full`].
    Full(&'a Outcome),
}

/// The outcome inside a record: 8 bytes. The few outcomes that do not fit (expiries, rejections
/// and other verbatim outcomes) sit in a second queue, `OutcomeMemory::extras`, that is
/// remembered and pruned in the same order; the record names its extra by sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compact {
    Held(u32),
    Confirmed(u32),
    Released(u32),
    Cancelled(u32),
    /// The extra with this sequence number is an `Extra::Expired`.
    Expired(u32),
    /// The extra with this sequence number is an `Extra::Full`.
    Full(u32),
}

/// An outcome too big for a record.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Extra {
    Expired(Box<[u32]>),
    Full(Box<Outcome>),
}

/// One remembered command: 48 bytes, 4-aligned.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Remembered {
    command_id: CommandId,
    fingerprint: Fingerprint,
    at: PackedMs,
    outcome: Compact,
}

/// One remembered command as the memory lends it out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordRef<'a> {
    pub(crate) command_id: CommandId,
    pub(crate) fingerprint: Fingerprint,
    pub(crate) at: UnixMs,
    pub(crate) outcome: StoredRef<'a>,
}

/// What the memory knows about a command id.
pub(crate) enum Recall<'a> {
    /// Never seen (or pruned).
    Unknown,
    /// Seen with the same fingerprint: this is its outcome.
    Same(StoredRef<'a>),
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
    /// Outcomes too big for their record, in the order of their records.
    extras: Chunked<Extra>,
    /// Sequence number of `extras[0]` (numbered like `first_seq`).
    first_extra: u32,
    /// Sequence numbers by command id.
    by_id: SlotIndex,
    latest_at: UnixMs,
}

impl Default for OutcomeMemory {
    fn default() -> Self {
        OutcomeMemory {
            queue: Chunked::default(),
            first_seq: 0,
            extras: Chunked::default(),
            first_extra: 0,
            by_id: SlotIndex::default(),
            latest_at: UnixMs(i64::MIN),
        }
    }
}

impl OutcomeMemory {
    fn record(&self, seq: u32) -> &Remembered {
        &self.queue[seq.wrapping_sub(self.first_seq) as usize]
    }

    fn lend(&self, outcome: Compact) -> StoredRef<'_> {
        let extra = |seq: u32| &self.extras[seq.wrapping_sub(self.first_extra) as usize];
        match outcome {
            Compact::Held(slot) => StoredRef::Held(slot),
            Compact::Confirmed(slot) => StoredRef::Confirmed(slot),
            Compact::Released(slot) => StoredRef::Released(slot),
            Compact::Cancelled(slot) => StoredRef::Cancelled(slot),
            Compact::Expired(seq) | Compact::Full(seq) => match extra(seq) {
                Extra::Expired(slots) => StoredRef::Expired(slots),
                Extra::Full(outcome) => StoredRef::Full(outcome),
            },
        }
    }

    fn lend_record<'a>(&'a self, record: &'a Remembered) -> RecordRef<'a> {
        RecordRef {
            command_id: record.command_id,
            fingerprint: record.fingerprint,
            at: record.at.get(),
            outcome: self.lend(record.outcome),
        }
    }

    /// (hash, sequence number) of every record, for the index to rebuild from.
    fn listed(
        queue: &Chunked<Remembered>,
        first_seq: u32,
    ) -> impl Iterator<Item = (u64, u32)> + '_ {
        (0u32..).zip(queue.iter()).map(move |(position, record)| {
            (
                hash_uuid(&record.command_id.0),
                first_seq.wrapping_add(position),
            )
        })
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
            Recall::Same(self.lend(record.outcome))
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
        self.push(command_id, fingerprint, at, outcome)
    }

    /// Append a record of an unknown command id whose stamp is not older than the last one
    /// (restore feeds sorted records); returns its sequence number.
    pub(crate) fn push(
        &mut self,
        command_id: CommandId,
        fingerprint: Fingerprint,
        at: UnixMs,
        outcome: Stored,
    ) -> u32 {
        self.latest_at = UnixMs(at.0.max(self.latest_at.0));
        let seq = self.first_seq.wrapping_add(self.queue.len() as u32);
        let next_extra = self.first_extra.wrapping_add(self.extras.len() as u32);
        let outcome = match outcome {
            Stored::Held(slot) => Compact::Held(slot),
            Stored::Confirmed(slot) => Compact::Confirmed(slot),
            Stored::Released(slot) => Compact::Released(slot),
            Stored::Cancelled(slot) => Compact::Cancelled(slot),
            Stored::Expired(slots) => {
                self.extras.push(Extra::Expired(slots.into_boxed_slice()));
                Compact::Expired(next_extra)
            }
            Stored::Full(outcome) => {
                self.extras.push(Extra::Full(outcome));
                Compact::Full(next_extra)
            }
        };
        self.queue.push(Remembered {
            command_id,
            fingerprint,
            at: PackedMs::new(at),
            outcome,
        });
        let (queue, first_seq) = (&self.queue, self.first_seq);
        self.by_id.insert(hash_uuid(&command_id.0), seq, || {
            Self::listed(queue, first_seq)
        });
        seq
    }

    /// Forget every record remembered at or before `now - OUTCOME_RETENTION_MS`; reports each
    /// forgotten command id to `forgotten`.
    pub(crate) fn prune(&mut self, now: UnixMs, mut forgotten: impl FnMut(CommandId)) {
        let mut pruned = false;
        while let Some(front) = self.queue.front() {
            if front.at.get().0.saturating_add(OUTCOME_RETENTION_MS) > now.0 {
                break;
            }
            let command_id = front.command_id;
            match front.outcome {
                Compact::Expired(_) | Compact::Full(_) => {
                    self.extras.pop_front();
                    self.first_extra = self.first_extra.wrapping_add(1);
                }
                Compact::Held(_)
                | Compact::Confirmed(_)
                | Compact::Released(_)
                | Compact::Cancelled(_) => {}
            }
            let first = self.first_seq;
            let (queue, first_seq) = (&self.queue, self.first_seq);
            let hash_of =
                |seq: u32| hash_uuid(&queue[seq.wrapping_sub(first_seq) as usize].command_id.0);
            self.by_id
                .remove(hash_uuid(&command_id.0), |seq| seq == first, hash_of);
            self.queue.pop_front();
            self.first_seq = self.first_seq.wrapping_add(1);
            forgotten(command_id);
            pruned = true;
        }
        if pruned {
            let (queue, first_seq) = (&self.queue, self.first_seq);
            self.by_id.shrink(|| Self::listed(queue, first_seq));
        }
    }

    /// The record with this sequence number, unless it was forgotten.
    pub(crate) fn at_seq(&self, seq: u32) -> Option<RecordRef<'_>> {
        let record = self.queue.get(seq.wrapping_sub(self.first_seq) as usize)?;
        Some(self.lend_record(record))
    }

    /// The stamp of the newest outcome ever remembered (pruned or not; `i64::MIN` before any).
    pub(crate) fn latest_at(&self) -> UnixMs {
        self.latest_at
    }

    /// Whether a command id is remembered.
    pub(crate) fn knows(&self, command_id: CommandId) -> bool {
        self.find(command_id).is_some()
    }

    /// Every record, oldest first.
    pub(crate) fn records(&self) -> impl Iterator<Item = RecordRef<'_>> {
        self.queue.iter().map(|record| self.lend_record(record))
    }

    /// Heap bytes of the records and the outcomes too big for them.
    pub(crate) fn record_bytes(&self) -> usize {
        let extras: usize = self
            .extras
            .iter()
            .map(|extra| match extra {
                Extra::Expired(slots) => std::mem::size_of_val::<[u32]>(slots),
                Extra::Full(outcome) => std::mem::size_of_val::<Outcome>(outcome),
            })
            .sum();
        self.queue.heap_bytes() + self.extras.heap_bytes() + extras
    }

    /// Heap bytes of the command id index.
    pub(crate) fn index_bytes(&self) -> usize {
        self.by_id.heap_bytes()
    }

    /// Number of remembered outcomes.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::{Event, Rejection};

    fn id(n: u128) -> CommandId {
        CommandId(uuid::Uuid::from_u128(
            n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
        ))
    }

    fn outcome_of(n: u32) -> Stored {
        match n % 6 {
            0 => Stored::Held(n),
            1 => Stored::Confirmed(n),
            2 => Stored::Released(n),
            3 => Stored::Cancelled(n),
            4 => Stored::Expired((0..n % 5).collect()),
            _ => Stored::Full(Box::new(if n % 12 == 5 {
                Outcome::Rejected(Rejection::HoldNotFound)
            } else {
                Outcome::Accepted(vec![Event::ShowCreated { total_seats: n }])
            })),
        }
    }

    fn same(lent: StoredRef<'_>, stored: &Stored) -> bool {
        match (lent, stored) {
            (StoredRef::Held(a), Stored::Held(b))
            | (StoredRef::Confirmed(a), Stored::Confirmed(b))
            | (StoredRef::Released(a), Stored::Released(b))
            | (StoredRef::Cancelled(a), Stored::Cancelled(b)) => a == *b,
            (StoredRef::Expired(a), Stored::Expired(b)) => a == b.as_slice(),
            (StoredRef::Full(a), Stored::Full(b)) => a == &**b,
            _ => false,
        }
    }

    /// Records and the extras queue beside them stay in step through remembering and pruning:
    /// every kept record lends back exactly the outcome it was given.
    #[test]
    fn compact_records_lend_back_what_they_were_given() {
        assert_eq!(std::mem::size_of::<Remembered>(), 48);
        let mut memory = OutcomeMemory::default();
        let minute = 60_000;
        for n in 0..3_000u32 {
            let at = UnixMs(i64::from(n) * minute);
            memory.prune(at, |_| {});
            let fingerprint = Fingerprint([n as u8; 16]);
            memory.remember(id(n.into()), fingerprint, at, outcome_of(n));
            let first_kept = n.saturating_sub((OUTCOME_RETENTION_MS / minute) as u32 - 1);
            assert_eq!(memory.len(), (n - first_kept + 1) as usize);
            for k in [first_kept, (first_kept + n) / 2, n] {
                let fingerprint = Fingerprint([k as u8; 16]);
                match memory.recall(id(k.into()), fingerprint) {
                    Recall::Same(lent) => assert!(same(lent, &outcome_of(k)), "record {k}"),
                    Recall::Unknown | Recall::Reused => panic!("record {k} lost"),
                }
            }
            if first_kept > 0 {
                let gone = first_kept - 1;
                assert!(matches!(
                    memory.recall(id(gone.into()), Fingerprint([gone as u8; 16])),
                    Recall::Unknown
                ));
            }
        }
        let records: Vec<_> = memory.records().collect();
        assert_eq!(records.len(), memory.len());
        assert!(records.windows(2).all(|pair| pair[0].at <= pair[1].at));
        assert!(matches!(
            memory.recall(records[0].command_id, Fingerprint([0xff; 16])),
            Recall::Reused
        ));
        memory.prune(UnixMs(i64::MAX), |_| {});
        assert_eq!(memory.len(), 0);
        assert_eq!(memory.extras.len(), 0);
    }
}
