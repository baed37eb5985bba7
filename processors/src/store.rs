//! The storage seams: [`ShowStore`] is what the partition loop persists through (the source of
//! truth for seat state), [`ShowReader`] is what the ingress reads through.
//!
//! A show is one partition of rows (meta, seats, holds, bookings, remembered outcomes) plus a
//! [`Fence`]: the last log position applied, the command partition that owns the show and the
//! lease epoch of that partition's processor that wrote last. Every write is one conditional batch
//! on the fence, so a stale processor can never overwrite a newer one, and a show moves between
//! partitions only through a handover its old partition applies in log order. Serve mode stores in Cassandra/ScyllaDB ([`crate::cql::CqlStore`]), dev mode in an
//! embedded redb file ([`crate::embedded::EmbeddedStore`]).

use async_trait::async_trait;
use schemas::{BookingId, HoldId, ShowId, UnixMs, UserId};
use uuid::Uuid;

use crate::topology::PartitionId;

/// One stored row of a show. `body: None` deletes the row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Row family (meta, seat, hold, booking, outcome; chosen by the engine).
    pub kind: i8,
    /// Row id within its family.
    pub id: Uuid,
    /// Encoded row, or `None` for a deletion.
    pub body: Option<Vec<u8>>,
}

/// The write fence of a show: which log position it reflects and who may write next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fence {
    /// Log sequence of the last command applied to the show.
    pub applied_seq: u64,
    /// Lease epoch, within [`Fence::partition`], of the processor that wrote last. Epochs of
    /// different partitions are not comparable: each partition's lease counts its own. Zero
    /// after a handover, until the new partition's processor first writes.
    pub owner_epoch: u64,
    /// The command partition whose processor applies the show's commands. A processor of
    /// another partition forwards them there instead of deciding them. `None`: written by a
    /// build that did not name partitions; the next processor to write the show claims it.
    pub partition: Option<PartitionId>,
}

impl Fence {
    /// Whether a processor of `partition` may decide the show's commands: the fence names it, or
    /// names no partition, or, when the processor's log has a fixed set of partitions (`known`),
    /// one outside that set (its commands could not be forwarded anywhere).
    pub fn admits(&self, partition: &PartitionId, known: Option<&[PartitionId]>) -> bool {
        match (&self.partition, known) {
            (None, _) => true,
            (Some(owner), None) => owner == partition,
            (Some(owner), Some(known)) => owner == partition || !known.contains(owner),
        }
    }
}

/// A show as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredShow {
    /// Its fence.
    pub fence: Fence,
    /// Seat version: the log sequence of the last command that changed a seat.
    pub version: u64,
    /// Every live row (no deletions).
    pub rows: Vec<Row>,
}

/// One conditional write of a show: applies only if the stored fence still equals `expected`
/// (`None`: the show was never written).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowWrite {
    /// The show.
    pub show_id: ShowId,
    /// Fence the decisions were based on.
    pub expected: Option<Fence>,
    /// Fence after the write.
    pub next: Fence,
    /// Seat version after the write.
    pub version: u64,
    /// Changed rows.
    pub rows: Vec<Row>,
}

/// What kind of entity an id -> show lookup resolves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupKind {
    /// A hold id (one an earlier build named, untagged).
    Hold,
    /// A booking id (untagged, as above).
    Booking,
    /// A show tag ([`schemas::ShowId::tag`]), keyed by [`tag_key`]: the one row through which
    /// every tagged hold and booking id of the show is found.
    ShowTag,
}

impl LookupKind {
    /// Stored code.
    pub fn code(self) -> i8 {
        match self {
            LookupKind::Hold => 1,
            LookupKind::Booking => 2,
            LookupKind::ShowTag => 3,
        }
    }
}

/// Index rows written together with a show's conditional batch and BEFORE any reply, so that once
/// a requester hears of a hold or booking it can read it back at once. They only point at the
/// show; the show's own rows are the truth, so an index row whose batch then failed resolves to
/// "not found". A crash between the batch and its index rows leaves the commands unacknowledged:
/// their redelivery rewrites the rows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexRows {
    /// Untagged hold and booking ids, and show tags ([`tag_key`]) -> their show.
    pub lookups: Vec<(Uuid, LookupKind, ShowId)>,
    /// A user's bookings, newest first when listed.
    pub user_bookings: Vec<UserBookingRef>,
}

impl IndexRows {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.lookups.is_empty() && self.user_bookings.is_empty()
    }
}

/// One entry of a user's booking list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserBookingRef {
    /// The buyer.
    pub user: UserId,
    /// The booking.
    pub booking_id: BookingId,
    /// Its show.
    pub show_id: ShowId,
    /// When it was booked (list order).
    pub booked_at: UnixMs,
}

/// The result of a conditional write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PersistOutcome {
    /// Written.
    Applied,
    /// The fence did not match: someone else wrote (a newer owner, or this loop's state is stale).
    NotApplied {
        /// The fence found, if the show exists.
        current: Option<Fence>,
    },
}

/// A store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write timed out: it may or may not have applied. Settle by reading the
    /// fence back, never by writing again blindly.
    #[error("store write timed out; outcome unknown")]
    Timeout,
    /// The store is unreachable or overloaded; nothing was written.
    #[error("store unavailable: {0}")]
    Unavailable(#[source] crate::Cause),
    /// Stored data cannot be understood (a bug or a newer schema).
    #[error("stored data unreadable: {0}")]
    Corrupt(#[source] crate::Cause),
    /// A misconfiguration or schema mismatch that retrying cannot fix.
    #[error("store failed: {0}")]
    Fatal(#[source] crate::Cause),
}

impl StoreError {
    /// Whether retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::Timeout | StoreError::Unavailable(_) => true,
            StoreError::Corrupt(_) | StoreError::Fatal(_) => false,
        }
    }
}

/// The source of truth for show state, as the partition loop and the readers use it.
#[async_trait]
pub trait ShowStore: Send + Sync + 'static {
    /// Every row of a show plus its fence, or `None` if it was never written.
    async fn load(&self, show: ShowId) -> Result<Option<StoredShow>, StoreError>;

    /// Only the fence and seat version (cheap; used to settle unknown outcomes and to validate
    /// caches).
    async fn read_fence(&self, show: ShowId) -> Result<Option<(Fence, u64)>, StoreError>;

    /// The show's applied log sequence, read at the ordinary read consistency (not SERIAL):
    /// cheap, for validating a reader's cache. `None` if the show was never written.
    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError>;

    /// The body of one row of a show (`kind` and `id` as in [`Row`]), or `None` if there is no
    /// such row. A single-row read: it never scans the show's partition.
    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Write index rows (idempotent, unconditional). Called alongside the show's conditional
    /// batch, and completed before any requester is answered.
    async fn write_index(&self, index: &IndexRows) -> Result<(), StoreError>;

    /// One conditional batch for one show.
    async fn persist(&self, write: &ShowWrite) -> Result<PersistOutcome, StoreError>;

    /// Remember (or with `None`, forget) that `show` has holds due at `due` in `partition`, so a
    /// processor that takes the partition over schedules their expiry without loading every show.
    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError>;

    /// Every expiry hint of a partition.
    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError>;

    /// The show a hold or booking id belongs to, per the index.
    async fn lookup(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError>;

    /// A user's bookings (newest first) from the index: `offset`, at most `limit`, and the total.
    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<UserBookingRef>, usize), StoreError>;
}

/// The lookup key of a show tag's row.
pub fn tag_key(tag: u64) -> Uuid {
    Uuid::from_u64_pair(tag, 0)
}

/// The lookup row of `show`'s tag, which every tagged id of the show is found through.
pub fn tag_row(show: ShowId) -> (Uuid, LookupKind, ShowId) {
    (tag_key(show.tag()), LookupKind::ShowTag, show)
}

/// Convenience: the lookup key of a hold.
pub fn hold_key(hold: HoldId) -> (Uuid, LookupKind) {
    (hold.0, LookupKind::Hold)
}

/// Convenience: the lookup key of a booking.
pub fn booking_key(booking: BookingId) -> (Uuid, LookupKind) {
    (booking.0, LookupKind::Booking)
}
