//! The two text frames of the live seat protocol, written once per change and shared by every
//! viewer of the show.
//!
//! ```text
//! {"type":"SNAPSHOT","version":7,"seats":[{"seatId":"…","status":"AVAILABLE"},…]}
//! {"type":"SEAT_UPDATE","fromVersion":7,"version":9,"seats":[…],"timestamp":"2026-…Z"}
//! ```
//! Every value is a UUID, a fixed status word, an integer or an RFC 3339 instant: nothing needs
//! escaping, so the JSON is written by hand (a 50,000-seat snapshot is a few MB and is written
//! for every version a new viewer joins at; serde's per-value formatting would dominate).

use bytes::Bytes;
use schemas::{SeatId, SeatStatus, UnixMs};

use clock::rfc3339_ms;

/// Bytes one `{"seatId":…,"status":…}` entry takes at most (with its comma).
const SEAT_ENTRY_BYTES_MAX: usize = 72;

/// The first frame a viewer receives: every seat of the show at `version`.
pub fn snapshot(version: u64, seats: impl Iterator<Item = (SeatId, SeatStatus)>) -> Bytes {
    let mut out = Vec::with_capacity(64 + seats.size_hint().0 * SEAT_ENTRY_BYTES_MAX);
    out.extend_from_slice(b"{\"type\":\"SNAPSHOT\",\"version\":");
    push_u64(&mut out, version);
    out.push(b',');
    push_seats(&mut out, seats);
    out.push(b'}');
    Bytes::from(out)
}

/// A change of some seats: applies on top of `from_version` and brings a viewer to `version`.
pub fn seat_update(
    from_version: u64,
    version: u64,
    seats: impl Iterator<Item = (SeatId, SeatStatus)>,
    at: UnixMs,
) -> Bytes {
    let mut out = Vec::with_capacity(128 + seats.size_hint().0 * SEAT_ENTRY_BYTES_MAX);
    out.extend_from_slice(b"{\"type\":\"SEAT_UPDATE\",\"fromVersion\":");
    push_u64(&mut out, from_version);
    out.extend_from_slice(b",\"version\":");
    push_u64(&mut out, version);
    out.push(b',');
    push_seats(&mut out, seats);
    out.extend_from_slice(b",\"timestamp\":\"");
    out.extend_from_slice(rfc3339_ms(at).as_bytes());
    out.extend_from_slice(b"\"}");
    Bytes::from(out)
}

fn push_seats(out: &mut Vec<u8>, seats: impl Iterator<Item = (SeatId, SeatStatus)>) {
    out.extend_from_slice(b"\"seats\":[");
    let mut uuid = uuid::Uuid::encode_buffer();
    for (i, (seat, status)) in seats.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"seatId\":\"");
        out.extend_from_slice(seat.0.hyphenated().encode_lower(&mut uuid).as_bytes());
        out.extend_from_slice(b"\",\"status\":\"");
        out.extend_from_slice(status.contract_name().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.push(b']');
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use schemas::ShowId;
    use serde_json::{Value, json};

    fn seats(show: ShowId) -> Vec<(SeatId, SeatStatus)> {
        vec![
            (SeatId::derive(show, 0), SeatStatus::Available),
            (SeatId::derive(show, 1), SeatStatus::Held),
            (SeatId::derive(show, 2), SeatStatus::Booked),
            (SeatId::derive(show, 3), SeatStatus::Blocked),
        ]
    }

    #[test]
    fn snapshot_is_the_contract_json() {
        let show = ShowId(uuid::Uuid::from_u128(42));
        let seats = seats(show);
        let frame = snapshot(7, seats.iter().copied());
        let parsed: Value = serde_json::from_slice(&frame).unwrap();
        let expected = json!({
            "type": "SNAPSHOT",
            "version": 7,
            "seats": [
                {"seatId": seats[0].0.0.to_string(), "status": "AVAILABLE"},
                {"seatId": seats[1].0.0.to_string(), "status": "HELD"},
                {"seatId": seats[2].0.0.to_string(), "status": "BOOKED"},
                {"seatId": seats[3].0.0.to_string(), "status": "BLOCKED"},
            ],
        });
        assert_eq!(parsed, expected);
        assert!(frame.len() <= 64 + seats.len() * SEAT_ENTRY_BYTES_MAX);
    }

    #[test]
    fn update_names_both_versions_and_the_time() {
        let show = ShowId(uuid::Uuid::from_u128(43));
        let seats = seats(show);
        let frame = seat_update(7, 9, seats[1..2].iter().copied(), UnixMs(1_500));
        let parsed: Value = serde_json::from_slice(&frame).unwrap();
        assert_eq!(
            parsed,
            json!({
                "type": "SEAT_UPDATE",
                "fromVersion": 7,
                "version": 9,
                "seats": [{"seatId": seats[1].0.0.to_string(), "status": "HELD"}],
                "timestamp": "1970-01-01T00:00:01.500Z",
            })
        );
        let empty = seat_update(9, 10, std::iter::empty(), UnixMs(0));
        let parsed: Value = serde_json::from_slice(&empty).unwrap();
        assert_eq!(parsed["seats"], json!([]));
    }
}
