//! An id -> slot index that stores only the slot.
//!
//! Holds, bookings and remembered outcomes already keep their own id in their record, so the
//! index needs no copy of the 16-byte key: a bucket is a `u32` slot, and a probe confirms a
//! match by reading the record the caller would read next anyway. That makes the table a quarter
//! of a `HashMap<Uuid, u32>` (it stays in cache) and saves the key compare's separate miss.
//! Open addressing with linear probing and backward-shift deletion (no tombstones), so lookups
//! stay short however long the show runs.

use uuid::Uuid;

/// Bucket value of an empty bucket.
const EMPTY: u32 = u32::MAX;
/// Smallest table once anything is stored.
const MIN_BUCKETS: usize = 64;

/// Hash of a UUID key: a folded 128-bit multiply of each half, so every input bit reaches the
/// bucket bits. Keys are UUIDs minted by our own services (already random bits), never raw
/// client input, so no flooding defence is needed.
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

/// Slots by key hash. The caller supplies, per call, how to recognise its key in a slot and how
/// to re-hash a stored slot (for growth and deletion).
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotIndex {
    buckets: Vec<u32>,
    len: usize,
}

impl SlotIndex {
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    /// The stored slot for which `is_key` holds, probing from `hash`.
    pub(crate) fn find(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Option<u32> {
        if self.buckets.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut at = hash as usize & mask;
        loop {
            let slot = self.buckets[at];
            if slot == EMPTY {
                return None;
            }
            if is_key(slot) {
                return Some(slot);
            }
            at = (at + 1) & mask;
        }
    }

    /// Store `slot` under `hash` (the caller has checked the key is absent). `hash_of` gives the
    /// hash of any stored slot, needed when the table grows.
    pub(crate) fn insert(&mut self, hash: u64, slot: u32, hash_of: impl Fn(u32) -> u64) {
        // Keep the load at or below 3/4: linear probing stays short.
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow(&hash_of);
        }
        self.place(hash, slot);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, slot: u32) {
        let mask = self.mask();
        let mut at = hash as usize & mask;
        while self.buckets[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.buckets[at] = slot;
    }

    fn grow(&mut self, hash_of: &impl Fn(u32) -> u64) {
        let size = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; size]);
        for slot in old.into_iter().filter(|slot| *slot != EMPTY) {
            self.place(hash_of(slot), slot);
        }
    }

    /// Remove the stored slot for which `is_key` holds; later entries of its probe run shift
    /// back so no lookup ever stops early.
    pub(crate) fn remove(
        &mut self,
        hash: u64,
        is_key: impl Fn(u32) -> bool,
        hash_of: impl Fn(u32) -> u64,
    ) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let mask = self.mask();
        let mut hole = hash as usize & mask;
        loop {
            let slot = self.buckets[hole];
            if slot == EMPTY {
                return false;
            }
            if is_key(slot) {
                break;
            }
            hole = (hole + 1) & mask;
        }
        let mut next = (hole + 1) & mask;
        loop {
            let slot = self.buckets[next];
            if slot == EMPTY {
                break;
            }
            let home = hash_of(slot) as usize & mask;
            // Move `slot` into the hole unless its home lies cyclically in (hole, next].
            let distance_to_next = next.wrapping_sub(home) & mask;
            let distance_to_hole = hole.wrapping_sub(home) & mask;
            if distance_to_hole < distance_to_next {
                self.buckets[hole] = slot;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Release memory when far larger than needed (after a mass prune).
    pub(crate) fn shrink(&mut self, hash_of: impl Fn(u32) -> u64) {
        let wanted = (self.len * 2).next_power_of_two().max(MIN_BUCKETS);
        if self.buckets.len() <= wanted * 4 {
            return;
        }
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; wanted]);
        for slot in old.into_iter().filter(|slot| *slot != EMPTY) {
            self.place(hash_of(slot), slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys whose hashes collide a lot (small masks) exercise probing and backward shifts.
    #[test]
    fn finds_inserts_and_removes_like_a_map() {
        let keys: Vec<u64> = (0..2_000u64)
            .map(|i| i.wrapping_mul(0x9e37_79b9) % 5_000)
            .collect();
        let hash = |slot: u32| keys[slot as usize] % 97;
        let mut index = SlotIndex::default();
        let mut model = std::collections::BTreeMap::new();
        for (slot, key) in keys.iter().enumerate() {
            if model.contains_key(key) {
                continue;
            }
            index.insert(hash(slot as u32), slot as u32, hash);
            model.insert(*key, slot as u32);
        }
        for (step, (key, slot)) in model.clone().into_iter().enumerate() {
            let found = index.find(key % 97, |s| keys[s as usize] == key);
            assert_eq!(found, Some(slot));
            if step % 3 == 0 {
                assert!(index.remove(key % 97, |s| keys[s as usize] == key, hash));
                model.remove(&key);
            }
        }
        assert_eq!(index.len, model.len());
        for (key, slot) in &model {
            assert_eq!(
                index.find(key % 97, |s| keys[s as usize] == *key),
                Some(*slot)
            );
        }
        for key in 5_000..5_100u64 {
            assert_eq!(index.find(key % 97, |s| keys[s as usize] == key), None);
        }
        index.shrink(hash);
        for (key, slot) in &model {
            assert_eq!(
                index.find(key % 97, |s| keys[s as usize] == *key),
                Some(*slot)
            );
        }
    }
}
