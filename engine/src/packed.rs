//! Small fixed-size forms of values the records keep by the thousand.
//!
//! A record with an `i64` field is 8-aligned, so a 16-byte id plus a few `u32`s pads out to the
//! next multiple of 8. Keeping stream times as two `u32` halves makes the records 4-aligned:
//! exact (every `i64` round-trips), and 4-8 bytes smaller each.

use schemas::UnixMs;

/// A [`UnixMs`] stored as two `u32` halves (4-aligned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedMs([u32; 2]);

impl PackedMs {
    /// Pack a time.
    #[inline]
    pub(crate) fn new(at: UnixMs) -> PackedMs {
        let bits = at.0 as u64;
        PackedMs([bits as u32, (bits >> 32) as u32])
    }

    /// The time it stands for.
    #[inline]
    pub(crate) fn get(self) -> UnixMs {
        let [low, high] = self.0;
        UnixMs(((u64::from(high) << 32) | u64::from(low)) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_time_round_trips() {
        for at in [
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            u32::MAX as i64,
            1_800_000_000_000,
            i64::MAX,
        ] {
            assert_eq!(PackedMs::new(UnixMs(at)).get(), UnixMs(at));
        }
        assert_eq!(std::mem::align_of::<PackedMs>(), 4);
    }
}
