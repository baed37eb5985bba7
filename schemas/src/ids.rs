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

impl ShowId {
    /// The show's tag: eight bytes every hold and booking id of the show starts with (see
    /// [`HoldId::for_show`]), so the show an id belongs to is found from the id itself, through one
    /// stored row per show instead of one per hold and booking. The version nibble of a UUIDv8 is
    /// already set inside it.
    pub fn tag(&self) -> u64 {
        let named = Uuid::new_v5(&self.0, b"boxoffice/show-tag");
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&named.as_bytes()[..8]);
        bytes[6] = (bytes[6] & 0x0f) | 0x80;
        u64::from_be_bytes(bytes)
    }
}

/// The show tag a hold or booking id carries, if it is a tagged id ([`HoldId::for_show`],
/// [`BookingId::of_hold`]): a UUIDv8. Ids of other versions (earlier builds derived v5 ids,
/// tests use their own) carry none, and are found through a lookup row of their own.
pub fn show_tag_of(id: &Uuid) -> Option<u64> {
    (id.get_version_num() == 8).then(|| id.as_u64_pair().0)
}

/// A UUIDv8 made of `tag` and the last eight bytes of `unique` (variant bits set there).
fn tagged(tag: u64, unique: &Uuid) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&tag.to_be_bytes());
    bytes[8..].copy_from_slice(&unique.as_bytes()[8..]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

impl HoldId {
    /// A hold id of `show` made unique by `unique`: the show's tag, then 62 bits of `unique`
    /// (pass a name-based UUID so a retried command names the same hold). Two holds of one show
    /// collide with a chance of n^2 / 2^63 for n holds (about 1 in 10^7 at a million).
    pub fn for_show(show: ShowId, unique: &Uuid) -> HoldId {
        HoldId(tagged(show.tag(), unique))
    }
}

impl BookingId {
    /// The booking a hold becomes: derived from the hold, so every confirm of one hold names the
    /// same booking (the engine relies on it to tell an id reuse from a second confirm), and
    /// carrying the hold's show tag. A hold an earlier build named (untagged) keeps the booking
    /// id that build gave it, so a confirm retried across an upgrade still names one booking.
    pub fn of_hold(hold: HoldId) -> BookingId {
        let unique = Uuid::new_v5(&hold.0, b"boxoffice/booking");
        match show_tag_of(&hold.0) {
            Some(tag) => BookingId(tagged(tag, &unique)),
            None => BookingId(unique),
        }
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
    fn tagged_ids_carry_their_show_and_others_do_not() {
        let show = ShowId(Uuid::from_u128(7));
        let other = ShowId(Uuid::from_u128(8));
        assert_ne!(show.tag(), other.tag());
        let hold = HoldId::for_show(show, &Uuid::new_v5(&Uuid::nil(), b"command"));
        assert_eq!(hold.0.get_version_num(), 8);
        assert_eq!(hold.0.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(show_tag_of(&hold.0), Some(show.tag()));
        assert_ne!(
            hold,
            HoldId::for_show(show, &Uuid::new_v5(&Uuid::nil(), b"another"))
        );
        let booking = BookingId::of_hold(hold);
        assert_eq!(show_tag_of(&booking.0), Some(show.tag()));
        assert_ne!(booking.0, hold.0);
        assert_eq!(BookingId::of_hold(hold), booking);
        let old = HoldId(Uuid::new_v5(&Uuid::nil(), b"earlier build"));
        assert_eq!(show_tag_of(&old.0), None);
        let earlier = BookingId(Uuid::new_v5(&old.0, b"boxoffice/booking"));
        assert_eq!(
            BookingId::of_hold(old),
            earlier,
            "an earlier build's booking id is kept"
        );
    }

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
