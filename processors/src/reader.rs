//! [`ShowReader`]: reads for the ingress that must see a write at once, served from the source of
//! truth (the show partition) through a small cache validated against the show's fence.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use engine::{BookingView, HoldView, ShowState};
use schemas::{BookingId, HoldId, ShowId, UserId};

use crate::rows;
use crate::store::{LookupKind, ShowStore, StoreError};

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
#[async_trait]
pub trait ShowReader: Send + Sync {
    /// The show's current state, or `None` if it was never created.
    async fn show(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError>;
    /// One hold with its show.
    async fn hold(&self, hold: HoldId) -> Result<Option<(ShowSnapshot, HoldView)>, StoreError>;
    /// One booking with its show.
    async fn booking(
        &self,
        booking: BookingId,
    ) -> Result<Option<(ShowSnapshot, BookingView)>, StoreError>;
    /// A user's bookings, newest first (`offset`, at most `limit`).
    async fn user_bookings(
        &self,
        user: UserId,
        offset: usize,
        limit: usize,
    ) -> Result<UserBookingsPage, StoreError>;
}

/// Shows decoded and kept by the reader at most.
pub const READER_CACHE_SHOWS_MAX: usize = 256;

/// [`ShowReader`] over any [`ShowStore`]: reads the fence (one small read), reuses the decoded
/// show if it is still current, otherwise loads the partition again.
pub struct StateReader<S> {
    store: Arc<S>,
    cache: Mutex<HashMap<ShowId, ShowSnapshot>>,
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
        }
    }

    fn cached(&self, show: ShowId, applied_seq: u64) -> Option<ShowSnapshot> {
        let cache = self.cache.lock().expect("reader cache lock");
        cache
            .get(&show)
            .filter(|s| s.applied_seq == applied_seq)
            .cloned()
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

    async fn load(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        let Some((fence, _)) = self.store.read_fence(show).await? else {
            return Ok(None);
        };
        if let Some(hit) = self.cached(show, fence.applied_seq) {
            return Ok(Some(hit));
        }
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
}

#[async_trait]
impl<S: ShowStore> ShowReader for StateReader<S> {
    async fn show(&self, show: ShowId) -> Result<Option<ShowSnapshot>, StoreError> {
        Ok(self.load(show).await?.filter(|s| s.state.exists()))
    }

    async fn hold(&self, hold: HoldId) -> Result<Option<(ShowSnapshot, HoldView)>, StoreError> {
        let Some(show) = self.store.lookup(hold.0, LookupKind::Hold).await? else {
            return Ok(None);
        };
        let Some(snapshot) = self.load(show).await? else {
            return Ok(None);
        };
        let view = snapshot.state.hold(hold);
        Ok(view.map(|v| (snapshot, v)))
    }

    async fn booking(
        &self,
        booking: BookingId,
    ) -> Result<Option<(ShowSnapshot, BookingView)>, StoreError> {
        let Some(show) = self.store.lookup(booking.0, LookupKind::Booking).await? else {
            return Ok(None);
        };
        let Some(snapshot) = self.load(show).await? else {
            return Ok(None);
        };
        let view = snapshot.state.booking(booking);
        Ok(view.map(|v| (snapshot, v)))
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
            let Some(snapshot) = self.load(entry.show_id).await? else {
                continue;
            };
            // An index row whose conditional batch failed points at nothing: skip it.
            if let Some(view) = snapshot.state.booking(entry.booking_id) {
                items.push((snapshot, view));
            }
        }
        Ok(UserBookingsPage { items, total })
    }
}
