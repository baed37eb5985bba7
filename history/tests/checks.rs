//! Each check passes a good history and fails a history broken in its own way, and the whole
//! checker reports that check first.

use history::{
    Action, Admission, BookingRecord, Cancellation, Check, Done, FinalState, History, HoldEnd,
    HoldRecord, Outcome, Payment, Rules, SeatStatus, check, check_one,
};
use uuid::Uuid;

const HOUR: i64 = 3_600_000;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn rules() -> Rules {
    Rules {
        refund_percent: |until| {
            if until >= 24 * HOUR {
                100
            } else if until >= 4 * HOUR {
                50
            } else {
                0
            }
        },
    }
}

// Seats 1-3, holds 11-14, bookings 21 and 23, ticket 31, user 41.
const S1: u128 = 1;
const S2: u128 = 2;
const S3: u128 = 3;

/// A run where every promise held: a hold confirmed and admitted, a hold released, a hold whose
/// confirm went unanswered but applied and was then cancelled, a rejected hold, a queue join.
fn good() -> (History, FinalState) {
    let mut h = History::new();
    let ok = |h: &mut History, client, key: &str, action, at, done| {
        let op = h.invoke(client, key, action, at);
        h.complete(op, at + 5, Outcome::Ok(done));
    };
    ok(
        &mut h,
        1,
        "k-hold-11",
        Action::Hold {
            hold: id(11),
            seats: vec![id(S1), id(S2)],
        },
        10,
        Done::Held { expires_at: 1_010 },
    );
    ok(
        &mut h,
        1,
        "k-confirm-11",
        Action::Confirm {
            hold: id(11),
            booking: id(21),
        },
        20,
        Done::Booked {
            seats: vec![id(S2), id(S1)],
            amount: 200,
        },
    );
    ok(
        &mut h,
        2,
        "k-hold-12",
        Action::Hold {
            hold: id(12),
            seats: vec![id(S3)],
        },
        30,
        Done::Held { expires_at: 1_030 },
    );
    ok(
        &mut h,
        2,
        "k-release-12",
        Action::Release { hold: id(12) },
        40,
        Done::Released,
    );
    ok(
        &mut h,
        2,
        "k-hold-13",
        Action::Hold {
            hold: id(13),
            seats: vec![id(S3)],
        },
        50,
        Done::Held { expires_at: 1_050 },
    );
    let unanswered = h.invoke(
        2,
        "k-confirm-13",
        Action::Confirm {
            hold: id(13),
            booking: id(23),
        },
        60,
    );
    h.complete(unanswered, 5_060, Outcome::Unknown);
    ok(
        &mut h,
        2,
        "k-cancel-23",
        Action::Cancel { booking: id(23) },
        6_000,
        Done::Cancelled { refund: 100 },
    );
    ok(
        &mut h,
        1,
        "k-checkin-31",
        Action::CheckIn {
            ticket: id(31),
            booking: id(21),
        },
        7_000,
        Done::Admitted,
    );
    ok(
        &mut h,
        3,
        "k-join-41",
        Action::JoinQueue { user: id(41) },
        8_000,
        Done::Joined,
    );
    let refused = h.invoke(
        3,
        "k-hold-14",
        Action::Hold {
            hold: id(14),
            seats: vec![id(S2)],
        },
        9_000,
    );
    h.complete(refused, 9_005, Outcome::Rejected("SeatsUnavailable".into()));

    let seats = [
        (id(S1), SeatStatus::Booked),
        (id(S2), SeatStatus::Booked),
        (id(S3), SeatStatus::Available),
    ]
    .into_iter()
    .collect();
    let state = FinalState {
        show_time: 100 * HOUR,
        stored_seats: seats,
        seat_map: [
            (id(S1), SeatStatus::Booked),
            (id(S2), SeatStatus::Booked),
            (id(S3), SeatStatus::Available),
        ]
        .into_iter()
        .collect(),
        holds: vec![
            hold(11, &[S1, S2], 1_010, HoldEnd::Confirmed(id(21))),
            hold(12, &[S3], 1_030, HoldEnd::Released),
            hold(13, &[S3], 1_050, HoldEnd::Confirmed(id(23))),
        ],
        bookings: vec![
            booking(21, 11, &[S1, S2], 200, 25, None),
            booking(
                23,
                13,
                &[S3],
                100,
                65,
                Some(Cancellation {
                    at: 6_002,
                    refund: 100,
                }),
            ),
        ],
        payments: Some(vec![
            Payment {
                booking: id(21),
                captured: 200,
                refunded: 0,
            },
            Payment {
                booking: id(23),
                captured: 100,
                refunded: 100,
            },
        ]),
        admissions: vec![Admission {
            ticket: id(31),
            booking: id(21),
        }],
        queue: vec![id(41)],
    };
    (h, state)
}

fn hold(n: u128, seats: &[u128], expires_at: i64, end: HoldEnd) -> HoldRecord {
    HoldRecord {
        id: id(n),
        seats: seats.iter().map(|s| id(*s)).collect(),
        expires_at,
        end,
    }
}

fn booking(
    n: u128,
    hold: u128,
    seats: &[u128],
    amount: u64,
    booked_at: i64,
    cancelled: Option<Cancellation>,
) -> BookingRecord {
    BookingRecord {
        id: id(n),
        hold: id(hold),
        seats: seats.iter().map(|s| id(*s)).collect(),
        amount,
        booked_at,
        cancelled,
    }
}

/// `which` fails on the broken run, and it is the first violation the whole checker reports.
fn caught(which: Check, history: &History, state: &FinalState) {
    let err =
        check_one(which, history, state, &rules()).expect_err("the broken run must fail its check");
    assert_eq!(err.check, which, "{err}");
    let first = check(history, state, &rules()).expect_err("the checker must fail");
    assert_eq!(first.check, which, "reported first: {first}");
    // The report names its check and is printable.
    assert!(first.to_string().contains(which.name()));
}

#[test]
fn a_run_that_kept_every_promise_passes_every_check() {
    let (h, s) = good();
    for which in Check::ALL {
        check_one(which, &h, &s, &rules()).unwrap_or_else(|v| panic!("{v}"));
    }
    check(&h, &s, &rules()).unwrap();
}

#[test]
fn a_seat_in_two_live_bookings_is_caught() {
    let (mut h, mut s) = good();
    let op = h.invoke(
        9,
        "k-confirm-19",
        Action::Confirm {
            hold: id(19),
            booking: id(29),
        },
        100,
    );
    h.complete(op, 200, Outcome::Unknown);
    s.bookings.push(booking(29, 19, &[S1], 100, 150, None));
    let v = check_one(Check::SeatInTwoBookings, &h, &s, &rules()).unwrap_err();
    assert!(v.detail.contains(&id(S1).to_string()), "{v}");
    assert_eq!(v.ops.len(), 2, "both confirms are named: {v}");
    caught(Check::SeatInTwoBookings, &h, &s);
}

#[test]
fn an_acknowledged_release_that_did_not_happen_is_caught() {
    let (h, mut s) = good();
    s.holds[1].end = HoldEnd::Expired;
    caught(Check::AcknowledgedOnce, &h, &s);
}

#[test]
fn an_acknowledged_booking_that_is_missing_is_caught() {
    let (h, mut s) = good();
    s.bookings.remove(0);
    s.payments.as_mut().unwrap().remove(0);
    s.admissions.clear();
    caught(Check::AcknowledgedOnce, &h, &s);
}

#[test]
fn a_booking_stored_twice_is_caught() {
    let (h, mut s) = good();
    let again = s.bookings[1].clone();
    s.bookings.push(again);
    caught(Check::AcknowledgedOnce, &h, &s);
}

#[test]
fn a_rejected_hold_that_applied_anyway_is_caught() {
    let (h, mut s) = good();
    s.holds.push(hold(14, &[S2], 10_000, HoldEnd::Expired));
    let v = check_one(Check::AcknowledgedOnce, &h, &s, &rules()).unwrap_err();
    assert!(v.detail.contains("rejected"), "{v}");
    caught(Check::AcknowledgedOnce, &h, &s);
}

#[test]
fn a_hold_nobody_asked_for_is_caught() {
    let (h, mut s) = good();
    s.holds.push(hold(99, &[S3], 10_000, HoldEnd::Expired));
    caught(Check::AcknowledgedOnce, &h, &s);
}

#[test]
fn two_answers_under_one_key_are_caught() {
    let (mut h, s) = good();
    let retry = h.invoke(
        3,
        "k-hold-14",
        Action::Hold {
            hold: id(14),
            seats: vec![id(S2)],
        },
        9_100,
    );
    h.complete(retry, 9_105, Outcome::Rejected("HoldLimitExceeded".into()));
    caught(Check::UnknownOneWay, &h, &s);
}

#[test]
fn an_unknown_hold_applied_in_part_is_caught() {
    let (mut h, mut s) = good();
    let op = h.invoke(
        4,
        "k-hold-15",
        Action::Hold {
            hold: id(15),
            seats: vec![id(S3), id(S2)],
        },
        9_500,
    );
    h.complete(op, 14_500, Outcome::Unknown);
    s.holds.push(hold(15, &[S3], 10_500, HoldEnd::Expired));
    caught(Check::UnknownOneWay, &h, &s);
}

#[test]
fn a_booking_made_after_its_hold_lapsed_is_caught() {
    let (h, mut s) = good();
    s.bookings[1].booked_at = 1_050;
    caught(Check::NoBookingFromDeadHold, &h, &s);
}

#[test]
fn a_confirm_acknowledged_after_the_release_is_caught() {
    let (mut h, s) = good();
    let op = h.invoke(
        2,
        "k-confirm-12",
        Action::Confirm {
            hold: id(12),
            booking: id(22),
        },
        50,
    );
    h.complete(op, 55, Outcome::Unknown);
    // Told booked, with the same key as the unanswered attempt, after the release was answered.
    let retry = h.invoke(
        2,
        "k-confirm-12b",
        Action::Confirm {
            hold: id(12),
            booking: id(22),
        },
        60,
    );
    h.complete(
        retry,
        70,
        Outcome::Ok(Done::Booked {
            seats: vec![id(S3)],
            amount: 100,
        }),
    );
    let v = check_one(Check::NoBookingFromDeadHold, &h, &s, &rules()).unwrap_err();
    assert_eq!(v.check, Check::NoBookingFromDeadHold);
    assert_eq!(v.ops.len(), 2, "{v}");
}

#[test]
fn a_booking_without_its_payment_is_caught() {
    let (h, mut s) = good();
    s.payments.as_mut().unwrap().remove(0);
    caught(Check::PaymentMatchesBooking, &h, &s);
}

#[test]
fn a_refund_off_its_tier_is_caught() {
    let (h, mut s) = good();
    // Cancelled 10 h before the show: the tier gives 50%, not the 100 stored and told.
    s.show_time = 6_002 + 10 * HOUR;
    caught(Check::PaymentMatchesBooking, &h, &s);
}

#[test]
fn money_captured_for_no_booking_is_caught() {
    let (h, mut s) = good();
    s.payments.as_mut().unwrap().push(Payment {
        booking: id(77),
        captured: 100,
        refunded: 0,
    });
    caught(Check::PaymentMatchesBooking, &h, &s);
}

#[test]
fn a_ticket_admitted_twice_is_caught() {
    let (h, mut s) = good();
    s.admissions.push(s.admissions[0]);
    caught(Check::AdmittedOnce, &h, &s);
}

#[test]
fn two_check_ins_both_told_admitted_are_caught() {
    let (mut h, s) = good();
    let op = h.invoke(
        5,
        "k-checkin-31-gate-b",
        Action::CheckIn {
            ticket: id(31),
            booking: id(21),
        },
        7_100,
    );
    h.complete(op, 7_105, Outcome::Ok(Done::Admitted));
    caught(Check::AdmittedOnce, &h, &s);
}

#[test]
fn a_seat_map_that_differs_from_the_store_is_caught() {
    let (h, mut s) = good();
    s.seat_map.insert(id(S3), SeatStatus::Held);
    caught(Check::SeatMapMatchesStore, &h, &s);
}

#[test]
fn a_stored_seat_that_disagrees_with_its_bookings_is_caught() {
    let (h, mut s) = good();
    s.stored_seats.insert(id(S3), SeatStatus::Booked);
    s.seat_map.insert(id(S3), SeatStatus::Booked);
    caught(Check::SeatMapMatchesStore, &h, &s);
}

#[test]
fn payments_are_not_checked_when_there_is_no_provider_to_read() {
    let (h, mut s) = good();
    s.payments = None;
    check(&h, &s, &rules()).unwrap();
}
