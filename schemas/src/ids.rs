//! Newtype ids. Each wraps a UUID so ids of different nouns cannot be mixed up by accident.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The wrapped UUID.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }
    };
}

uuid_id!(
    /// One performance of an event at a venue; the unit of partitioning and of seat state.
    ShowId
);
uuid_id!(
    /// One seat of one show; generated when the show is created and stable afterwards.
    SeatId
);
uuid_id!(
    /// A temporary claim on seats while the buyer pays.
    HoldId
);
uuid_id!(
    /// A confirmed, paid purchase of the seats of one hold.
    BookingId
);
uuid_id!(
    /// A buyer, staff member or admin (the JWT `sub`).
    UserId
);
uuid_id!(
    /// One admission ticket: one seat of one booking.
    TicketId
);
uuid_id!(
    /// Identifies a command for idempotency; derived from (user id, idempotency key) when the
    /// client sends a key, so two users' keys never collide.
    CommandId
);
uuid_id!(
    /// A venue in the catalog.
    VenueId
);
uuid_id!(
    /// An event in the catalog (a film, a concert tour, a match).
    EventId
);

/// Milliseconds since the Unix epoch, UTC. The engine never reads a clock: time arrives in these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixMs(pub i64);

impl SeatId {
    /// The stable id of the seat at `index` (layout order) of `show`. The last four bytes carry
    /// the index and the rest is a per-show prefix, so the engine maps an id back to its slot in
    /// O(1) without a hash table (see [`SeatId::index_in`]).
    pub fn derive(show: ShowId, index: u32) -> SeatId {
        let mut bytes = seat_prefix(show);
        bytes[12..16].copy_from_slice(&index.to_be_bytes());
        SeatId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
    }

    /// The layout index of this seat if it belongs to `show`. Prefer
    /// [`SeatId::index_with_prefix`] in loops: it skips recomputing the prefix.
    pub fn index_in(&self, show: ShowId) -> Option<u32> {
        self.index_with_prefix(&SeatId::derive(show, 0))
    }

    /// The layout index of this seat if it shares the per-show prefix of `seat0` (the show's seat
    /// at index 0).
    pub fn index_with_prefix(&self, seat0: &SeatId) -> Option<u32> {
        let mine = self.0.as_bytes();
        let theirs = seat0.0.as_bytes();
        if mine[..12] != theirs[..12] {
            return None;
        }
        Some(u32::from_be_bytes([mine[12], mine[13], mine[14], mine[15]]))
    }
}

/// First 12 bytes of a name-based UUID of the show; version and variant bits are set afterwards by
/// the UUIDv8 builder and live inside this prefix, so they never touch the index bytes.
fn seat_prefix(show: ShowId) -> [u8; 16] {
    let named = Uuid::new_v5(&show.0, b"boxoffice/seat");
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&named.as_bytes()[..12]);
    // Mirror what the v8 builder will set so the prefix compares equal after building.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_ids_round_trip_their_index_and_reject_other_shows() {
        let show = ShowId(Uuid::from_u128(7));
        let other = ShowId(Uuid::from_u128(8));
        for index in [0u32, 1, 49_999, u32::MAX] {
            let id = SeatId::derive(show, index);
            assert_eq!(id.index_in(show), Some(index));
            assert_eq!(id.index_in(other), None);
            assert_eq!(id.0.get_version_num(), 8);
        }
        assert_ne!(SeatId::derive(show, 1), SeatId::derive(other, 1));
    }
}
