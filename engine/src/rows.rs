//! Row-level persistence: the show's state as rows of one partition
//! `show_state(show_id, kind, id, body)`, the rows changed since the last call
//! ([`ShowState::take_dirty`]), the whole state as rows ([`ShowState::snapshot`]) and the way
//! back ([`ShowState::restore`]). Bodies are MessagePack via `schemas::codec`; their field order
//! is part of the stored format, so fields are only ever appended.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use schemas::{
    BookingId, CodecError, CommandId, Fingerprint, HoldId, Outcome, SeatId, SeatStatus, ShowId,
    UnixMs, UserId,
};

use crate::decide::reserve_gently;
use crate::memory::{RecordRef, Stored, StoredRef};
use crate::packed::PackedMs;
use crate::state::{
    BookingRec, Cancellation, CheckInRec, DirtyKey, Due, HoldRec, HoldStatus, MAX_SEATS,
    NO_BOOKING, SEAT_AVAILABLE, SEAT_BLOCKED, SEAT_HOLD_BASE, Section, ShowInfo, ShowState,
};

/// The `kind` clustering column of a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKind {
    /// A seat's status (kind 0).
    Seat,
    /// A hold (kind 1).
    Hold,
    /// A booking with its cancellation and check-ins (kind 2).
    Booking,
    /// A remembered command outcome (kind 3).
    Outcome,
    /// Show-wide facts fixed at creation (kind 4; its id is the nil UUID).
    Meta,
}

impl RowKind {
    /// The stored `tinyint`.
    pub fn code(self) -> i8 {
        match self {
            RowKind::Seat => 0,
            RowKind::Hold => 1,
            RowKind::Booking => 2,
            RowKind::Outcome => 3,
            RowKind::Meta => 4,
        }
    }

    /// The kind of a stored `tinyint`.
    pub fn from_code(code: i8) -> Option<RowKind> {
        match code {
            0 => Some(RowKind::Seat),
            1 => Some(RowKind::Hold),
            2 => Some(RowKind::Booking),
            3 => Some(RowKind::Outcome),
            4 => Some(RowKind::Meta),
            _ => None,
        }
    }
}

/// The clustering key `(kind, id)` of a row within its show's partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RowKey {
    /// The show's metadata row.
    Meta,
    /// A seat's row.
    Seat(SeatId),
    /// A hold's row.
    Hold(HoldId),
    /// A booking's row.
    Booking(BookingId),
    /// A remembered outcome's row.
    Outcome(CommandId),
}

impl RowKey {
    /// The `kind` column.
    pub fn kind(&self) -> RowKind {
        match self {
            RowKey::Meta => RowKind::Meta,
            RowKey::Seat(_) => RowKind::Seat,
            RowKey::Hold(_) => RowKind::Hold,
            RowKey::Booking(_) => RowKind::Booking,
            RowKey::Outcome(_) => RowKind::Outcome,
        }
    }

    /// The `id` column (the nil UUID for the metadata row).
    pub fn id(&self) -> Uuid {
        match self {
            RowKey::Meta => Uuid::nil(),
            RowKey::Seat(id) => id.0,
            RowKey::Hold(id) => id.0,
            RowKey::Booking(id) => id.0,
            RowKey::Outcome(id) => id.0,
        }
    }
}

/// Show-wide facts fixed at creation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaRow {
    /// When the show starts.
    pub show_time: UnixMs,
    /// When sales open (`None`: on sale from creation).
    pub sale_opens_at: Option<UnixMs>,
    /// ISO 4217 currency of every price.
    pub currency: String,
    /// Sections in layout order; their seat counts add up to the show's seats.
    pub sections: Vec<SectionRow>,
}

/// One section of [`MetaRow`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionRow {
    /// Operator-chosen section id.
    pub section_id: String,
    /// Display name.
    pub name: String,
    /// Price of each seat, minor units.
    pub price_minor: i64,
    /// Number of seats (contiguous in layout order, after the previous section's).
    pub seat_count: u32,
}

/// A seat's row, written when an operator blocks (`Blocked`) or unblocks (`Available`) it. Held
/// and booked seats are implied by their hold and booking rows, so holds and confirms write no
/// seat rows; restore reads from seat rows only whether a seat is blocked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatRow {
    /// Status after the last change.
    pub status: SeatStatus,
}

/// A hold's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRow {
    /// Owner.
    pub user: UserId,
    /// Layout indices of its seats, in request order.
    pub seats: Vec<u32>,
    /// When it lapses.
    pub expires_at: UnixMs,
    /// Price locked at hold time, minor units.
    pub total_minor: i64,
    /// Where it stands.
    pub status: HoldStatus,
    /// The booking it became (exactly when `status` is `Confirmed`).
    pub booking_id: Option<BookingId>,
}

/// A booking's row; seats, buyer and total are its hold's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BookingRow {
    /// The hold it came from.
    pub hold_id: HoldId,
    /// When it was booked.
    pub booked_at: UnixMs,
    /// Payment authorization reference.
    pub payment_ref: String,
    /// Set once cancelled.
    pub cancellation: Option<CancellationRow>,
    /// Admitted tickets, by seat index.
    pub check_ins: Vec<CheckInRow>,
}

/// How a booking was cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancellationRow {
    /// When.
    pub at: UnixMs,
    /// Refund, minor units.
    pub refund_minor: i64,
    /// Refund tier, percent.
    pub refund_percent: u8,
}

/// One admitted ticket of a booking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInRow {
    /// Layout index of the ticket's seat.
    pub seat: u32,
    /// When.
    pub at: UnixMs,
    /// At which gate.
    pub gate: Option<String>,
}

/// A remembered outcome's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeRow {
    /// Fingerprint of the request behind the command id.
    pub fingerprint: Fingerprint,
    /// Stream time it was remembered at (never earlier than the previous record's).
    pub at: UnixMs,
    /// The outcome.
    pub outcome: StoredOutcome,
}

/// An outcome as stored: accepted holds, confirms, releases, cancels and expiries name the hold
/// or booking whose immutable fields rebuild their events; everything else is stored whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredOutcome {
    /// `Accepted([Held])` of this hold.
    Held(HoldId),
    /// `Accepted([Confirmed])` of this booking.
    Confirmed(BookingId),
    /// `Accepted([Released])` of this hold.
    Released(HoldId),
    /// `Accepted([Cancelled])` of this booking.
    Cancelled(BookingId),
    /// `Accepted([Expired, ...])` of these holds, in order.
    Expired(Vec<HoldId>),
    /// Any other outcome.
    Full(Outcome),
}

/// One row of a show's partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateRow {
    /// Show-wide facts.
    Meta(MetaRow),
    /// A seat.
    Seat {
        /// Which seat.
        seat_id: SeatId,
        /// Its status.
        body: SeatRow,
    },
    /// A hold.
    Hold {
        /// Which hold.
        hold_id: HoldId,
        /// Its state.
        body: HoldRow,
    },
    /// A booking.
    Booking {
        /// Which booking.
        booking_id: BookingId,
        /// Its state.
        body: BookingRow,
    },
    /// A remembered outcome.
    Outcome {
        /// Which command.
        command_id: CommandId,
        /// Its outcome.
        body: OutcomeRow,
    },
}

/// A change to write: upsert a row, or delete one (pruned outcomes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowChange {
    /// Insert or overwrite this row.
    Put(StateRow),
    /// Delete the row with this key.
    Delete(RowKey),
}

impl RowChange {
    /// The key of the row concerned.
    pub fn key(&self) -> RowKey {
        match self {
            RowChange::Put(row) => row.key(),
            RowChange::Delete(key) => *key,
        }
    }
}

/// A stored row could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The `kind` column holds a value this build does not know.
    #[error("unknown row kind {0}")]
    UnknownKind(i8),
    /// The body does not decode as the kind's row.
    #[error("row kind {kind:?} id {id}: {source}")]
    Body {
        /// Kind of the row.
        kind: RowKind,
        /// Id of the row.
        id: Uuid,
        /// Why.
        source: CodecError,
    },
}

impl StateRow {
    /// The row's clustering key.
    pub fn key(&self) -> RowKey {
        match self {
            StateRow::Meta(_) => RowKey::Meta,
            StateRow::Seat { seat_id, .. } => RowKey::Seat(*seat_id),
            StateRow::Hold { hold_id, .. } => RowKey::Hold(*hold_id),
            StateRow::Booking { booking_id, .. } => RowKey::Booking(*booking_id),
            StateRow::Outcome { command_id, .. } => RowKey::Outcome(*command_id),
        }
    }

    /// The `body` column.
    pub fn encode_body(&self) -> Result<Vec<u8>, CodecError> {
        match self {
            StateRow::Meta(body) => schemas::encode(body),
            StateRow::Seat { body, .. } => schemas::encode(body),
            StateRow::Hold { body, .. } => schemas::encode(body),
            StateRow::Booking { body, .. } => schemas::encode(body),
            StateRow::Outcome { body, .. } => schemas::encode(body),
        }
    }

    /// A row from its stored `(kind, id, body)` columns.
    pub fn decode(kind: i8, id: Uuid, body: &[u8]) -> Result<StateRow, RowError> {
        let kind = RowKind::from_code(kind).ok_or(RowError::UnknownKind(kind))?;
        let failed = |source| RowError::Body { kind, id, source };
        Ok(match kind {
            RowKind::Meta => StateRow::Meta(schemas::decode(body).map_err(failed)?),
            RowKind::Seat => StateRow::Seat {
                seat_id: SeatId(id),
                body: schemas::decode(body).map_err(failed)?,
            },
            RowKind::Hold => StateRow::Hold {
                hold_id: HoldId(id),
                body: schemas::decode(body).map_err(failed)?,
            },
            RowKind::Booking => StateRow::Booking {
                booking_id: BookingId(id),
                body: schemas::decode(body).map_err(failed)?,
            },
            RowKind::Outcome => StateRow::Outcome {
                command_id: CommandId(id),
                body: schemas::decode(body).map_err(failed)?,
            },
        })
    }
}

/// Rows that do not make a consistent show. Every variant is fatal: the rows themselves are
/// wrong, so reading them again gives the same error.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RestoreError {
    /// Rows exist but none is the metadata row.
    #[error("show {0}: rows without a metadata row")]
    MissingMeta(ShowId),
    /// The rows contradict each other or the layout.
    #[error("show {show_id}: {detail}")]
    Inconsistent {
        /// The show.
        show_id: ShowId,
        /// What is wrong.
        detail: String,
    },
}

impl ShowState {
    /// Rows changed since the last call, one per row (a row changed twice appears once, with
    /// its latest content), grouped by kind. Write them all in one batch.
    pub fn take_dirty(&mut self) -> Vec<RowChange> {
        let mut dirty = std::mem::take(&mut self.dirty);
        let mut changes = Vec::with_capacity(dirty.len());
        dirty.drain(|key| changes.extend(self.row_change(key)));
        self.dirty = dirty;
        changes
    }

    /// Whether rows changed since the last [`ShowState::take_dirty`].
    pub fn has_dirty(&self) -> bool {
        !self.dirty.is_empty()
    }

    /// The whole state as rows, sorted by key: the metadata row, a row per blocked seat, every
    /// hold, booking and remembered outcome. Empty before `CreateShow`.
    pub fn snapshot(&self) -> Vec<StateRow> {
        if self.info.is_none() {
            return Vec::new();
        }
        let mut rows = vec![self.meta_row()];
        rows.extend(
            (0..self.seat_count())
                .filter(|index| self.seats[*index as usize] == SEAT_BLOCKED)
                .map(|index| self.seat_row(index)),
        );
        rows.extend((0..self.holds.len() as u32).map(|slot| self.hold_row(slot)));
        rows.extend((0..self.bookings.len() as u32).map(|slot| self.booking_row(slot)));
        rows.extend(self.memory.records().map(|record| self.outcome_row(record)));
        rows.sort_by_key(StateRow::key);
        rows
    }

    /// The change for a listed key. An outcome remembered and forgotten within one batch
    /// has nothing to write; one forgotten and remembered again (its id reused after the
    /// retention) is written, not deleted.
    fn row_change(&self, key: DirtyKey) -> Option<RowChange> {
        Some(match key {
            DirtyKey::Meta => RowChange::Put(self.meta_row()),
            DirtyKey::Seat(index) => RowChange::Put(self.seat_row(index)),
            DirtyKey::Hold(slot) => RowChange::Put(self.hold_row(slot)),
            DirtyKey::Booking(slot) => RowChange::Put(self.booking_row(slot)),
            DirtyKey::OutcomePut(seq) => RowChange::Put(self.outcome_row(self.memory.at_seq(seq)?)),
            DirtyKey::OutcomeForgotten(command_id) => match self.memory.knows(command_id) {
                true => return None,
                false => RowChange::Delete(RowKey::Outcome(command_id)),
            },
        })
    }

    fn meta_row(&self) -> StateRow {
        let info = self
            .info
            .as_ref()
            .expect("dirty rows exist only once the show does");
        StateRow::Meta(MetaRow {
            show_time: info.show_time,
            sale_opens_at: info.sale_opens_at,
            currency: info.currency.clone(),
            sections: info
                .sections
                .iter()
                .map(|section| SectionRow {
                    section_id: section.section_id.clone(),
                    name: section.name.clone(),
                    price_minor: section.price_minor,
                    seat_count: section.seat_count,
                })
                .collect(),
        })
    }

    fn seat_row(&self, index: u32) -> StateRow {
        StateRow::Seat {
            seat_id: self.seat_id_unchecked(index),
            body: SeatRow {
                status: self.word_status(self.seats[index as usize]),
            },
        }
    }

    fn hold_row(&self, slot: u32) -> StateRow {
        let hold = &self.holds[slot as usize];
        StateRow::Hold {
            hold_id: hold.id,
            body: HoldRow {
                user: self.users.id(hold.user),
                seats: self.hold_seat_indices(slot).to_vec(),
                expires_at: hold.expires_at.get(),
                total_minor: self.hold_total(slot),
                status: hold.status,
                booking_id: (hold.booking != NO_BOOKING)
                    .then(|| self.bookings[hold.booking as usize].id),
            },
        }
    }

    fn booking_row(&self, slot: u32) -> StateRow {
        let booking = &self.bookings[slot as usize];
        let check_ins = self
            .hold_seat_indices(booking.hold)
            .iter()
            .filter_map(|seat| {
                self.check_ins
                    .get(&(slot, *seat))
                    .map(|check_in| CheckInRow {
                        seat: *seat,
                        at: check_in.at,
                        gate: check_in.gate.as_deref().map(str::to_string),
                    })
            })
            .collect();
        StateRow::Booking {
            booking_id: booking.id,
            body: BookingRow {
                hold_id: self.holds[booking.hold as usize].id,
                booked_at: booking.booked_at.get(),
                payment_ref: self.payment_refs.get(booking.payment_ref).to_string(),
                cancellation: self.cancellation(slot).map(|c| CancellationRow {
                    at: c.at,
                    refund_minor: c.refund_minor,
                    refund_percent: c.refund_percent,
                }),
                check_ins,
            },
        }
    }

    fn outcome_row(&self, record: RecordRef<'_>) -> StateRow {
        let hold_id = |slot: &u32| self.holds[*slot as usize].id;
        let booking_id = |slot: &u32| self.bookings[*slot as usize].id;
        let outcome = match record.outcome {
            StoredRef::Held(slot) => StoredOutcome::Held(hold_id(&slot)),
            StoredRef::Confirmed(slot) => StoredOutcome::Confirmed(booking_id(&slot)),
            StoredRef::Released(slot) => StoredOutcome::Released(hold_id(&slot)),
            StoredRef::Cancelled(slot) => StoredOutcome::Cancelled(booking_id(&slot)),
            StoredRef::Expired(slots) => {
                StoredOutcome::Expired(slots.iter().map(hold_id).collect())
            }
            StoredRef::Full(outcome) => StoredOutcome::Full(outcome.clone()),
        };
        StateRow::Outcome {
            command_id: record.command_id,
            body: OutcomeRow {
                fingerprint: record.fingerprint,
                at: record.at,
                outcome,
            },
        }
    }

    /// Rebuild a show from its rows (in any order), including every derived index: seat words,
    /// the available counter, per-user tallies, the expiry queue and the idempotency memory.
    /// Outcome rows older than the retention before the newest outcome row are left out (the show
    /// had forgotten them; a store may keep them until their TTL). No rows at all gives an empty
    /// state, as [`ShowState::new`].
    pub fn restore(
        show_id: ShowId,
        rows: impl IntoIterator<Item = StateRow>,
    ) -> Result<ShowState, RestoreError> {
        let parts = Parts::split(show_id, rows)?;
        let mut state = ShowState::new(show_id);
        let Some(meta) = parts.meta else {
            if parts.is_empty() {
                return Ok(state);
            }
            return Err(RestoreError::MissingMeta(show_id));
        };
        state.install_meta(meta)?;
        let mut restorer = Restorer { state };
        restorer.holds(parts.holds)?;
        restorer.bookings(parts.bookings)?;
        restorer.occupy_seats(&parts.seats)?;
        restorer.outcomes(parts.outcomes)?;
        Ok(restorer.state)
    }

    fn install_meta(&mut self, meta: MetaRow) -> Result<(), RestoreError> {
        let mut sections = Vec::with_capacity(meta.sections.len());
        let mut next: u32 = 0;
        for row in meta.sections {
            let first_seat = next;
            next = next
                .checked_add(row.seat_count)
                .filter(|total| *total <= MAX_SEATS)
                .ok_or_else(|| self.inconsistent("too many seats in the metadata row"))?;
            sections.push(Section {
                section_id: row.section_id,
                name: row.name,
                price_minor: row.price_minor,
                first_seat,
                seat_count: row.seat_count,
            });
        }
        self.info = Some(Box::new(ShowInfo {
            show_time: meta.show_time,
            sale_opens_at: meta.sale_opens_at,
            currency: meta.currency,
            sections,
        }));
        self.seats = vec![SEAT_AVAILABLE; next as usize];
        self.available = next;
        Ok(())
    }

    fn inconsistent(&self, detail: impl Into<String>) -> RestoreError {
        RestoreError::Inconsistent {
            show_id: self.show_id,
            detail: detail.into(),
        }
    }
}

/// Rows sorted out by kind.
struct Parts {
    meta: Option<MetaRow>,
    seats: Vec<(SeatId, SeatRow)>,
    holds: Vec<(HoldId, HoldRow)>,
    bookings: Vec<(BookingId, BookingRow)>,
    outcomes: Vec<(CommandId, OutcomeRow)>,
}

impl Parts {
    fn split(
        show_id: ShowId,
        rows: impl IntoIterator<Item = StateRow>,
    ) -> Result<Parts, RestoreError> {
        let mut parts = Parts {
            meta: None,
            seats: Vec::new(),
            holds: Vec::new(),
            bookings: Vec::new(),
            outcomes: Vec::new(),
        };
        for row in rows {
            match row {
                StateRow::Meta(meta) => {
                    if parts.meta.replace(meta).is_some() {
                        return Err(RestoreError::Inconsistent {
                            show_id,
                            detail: "two metadata rows".to_string(),
                        });
                    }
                }
                StateRow::Seat { seat_id, body } => parts.seats.push((seat_id, body)),
                StateRow::Hold { hold_id, body } => parts.holds.push((hold_id, body)),
                StateRow::Booking { booking_id, body } => parts.bookings.push((booking_id, body)),
                StateRow::Outcome { command_id, body } => parts.outcomes.push((command_id, body)),
            }
        }
        // Slots follow id order, so a restore does not depend on the order rows arrive in.
        parts.holds.sort_by_key(|(id, _)| *id);
        parts.bookings.sort_by_key(|(id, _)| *id);
        parts.outcomes.sort_by_key(|(id, row)| (row.at, *id));
        // Outcomes the show had already forgotten when it remembered its newest one: a store
        // that lets outcomes expire by TTL instead of deleting them returns them until then.
        if let Some((_, newest)) = parts.outcomes.last() {
            let horizon = newest
                .at
                .0
                .saturating_sub(crate::memory::OUTCOME_RETENTION_MS);
            parts.outcomes.retain(|(_, row)| row.at.0 > horizon);
        }
        Ok(parts)
    }

    fn is_empty(&self) -> bool {
        self.seats.is_empty()
            && self.holds.is_empty()
            && self.bookings.is_empty()
            && self.outcomes.is_empty()
    }
}

/// Restore's steps over a state that has its metadata.
struct Restorer {
    state: ShowState,
}

impl Restorer {
    fn fail(&self, detail: impl Into<String>) -> RestoreError {
        self.state.inconsistent(detail)
    }

    fn holds(&mut self, holds: Vec<(HoldId, HoldRow)>) -> Result<(), RestoreError> {
        for (hold_id, row) in holds {
            let total = self.state.seat_count();
            if row.seats.is_empty() || row.seats.len() > usize::from(u16::MAX) {
                return Err(self.fail(format!("hold {hold_id} has {} seats", row.seats.len())));
            }
            if let Some(seat) = row.seats.iter().find(|seat| **seat >= total) {
                return Err(self.fail(format!("hold {hold_id} names seat index {seat}")));
            }
            if (row.status == HoldStatus::Confirmed) != row.booking_id.is_some() {
                return Err(self.fail(format!("hold {hold_id}: status and booking disagree")));
            }
            if self.state.hold_slot(hold_id).is_some() {
                return Err(self.fail(format!("hold {hold_id} appears twice")));
            }
            let state = &mut self.state;
            let slot = state.holds.len() as u32;
            let user = state.users.intern(row.user, state.users.find(row.user));
            let total_minor = state.narrow_total(slot, row.total_minor);
            state.holds.push(HoldRec {
                id: hold_id,
                user,
                expires_at: PackedMs::new(row.expires_at),
                seats_start: state.hold_seats.len() as u32,
                booking: NO_BOOKING,
                total_minor,
                seats_len: row.seats.len() as u16,
                status: row.status,
            });
            reserve_gently(&mut state.hold_seats, row.seats.len());
            state.hold_seats.extend_from_slice(&row.seats);
            state.index_hold(slot);
        }
        Ok(())
    }

    fn bookings(&mut self, bookings: Vec<(BookingId, BookingRow)>) -> Result<(), RestoreError> {
        for (booking_id, row) in bookings {
            let hold = self.state.hold_slot(row.hold_id).ok_or_else(|| {
                self.fail(format!("booking {booking_id}: no hold {}", row.hold_id))
            })?;
            if self.state.holds[hold as usize].booking != NO_BOOKING {
                return Err(self.fail(format!("hold {} has two bookings", row.hold_id)));
            }
            let slot = self.state.bookings.len() as u32;
            if self.state.booking_slot(booking_id).is_some() {
                return Err(self.fail(format!("booking {booking_id} appears twice")));
            }
            self.state.holds[hold as usize].booking = slot;
            if row.cancellation.is_some() && !row.check_ins.is_empty() {
                return Err(self.fail(format!("booking {booking_id}: cancelled and checked in")));
            }
            for check_in in &row.check_ins {
                self.check_in(booking_id, slot, hold, check_in)?;
            }
            let state = &mut self.state;
            if let Some(c) = row.cancellation {
                let cancellation = Cancellation {
                    at: c.at,
                    refund_minor: c.refund_minor,
                    refund_percent: c.refund_percent,
                };
                state.cancellations.insert(slot, cancellation);
            }
            let payment_ref = state.payment_refs.push(&row.payment_ref);
            state.bookings.push(BookingRec {
                id: booking_id,
                hold,
                booked_at: PackedMs::new(row.booked_at),
                payment_ref,
            });
            self.state.index_booking(slot);
        }
        for (slot, hold) in self.state.holds.iter().enumerate() {
            let booking_matches = match (hold.status, hold.booking) {
                (HoldStatus::Confirmed, NO_BOOKING) => false,
                (HoldStatus::Confirmed, _) => true,
                (HoldStatus::Active | HoldStatus::Expired | HoldStatus::Released, booking) => {
                    booking == NO_BOOKING
                }
            };
            if !booking_matches {
                return Err(self.fail(format!("hold slot {slot}: booking rows disagree")));
            }
        }
        Ok(())
    }

    fn check_in(
        &mut self,
        booking_id: BookingId,
        slot: u32,
        hold: u32,
        check_in: &CheckInRow,
    ) -> Result<(), RestoreError> {
        if !self.state.hold_seat_indices(hold).contains(&check_in.seat) {
            return Err(self.fail(format!("booking {booking_id}: check-in of a foreign seat")));
        }
        let record = CheckInRec {
            at: check_in.at,
            gate: check_in.gate.as_deref().map(Box::from),
        };
        if self
            .state
            .check_ins
            .insert((slot, check_in.seat), record)
            .is_some()
        {
            return Err(self.fail(format!("booking {booking_id}: seat checked in twice")));
        }
        Ok(())
    }

    /// Seat words, tallies and the expiry queue from holds, bookings and blocked seat rows. A
    /// seat row's other statuses say nothing (an unblocked seat's row reads `Available`, and
    /// earlier builds wrote held and booked seats too), so only `Blocked` is read.
    fn occupy_seats(&mut self, seat_rows: &[(SeatId, SeatRow)]) -> Result<(), RestoreError> {
        for slot in 0..self.state.holds.len() as u32 {
            let hold = &self.state.holds[slot as usize];
            let live = match hold.status {
                HoldStatus::Active => true,
                HoldStatus::Confirmed => !self.state.is_cancelled(hold.booking),
                HoldStatus::Expired | HoldStatus::Released => false,
            };
            if !live {
                continue;
            }
            let (user, len, active) =
                (hold.user, hold.seats_len, hold.status == HoldStatus::Active);
            if active {
                self.state
                    .expiry
                    .push(std::cmp::Reverse(Due::new(hold.expires_at.get(), slot)));
            }
            for index in self.state.hold_seat_indices(slot).to_vec() {
                self.occupy(index, SEAT_HOLD_BASE + slot)?;
            }
            let tally = self.state.users.tally_mut(user);
            tally.seats += u32::from(len);
            tally.active_holds += u32::from(active);
        }
        for (seat_id, row) in seat_rows {
            let index = self.state.seat_index(*seat_id).ok_or_else(|| {
                self.fail(format!("seat row {seat_id} is not a seat of the show"))
            })?;
            if row.status == SeatStatus::Blocked {
                self.occupy(index, SEAT_BLOCKED)?;
            }
        }
        Ok(())
    }

    fn occupy(&mut self, index: u32, word: u32) -> Result<(), RestoreError> {
        let seat = &mut self.state.seats[index as usize];
        if *seat != SEAT_AVAILABLE {
            return Err(self.fail(format!("seat index {index} is claimed twice")));
        }
        *seat = word;
        self.state.available -= 1;
        Ok(())
    }

    fn outcomes(&mut self, outcomes: Vec<(CommandId, OutcomeRow)>) -> Result<(), RestoreError> {
        for (command_id, row) in outcomes {
            let outcome = self.stored(command_id, row.outcome)?;
            self.state
                .memory
                .push(command_id, row.fingerprint, row.at, outcome);
        }
        Ok(())
    }

    fn stored(
        &self,
        command_id: CommandId,
        outcome: StoredOutcome,
    ) -> Result<Stored, RestoreError> {
        let hold = |id: &HoldId| {
            self.state.hold_slot(*id).ok_or_else(|| {
                self.fail(format!("outcome of {command_id} names unknown hold {id}"))
            })
        };
        let booking = |id: &BookingId| {
            self.state.booking_slot(*id).ok_or_else(|| {
                self.fail(format!(
                    "outcome of {command_id} names unknown booking {id}"
                ))
            })
        };
        Ok(match outcome {
            StoredOutcome::Held(id) => Stored::Held(hold(&id)?),
            StoredOutcome::Confirmed(id) => Stored::Confirmed(booking(&id)?),
            StoredOutcome::Released(id) => Stored::Released(hold(&id)?),
            StoredOutcome::Cancelled(id) => Stored::Cancelled(booking(&id)?),
            StoredOutcome::Expired(ids) => {
                Stored::Expired(ids.iter().map(hold).collect::<Result<_, _>>()?)
            }
            StoredOutcome::Full(outcome) => Stored::Full(Box::new(outcome)),
        })
    }
}
