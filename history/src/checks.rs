//! The checks, run in a fixed order so the first violation of a given run is always the same.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use uuid::Uuid;

use crate::model::{
    Action, BookingRecord, Done, FinalState, History, HoldEnd, HoldRecord, Op, Outcome, Rules,
    SeatStatus,
};

/// One promise the checker verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// No seat is in two live bookings.
    SeatInTwoBookings,
    /// Every acknowledged operation is reflected in the final state, exactly once; nothing is
    /// reflected that every attempt was told did not happen.
    AcknowledgedOnce,
    /// Attempts sharing an idempotency key got one answer; an unknown outcome resolved wholly
    /// one way.
    UnknownOneWay,
    /// Every booking comes from a hold that was live when it was booked and was never released.
    NoBookingFromDeadHold,
    /// A payment is captured exactly for each booking, and a cancellation refunds its tier.
    PaymentMatchesBooking,
    /// Each ticket is admitted at most once, and only a ticket of a booking.
    AdmittedOnce,
    /// The seat map shows what the store holds, and the store's seats agree with its holds and
    /// bookings.
    SeatMapMatchesStore,
}

impl Check {
    /// Every check, in the order [`check`] runs them.
    pub const ALL: [Check; 7] = [
        Check::SeatInTwoBookings,
        Check::AcknowledgedOnce,
        Check::UnknownOneWay,
        Check::NoBookingFromDeadHold,
        Check::PaymentMatchesBooking,
        Check::AdmittedOnce,
        Check::SeatMapMatchesStore,
    ];

    /// Short stable name (for reports and grep).
    pub fn name(self) -> &'static str {
        match self {
            Check::SeatInTwoBookings => "seat-in-two-bookings",
            Check::AcknowledgedOnce => "acknowledged-once",
            Check::UnknownOneWay => "unknown-one-way",
            Check::NoBookingFromDeadHold => "no-booking-from-dead-hold",
            Check::PaymentMatchesBooking => "payment-matches-booking",
            Check::AdmittedOnce => "admitted-once",
            Check::SeatMapMatchesStore => "seat-map-matches-store",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A broken promise: which check, what was found, and the operations involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The check that failed.
    pub check: Check,
    /// What was found.
    pub detail: String,
    /// The operations involved, in invoke order.
    pub ops: Vec<Op>,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VIOLATION {}: {}", self.check, self.detail)?;
        for op in &self.ops {
            let completed = op.completed.map_or("never".to_string(), |t| t.to_string());
            write!(
                f,
                "\n  op #{} client {} key {} {:?} invoked {} completed {} -> {:?}",
                op.id.0, op.client, op.key, op.action, op.invoked, completed, op.outcome
            )?;
        }
        Ok(())
    }
}

/// Run every check in order; the first violation found.
pub fn check(history: &History, state: &FinalState, rules: &Rules) -> Result<(), Violation> {
    Check::ALL
        .iter()
        .try_for_each(|c| check_one(*c, history, state, rules))
}

/// Run one check.
pub fn check_one(
    which: Check,
    history: &History,
    state: &FinalState,
    rules: &Rules,
) -> Result<(), Violation> {
    let run = Run::new(history, state, rules);
    let found = match which {
        Check::SeatInTwoBookings => run.seat_in_two_bookings(),
        Check::AcknowledgedOnce => run.acknowledged_once(),
        Check::UnknownOneWay => run.unknown_one_way(),
        Check::NoBookingFromDeadHold => run.no_booking_from_dead_hold(),
        Check::PaymentMatchesBooking => run.payment_matches_booking(),
        Check::AdmittedOnce => run.admitted_once(),
        Check::SeatMapMatchesStore => run.seat_map_matches_store(),
    };
    match found {
        None => Ok(()),
        Some((detail, ops)) => Err(Violation {
            check: which,
            detail,
            ops: ops.into_iter().cloned().collect(),
        }),
    }
}

/// A finding: what, and the operations involved.
type Found<'a> = Option<(String, Vec<&'a Op>)>;

/// One history and state, indexed for the checks.
struct Run<'a> {
    ops: &'a [Op],
    state: &'a FinalState,
    rules: &'a Rules,
    holds: BTreeMap<Uuid, Vec<&'a HoldRecord>>,
    bookings: BTreeMap<Uuid, Vec<&'a BookingRecord>>,
}

/// The id an action is about (its hold, booking, ticket or user).
fn subject(action: &Action) -> Uuid {
    match action {
        Action::Hold { hold, .. } | Action::Confirm { hold, .. } | Action::Release { hold } => {
            *hold
        }
        Action::Cancel { booking } => *booking,
        Action::CheckIn { ticket, .. } => *ticket,
        Action::JoinQueue { user } => *user,
    }
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

/// Whether the operation may have taken effect (told so, or never told otherwise).
fn may_have_applied(op: &Op) -> bool {
    !matches!(op.outcome, Outcome::Rejected(_))
}

impl<'a> Run<'a> {
    fn new(history: &'a History, state: &'a FinalState, rules: &'a Rules) -> Run<'a> {
        let mut holds: BTreeMap<Uuid, Vec<&HoldRecord>> = BTreeMap::new();
        for h in &state.holds {
            holds.entry(h.id).or_default().push(h);
        }
        let mut bookings: BTreeMap<Uuid, Vec<&BookingRecord>> = BTreeMap::new();
        for b in &state.bookings {
            bookings.entry(b.id).or_default().push(b);
        }
        Run {
            ops: history.ops(),
            state,
            rules,
            holds,
            bookings,
        }
    }

    fn hold(&self, id: Uuid) -> Option<&'a HoldRecord> {
        self.holds.get(&id).and_then(|v| v.first().copied())
    }

    fn booking(&self, id: Uuid) -> Option<&'a BookingRecord> {
        self.bookings.get(&id).and_then(|v| v.first().copied())
    }

    /// Operations matching `pick`, in invoke order.
    fn ops_where(&self, pick: impl Fn(&Action) -> bool) -> Vec<&'a Op> {
        self.ops.iter().filter(|op| pick(&op.action)).collect()
    }

    /// Every operation about `id` (as hold, booking, ticket or user).
    fn ops_about(&self, id: Uuid) -> Vec<&'a Op> {
        self.ops_where(|a| {
            subject(a) == id
                || matches!(a, Action::Confirm { booking, .. } if *booking == id)
                || matches!(a, Action::CheckIn { booking, .. } if *booking == id)
        })
    }

    fn confirms_of(&self, booking_id: Uuid) -> Vec<&'a Op> {
        self.ops_where(|a| matches!(a, Action::Confirm { booking, .. } if *booking == booking_id))
    }

    fn seat_in_two_bookings(&self) -> Found<'a> {
        let mut owner: BTreeMap<Uuid, Uuid> = BTreeMap::new();
        for b in self.state.bookings.iter().filter(|b| b.cancelled.is_none()) {
            for seat in &b.seats {
                match owner.insert(*seat, b.id) {
                    Some(other) if other != b.id => {
                        let mut ops = self.confirms_of(other);
                        ops.extend(self.confirms_of(b.id));
                        return Some((
                            format!("seat {seat} is in bookings {other} and {}", b.id),
                            ops,
                        ));
                    }
                    _ => {}
                }
            }
        }
        None
    }

    fn acknowledged_once(&self) -> Found<'a> {
        self.stored_twice()
            .or_else(|| self.ops.iter().find_map(|op| self.reflected(op)))
            .or_else(|| self.explained())
    }

    /// A hold, booking or queue entry stored more than once.
    fn stored_twice(&self) -> Found<'a> {
        let twice = |id: &Uuid, n: usize| (n > 1).then_some(*id);
        let dup = self
            .holds
            .iter()
            .find_map(|(id, v)| twice(id, v.len()))
            .or_else(|| self.bookings.iter().find_map(|(id, v)| twice(id, v.len())))
            .or_else(|| {
                let mut seen = BTreeSet::new();
                self.state.queue.iter().find(|u| !seen.insert(**u)).copied()
            })?;
        Some((
            format!("{dup} is stored more than once"),
            self.ops_about(dup),
        ))
    }

    /// An acknowledged operation whose effect is missing from the final state.
    fn reflected(&self, op: &'a Op) -> Found<'a> {
        let Outcome::Ok(done) = &op.outcome else {
            return None;
        };
        let missing = |what: &str| Some((format!("acknowledged, but {what}"), vec![op]));
        match (&op.action, done) {
            (Action::Hold { hold, seats }, Done::Held { expires_at }) => match self.hold(*hold) {
                None => missing("the hold is not stored"),
                Some(h) if set(&h.seats) != set(seats) => missing("the hold has other seats"),
                Some(h) if h.expires_at != *expires_at => {
                    missing("the hold lapses at another time than told")
                }
                Some(_) => None,
            },
            (Action::Confirm { hold, booking }, Done::Booked { seats, amount }) => {
                match self.booking(*booking) {
                    None => missing("the booking is not stored"),
                    Some(b) if b.hold != *hold => missing("the booking names another hold"),
                    Some(b) if set(&b.seats) != set(seats) => {
                        missing("the booking has other seats than told")
                    }
                    Some(b) if b.amount != *amount => {
                        missing("the booking has another amount than told")
                    }
                    Some(_) => None,
                }
            }
            (Action::Release { hold }, Done::Released) => match self.hold(*hold) {
                Some(h) if h.end == HoldEnd::Released => None,
                _ => missing("the hold is not released"),
            },
            (Action::Cancel { booking }, Done::Cancelled { refund }) => {
                match self.booking(*booking).and_then(|b| b.cancelled) {
                    Some(c) if c.refund == *refund => None,
                    Some(_) => missing("the stored refund differs from the one told"),
                    None => missing("the booking is not cancelled"),
                }
            }
            (Action::CheckIn { ticket, .. }, Done::Admitted) => {
                if self.state.admissions.iter().any(|a| a.ticket == *ticket) {
                    None
                } else {
                    missing("the admission is not stored")
                }
            }
            (Action::JoinQueue { user }, Done::Joined) => {
                if self.state.queue.contains(user) {
                    None
                } else {
                    missing("the user is not in the waiting room")
                }
            }
            _ => missing("the answer does not fit the operation"),
        }
    }

    /// A stored effect no attempt may have caused: every attempt was rejected, or none was made.
    fn explained(&self) -> Found<'a> {
        let unexplained = |id: Uuid, what: &str, pick: &dyn Fn(&Action) -> bool| -> Found<'a> {
            let attempts = self.ops_where(pick);
            if attempts.iter().any(|op| may_have_applied(op)) {
                return None;
            }
            let why = if attempts.is_empty() {
                "no client asked for it"
            } else {
                "every attempt was told it was rejected"
            };
            Some((format!("{what} {id} is stored, but {why}"), attempts))
        };
        for h in &self.state.holds {
            let id = h.id;
            let found = unexplained(
                id,
                "hold",
                &|a| matches!(a, Action::Hold { hold, .. } if *hold == id),
            );
            if found.is_some() {
                return found;
            }
            if h.end == HoldEnd::Released {
                let found = unexplained(
                    id,
                    "the release of hold",
                    &|a| matches!(a, Action::Release { hold } if *hold == id),
                );
                if found.is_some() {
                    return found;
                }
            }
        }
        for b in &self.state.bookings {
            let id = b.id;
            let found = unexplained(
                id,
                "booking",
                &|a| matches!(a, Action::Confirm { booking, .. } if *booking == id),
            )
            .or_else(|| {
                b.cancelled.and_then(|_| {
                    unexplained(
                        id,
                        "the cancellation of booking",
                        &|a| matches!(a, Action::Cancel { booking } if *booking == id),
                    )
                })
            });
            if found.is_some() {
                return found;
            }
        }
        for a in &self.state.admissions {
            let id = a.ticket;
            let found = unexplained(
                id,
                "the admission of ticket",
                &|x| matches!(x, Action::CheckIn { ticket, .. } if *ticket == id),
            );
            if found.is_some() {
                return found;
            }
        }
        self.state.queue.iter().find_map(|user| {
            let id = *user;
            unexplained(
                id,
                "waiting-room entry of user",
                &|a| matches!(a, Action::JoinQueue { user } if *user == id),
            )
        })
    }

    fn unknown_one_way(&self) -> Found<'a> {
        self.same_key_same_answer().or_else(|| self.whole_effects())
    }

    /// Attempts sharing a key must not get different definite answers.
    fn same_key_same_answer(&self) -> Found<'a> {
        let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
        for op in self.ops {
            by_key.entry(op.key.as_str()).or_default().push(op);
        }
        by_key.into_iter().find_map(|(key, ops)| {
            let answers: Vec<&Op> = ops
                .iter()
                .copied()
                .filter(|op| op.outcome != Outcome::Unknown)
                .collect();
            let first = answers.first()?;
            let differs = answers
                .iter()
                .any(|op| op.outcome != first.outcome || op.action != first.action);
            differs.then(|| {
                (
                    format!("attempts with key {key} got different answers"),
                    ops,
                )
            })
        })
    }

    /// An operation of unknown outcome whose effect is in the state only in part.
    fn whole_effects(&self) -> Found<'a> {
        self.ops
            .iter()
            .filter(|op| op.outcome == Outcome::Unknown)
            .find_map(|op| {
                let partial = match &op.action {
                    Action::Hold { hold, seats } => self
                        .hold(*hold)
                        .is_some_and(|h| set(&h.seats) != set(seats)),
                    Action::Confirm { hold, booking } => {
                        self.booking(*booking).is_some_and(|b| b.hold != *hold)
                    }
                    Action::CheckIn { ticket, booking } => self
                        .state
                        .admissions
                        .iter()
                        .any(|a| a.ticket == *ticket && a.booking != *booking),
                    Action::Release { .. } | Action::Cancel { .. } | Action::JoinQueue { .. } => {
                        false
                    }
                };
                partial.then(|| {
                    (
                        "an operation of unknown outcome took effect in part".to_string(),
                        vec![op],
                    )
                })
            })
    }

    fn no_booking_from_dead_hold(&self) -> Found<'a> {
        self.state
            .bookings
            .iter()
            .find_map(|b| self.booked_from_live_hold(b))
            .or_else(|| self.confirmed_after_release())
    }

    fn booked_from_live_hold(&self, b: &BookingRecord) -> Found<'a> {
        let why = match self.hold(b.hold) {
            None => Some("its hold is not stored".to_string()),
            Some(h) if h.end != HoldEnd::Confirmed(b.id) => {
                Some(format!("its hold ended {:?}", h.end))
            }
            Some(h) if b.booked_at >= h.expires_at => Some(format!(
                "it was booked at {} but its hold lapsed at {}",
                b.booked_at, h.expires_at
            )),
            Some(h) if set(&h.seats) != set(&b.seats) => {
                Some("it has other seats than its hold".to_string())
            }
            Some(_) => None,
        }?;
        let mut ops = self.ops_about(b.hold);
        ops.extend(self.confirms_of(b.id));
        ops.sort_by_key(|op| op.id);
        ops.dedup_by_key(|op| op.id);
        Some((format!("booking {}: {why}", b.id), ops))
    }

    /// A confirm acknowledged although it was sent after a release of its hold was acknowledged.
    fn confirmed_after_release(&self) -> Found<'a> {
        self.ops.iter().find_map(|release| {
            let (Action::Release { hold }, Outcome::Ok(_), Some(done)) =
                (&release.action, &release.outcome, release.completed)
            else {
                return None;
            };
            let confirm = self.ops.iter().find(|op| {
                matches!(op.action, Action::Confirm { hold: h, .. } if h == *hold)
                    && matches!(op.outcome, Outcome::Ok(_))
                    && op.invoked > done
            })?;
            Some((
                format!("hold {hold} was confirmed after its release was acknowledged"),
                vec![release, confirm],
            ))
        })
    }

    fn payment_matches_booking(&self) -> Found<'a> {
        self.state
            .bookings
            .iter()
            .find_map(|b| self.refund_by_tier(b))
            .or_else(|| self.payments_match())
    }

    /// A cancellation's refund is its tier's share of the amount (rounded down).
    fn refund_by_tier(&self, b: &BookingRecord) -> Found<'a> {
        let c = b.cancelled?;
        let percent = (self.rules.refund_percent)(self.state.show_time - c.at);
        let due = b.amount * u64::from(percent) / 100;
        (c.refund != due).then(|| {
            (
                format!(
                    "booking {} was refunded {} but its tier ({percent}%) gives {due}",
                    b.id, c.refund
                ),
                self.ops_about(b.id),
            )
        })
    }

    fn payments_match(&self) -> Found<'a> {
        let payments = self.state.payments.as_ref()?;
        let mut by_booking: BTreeMap<Uuid, Vec<_>> = BTreeMap::new();
        for p in payments {
            by_booking.entry(p.booking).or_default().push(p);
        }
        for b in &self.state.bookings {
            let refund = b.cancelled.map_or(0, |c| c.refund);
            let why = match by_booking.get(&b.id).map(Vec::as_slice) {
                None | Some([]) => Some("no payment was captured".to_string()),
                Some([p]) if p.captured != b.amount => Some(format!(
                    "{} was captured for an amount of {}",
                    p.captured, b.amount
                )),
                Some([p]) if p.refunded != refund => Some(format!(
                    "{} was refunded where {refund} was due",
                    p.refunded
                )),
                Some([_]) => None,
                Some(_) => Some("it was paid more than once".to_string()),
            };
            if let Some(why) = why {
                return Some((format!("booking {}: {why}", b.id), self.ops_about(b.id)));
            }
        }
        by_booking.iter().find_map(|(booking, ps)| {
            let moved = ps.iter().any(|p| p.captured > 0 || p.refunded > 0);
            (moved && self.booking(*booking).is_none()).then(|| {
                (
                    format!("money moved for {booking}, which is no booking"),
                    self.ops_about(*booking),
                )
            })
        })
    }

    fn admitted_once(&self) -> Found<'a> {
        let mut seen = BTreeSet::new();
        for a in &self.state.admissions {
            if !seen.insert(a.ticket) {
                return Some((
                    format!("ticket {} was admitted more than once", a.ticket),
                    self.ops_about(a.ticket),
                ));
            }
            if self.booking(a.booking).is_none() {
                return Some((
                    format!("ticket {} was admitted for no booking", a.ticket),
                    self.ops_about(a.ticket),
                ));
            }
        }
        self.admitted_twice_told()
    }

    /// Two attempts with different keys both told the same ticket was admitted.
    fn admitted_twice_told(&self) -> Found<'a> {
        let mut told: BTreeMap<Uuid, &Op> = BTreeMap::new();
        for op in self.ops {
            let (Action::CheckIn { ticket, .. }, Outcome::Ok(_)) = (&op.action, &op.outcome) else {
                continue;
            };
            match told.insert(*ticket, op) {
                Some(first) if first.key != op.key => {
                    return Some((
                        format!("two check-ins of ticket {ticket} were both admitted"),
                        vec![first, op],
                    ));
                }
                _ => {}
            }
        }
        None
    }

    fn seat_map_matches_store(&self) -> Found<'a> {
        let stored = &self.state.stored_seats;
        let shown = &self.state.seat_map;
        let seats: BTreeSet<&Uuid> = stored.keys().chain(shown.keys()).collect();
        for seat in seats {
            let (a, b) = (stored.get(seat), shown.get(seat));
            if a != b {
                return Some((
                    format!("seat {seat} is stored {a:?} but the seat map shows {b:?}"),
                    Vec::new(),
                ));
            }
        }
        stored
            .iter()
            .find_map(|(seat, status)| self.seat_agrees(*seat, *status))
    }

    /// A stored seat status must agree with the stored holds and bookings.
    fn seat_agrees(&self, seat: Uuid, status: SeatStatus) -> Found<'a> {
        let booked = self
            .state
            .bookings
            .iter()
            .any(|b| b.cancelled.is_none() && b.seats.contains(&seat));
        let held = self
            .state
            .holds
            .iter()
            .any(|h| h.end == HoldEnd::Active && h.seats.contains(&seat));
        let expected = match (booked, held) {
            (true, _) => SeatStatus::Booked,
            (false, true) => SeatStatus::Held,
            (false, false) if status == SeatStatus::Blocked => SeatStatus::Blocked,
            (false, false) => SeatStatus::Available,
        };
        (status != expected).then(|| {
            (
                format!("seat {seat} is stored {status:?} but its holds and bookings make it {expected:?}"),
                Vec::new(),
            )
        })
    }
}
