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
