//! `ShowState::decide`: idempotency, the expiry sweep, then one function per command.
//!
//! Each command function checks everything first and changes state only once nothing can reject
//! any more, so a rejection never leaves a half-applied command behind.

use std::cmp::Reverse;

use schemas::{
    BookingId, Command, CommandEnvelope, Event, HoldId, HoldLimits, NotCancellableReason, Outcome,
    Rejection, SeatChange, SeatId, SeatStatus, ShowLayout, TicketId, UnixMs, UserId,
};

use crate::memory::{Recall, Stored, StoredRef};
use crate::packed::PackedMs;
use crate::state::{
    BookingRec, Cancellation, CheckInRec, DirtyKey, Due, HoldRec, HoldStatus, MAX_SEATS,
    NO_BOOKING, SEAT_AVAILABLE, SEAT_BLOCKED, SEAT_HOLD_BASE, Section, ShowInfo, ShowState,
};

/// Milliseconds in an hour, for the refund tiers.
const HOUR_MS: i64 = 60 * 60 * 1000;

/// How old a command the show passed in the log may be and still count as never applied when no
/// outcome is remembered for it: half the retention. A younger command's outcome, had it been
/// applied, would still be in memory and in the store (whose rows live the full retention from
/// their write), whatever the skew between the clocks that stamp and expire them.
pub const LATE_PLACEMENT_WINDOW_MS: i64 = crate::memory::OUTCOME_RETENTION_MS / 2;

/// What one command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The command's outcome: accepted with its events, or rejected. This is what the requester
    /// gets and what a retry with the same command id gets again.
    pub outcome: Outcome,
    /// Every seat whose status changed during this decision, in order (the sweep's changes
    /// first). A seat may appear more than once; the last entry is its final status.
    pub seat_changes: Vec<SeatChange>,
    /// `Expired` events of holds that lapsed by `now` and were swept before the command was
    /// applied. They are facts for the booking stream, not part of the command's outcome (for
    /// an `Expire` command they are its outcome instead, and this is empty).
    pub expired: Vec<Event>,
    /// Whether the outcome was decided now or recalled.
    pub origin: Origin,
}

/// Where a decision's outcome came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Decided now and remembered under the command id.
    Decided,
    /// The command id was seen before with the same fingerprint: this is the first outcome
    /// again, and the command changed nothing this time.
    Replayed,
    /// Decided now but not remembered: the show does not exist here (remembering would create
    /// state for a show nobody created) or the command id was reused with another fingerprint
    /// (remembering would overwrite the first request's outcome).
    Unrecorded,
}

/// What a show knows of a command it has passed in the log (a redelivery at or below its applied
/// sequence), found without deciding anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recalled {
    /// Applied before: its first outcome.
    Outcome(Outcome),
    /// The command id was used before for another request.
    Reused,
    /// Never applied: it is recent enough that its outcome would still be remembered (and
    /// stored), and none is. The loop saw later commands first (a delivery overtaken in transit,
    /// or the show moved between partitions), so the command still has to be placed.
    NeverApplied,
    /// Too old to tell ([`LATE_PLACEMENT_WINDOW_MS`]): whether it was applied can no longer be
    /// known for sure, so it must not be placed again.
    Forgotten,
}

/// A fresh outcome plus its compact form for the idempotency memory.
struct Fresh {
    outcome: Outcome,
    stored: Option<Stored>,
}

impl Fresh {
    fn rejected(rejection: Rejection) -> Fresh {
        Fresh {
            outcome: Outcome::Rejected(rejection),
            stored: None,
        }
    }

    fn accepted(events: Vec<Event>, stored: Stored) -> Fresh {
        Fresh {
            outcome: Outcome::Accepted(events),
            stored: Some(stored),
        }
    }
}

type Checked<T> = Result<T, Rejection>;

impl ShowState {
    /// Decide one command at stream time `now` and apply it if accepted.
    ///
    /// In order: forget outcomes older than the retention; sweep holds due by `now` (their seats
    /// are available to this very command); answer a known command id from memory (or reject a
    /// reused one with `CommandIdReused`); otherwise decide, apply and remember. Pure: the same
    /// state and the same `(envelope, now)` always give the same decision and the same state.
    pub fn decide(&mut self, envelope: &CommandEnvelope, now: UnixMs) -> Decision {
        let mut seat_changes = Vec::new();
        if envelope.show_id != self.show_id || self.info.is_none() {
            return self.decide_without_show(envelope, now);
        }
        let dirty = &mut self.dirty;
        self.memory.prune(now, |command_id| {
            dirty.mark(DirtyKey::OutcomeForgotten(command_id))
        });
        let swept = self.sweep(now, &mut seat_changes);
        match self
            .memory
            .recall(envelope.command_id, envelope.fingerprint)
        {
            Recall::Same(stored) => {
                let outcome = self.rebuild(stored);
                return self.finish(outcome, seat_changes, swept, Origin::Replayed);
            }
            Recall::Reused => {
                let outcome = Outcome::Rejected(Rejection::CommandIdReused);
                return self.finish(outcome, seat_changes, swept, Origin::Unrecorded);
            }
            Recall::Unknown => {}
        }
        let (fresh, expired) = match &envelope.command {
            Command::Expire => {
                let events = self.expired_events(&swept);
                let stored = Stored::Expired(swept);
                (Fresh::accepted(events, stored), Vec::new())
            }
            command => (self.apply(command, now, &mut seat_changes), swept),
        };
        let stored = match fresh.stored {
            Some(stored) => stored,
            None => Stored::Full(Box::new(fresh.outcome.clone())),
        };
        let outcome = fresh.outcome;
        let seq = self
            .memory
            .remember(envelope.command_id, envelope.fingerprint, now, stored);
        self.dirty.mark(DirtyKey::OutcomePut(seq));
        self.finish(outcome, seat_changes, expired, Origin::Decided)
    }

    /// Look up a command the show has passed in the log (logged at `at`; `now` is the newest time
    /// the caller knows) without changing anything: `decide` would apply a command it does not
    /// know, and one the show passed must not be decided out of its place.
    pub fn recall(&self, envelope: &CommandEnvelope, at: UnixMs, now: UnixMs) -> Recalled {
        match self
            .memory
            .recall(envelope.command_id, envelope.fingerprint)
        {
            Recall::Same(stored) => Recalled::Outcome(self.rebuild(stored)),
            Recall::Reused => Recalled::Reused,
            Recall::Unknown => {
                let newest = self.memory.latest_at().0.max(now.0);
                if at.0.saturating_add(LATE_PLACEMENT_WINDOW_MS) > newest {
                    Recalled::NeverApplied
                } else {
                    Recalled::Forgotten
                }
            }
        }
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        seat_changes: Vec<SeatChange>,
        expired_slots: Vec<u32>,
        origin: Origin,
    ) -> Decision {
        self.drop_stale_expiries();
        Decision {
            outcome,
            seat_changes,
            expired: self.expired_events(&expired_slots),
            origin,
        }
    }

    /// Without a show only `CreateShow` can be accepted; nothing is remembered unless it is.
    fn decide_without_show(&mut self, envelope: &CommandEnvelope, now: UnixMs) -> Decision {
        let rejection = match &envelope.command {
            Command::CreateShow {
                layout,
                show_time,
                sale_opens_at,
            } if envelope.show_id == self.show_id && self.info.is_none() => {
                match self.create(layout, *show_time, *sale_opens_at) {
                    Ok(total_seats) => {
                        let outcome = Outcome::Accepted(vec![Event::ShowCreated { total_seats }]);
                        let stored = Stored::Full(Box::new(outcome.clone()));
                        let seq = self.memory.remember(
                            envelope.command_id,
                            envelope.fingerprint,
                            now,
                            stored,
                        );
                        self.dirty.mark(DirtyKey::OutcomePut(seq));
                        return Decision {
                            outcome,
                            seat_changes: Vec::new(),
                            expired: Vec::new(),
                            origin: Origin::Decided,
                        };
                    }
                    Err(rejection) => rejection,
                }
            }
            Command::Hold { seats, limits, .. } => hold_shape(seats, limits)
                .err()
                .unwrap_or(Rejection::UnknownShow),
            Command::Block { seats } | Command::Unblock { seats } => seat_list_shape(seats)
                .err()
                .unwrap_or(Rejection::UnknownShow),
            Command::CreateShow { .. }
            | Command::Release { .. }
            | Command::Expire
            | Command::Confirm { .. }
            | Command::Cancel { .. }
            | Command::CheckIn { .. } => Rejection::UnknownShow,
        };
        Decision {
            outcome: Outcome::Rejected(rejection),
            seat_changes: Vec::new(),
            expired: Vec::new(),
            origin: Origin::Unrecorded,
        }
    }

    fn apply(&mut self, command: &Command, now: UnixMs, changes: &mut Vec<SeatChange>) -> Fresh {
        let result = match command {
            Command::CreateShow { .. } => Err(Rejection::ShowAlreadyExists),
            Command::Hold {
                hold_id,
                user,
                seats,
                ttl_ms,
                limits,
            } => self.hold_cmd(*hold_id, *user, seats, *ttl_ms, limits, now, changes),
            Command::Release { hold_id, user } => self.release_cmd(*hold_id, *user, changes),
            Command::Confirm {
                hold_id,
                user,
                booking_id,
                payment_ref,
            } => self.confirm_cmd(*hold_id, *user, *booking_id, payment_ref, now, changes),
            Command::Cancel {
                booking_id, user, ..
            } => self.cancel_cmd(*booking_id, *user, now, changes),
            Command::CheckIn {
                ticket_id,
                booking_id,
                seat_id,
                gate,
            } => self.check_in_cmd(*ticket_id, *booking_id, *seat_id, gate, now),
            Command::Block { seats } => self.block_cmd(seats, changes),
            Command::Unblock { seats } => self.unblock_cmd(seats, changes),
            // Decided before `apply` is reached; kept exhaustive rather than hidden in `_`.
            Command::Expire => Ok(Fresh::accepted(Vec::new(), Stored::Expired(Vec::new()))),
        };
        result.unwrap_or_else(Fresh::rejected)
    }

    // ----- CreateShow -------------------------------------------------------------------------

    fn create(
        &mut self,
        layout: &ShowLayout,
        show_time: UnixMs,
        sale_opens_at: Option<UnixMs>,
    ) -> Checked<u32> {
        let sections = self.check_layout(layout)?;
        let total: u32 = sections.iter().map(|s| s.seat_count).sum();
        self.info = Some(Box::new(ShowInfo {
            show_time,
            sale_opens_at,
            currency: layout.currency.clone(),
            sections,
        }));
        self.seats = vec![SEAT_AVAILABLE; total as usize];
        self.available = total;
        self.dirty.mark(DirtyKey::Meta);
        Ok(total)
    }

    /// Every seat id must be `SeatId::derive(show, i)` in layout order: that is what lets a seat id
    /// find its slot with no lookup table.
    fn check_layout(&self, layout: &ShowLayout) -> Checked<Vec<Section>> {
        let invalid = |detail: String| Rejection::InvalidLayout { detail };
        let mut sections = Vec::with_capacity(layout.sections.len());
        let mut next: u32 = 0;
        for section in &layout.sections {
            if section.price_minor < 0 {
                return Err(invalid(format!(
                    "section {} has a negative price",
                    section.section_id
                )));
            }
            let first_seat = next;
            for seat in section.rows.iter().flat_map(|row| row.seats.iter()) {
                if next >= MAX_SEATS {
                    return Err(invalid(format!("more than {MAX_SEATS} seats")));
                }
                if seat.seat_id.index_with_prefix(&self.seat0) != Some(next) {
                    return Err(invalid(format!(
                        "seat {} at index {next} is not the show's derived seat id",
                        seat.seat_id
                    )));
                }
                next += 1;
            }
            sections.push(Section {
                section_id: section.section_id.clone(),
                name: section.name.clone(),
                price_minor: section.price_minor,
                first_seat,
                seat_count: next - first_seat,
            });
        }
        if next == 0 {
            return Err(invalid("the layout has no seats".to_string()));
        }
        Ok(sections)
    }

    // ----- Hold -------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn hold_cmd(
        &mut self,
        hold_id: HoldId,
        user: UserId,
        seat_ids: &[SeatId],
        ttl_ms: u64,
        limits: &HoldLimits,
        now: UnixMs,
        changes: &mut Vec<SeatChange>,
    ) -> Checked<Fresh> {
        hold_shape(seat_ids, limits)?;
        self.check_known(seat_ids)?;
        self.check_on_sale(now)?;
        if self.hold_slot(hold_id).is_some() {
            // Hold ids derive from command ids, so a second command naming this id is an id reuse.
            return Err(Rejection::CommandIdReused);
        }
        let known_user = self.users.find(user);
        let tally = known_user
            .map(|number| self.users.tally(number))
            .unwrap_or_default();
        if tally.seats as usize + seat_ids.len() > usize::from(limits.max_tickets_per_user) {
            return Err(Rejection::TicketLimitExceeded {
                limit: limits.max_tickets_per_user,
            });
        }
        if tally.active_holds >= u32::from(limits.max_holds_per_user) {
            return Err(Rejection::HoldLimitExceeded {
                limit: limits.max_holds_per_user,
            });
        }
        let taken = |id: &&SeatId| self.seats[Self::known_index(id) as usize] != SEAT_AVAILABLE;
        if seat_ids.iter().any(|id| taken(&id)) {
            let seat_ids = seat_ids.iter().filter(taken).copied().collect();
            return Err(Rejection::SeatsUnavailable { seat_ids });
        }
        let expires_at = UnixMs(
            now.0
                .saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
        );
        let user_number = self.users.intern(user, known_user);
        let (slot, total_minor) =
            self.insert_hold(hold_id, user_number, seat_ids, expires_at, changes);
        let event = Event::Held {
            hold_id,
            user,
            seats: seat_ids.to_vec(),
            expires_at,
            total_minor,
        };
        Ok(Fresh::accepted(vec![event], Stored::Held(slot)))
    }

    fn check_on_sale(&self, now: UnixMs) -> Checked<()> {
        let info = self.info.as_ref().ok_or(Rejection::UnknownShow)?;
        if let Some(opens_at) = info.sale_opens_at.filter(|opens_at| now < *opens_at) {
            return Err(Rejection::SaleNotOpen { opens_at });
        }
        if now >= info.show_time {
            return Err(Rejection::ShowStarted);
        }
        Ok(())
    }

    /// Store an accepted hold for user number `user`; returns its slot and locked price.
    fn insert_hold(
        &mut self,
        hold_id: HoldId,
        user: u32,
        seat_ids: &[SeatId],
        expires_at: UnixMs,
        changes: &mut Vec<SeatChange>,
    ) -> (u32, i64) {
        let slot = self.holds.len() as u32;
        let seats_start = self.hold_seats.len() as u32;
        let mut total_minor: i64 = 0;
        changes.reserve(seat_ids.len());
        reserve_gently(&mut self.hold_seats, seat_ids.len());
        for seat_id in seat_ids {
            let index = Self::known_index(seat_id);
            total_minor = total_minor.saturating_add(self.price_of(index).unwrap_or(0));
            self.set_seat(index, SEAT_HOLD_BASE + slot, SeatStatus::Held, changes);
            self.hold_seats.push(index);
        }
        let narrow_total = self.narrow_total(slot, total_minor);
        self.holds.push(HoldRec {
            id: hold_id,
            user,
            expires_at: PackedMs::new(expires_at),
            seats_start,
            booking: NO_BOOKING,
            total_minor: narrow_total,
            seats_len: seat_ids.len() as u16,
            status: HoldStatus::Active,
        });
        self.index_hold(slot);
        let tally = self.users.tally_mut(user);
        tally.seats += seat_ids.len() as u32;
        tally.active_holds += 1;
        self.expiry.push(Reverse(Due::new(expires_at, slot)));
        self.dirty.mark(DirtyKey::Hold(slot));
        (slot, total_minor)
    }

    // ----- Release / Confirm ------------------------------------------------------------------

    /// Releasing an expired or released hold changes nothing and is answered with the fact
    /// (`HoldExpired` / `HoldReleased`); the API turns both into its `204`.
    fn release_cmd(
        &mut self,
        hold_id: HoldId,
        user: UserId,
        changes: &mut Vec<SeatChange>,
    ) -> Checked<Fresh> {
        let slot = self.owned_hold(hold_id, user)?;
        let hold = &self.holds[slot as usize];
        match hold.status {
            HoldStatus::Active => {}
            HoldStatus::Confirmed => {
                return Err(Rejection::HoldAlreadyConfirmed {
                    booking_id: self.bookings[hold.booking as usize].id,
                });
            }
            HoldStatus::Expired => return Err(Rejection::HoldExpired),
            HoldStatus::Released => return Err(Rejection::HoldReleased),
        }
        self.end_hold(slot, HoldStatus::Released, changes);
        let seats = self.hold_seat_ids(slot);
        let event = Event::Released { hold_id, seats };
        Ok(Fresh::accepted(vec![event], Stored::Released(slot)))
    }

    fn confirm_cmd(
        &mut self,
        hold_id: HoldId,
        user: UserId,
        booking_id: BookingId,
        payment_ref: &str,
        now: UnixMs,
        changes: &mut Vec<SeatChange>,
    ) -> Checked<Fresh> {
        let slot = self.owned_hold(hold_id, user)?;
        let hold = &self.holds[slot as usize];
        match hold.status {
            // The sweep already ended every hold due by `now`, so an active hold is in time.
            HoldStatus::Active => {}
            HoldStatus::Confirmed => {
                return Err(Rejection::HoldAlreadyConfirmed {
                    booking_id: self.bookings[hold.booking as usize].id,
                });
            }
            HoldStatus::Expired => return Err(Rejection::HoldExpired),
            HoldStatus::Released => return Err(Rejection::HoldReleased),
        }
        if self.booking_slot(booking_id).is_some() {
            // Booking ids derive from holds, so another hold naming this id is an id reuse.
            return Err(Rejection::CommandIdReused);
        }
        let booking = self.bookings.len() as u32;
        let payment_ref = self.payment_refs.push(payment_ref);
        self.bookings.push(BookingRec {
            id: booking_id,
            hold: slot,
            booked_at: PackedMs::new(now),
            payment_ref,
        });
        self.index_booking(booking);
        let hold = &mut self.holds[slot as usize];
        hold.status = HoldStatus::Confirmed;
        hold.booking = booking;
        let user = hold.user;
        self.users.tally_mut(user).active_holds -= 1;
        for at in self.hold_seat_range(slot) {
            let index = self.hold_seats[at];
            changes.push(SeatChange {
                seat_id: self.seat_id_unchecked(index),
                status: SeatStatus::Booked,
            });
        }
        self.dirty.mark(DirtyKey::Hold(slot));
        self.dirty.mark(DirtyKey::Booking(booking));
        let event = self.confirmed_event(booking);
        Ok(Fresh::accepted(vec![event], Stored::Confirmed(booking)))
    }

    fn owned_hold(&self, hold_id: HoldId, user: UserId) -> Checked<u32> {
        let slot = self.hold_slot(hold_id).ok_or(Rejection::HoldNotFound)?;
        if self.users.id(self.holds[slot as usize].user) != user {
            return Err(Rejection::NotHoldOwner);
        }
        Ok(slot)
    }

    /// Expire or release an active hold: its seats go back on sale.
    fn end_hold(&mut self, slot: u32, status: HoldStatus, changes: &mut Vec<SeatChange>) {
        let hold = &mut self.holds[slot as usize];
        hold.status = status;
        let (user, len) = (hold.user, u32::from(hold.seats_len));
        self.untally(user, len, 1);
        for at in self.hold_seat_range(slot) {
            self.set_seat(
                self.hold_seats[at],
                SEAT_AVAILABLE,
                SeatStatus::Available,
                changes,
            );
        }
        self.dirty.mark(DirtyKey::Hold(slot));
    }

    fn untally(&mut self, user: u32, seats: u32, holds: u32) {
        let tally = self.users.tally_mut(user);
        tally.seats -= seats;
        tally.active_holds -= holds;
    }

    // ----- Expiry -----------------------------------------------------------------------------

    /// End every active hold due by `now`; returns their slots in (expiry, hold id) order so
    /// the order does not depend on slot numbers (which a restore may assign differently).
    fn sweep(&mut self, now: UnixMs, changes: &mut Vec<SeatChange>) -> Vec<u32> {
        let mut due = Vec::new();
        while let Some(Reverse(entry)) = self.expiry.peek().copied() {
            if entry.at() > now {
                break;
            }
            let slot = entry.slot();
            self.expiry.pop();
            if self.holds[slot as usize].status == HoldStatus::Active {
                due.push(slot);
            }
        }
        due.sort_by_key(|slot| {
            let hold = &self.holds[*slot as usize];
            (hold.expires_at.get(), hold.id)
        });
        for slot in &due {
            self.end_hold(*slot, HoldStatus::Expired, changes);
        }
        due
    }

    /// Keep the heap's top an active hold so `next_expiry` is exact, and give memory back once
    /// the queue has drained (a sale's peak would otherwise stay allocated for the show's life).
    fn drop_stale_expiries(&mut self) {
        while let Some(Reverse(due)) = self.expiry.peek() {
            if self.holds[due.slot() as usize].status == HoldStatus::Active {
                break;
            }
            self.expiry.pop();
        }
        let (len, capacity) = (self.expiry.len(), self.expiry.capacity());
        if capacity > EXPIRY_KEPT && len * 4 < capacity {
            // Halving at a quarter full: a shrink is paid for by the pops before it.
            self.expiry.shrink_to((len * 2).max(EXPIRY_KEPT));
        }
    }

    // ----- Cancel / CheckIn -------------------------------------------------------------------

    fn cancel_cmd(
        &mut self,
        booking_id: BookingId,
        user: UserId,
        now: UnixMs,
        changes: &mut Vec<SeatChange>,
    ) -> Checked<Fresh> {
        let slot = self
            .booking_slot(booking_id)
            .ok_or(Rejection::BookingNotFound)?;
        let booking = &self.bookings[slot as usize];
        let hold = &self.holds[booking.hold as usize];
        if self.users.id(hold.user) != user {
            return Err(Rejection::NotBookingOwner);
        }
        let not_cancellable = |reason| Rejection::BookingNotCancellable { reason };
        if self.is_cancelled(slot) {
            return Err(not_cancellable(NotCancellableReason::AlreadyCancelled));
        }
        if self.any_checked_in(slot, booking.hold) {
            return Err(not_cancellable(NotCancellableReason::CheckedIn));
        }
        let show_time = self.show_time().ok_or(Rejection::UnknownShow)?;
        if now >= show_time {
            return Err(not_cancellable(NotCancellableReason::ShowStarted));
        }
        let refund_percent = refund_percent(show_time.0 - now.0);
        let (hold_slot, len, user) = (booking.hold, u32::from(hold.seats_len), hold.user);
        let refund_minor = self.hold_total(hold_slot).max(0) * i64::from(refund_percent) / 100;
        self.cancellations.insert(
            slot,
            Cancellation {
                at: now,
                refund_minor,
                refund_percent,
            },
        );
        self.untally(user, len, 0);
        for at in self.hold_seat_range(hold_slot) {
            self.set_seat(
                self.hold_seats[at],
                SEAT_AVAILABLE,
                SeatStatus::Available,
                changes,
            );
        }
        self.dirty.mark(DirtyKey::Booking(slot));
        let event = self.cancelled_event(slot);
        Ok(Fresh::accepted(vec![event], Stored::Cancelled(slot)))
    }

    fn check_in_cmd(
        &mut self,
        ticket_id: TicketId,
        booking_id: BookingId,
        seat_id: SeatId,
        gate: &Option<String>,
        now: UnixMs,
    ) -> Checked<Fresh> {
        let slot = self
            .booking_slot(booking_id)
            .ok_or(Rejection::TicketNotFound)?;
        let booking = &self.bookings[slot as usize];
        let seat = self.seat_index(seat_id).ok_or(Rejection::TicketNotFound)?;
        if !self.hold_seat_indices(booking.hold).contains(&seat)
            || crate::ticket_id(booking_id, seat_id) != ticket_id
        {
            return Err(Rejection::TicketNotFound);
        }
        if self.is_cancelled(slot) {
            return Err(Rejection::TicketCancelled);
        }
        if let Some(previous) = self.check_ins.get(&(slot, seat)) {
            return Err(Rejection::AlreadyCheckedIn {
                at: previous.at,
                gate: previous.gate.as_deref().map(str::to_string),
            });
        }
        self.check_ins.insert(
            (slot, seat),
            CheckInRec {
                at: now,
                gate: gate.as_deref().map(Box::from),
            },
        );
        self.dirty.mark(DirtyKey::Booking(slot));
        let event = Event::CheckedIn {
            ticket_id,
            booking_id,
            seat_id,
            gate: gate.clone(),
            at: now,
        };
        Ok(Fresh::verbatim(event))
    }

    // ----- Block / Unblock --------------------------------------------------------------------

    /// Blocking an already blocked seat is a no-op; the event lists only newly blocked seats.
    fn block_cmd(&mut self, seat_ids: &[SeatId], changes: &mut Vec<SeatChange>) -> Checked<Fresh> {
        seat_list_shape(seat_ids)?;
        self.check_known(seat_ids)?;
        let busy: Vec<SeatId> = seat_ids
            .iter()
            .filter(|id| self.seats[Self::known_index(id) as usize] >= SEAT_HOLD_BASE)
            .copied()
            .collect();
        if !busy.is_empty() {
            return Err(Rejection::SeatsNotBlockable { seat_ids: busy });
        }
        let mut blocked = Vec::new();
        for seat_id in seat_ids {
            let index = Self::known_index(seat_id);
            if self.seats[index as usize] == SEAT_AVAILABLE {
                self.set_seat(index, SEAT_BLOCKED, SeatStatus::Blocked, changes);
                blocked.push(*seat_id);
            }
        }
        Ok(Fresh::verbatim(Event::Blocked { seats: blocked }))
    }

    /// Unblocking a seat that is not blocked is a no-op; the event lists only unblocked seats.
    fn unblock_cmd(
        &mut self,
        seat_ids: &[SeatId],
        changes: &mut Vec<SeatChange>,
    ) -> Checked<Fresh> {
        seat_list_shape(seat_ids)?;
        self.check_known(seat_ids)?;
        let mut unblocked = Vec::new();
        for seat_id in seat_ids {
            let index = Self::known_index(seat_id);
            if self.seats[index as usize] == SEAT_BLOCKED {
                self.set_seat(index, SEAT_AVAILABLE, SeatStatus::Available, changes);
                unblocked.push(*seat_id);
            }
        }
        Ok(Fresh::verbatim(Event::Unblocked { seats: unblocked }))
    }

    // ----- shared helpers ---------------------------------------------------------------------

    /// Every requested seat must be a seat of this show; else all unknown ones, in request order.
    fn check_known(&self, seat_ids: &[SeatId]) -> Checked<()> {
        if seat_ids.iter().all(|id| self.seat_index(*id).is_some()) {
            return Ok(());
        }
        let unknown = seat_ids
            .iter()
            .filter(|id| self.seat_index(**id).is_none())
            .copied()
            .collect();
        Err(Rejection::UnknownSeats { seat_ids: unknown })
    }

    /// Layout index of a seat id already checked by `check_known`: its last four bytes.
    fn known_index(seat_id: &SeatId) -> u32 {
        let bytes = seat_id.0.as_bytes();
        u32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]])
    }

    /// Seat indices of a hold, by position (indexing each time leaves `self` free to change).
    fn hold_seat_range(&self, slot: u32) -> std::ops::Range<usize> {
        let hold = &self.holds[slot as usize];
        let start = hold.seats_start as usize;
        start..start + usize::from(hold.seats_len)
    }

    /// Change one seat's word, keeping the available counter exact and recording the change.
    /// Only blocking and unblocking write the seat's row: held and booked seats are implied by
    /// their hold and booking rows, so a hold or confirm writes one row, not one per seat.
    fn set_seat(
        &mut self,
        index: u32,
        word: u32,
        status: SeatStatus,
        changes: &mut Vec<SeatChange>,
    ) {
        let old = std::mem::replace(&mut self.seats[index as usize], word);
        if old == SEAT_AVAILABLE {
            self.available -= 1;
        }
        if word == SEAT_AVAILABLE {
            self.available += 1;
        }
        changes.push(SeatChange {
            seat_id: self.seat_id_unchecked(index),
            status,
        });
        if old == SEAT_BLOCKED || word == SEAT_BLOCKED {
            self.dirty.mark(DirtyKey::Seat(index));
        }
    }

    // ----- rebuilding outcomes ----------------------------------------------------------------

    /// The outcome a compact record stands for.
    pub(crate) fn rebuild(&self, stored: StoredRef<'_>) -> Outcome {
        let events = match stored {
            StoredRef::Held(slot) => vec![self.held_event(slot)],
            StoredRef::Confirmed(booking) => vec![self.confirmed_event(booking)],
            StoredRef::Released(slot) => vec![Event::Released {
                hold_id: self.holds[slot as usize].id,
                seats: self.hold_seat_ids(slot),
            }],
            StoredRef::Cancelled(booking) => vec![self.cancelled_event(booking)],
            StoredRef::Expired(slots) => self.expired_events(slots),
            StoredRef::Full(outcome) => return outcome.clone(),
        };
        Outcome::Accepted(events)
    }

    fn held_event(&self, slot: u32) -> Event {
        let hold = &self.holds[slot as usize];
        Event::Held {
            hold_id: hold.id,
            user: self.users.id(hold.user),
            seats: self.hold_seat_ids(slot),
            expires_at: hold.expires_at.get(),
            total_minor: self.hold_total(slot),
        }
    }

    fn confirmed_event(&self, booking: u32) -> Event {
        let record = &self.bookings[booking as usize];
        let hold = &self.holds[record.hold as usize];
        Event::Confirmed {
            booking_id: record.id,
            hold_id: hold.id,
            user: self.users.id(hold.user),
            seats: self.hold_seat_ids(record.hold),
            total_minor: self.hold_total(record.hold),
            payment_ref: self.payment_refs.get(record.payment_ref).to_string(),
            booked_at: record.booked_at.get(),
        }
    }

    fn cancelled_event(&self, booking: u32) -> Event {
        let record = &self.bookings[booking as usize];
        let hold = &self.holds[record.hold as usize];
        let (refund_minor, refund_percent) = self
            .cancellation(booking)
            .map_or((0, 0), |c| (c.refund_minor, c.refund_percent));
        Event::Cancelled {
            booking_id: record.id,
            user: self.users.id(hold.user),
            seats: self.hold_seat_ids(record.hold),
            refund_minor,
            refund_percent,
            payment_ref: self.payment_refs.get(record.payment_ref).to_string(),
        }
    }

    fn expired_events(&self, slots: &[u32]) -> Vec<Event> {
        slots
            .iter()
            .map(|slot| Event::Expired {
                hold_id: self.holds[*slot as usize].id,
                seats: self.hold_seat_ids(*slot),
            })
            .collect()
    }
}

impl Fresh {
    /// An accepted outcome with one event that is remembered verbatim.
    fn verbatim(event: Event) -> Fresh {
        Fresh {
            outcome: Outcome::Accepted(vec![event]),
            stored: None,
        }
    }
}

/// Smallest expiry queue capacity worth shrinking to.
const EXPIRY_KEPT: usize = 64;

/// Make room for `more` elements, growing by an eighth (at least `more`, at least 1,024) instead
/// of doubling: the vector keeps the seat lists of every hold for the show's life, so doubling
/// would leave up to half of it unused for good. Still amortized O(1) per element.
pub(crate) fn reserve_gently<T>(vec: &mut Vec<T>, more: usize) {
    if vec.capacity() - vec.len() < more {
        vec.reserve_exact(more.max(vec.len() / 8).max(1024));
    }
}

/// Refund tier by time left before the show: 100% at 24 h or more, 50% at 4 h or more, else 0.
pub fn refund_percent(until_show_ms: i64) -> u8 {
    if until_show_ms >= 24 * HOUR_MS {
        100
    } else if until_show_ms >= 4 * HOUR_MS {
        50
    } else {
        0
    }
}

/// Request-shape checks of a hold, in the contract's order: no seats, duplicates, too many.
fn hold_shape(seat_ids: &[SeatId], limits: &HoldLimits) -> Checked<()> {
    seat_list_shape(seat_ids)?;
    if seat_ids.len() > usize::from(limits.max_seats_per_hold) {
        return Err(Rejection::TooManySeats {
            max: limits.max_seats_per_hold,
        });
    }
    Ok(())
}

/// A seat list must name at least one seat, each once.
fn seat_list_shape(seat_ids: &[SeatId]) -> Checked<()> {
    if seat_ids.is_empty() {
        return Err(Rejection::NoSeats);
    }
    let repeated = repeated_seats(seat_ids);
    if !repeated.is_empty() {
        return Err(Rejection::DuplicateSeats { seat_ids: repeated });
    }
    Ok(())
}

/// Seats named more than once, each listed once, in order of first appearance. Requests are
/// short, so the quadratic scan (no allocation unless something repeats) beats sorting; long
/// lists take the sorting path.
fn repeated_seats(seat_ids: &[SeatId]) -> Vec<SeatId> {
    let mut repeated: Vec<SeatId> = if seat_ids.len() <= 32 {
        seat_ids
            .iter()
            .enumerate()
            .filter(|(i, id)| seat_ids[..*i].contains(id))
            .map(|(_, id)| *id)
            .collect()
    } else {
        let mut sorted = seat_ids.to_vec();
        sorted.sort_unstable();
        sorted
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect()
    };
    if repeated.is_empty() {
        return repeated;
    }
    repeated.sort_unstable();
    repeated.dedup();
    let first_seen = |id: &SeatId| seat_ids.iter().position(|x| x == id);
    repeated.sort_by_key(first_seen);
    repeated
}
