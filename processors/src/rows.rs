//! Translation between the engine's typed rows and the stores' `(kind, id, body)` rows: the one
//! place the stored row format meets the engine.

use engine::{
    BookingRow, BookingStatus, BookingView, HoldRow, HoldView, RowChange, RowKind, ShowState,
    StateRow, TicketStatus, TicketView,
};
use schemas::{BookingId, HoldId, SeatId, ShowId};
use uuid::Uuid;

use crate::store::{Row, StoreError, StoredShow};

/// Encode the engine's changed rows for a store write.
pub fn encode_changes(changes: Vec<RowChange>) -> Result<Vec<Row>, StoreError> {
    changes.into_iter().map(encode_change).collect()
}

fn encode_change(change: RowChange) -> Result<Row, StoreError> {
    let key = change.key();
    let body = match &change {
        RowChange::Put(row) => Some(
            row.encode_body()
                .map_err(|e| StoreError::Corrupt(e.into()))?,
        ),
        RowChange::Delete(_) => None,
    };
    Ok(Row {
        kind: key.kind().code(),
        id: key.id(),
        body,
    })
}

/// Rebuild a show's engine state from its stored rows.
pub fn restore(show: ShowId, stored: &StoredShow) -> Result<ShowState, StoreError> {
    let rows = stored
        .rows
        .iter()
        .filter_map(|row| row.body.as_deref().map(|body| (row.kind, row.id, body)))
        .map(|(kind, id, body)| {
            StateRow::decode(kind, id, body).map_err(|e| StoreError::Corrupt(e.into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    ShowState::restore(show, rows).map_err(|e| StoreError::Corrupt(e.into()))
}

/// A hold's row as stored: decode the `body` of the row `(RowKind::Hold, hold_id)`.
pub fn decode_hold(hold_id: HoldId, body: &[u8]) -> Result<HoldRow, StoreError> {
    match decode_row(RowKind::Hold, hold_id.0, body)? {
        StateRow::Hold { body, .. } => Ok(body),
        other @ (StateRow::Meta(_)
        | StateRow::Seat { .. }
        | StateRow::Booking { .. }
        | StateRow::Outcome { .. }) => Err(wrong_kind(RowKind::Hold, &other)),
    }
}

/// A booking's row as stored: decode the `body` of the row `(RowKind::Booking, booking_id)`.
pub fn decode_booking(booking_id: BookingId, body: &[u8]) -> Result<BookingRow, StoreError> {
    match decode_row(RowKind::Booking, booking_id.0, body)? {
        StateRow::Booking { body, .. } => Ok(body),
        other @ (StateRow::Meta(_)
        | StateRow::Seat { .. }
        | StateRow::Hold { .. }
        | StateRow::Outcome { .. }) => Err(wrong_kind(RowKind::Booking, &other)),
    }
}

fn decode_row(kind: RowKind, id: Uuid, body: &[u8]) -> Result<StateRow, StoreError> {
    StateRow::decode(kind.code(), id, body).map_err(|e| StoreError::Corrupt(e.into()))
}

fn wrong_kind(wanted: RowKind, found: &StateRow) -> StoreError {
    StoreError::Corrupt(
        format!(
            "row {:?} decoded as {:?}, wanted {wanted:?}",
            found.key(),
            found.key().kind()
        )
        .into(),
    )
}

/// The view of one hold from its row alone: exactly what [`ShowState::hold`] answers for it
/// (seat ids derive from the show and the layout indices; see `SeatId::derive`).
pub fn hold_view(show: ShowId, hold_id: HoldId, row: &HoldRow) -> HoldView {
    HoldView {
        hold_id,
        user: row.user,
        seats: row.seats.iter().map(|i| SeatId::derive(show, *i)).collect(),
        status: row.status,
        expires_at: row.expires_at,
        total_minor: row.total_minor,
        booking_id: row.booking_id,
    }
}

/// The view of one booking from its row and its hold's row alone: exactly what
/// [`ShowState::booking`] answers for it (tickets in the hold's seat order; a checked-in ticket
/// stays checked in after a cancellation, as in the engine).
pub fn booking_view(
    show: ShowId,
    booking_id: BookingId,
    booking: &BookingRow,
    hold: &HoldRow,
) -> BookingView {
    let tickets = hold
        .seats
        .iter()
        .map(|index| {
            let seat_id = SeatId::derive(show, *index);
            let check_in = booking.check_ins.iter().find(|c| c.seat == *index);
            let status = match (check_in, &booking.cancellation) {
                (Some(c), _) => TicketStatus::CheckedIn {
                    at: c.at,
                    gate: c.gate.clone(),
                },
                (None, Some(_)) => TicketStatus::Cancelled,
                (None, None) => TicketStatus::Valid,
            };
            TicketView {
                ticket_id: engine::ticket_id(booking_id, seat_id),
                seat_id,
                status,
            }
        })
        .collect();
    BookingView {
        booking_id,
        hold_id: booking.hold_id,
        user: hold.user,
        status: match booking.cancellation {
            Some(_) => BookingStatus::Cancelled,
            None => BookingStatus::Confirmed,
        },
        total_minor: hold.total_minor,
        payment_ref: booking.payment_ref.clone(),
        booked_at: booking.booked_at,
        cancelled: booking
            .cancellation
            .as_ref()
            .map(|c| (c.at, c.refund_minor, c.refund_percent)),
        tickets,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::*;
    use schemas::UnixMs;

    /// Every hold and booking view built from single rows equals the full state's view.
    #[test]
    fn single_row_views_match_the_full_state() {
        let s = show(1);
        let (alice, bob) = (user(1), user(2));
        let mut state = ShowState::new(s);
        let now = UnixMs(1_000);
        for envelope in [
            create(s, 20),
            hold(s, 10, alice, &[3, 1, 2], 600_000),
            hold(s, 11, bob, &[5], 600_000),
            hold(s, 12, bob, &[7], 600_000),
            confirm(s, 13, 10, alice),
            confirm(s, 14, 11, bob),
            release(s, 15, 12, bob),
            check_in(s, 16, 10, 1),
            cancel(s, 17, 11, bob),
        ] {
            let decision = state.decide(&envelope, now);
            assert!(
                matches!(decision.outcome, schemas::Outcome::Accepted(_)),
                "{:?}",
                decision.outcome
            );
        }
        let rows = state.snapshot();
        let (mut holds, mut bookings) = (0, 0);
        let by_key = |key| rows.iter().find(|r| r.key() == key).unwrap();
        for row in &rows {
            let body = row.encode_body().unwrap();
            match row {
                StateRow::Hold { hold_id, .. } => {
                    let stored = decode_hold(*hold_id, &body).unwrap();
                    assert_eq!(Some(hold_view(s, *hold_id, &stored)), state.hold(*hold_id));
                    holds += 1;
                }
                StateRow::Booking {
                    booking_id,
                    body: b,
                } => {
                    let StateRow::Hold { body: h, .. } = by_key(engine::RowKey::Hold(b.hold_id))
                    else {
                        panic!("booking without its hold row");
                    };
                    let stored = decode_booking(*booking_id, &body).unwrap();
                    let view = booking_view(s, *booking_id, &stored, h);
                    assert_eq!(Some(view), state.booking(*booking_id));
                    bookings += 1;
                }
                StateRow::Meta(_) | StateRow::Seat { .. } | StateRow::Outcome { .. } => {}
            }
        }
        assert_eq!((holds, bookings), (3, 2));
    }

    fn check_in(show: ShowId, id: u128, hold: u128, seat_index: u32) -> schemas::CommandEnvelope {
        let booking_id = BookingId(Uuid::from_u128(0xb000 + hold));
        let seat_id = seat(show, seat_index);
        let command = schemas::Command::CheckIn {
            ticket_id: engine::ticket_id(booking_id, seat_id),
            booking_id,
            seat_id,
            gate: Some("north".into()),
        };
        envelope(show, id, command)
    }

    fn cancel(
        show: ShowId,
        id: u128,
        hold: u128,
        who: schemas::UserId,
    ) -> schemas::CommandEnvelope {
        let command = schemas::Command::Cancel {
            booking_id: BookingId(Uuid::from_u128(0xb000 + hold)),
            user: who,
            reason: None,
        };
        envelope(show, id, command)
    }

    #[test]
    fn a_body_of_another_kind_is_corrupt() {
        let garbage = [0xffu8; 3];
        assert!(matches!(
            decode_hold(hold_id(1), &garbage),
            Err(StoreError::Corrupt(_))
        ));
    }
}
