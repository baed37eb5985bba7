//! The change-log rows of a show: the rows of a batch that nobody reads one at a time stored as
//! ONE cell, so a conditional batch writes a fixed number of cells for them whatever its size.
//! Holds and bookings, which readers fetch by id, the meta row (written once, at creation;
//! readers fetch the show's fixed facts from it) and seat rows (written only when an operator
//! blocks or unblocks seats: held and booked seats are implied by holds and bookings) stay rows
//! of their own.
//!
//! The outcomes a batch remembered go into one outcome-log row ([`OUTCOMES_KIND`]) written with a
//! TTL of the engine's outcome retention, and are never rewritten: the store forgets them by
//! itself, when the engine does (the engine allows a store to let outcomes expire instead of
//! deleting them). Nothing is folded, so no batch ever pays for rewriting earlier ones.
//!
//! Earlier builds logged seats and outcomes together in change-log rows ([`CHANGES_KIND`]) and
//! folded them into plain rows every so often; shows stored that way still load (plain rows, then
//! every log row in log order), and their next batch folds what is left of that log into plain
//! rows, deleting its rows, under the same fence. Such a show may hold outcome rows of its own,
//! which do not expire: for it (and whenever the store does not know), a forgotten outcome is
//! still deleted.
//!
//! Encoding of a change list (all integers big-endian): per change, `kind: i8`, `id: 16 bytes`,
//! then either `0x00` (deletion) or `0x01`, `len: u32`, `len` body bytes.

use std::collections::BTreeMap;

use engine::RowKind;
use uuid::Uuid;

use crate::store::{Fence, Row, ShowWrite, StoreError};

/// Time to live of an outcome-log row: the engine's outcome retention, so a stored outcome lasts
/// at least as long as the engine may be asked to recall it.
pub const OUTCOME_TTL_S: i32 = (engine::OUTCOME_RETENTION_MS / 1000) as i32;

/// A show's storage as far as this process knows it: the earlier builds' change log not yet
/// folded, and whether the show has outcome rows of its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// The fence the tail is current for: valid for the write that expects this fence.
    pub after: Option<Fence>,
    /// Sequences of the earlier builds' change-log rows not yet folded.
    pub seqs: Vec<u64>,
    /// Their changes, the latest per row.
    pub changes: BTreeMap<(i8, Uuid), Option<Vec<u8>>>,
    /// Whether the show has (or may have) outcome rows of its own, which only a delete removes.
    pub plain_outcomes: bool,
}

impl Tail {
    /// The tail of a show whose stored fence is `after`, whose plain rows are `rows` and whose
    /// earlier builds' change-log rows are `logs`.
    pub fn from_stored(after: Fence, rows: &[Row], logs: &[(u64, Vec<Row>)]) -> Tail {
        let outcome = RowKind::Outcome.code();
        let mut tail = Tail {
            after: Some(after),
            plain_outcomes: rows.iter().any(|row| row.kind == outcome),
            ..Tail::default()
        };
        for (seq, changes) in logs {
            tail.seqs.push(*seq);
            tail.absorb(changes.iter());
        }
        tail.plain_outcomes |= tail.changes.keys().any(|(kind, _)| *kind == outcome);
        tail
    }

    fn absorb<'a>(&mut self, rows: impl Iterator<Item = &'a Row>) {
        for row in rows {
            self.changes.insert((row.kind, row.id), row.body.clone());
        }
    }
}

/// What one conditional batch stores for `write`, and the show's tail once it is applied.
#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// Rows to put or delete beside the fence.
    pub rows: Vec<Row>,
    /// Rows to put with a TTL of [`OUTCOME_TTL_S`]: the batch's outcome-log row, if it
    /// remembered anything.
    pub expiring: Vec<Row>,
    /// The tail after the batch (`None`: unknown, because the tail before it was).
    pub tail: Option<Tail>,
}

/// Plan `write` over the show's `tail` (`None` when this process does not know it): the
/// remembered outcomes in one outcome-log row; forgotten ones deleted only where they may be
/// rows of their own; everything else as rows of its own, after folding what is left of an
/// earlier build's change log. Not knowing the tail, seats and forgotten outcomes go into a
/// change-log row of the earlier kind instead: a log row is applied in log order, so it is right
/// whatever logs the show still has, and the next batch that knows the tail folds it.
pub fn plan(write: &ShowWrite, tail: Option<Tail>) -> Plan {
    let outcome = RowKind::Outcome.code();
    let seq = write.next.applied_seq;
    let (remembered, rest): (Vec<&Row>, Vec<&Row>) = write
        .rows
        .iter()
        .partition(|row| row.kind == outcome && row.body.is_some());
    let mut expiring = Vec::new();
    if !remembered.is_empty() {
        expiring.push(Row {
            kind: OUTCOMES_KIND,
            id: log_id(seq),
            body: Some(encode(&remembered)),
        });
    }
    let Some(mut tail) = tail else {
        let (logged, own): (Vec<&Row>, Vec<&Row>) = rest
            .into_iter()
            .partition(|row| row.kind == outcome || row.kind == RowKind::Seat.code());
        let mut rows: Vec<Row> = own.into_iter().cloned().collect();
        if !logged.is_empty() {
            rows.push(Row {
                kind: CHANGES_KIND,
                id: log_id(seq),
                body: Some(encode(&logged)),
            });
        }
        return Plan {
            rows,
            expiring,
            tail: None,
        };
    };
    let deletes_outcomes = tail.plain_outcomes;
    let rest = rest
        .into_iter()
        .filter(|row| row.kind != outcome || deletes_outcomes);
    let mut rows = Vec::new();
    if tail.seqs.is_empty() {
        rows.extend(rest.cloned());
    } else {
        // Fold the earlier build's log, with this batch's changes absorbed so that no row is
        // written twice in one batch.
        tail.absorb(rest);
        rows.extend(
            std::mem::take(&mut tail.changes)
                .into_iter()
                .map(|((kind, id), body)| Row { kind, id, body }),
        );
        rows.extend(std::mem::take(&mut tail.seqs).into_iter().map(|seq| Row {
            kind: CHANGES_KIND,
            id: log_id(seq),
            body: None,
        }));
    }
    tail.after = Some(write.next.clone());
    Plan {
        rows,
        expiring,
        tail: Some(tail),
    }
}

/// Stored `kind` of an earlier build's change-log row (outside the engine's kinds). Its `id`
/// carries the log sequence of the batch ([`log_id`]), so a load applies the log rows in order.
pub const CHANGES_KIND: i8 = 100;

/// Stored `kind` of an outcome-log row: a batch's remembered outcomes, `id` from [`log_id`],
/// written with a TTL of [`OUTCOME_TTL_S`].
pub const OUTCOMES_KIND: i8 = 101;

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
            flag => return Err(StoreError::Corrupt(format!("change flag {flag}").into())),
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
    StoreError::Corrupt(format!("change-log row: {e}").into())
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
            partition: None,
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

    fn log(kind: i8, seq: u64, rows: &[&Row]) -> Row {
        Row {
            kind,
            id: log_id(seq),
            body: Some(encode(rows)),
        }
    }

    fn known(after: u64) -> Tail {
        Tail {
            after: Some(fence(after)),
            ..Tail::default()
        }
    }

    #[test]
    fn outcomes_go_into_one_expiring_row_beside_rows_of_their_own() {
        let hold = row(RowKind::Hold, 5, Some(b"hold"));
        let seat = row(RowKind::Seat, 1, Some(b"blocked"));
        let outcome = row(RowKind::Outcome, 6, Some(b"ok"));
        let other = row(RowKind::Outcome, 7, Some(b"no"));
        let forgotten = row(RowKind::Outcome, 2, None);
        let w = write(
            10,
            vec![
                seat.clone(),
                hold.clone(),
                outcome.clone(),
                other.clone(),
                forgotten,
            ],
        );
        let planned = plan(&w, Some(known(9)));
        // A show with no outcome rows of its own lets forgotten ones expire: nothing to delete.
        assert_eq!(planned.rows, [seat, hold]);
        assert_eq!(
            planned.expiring,
            [log(OUTCOMES_KIND, 10, &[&outcome, &other])]
        );
        assert_eq!(planned.tail, Some(known(10)));
        assert_eq!(OUTCOME_TTL_S, 25 * 3600);
    }

    #[test]
    fn forgotten_outcomes_are_deleted_where_they_may_be_rows_of_their_own() {
        let forgotten = row(RowKind::Outcome, 2, None);
        let w = write(10, vec![forgotten.clone()]);
        let legacy = Tail {
            plain_outcomes: true,
            ..known(9)
        };
        let planned = plan(&w, Some(legacy.clone()));
        assert_eq!(planned.rows, std::slice::from_ref(&forgotten));
        assert!(planned.expiring.is_empty());
        assert_eq!(
            planned.tail,
            Some(Tail {
                after: Some(fence(10)),
                ..legacy
            })
        );
        // Not knowing, the store logs the deletion in a change-log row, applied in log order.
        let unknown = plan(&w, None);
        assert_eq!(unknown.rows, [log(CHANGES_KIND, 10, &[&forgotten])]);
        assert_eq!(unknown.tail, None);
    }

    #[test]
    fn an_unknown_tail_logs_seats_so_no_older_log_row_can_override_them() {
        let hold = row(RowKind::Hold, 5, Some(b"hold"));
        let seat = row(RowKind::Seat, 1, None);
        let outcome = row(RowKind::Outcome, 6, Some(b"ok"));
        let w = write(10, vec![seat.clone(), hold.clone(), outcome.clone()]);
        let planned = plan(&w, None);
        assert_eq!(planned.rows, [hold, log(CHANGES_KIND, 10, &[&seat])]);
        assert_eq!(planned.expiring, [log(OUTCOMES_KIND, 10, &[&outcome])]);
    }

    #[test]
    fn an_earlier_builds_log_is_folded_into_plain_rows_by_the_next_batch() {
        let logs: Vec<(u64, Vec<Row>)> = (1..=3u64)
            .map(|seq| {
                let status: &[u8] = if seq % 2 == 0 {
                    b"unblocked"
                } else {
                    b"blocked"
                };
                (
                    seq,
                    vec![
                        row(RowKind::Seat, 1, Some(status)),
                        row(RowKind::Outcome, seq.into(), Some(b"ok")),
                    ],
                )
            })
            .collect();
        let tail = Tail::from_stored(fence(3), &[], &logs);
        assert!(
            tail.plain_outcomes,
            "folding writes outcome rows of its own"
        );
        let hold = row(RowKind::Hold, 5, Some(b"hold"));
        let now_unblocked = row(RowKind::Seat, 1, None);
        let fresh = row(RowKind::Outcome, 9, Some(b"ok"));
        let w = write(4, vec![hold.clone(), now_unblocked, fresh.clone()]);
        let folded = plan(&w, Some(tail));
        // Coalesced rows in clustering order: seats (kind 0), holds (1), outcomes (3).
        let mut expected = vec![row(RowKind::Seat, 1, None), hold];
        expected.extend((1..=3u128).map(|id| row(RowKind::Outcome, id, Some(b"ok"))));
        expected.extend((1..=3u64).map(|seq| Row {
            kind: CHANGES_KIND,
            id: log_id(seq),
            body: None,
        }));
        // This batch's seat change wins over the log's (absorbed, never written twice).
        assert_eq!(folded.rows, expected);
        assert_eq!(folded.expiring, [log(OUTCOMES_KIND, 4, &[&fresh])]);
        let after = folded.tail.unwrap();
        assert!(after.seqs.is_empty() && after.changes.is_empty() && after.plain_outcomes);
    }

    #[test]
    fn log_ids_carry_their_sequence() {
        assert_eq!(log_seq(log_id(u64::MAX - 3)), u64::MAX - 3);
    }
}
