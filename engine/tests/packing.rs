//! The packed in-memory forms give back exactly what went in: locked prices too wide for the
//! hold record's `u32`, payment references of any length, and stream times far from today,
//! through decisions, replays, read views, rows and a restore.

mod common;

use common::*;
use engine::{BookingStatus, Origin, ShowState};
use schemas::{Command, Event, Outcome, UnixMs};

const WIDE_A: i64 = u32::MAX as i64; // one seat hits the record's sentinel value exactly
const WIDE_B: i64 = i64::MAX / 2; // three seats saturate

fn wide_show() -> ShowState {
    let mut layout = layout();
    layout.sections[0].price_minor = WIDE_A;
    layout.sections[1].price_minor = WIDE_B;
    let mut state = ShowState::new(SHOW);
    let create = Command::CreateShow {
        layout,
        show_time: UnixMs(SHOW_TIME),
        sale_opens_at: Some(UnixMs(SALE_OPENS)),
    };
    let decision = state.decide(&envelope(0, create), UnixMs(SALE_OPENS - HOUR));
    assert!(matches!(decision.outcome, Outcome::Accepted(_)));
    state
}

fn held_total(outcome: &Outcome) -> i64 {
    match outcome {
        Outcome::Accepted(events) => match &events[..] {
            [Event::Held { total_minor, .. }] => *total_minor,
            other => panic!("not a hold: {other:?}"),
        },
        Outcome::Rejected(rejection) => panic!("rejected: {rejection:?}"),
    }
}

#[test]
fn wide_totals_long_refs_and_far_times_survive_everything() {
    let mut state = wide_show();
    let mut partition = Partition::default();
    let now = UnixMs(SALE_OPENS + 1);
    let cases: [(u128, &[u32], i64); 4] = [
        (1, &[0], WIDE_A),
        (2, &[1, 2], 2 * WIDE_A),
        (3, &[10, 11, 12], i64::MAX),
        (4, &[3, 13], WIDE_A + WIDE_B),
    ];
    let mut held = Vec::new();
    for (n, seats, total) in cases {
        let decision = state.decide(&envelope(n, hold(n, n, seats)), now);
        assert_eq!(held_total(&decision.outcome), total, "hold {n}");
        assert_eq!(state.hold(hold_id(n)).unwrap().total_minor, total);
        held.push(decision.outcome);
    }
    let long_ref = "r".repeat(40_000);
    let confirm_long = Command::Confirm {
        hold_id: hold_id(2),
        user: user(2),
        booking_id: booking_id(2),
        payment_ref: long_ref.clone(),
    };
    let confirmed = state.decide(&envelope(20, confirm_long), UnixMs(now.0 + 10));
    assert!(matches!(confirmed.outcome, Outcome::Accepted(_)));
    let confirmed_short = state.decide(&envelope(21, confirm(3, 3)), UnixMs(now.0 + 20));
    assert!(matches!(confirmed_short.outcome, Outcome::Accepted(_)));
    let cancel = Command::Cancel {
        booking_id: booking_id(2),
        user: user(2),
        reason: None,
    };
    let cancelled = state.decide(&envelope(22, cancel), UnixMs(now.0 + 30));
    match &cancelled.outcome {
        Outcome::Accepted(events) => assert!(matches!(
            &events[..],
            [Event::Cancelled { refund_minor, refund_percent: 100, payment_ref, .. }]
                if *refund_minor == 2 * WIDE_A && *payment_ref == long_ref
        )),
        Outcome::Rejected(rejection) => panic!("cancel rejected: {rejection:?}"),
    }
    let booking = state.booking(booking_id(2)).unwrap();
    assert_eq!(booking.payment_ref, long_ref);
    assert_eq!(booking.total_minor, 2 * WIDE_A);
    assert_eq!(booking.status, BookingStatus::Cancelled);
    assert_eq!(state.booking(booking_id(3)).unwrap().payment_ref, "auth_3");
    partition.apply(state.take_dirty());

    let mut restored = ShowState::restore(SHOW, partition.rows()).expect("restore");
    assert_eq!(restored.snapshot(), state.snapshot());
    for (n, seats, _) in cases {
        let replay = restored.decide(&envelope(n, hold(n, n, seats)), UnixMs(now.0 + 40));
        assert_eq!(replay.origin, Origin::Replayed);
        assert_eq!(replay.outcome, held[n as usize - 1]);
    }
    assert_eq!(
        restored.booking(booking_id(2)),
        state.booking(booking_id(2))
    );
}

#[test]
fn times_far_from_now_pack_exactly() {
    let mut state = created();
    // A hold whose TTL runs to the end of time expires at i64::MAX exactly.
    let forever = Command::Hold {
        hold_id: hold_id(1),
        user: user(1),
        seats: seats(&[0]),
        ttl_ms: u64::MAX,
        limits: LIMITS,
    };
    let now = UnixMs(SALE_OPENS + 1);
    assert!(matches!(
        state.decide(&envelope(1, forever), now).outcome,
        Outcome::Accepted(_)
    ));
    assert_eq!(state.hold(hold_id(1)).unwrap().expires_at, UnixMs(i64::MAX));
    assert_eq!(state.next_expiry(), Some(UnixMs(i64::MAX)));
    let rows = state.snapshot();
    let restored = ShowState::restore(SHOW, rows).expect("restore");
    assert_eq!(restored.next_expiry(), Some(UnixMs(i64::MAX)));
    assert_eq!(restored.snapshot(), state.snapshot());
}
