//! Test fixtures: commands and envelopes for a small one-section show. Compiled for this crate's
//! unit tests and, behind the `fixtures` feature, for other crates' tests (the pipeline suites in
//! `boxoffice-tests` build their envelopes from these); never part of a product build.
//!
//! Two id styles: the numbered helpers ([`envelope`], [`create`], [`hold`], ...) derive every id
//! from a small number so unit tests can name them again; the `*_command` builders and
//! [`envelope_with`] take ids chosen by the caller (random ones, for tests against shared
//! services).

use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Fingerprint, HoldId, HoldLimits, RowLayout,
    SeatId, SeatLayout, SectionLayout, ShowId, ShowLayout, UnixMs, UserId,
};
use std::sync::atomic::Ordering::SeqCst;

use uuid::Uuid;

use crate::store::StoreError;
use crate::topology::PartitionId;

/// Show number `n`.
pub fn show(n: u128) -> ShowId {
    ShowId(Uuid::from_u128(0x5000 + n))
}

/// User number `n`.
pub fn user(n: u128) -> UserId {
    UserId(Uuid::from_u128(0x7000 + n))
}

/// The `i`-th seat (0-based) of `show`'s layout.
pub fn seat(show: ShowId, i: u32) -> SeatId {
    SeatId::derive(show, i)
}

/// `command` for `show` with command id `id` (the fingerprint is the id's bytes).
pub fn envelope_with(show: ShowId, id: CommandId, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        schema: schemas::SCHEMA_VERSION,
        command_id: id,
        fingerprint: Fingerprint(*id.0.as_bytes()),
        show_id: show,
        issued_at: UnixMs(0),
        command,
    }
}

/// `command` for `show` with command id number `id`.
pub fn envelope(show: ShowId, id: u128, command: Command) -> CommandEnvelope {
    envelope_with(show, CommandId(Uuid::from_u128(id)), command)
}

/// One section `A` ("Stalls", standard, 15.00 EUR) of one row `1` with `seats` seats.
pub fn layout(show: ShowId, seats: u32) -> ShowLayout {
    ShowLayout {
        currency: "EUR".into(),
        sections: vec![SectionLayout {
            section_id: "A".into(),
            name: "Stalls".into(),
            price_category: "standard".into(),
            price_minor: 1500,
            rows: vec![RowLayout {
                row: "1".into(),
                seats: (0..seats)
                    .map(|i| SeatLayout {
                        seat_id: seat(show, i),
                        number: i + 1,
                        x: i as i32,
                        y: 0,
                    })
                    .collect(),
            }],
        }],
    }
}

/// Create `show` with [`layout`] of `seats` seats at `show_time`, on sale at once.
pub fn create_command(show: ShowId, seats: u32, show_time: UnixMs) -> Command {
    Command::CreateShow {
        layout: layout(show, seats),
        show_time,
        sale_opens_at: None,
    }
}

/// Create `show` with `seats` seats, far in the future (its command id is derived from the show).
pub fn create(show: ShowId, seats: u32) -> CommandEnvelope {
    let command = create_command(show, seats, UnixMs(i64::MAX / 2));
    envelope(show, show.0.as_u128() ^ 0xc0ffee, command)
}

/// Hold number `id`.
pub fn hold_id(id: u128) -> HoldId {
    HoldId(Uuid::from_u128(0x9000 + id))
}

/// Limits that only the per-hold seat count (10) can reach in a test of up to `per_user`
/// tickets and holds per user.
pub fn limits(per_user: u16) -> HoldLimits {
    HoldLimits {
        max_seats_per_hold: 10,
        max_tickets_per_user: per_user,
        max_holds_per_user: per_user,
    }
}

/// `who` holds the seats numbered `seats` of `show` as `hold_id` for `ttl_ms`.
pub fn hold_command(
    show: ShowId,
    hold_id: HoldId,
    who: UserId,
    seats: &[u32],
    ttl_ms: u64,
    limits: HoldLimits,
) -> Command {
    Command::Hold {
        hold_id,
        user: who,
        seats: seats.iter().map(|i| seat(show, *i)).collect(),
        ttl_ms,
        limits,
    }
}

/// Command number `id`: hold number `id` (see [`hold_command`]), up to 1000 per user.
pub fn hold(show: ShowId, id: u128, who: UserId, seats: &[u32], ttl_ms: u64) -> CommandEnvelope {
    let command = hold_command(show, hold_id(id), who, seats, ttl_ms, limits(1000));
    envelope(show, id, command)
}

/// Command number `id`: confirm hold number `hold` as booking `0xb000 + hold`.
pub fn confirm(show: ShowId, id: u128, hold: u128, who: UserId) -> CommandEnvelope {
    let command = Command::Confirm {
        hold_id: hold_id(hold),
        user: who,
        booking_id: BookingId(Uuid::from_u128(0xb000 + hold)),
        payment_ref: format!("pay-{hold}"),
    };
    envelope(show, id, command)
}

/// Command number `id`: release hold number `hold`.
pub fn release(show: ShowId, id: u128, hold: u128, who: UserId) -> CommandEnvelope {
    envelope(
        show,
        id,
        Command::Release {
            hold_id: hold_id(hold),
            user: who,
        },
    )
}

/// The embedded store, in memory, watched: it counts the lookups and single-row reads asked of it
/// and how many conditional batches were in flight at once, each held `persist_delay` first.
/// For tests of what the readers and the loop ask of a store, and when.
pub struct ObservedStore {
    inner: crate::embedded::EmbeddedStore,
    persist_delay: std::time::Duration,
    /// Lookups of a hold's or booking's show.
    pub lookups: std::sync::atomic::AtomicUsize,
    /// Single-row reads.
    pub row_reads: std::sync::atomic::AtomicUsize,
    persists_in_flight: std::sync::atomic::AtomicUsize,
    /// The most conditional batches that were in flight at once.
    pub persists_most: std::sync::atomic::AtomicUsize,
}

impl ObservedStore {
    /// An empty store whose conditional batches each take `persist_delay`.
    pub fn new(persist_delay: std::time::Duration) -> ObservedStore {
        ObservedStore {
            inner: crate::embedded::EmbeddedStore::in_memory().expect("an in-memory store"),
            persist_delay,
            lookups: Default::default(),
            row_reads: Default::default(),
            persists_in_flight: Default::default(),
            persists_most: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl crate::store::ShowStore for ObservedStore {
    async fn load(&self, show: ShowId) -> Result<Option<crate::store::StoredShow>, StoreError> {
        self.inner.load(show).await
    }
    async fn read_fence(
        &self,
        show: ShowId,
    ) -> Result<Option<(crate::store::Fence, u64)>, StoreError> {
        self.inner.read_fence(show).await
    }
    async fn applied_seq(&self, show: ShowId) -> Result<Option<u64>, StoreError> {
        self.inner.applied_seq(show).await
    }
    async fn read_row(
        &self,
        show: ShowId,
        kind: i8,
        id: Uuid,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.row_reads.fetch_add(1, SeqCst);
        self.inner.read_row(show, kind, id).await
    }
    async fn write_index(&self, index: &crate::store::IndexRows) -> Result<(), StoreError> {
        self.inner.write_index(index).await
    }
    async fn persist(
        &self,
        write: &crate::store::ShowWrite,
    ) -> Result<crate::store::PersistOutcome, StoreError> {
        let now = self.persists_in_flight.fetch_add(1, SeqCst) + 1;
        self.persists_most.fetch_max(now, SeqCst);
        tokio::time::sleep(self.persist_delay).await;
        let outcome = self.inner.persist(write).await;
        self.persists_in_flight.fetch_sub(1, SeqCst);
        outcome
    }
    async fn set_expiry_hint(
        &self,
        partition: &PartitionId,
        show: ShowId,
        due: Option<UnixMs>,
    ) -> Result<(), StoreError> {
        self.inner.set_expiry_hint(partition, show, due).await
    }
    async fn expiry_hints(
        &self,
        partition: &PartitionId,
    ) -> Result<Vec<(ShowId, UnixMs)>, StoreError> {
        self.inner.expiry_hints(partition).await
    }
    async fn lookup(
        &self,
        id: Uuid,
        kind: crate::store::LookupKind,
    ) -> Result<Option<ShowId>, StoreError> {
        self.lookups.fetch_add(1, SeqCst);
        self.inner.lookup(id, kind).await
    }
    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<crate::store::UserBookingRef>, usize), StoreError> {
        self.inner.user_bookings(user, offset, limit).await
    }
}
