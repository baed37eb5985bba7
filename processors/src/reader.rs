//! [`ShowReader`]: reads for the ingress that must see a write at once, served from the source of
//! truth (the show partition). A hold or booking is read as its own row(s) — never a scan of
//! the partition; whole-show reads go through a small cache validated by the show's applied
//! log sequence (one cheap read of a static column).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use engine::{BookingView, HoldView, RowKind, ShowState};
use schemas::{BookingId, HoldId, ShowId, UserId};
use uuid::Uuid;

use crate::rows;
use crate::store::{Fence, LookupKind, Row, ShowStore, StoreError, StoredShow, tag_key};

/// A show's state as of one applied log position.
#[derive(Clone, Debug)]
pub struct ShowSnapshot {
    /// The show.
    pub show_id: ShowId,
    /// Seat version (the `version` of the seat map and of the next seat delta's `from_version`).
    pub version: u64,
    /// Log sequence the state reflects.
    pub applied_seq: u64,
    /// The engine state: seat statuses, sections, holds, bookings.
    pub state: Arc<ShowState>,
}

/// One page of a user's bookings, newest first.
#[derive(Clone, Debug)]
pub struct UserBookingsPage {
    /// Bookings on this page, with their show.
    pub items: Vec<(ShowSnapshot, BookingView)>,
    /// Bookings the user has in total.
    pub total: usize,
}

/// Reads the ingress serves. Every by-id read reflects every write already answered.
///
/// The hold or booking a by-id read returns is current; the [`ShowSnapshot`] beside it is the
/// show as of some applied position no later than that (possibly older): use it for the show's
/// fixed facts (id, currency, layout, prices), and [`ShowReader::show`] for current seats.
#[async_trait]
pub trait ShowReader: Send + Sync {
    /// The show's current state, or `None` if it was never created.
    async fn show(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError>;
    /// One hold (current) with its show.
    async fn hold(&self, hold: HoldId) -> Result<Option<(ShowSnapshot, HoldView)>, StoreError>;
    /// One booking (current) with its show.
    async fn booking(
        &self,
        booking: BookingId,
    ) -> Result<Option<(ShowSnapshot, BookingView)>, StoreError>;
    /// A user's bookings (each current), newest first (`offset`, at most `limit`).
    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<UserBookingsPage, StoreError>;
}

/// Shows decoded and kept by the reader at most.
pub const READER_CACHE_SHOWS_MAX: usize = 256;

/// Hold and booking ids whose show the reader remembers at most (about 50 bytes each).
pub const READER_CACHE_IDS_MAX: usize = 100_000;

/// [`ShowReader`] over any [`ShowStore`]. A hold or booking is read by its row (a booking also
/// reads its hold's row) and paired with any decoded snapshot of its show already cached. A whole
/// show is read by its applied sequence first (one small read); the decoded show is reused while
/// that still matches, otherwise the partition is loaded again.
///
/// What never changes once written is kept: which show an id belongs to (its lookup row), and a
/// show's fixed facts (its meta row, written once at creation). A confirm, a cancel or a ticket
/// view then costs one read of the row it names instead of three.
pub struct StateReader<S> {
    store: Arc<S>,
    cache: Mutex<HashMap<ShowId, ShowSnapshot>>,
    facts: Mutex<HashMap<ShowId, ShowSnapshot>>,
    shows_of: Mutex<HashMap<(Uuid, i8), ShowId>>,
}

impl<S> std::fmt::Debug for StateReader<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateReader").finish_non_exhaustive()
    }
}

impl<S: ShowStore> StateReader<S> {
    /// A reader over `store`.
    pub fn new(store: Arc<S>) -> StateReader<S> {
        StateReader {
            store,
            cache: Mutex::new(HashMap::new()),
            facts: Mutex::new(HashMap::new()),
            shows_of: Mutex::new(HashMap::new()),
        }
    }

    /// The show `id` (a hold's or a booking's) belongs to: through its show's tag row when it
    /// carries a tag (one row per show, so nearly always remembered already), else through its
    /// own lookup row.
    async fn show_of(&self, id: Uuid, kind: LookupKind) -> Result<Option<ShowId>, StoreError> {
        if let Some(tag) = schemas::ids::show_tag_of(&id)
            && let Some(show) = self
                .remembered_lookup(tag_key(tag), LookupKind::ShowTag)
                .await?
        {
            return Ok(Some(show));
        }
        self.remembered_lookup(id, kind).await
    }

    /// One lookup row, remembered once found, since it never changes; a key not found is asked
    /// again next time (its row may yet be written).
    async fn remembered_lookup(
        &self,
        id: Uuid,
        kind: LookupKind,
    ) -> Result<Option<ShowId>, StoreError> {
        let key = (id, kind.code());
        if let Some(show) = self.shows_of.lock().expect("reader ids lock").get(&key) {
            return Ok(Some(*show));
        }
        let found = self.store.lookup(id, kind).await?;
        if let Some(show) = found {
            let mut known = self.shows_of.lock().expect("reader ids lock");
            if known.len() >= READER_CACHE_IDS_MAX {
                // Starting over costs one lookup per id still in use.
                known.clear();
            }
            known.insert(key, show);
        }
        Ok(found)
    }

    fn cached(&self, show: ShowId) -> Option<ShowSnapshot> {
        let cache = self.cache.lock().expect("reader cache lock");
        cache.get(&show).cloned()
    }

    fn remember(&self, snapshot: &ShowSnapshot) {
        let mut cache = self.cache.lock().expect("reader cache lock");
        if cache.len() >= READER_CACHE_SHOWS_MAX && !cache.contains_key(&snapshot.show_id) {
            // Any victim will do: the cache only saves decoding, never answers stale.
            if let Some(victim) = cache.keys().next().copied() {
                cache.remove(&victim);
            }
        }
        cache.insert(snapshot.show_id, snapshot.clone());
    }

    /// The show as of its current applied sequence.
    async fn load(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        let Some(applied_seq) = self.store.applied_seq(show).await? else {
            return Ok(None);
        };
        if let Some(hit) = self.cached(show).filter(|s| s.applied_seq == applied_seq) {
            return Ok(Some(hit));
        }
        self.reload(show).await
    }

    /// The show as of any applied position: only its fixed facts are used (see [`ShowReader`]).
    /// A cached snapshot, else the show's meta row alone (one small read, however large the show
    /// and however busy: a whole load of a show on sale may have to be read again and again
    /// while batches land between its pages), else the whole show.
    async fn show_facts(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        if let Some(hit) = self.cached(show) {
            return Ok(Some(hit));
        }
        if let Some(facts) = self.facts.lock().expect("reader facts lock").get(&show) {
            return Ok(Some(facts.clone()));
        }
        if let Some(facts) = self.facts_only(show).await? {
            let mut known = self.facts.lock().expect("reader facts lock");
            if known.len() >= READER_CACHE_SHOWS_MAX {
                known.clear();
            }
            known.insert(show, facts.clone());
            return Ok(Some(facts));
        }
        self.reload(show).await
    }

    /// The show restored from its meta row alone: its fixed facts (layout, prices, times) and
    /// no seat, hold or booking; `version` and `applied_seq` 0, so it never passes for the show's
    /// current state. `None` when the meta row is not a row of its own.
    async fn facts_only(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        let kind = RowKind::Meta.code();
        let Some(body) = self.store.read_row(show, kind, Uuid::nil()).await? else {
            return Ok(None);
        };
        let stored = StoredShow {
            fence: Fence {
                applied_seq: 0,
                owner_epoch: 0,
                partition: None,
            },
            version: 0,
            rows: vec![Row {
                kind,
                id: Uuid::nil(),
                body: Some(body),
            }],
        };
        Ok(Some(ShowSnapshot {
            show_id: show,
            version: 0,
            applied_seq: 0,
            state: Arc::new(rows::restore(show, &stored)?),
        }))
    }

    async fn reload(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        let Some(stored) = self.store.load(show).await? else {
            return Ok(None);
        };
        let state = rows::restore(show, &stored)?;
        let snapshot = ShowSnapshot {
            show_id: show,
            version: stored.version,
            applied_seq: stored.fence.applied_seq,
            state: Arc::new(state),
        };
        self.remember(&snapshot);
        Ok(Some(snapshot))
    }

    async fn hold_in(&self, show: ShowId, hold: HoldId) -> Result<Option<HoldView>, StoreError> {
        let Some(body) = self
            .store
            .read_row(show, RowKind::Hold.code(), hold.0)
            .await?
        else {
            return Ok(None);
        };
        let row = rows::decode_hold(hold, &body)?;
        Ok(Some(rows::hold_view(show, hold, &row)))
    }

    async fn booking_in(
        &self,
        show: ShowId,
        booking: BookingId,
    ) -> Result<Option<BookingView>, StoreError> {
        let kind = RowKind::Booking.code();
        let Some(body) = self.store.read_row(show, kind, booking.0).await? else {
            return Ok(None);
        };
        let row = rows::decode_booking(booking, &body)?;
        let hold_kind = RowKind::Hold.code();
        let Some(hold_body) = self.store.read_row(show, hold_kind, row.hold_id.0).await? else {
            return Err(StoreError::Corrupt(
                format!(
                    "booking {} of show {} without its hold row {}",
                    booking.0, show.0, row.hold_id.0
                )
                .into(),
            ));
        };
        let hold = rows::decode_hold(row.hold_id, &hold_body)?;
        Ok(Some(rows::booking_view(show, booking, &row, &hold)))
    }

    /// `view` with its show, or `None` if either is missing.
    async fn with_show<V>(
        &self,
        show: ShowId,
        view: Option<V>,
    ) -> Result<Option<(ShowSnapshot, V)>, StoreError> {
        let Some(view) = view else {
            return Ok(None);
        };
        Ok(self
            .show_facts(show)
            .await?
            .map(|snapshot| (snapshot, view)))
    }
}

#[async_trait]
impl<S: ShowStore> ShowReader for StateReader<S> {
    async fn show(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        Ok(self.load(show).await?.filter(|s| s.state.exists()))
    }

    async fn hold(&self, hold: HoldId) -> Result<Option<(ShowSnapshot, HoldView)>, StoreError> {
        let Some(show) = self.show_of(hold.0, LookupKind::Hold).await? else {
            return Ok(None);
        };
        // An index row whose conditional batch failed points at no row: not found.
        let view = self.hold_in(show, hold).await?;
        self.with_show(show, view).await
    }

    async fn booking(
        &self,
        booking: BookingId,
    ) -> Result<Option<(ShowSnapshot, BookingView)>, StoreError> {
        let Some(show) = self.show_of(booking.0, LookupKind::Booking).await? else {
            return Ok(None);
        };
        let view = self.booking_in(show, booking).await?;
        self.with_show(show, view).await
    }

    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<UserBookingsPage, StoreError> {
        let (refs, total) = self.store.user_bookings(user, offset, limit).await?;
        let mut items = Vec::with_capacity(refs.len());
        for entry in refs {
            // An index row whose conditional batch failed points at nothing: skip it.
            let view = self.booking_in(entry.show_id, entry.booking_id).await?;
            if let Some(item) = self.with_show(entry.show_id, view).await? {
                items.push(item);
            }
        }
        Ok(UserBookingsPage { items, total })
    }
}

/// Every booking of `show` as the store holds it now, for readers outside the pipeline (the
/// ticket sweeper): how bookings are laid out in stored rows stays this crate's business, so the
/// layout can change without them.
pub async fn show_bookings<S: ShowStore + ?Sized>(
    store: &S,
    show: ShowId,
) -> Result<Vec<BookingView>, StoreError> {
    let Some(stored) = store.load(show).await? else {
        return Ok(Vec::new());
    };
    let ids: Vec<BookingId> = stored
        .rows
        .iter()
        .filter(|row| row.kind == RowKind::Booking.code() && row.body.is_some())
        .map(|row| BookingId(row.id))
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let state = rows::restore(show, &stored)?;
    Ok(ids.into_iter().filter_map(|id| state.booking(id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::EmbeddedStore;
    use crate::fixtures::*;
    use crate::store::{Fence, ShowWrite};
    use schemas::UnixMs;

    /// Store show `s` (10 seats) in its first conditional batch with hold 2 of user 1 on `seats`;
    /// the engine state written.
    async fn store_show_with_hold(store: &impl ShowStore, s: ShowId, seats: &[u32]) -> ShowState {
        let mut state = ShowState::new(s);
        let now = UnixMs(1_000);
        state.decide(&create(s, 10), now);
        state.decide(&hold(s, 2, user(1), seats, 600_000), now);
        let write = ShowWrite {
            show_id: s,
            expected: None,
            next: Fence {
                applied_seq: 2,
                owner_epoch: 1,
                partition: None,
            },
            version: 2,
            rows: rows::encode_changes(state.take_dirty()).unwrap(),
        };
        store.persist(&write).await.unwrap();
        state
    }

    /// A held hold is found with its show's fixed facts from the meta row alone: the answer
    /// carries the show's currency and layout, not a state that could pass for the current one.
    #[tokio::test]
    async fn a_hold_comes_with_its_show_facts_from_the_meta_row() {
        let store = Arc::new(EmbeddedStore::in_memory().unwrap());
        let s = show(1);
        let state = store_show_with_hold(&*store, s, &[3, 4]).await;
        let hold = hold_id(2);
        store
            .write_index(&crate::store::IndexRows {
                lookups: vec![(hold.0, LookupKind::Hold, s)],
                user_bookings: vec![],
            })
            .await
            .unwrap();
        let reader = StateReader::new(store);
        let (snapshot, view) = reader.hold(hold).await.unwrap().expect("the hold");
        assert_eq!(view.seats.len(), 2);
        assert_eq!(snapshot.state.currency(), state.currency());
        assert_eq!(
            snapshot.applied_seq, 0,
            "facts only, never the current state"
        );
        assert!(snapshot.state.seat_index(view.seats[0]).is_some());
    }

    /// A hold read again costs one read of its row: which show it belongs to and the show's
    /// fixed facts never change, so they are read once; an id not found is asked again.
    #[tokio::test]
    async fn a_hold_read_again_reads_only_its_own_row() {
        use std::sync::atomic::Ordering::SeqCst;
        let store = Arc::new(crate::fixtures::ObservedStore::new(
            std::time::Duration::ZERO,
        ));
        let s = show(1);
        store_show_with_hold(&*store, s, &[3]).await;
        let reader = StateReader::new(store.clone());
        let missing = hold_id(2);
        assert!(reader.hold(missing).await.unwrap().is_none());
        store
            .write_index(&crate::store::IndexRows {
                lookups: vec![(missing.0, LookupKind::Hold, s)],
                user_bookings: vec![],
            })
            .await
            .unwrap();
        for _ in 0..3 {
            assert!(reader.hold(missing).await.unwrap().is_some());
        }
        // 1 + 1 lookups (the miss is not remembered); 1 meta row read; 3 hold row reads.
        assert_eq!(store.lookups.load(SeqCst), 2);
        assert_eq!(store.row_reads.load(SeqCst), 1 + 3);
    }
}
