//! Golden bytes of the stored row bodies: rows written today must restore after any future
//! change. Each case checks `encode(body) == bytes` and `decode(bytes) == body` through
//! `StateRow::encode_body` / `StateRow::decode`, with the row kinds' stored codes pinned too.

use engine::{
    BookingRow, CancellationRow, CheckInRow, HoldRow, HoldStatus, MetaRow, OutcomeRow, RowKey,
    RowKind, SeatRow, SectionRow, StateRow, StoredOutcome,
};
use schemas::{
    BookingId, CommandId, Event, Fingerprint, HoldId, Outcome, Rejection, SeatId, SeatStatus,
    ShowId, UnixMs, UserId,
};
use uuid::Uuid;

const SHOW: ShowId = ShowId(Uuid::from_u128(0x0001_0203_0405_0607_0809_0a0b_0c0d_0e0f));
const HOLD: HoldId = HoldId(Uuid::from_u128(0x1111_1111_1111_4111_8111_1111_1111_1111));
const BOOKING: BookingId = BookingId(Uuid::from_u128(0x2222_2222_2222_4222_8222_2222_2222_2222));
const USER: UserId = UserId(Uuid::from_u128(0x3333_3333_3333_4333_8333_3333_3333_3333));
const COMMAND: CommandId = CommandId(Uuid::from_u128(0x5555_5555_5555_4555_8555_5555_5555_5555));
const AT: UnixMs = UnixMs(1_800_000_000_123);

fn rows() -> Vec<(&'static str, StateRow)> {
    let outcome = |name, outcome| {
        (
            name,
            StateRow::Outcome {
                command_id: COMMAND,
                body: OutcomeRow {
                    fingerprint: Fingerprint([7; 16]),
                    at: AT,
                    outcome,
                },
            },
        )
    };
    vec![
        (
            "meta",
            StateRow::Meta(MetaRow {
                show_time: UnixMs(AT.0 + 86_400_000),
                sale_opens_at: Some(AT),
                currency: "EUR".into(),
                sections: vec![SectionRow {
                    section_id: "A".into(),
                    name: "Stalls".into(),
                    price_minor: 4_500,
                    seat_count: 2,
                }],
            }),
        ),
        (
            "seat",
            StateRow::Seat {
                seat_id: SeatId::derive(SHOW, 1),
                body: SeatRow {
                    status: SeatStatus::Blocked,
                },
            },
        ),
        (
            "hold",
            StateRow::Hold {
                hold_id: HOLD,
                body: HoldRow {
                    user: USER,
                    seats: vec![0, 1],
                    expires_at: AT,
                    total_minor: 9_000,
                    status: HoldStatus::Confirmed,
                    booking_id: Some(BOOKING),
                },
            },
        ),
        (
            "booking",
            StateRow::Booking {
                booking_id: BOOKING,
                body: BookingRow {
                    hold_id: HOLD,
                    booked_at: AT,
                    payment_ref: "pi_123".into(),
                    cancellation: Some(CancellationRow {
                        at: AT,
                        refund_minor: 4_500,
                        refund_percent: 50,
                    }),
                    check_ins: vec![CheckInRow {
                        seat: 1,
                        at: AT,
                        gate: Some("North".into()),
                    }],
                },
            },
        ),
        outcome("outcome/held", StoredOutcome::Held(HOLD)),
        outcome("outcome/confirmed", StoredOutcome::Confirmed(BOOKING)),
        outcome("outcome/released", StoredOutcome::Released(HOLD)),
        outcome("outcome/cancelled", StoredOutcome::Cancelled(BOOKING)),
        outcome("outcome/expired", StoredOutcome::Expired(vec![HOLD])),
        outcome(
            "outcome/full_accepted",
            StoredOutcome::Full(Outcome::Accepted(vec![Event::ShowCreated {
                total_seats: 2,
            }])),
        ),
        outcome(
            "outcome/full_rejected",
            StoredOutcome::Full(Outcome::Rejected(Rejection::HoldLimitExceeded { limit: 3 })),
        ),
    ]
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

#[test]
fn row_kinds_keep_their_codes() {
    let kinds = [
        RowKind::Seat,
        RowKind::Hold,
        RowKind::Booking,
        RowKind::Outcome,
        RowKind::Meta,
    ];
    let codes: Vec<i8> = kinds.iter().map(|kind| kind.code()).collect();
    assert_eq!(codes, vec![0, 1, 2, 3, 4]);
    for kind in kinds {
        assert_eq!(RowKind::from_code(kind.code()), Some(kind));
    }
    assert_eq!(RowKind::from_code(5), None);
    assert_eq!(RowKey::Meta.id(), Uuid::nil());
}

#[test]
fn every_row_body_encodes_to_its_pinned_bytes_and_back() {
    let mut missing = Vec::new();
    for (name, row) in rows() {
        let actual = to_hex(&row.encode_body().expect("encode"));
        let Some((_, pinned)) = GOLDEN.iter().find(|(case, _)| *case == name) else {
            missing.push(format!("    (\"{name}\", \"{actual}\"),"));
            continue;
        };
        assert_eq!(&actual, pinned, "{name}: the stored encoding changed");
        let key = row.key();
        let decoded = StateRow::decode(key.kind().code(), key.id(), &from_hex(pinned))
            .expect("pinned bytes decode");
        assert_eq!(decoded, row, "{name}: pinned bytes decode to another row");
    }
    assert!(
        missing.is_empty(),
        "unpinned rows; add to GOLDEN:\n{}",
        missing.join("\n")
    );
    assert_eq!(GOLDEN.len(), rows().len());
}

#[test]
fn undecodable_rows_are_errors_not_panics() {
    assert!(matches!(
        StateRow::decode(9, Uuid::nil(), &[]),
        Err(engine::RowError::UnknownKind(9))
    ));
    assert!(matches!(
        StateRow::decode(1, HOLD.0, &[0xc1]),
        Err(engine::RowError::Body {
            kind: RowKind::Hold,
            ..
        })
    ));
}

/// Pinned encodings (hex), by case name.
const GOLDEN: &[(&str, &str)] = &[
    (
        "meta",
        "94cf000001a31d82ac7bcf000001a3185c507ba34555529194a141a65374616c6c73cd119402",
    ),
    ("seat", "91a7426c6f636b6564"),
    (
        "hold",
        "96c41033333333333343338333333333333333920001cf000001a3185c507bcd2328a9436f6e6669726d6564c41022222222222242228222222222222222",
    ),
    (
        "booking",
        "95c41011111111111141118111111111111111cf000001a3185c507ba670695f31323393cf000001a3185c507bcd119432919301cf000001a3185c507ba54e6f727468",
    ),
    (
        "outcome/held",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a448656c64c41011111111111141118111111111111111",
    ),
    (
        "outcome/confirmed",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a9436f6e6669726d6564c41022222222222242228222222222222222",
    ),
    (
        "outcome/released",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a852656c6561736564c41011111111111141118111111111111111",
    ),
    (
        "outcome/cancelled",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a943616e63656c6c6564c41022222222222242228222222222222222",
    ),
    (
        "outcome/expired",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a74578706972656491c41011111111111141118111111111111111",
    ),
    (
        "outcome/full_accepted",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a446756c6c81a841636365707465649181ab53686f77437265617465649102",
    ),
    (
        "outcome/full_rejected",
        "93dc001007070707070707070707070707070707cf000001a3185c507b81a446756c6c81a852656a656374656481b1486f6c644c696d697445786365656465649103",
    ),
];
