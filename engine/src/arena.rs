//! One string arena for the payment references of a show's bookings.
//!
//! A `Box<str>` per booking costs a 16-byte fat pointer plus an allocation (and the allocator's
//! own rounding and header) for a ~20-byte string. Bookings are never removed, so their strings
//! can live back to back in a few large blocks and each booking keeps an 8-byte [`StrRef`].
//! Blocks never move once full (a string is never split across blocks), and the open block
//! grows by doubling up to [`BLOCK`], so a small show does not pay for a whole block.

/// Bytes of a regular block; a longer string gets a block of its own.
const BLOCK: usize = 16 * 1024;
/// `StrRef::len` of a string that fills its own dedicated block (longer than [`BLOCK`]).
const WHOLE_BLOCK: u16 = u16::MAX;
/// Smallest capacity of a fresh regular block.
const FIRST_BLOCK: usize = 256;

/// Where one string sits in a [`StrArena`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StrRef {
    block: u32,
    start: u16,
    /// Length in bytes, or [`WHOLE_BLOCK`].
    len: u16,
}

/// Append-only strings in blocks.
#[derive(Clone, Debug, Default)]
pub(crate) struct StrArena {
    blocks: Vec<String>,
    /// The regular block still taking strings, if any.
    open: Option<u32>,
}

impl StrArena {
    /// Store a string; the reference stays valid for the arena's life.
    pub(crate) fn push(&mut self, text: &str) -> StrRef {
        if text.len() > BLOCK {
            self.blocks.push(text.to_string());
            return StrRef {
                block: self.blocks.len() as u32 - 1,
                start: 0,
                len: WHOLE_BLOCK,
            };
        }
        let block = match self.open {
            Some(open) if self.blocks[open as usize].len() + text.len() <= BLOCK => open,
            Some(_) | None => {
                self.blocks.push(String::new());
                let open = self.blocks.len() as u32 - 1;
                self.open = Some(open);
                open
            }
        };
        let buffer = &mut self.blocks[block as usize];
        let needed = buffer.len() + text.len();
        if needed > buffer.capacity() {
            let grown = (buffer.capacity() * 2)
                .max(FIRST_BLOCK)
                .max(needed)
                .min(BLOCK);
            buffer.reserve_exact(grown - buffer.len());
        }
        let start = buffer.len() as u16;
        buffer.push_str(text);
        StrRef {
            block,
            start,
            len: text.len() as u16,
        }
    }

    /// The string behind a reference from this arena.
    #[inline]
    pub(crate) fn get(&self, at: StrRef) -> &str {
        if at.len == 0 {
            return "";
        }
        let block = &self.blocks[at.block as usize];
        if at.len == WHOLE_BLOCK {
            return block;
        }
        let start = usize::from(at.start);
        &block[start..start + usize::from(at.len)]
    }

    /// Heap bytes held.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.blocks.capacity() * std::mem::size_of::<String>()
            + self.blocks.iter().map(String::capacity).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_come_back_exactly_across_blocks() {
        let mut arena = StrArena::default();
        let long = "é".repeat(BLOCK); // 2 bytes per char: a dedicated block
        let mut texts: Vec<String> = (0..3_000).map(|i| format!("pi_{i:016x}-ü")).collect();
        texts.insert(7, String::new());
        texts.insert(100, long.clone());
        texts.insert(2_000, "x".repeat(BLOCK));
        texts.insert(2_001, "y".repeat(BLOCK - 1));
        let refs: Vec<StrRef> = texts.iter().map(|text| arena.push(text)).collect();
        for (text, at) in texts.iter().zip(&refs) {
            assert_eq!(arena.get(*at), text);
        }
        let bytes: usize = texts.iter().map(String::len).sum();
        assert!(arena.heap_bytes() >= bytes);
        // Little slack: whole-block strings are exact, regular blocks lose at most a string's
        // length at their end, and only the open block may be half empty.
        assert!(arena.heap_bytes() < bytes + bytes / 8 + 2 * BLOCK);
    }

    #[test]
    fn a_small_arena_stays_small() {
        let mut arena = StrArena::default();
        let at = arena.push("pi_0123456789abcdef");
        assert_eq!(arena.get(at), "pi_0123456789abcdef");
        assert!(arena.heap_bytes() <= FIRST_BLOCK + std::mem::size_of::<String>() * 4);
    }
}
