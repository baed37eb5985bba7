//! The contract's spelling of hold states (`ACTIVE`, `CONFIRMED`, ...); seat states spell
//! themselves ([`schemas::SeatStatus::contract_name`]), as the live frames need them too.

use engine::HoldStatus;

/// The contract's spelling of a hold status.
pub fn hold_status_str(status: HoldStatus) -> &'static str {
    match status {
        HoldStatus::Active => "ACTIVE",
        HoldStatus::Confirmed => "CONFIRMED",
        HoldStatus::Expired => "EXPIRED",
        HoldStatus::Released => "RELEASED",
    }
}
