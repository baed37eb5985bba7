//! The change-log row of a show's batch: the rows of a batch that nobody reads one at a time
//! (seats, remembered outcomes) stored as ONE cell, so a conditional batch writes a fixed number
//! of cells for them whatever the batch size. Holds and bookings, which readers fetch by id, and
//! the meta row (written once, at creation; readers fetch the show's fixed facts from it) stay
//! rows of their own.
//!
//! A load applies the change-log rows over the plain rows in log order. So that the log stays
//! short, the store folds it: once the changes since the last fold ([`Tail`]) pass
//! [`FOLD_AFTER_LOGS`] batches or [`FOLD_AFTER_CHANGES`] rows, the next conditional batch writes
//! them, coalesced, as plain rows and deletes the log rows it folded, atomically under the same
//! fence. A show stored before change logs existed is all plain rows: it loads as it is and its
//! later batches log on top of it.
//!
//! Encoding of a change list (all integers big-endian): per change, `kind: i8`, `id: 16 bytes`,
//! then either `0x00` (deletion) or `0x01`, `len: u32`, `len` body bytes.

use std::collections::BTreeMap;

use engine::RowKind;
use uuid::Uuid;

use crate::store::{Fence, Row, ShowWrite, StoreError};

/// Fold once this many batches are logged since the last fold.
pub const FOLD_AFTER_LOGS: usize = 256;

/// Fold once this many distinct rows changed since the last fold (bounds the fold's batch).
pub const FOLD_AFTER_CHANGES: usize = 4096;

/// A show's change log since its last fold, as far as this process knows it: the log rows'
/// sequences and their changes coalesced by row (`None`: deleted).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// The fence the tail is current for: valid for the write that expects this fence.
    pub after: Option<Fence>,
    /// Sequences of the log rows not yet folded.
    pub seqs: Vec<u64>,
    /// Their changes, the latest per row.
    pub changes: BTreeMap<(i8, Uuid), Option<Vec<u8>>>,
}

impl Tail {
    /// The tail of a show whose stored fence is `after` and whose log rows are `logs`.
    pub fn from_logs(after: Fence, logs: &[(u64, Vec<Row>)]) -> Tail {
        let mut tail = Tail {
            after: Some(after),
            ..Tail::default()
        };
        for (seq, rows) in logs {
            tail.push(*seq, rows.iter());
        }
        tail
    }

    fn push<'a>(&mut self, seq: u64, rows: impl Iterator<Item = &'a Row>) {
        self.seqs.push(seq);
        self.absorb(rows);
    }

    fn absorb<'a>(&mut self, rows: impl Iterator<Item = &'a Row>) {
        for row in rows {
            self.changes.insert((row.kind, row.id), row.body.clone());
        }
    }

    fn is_due(&self) -> bool {
        self.seqs.len() >= FOLD_AFTER_LOGS || self.changes.len() >= FOLD_AFTER_CHANGES
    }
}

/// What one conditional batch stores for `write`, and the show's tail once it is applied.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// Rows to put or delete beside the fence.
    pub rows: Vec<Row>,
    /// The tail after the batch (`None`: unknown, because the tail before it was).
    pub tail: Option<Tail>,
}

/// Plan `write` over the show's `tail` (`None` when this process does not know it): holds and
/// bookings as rows of their own; the rest in one change-log row, or, when the tail is due,
/// folded with the tail into plain rows while the tail's log rows are deleted.
pub fn plan(write: &ShowWrite, tail: Option<Tail>) -> Plan {
    let (logged, mut rows): (Vec<&Row>, Vec<Row>) = {
        let (logged, own): (Vec<&Row>, Vec<&Row>) =
            write.rows.iter().partition(|row| is_logged(row.kind));
        (logged, own.into_iter().cloned().collect())
    };
    let seq = write.next.applied_seq;
    match tail {
        Some(mut tail) if tail.is_due() => {
            tail.absorb(logged.into_iter());
            rows.extend(
                tail.changes
                    .into_iter()
                    .map(|((kind, id), body)| Row { kind, id, body }),
            );
            rows.extend(tail.seqs.into_iter().map(|seq| Row {
                kind: CHANGES_KIND,
                id: log_id(seq),
                body: None,
            }));
            Plan {
                rows,
                tail: Some(Tail {
                    after: Some(write.next),
                    ..Tail::default()
                }),
            }
        }
        tail => {
            let tail = tail.map(|mut tail| {
                if !logged.is_empty() {
                    tail.push(seq, logged.iter().copied());
                }
                tail.after = Some(write.next);
                tail
            });
            if !logged.is_empty() {
                rows.push(Row {
                    kind: CHANGES_KIND,
                    id: log_id(seq),
                    body: Some(encode(&logged)),
                });
            }
            Plan { rows, tail }
        }
    }
}

/// Stored `kind` of a change-log row (outside the engine's kinds). Its `id` carries the log
/// sequence of the batch ([`log_id`]), so a load applies the log rows in order.
pub const CHANGES_KIND: i8 = 100;

/// Whether a row of `kind` goes into the batch's change-log row rather than a row of its own.
pub fn is_logged(kind: i8) -> bool {
    [RowKind::Seat, RowKind::Outcome]
        .iter()
        .any(|k| k.code() == kind)
}

/// The clustering id of the change-log row of the batch that ends at log sequence `seq`.
pub fn log_id(seq: u64) -> Uuid {
    Uuid::from_u64_pair(0, seq)
}

/// The log sequence a change-log row's id carries.
pub fn log_seq(id: Uuid) -> u64 {
    id.as_u64_pair().1
}

/// Encode `rows` (puts and deletions) as one change-log body.
pub fn encode(rows: &[&Row]) -> Vec<u8> {
    let size = rows
        .iter()
        .map(|r| 18 + r.body.as_ref().map_or(0, |b| 4 + b.len()))
        .sum();
    let mut out = Vec::with_capacity(size);
    for row in rows {
        out.push(row.kind as u8);
        out.extend_from_slice(row.id.as_bytes());
        match &row.body {
            None => out.push(0),
            Some(body) => {
                out.push(1);
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(body);
            }
        }
    }
    out
}

/// Decode a change-log body back into its rows, in the order they were encoded.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    while !bytes.is_empty() {
        let kind = take(&mut bytes, 1)?[0] as i8;
        let id = Uuid::from_slice(take(&mut bytes, 16)?).map_err(corrupt)?;
        let body = match take(&mut bytes, 1)?[0] {
            0 => None,
            1 => {
                let len = u32::from_be_bytes(take(&mut bytes, 4)?.try_into().map_err(corrupt)?);
                Some(take(&mut bytes, len as usize)?.to_vec())
            }
            flag => return Err(StoreError::Corrupt(format!("change flag {flag}"))),
        };
        rows.push(Row { kind, id, body });
    }
    Ok(rows)
}

fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], StoreError> {
    if bytes.len() < n {
        return Err(StoreError::Corrupt("change-log row cut short".into()));
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("change-log row: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: RowKind, id: u128, body: Option<&[u8]>) -> Row {
        Row {
            kind: kind.code(),
            id: Uuid::from_u128(id),
            body: body.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn a_change_list_reads_back_as_written() {
        let rows = [
            row(RowKind::Seat, 1, Some(b"held")),
            row(RowKind::Outcome, 2, Some(&[])),
            row(RowKind::Seat, 3, None),
            row(RowKind::Meta, 0, Some(&[0xff; 300])),
        ];
        let bytes = encode(&rows.iter().collect::<Vec<_>>());
        assert_eq!(decode(&bytes).unwrap(), rows);
        assert_eq!(decode(&[]).unwrap(), []);
    }

    #[test]
    fn a_cut_or_garbled_body_is_corrupt_not_a_panic() {
        let bytes = encode(&[&row(RowKind::Seat, 1, Some(b"held"))]);
        for cut in 1..bytes.len() {
            assert!(
                matches!(decode(&bytes[..cut]), Err(StoreError::Corrupt(_))),
                "{cut}"
            );
        }
        let mut garbled = bytes.clone();
        garbled[17] = 7;
        assert!(matches!(decode(&garbled), Err(StoreError::Corrupt(_))));
    }

    fn fence(seq: u64) -> Fence {
        Fence {
            applied_seq: seq,
            owner_epoch: 1,
        }
    }

    fn write(seq: u64, rows: Vec<Row>) -> ShowWrite {
        ShowWrite {
            show_id: schemas::ShowId(Uuid::from_u128(9)),
            expected: Some(fence(seq - 1)),
            next: fence(seq),
            version: seq,
            rows,
        }
    }

    #[test]
    fn a_batch_logs_one_row_beside_its_holds_and_bookings() {
        let hold = row(RowKind::Hold, 5, Some(b"hold"));
        let seat = row(RowKind::Seat, 1, Some(b"held"));
        let outcome = row(RowKind::Outcome, 6, Some(b"ok"));
        let w = write(10, vec![seat.clone(), hold.clone(), outcome.clone()]);
        let unknown = plan(&w, None);
        let log = Row {
            kind: CHANGES_KIND,
            id: log_id(10),
            body: Some(encode(&[&seat, &outcome])),
        };
        assert_eq!(unknown.rows, [hold.clone(), log.clone()]);
        assert_eq!(unknown.tail, None);

        let known = plan(
            &w,
            Some(Tail {
                after: Some(fence(9)),
                ..Tail::default()
            }),
        );
        assert_eq!(known.rows, [hold, log]);
        let tail = known.tail.unwrap();
        assert_eq!((tail.after, tail.seqs), (Some(fence(10)), vec![10]));
        assert_eq!(tail.changes.len(), 2);
    }

    #[test]
    fn a_due_tail_is_folded_into_plain_rows_and_its_log_rows_deleted() {
        let logs: Vec<(u64, Vec<Row>)> = (1..=FOLD_AFTER_LOGS as u64)
            .map(|seq| {
                let status: &[u8] = if seq % 2 == 0 { b"booked" } else { b"held" };
                (
                    seq,
                    vec![
                        row(RowKind::Seat, 1, Some(status)),
                        row(RowKind::Outcome, seq.into(), Some(b"ok")),
                    ],
                )
            })
            .collect();
        let tail = Tail::from_logs(fence(FOLD_AFTER_LOGS as u64), &logs);
        let last = FOLD_AFTER_LOGS as u64 + 1;
        let hold = row(RowKind::Hold, 5, Some(b"hold"));
        let w = write(last, vec![hold.clone(), row(RowKind::Seat, 1, None)]);
        let folded = plan(&w, Some(tail));
        let mut expected = vec![hold, row(RowKind::Seat, 1, None)];
        expected
            .extend((1..=FOLD_AFTER_LOGS as u128).map(|id| row(RowKind::Outcome, id, Some(b"ok"))));
        expected.extend((1..=FOLD_AFTER_LOGS as u64).map(|seq| Row {
            kind: CHANGES_KIND,
            id: log_id(seq),
            body: None,
        }));
        // Plain rows in clustering order: seats (kind 0) before outcomes (kind 3).
        assert_eq!(folded.rows, expected);
        assert_eq!(
            folded.tail,
            Some(Tail {
                after: Some(fence(last)),
                ..Tail::default()
            })
        );
    }

    #[test]
    fn holds_and_bookings_keep_rows_of_their_own() {
        assert!(is_logged(RowKind::Seat.code()));
        assert!(is_logged(RowKind::Outcome.code()));
        assert!(!is_logged(RowKind::Meta.code()));
        assert!(!is_logged(RowKind::Hold.code()));
        assert!(!is_logged(RowKind::Booking.code()));
        assert_eq!(log_seq(log_id(u64::MAX - 3)), u64::MAX - 3);
    }
}
