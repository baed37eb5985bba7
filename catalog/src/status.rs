//! The show status buyers see, computed from time and availability (never stored, so it cannot go
//! stale as the clock moves).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The contract's show `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShowStatus {
    /// Sale not open yet.
    Scheduled,
    /// On sale.
    Open,
    /// On sale behind an active waiting room (also before the opening, so early buyers can join
    /// the queue that is shuffled at the opening).
    Queue,
    /// No seat is AVAILABLE.
    SoldOut,
    /// The show has started; nothing is sold any more.
    Closed,
}

impl ShowStatus {
    /// The contract's spelling (`"SOLD_OUT"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ShowStatus::Scheduled => "SCHEDULED",
            ShowStatus::Open => "OPEN",
            ShowStatus::Queue => "QUEUE",
            ShowStatus::SoldOut => "SOLD_OUT",
            ShowStatus::Closed => "CLOSED",
        }
    }
}

/// Status of a show at `now`. Precedence: a started show is CLOSED; a show with an active waiting
/// room is QUEUE while seats remain (before and after the opening); before the opening it is
/// SCHEDULED; with no AVAILABLE seat it is SOLD_OUT; otherwise OPEN.
///
/// SOLD_OUT is checked before QUEUE: waiting buyers must learn that nothing is left.
pub fn show_status(
    now: DateTime<Utc>,
    sale_opens_at: Option<DateTime<Utc>>,
    show_time: DateTime<Utc>,
    available_seats: u32,
    waiting_room_enabled: bool,
) -> ShowStatus {
    let sale_open = sale_opens_at.is_none_or(|opens| now >= opens);
    if now >= show_time {
        ShowStatus::Closed
    } else if available_seats == 0 && sale_open {
        ShowStatus::SoldOut
    } else if waiting_room_enabled {
        ShowStatus::Queue
    } else if !sale_open {
        ShowStatus::Scheduled
    } else {
        ShowStatus::Open
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, hour, 0, 0).unwrap()
    }

    #[test]
    fn status_table() {
        // (now, sale opens, show time, available, waiting room) -> status
        let cases = [
            (at(10), None, at(18), 5, false, ShowStatus::Open),
            (
                at(10),
                Some(at(12)),
                at(18),
                5,
                false,
                ShowStatus::Scheduled,
            ),
            (at(12), Some(at(12)), at(18), 5, false, ShowStatus::Open),
            (at(13), Some(at(12)), at(18), 0, false, ShowStatus::SoldOut),
            (at(13), None, at(18), 0, true, ShowStatus::SoldOut),
            (at(13), None, at(18), 5, true, ShowStatus::Queue),
            (at(10), Some(at(12)), at(18), 5, true, ShowStatus::Queue),
            // before the opening nothing was sold, a zero count is not a sell-out yet
            (
                at(10),
                Some(at(12)),
                at(18),
                0,
                false,
                ShowStatus::Scheduled,
            ),
            (at(18), None, at(18), 5, false, ShowStatus::Closed),
            (at(19), None, at(18), 0, true, ShowStatus::Closed),
        ];
        for (now, opens, show_time, available, room, expected) in cases {
            assert_eq!(
                show_status(now, opens, show_time, available, room),
                expected,
                "now={now} opens={opens:?} available={available} room={room}"
            );
        }
    }
}
