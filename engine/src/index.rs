//! An id -> slot index that stores only the slot.
//!
//! Holds, bookings, users and remembered outcomes already keep their own id in their record, so
//! the index needs no copy of the 16-byte key: a bucket is 6 bytes, a 16-bit tag from the key's
//! hash and a `u32` slot, and a probe confirms a match by reading the record the caller would
//! read next anyway. Tags and slots are separate arrays: the tags filter probes, so a miss (most
//! look-ups: every new command id, hold, booking and buyer) reads only the dense tag array and
//! never a record, and a hit almost always reads one slot and exactly one record. Open addressing with linear probing and backward-shift deletion
//! (no tombstones), so lookups stay short however long the show runs.
//!
//! A bucket does not keep enough of the hash to find its home bucket again, so the few
//! operations that move entries ask the caller: growing rebuilds the table from the caller's
//! records (a sequential pass over them), and deleting asks for the hash of each entry it may
//! shift back.

use uuid::Uuid;

/// Tag of an empty bucket (a stored tag is never 0).
const EMPTY: u16 = 0;
/// Smallest table once anything is stored.
const MIN_BUCKETS: usize = 64;

/// Hash of a UUID key: a folded 128-bit multiply of each half, so every input bit reaches the
/// low bits the index uses. Keys are UUIDs minted by our own services (already random bits),
/// never raw client input, so no flooding defence is needed.
pub(crate) fn hash_uuid(id: &Uuid) -> u64 {
    let (high, low) = id.as_u64_pair();
    let fold = |x: u64, k: u64| {
        let product = u128::from(x) * u128::from(k);
        (product as u64) ^ ((product >> 64) as u64)
    };
    fold(
        high ^ fold(low, 0x9e37_79b9_7f4a_7c15),
        0xc2b2_ae3d_27d4_eb4f,
    )
}

/// The stored tag of a hash: its top 16 bits (the home bucket uses the low bits), never 0.
fn tag(hash: u64) -> u16 {
    ((hash >> 48) as u16).max(1)
}

/// Slots by key hash. The caller supplies how to recognise its key in a slot, and where the
/// index must move entries, the hashes of its records.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotIndex {
    /// Tag of each bucket (`EMPTY` if free); a power of two of them, or none.
    tags: Vec<u16>,
    /// Slot of each bucket.
    slots: Vec<u32>,
    len: usize,
}

impl SlotIndex {
    fn mask(&self) -> usize {
        self.tags.len() - 1
    }

    /// The stored slot for which `is_key` holds, probing from `hash`.
    #[inline]
    pub(crate) fn find(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        if self.tags.is_empty() {
            return None;
        }
        let mask = self.mask();
        let wanted = tag(hash);
        let mut at = hash as usize & mask;
        loop {
            let found = self.tags[at];
            if found == EMPTY {
                return None;
            }
            if found == wanted && is_key(self.slots[at]) {
                return Some(self.slots[at]);
            }
            at = (at + 1) & mask;
        }
    }

    /// Store `slot` under `hash` (the caller has checked the key is absent). `every` lists the
    /// (hash, slot) of every entry the index should hold afterwards, this one included: when
    /// the table grows it is rebuilt from that list.
    pub(crate) fn insert<I>(&mut self, hash: u64, slot: u32, every: impl FnOnce() -> I)
    where
        I: Iterator<Item = (u64, u32)>,
    {
        self.len += 1;
        // Keep the load at or below 3/4: linear probing stays short.
        if self.len * 4 > self.tags.len() * 3 {
            let size = (self.tags.len() * 2).max(MIN_BUCKETS);
            self.rebuild(size, every());
        } else {
            self.place(hash, slot);
        }
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while self.tags[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.tags[at] = tag(hash);
        self.slots[at] = slot;
    }

    fn rebuild(&mut self, size: usize, every: impl Iterator<Item = (u64, u32)>) {
        // Free the old table first: growing a big index should not hold both at once.
        self.tags = Vec::new();
        self.slots = Vec::new();
        self.tags = vec![EMPTY; size];
        self.slots = vec![0; size];
        let mut count = 0;
        for (hash, slot) in every {
            self.place(hash, slot);
            count += 1;
        }
        debug_assert_eq!(count, self.len, "the caller listed every entry");
        self.len = count;
    }

    /// Remove the stored slot for which `is_key` holds; later entries of its probe run shift
    /// back so no lookup ever stops early (no tombstones). `hash_of` gives the hash of the key
    /// of a stored slot (to find where a shifted entry belongs).
    pub(crate) fn remove(
        &mut self,
        hash: u64,
        is_key: impl Fn(u32) -> bool,
        hash_of: impl Fn(u32) -> u64,
    ) -> bool {
        if self.tags.is_empty() {
            return false;
        }
        let mask = self.mask();
        let wanted = tag(hash);
        let mut hole = hash as usize & mask;
        loop {
            let found = self.tags[hole];
            if found == EMPTY {
                return false;
            }
            if found == wanted && is_key(self.slots[hole]) {
                break;
            }
            hole = (hole + 1) & mask;
        }
        let mut next = (hole + 1) & mask;
        while self.tags[next] != EMPTY {
            let home = hash_of(self.slots[next]) as usize & mask;
            // Move the entry into the hole unless its home lies cyclically in (hole, next].
            if (hole.wrapping_sub(home) & mask) < (next.wrapping_sub(home) & mask) {
                self.tags[hole] = self.tags[next];
                self.slots[hole] = self.slots[next];
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.tags[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tags.capacity() * std::mem::size_of::<u16>()
            + self.slots.capacity() * std::mem::size_of::<u32>()
    }

    /// Release memory when far larger than needed (after a mass prune); `every` as for
    /// `insert`.
    pub(crate) fn shrink<I>(&mut self, every: impl FnOnce() -> I)
    where
        I: Iterator<Item = (u64, u32)>,
    {
        let wanted = (self.len * 2).next_power_of_two().max(MIN_BUCKETS);
        if self.tags.len() > wanted * 4 {
            self.rebuild(wanted, every());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hashes that collide a lot (few distinct home buckets, shared tags) exercise probing,
    /// tag filtering, growth and backward shifts; the index must agree with a map throughout.
    #[test]
    fn finds_inserts_and_removes_like_a_map() {
        let keys: Vec<u64> = (0..5_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9) % 12_000)
            .collect();
        // Hash: low bits from a small range (long probe runs), top bits from few tags.
        let hash = |key: u64| ((key % 7) << 48) | (key % 97);
        let key_of = |slot: u32| keys[slot as usize];
        let mut index = SlotIndex::default();
        let mut model = std::collections::BTreeMap::new();
        for (slot, key) in keys.iter().enumerate() {
            if model.contains_key(key) {
                continue;
            }
            model.insert(*key, slot as u32);
            index.insert(hash(*key), slot as u32, || {
                model.iter().map(|(k, s)| (hash(*k), *s))
            });
        }
        assert!(index.tags.len() > MIN_BUCKETS, "the table grew");
        for (step, (key, slot)) in model.clone().into_iter().enumerate() {
            assert_eq!(index.find(hash(key), |s| key_of(s) == key), Some(slot));
            if step % 3 == 0 {
                let hash_of = |s: u32| hash(key_of(s));
                assert!(index.remove(hash(key), |s| key_of(s) == key, hash_of));
                assert!(!index.remove(hash(key), |s| key_of(s) == key, hash_of));
                model.remove(&key);
            }
        }
        assert_eq!(index.len, model.len());
        for (key, slot) in &model {
            assert_eq!(index.find(hash(*key), |s| key_of(s) == *key), Some(*slot));
        }
        for key in 12_000..12_100u64 {
            assert_eq!(index.find(hash(key), |s| key_of(s) == key), None);
        }
        let size = index.tags.len();
        for (key, _) in model.clone().into_iter().skip(10) {
            let hash_of = |s: u32| hash(key_of(s));
            assert!(index.remove(hash(key), |s| key_of(s) == key, hash_of));
            model.remove(&key);
        }
        index.shrink(|| model.iter().map(|(k, s)| (hash(*k), *s)));
        assert!(index.tags.len() < size, "the table shrank");
        for (key, slot) in &model {
            assert_eq!(index.find(hash(*key), |s| key_of(s) == *key), Some(*slot));
        }
    }
}
