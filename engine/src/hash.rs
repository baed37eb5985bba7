//! A fast, deterministic hasher for the engine's id-keyed maps.
//!
//! Keys are UUIDs minted by our own services (v4/v5/v8: already uniformly random bits) or small
//! integer pairs, never raw client input, so SipHash's flood resistance buys nothing here while
//! costing a large share of a hold's budget. A folded 128-bit multiply spreads every input bit into
//! both halves of the hash, which the swiss table uses for bucket and tag.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Multiplier of the folded multiply (the 64-bit golden ratio, odd).
const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

/// Hasher for [`FastMap`]: folds each written word into the state with a 128-bit multiply.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    fn mix(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word) * u128::from(SPREAD);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by ids, hashed with [`IdHasher`]. Never iterated where order could leak into
/// a decision: iteration order is not part of the engine's behaviour.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;
