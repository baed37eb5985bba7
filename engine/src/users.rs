//! The show's buyers, each interned once as a small number.
//!
//! Holds name their owner by user number (4 bytes instead of a 16-byte id), and the number's
//! entry keeps the per-user tally the ticket and hold limits are checked against. Entries are
//! never removed: holds and bookings keep pointing at them for the show's life. Numbers depend
//! on arrival order (a restore may number users differently), so they never leave the engine.

use schemas::UserId;

use crate::chunked::Chunked;
use crate::index::{SlotIndex, hash_uuid};

/// Seats and holds one user has on this show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserTally {
    /// Seats in active holds plus seats in confirmed, uncancelled bookings.
    pub(crate) seats: u32,
    /// Active holds.
    pub(crate) active_holds: u32,
}

#[derive(Clone, Debug)]
struct UserEntry {
    id: UserId,
    tally: UserTally,
}

/// User numbers by id, with each user's tally.
#[derive(Clone, Debug, Default)]
pub(crate) struct UserTable {
    entries: Chunked<UserEntry>,
    by_id: SlotIndex,
}

impl UserTable {
    /// The number of a known user.
    #[inline]
    pub(crate) fn find(&self, id: UserId) -> Option<u32> {
        self.by_id.find(hash_uuid(&id.0), |user| {
            self.entries[user as usize].id == id
        })
    }

    /// The number of a user, interning it if new (`found` is what `find` said).
    #[inline]
    pub(crate) fn intern(&mut self, id: UserId, found: Option<u32>) -> u32 {
        if let Some(user) = found {
            return user;
        }
        let user = self.entries.len() as u32;
        self.entries.push(UserEntry {
            id,
            tally: UserTally::default(),
        });
        let entries = &self.entries;
        self.by_id.insert(hash_uuid(&id.0), user, || {
            (0..)
                .zip(entries.iter())
                .map(|(user, entry)| (hash_uuid(&entry.id.0), user))
        });
        user
    }

    /// The id of a user number.
    #[inline]
    pub(crate) fn id(&self, user: u32) -> UserId {
        self.entries[user as usize].id
    }

    /// The tally of a user number.
    #[inline]
    pub(crate) fn tally(&self, user: u32) -> UserTally {
        self.entries[user as usize].tally
    }

    /// The tally of a user number, to change.
    #[inline]
    pub(crate) fn tally_mut(&mut self, user: u32) -> &mut UserTally {
        &mut self.entries[user as usize].tally
    }

    /// Number of interned users.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Heap bytes of the entries.
    pub(crate) fn entry_bytes(&self) -> usize {
        self.entries.heap_bytes()
    }

    /// Heap bytes of the id index.
    pub(crate) fn index_bytes(&self) -> usize {
        self.by_id.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_each_user_once_and_keeps_tallies() {
        let mut table = UserTable::default();
        let ids: Vec<UserId> = (0..5_000u128)
            .map(|i| UserId(uuid::Uuid::from_u128(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(table.find(*id), None);
            let user = table.intern(*id, None);
            assert_eq!(user, n as u32);
            table.tally_mut(user).seats = n as u32;
        }
        for (n, id) in ids.iter().enumerate() {
            let user = table.find(*id).expect("interned");
            assert_eq!(table.intern(*id, Some(user)), user);
            assert_eq!(table.id(user), *id);
            assert_eq!(table.tally(user).seats, n as u32);
        }
        assert_eq!(table.len(), ids.len());
        assert_eq!(table.find(UserId(uuid::Uuid::from_u128(7))), None);
    }
}
