//! Table tests: one line per command -> the expected events or rejection. The lines run in order
//! on one show (a story), so each line's expectation depends only on the lines above it. The
//! table must name every `Rejection` variant (checked at the end).

mod common;

use std::collections::BTreeSet;

use common::*;
use engine::{Origin, ShowState, ticket_id};
use schemas::{
    BookingId, Command, Event, HoldId, NotCancellableReason as Why, Outcome, Rejection, SeatId,
    ShowId, UnixMs,
};
use uuid::Uuid;

/// When the story's first hold is placed.
const T: i64 = SALE_OPENS + 1_000;

/// One table line: at stream time `at`, command id `n` (fingerprint `fp`) runs `command`.
struct Line {
    at: i64,
    n: u128,
    fp: u8,
    command: Command,
    expect: Outcome,
}

fn line(at: i64, n: u128, command: Command, expect: Outcome) -> Line {
    Line {
        at,
        n,
        fp: n as u8,
        command,
        expect,
    }
}

fn rejected(rejection: Rejection) -> Outcome {
    Outcome::Rejected(rejection)
}

fn accepted(events: Vec<Event>) -> Outcome {
    Outcome::Accepted(events)
}

fn held(h: u128, u: u128, indices: &[u32], at: i64, total: i64) -> Outcome {
    accepted(vec![Event::Held {
        hold_id: hold_id(h),
        user: user(u),
        seats: seats(indices),
        expires_at: UnixMs(at + TTL_MS as i64),
        total_minor: total,
    }])
}

fn confirmed(h: u128, u: u128, indices: &[u32], total: i64, at: i64) -> Outcome {
    accepted(vec![Event::Confirmed {
        booking_id: booking_id(h),
        hold_id: hold_id(h),
        user: user(u),
        seats: seats(indices),
        total_minor: total,
        payment_ref: format!("auth_{h}"),
        booked_at: UnixMs(at),
    }])
}

fn cancelled(h: u128, u: u128, indices: &[u32], refund: i64, percent: u8) -> Outcome {
    accepted(vec![Event::Cancelled {
        booking_id: booking_id(h),
        user: user(u),
        seats: seats(indices),
        refund_minor: refund,
        refund_percent: percent,
        payment_ref: format!("auth_{h}"),
    }])
}

fn release(h: u128, u: u128) -> Command {
    Command::Release {
        hold_id: hold_id(h),
        user: user(u),
    }
}

fn cancel(h: u128, u: u128) -> Command {
    Command::Cancel {
        booking_id: booking_id(h),
        user: user(u),
        reason: Some("cannot come".to_string()),
    }
}

fn check_in(h: u128, index: u32, gate: &str) -> Command {
    Command::CheckIn {
        ticket_id: ticket_id(booking_id(h), seat(index)),
        booking_id: booking_id(h),
        seat_id: seat(index),
        gate: Some(gate.to_string()),
    }
}

fn not_cancellable(reason: Why) -> Outcome {
    rejected(Rejection::BookingNotCancellable { reason })
}

fn foreign_seat() -> SeatId {
    SeatId::derive(ShowId(Uuid::from_u128(99)), 0)
}

fn story() -> Vec<Line> {
    let expiry = T + TTL_MS as i64;
    let late = SHOW_TIME - 30 * HOUR;
    vec![
        // Request shape comes first, then sale window, then limits, then seat availability.
        line(
            SALE_OPENS - 1,
            1,
            hold(1, 1, &[0]),
            rejected(Rejection::SaleNotOpen {
                opens_at: UnixMs(SALE_OPENS),
            }),
        ),
        line(T, 2, hold(2, 1, &[]), rejected(Rejection::NoSeats)),
        line(
            T,
            3,
            hold(3, 1, &[0, 1, 0, 1, 2]),
            rejected(Rejection::DuplicateSeats {
                seat_ids: seats(&[0, 1]),
            }),
        ),
        line(
            T,
            4,
            hold(4, 1, &(0..11).collect::<Vec<_>>()),
            rejected(Rejection::TooManySeats { max: 10 }),
        ),
        line(
            T,
            5,
            hold(5, 1, &[0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            rejected(Rejection::DuplicateSeats {
                seat_ids: seats(&[0]),
            }),
        ),
        line(
            T,
            6,
            Command::Hold {
                hold_id: hold_id(6),
                user: user(1),
                seats: vec![seat(0), foreign_seat(), seat(SEATS)],
                ttl_ms: TTL_MS,
                limits: LIMITS,
            },
            rejected(Rejection::UnknownSeats {
                seat_ids: vec![foreign_seat(), seat(SEATS)],
            }),
        ),
        line(
            SALE_OPENS - 1,
            7,
            Command::Hold {
                hold_id: hold_id(7),
                user: user(1),
                seats: vec![foreign_seat()],
                ttl_ms: TTL_MS,
                limits: LIMITS,
            },
            rejected(Rejection::UnknownSeats {
                seat_ids: vec![foreign_seat()],
            }),
        ),
        line(
            SHOW_TIME,
            8,
            hold(8, 1, &[0]),
            rejected(Rejection::ShowStarted),
        ),
        line(
            T,
            10,
            hold(10, 1, &[0, 1]),
            held(10, 1, &[0, 1], T, 2 * PRICE_A),
        ),
        line(
            T,
            11,
            hold(11, 2, &[2, 1, 0]),
            rejected(Rejection::SeatsUnavailable {
                seat_ids: seats(&[1, 0]),
            }),
        ),
        line(
            T,
            12,
            hold(12, 1, &[2, 3, 4, 5, 6]),
            rejected(Rejection::TicketLimitExceeded { limit: 6 }),
        ),
        line(
            T,
            13,
            hold(13, 1, &[0, 2, 3, 4, 5]),
            rejected(Rejection::TicketLimitExceeded { limit: 6 }),
        ),
        line(T, 14, hold(14, 1, &[2]), held(14, 1, &[2], T, PRICE_A)),
        line(
            T + 1,
            15,
            hold(15, 1, &[3]),
            held(15, 1, &[3], T + 1, PRICE_A),
        ),
        line(
            T,
            16,
            hold(16, 1, &[4]),
            rejected(Rejection::HoldLimitExceeded { limit: 3 }),
        ),
        line(
            T,
            17,
            hold(17, 1, &[0]),
            rejected(Rejection::HoldLimitExceeded { limit: 3 }),
        ),
        line(
            T,
            18,
            hold(18, 1, &[4, 5, 6, 7]),
            rejected(Rejection::TicketLimitExceeded { limit: 6 }),
        ),
        // Idempotency: the same command id and fingerprint gives the first outcome again.
        line(
            T + 5,
            10,
            hold(10, 1, &[0, 1]),
            held(10, 1, &[0, 1], T, 2 * PRICE_A),
        ),
        line(
            T + 5,
            11,
            hold(11, 2, &[2, 1, 0]),
            rejected(Rejection::SeatsUnavailable {
                seat_ids: seats(&[1, 0]),
            }),
        ),
        Line {
            at: T + 5,
            n: 10,
            fp: 0xee,
            command: hold(10, 1, &[5]),
            expect: rejected(Rejection::CommandIdReused),
        },
        line(
            T + 5,
            19,
            hold(10, 2, &[5]),
            rejected(Rejection::CommandIdReused),
        ),
        // Release.
        line(
            T + 10,
            20,
            release(99, 1),
            rejected(Rejection::HoldNotFound),
        ),
        line(
            T + 10,
            21,
            release(10, 2),
            rejected(Rejection::NotHoldOwner),
        ),
        line(
            T + 10,
            22,
            release(15, 1),
            accepted(vec![Event::Released {
                hold_id: hold_id(15),
                seats: seats(&[3]),
            }]),
        ),
        line(
            T + 11,
            23,
            release(15, 1),
            rejected(Rejection::HoldReleased),
        ),
        line(
            T + 11,
            24,
            confirm(15, 1),
            rejected(Rejection::HoldReleased),
        ),
        // Confirm.
        line(
            T + 20,
            30,
            confirm(99, 1),
            rejected(Rejection::HoldNotFound),
        ),
        line(
            T + 20,
            31,
            confirm(10, 2),
            rejected(Rejection::NotHoldOwner),
        ),
        line(
            T + 20,
            32,
            confirm(10, 1),
            confirmed(10, 1, &[0, 1], 2 * PRICE_A, T + 20),
        ),
        line(
            T + 21,
            33,
            confirm(10, 1),
            rejected(Rejection::HoldAlreadyConfirmed {
                booking_id: booking_id(10),
            }),
        ),
        line(
            T + 21,
            34,
            release(10, 1),
            rejected(Rejection::HoldAlreadyConfirmed {
                booking_id: booking_id(10),
            }),
        ),
        line(
            T + 22,
            35,
            Command::Confirm {
                hold_id: hold_id(14),
                user: user(1),
                booking_id: booking_id(10),
                payment_ref: "x".into(),
            },
            rejected(Rejection::CommandIdReused),
        ),
        // Expiry: hold 14 (expires at T + TTL) lapses; hold 15 was released before.
        line(expiry - 1, 40, Command::Expire, accepted(vec![])),
        line(
            expiry,
            41,
            Command::Expire,
            accepted(vec![Event::Expired {
                hold_id: hold_id(14),
                seats: seats(&[2]),
            }]),
        ),
        line(expiry, 42, confirm(14, 1), rejected(Rejection::HoldExpired)),
        line(expiry, 43, release(14, 1), rejected(Rejection::HoldExpired)),
        // A lapsed hold is lapsed before any Expire command reaches it.
        line(
            expiry,
            44,
            hold(44, 2, &[5]),
            held(44, 2, &[5], expiry, PRICE_A),
        ),
        line(
            expiry + TTL_MS as i64,
            45,
            confirm(44, 2),
            rejected(Rejection::HoldExpired),
        ),
        line(
            expiry + TTL_MS as i64,
            46,
            hold(46, 3, &[5, 10]),
            held(46, 3, &[5, 10], expiry + TTL_MS as i64, PRICE_A + PRICE_B),
        ),
        // Check-in.
        line(
            late,
            50,
            Command::CheckIn {
                ticket_id: ticket_id(booking_id(99), seat(0)),
                booking_id: booking_id(99),
                seat_id: seat(0),
                gate: None,
            },
            rejected(Rejection::TicketNotFound),
        ),
        line(
            late,
            51,
            check_in(10, 2, "G1"),
            rejected(Rejection::TicketNotFound),
        ),
        line(
            late,
            52,
            Command::CheckIn {
                ticket_id: ticket_id(booking_id(10), seat(1)),
                booking_id: booking_id(10),
                seat_id: seat(0),
                gate: None,
            },
            rejected(Rejection::TicketNotFound),
        ),
        line(
            late,
            53,
            check_in(10, 0, "G1"),
            accepted(vec![Event::CheckedIn {
                ticket_id: ticket_id(booking_id(10), seat(0)),
                booking_id: booking_id(10),
                seat_id: seat(0),
                gate: Some("G1".into()),
                at: UnixMs(late),
            }]),
        ),
        line(
            late + 1,
            54,
            check_in(10, 0, "G2"),
            rejected(Rejection::AlreadyCheckedIn {
                at: UnixMs(late),
                gate: Some("G1".into()),
            }),
        ),
        // Cancel, with every refund tier and every reason a booking cannot be cancelled.
        line(
            late,
            60,
            cancel(99, 1),
            rejected(Rejection::BookingNotFound),
        ),
        line(
            late,
            61,
            cancel(10, 2),
            rejected(Rejection::NotBookingOwner),
        ),
        line(late, 62, cancel(10, 1), not_cancellable(Why::CheckedIn)),
        line(
            late,
            63,
            hold(63, 4, &[11, 12]),
            held(63, 4, &[11, 12], late, 2 * PRICE_B),
        ),
        line(
            late,
            64,
            confirm(63, 4),
            confirmed(63, 4, &[11, 12], 2 * PRICE_B, late),
        ),
        line(
            late,
            65,
            hold(65, 5, &[13]),
            held(65, 5, &[13], late, PRICE_B),
        ),
        line(
            late,
            66,
            confirm(65, 5),
            confirmed(65, 5, &[13], PRICE_B, late),
        ),
        line(
            late,
            67,
            hold(67, 6, &[14, 15, 16]),
            held(67, 6, &[14, 15, 16], late, 3 * PRICE_B),
        ),
        line(
            late,
            68,
            confirm(67, 6),
            confirmed(67, 6, &[14, 15, 16], 3 * PRICE_B, late),
        ),
        line(
            late,
            69,
            hold(69, 7, &[17]),
            held(69, 7, &[17], late, PRICE_B),
        ),
        line(
            late,
            70,
            confirm(69, 7),
            confirmed(69, 7, &[17], PRICE_B, late),
        ),
        line(
            SHOW_TIME - 24 * HOUR,
            71,
            cancel(63, 4),
            cancelled(63, 4, &[11, 12], 2 * PRICE_B, 100),
        ),
        line(
            SHOW_TIME - 24 * HOUR,
            72,
            cancel(63, 4),
            not_cancellable(Why::AlreadyCancelled),
        ),
        line(
            SHOW_TIME - 24 * HOUR,
            73,
            check_in(63, 11, "G1"),
            rejected(Rejection::TicketCancelled),
        ),
        line(
            SHOW_TIME - 24 * HOUR,
            74,
            hold(74, 8, &[11]),
            held(74, 8, &[11], SHOW_TIME - 24 * HOUR, PRICE_B),
        ),
        line(
            SHOW_TIME - 4 * HOUR,
            75,
            cancel(65, 5),
            cancelled(65, 5, &[13], PRICE_B / 2, 50),
        ),
        line(
            SHOW_TIME - 4 * HOUR + 1,
            76,
            cancel(67, 6),
            cancelled(67, 6, &[14, 15, 16], 0, 0),
        ),
        // Operators.
        line(
            SHOW_TIME - HOUR,
            80,
            Command::Block { seats: vec![] },
            rejected(Rejection::NoSeats),
        ),
        line(
            SHOW_TIME - HOUR,
            81,
            Command::Block {
                seats: seats(&[19, 19]),
            },
            rejected(Rejection::DuplicateSeats {
                seat_ids: seats(&[19]),
            }),
        ),
        line(
            SHOW_TIME - HOUR,
            82,
            Command::Block {
                seats: vec![foreign_seat()],
            },
            rejected(Rejection::UnknownSeats {
                seat_ids: vec![foreign_seat()],
            }),
        ),
        line(
            SHOW_TIME - HOUR,
            83,
            Command::Block {
                seats: seats(&[19, 0, 17]),
            },
            rejected(Rejection::SeatsNotBlockable {
                seat_ids: seats(&[0, 17]),
            }),
        ),
        line(
            SHOW_TIME - HOUR,
            84,
            Command::Block {
                seats: seats(&[19, 18]),
            },
            accepted(vec![Event::Blocked {
                seats: seats(&[19, 18]),
            }]),
        ),
        line(
            SHOW_TIME - HOUR,
            85,
            Command::Block {
                seats: seats(&[19, 14]),
            },
            accepted(vec![Event::Blocked {
                seats: seats(&[14]),
            }]),
        ),
        line(
            SHOW_TIME - HOUR,
            86,
            hold(86, 9, &[19]),
            rejected(Rejection::SeatsUnavailable {
                seat_ids: seats(&[19]),
            }),
        ),
        line(
            SHOW_TIME - HOUR,
            87,
            Command::Unblock {
                seats: seats(&[19, 16]),
            },
            accepted(vec![Event::Unblocked {
                seats: seats(&[19]),
            }]),
        ),
        line(
            SHOW_TIME - HOUR,
            88,
            hold(88, 9, &[19]),
            held(88, 9, &[19], SHOW_TIME - HOUR, PRICE_B),
        ),
        line(
            SHOW_TIME,
            89,
            cancel(69, 7),
            not_cancellable(Why::ShowStarted),
        ),
        line(
            SHOW_TIME,
            90,
            create_show(),
            rejected(Rejection::ShowAlreadyExists),
        ),
        // Replays far later still answer the first outcome (within the retention).
        line(
            SHOW_TIME,
            32,
            confirm(10, 1),
            confirmed(10, 1, &[0, 1], 2 * PRICE_A, T + 20),
        ),
        line(
            SHOW_TIME,
            22,
            release(15, 1),
            accepted(vec![Event::Released {
                hold_id: hold_id(15),
                seats: seats(&[3]),
            }]),
        ),
        line(
            SHOW_TIME,
            71,
            cancel(63, 4),
            cancelled(63, 4, &[11, 12], 2 * PRICE_B, 100),
        ),
        line(
            SHOW_TIME,
            41,
            Command::Expire,
            accepted(vec![Event::Expired {
                hold_id: hold_id(14),
                seats: seats(&[2]),
            }]),
        ),
    ]
}

/// Lines on a show that was never created.
fn empty_show_lines() -> Vec<Line> {
    let mut bad = layout();
    bad.sections[1].rows[0].seats.swap(0, 1);
    let mut no_seats = layout();
    no_seats.sections.clear();
    vec![
        line(T, 1, release(1, 1), rejected(Rejection::UnknownShow)),
        line(T, 2, hold(2, 1, &[0]), rejected(Rejection::UnknownShow)),
        line(T, 3, hold(3, 1, &[]), rejected(Rejection::NoSeats)),
        line(T, 4, Command::Expire, rejected(Rejection::UnknownShow)),
        line(
            T,
            5,
            Command::CreateShow {
                layout: bad,
                show_time: UnixMs(SHOW_TIME),
                sale_opens_at: None,
            },
            rejected(Rejection::InvalidLayout {
                detail: format!(
                    "seat {} at index 10 is not the show's derived seat id",
                    seat(11)
                ),
            }),
        ),
        line(
            T,
            6,
            Command::CreateShow {
                layout: no_seats,
                show_time: UnixMs(SHOW_TIME),
                sale_opens_at: None,
            },
            rejected(Rejection::InvalidLayout {
                detail: "the layout has no seats".into(),
            }),
        ),
        line(
            T,
            7,
            create_show(),
            accepted(vec![Event::ShowCreated { total_seats: SEATS }]),
        ),
        line(
            T,
            7,
            create_show(),
            accepted(vec![Event::ShowCreated { total_seats: SEATS }]),
        ),
    ]
}

/// Run lines in order, checking each outcome and the invariants after each step. Returns the
/// rejection variants seen.
fn run(state: &mut ShowState, lines: Vec<Line>) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::new();
    for (number, line) in lines.into_iter().enumerate() {
        let env = envelope_with(line.n, line.fp, line.command);
        let decision = state.decide(&env, UnixMs(line.at));
        assert_eq!(
            decision.outcome, line.expect,
            "line {number} (command {}) decided differently",
            line.n
        );
        if let Outcome::Rejected(rejection) = &decision.outcome {
            seen.insert(variant(rejection));
        }
        check_invariants(state);
    }
    seen
}

#[test]
fn every_line_decides_as_the_table_says() {
    let mut state = created();
    let mut seen = run(&mut state, story());
    let mut empty = ShowState::new(SHOW);
    for line in empty_show_lines() {
        let env = envelope_with(line.n, line.fp, line.command);
        let decision = empty.decide(&env, UnixMs(line.at));
        assert_eq!(
            decision.outcome, line.expect,
            "empty show, command {}",
            line.n
        );
        if let Outcome::Rejected(rejection) = &decision.outcome {
            seen.insert(variant(rejection));
        }
    }
    let all: BTreeSet<&str> = ALL_VARIANTS.iter().copied().collect();
    let missing: Vec<_> = all.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "rejections without a table line: {missing:?}"
    );
}

#[test]
fn lapsed_holds_are_swept_before_the_command_and_reported_apart() {
    let mut state = created();
    state.decide(&envelope(1, hold(1, 1, &[0, 1])), UnixMs(T));
    assert_eq!(state.next_expiry(), Some(UnixMs(T + TTL_MS as i64)));
    let at = UnixMs(T + TTL_MS as i64);
    let decision = state.decide(&envelope(2, hold(2, 2, &[1])), at);
    assert_eq!(decision.outcome, held(2, 2, &[1], at.0, PRICE_A));
    assert_eq!(
        decision.expired,
        vec![Event::Expired {
            hold_id: hold_id(1),
            seats: seats(&[0, 1])
        }]
    );
    let statuses: Vec<_> = decision
        .seat_changes
        .iter()
        .map(|c| (c.seat_id, c.status))
        .collect();
    use schemas::SeatStatus::*;
    assert_eq!(
        statuses,
        vec![(seat(0), Available), (seat(1), Available), (seat(1), Held)]
    );
    assert_eq!(state.available_seats(), SEATS - 1);
    assert_eq!(
        state.hold(hold_id(1)).unwrap().status,
        engine::HoldStatus::Expired
    );
}

#[test]
fn hold_status_reads_as_expired_once_due_even_before_a_sweep() {
    let mut state = created();
    state.decide(&envelope(1, hold(1, 1, &[0])), UnixMs(T));
    let view = state.hold(hold_id(1)).unwrap();
    assert_eq!(view.status_at(UnixMs(T)), engine::HoldStatus::Active);
    assert_eq!(
        view.status_at(UnixMs(T + TTL_MS as i64)),
        engine::HoldStatus::Expired
    );
}

#[test]
fn unknown_shows_and_reused_ids_are_not_remembered() {
    let mut empty = ShowState::new(SHOW);
    let decision = empty.decide(&envelope(1, release(1, 1)), UnixMs(T));
    assert_eq!(decision.origin, Origin::Unrecorded);
    assert!(empty.take_dirty().is_empty());
    let mut state = created();
    state.take_dirty();
    state.decide(&envelope(2, hold(2, 1, &[0])), UnixMs(T));
    state.take_dirty();
    let reused = state.decide(&envelope_with(2, 0x77, hold(2, 1, &[1])), UnixMs(T));
    assert_eq!(reused.origin, Origin::Unrecorded);
    assert!(state.take_dirty().is_empty());
    let replay = state.decide(&envelope(2, hold(2, 1, &[0])), UnixMs(T));
    assert_eq!(replay.origin, Origin::Replayed);
}

#[test]
fn outcomes_are_forgotten_after_the_retention_and_their_rows_deleted() {
    let mut state = created();
    state.decide(&envelope(1, hold(1, 1, &[0])), UnixMs(T));
    state.take_dirty();
    let later = T + engine::OUTCOME_RETENTION_MS;
    let decision = state.decide(&envelope(2, Command::Expire), UnixMs(later - 1));
    assert_eq!(decision.origin, Origin::Decided);
    assert!(
        state
            .decide(&envelope(1, hold(1, 1, &[0])), UnixMs(later - 1))
            .origin
            == Origin::Replayed
    );
    state.take_dirty();
    // At the retention the record goes, and a new command may use the id again.
    let decision = state.decide(&envelope(1, hold(9, 1, &[0])), UnixMs(later));
    assert_eq!(decision.origin, Origin::Decided);
    let changes = state.take_dirty();
    assert!(changes.iter().any(|c| matches!(c, engine::RowChange::Put(engine::StateRow::Outcome { command_id, .. }) if *command_id == envelope(1, Command::Expire).command_id)));
    let decision = state.decide(
        &envelope(3, Command::Expire),
        UnixMs(later + engine::OUTCOME_RETENTION_MS - 1),
    );
    assert_eq!(decision.origin, Origin::Decided);
    let changes = state.take_dirty();
    let deleted: Vec<_> = changes
        .iter()
        .filter(|c| matches!(c, engine::RowChange::Delete(_)))
        .collect();
    assert_eq!(
        deleted.len(),
        1,
        "command 0 (CreateShow) and 2 expire; 1 was replaced: {changes:?}"
    );
}

#[test]
fn ticket_ids_are_stable_and_distinct() {
    let a = ticket_id(BookingId(Uuid::from_u128(1)), seat(0));
    assert_eq!(a, ticket_id(BookingId(Uuid::from_u128(1)), seat(0)));
    assert_ne!(a, ticket_id(BookingId(Uuid::from_u128(1)), seat(1)));
    assert_ne!(a, ticket_id(BookingId(Uuid::from_u128(2)), seat(0)));
    assert_eq!(a.0.get_version_num(), 5);
}

#[test]
fn views_report_sections_prices_and_tickets() {
    let mut state = created();
    assert_eq!(state.price_of(9), Some(PRICE_A));
    assert_eq!(state.price_of(10), Some(PRICE_B));
    assert_eq!(
        state.section_of(19).map(|s| s.section_id.as_str()),
        Some("B")
    );
    assert_eq!(state.section_index_of(3), Some(0));
    assert_eq!(state.price_of(SEATS), None);
    assert_eq!(state.seat_index(seat(7)), Some(7));
    assert_eq!(state.seat_id(7), Some(seat(7)));
    assert_eq!(state.currency(), Some("EUR"));
    assert_eq!(state.sale_opens_at(), Some(UnixMs(SALE_OPENS)));
    assert_eq!(state.show_time(), Some(UnixMs(SHOW_TIME)));
    state.decide(&envelope(1, hold(1, 1, &[3, 12])), UnixMs(T));
    state.decide(&envelope(2, confirm(1, 1)), UnixMs(T + 1));
    state.decide(&envelope(3, check_in(1, 12, "North")), UnixMs(SHOW_TIME));
    let booking = state.booking(booking_id(1)).unwrap();
    assert_eq!(booking.status, engine::BookingStatus::Confirmed);
    assert_eq!(booking.hold_id, hold_id(1));
    assert_eq!(booking.payment_ref, "auth_1");
    assert_eq!(booking.booked_at, UnixMs(T + 1));
    assert_eq!(booking.tickets[0].status, engine::TicketStatus::Valid);
    assert_eq!(
        booking.tickets[1].status,
        engine::TicketStatus::CheckedIn {
            at: UnixMs(SHOW_TIME),
            gate: Some("North".into())
        }
    );
    let hold = state.hold(hold_id(1)).unwrap();
    assert_eq!(hold.booking_id, Some(booking_id(1)));
    assert_eq!(hold.total_minor, PRICE_A + PRICE_B);
    assert!(state.hold(HoldId(Uuid::nil())).is_none());
    let statuses: Vec<_> = state
        .seat_statuses()
        .filter(|(_, s)| *s != schemas::SeatStatus::Available)
        .collect();
    assert_eq!(
        statuses,
        vec![
            (seat(3), schemas::SeatStatus::Booked),
            (seat(12), schemas::SeatStatus::Booked)
        ]
    );
}

/// Every `Rejection` variant by name; `variant` below is exhaustive, so a new variant does not
/// compile until it is added here and given a table line.
const ALL_VARIANTS: &[&str] = &[
    "UnknownShow",
    "ShowAlreadyExists",
    "InvalidLayout",
    "NoSeats",
    "DuplicateSeats",
    "TooManySeats",
    "UnknownSeats",
    "SaleNotOpen",
    "ShowStarted",
    "TicketLimitExceeded",
    "HoldLimitExceeded",
    "SeatsUnavailable",
    "HoldNotFound",
    "NotHoldOwner",
    "HoldExpired",
    "HoldReleased",
    "HoldAlreadyConfirmed",
    "BookingNotFound",
    "NotBookingOwner",
    "BookingNotCancellable",
    "TicketNotFound",
    "AlreadyCheckedIn",
    "TicketCancelled",
    "SeatsNotBlockable",
    "CommandIdReused",
];

fn variant(rejection: &Rejection) -> &'static str {
    match rejection {
        Rejection::UnknownShow => "UnknownShow",
        Rejection::ShowAlreadyExists => "ShowAlreadyExists",
        Rejection::InvalidLayout { .. } => "InvalidLayout",
        Rejection::NoSeats => "NoSeats",
        Rejection::DuplicateSeats { .. } => "DuplicateSeats",
        Rejection::TooManySeats { .. } => "TooManySeats",
        Rejection::UnknownSeats { .. } => "UnknownSeats",
        Rejection::SaleNotOpen { .. } => "SaleNotOpen",
        Rejection::ShowStarted => "ShowStarted",
        Rejection::TicketLimitExceeded { .. } => "TicketLimitExceeded",
        Rejection::HoldLimitExceeded { .. } => "HoldLimitExceeded",
        Rejection::SeatsUnavailable { .. } => "SeatsUnavailable",
        Rejection::HoldNotFound => "HoldNotFound",
        Rejection::NotHoldOwner => "NotHoldOwner",
        Rejection::HoldExpired => "HoldExpired",
        Rejection::HoldReleased => "HoldReleased",
        Rejection::HoldAlreadyConfirmed { .. } => "HoldAlreadyConfirmed",
        Rejection::BookingNotFound => "BookingNotFound",
        Rejection::NotBookingOwner => "NotBookingOwner",
        Rejection::BookingNotCancellable { .. } => "BookingNotCancellable",
        Rejection::TicketNotFound => "TicketNotFound",
        Rejection::AlreadyCheckedIn { .. } => "AlreadyCheckedIn",
        Rejection::TicketCancelled => "TicketCancelled",
        Rejection::SeatsNotBlockable { .. } => "SeatsNotBlockable",
        Rejection::CommandIdReused => "CommandIdReused",
    }
}

#[test]
fn only_blocking_writes_seat_rows_and_restore_reads_only_blocks() {
    use engine::{RowChange, SeatRow, StateRow};
    let kinds = |changes: &[RowChange]| {
        let mut kinds: Vec<_> = changes.iter().map(|c| c.key().kind()).collect();
        kinds.sort();
        kinds
    };
    let mut state = created();
    state.take_dirty();
    state.decide(&envelope(1, hold(1, 1, &[0, 1, 2])), UnixMs(T));
    state.decide(&envelope(2, confirm(1, 1)), UnixMs(T + 1));
    let changes = state.take_dirty();
    use engine::RowKind::*;
    assert_eq!(kinds(&changes), vec![Hold, Booking, Outcome, Outcome]);
    state.decide(
        &envelope(3, Command::Block { seats: seats(&[5]) }),
        UnixMs(T + 2),
    );
    assert_eq!(kinds(&state.take_dirty()), vec![Seat, Outcome]);
    // Seat rows other than blocks (an unblocked seat's, or stale ones) do not change a restore.
    let mut rows = state.snapshot();
    rows.push(StateRow::Seat {
        seat_id: seat(7),
        body: SeatRow {
            status: schemas::SeatStatus::Held,
        },
    });
    rows.push(StateRow::Seat {
        seat_id: seat(8),
        body: SeatRow {
            status: schemas::SeatStatus::Available,
        },
    });
    let restored = ShowState::restore(SHOW, rows).expect("restore");
    assert_eq!(restored.snapshot(), state.snapshot());
    assert_eq!(restored.seat_status(0), Some(schemas::SeatStatus::Booked));
    assert_eq!(restored.seat_status(5), Some(schemas::SeatStatus::Blocked));
    assert_eq!(
        restored.seat_status(7),
        Some(schemas::SeatStatus::Available)
    );
    // A blocked row on a seat a hold claims is a contradiction.
    let mut rows = state.snapshot();
    rows.push(StateRow::Seat {
        seat_id: seat(0),
        body: SeatRow {
            status: schemas::SeatStatus::Blocked,
        },
    });
    assert!(ShowState::restore(SHOW, rows).is_err());
}
