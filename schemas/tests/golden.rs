//! Golden bytes: the MessagePack encoding of every wire message, pinned. A message written today
//! must decode to the same value after any future change, so each case checks both directions:
//! `encode(value) == bytes` and `decode(bytes) == value`. When a case is missing from `GOLDEN`,
//! the test fails and prints the line to add (that is how new cases are pinned, deliberately).

use std::fmt::Debug;

use schemas::{
    BatchedCommand, BookingId, Command, CommandBatch, CommandEnvelope, CommandId, Event,
    Fingerprint, HoldId, HoldLimits, NotCancellableReason, Outcome, Rejection, Reply, RowLayout,
    SCHEMA_VERSION, SeatChange, SeatDelta, SeatId, SeatLayout, SeatStatus, SectionLayout,
    ShowEvent, ShowFacts, ShowId, ShowLayout, TicketId, UnixMs, UserId,
};
use serde::{Serialize, de::DeserializeOwned};
use uuid::Uuid;

const SHOW: ShowId = ShowId(Uuid::from_u128(0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f));
const HOLD: HoldId = HoldId(Uuid::from_u128(0x1111_1111_1111_4111_8111_1111_1111_1111));
const BOOKING: BookingId = BookingId(Uuid::from_u128(0x2222_2222_2222_4222_8222_2222_2222_2222));
const USER: UserId = UserId(Uuid::from_u128(0x3333_3333_3333_4333_8333_3333_3333_3333));
const TICKET: TicketId = TicketId(Uuid::from_u128(0x4444_4444_4444_5444_8444_4444_4444_4444));
const COMMAND: CommandId = CommandId(Uuid::from_u128(0x5555_5555_5555_4555_8555_5555_5555_5555));
const AT: UnixMs = UnixMs(1_800_000_000_123);

fn seat(index: u32) -> SeatId {
    SeatId::derive(SHOW, index)
}

fn layout() -> ShowLayout {
    ShowLayout {
        currency: "EUR".into(),
        sections: vec![SectionLayout {
            section_id: "A".into(),
            name: "Stalls".into(),
            price_category: "premium".into(),
            price_minor: 4_500,
            rows: vec![RowLayout {
                row: "R1".into(),
                seats: vec![
                    SeatLayout {
                        seat_id: seat(0),
                        number: 1,
                        x: 0,
                        y: 0,
                    },
                    SeatLayout {
                        seat_id: seat(1),
                        number: 2,
                        x: 10,
                        y: -5,
                    },
                ],
            }],
        }],
    }
}

fn envelope(command: Command) -> CommandEnvelope {
    CommandEnvelope {
        schema: SCHEMA_VERSION,
        command_id: COMMAND,
        fingerprint: Fingerprint([0xab; 16]),
        show_id: SHOW,
        issued_at: AT,
        command,
    }
}

fn commands() -> Vec<(&'static str, CommandEnvelope)> {
    vec![
        (
            "command/create_show",
            envelope(Command::CreateShow {
                layout: layout(),
                show_time: UnixMs(AT.0 + 86_400_000),
                sale_opens_at: Some(AT),
            }),
        ),
        (
            "command/hold",
            envelope(Command::Hold {
                hold_id: HOLD,
                user: USER,
                seats: vec![seat(0), seat(1)],
                ttl_ms: 600_000,
                limits: HoldLimits {
                    max_seats_per_hold: 10,
                    max_tickets_per_user: 6,
                    max_holds_per_user: 3,
                },
            }),
        ),
        (
            "command/release",
            envelope(Command::Release {
                hold_id: HOLD,
                user: USER,
            }),
        ),
        ("command/expire", envelope(Command::Expire)),
        (
            "command/confirm",
            envelope(Command::Confirm {
                hold_id: HOLD,
                user: USER,
                booking_id: BOOKING,
                payment_ref: "pi_123".into(),
            }),
        ),
        (
            "command/cancel",
            envelope(Command::Cancel {
                booking_id: BOOKING,
                user: USER,
                reason: Some("ill".into()),
            }),
        ),
        (
            "command/check_in",
            envelope(Command::CheckIn {
                ticket_id: TICKET,
                booking_id: BOOKING,
                seat_id: seat(1),
                gate: Some("North".into()),
            }),
        ),
        (
            "command/block",
            envelope(Command::Block {
                seats: vec![seat(1)],
            }),
        ),
        (
            "command/unblock",
            envelope(Command::Unblock {
                seats: vec![seat(0)],
            }),
        ),
    ]
}

fn events() -> Vec<(&'static str, Event)> {
    vec![
        ("event/show_created", Event::ShowCreated { total_seats: 2 }),
        (
            "event/held",
            Event::Held {
                hold_id: HOLD,
                user: USER,
                seats: vec![seat(0)],
                expires_at: AT,
                total_minor: 4_500,
            },
        ),
        (
            "event/released",
            Event::Released {
                hold_id: HOLD,
                seats: vec![seat(0)],
            },
        ),
        (
            "event/expired",
            Event::Expired {
                hold_id: HOLD,
                seats: vec![seat(1)],
            },
        ),
        (
            "event/confirmed",
            Event::Confirmed {
                booking_id: BOOKING,
                hold_id: HOLD,
                user: USER,
                seats: vec![seat(0), seat(1)],
                total_minor: 9_000,
                payment_ref: "pi_123".into(),
                booked_at: AT,
            },
        ),
        (
            "event/cancelled",
            Event::Cancelled {
                booking_id: BOOKING,
                user: USER,
                seats: vec![seat(0)],
                refund_minor: 2_250,
                refund_percent: 50,
                payment_ref: "pi_123".into(),
            },
        ),
        (
            "event/checked_in",
            Event::CheckedIn {
                ticket_id: TICKET,
                booking_id: BOOKING,
                seat_id: seat(0),
                gate: None,
                at: AT,
            },
        ),
        (
            "event/blocked",
            Event::Blocked {
                seats: vec![seat(1)],
            },
        ),
        ("event/unblocked", Event::Unblocked { seats: vec![] }),
    ]
}

fn rejections() -> Vec<(&'static str, Rejection)> {
    vec![
        ("rejection/unknown_show", Rejection::UnknownShow),
        (
            "rejection/show_already_exists",
            Rejection::ShowAlreadyExists,
        ),
        (
            "rejection/invalid_layout",
            Rejection::InvalidLayout {
                detail: "no seats".into(),
            },
        ),
        ("rejection/no_seats", Rejection::NoSeats),
        (
            "rejection/duplicate_seats",
            Rejection::DuplicateSeats {
                seat_ids: vec![seat(0)],
            },
        ),
        (
            "rejection/too_many_seats",
            Rejection::TooManySeats { max: 10 },
        ),
        (
            "rejection/unknown_seats",
            Rejection::UnknownSeats {
                seat_ids: vec![seat(7)],
            },
        ),
        (
            "rejection/sale_not_open",
            Rejection::SaleNotOpen { opens_at: AT },
        ),
        ("rejection/show_started", Rejection::ShowStarted),
        (
            "rejection/ticket_limit_exceeded",
            Rejection::TicketLimitExceeded { limit: 6 },
        ),
        (
            "rejection/hold_limit_exceeded",
            Rejection::HoldLimitExceeded { limit: 3 },
        ),
        (
            "rejection/seats_unavailable",
            Rejection::SeatsUnavailable {
                seat_ids: vec![seat(1), seat(0)],
            },
        ),
        ("rejection/hold_not_found", Rejection::HoldNotFound),
        ("rejection/not_hold_owner", Rejection::NotHoldOwner),
        ("rejection/hold_expired", Rejection::HoldExpired),
        ("rejection/hold_released", Rejection::HoldReleased),
        (
            "rejection/hold_already_confirmed",
            Rejection::HoldAlreadyConfirmed {
                booking_id: BOOKING,
            },
        ),
        ("rejection/booking_not_found", Rejection::BookingNotFound),
        ("rejection/not_booking_owner", Rejection::NotBookingOwner),
        (
            "rejection/not_cancellable_cancelled",
            Rejection::BookingNotCancellable {
                reason: NotCancellableReason::AlreadyCancelled,
            },
        ),
        (
            "rejection/not_cancellable_checked_in",
            Rejection::BookingNotCancellable {
                reason: NotCancellableReason::CheckedIn,
            },
        ),
        (
            "rejection/not_cancellable_started",
            Rejection::BookingNotCancellable {
                reason: NotCancellableReason::ShowStarted,
            },
        ),
        ("rejection/ticket_not_found", Rejection::TicketNotFound),
        (
            "rejection/already_checked_in",
            Rejection::AlreadyCheckedIn {
                at: AT,
                gate: Some("G2".into()),
            },
        ),
        ("rejection/ticket_cancelled", Rejection::TicketCancelled),
        (
            "rejection/seats_not_blockable",
            Rejection::SeatsNotBlockable {
                seat_ids: vec![seat(0)],
            },
        ),
        ("rejection/command_id_reused", Rejection::CommandIdReused),
    ]
}

fn reply(outcome: Outcome) -> Reply {
    Reply {
        schema: SCHEMA_VERSION,
        command_id: COMMAND,
        show_id: SHOW,
        version: 42,
        outcome,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("pinned hex"))
        .collect()
}

/// Compares against the pinned bytes; collects the lines of unpinned cases into `missing`.
fn check<T>(name: &str, value: &T, missing: &mut Vec<String>)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let bytes = schemas::encode(value).expect("encode");
    let actual = to_hex(&bytes);
    let Some((_, pinned)) = GOLDEN.iter().find(|(case, _)| *case == name) else {
        missing.push(format!("    (\"{name}\", \"{actual}\"),"));
        return;
    };
    assert_eq!(&actual, pinned, "{name}: the encoding changed");
    let pinned_bytes = from_hex(pinned);
    let decoded: T = schemas::decode(&pinned_bytes).expect("pinned bytes decode");
    assert_eq!(
        &decoded, value,
        "{name}: pinned bytes decode to another value"
    );
}

#[test]
fn every_message_encodes_to_its_pinned_bytes_and_back() {
    assert_eq!(
        SCHEMA_VERSION, 1,
        "a new schema version needs its own golden cases"
    );
    let mut missing = Vec::new();
    for (name, value) in commands() {
        check(name, &value, &mut missing);
    }
    for (name, event) in events() {
        check(
            &format!("reply/accepted/{name}"),
            &reply(Outcome::Accepted(vec![event.clone()])),
            &mut missing,
        );
        let show_event = ShowEvent {
            schema: SCHEMA_VERSION,
            show_id: SHOW,
            version: 7,
            at: AT,
            event,
        };
        check(&format!("show_event/{name}"), &show_event, &mut missing);
    }
    for (name, rejection) in rejections() {
        check(
            &format!("reply/rejected/{name}"),
            &reply(Outcome::Rejected(rejection)),
            &mut missing,
        );
    }
    let delta = SeatDelta {
        schema: SCHEMA_VERSION,
        show_id: SHOW,
        from_version: 41,
        version: 42,
        changes: vec![
            SeatChange {
                seat_id: seat(0),
                status: SeatStatus::Available,
            },
            SeatChange {
                seat_id: seat(1),
                status: SeatStatus::Held,
            },
            SeatChange {
                seat_id: seat(2),
                status: SeatStatus::Booked,
            },
            SeatChange {
                seat_id: seat(3),
                status: SeatStatus::Blocked,
            },
        ],
        at: AT,
    };
    check("seat_delta", &delta, &mut missing);
    check("show_facts", &show_facts(), &mut missing);
    let batch = CommandBatch {
        schema: SCHEMA_VERSION,
        commands: vec![
            BatchedCommand {
                envelope: envelope(Command::Release {
                    hold_id: HOLD,
                    user: USER,
                }),
                reply_to: Some("_INBOX.abc.7".into()),
            },
            BatchedCommand {
                envelope: envelope(Command::Expire),
                reply_to: None,
            },
        ],
    };
    check("command_batch", &batch, &mut missing);
    check(
        "reply/accepted/none",
        &reply(Outcome::Accepted(vec![])),
        &mut missing,
    );
    assert!(
        missing.is_empty(),
        "unpinned cases; add to GOLDEN:\n{}",
        missing.join("\n")
    );
    assert_eq!(
        GOLDEN.len(),
        9 + 2 * 9 + 27 + 4,
        "every pinned case is still checked"
    );
}

fn show_facts() -> ShowFacts {
    let fact = |version, event| ShowEvent {
        schema: SCHEMA_VERSION,
        show_id: SHOW,
        version,
        at: AT,
        event,
    };
    let mut events = events().into_iter().map(|(_, event)| event);
    ShowFacts {
        schema: SCHEMA_VERSION,
        show_id: SHOW,
        facts: vec![
            fact(7, events.next().expect("an event")),
            fact(8, events.next().expect("two events")),
        ],
    }
}

#[test]
fn a_booking_stream_message_is_read_in_both_forms() {
    let batch = show_facts();
    let bytes = schemas::encode(&batch).unwrap();
    assert_eq!(ShowFacts::decode_message(&bytes).unwrap(), batch.facts);
    // A single fact, as the stream stored them before they were batched.
    let single = schemas::encode(&batch.facts[1]).unwrap();
    assert_eq!(
        ShowFacts::decode_message(&single).unwrap(),
        vec![batch.facts[1].clone()]
    );
    assert!(ShowFacts::decode_message(&[0xc1, 0x00]).is_err());
}

#[test]
fn seat_ids_are_pinned_too() {
    // Seat ids are derived, not random: the derivation is part of the stored format.
    assert_eq!(seat(0).to_string(), SEAT0);
    assert_eq!(seat(49_999).0.as_bytes()[12..], 49_999u32.to_be_bytes());
}

const SEAT0: &str = "8d487514-a60e-8fd4-b681-8ebb00000000";

/// Pinned encodings (hex), by case name.
const GOLDEN: &[(&str, &str)] = &[
    (
        "command_batch",
        "920192929601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a752656c6561736592c41011111111111141118111111111111111c41033333333333343338333333333333333ac5f494e424f582e6162632e37929601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507ba6457870697265c0",
    ),
    (
        "show_facts",
        "9301c410000102030405060708090a0b0c0d0e0f929501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81ab53686f774372656174656491029501c410000102030405060708090a0b0c0d0e0f08cf000001a3185c507b81a448656c6495c41011111111111141118111111111111111c4103333333333334333833333333333333391c4108d487514a60e8fd4b6818ebb00000000cf000001a3185c507bcd1194",
    ),
    (
        "command/create_show",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81aa43726561746553686f779392a34555529195a141a65374616c6c73a77072656d69756dcd11949192a252319294c4108d487514a60e8fd4b6818ebb0000000001000094c4108d487514a60e8fd4b6818ebb00000001020afbcf000001a31d82ac7bcf000001a3185c507b",
    ),
    (
        "command/hold",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a4486f6c6495c41011111111111141118111111111111111c4103333333333334333833333333333333392c4108d487514a60e8fd4b6818ebb00000000c4108d487514a60e8fd4b6818ebb00000001ce000927c0930a0603",
    ),
    (
        "command/release",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a752656c6561736592c41011111111111141118111111111111111c41033333333333343338333333333333333",
    ),
    (
        "command/expire",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507ba6457870697265",
    ),
    (
        "command/confirm",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a7436f6e6669726d94c41011111111111141118111111111111111c41033333333333343338333333333333333c41022222222222242228222222222222222a670695f313233",
    ),
    (
        "command/cancel",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a643616e63656c93c41022222222222242228222222222222222c41033333333333343338333333333333333a3696c6c",
    ),
    (
        "command/check_in",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a7436865636b496e94c41044444444444454448444444444444444c41022222222222242228222222222222222c4108d487514a60e8fd4b6818ebb00000001a54e6f727468",
    ),
    (
        "command/block",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a5426c6f636b9191c4108d487514a60e8fd4b6818ebb00000001",
    ),
    (
        "command/unblock",
        "9601c41055555555555545558555555555555555dc0010ccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabccabc410000102030405060708090a0b0c0d0e0fcf000001a3185c507b81a7556e626c6f636b9191c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "reply/accepted/event/show_created",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181ab53686f77437265617465649102",
    ),
    (
        "show_event/event/show_created",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81ab53686f77437265617465649102",
    ),
    (
        "reply/accepted/event/held",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a448656c6495c41011111111111141118111111111111111c4103333333333334333833333333333333391c4108d487514a60e8fd4b6818ebb00000000cf000001a3185c507bcd1194",
    ),
    (
        "show_event/event/held",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a448656c6495c41011111111111141118111111111111111c4103333333333334333833333333333333391c4108d487514a60e8fd4b6818ebb00000000cf000001a3185c507bcd1194",
    ),
    (
        "reply/accepted/event/released",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a852656c656173656492c4101111111111114111811111111111111191c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "show_event/event/released",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a852656c656173656492c4101111111111114111811111111111111191c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "reply/accepted/event/expired",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a74578706972656492c4101111111111114111811111111111111191c4108d487514a60e8fd4b6818ebb00000001",
    ),
    (
        "show_event/event/expired",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a74578706972656492c4101111111111114111811111111111111191c4108d487514a60e8fd4b6818ebb00000001",
    ),
    (
        "reply/accepted/event/confirmed",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a9436f6e6669726d656497c41022222222222242228222222222222222c41011111111111141118111111111111111c4103333333333334333833333333333333392c4108d487514a60e8fd4b6818ebb00000000c4108d487514a60e8fd4b6818ebb00000001cd2328a670695f313233cf000001a3185c507b",
    ),
    (
        "show_event/event/confirmed",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a9436f6e6669726d656497c41022222222222242228222222222222222c41011111111111141118111111111111111c4103333333333334333833333333333333392c4108d487514a60e8fd4b6818ebb00000000c4108d487514a60e8fd4b6818ebb00000001cd2328a670695f313233cf000001a3185c507b",
    ),
    (
        "reply/accepted/event/cancelled",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a943616e63656c6c656496c41022222222222242228222222222222222c4103333333333334333833333333333333391c4108d487514a60e8fd4b6818ebb00000000cd08ca32a670695f313233",
    ),
    (
        "show_event/event/cancelled",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a943616e63656c6c656496c41022222222222242228222222222222222c4103333333333334333833333333333333391c4108d487514a60e8fd4b6818ebb00000000cd08ca32a670695f313233",
    ),
    (
        "reply/accepted/event/checked_in",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a9436865636b6564496e95c41044444444444454448444444444444444c41022222222222242228222222222222222c4108d487514a60e8fd4b6818ebb00000000c0cf000001a3185c507b",
    ),
    (
        "show_event/event/checked_in",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a9436865636b6564496e95c41044444444444454448444444444444444c41022222222222242228222222222222222c4108d487514a60e8fd4b6818ebb00000000c0cf000001a3185c507b",
    ),
    (
        "reply/accepted/event/blocked",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a7426c6f636b65649191c4108d487514a60e8fd4b6818ebb00000001",
    ),
    (
        "show_event/event/blocked",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a7426c6f636b65649191c4108d487514a60e8fd4b6818ebb00000001",
    ),
    (
        "reply/accepted/event/unblocked",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a841636365707465649181a9556e626c6f636b65649190",
    ),
    (
        "show_event/event/unblocked",
        "9501c410000102030405060708090a0b0c0d0e0f07cf000001a3185c507b81a9556e626c6f636b65649190",
    ),
    (
        "reply/rejected/rejection/unknown_show",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ab556e6b6e6f776e53686f77",
    ),
    (
        "reply/rejected/rejection/show_already_exists",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564b153686f77416c7265616479457869737473",
    ),
    (
        "reply/rejected/rejection/invalid_layout",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481ad496e76616c69644c61796f757491a86e6f207365617473",
    ),
    (
        "reply/rejected/rejection/no_seats",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564a74e6f5365617473",
    ),
    (
        "reply/rejected/rejection/duplicate_seats",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481ae4475706c696361746553656174739191c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "reply/rejected/rejection/too_many_seats",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481ac546f6f4d616e795365617473910a",
    ),
    (
        "reply/rejected/rejection/unknown_seats",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481ac556e6b6e6f776e53656174739191c4108d487514a60e8fd4b6818ebb00000007",
    ),
    (
        "reply/rejected/rejection/sale_not_open",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481ab53616c654e6f744f70656e91cf000001a3185c507b",
    ),
    (
        "reply/rejected/rejection/show_started",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ab53686f7753746172746564",
    ),
    (
        "reply/rejected/rejection/ticket_limit_exceeded",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b35469636b65744c696d697445786365656465649106",
    ),
    (
        "reply/rejected/rejection/hold_limit_exceeded",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b1486f6c644c696d697445786365656465649103",
    ),
    (
        "reply/rejected/rejection/seats_unavailable",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b05365617473556e617661696c61626c659192c4108d487514a60e8fd4b6818ebb00000001c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "reply/rejected/rejection/hold_not_found",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ac486f6c644e6f74466f756e64",
    ),
    (
        "reply/rejected/rejection/not_hold_owner",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ac4e6f74486f6c644f776e6572",
    ),
    (
        "reply/rejected/rejection/hold_expired",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ab486f6c6445787069726564",
    ),
    (
        "reply/rejected/rejection/hold_released",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ac486f6c6452656c6561736564",
    ),
    (
        "reply/rejected/rejection/hold_already_confirmed",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b4486f6c64416c7265616479436f6e6669726d656491c41022222222222242228222222222222222",
    ),
    (
        "reply/rejected/rejection/booking_not_found",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564af426f6f6b696e674e6f74466f756e64",
    ),
    (
        "reply/rejected/rejection/not_booking_owner",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564af4e6f74426f6f6b696e674f776e6572",
    ),
    (
        "reply/rejected/rejection/not_cancellable_cancelled",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b5426f6f6b696e674e6f7443616e63656c6c61626c6591b0416c726561647943616e63656c6c6564",
    ),
    (
        "reply/rejected/rejection/not_cancellable_checked_in",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b5426f6f6b696e674e6f7443616e63656c6c61626c6591a9436865636b6564496e",
    ),
    (
        "reply/rejected/rejection/not_cancellable_started",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b5426f6f6b696e674e6f7443616e63656c6c61626c6591ab53686f7753746172746564",
    ),
    (
        "reply/rejected/rejection/ticket_not_found",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564ae5469636b65744e6f74466f756e64",
    ),
    (
        "reply/rejected/rejection/already_checked_in",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b0416c7265616479436865636b6564496e92cf000001a3185c507ba24732",
    ),
    (
        "reply/rejected/rejection/ticket_cancelled",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564af5469636b657443616e63656c6c6564",
    ),
    (
        "reply/rejected/rejection/seats_not_blockable",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a656374656481b153656174734e6f74426c6f636b61626c659191c4108d487514a60e8fd4b6818ebb00000000",
    ),
    (
        "reply/rejected/rejection/command_id_reused",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a852656a6563746564af436f6d6d616e644964526575736564",
    ),
    (
        "seat_delta",
        "9601c410000102030405060708090a0b0c0d0e0f292a9492c4108d487514a60e8fd4b6818ebb00000000a9417661696c61626c6592c4108d487514a60e8fd4b6818ebb00000001a448656c6492c4108d487514a60e8fd4b6818ebb00000002a6426f6f6b656492c4108d487514a60e8fd4b6818ebb00000003a7426c6f636b6564cf000001a3185c507b",
    ),
    (
        "reply/accepted/none",
        "9501c41055555555555545558555555555555555c410000102030405060708090a0b0c0d0e0f2a81a8416363657074656490",
    ),
];
