//! A restored show in the history checker's terms: the seat statuses, holds, bookings and
//! admissions its stored rows say, for the read-back at the end of a simulated run (`sim`) and of
//! a fault campaign (`chaos`). One mapping, so both judge the same reading of the store. Behind
//! the `fixtures` feature: never part of a product build.

use engine::{HoldStatus, ShowState, StateRow};
use history::{Admission, BookingRecord, Cancellation, FinalState, HoldEnd, HoldRecord};
use uuid::Uuid;

/// A seat status in the checker's terms.
pub fn seat_status(s: schemas::SeatStatus) -> history::SeatStatus {
    match s {
        schemas::SeatStatus::Available => history::SeatStatus::Available,
        schemas::SeatStatus::Held => history::SeatStatus::Held,
        schemas::SeatStatus::Booked => history::SeatStatus::Booked,
        schemas::SeatStatus::Blocked => history::SeatStatus::Blocked,
    }
}

/// Put one restored show into `out`: its stored seat statuses, every hold, every booking and
/// every admission. Answers each booking's payment reference (the campaign checks it names the
/// authorization that took the money; the checker sees money per booking only).
pub fn read_show(engine: &ShowState, out: &mut FinalState) -> Vec<(Uuid, String)> {
    for (seat, s) in engine.seat_statuses() {
        out.stored_seats.insert(seat.0, seat_status(s));
    }
    let snapshot = engine.snapshot();
    out.holds
        .extend(snapshot.iter().filter_map(|row| match row {
            StateRow::Hold { hold_id, body } => Some(hold_record(engine, hold_id.0, body)),
            _ => None,
        }));
    let mut refs = Vec::new();
    for row in &snapshot {
        let StateRow::Booking { booking_id, body } = row else {
            continue;
        };
        let hold = snapshot.iter().find_map(|r| match r {
            StateRow::Hold { hold_id, body: h } if *hold_id == body.hold_id => Some(h),
            _ => None,
        });
        out.bookings.push(BookingRecord {
            id: booking_id.0,
            hold: body.hold_id.0,
            seats: hold.map_or_else(Vec::new, |h| seat_ids(engine, &h.seats)),
            amount: hold.map_or(0, |h| h.total_minor as u64),
            booked_at: body.booked_at.0,
            cancelled: body.cancellation.as_ref().map(|c| Cancellation {
                at: c.at.0,
                refund: c.refund_minor as u64,
            }),
        });
        refs.push((booking_id.0, body.payment_ref.clone()));
        out.admissions
            .extend(body.check_ins.iter().filter_map(|check_in| {
                engine.seat_id(check_in.seat).map(|seat| Admission {
                    ticket: engine::ticket_id(*booking_id, seat).0,
                    booking: booking_id.0,
                })
            }));
    }
    refs
}

fn hold_record(engine: &ShowState, id: Uuid, body: &engine::HoldRow) -> HoldRecord {
    HoldRecord {
        id,
        seats: seat_ids(engine, &body.seats),
        expires_at: body.expires_at.0,
        end: match (body.status, body.booking_id) {
            (HoldStatus::Confirmed, Some(b)) => HoldEnd::Confirmed(b.0),
            (HoldStatus::Confirmed, None) | (HoldStatus::Active, _) => HoldEnd::Active,
            (HoldStatus::Released, _) => HoldEnd::Released,
            (HoldStatus::Expired, _) => HoldEnd::Expired,
        },
    }
}

fn seat_ids(engine: &ShowState, indices: &[u32]) -> Vec<Uuid> {
    indices
        .iter()
        .filter_map(|i| engine.seat_id(*i))
        .map(|s| s.0)
        .collect()
}
