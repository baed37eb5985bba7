//! A growable sequence stored in fixed-size chunks.
//!
//! Holds, bookings and remembered outcomes only ever grow at the back (outcomes also leave at
//! the front). A `Vec` would double: up to half its memory unused, and every growth copies the
//! whole table and touches fresh pages twice. Chunks of `CHUNK` elements waste at most one
//! chunk and never move an element once written.

use std::collections::VecDeque;

/// Elements per chunk: large enough that the chunk index stays tiny, small enough that the
/// unused tail of the last chunk is negligible for big shows.
const CHUNK: usize = 1024;

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
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Append at the back.
    pub(crate) fn push(&mut self, value: T) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(value),
            Some(_) | None => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// The element at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let at = index + self.head;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    /// The element at `index`, mutably.
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

    /// Every element, front to back.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten().skip(self.head)
    }
}

impl<T> std::ops::Index<usize> for Chunked<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        self.get(index).expect("index within the chunked sequence")
    }
}

impl<T> std::ops::IndexMut<usize> for Chunked<T> {
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
}
