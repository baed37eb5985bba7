//! Property tests: random command sequences (with replays, reused command ids, time jumps and
//! restores from persisted rows) run on the engine and on a naive reference model that recounts
//! everything by scanning. After every step: the same outcome, the same swept expiries, the same
//! seat statuses, the engine's invariants, and persisted rows that restore to the same state.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::*;
use engine::{HoldStatus, Origin, ShowState, ticket_id};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use schemas::{
    BookingId, Command, CommandEnvelope, CommandId, Event, Fingerprint, HoldId,
    NotCancellableReason, Outcome, Rejection, SeatId, SeatStatus, UnixMs, UserId,
};

// ----- the reference model ----------------------------------------------------------------------

#[derive(Clone, Debug)]
struct MHold {
    user: UserId,
    seats: Vec<u32>,
    expires_at: i64,
    total: i64,
    status: HoldStatus,
    booking: Option<BookingId>,
}

#[derive(Clone, Debug)]
struct MBooking {
    hold: HoldId,
    payment_ref: String,
    cancelled: Option<(i64, u8)>,
    check_ins: BTreeMap<u32, (i64, Option<String>)>,
}

struct MRecord {
    command_id: CommandId,
    fingerprint: Fingerprint,
    at: i64,
    outcome: Outcome,
}

/// The specification, written the slow and obvious way.
#[derive(Default)]
struct Model {
    blocked: BTreeSet<u32>,
    holds: BTreeMap<HoldId, MHold>,
    bookings: BTreeMap<BookingId, MBooking>,
    memory: Vec<MRecord>,
    latest: i64,
}

struct MDecision {
    outcome: Outcome,
    expired: Vec<Event>,
    origin: Origin,
}

fn price(index: u32) -> i64 {
    if index < 10 { PRICE_A } else { PRICE_B }
}

fn index_of(seat_id: &SeatId) -> Option<u32> {
    (0..SEATS).find(|index| seat(*index) == *seat_id)
}

impl Model {
    fn status(&self, index: u32) -> SeatStatus {
        if self.blocked.contains(&index) {
            return SeatStatus::Blocked;
        }
        for hold in self.holds.values() {
            if !hold.seats.contains(&index) {
                continue;
            }
            match hold.status {
                HoldStatus::Active => return SeatStatus::Held,
                HoldStatus::Confirmed => {
                    let booking = &self.bookings[&hold.booking.unwrap()];
                    if booking.cancelled.is_none() {
                        return SeatStatus::Booked;
                    }
                }
                HoldStatus::Expired | HoldStatus::Released => {}
            }
        }
        SeatStatus::Available
    }

    fn decide(&mut self, env: &CommandEnvelope, now: i64) -> MDecision {
        self.memory
            .retain(|record| record.at + engine::OUTCOME_RETENTION_MS > now);
        let mut due: Vec<(i64, HoldId)> = self
            .holds
            .iter()
            .filter(|(_, h)| h.status == HoldStatus::Active && h.expires_at <= now)
            .map(|(id, h)| (h.expires_at, *id))
            .collect();
        due.sort();
        let mut expired = Vec::new();
        for (_, id) in due {
            let hold = self.holds.get_mut(&id).unwrap();
            hold.status = HoldStatus::Expired;
            expired.push(Event::Expired {
                hold_id: id,
                seats: seats(&hold.seats),
            });
        }
        if let Some(record) = self.memory.iter().find(|r| r.command_id == env.command_id) {
            let (outcome, origin) = if record.fingerprint == env.fingerprint {
                (record.outcome.clone(), Origin::Replayed)
            } else {
                (
                    Outcome::Rejected(Rejection::CommandIdReused),
                    Origin::Unrecorded,
                )
            };
            return MDecision {
                outcome,
                expired,
                origin,
            };
        }
        let outcome = if matches!(env.command, Command::Expire) {
            Outcome::Accepted(std::mem::take(&mut expired))
        } else {
            match self.apply(&env.command, now) {
                Ok(events) => Outcome::Accepted(events),
                Err(rejection) => Outcome::Rejected(rejection),
            }
        };
        self.latest = self.latest.max(now);
        self.memory.push(MRecord {
            command_id: env.command_id,
            fingerprint: env.fingerprint,
            at: self.latest,
            outcome: outcome.clone(),
        });
        MDecision {
            outcome,
            expired,
            origin: Origin::Decided,
        }
    }

    fn apply(&mut self, command: &Command, now: i64) -> Result<Vec<Event>, Rejection> {
        match command {
            Command::CreateShow { .. } => Err(Rejection::ShowAlreadyExists),
            Command::Expire => unreachable!("decided in `decide`"),
            Command::Hold {
                hold_id,
                user,
                seats: ids,
                ttl_ms,
                limits,
            } => self.hold(*hold_id, *user, ids, *ttl_ms as i64, limits, now),
            Command::Release { hold_id, user } => {
                let hold = self.holds.get_mut(hold_id).ok_or(Rejection::HoldNotFound)?;
                if hold.user != *user {
                    return Err(Rejection::NotHoldOwner);
                }
                ended(hold)?;
                hold.status = HoldStatus::Released;
                Ok(vec![Event::Released {
                    hold_id: *hold_id,
                    seats: seats(&hold.seats),
                }])
            }
            Command::Confirm {
                hold_id,
                user,
                booking_id,
                payment_ref,
            } => {
                let hold = self.holds.get(hold_id).ok_or(Rejection::HoldNotFound)?;
                if hold.user != *user {
                    return Err(Rejection::NotHoldOwner);
                }
                ended(hold)?;
                if self.bookings.contains_key(booking_id) {
                    return Err(Rejection::CommandIdReused);
                }
                assert!(hold.expires_at > now, "an expired hold must never confirm");
                let hold = self.holds.get_mut(hold_id).unwrap();
                hold.status = HoldStatus::Confirmed;
                hold.booking = Some(*booking_id);
                self.bookings.insert(
                    *booking_id,
                    MBooking {
                        hold: *hold_id,
                        payment_ref: payment_ref.clone(),
                        cancelled: None,
                        check_ins: BTreeMap::new(),
                    },
                );
                Ok(vec![Event::Confirmed {
                    booking_id: *booking_id,
                    hold_id: *hold_id,
                    user: *user,
                    seats: seats(&hold.seats),
                    total_minor: hold.total,
                    payment_ref: payment_ref.clone(),
                    booked_at: UnixMs(now),
                }])
            }
            Command::Cancel {
                booking_id, user, ..
            } => self.cancel(*booking_id, *user, now),
            Command::CheckIn {
                ticket_id: ticket,
                booking_id,
                seat_id,
                gate,
            } => {
                let booking = self
                    .bookings
                    .get_mut(booking_id)
                    .ok_or(Rejection::TicketNotFound)?;
                let hold = &self.holds[&booking.hold];
                let index = index_of(seat_id).ok_or(Rejection::TicketNotFound)?;
                if !hold.seats.contains(&index) || ticket_id(*booking_id, *seat_id) != *ticket {
                    return Err(Rejection::TicketNotFound);
                }
                if booking.cancelled.is_some() {
                    return Err(Rejection::TicketCancelled);
                }
                if let Some((at, gate)) = booking.check_ins.get(&index) {
                    return Err(Rejection::AlreadyCheckedIn {
                        at: UnixMs(*at),
                        gate: gate.clone(),
                    });
                }
                booking.check_ins.insert(index, (now, gate.clone()));
                Ok(vec![Event::CheckedIn {
                    ticket_id: *ticket,
                    booking_id: *booking_id,
                    seat_id: *seat_id,
                    gate: gate.clone(),
                    at: UnixMs(now),
                }])
            }
            Command::Block { seats: ids } => {
                let indices = self.shape_and_known(ids)?;
                known(ids, &indices)?;
                let busy: Vec<SeatId> = ids
                    .iter()
                    .zip(&indices)
                    .filter(|(_, i)| {
                        matches!(self.status(**i), SeatStatus::Held | SeatStatus::Booked)
                    })
                    .map(|(id, _)| *id)
                    .collect();
                if !busy.is_empty() {
                    return Err(Rejection::SeatsNotBlockable { seat_ids: busy });
                }
                let fresh: Vec<SeatId> = ids
                    .iter()
                    .zip(&indices)
                    .filter(|(_, i)| self.blocked.insert(**i))
                    .map(|(id, _)| *id)
                    .collect();
                Ok(vec![Event::Blocked { seats: fresh }])
            }
            Command::Unblock { seats: ids } => {
                let indices = self.shape_and_known(ids)?;
                known(ids, &indices)?;
                let freed: Vec<SeatId> = ids
                    .iter()
                    .zip(&indices)
                    .filter(|(_, i)| self.blocked.remove(*i))
                    .map(|(id, _)| *id)
                    .collect();
                Ok(vec![Event::Unblocked { seats: freed }])
            }
        }
    }

    fn shape_and_known(&self, ids: &[SeatId]) -> Result<Vec<u32>, Rejection> {
        if ids.is_empty() {
            return Err(Rejection::NoSeats);
        }
        let mut repeated = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) && !repeated.contains(id) {
                repeated.push(*id);
            }
        }
        // Order of first appearance of each repeated seat.
        repeated.sort_by_key(|id| ids.iter().position(|x| x == id));
        if !repeated.is_empty() {
            return Err(Rejection::DuplicateSeats { seat_ids: repeated });
        }
        Ok(ids
            .iter()
            .map(|id| index_of(id).unwrap_or(u32::MAX))
            .collect())
    }

    fn hold(
        &mut self,
        hold_id: HoldId,
        user: UserId,
        ids: &[SeatId],
        ttl: i64,
        limits: &schemas::HoldLimits,
        now: i64,
    ) -> Result<Vec<Event>, Rejection> {
        let indices = self.shape_and_known(ids)?;
        if ids.len() > usize::from(limits.max_seats_per_hold) {
            return Err(Rejection::TooManySeats {
                max: limits.max_seats_per_hold,
            });
        }
        known(ids, &indices)?;
        if now < SALE_OPENS {
            return Err(Rejection::SaleNotOpen {
                opens_at: UnixMs(SALE_OPENS),
            });
        }
        if now >= SHOW_TIME {
            return Err(Rejection::ShowStarted);
        }
        if self.holds.contains_key(&hold_id) {
            return Err(Rejection::CommandIdReused);
        }
        let mine = |h: &&MHold| {
            h.user == user
                && match h.status {
                    HoldStatus::Active => true,
                    HoldStatus::Confirmed => self.bookings[&h.booking.unwrap()].cancelled.is_none(),
                    HoldStatus::Expired | HoldStatus::Released => false,
                }
        };
        let owned: usize = self
            .holds
            .values()
            .filter(mine)
            .map(|h| h.seats.len())
            .sum();
        if owned + ids.len() > usize::from(limits.max_tickets_per_user) {
            return Err(Rejection::TicketLimitExceeded {
                limit: limits.max_tickets_per_user,
            });
        }
        let active = self
            .holds
            .values()
            .filter(|h| h.user == user && h.status == HoldStatus::Active)
            .count();
        if active >= usize::from(limits.max_holds_per_user) {
            return Err(Rejection::HoldLimitExceeded {
                limit: limits.max_holds_per_user,
            });
        }
        let taken: Vec<SeatId> = ids
            .iter()
            .zip(&indices)
            .filter(|(_, i)| self.status(**i) != SeatStatus::Available)
            .map(|(id, _)| *id)
            .collect();
        if !taken.is_empty() {
            return Err(Rejection::SeatsUnavailable { seat_ids: taken });
        }
        let total = indices.iter().map(|i| price(*i)).sum();
        self.holds.insert(
            hold_id,
            MHold {
                user,
                seats: indices,
                expires_at: now + ttl,
                total,
                status: HoldStatus::Active,
                booking: None,
            },
        );
        Ok(vec![Event::Held {
            hold_id,
            user,
            seats: ids.to_vec(),
            expires_at: UnixMs(now + ttl),
            total_minor: total,
        }])
    }

    fn cancel(
        &mut self,
        booking_id: BookingId,
        user: UserId,
        now: i64,
    ) -> Result<Vec<Event>, Rejection> {
        let booking = self
            .bookings
            .get_mut(&booking_id)
            .ok_or(Rejection::BookingNotFound)?;
        let hold = &self.holds[&booking.hold];
        if hold.user != user {
            return Err(Rejection::NotBookingOwner);
        }
        let reason = if booking.cancelled.is_some() {
            Some(NotCancellableReason::AlreadyCancelled)
        } else if !booking.check_ins.is_empty() {
            Some(NotCancellableReason::CheckedIn)
        } else if now >= SHOW_TIME {
            Some(NotCancellableReason::ShowStarted)
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Rejection::BookingNotCancellable { reason });
        }
        let left = SHOW_TIME - now;
        let percent: u8 = if left >= 24 * HOUR {
            100
        } else if left >= 4 * HOUR {
            50
        } else {
            0
        };
        booking.cancelled = Some((now, percent));
        Ok(vec![Event::Cancelled {
            booking_id,
            user,
            seats: seats(&hold.seats),
            refund_minor: hold.total * i64::from(percent) / 100,
            refund_percent: percent,
            payment_ref: booking.payment_ref.clone(),
        }])
    }
}

/// The `back`-th element from the end.
fn nth_back<T: Copy>(list: &[T], back: usize) -> Option<T> {
    list.len().checked_sub(1 + back).map(|i| list[i])
}

/// Every seat must exist (`u32::MAX` marks an unknown one).
fn known(ids: &[SeatId], indices: &[u32]) -> Result<(), Rejection> {
    let unknown: Vec<SeatId> = ids
        .iter()
        .zip(indices)
        .filter(|(_, i)| **i == u32::MAX)
        .map(|(id, _)| *id)
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Rejection::UnknownSeats { seat_ids: unknown })
    }
}

/// Release and confirm both need an active hold.
fn ended(hold: &MHold) -> Result<(), Rejection> {
    match hold.status {
        HoldStatus::Active => Ok(()),
        HoldStatus::Confirmed => Err(Rejection::HoldAlreadyConfirmed {
            booking_id: hold.booking.unwrap(),
        }),
        HoldStatus::Expired => Err(Rejection::HoldExpired),
        HoldStatus::Released => Err(Rejection::HoldReleased),
    }
}

// ----- random steps -----------------------------------------------------------------------------

/// Users in the runs; hold `h` belongs to user `h % USERS` unless a step says otherwise.
const USERS: u128 = 6;
/// Hold (and booking) ids in the runs.
const HOLD_IDS: u128 = 200;

/// What a [`Step::Recent`] does.
#[derive(Clone, Debug)]
enum Action {
    Confirm,
    Release,
    Cancel,
    /// Check in the `pick`-th ticket, at `gate`.
    CheckIn(usize, Option<String>),
}

#[derive(Clone, Debug)]
enum Step {
    /// A command after `dt` ms, with a fresh command id (`None`) or id `Some(n)` from a small
    /// pool, so ids recur with the same or (`other_fingerprint`) another request.
    New {
        dt: i64,
        cid: Option<u8>,
        other_fingerprint: bool,
        command: Command,
    },
    /// Act as the owner on a recent hold or booking (counted back from the latest), resolved
    /// against what was accepted so far: random ids rarely exist.
    Recent {
        dt: i64,
        back: usize,
        action: Action,
    },
    /// Re-send the envelope of an earlier step (counted back from the latest).
    Replay { dt: i64, back: usize },
    /// Replace the engine with a state restored from the persisted rows.
    Restore,
}

fn seat_list() -> impl Strategy<Value = Vec<u32>> {
    prop_oneof![
        16 => prop::sample::subsequence((0..SEATS).collect::<Vec<_>>(), 1..5),
        4 => prop::collection::vec(0u32..SEATS + 2, 1..5),
        1 => Just(vec![]),
        1 => prop::collection::vec(0u32..SEATS, 11..12),
    ]
}

/// The usual owner of hold or booking `h`, or (rarely) someone else.
fn owner() -> impl Strategy<Value = Option<u128>> {
    prop_oneof![9 => Just(None), 1 => (0..USERS).prop_map(Some)]
}

fn who(h: u128, other: Option<u128>) -> UserId {
    user(other.unwrap_or(h % USERS))
}

fn command() -> impl Strategy<Value = Command> {
    let ttl = prop_oneof![1 => Just(0u64), 1 => Just(1_000), 6 => Just(TTL_MS)];
    prop_oneof![
        8 => (0..HOLD_IDS, owner(), seat_list(), ttl).prop_map(|(h, u, s, ttl_ms)| Command::Hold {
            hold_id: hold_id(h), user: who(h, u), seats: seats(&s), ttl_ms, limits: LIMITS,
        }),
        1 => (0..HOLD_IDS, owner()).prop_map(|(h, u)| Command::Release { hold_id: hold_id(h), user: who(h, u) }),
        1 => (0..HOLD_IDS, owner(), prop::bool::weighted(0.95), 0..HOLD_IDS).prop_map(|(h, u, own, b)| Command::Confirm {
            hold_id: hold_id(h), user: who(h, u),
            booking_id: booking_id(if own { h } else { b }),
            payment_ref: format!("auth_{h}"),
        }),
        1 => (0..HOLD_IDS, owner()).prop_map(|(b, u)| Command::Cancel { booking_id: booking_id(b), user: who(b, u), reason: None }),
        1 => (0..HOLD_IDS, 0u32..SEATS + 1, prop::bool::weighted(0.8), prop::option::of("[ab]")).prop_map(|(b, s, good, gate)| Command::CheckIn {
            ticket_id: ticket_id(booking_id(b), seat(if good { s } else { s + 1 })),
            booking_id: booking_id(b), seat_id: seat(s), gate,
        }),
        1 => seat_list().prop_map(|s| Command::Block { seats: seats(&s) }),
        1 => seat_list().prop_map(|s| Command::Unblock { seats: seats(&s) }),
        2 => Just(Command::Expire),
        1 => Just(create_show()),
    ]
}

fn dt() -> impl Strategy<Value = i64> {
    prop_oneof![
        40 => 0i64..5_000,
        8 => 500_000i64..700_000,
        1 => HOUR..30 * HOUR,
        2 => -2_000i64..0,
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => Just(Action::Confirm),
        2 => Just(Action::Release),
        3 => Just(Action::Cancel),
        3 => (0usize..4, prop::option::of("[ab]")).prop_map(|(pick, gate)| Action::CheckIn(pick, gate)),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let cid = prop_oneof![6 => Just(None), 1 => (0u8..30).prop_map(Some)];
    prop_oneof![
        30 => (dt(), cid, prop::bool::weighted(0.2), command()).prop_map(|(dt, cid, other_fingerprint, command)| Step::New { dt, cid, other_fingerprint, command }),
        4 => (dt(), 0usize..8).prop_map(|(dt, back)| Step::Replay { dt, back }),
        14 => (0i64..3_000, 0usize..4, action()).prop_map(|(dt, back, action)| Step::Recent { dt, back, action }),
        1 => Just(Step::Restore),
    ]
}

// ----- running both ------------------------------------------------------------------------------

struct Harness {
    state: ShowState,
    model: Model,
    partition: Partition,
    sent: Vec<CommandEnvelope>,
    now: i64,
    next_cid: u128,
    /// Holds accepted so far, with their owners.
    held: Vec<(HoldId, UserId)>,
    /// Bookings confirmed so far, with their owners.
    booked: Vec<(BookingId, UserId)>,
}

impl Harness {
    fn new() -> Harness {
        let mut state = created();
        let mut model = Model::default();
        // Mirror the fixture's CreateShow (command id 0) in the model's memory.
        let create = envelope(0, create_show());
        model.latest = SALE_OPENS - HOUR;
        model.memory.push(MRecord {
            command_id: create.command_id,
            fingerprint: create.fingerprint,
            at: model.latest,
            outcome: Outcome::Accepted(vec![Event::ShowCreated { total_seats: SEATS }]),
        });
        let mut partition = Partition::default();
        partition.apply(state.take_dirty());
        Harness {
            state,
            model,
            partition,
            sent: vec![create],
            now: SALE_OPENS - 10_000,
            next_cid: 1_000,
            held: Vec::new(),
            booked: Vec::new(),
        }
    }

    fn recent(&self, back: usize, action: Action) -> Option<Command> {
        Some(match action {
            Action::Confirm => {
                let (hold, user) = nth_back(&self.held, back)?;
                let booking_id = BookingId(hold.0);
                Command::Confirm {
                    hold_id: hold,
                    user,
                    booking_id,
                    payment_ref: "auth_recent".into(),
                }
            }
            Action::Release => {
                let (hold_id, user) = nth_back(&self.held, back)?;
                Command::Release { hold_id, user }
            }
            Action::Cancel => {
                let (booking_id, user) = nth_back(&self.booked, back)?;
                Command::Cancel {
                    booking_id,
                    user,
                    reason: None,
                }
            }
            Action::CheckIn(n, gate) => {
                let (booking_id, _) = nth_back(&self.booked, back)?;
                let view = self
                    .state
                    .booking(booking_id)
                    .expect("bookings stay readable");
                let seat_id = view.tickets[n % view.tickets.len()].seat_id;
                Command::CheckIn {
                    ticket_id: ticket_id(booking_id, seat_id),
                    booking_id,
                    seat_id,
                    gate,
                }
            }
        })
    }

    fn fresh_cid(&mut self) -> u128 {
        self.next_cid += 1;
        self.next_cid
    }

    /// Run one step on engine and model, check everything; returns what was decided.
    fn run(&mut self, step: Step) -> Option<(CommandEnvelope, engine::Decision)> {
        let env = match step {
            Step::Restore => {
                let restored = ShowState::restore(SHOW, self.partition.rows()).expect("restore");
                assert_eq!(
                    restored.snapshot(),
                    self.state.snapshot(),
                    "restored state differs"
                );
                self.state = restored;
                return None;
            }
            Step::New {
                dt,
                cid,
                other_fingerprint,
                command,
            } => {
                self.now += dt;
                let n = cid.map_or_else(|| self.fresh_cid(), u128::from);
                let fp = if other_fingerprint {
                    !(n as u8)
                } else {
                    n as u8
                };
                envelope_with(n, fp, command)
            }
            Step::Recent { dt, back, action } => {
                self.now += dt;
                let command = self.recent(back, action)?;
                envelope(self.fresh_cid(), command)
            }
            Step::Replay { dt, back } => {
                self.now += dt;
                self.sent[self.sent.len() - 1 - back % self.sent.len()].clone()
            }
        };
        let before: Vec<SeatStatus> = (0..SEATS).map(|i| self.model.status(i)).collect();
        let decision = self.state.decide(&env, UnixMs(self.now));
        let expected = self.model.decide(&env, self.now);
        assert_eq!(
            decision.outcome, expected.outcome,
            "outcome of {env:?} at {}",
            self.now
        );
        assert_eq!(decision.expired, expected.expired, "swept expiries");
        assert_eq!(decision.origin, expected.origin, "origin");
        let after: Vec<SeatStatus> = (0..SEATS).map(|i| self.model.status(i)).collect();
        let mut reported = BTreeMap::new();
        for change in &decision.seat_changes {
            reported.insert(index_of(&change.seat_id).unwrap(), change.status);
        }
        for index in 0..SEATS {
            let i = index as usize;
            assert_eq!(
                self.state.seat_status(index),
                Some(after[i]),
                "seat {index}"
            );
            if before[i] != after[i] {
                assert_eq!(
                    reported.get(&index),
                    Some(&after[i]),
                    "change of seat {index} not reported"
                );
            }
            if let Some(status) = reported.get(&index) {
                assert_eq!(
                    *status, after[i],
                    "seat {index} reported with a stale status"
                );
            }
        }
        if let Outcome::Accepted(events) = &decision.outcome {
            for event in events {
                if let Event::Confirmed { hold_id, .. } = event
                    && decision.origin == Origin::Decided
                {
                    let hold = self.state.hold(*hold_id).unwrap();
                    assert!(hold.expires_at.0 > self.now, "an expired hold confirmed");
                }
            }
        }
        check_invariants(&self.state);
        self.partition.apply(self.state.take_dirty());
        let restored = ShowState::restore(SHOW, self.partition.rows()).expect("restore");
        assert_eq!(
            restored.snapshot(),
            self.state.snapshot(),
            "persisted rows lag the state"
        );
        if let Outcome::Accepted(events) = &decision.outcome
            && let [Event::Held { hold_id, user, .. }] = &events[..]
            && decision.origin == Origin::Decided
        {
            self.held.push((*hold_id, *user));
        }
        if let Outcome::Accepted(events) = &decision.outcome
            && let [
                Event::Confirmed {
                    booking_id, user, ..
                },
            ] = &events[..]
            && decision.origin == Origin::Decided
        {
            self.booked.push((*booking_id, *user));
        }
        self.sent.push(env.clone());
        Some((env, decision))
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_reference_model(steps in prop::collection::vec(step(), 1..80)) {
        let mut harness = Harness::new();
        for step in steps {
            harness.run(step);
        }
    }
}

#[test]
fn a_restored_twin_decides_like_the_original() {
    // One long deterministic run; a twin restored from a snapshot half-way must decide every
    // later command exactly as the original does.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let steps = prop::collection::vec(step(), 300)
        .new_tree(&mut runner)
        .unwrap()
        .current();
    let mut harness = Harness::new();
    let mut twin: Option<ShowState> = None;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, step) in steps.into_iter().enumerate() {
        if i == 150 {
            twin = Some(ShowState::restore(SHOW, harness.state.snapshot()).expect("restore"));
        }
        let decided = harness.run(step);
        if let Some((_, decision)) = &decided {
            *seen.entry(kind_of(decision)).or_default() += 1;
            if !decision.expired.is_empty() {
                *seen.entry("Expired".into()).or_default() += 1;
            }
        }
        if let (Some(twin), Some((env, decision))) = (&mut twin, decided) {
            assert_eq!(twin.decide(&env, UnixMs(harness.now)), decision, "step {i}");
            assert_eq!(twin.snapshot(), harness.state.snapshot(), "step {i}");
        }
    }
    assert!(twin.is_some());
    // The generator must keep reaching the interesting places.
    println!("{seen:#?}");
    for kind in [
        "Held",
        "Confirmed",
        "Cancelled",
        "CheckedIn",
        "Expired",
        "Released",
        "Replayed",
    ] {
        assert!(
            seen.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} in {seen:?}"
        );
    }
}

/// A label for the statistics: the first event's kind, the rejection, or `Replayed`.
fn kind_of(decision: &engine::Decision) -> String {
    if decision.origin == Origin::Replayed {
        return "Replayed".into();
    }
    let text = match &decision.outcome {
        Outcome::Accepted(events) => events
            .first()
            .map_or("Nothing".into(), |e| format!("{e:?}")),
        Outcome::Rejected(rejection) => format!("{rejection:?}"),
    };
    text.split([' ', '(', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}
