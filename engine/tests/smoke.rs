//! The basic flow end to end: create, hold, confirm, persist, restore.

mod common;

use common::*;
use engine::{HoldStatus, Origin, ShowState};
use schemas::{Event, Outcome, SeatStatus, UnixMs};

#[test]
fn hold_confirm_persist_restore() {
    let mut state = created();
    let mut partition = Partition::default();
    partition.apply(state.take_dirty());
    let now = UnixMs(SALE_OPENS + 1);
    let held = state.decide(&envelope(1, hold(1, 1, &[0, 10])), now);
    let Outcome::Accepted(events) = &held.outcome else {
        panic!("hold rejected: {:?}", held.outcome)
    };
    assert!(matches!(
        &events[..],
        [Event::Held { total_minor, expires_at, .. }]
            if *total_minor == PRICE_A + PRICE_B && expires_at.0 == now.0 + TTL_MS as i64
    ));
    assert_eq!(held.origin, Origin::Decided);
    assert_eq!(held.seat_changes.len(), 2);
    assert_eq!(state.available_seats(), SEATS - 2);
    assert_eq!(state.next_expiry(), Some(UnixMs(now.0 + TTL_MS as i64)));
    let again = state.decide(&envelope(1, hold(1, 1, &[0, 10])), now);
    assert_eq!(again.outcome, held.outcome);
    assert_eq!(again.origin, Origin::Replayed);

    let confirmed = state.decide(&envelope(2, confirm(1, 1)), UnixMs(now.0 + 1000));
    assert!(matches!(confirmed.outcome, Outcome::Accepted(_)));
    assert_eq!(state.seat_status(0), Some(SeatStatus::Booked));
    assert_eq!(
        state.hold(hold_id(1)).unwrap().status,
        HoldStatus::Confirmed
    );
    assert_eq!(state.next_expiry(), None);
    let booking = state.booking(booking_id(1)).unwrap();
    assert_eq!(booking.tickets.len(), 2);
    assert_eq!(booking.total_minor, PRICE_A + PRICE_B);

    partition.apply(state.take_dirty());
    let restored = ShowState::restore(SHOW, partition.rows()).expect("restore");
    assert_eq!(restored.snapshot(), state.snapshot());
    assert_eq!(restored.available_seats(), state.available_seats());
}

/// A command the show has passed in the log is looked up, never decided: its first outcome when
/// it was applied, `NeverApplied` when recent and unknown, `Forgotten` when too old to tell.
#[test]
fn recall_tells_applied_from_never_applied_without_changing_the_state() {
    use engine::{LATE_PLACEMENT_WINDOW_MS, Recalled};
    let mut state = created();
    let now = UnixMs(SALE_OPENS + 1);
    let held = state.decide(&envelope(1, hold(1, 1, &[0])), now);
    let before = state.snapshot();

    let applied = state.recall(&envelope(1, hold(1, 1, &[0])), now, now);
    assert_eq!(applied, Recalled::Outcome(held.outcome));
    let reused = state.recall(&envelope_with(1, 9, hold(1, 1, &[3])), now, now);
    assert_eq!(reused, Recalled::Reused);

    let skipped = envelope(2, hold(2, 2, &[1]));
    assert_eq!(state.recall(&skipped, now, now), Recalled::NeverApplied);
    let later = UnixMs(now.0 + LATE_PLACEMENT_WINDOW_MS);
    assert_eq!(state.recall(&skipped, now, later), Recalled::Forgotten);
    assert_eq!(state.snapshot(), before, "recall changes nothing");
    assert_eq!(state.seat_status(1), Some(SeatStatus::Available));
}
