//! One show's state in a flat form: a `u32` word per seat, holds and bookings in packed records
//! (4-aligned, times as `u32` halves, the buyer as an interned `u32`) found by id through slot
//! indexes, buyers with their tallies, payment references in one string arena, the expiry queue
//! and the idempotency memory. [`ShowState::memory_usage`] reports the heap of each part.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use schemas::{BookingId, HoldId, SeatId, SeatStatus, ShowId, UnixMs, UserId};

use crate::arena::{StrArena, StrRef};
use crate::chunked::Chunked;
use crate::hash::FastMap;
use crate::index::{SlotIndex, hash_uuid};
use crate::memory::OutcomeMemory;
use crate::packed::PackedMs;
use crate::users::UserTable;

/// Seat word of an available seat.
pub(crate) const SEAT_AVAILABLE: u32 = 0;
/// Seat word of a seat blocked by an operator.
pub(crate) const SEAT_BLOCKED: u32 = 1;
/// Seat words from here on name the hold slot `word - SEAT_HOLD_BASE` that holds or booked it.
pub(crate) const SEAT_HOLD_BASE: u32 = 2;
/// Most seats a show may have: seat words and slot numbers must stay within `u32`.
pub const MAX_SEATS: u32 = 1 << 24;
/// Hold slot value meaning "no booking".
pub(crate) const NO_BOOKING: u32 = u32::MAX;

/// Where a hold stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum HoldStatus {
    /// Holding its seats until `expires_at` (unless the stream time already passed it: see
    /// [`HoldView::status_at`]).
    Active,
    /// Became a booking.
    Confirmed,
    /// Lapsed; its seats went back on sale.
    Expired,
    /// The owner gave it back; its seats went back on sale.
    Released,
}

/// Where a booking stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BookingStatus {
    /// Paid; its seats are booked.
    Confirmed,
    /// Cancelled; its seats went back on sale.
    Cancelled,
}

/// Where one ticket stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    /// Not admitted yet.
    Valid,
    /// Admitted.
    CheckedIn {
        /// When.
        at: UnixMs,
        /// At which gate.
        gate: Option<String>,
    },
    /// Its booking was cancelled.
    Cancelled,
}

/// Show-wide facts fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShowInfo {
    pub(crate) show_time: UnixMs,
    pub(crate) sale_opens_at: Option<UnixMs>,
    pub(crate) currency: String,
    pub(crate) sections: Vec<Section>,
}

/// A priced section: a contiguous run of seats in layout order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Operator-chosen section id.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Price of each seat, minor units of the show currency.
    pub price_minor: i64,
    /// Layout index of the section's first seat.
    pub first_seat: u32,
    /// Number of seats in the section.
    pub seat_count: u32,
}

/// A hold in its slot: 44 bytes, 4-aligned. Fields other than `status` and `booking` never
/// change after creation, so a remembered `Held` outcome can be rebuilt from them exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HoldRec {
    pub(crate) id: HoldId,
    /// User number in `ShowState::users`.
    pub(crate) user: u32,
    pub(crate) expires_at: PackedMs,
    /// Offset of the hold's seat indices in `ShowState::hold_seats`.
    pub(crate) seats_start: u32,
    /// Booking slot once confirmed, else `NO_BOOKING`.
    pub(crate) booking: u32,
    /// The locked price, minor units, or `WIDE_TOTAL` when it does not fit (then it is in
    /// `ShowState::wide_totals`). Recomputing it from the seats' prices on every read cost
    /// 6% of the benchmark's throughput; four bytes are cheaper.
    pub(crate) total_minor: u32,
    pub(crate) seats_len: u16,
    pub(crate) status: HoldStatus,
}

/// `HoldRec::total_minor` of a total outside `0..WIDE_TOTAL`.
pub(crate) const WIDE_TOTAL: u32 = u32::MAX;

/// A booking in its slot (36 bytes, 4-aligned); seats, buyer and total live in its hold, the
/// rare cancellation in `ShowState::cancellations`, check-ins in `ShowState::check_ins`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BookingRec {
    pub(crate) id: BookingId,
    pub(crate) hold: u32,
    pub(crate) booked_at: PackedMs,
    /// In `ShowState::payment_refs`.
    pub(crate) payment_ref: StrRef,
}

/// How a booking was cancelled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cancellation {
    pub(crate) at: UnixMs,
    pub(crate) refund_minor: i64,
    pub(crate) refund_percent: u8,
}

/// One admitted ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckInRec {
    pub(crate) at: UnixMs,
    pub(crate) gate: Option<Box<str>>,
}

/// An entry of the expiry queue: a hold slot due at a time, ordered by (time, slot). 12 bytes
/// (the time as its high half, signed, then its low half: that order is the `i64` order), not
/// the 16 a `(i64, u32)` pads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Due(i32, u32, u32);

impl Due {
    pub(crate) fn new(at: UnixMs, slot: u32) -> Due {
        Due((at.0 >> 32) as i32, at.0 as u32, slot)
    }

    pub(crate) fn at(&self) -> UnixMs {
        UnixMs((i64::from(self.0) << 32) | i64::from(self.1))
    }

    pub(crate) fn slot(&self) -> u32 {
        self.2
    }
}

/// Heap bytes a show's state holds, by part (see [`ShowState::memory_usage`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// The seat table: one `u32` word per seat.
    pub seats: usize,
    /// Hold records and their seat lists.
    pub holds: usize,
    /// Booking records, payment references, cancellations and check-ins.
    pub bookings: usize,
    /// Interned buyers with their tallies.
    pub users: usize,
    /// Remembered outcomes (idempotency memory), without their index.
    pub outcomes: usize,
    /// Id -> slot indexes of holds, bookings, users and outcomes.
    pub indices: usize,
    /// The expiry queue of active holds.
    pub expiry: usize,
    /// Layout and sections, rows waiting for `take_dirty`.
    pub other: usize,
}

impl MemoryUsage {
    /// Each part with its name, in field order.
    pub fn parts(&self) -> [(&'static str, usize); 8] {
        [
            ("seat table", self.seats),
            ("holds", self.holds),
            ("bookings", self.bookings),
            ("users", self.users),
            ("outcomes", self.outcomes),
            ("indices", self.indices),
            ("expiry queue", self.expiry),
            ("other", self.other),
        ]
    }

    /// Sum of the parts.
    pub fn total(&self) -> usize {
        self.seats
            + self.holds
            + self.bookings
            + self.users
            + self.outcomes
            + self.indices
            + self.expiry
            + self.other
    }
}

/// A row the next [`ShowState::take_dirty`] must write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum DirtyKey {
    Meta,
    Seat(u32),
    Hold(u32),
    Booking(u32),
    /// The outcome remembered under this sequence number.
    OutcomePut(u32),
    /// The outcome of this command id was forgotten.
    OutcomeForgotten(schemas::CommandId),
}

/// Rows changed since the last `take_dirty`, each listed once: a bit per seat, hold and booking,
/// plus the list of words that have any bit set, so marking is O(1) and collecting visits only
/// those words (no sort, no per-key list). Remembered outcomes are listed by sequence number
/// (each once by construction); forgotten ones by command id, deduplicated when collected.
#[derive(Clone, Debug, Default)]
pub(crate) struct DirtySet {
    meta: bool,
    seats: BitSet,
    holds: BitSet,
    bookings: BitSet,
    remembered: Vec<u32>,
    forgotten: Vec<schemas::CommandId>,
}

impl DirtySet {
    /// List `key` unless it is listed already.
    pub(crate) fn mark(&mut self, key: DirtyKey) {
        match key {
            DirtyKey::Meta => self.meta = true,
            DirtyKey::Seat(index) => self.seats.insert(index),
            DirtyKey::Hold(slot) => self.holds.insert(slot),
            DirtyKey::Booking(slot) => self.bookings.insert(slot),
            DirtyKey::OutcomePut(seq) => self.remembered.push(seq),
            DirtyKey::OutcomeForgotten(command_id) => self.forgotten.push(command_id),
        }
    }

    /// Visit every listed key once, leaving the set empty; buffers keep their capacity for the
    /// next batch.
    pub(crate) fn drain(&mut self, mut visit: impl FnMut(DirtyKey)) {
        if std::mem::take(&mut self.meta) {
            visit(DirtyKey::Meta);
        }
        self.seats.drain(|index| visit(DirtyKey::Seat(index)));
        self.holds.drain(|slot| visit(DirtyKey::Hold(slot)));
        self.bookings.drain(|slot| visit(DirtyKey::Booking(slot)));
        for seq in self.remembered.drain(..) {
            visit(DirtyKey::OutcomePut(seq));
        }
        self.forgotten.sort_unstable();
        self.forgotten.dedup();
        for command_id in self.forgotten.drain(..) {
            visit(DirtyKey::OutcomeForgotten(command_id));
        }
        if self.forgotten.capacity() > FORGOTTEN_KEYS_KEPT {
            // A burst (a day of outcomes pruned at once) is not worth keeping memory for.
            self.forgotten = Vec::new();
        }
    }

    /// Whether anything is listed.
    pub(crate) fn is_empty(&self) -> bool {
        !self.meta
            && self.seats.is_empty()
            && self.holds.is_empty()
            && self.bookings.is_empty()
            && self.remembered.is_empty()
            && self.forgotten.is_empty()
    }

    /// Heap bytes of the buffers.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.seats.heap_bytes()
            + self.holds.heap_bytes()
            + self.bookings.heap_bytes()
            + vec_bytes(&self.remembered)
            + vec_bytes(&self.forgotten)
    }

    /// Number of listed keys (forgotten outcomes counted before deduplication).
    pub(crate) fn len(&self) -> usize {
        usize::from(self.meta)
            + self.seats.count()
            + self.holds.count()
            + self.bookings.count()
            + self.remembered.len()
            + self.forgotten.len()
    }
}

/// Heap bytes of a vector's capacity.
fn vec_bytes<T>(vec: &Vec<T>) -> usize {
    vec.capacity() * std::mem::size_of::<T>()
}

/// Heap bytes of a hash map, estimated from its capacity: a swiss table has a power of two
/// buckets at most 7/8 full, each an entry plus a control byte, and a group of trailing
/// control bytes.
fn map_bytes<K, V, S>(map: &std::collections::HashMap<K, V, S>) -> usize {
    if map.capacity() == 0 {
        return 0;
    }
    let buckets = if map.capacity() < 8 {
        (map.capacity() + 1).next_power_of_two()
    } else {
        (map.capacity() * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// Largest forgotten-outcome buffer kept between batches.
const FORGOTTEN_KEYS_KEPT: usize = 4096;

/// A set of `u32` as bits, remembering which words are non-zero.
#[derive(Clone, Debug, Default)]
struct BitSet {
    words: Vec<u64>,
    /// Indices of the non-zero words, each once.
    touched: Vec<u32>,
}

impl BitSet {
    fn insert(&mut self, value: u32) {
        let word = (value / 64) as usize;
        if word >= self.words.len() {
            self.words.resize(word + 1, 0);
        }
        if self.words[word] == 0 {
            self.touched.push(word as u32);
        }
        self.words[word] |= 1 << (value % 64);
    }

    fn drain(&mut self, mut visit: impl FnMut(u32)) {
        self.touched.sort_unstable();
        for word in self.touched.drain(..) {
            let mut bits = std::mem::take(&mut self.words[word as usize]);
            while bits != 0 {
                visit(word * 64 + bits.trailing_zeros());
                bits &= bits - 1;
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    fn heap_bytes(&self) -> usize {
        vec_bytes(&self.words) + vec_bytes(&self.touched)
    }

    fn count(&self) -> usize {
        self.touched
            .iter()
            .map(|word| self.words[*word as usize].count_ones() as usize)
            .sum()
    }
}

/// One show's full state: seats, holds, bookings, check-ins, per-user tallies, the expiry queue
/// and the outcomes of recent commands. Built empty by [`ShowState::new`] (only `CreateShow` is
/// accepted then), changed only by [`ShowState::decide`], persisted row by row through
/// [`ShowState::take_dirty`] and rebuilt by [`ShowState::restore`].
#[derive(Clone, Debug)]
pub struct ShowState {
    pub(crate) show_id: ShowId,
    /// The show's seat at index 0: its first 12 bytes are the prefix of every seat id.
    pub(crate) seat0: SeatId,
    pub(crate) info: Option<Box<ShowInfo>>,
    /// One word per seat in layout order (`SEAT_*`).
    pub(crate) seats: Vec<u32>,
    pub(crate) available: u32,
    pub(crate) holds: Chunked<HoldRec>,
    /// Seat indices of all holds, each hold a contiguous run in request order.
    pub(crate) hold_seats: Vec<u32>,
    /// Hold slots by hold id.
    pub(crate) hold_slots: SlotIndex,
    /// Locked prices that do not fit a `u32` (above ~42 million minor units), by hold slot.
    pub(crate) wide_totals: FastMap<u32, i64>,
    pub(crate) bookings: Chunked<BookingRec>,
    /// Booking slots by booking id.
    pub(crate) booking_slots: SlotIndex,
    /// Payment references of all bookings.
    pub(crate) payment_refs: StrArena,
    /// Cancellations by booking slot (few bookings are cancelled: a field in every booking
    /// would cost more than this map).
    pub(crate) cancellations: FastMap<u32, Cancellation>,
    /// Admitted tickets by (booking slot, seat index).
    pub(crate) check_ins: FastMap<(u32, u32), CheckInRec>,
    pub(crate) users: UserTable,
    /// Active holds by expiry; entries of holds that stopped being active are skipped when
    /// they surface (their expiry never changes, so the status alone tells).
    pub(crate) expiry: BinaryHeap<Reverse<Due>>,
    pub(crate) memory: OutcomeMemory,
    pub(crate) dirty: DirtySet,
}

/// A hold as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldView {
    /// The hold.
    pub hold_id: HoldId,
    /// Its owner.
    pub user: UserId,
    /// Its seats, in request order.
    pub seats: Vec<SeatId>,
    /// Status as of the last decided command (see [`HoldView::status_at`]).
    pub status: HoldStatus,
    /// When it lapses (or lapsed).
    pub expires_at: UnixMs,
    /// Price locked at hold time, minor units.
    pub total_minor: i64,
    /// The booking it became, once confirmed.
    pub booking_id: Option<BookingId>,
}

impl HoldView {
    /// Status at `now`: an active hold whose expiry has passed is expired even before the
    /// partition loop's `Expire` command reaches it, exactly as the next decision will treat it.
    pub fn status_at(&self, now: UnixMs) -> HoldStatus {
        match self.status {
            HoldStatus::Active if self.expires_at <= now => HoldStatus::Expired,
            HoldStatus::Active
            | HoldStatus::Confirmed
            | HoldStatus::Expired
            | HoldStatus::Released => self.status,
        }
    }
}

/// One ticket of a booking.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketView {
    /// Its id (see [`crate::ticket_id`]).
    pub ticket_id: schemas::TicketId,
    /// The seat it admits to.
    pub seat_id: SeatId,
    /// Valid, checked in, or cancelled.
    pub status: TicketStatus,
}

/// A booking as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingView {
    /// The booking.
    pub booking_id: BookingId,
    /// The hold it came from.
    pub hold_id: HoldId,
    /// The buyer.
    pub user: UserId,
    /// Confirmed or cancelled.
    pub status: BookingStatus,
    /// Amount charged, minor units.
    pub total_minor: i64,
    /// Payment authorization reference.
    pub payment_ref: String,
    /// When it was booked.
    pub booked_at: UnixMs,
    /// When it was cancelled, with the refund (minor units) and its tier (percent).
    pub cancelled: Option<(UnixMs, i64, u8)>,
    /// One ticket per seat, in the hold's seat order.
    pub tickets: Vec<TicketView>,
}

impl ShowState {
    /// An empty state for `show_id`: it accepts only `CreateShow`; every other command is
    /// rejected with `UnknownShow`.
    pub fn new(show_id: ShowId) -> ShowState {
        ShowState {
            show_id,
            seat0: SeatId::derive(show_id, 0),
            info: None,
            seats: Vec::new(),
            available: 0,
            holds: Chunked::default(),
            hold_seats: Vec::new(),
            hold_slots: SlotIndex::default(),
            wide_totals: FastMap::default(),
            bookings: Chunked::default(),
            booking_slots: SlotIndex::default(),
            payment_refs: StrArena::default(),
            cancellations: FastMap::default(),
            check_ins: FastMap::default(),
            users: UserTable::default(),
            expiry: BinaryHeap::new(),
            memory: OutcomeMemory::default(),
            dirty: DirtySet::default(),
        }
    }

    /// The show this state belongs to.
    pub fn show_id(&self) -> ShowId {
        self.show_id
    }

    /// Whether `CreateShow` has been applied.
    pub fn exists(&self) -> bool {
        self.info.is_some()
    }

    /// When the show starts (`None` before `CreateShow`).
    pub fn show_time(&self) -> Option<UnixMs> {
        self.info.as_ref().map(|info| info.show_time)
    }

    /// When sales open; `None` when on sale from creation (or before `CreateShow`).
    pub fn sale_opens_at(&self) -> Option<UnixMs> {
        self.info.as_ref().and_then(|info| info.sale_opens_at)
    }

    /// ISO 4217 currency of every price (`None` before `CreateShow`).
    pub fn currency(&self) -> Option<&str> {
        self.info.as_ref().map(|info| info.currency.as_str())
    }

    /// Sections in layout order (empty before `CreateShow`).
    pub fn sections(&self) -> &[Section] {
        self.info
            .as_ref()
            .map_or(&[], |info| info.sections.as_slice())
    }

    /// Number of seats.
    pub fn seat_count(&self) -> u32 {
        self.seats.len() as u32
    }

    /// Number of seats available right now (exact, kept up to date by every change).
    pub fn available_seats(&self) -> u32 {
        self.available
    }

    /// Layout index of a seat id of this show.
    pub fn seat_index(&self, seat_id: SeatId) -> Option<u32> {
        seat_id
            .index_with_prefix(&self.seat0)
            .filter(|index| (*index as usize) < self.seats.len())
    }

    /// Seat id of the seat at a layout index (`None` past the last seat).
    pub fn seat_id(&self, index: u32) -> Option<SeatId> {
        ((index as usize) < self.seats.len()).then(|| self.seat_id_unchecked(index))
    }

    pub(crate) fn seat_id_unchecked(&self, index: u32) -> SeatId {
        let mut bytes = *self.seat0.0.as_bytes();
        bytes[12..16].copy_from_slice(&index.to_be_bytes());
        SeatId(uuid::Uuid::from_bytes(bytes))
    }

    /// Status of the seat at a layout index.
    pub fn seat_status(&self, index: u32) -> Option<SeatStatus> {
        self.seats
            .get(index as usize)
            .map(|word| self.word_status(*word))
    }

    /// Status of a seat by id.
    pub fn seat_status_by_id(&self, seat_id: SeatId) -> Option<SeatStatus> {
        self.seat_index(seat_id)
            .and_then(|index| self.seat_status(index))
    }

    /// Every seat with its status, in layout order.
    pub fn seat_statuses(&self) -> impl Iterator<Item = (SeatId, SeatStatus)> + '_ {
        self.seats.iter().enumerate().map(|(index, word)| {
            (
                self.seat_id_unchecked(index as u32),
                self.word_status(*word),
            )
        })
    }

    /// The section of the seat at a layout index.
    pub fn section_of(&self, index: u32) -> Option<&Section> {
        let sections = self.sections();
        let after = sections.partition_point(|section| section.first_seat <= index);
        let section = sections.get(after.checked_sub(1)?)?;
        (index < section.first_seat + section.seat_count).then_some(section)
    }

    /// Index of the section of the seat at a layout index.
    pub fn section_index_of(&self, index: u32) -> Option<usize> {
        let section = self.section_of(index)?;
        self.sections()
            .iter()
            .position(|candidate| std::ptr::eq(candidate, section))
    }

    /// Price of the seat at a layout index, minor units.
    pub fn price_of(&self, index: u32) -> Option<i64> {
        self.section_of(index).map(|section| section.price_minor)
    }

    /// A hold by id, in any status.
    pub fn hold(&self, hold_id: HoldId) -> Option<HoldView> {
        let slot = self.hold_slot(hold_id)?;
        let hold = &self.holds[slot as usize];
        Some(HoldView {
            hold_id,
            user: self.users.id(hold.user),
            seats: self.hold_seat_ids(slot),
            status: hold.status,
            expires_at: hold.expires_at.get(),
            total_minor: self.hold_total(slot),
            booking_id: (hold.booking != NO_BOOKING)
                .then(|| self.bookings[hold.booking as usize].id),
        })
    }

    /// A booking by id, in any status, with its tickets.
    pub fn booking(&self, booking_id: BookingId) -> Option<BookingView> {
        let slot = self.booking_slot(booking_id)?;
        let booking = &self.bookings[slot as usize];
        let hold = &self.holds[booking.hold as usize];
        let tickets = self
            .hold_seat_indices(booking.hold)
            .iter()
            .map(|seat| self.ticket_view(slot, *seat))
            .collect();
        Some(BookingView {
            booking_id,
            hold_id: hold.id,
            user: self.users.id(hold.user),
            status: if self.is_cancelled(slot) {
                BookingStatus::Cancelled
            } else {
                BookingStatus::Confirmed
            },
            total_minor: self.hold_total(booking.hold),
            payment_ref: self.payment_refs.get(booking.payment_ref).to_string(),
            booked_at: booking.booked_at.get(),
            cancelled: self
                .cancellation(slot)
                .map(|c| (c.at, c.refund_minor, c.refund_percent)),
            tickets,
        })
    }

    /// Earliest expiry among active holds: when the partition loop should next send `Expire`.
    pub fn next_expiry(&self) -> Option<UnixMs> {
        self.expiry.peek().map(|Reverse(due)| due.at())
    }

    /// Heap bytes this state holds, by part: capacities of its vectors, chunks and tables
    /// (a hash map's is estimated from its capacity), not what the allocator rounds them to.
    pub fn memory_usage(&self) -> MemoryUsage {
        let info = self.info.as_ref().map_or(0, |info| {
            std::mem::size_of::<ShowInfo>()
                + info.currency.capacity()
                + info.sections.capacity() * std::mem::size_of::<Section>()
                + info
                    .sections
                    .iter()
                    .map(|s| s.section_id.capacity() + s.name.capacity())
                    .sum::<usize>()
        });
        let gates: usize = self
            .check_ins
            .values()
            .filter_map(|check_in| check_in.gate.as_ref().map(|gate| gate.len()))
            .sum();
        MemoryUsage {
            seats: vec_bytes(&self.seats),
            holds: self.holds.heap_bytes()
                + vec_bytes(&self.hold_seats)
                + map_bytes(&self.wide_totals),
            bookings: self.bookings.heap_bytes()
                + self.payment_refs.heap_bytes()
                + map_bytes(&self.cancellations)
                + map_bytes(&self.check_ins)
                + gates,
            users: self.users.entry_bytes(),
            outcomes: self.memory.record_bytes(),
            indices: self.hold_slots.heap_bytes()
                + self.booking_slots.heap_bytes()
                + self.users.index_bytes()
                + self.memory.index_bytes(),
            expiry: self.expiry.capacity() * std::mem::size_of::<Reverse<Due>>(),
            other: info + self.dirty.heap_bytes(),
        }
    }

    /// Number of interned buyers (every user who ever held seats on this show).
    pub fn users(&self) -> usize {
        self.users.len()
    }

    /// Number of hold records (every accepted hold, in any status).
    pub fn hold_count(&self) -> usize {
        self.holds.len()
    }

    /// Number of booking records (every confirmed hold, cancelled or not).
    pub fn booking_count(&self) -> usize {
        self.bookings.len()
    }

    /// Number of outcomes currently remembered for idempotency.
    pub fn remembered_outcomes(&self) -> usize {
        self.memory.len()
    }

    /// Slot of a hold by id.
    pub(crate) fn hold_slot(&self, hold_id: HoldId) -> Option<u32> {
        let holds = &self.holds;
        self.hold_slots.find(hash_uuid(&hold_id.0), |slot| {
            holds[slot as usize].id == hold_id
        })
    }

    /// Index the hold already pushed into `slot` (its id must not be indexed yet).
    pub(crate) fn index_hold(&mut self, slot: u32) {
        let hash = hash_uuid(&self.holds[slot as usize].id.0);
        let holds = &self.holds;
        self.hold_slots.insert(hash, slot, || {
            (0..)
                .zip(holds.iter())
                .map(|(slot, hold)| (hash_uuid(&hold.id.0), slot))
        });
    }

    /// Slot of a booking by id.
    pub(crate) fn booking_slot(&self, booking_id: BookingId) -> Option<u32> {
        let bookings = &self.bookings;
        self.booking_slots.find(hash_uuid(&booking_id.0), |slot| {
            bookings[slot as usize].id == booking_id
        })
    }

    /// Index the booking already pushed into `slot` (its id must not be indexed yet).
    pub(crate) fn index_booking(&mut self, slot: u32) {
        let hash = hash_uuid(&self.bookings[slot as usize].id.0);
        let bookings = &self.bookings;
        self.booking_slots.insert(hash, slot, || {
            (0..)
                .zip(bookings.iter())
                .map(|(slot, booking)| (hash_uuid(&booking.id.0), slot))
        });
    }

    fn ticket_view(&self, booking_slot: u32, seat: u32) -> TicketView {
        let booking = &self.bookings[booking_slot as usize];
        let seat_id = self.seat_id_unchecked(seat);
        let status = match (
            self.check_ins.get(&(booking_slot, seat)),
            self.cancellation(booking_slot),
        ) {
            (Some(check_in), _) => TicketStatus::CheckedIn {
                at: check_in.at,
                gate: check_in.gate.as_deref().map(str::to_string),
            },
            (None, Some(_)) => TicketStatus::Cancelled,
            (None, None) => TicketStatus::Valid,
        };
        TicketView {
            ticket_id: crate::ticket_id(booking.id, seat_id),
            seat_id,
            status,
        }
    }

    /// The price locked by the hold in `slot`, minor units.
    #[inline]
    pub(crate) fn hold_total(&self, slot: u32) -> i64 {
        match self.holds[slot as usize].total_minor {
            WIDE_TOTAL => self.wide_totals.get(&slot).copied().unwrap_or(0),
            total => i64::from(total),
        }
    }

    /// The `HoldRec::total_minor` of a hold in `slot` locking `total`, keeping a wide one aside.
    pub(crate) fn narrow_total(&mut self, slot: u32, total: i64) -> u32 {
        match u32::try_from(total) {
            Ok(narrow) if narrow != WIDE_TOTAL => narrow,
            Ok(_) | Err(_) => {
                self.wide_totals.insert(slot, total);
                WIDE_TOTAL
            }
        }
    }

    /// The cancellation of the booking in `slot`, if cancelled.
    #[inline]
    pub(crate) fn cancellation(&self, slot: u32) -> Option<&Cancellation> {
        self.cancellations.get(&slot)
    }

    /// Whether the booking in `slot` is cancelled.
    #[inline]
    pub(crate) fn is_cancelled(&self, slot: u32) -> bool {
        self.cancellations.contains_key(&slot)
    }

    /// Whether a ticket of the booking in `slot` (of the hold in `hold`) is checked in.
    pub(crate) fn any_checked_in(&self, slot: u32, hold: u32) -> bool {
        !self.check_ins.is_empty()
            && self
                .hold_seat_indices(hold)
                .iter()
                .any(|seat| self.check_ins.contains_key(&(slot, *seat)))
    }

    pub(crate) fn word_status(&self, word: u32) -> SeatStatus {
        match word {
            SEAT_AVAILABLE => SeatStatus::Available,
            SEAT_BLOCKED => SeatStatus::Blocked,
            slot => match self.holds[(slot - SEAT_HOLD_BASE) as usize].status {
                HoldStatus::Confirmed => SeatStatus::Booked,
                HoldStatus::Active | HoldStatus::Expired | HoldStatus::Released => SeatStatus::Held,
            },
        }
    }

    #[inline]
    pub(crate) fn hold_seat_indices(&self, slot: u32) -> &[u32] {
        let hold = &self.holds[slot as usize];
        let start = hold.seats_start as usize;
        &self.hold_seats[start..start + hold.seats_len as usize]
    }

    pub(crate) fn hold_seat_ids(&self, slot: u32) -> Vec<SeatId> {
        self.hold_seat_indices(slot)
            .iter()
            .map(|seat| self.seat_id_unchecked(*seat))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_packed() {
        assert_eq!(std::mem::size_of::<HoldRec>(), 44);
        assert_eq!(std::mem::size_of::<BookingRec>(), 36);
        assert_eq!(std::mem::size_of::<Due>(), 12);
    }

    #[test]
    fn due_entries_order_like_their_times() {
        let times = [
            i64::MIN,
            -1 << 32,
            -5,
            -1,
            0,
            1,
            1 << 31,
            1 << 32,
            1_800_000_000_000,
            i64::MAX,
        ];
        for a in times {
            for b in times {
                let (x, y) = (Due::new(UnixMs(a), 7), Due::new(UnixMs(b), 3));
                assert_eq!(x.at(), UnixMs(a));
                assert_eq!(x.slot(), 7);
                assert_eq!(x.cmp(&y), (a, 7).cmp(&(b, 3)), "{a} vs {b}");
            }
        }
    }
}
