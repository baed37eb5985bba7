//! The contract's spellings of engine states (`AVAILABLE`, `ACTIVE`, ...): one place for the
//! HTTP answers and the live seat-map frames, which must spell them alike.

use engine::HoldStatus;
use schemas::SeatStatus;

/// The contract's spelling of a seat status.
pub fn seat_status_str(status: SeatStatus) -> &'static str {
    match status {
        SeatStatus::Available => "AVAILABLE",
        SeatStatus::Held => "HELD",
        SeatStatus::Booked => "BOOKED",
        SeatStatus::Blocked => "BLOCKED",
    }
}

/// The contract's spelling of a hold status.
pub fn hold_status_str(status: HoldStatus) -> &'static str {
    match status {
        HoldStatus::Active => "ACTIVE",
        HoldStatus::Confirmed => "CONFIRMED",
        HoldStatus::Expired => "EXPIRED",
        HoldStatus::Released => "RELEASED",
    }
}
