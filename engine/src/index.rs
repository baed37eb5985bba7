//! An id -> slot index that stores only the slot.
//!
//! Holds, bookings and remembered outcomes already keep their own id in their record, so the
//! index needs no copy of the 16-byte key: a bucket is a `u32` slot, and a probe confirms a
//! match by reading the record the caller would read next anyway. That makes the table a quarter
//! of a `HashMap<Uuid, u32>` (it stays in cache) and saves the key compare's separate miss.
//! Open addressing with linear probing and backward-shift deletion (no tombstones), so lookups
//! stay short however long the show runs.

use uuid::Uuid;

/// Bucket value of an empty bucket (no slot is `u32::MAX`: slots index `u32`-counted records).
const EMPTY: u64 = u64::MAX;
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

/// Slots by key hash. A bucket holds the slot and the low 32 bits of its key's hash: the hash
/// bits place the entry (so growing and deleting never re-read records) and filter probes (so a
/// miss never reads a record, and a hit almost always reads exactly one). The caller supplies
/// how to recognise its key in a slot.
#[derive(Clone, Debug, Default)]
pub(crate) struct SlotIndex {
    buckets: Vec<u64>,
    len: usize,
}

fn entry(hash: u64, slot: u32) -> u64 {
    (u64::from(hash as u32) << 32) | u64::from(slot)
}

fn tag(bucket: u64) -> u32 {
    (bucket >> 32) as u32
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
        let wanted = hash as u32;
        let mut at = wanted as usize & mask;
        loop {
            let bucket = self.buckets[at];
            if bucket == EMPTY {
                return None;
            }
            if tag(bucket) == wanted && is_key(bucket as u32) {
                return Some(bucket as u32);
            }
            at = (at + 1) & mask;
        }
    }

    /// Store `slot` under `hash` (the caller has checked the key is absent).
    pub(crate) fn insert(&mut self, hash: u64, slot: u32) {
        // Keep the load at or below 3/4: linear probing stays short.
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.resize((self.buckets.len() * 2).max(MIN_BUCKETS));
        }
        self.place(entry(hash, slot));
        self.len += 1;
    }

    fn place(&mut self, bucket: u64) {
        let mask = self.mask();
        let mut at = tag(bucket) as usize & mask;
        while self.buckets[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.buckets[at] = bucket;
    }

    fn resize(&mut self, size: usize) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; size]);
        for bucket in old.into_iter().filter(|bucket| *bucket != EMPTY) {
            self.place(bucket);
        }
    }

    /// Remove the stored slot for which `is_key` holds; later entries of its probe run shift
    /// back so no lookup ever stops early (no tombstones).
    pub(crate) fn remove(&mut self, hash: u64, is_key: impl Fn(u32) -> bool) -> bool {
        if self.buckets.is_empty() {
            return false;
        }
        let mask = self.mask();
        let wanted = hash as u32;
        let mut hole = wanted as usize & mask;
        loop {
            let bucket = self.buckets[hole];
            if bucket == EMPTY {
                return false;
            }
            if tag(bucket) == wanted && is_key(bucket as u32) {
                break;
            }
            hole = (hole + 1) & mask;
        }
        let mut next = (hole + 1) & mask;
        loop {
            let bucket = self.buckets[next];
            if bucket == EMPTY {
                break;
            }
            let home = tag(bucket) as usize & mask;
            // Move the entry into the hole unless its home lies cyclically in (hole, next].
            if (hole.wrapping_sub(home) & mask) < (next.wrapping_sub(home) & mask) {
                self.buckets[hole] = bucket;
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        true
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * std::mem::size_of::<u64>()
    }

    /// Release memory when far larger than needed (after a mass prune).
    pub(crate) fn shrink(&mut self) {
        let wanted = (self.len * 2).next_power_of_two().max(MIN_BUCKETS);
        if self.buckets.len() > wanted * 4 {
            self.resize(wanted);
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
        let mut index = SlotIndex::default();
        let mut model = std::collections::BTreeMap::new();
        for (slot, key) in keys.iter().enumerate() {
            if model.contains_key(key) {
                continue;
            }
            index.insert(key % 97, slot as u32);
            model.insert(*key, slot as u32);
        }
        for (step, (key, slot)) in model.clone().into_iter().enumerate() {
            let found = index.find(key % 97, |s| keys[s as usize] == key);
            assert_eq!(found, Some(slot));
            if step % 3 == 0 {
                assert!(index.remove(key % 97, |s| keys[s as usize] == key));
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
        index.shrink();
        for (key, slot) in &model {
            assert_eq!(
                index.find(key % 97, |s| keys[s as usize] == *key),
                Some(*slot)
            );
        }
    }
}
