//! A growable sequence stored in fixed-size chunks.
//!
//! Holds, bookings and remembered outcomes only ever grow at the back (outcomes also leave at
//! the front). A `Vec` would double: up to half its memory unused, and every growth copies the
//! whole table and touches fresh pages twice. Chunks of `CHUNK` elements waste at most part of
//! the last chunk, which itself grows by doubling up to `CHUNK` (so a small show does not pay
//! for a whole chunk per sequence); a full chunk never moves again.

use std::collections::VecDeque;

/// Elements per chunk: large enough that the chunk index stays tiny, small enough that the
/// unused tail of the last chunk is negligible for big shows.
const CHUNK: usize = 1024;
/// Capacity of a fresh last chunk; it doubles up to `CHUNK`.
const FIRST_CAPACITY: usize = 16;

/// A sequence indexed from 0 (`push` at the back, `pop_front` at the front).
#[derive(Clone, Debug)]
pub(crate) struct Chunked<T> {
    chunks: VecDeque<Vec<T>>,
    /// Elements already popped from the first chunk.
    head: usize,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// Number of elements.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Append at the back.
    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => {
                if last.len() == last.capacity() {
                    let grown = (last.capacity() * 2).clamp(FIRST_CAPACITY, CHUNK);
                    last.reserve_exact(grown - last.len());
                }
                last.push(value);
            }
            Some(_) | None => {
                // Chunks after the first are needed only by big sequences: start them whole.
                let capacity = if self.chunks.is_empty() {
                    FIRST_CAPACITY
                } else {
                    CHUNK
                };
                let mut chunk = Vec::with_capacity(capacity);
                chunk.push(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// The element at `index`.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let at = index + self.head;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    /// The element at `index`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len {
            return None;
        }
        let at = index + self.head;
        self.chunks.get_mut(at / CHUNK)?.get_mut(at % CHUNK)
    }

    /// The first element.
    pub(crate) fn front(&self) -> Option<&T> {
        self.get(0)
    }

    /// Remove the first element (its chunk is freed once every element of it is gone).
    pub(crate) fn pop_front(&mut self) {
        if self.len == 0 {
            return;
        }
        self.head += 1;
        self.len -= 1;
        if self.head == CHUNK || self.len == 0 {
            self.chunks.pop_front();
            self.head = 0;
        }
    }

    /// Heap bytes held (chunk capacities plus the chunk list).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .chunks
                .iter()
                .map(|chunk| chunk.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }

    /// Element slots allocated (used or not).
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }

    /// Every element, front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten().skip(self.head)
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    #[inline]
    fn index(&self, index: usize) -> &T {
        self.get(index).expect("index within the chunked sequence")
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
    #[inline]
    fn index_mut(&mut self, index: usize) -> &mut T {
        self.get_mut(index)
            .expect("index within the chunked sequence")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_indexes_and_pops_across_chunks() {
        let mut seq = Chunked::default();
        for i in 0..3 * CHUNK + 5 {
            seq.push(i);
        }
        assert_eq!(seq.len(), 3 * CHUNK + 5);
        assert_eq!(seq[CHUNK + 7], CHUNK + 7);
        for _ in 0..CHUNK + 1 {
            seq.pop_front();
        }
        assert_eq!(seq.front(), Some(&(CHUNK + 1)));
        assert_eq!(seq[0], CHUNK + 1);
        assert_eq!(seq.len(), 2 * CHUNK + 4);
        assert_eq!(
            seq.iter().copied().collect::<Vec<_>>(),
            (CHUNK + 1..3 * CHUNK + 5).collect::<Vec<_>>()
        );
        assert_eq!(seq.get(seq.len()), None);
        while seq.len() > 0 {
            seq.pop_front();
        }
        assert_eq!(seq.iter().count(), 0);
        seq.push(9);
        assert_eq!(seq[0], 9);
    }

    #[test]
    fn only_the_last_chunk_has_room_to_spare() {
        let mut seq = Chunked::default();
        seq.push(0u64);
        assert_eq!(seq.capacity(), FIRST_CAPACITY);
        for i in 1..CHUNK + 3 {
            seq.push(i as u64);
            assert!(seq.capacity() <= seq.len() + CHUNK, "at {i}");
        }
        assert_eq!(seq.capacity(), 2 * CHUNK);
        for i in 0..3 * CHUNK {
            seq.push(i as u64);
        }
        assert!(seq.capacity() - seq.len() < CHUNK);
        assert_eq!(seq[CHUNK + 1], (CHUNK + 1) as u64);
    }
}
