//! The available-seat projection: per show, the status of every seat as of a seat version, folded
//! from the pipeline's `SeatDelta`s. A delta only says what seats became, so the projection keeps
//! each seat's previous status (one byte per seat) to know whether the count goes up or down.
//!
//! Deltas apply only on top of the version the projection holds; an older one is ignored (it was
//! already applied), a gap asks the caller for a snapshot from the source of truth.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use schemas::{SeatDelta, SeatId, SeatStatus, ShowId};

use crate::store::Availability;

/// What applying a seat delta did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaOutcome {
    /// Applied; the show now has this many AVAILABLE seats.
    Applied {
        /// Seats AVAILABLE after the delta.
        available_seats: u32,
    },
    /// The delta's version is not newer than the projection's: already applied, nothing changed.
    Stale,
    /// The projection cannot apply the delta (it does not know this show's seats in this process,
    /// or versions between were missed). The caller reads the show's seat statuses from the source
    /// of truth and hands them to `Catalog::sync_seats`.
    NeedsSnapshot {
        /// Version the projection holds, `None` when it holds nothing for the show.
        known_version: Option<u64>,
    },
}

struct Tracker {
    version: u64,
    seat0: SeatId,
    statuses: Vec<SeatStatus>,
    available: u32,
}

impl Tracker {
    fn new(show_id: ShowId, version: u64, statuses: Vec<SeatStatus>) -> Tracker {
        let available = count_available(&statuses);
        Tracker {
            version,
            seat0: SeatId::derive(show_id, 0),
            statuses,
            available,
        }
    }

    fn apply(&mut self, delta: &SeatDelta) {
        for change in &delta.changes {
            let Some(slot) = change
                .seat_id
                .index_with_prefix(&self.seat0)
                .and_then(|i| self.statuses.get_mut(i as usize))
            else {
                // A seat outside the layout cannot come from the engine; counting it would drift.
                tracing::warn!(show = %delta.show_id, seat = %change.seat_id, "seat delta names an unknown seat");
                continue;
            };
            let was = is_available(*slot);
            let now = is_available(change.status);
            *slot = change.status;
            match (was, now) {
                (true, false) => self.available = self.available.saturating_sub(1),
                (false, true) => self.available += 1,
                (true, true) | (false, false) => {}
            }
        }
        self.version = delta.version;
    }
}

fn is_available(status: SeatStatus) -> bool {
    match status {
        SeatStatus::Available => true,
        SeatStatus::Held | SeatStatus::Booked | SeatStatus::Blocked => false,
    }
}

fn count_available(statuses: &[SeatStatus]) -> u32 {
    let n = statuses.iter().filter(|s| is_available(**s)).count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Per-show seat statuses and counts in this process, plus which counts still need storing.
#[derive(Default)]
pub struct Projection {
    trackers: Mutex<HashMap<ShowId, Tracker>>,
    dirty: Mutex<HashSet<ShowId>>,
}

impl std::fmt::Debug for Projection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projection").finish_non_exhaustive()
    }
}

impl Projection {
    /// Starts tracking a new show whose seats are all AVAILABLE at `version`.
    pub fn start(&self, show_id: ShowId, total_seats: u32, version: u64) {
        let statuses = vec![SeatStatus::Available; total_seats as usize];
        self.lock()
            .insert(show_id, Tracker::new(show_id, version, statuses));
    }

    /// Applies one delta (see [`DeltaOutcome`]).
    pub fn apply(&self, delta: &SeatDelta) -> DeltaOutcome {
        let mut trackers = self.lock();
        let Some(tracker) = trackers.get_mut(&delta.show_id) else {
            return DeltaOutcome::NeedsSnapshot {
                known_version: None,
            };
        };
        if delta.version <= tracker.version {
            return DeltaOutcome::Stale;
        }
        if delta.from_version != tracker.version {
            return DeltaOutcome::NeedsSnapshot {
                known_version: Some(tracker.version),
            };
        }
        tracker.apply(delta);
        let available_seats = tracker.available;
        drop(trackers);
        self.mark_dirty(delta.show_id);
        DeltaOutcome::Applied { available_seats }
    }

    /// Replaces a show's statuses with a snapshot at `version` unless a newer one is held.
    /// Returns the count the projection holds afterwards.
    pub fn sync(&self, show_id: ShowId, version: u64, statuses: Vec<SeatStatus>) -> u32 {
        let mut trackers = self.lock();
        let current = trackers.get(&show_id).map(|t| t.version);
        if current.is_some_and(|v| v > version) {
            return trackers.get(&show_id).map_or(0, |t| t.available);
        }
        let tracker = Tracker::new(show_id, version, statuses);
        let available = tracker.available;
        trackers.insert(show_id, tracker);
        drop(trackers);
        self.mark_dirty(show_id);
        available
    }

    /// Every seat's status in layout order and the version they are at, if this process tracks
    /// the show (a copy: a few KB, taken without holding up the deltas).
    pub fn statuses(&self, show_id: ShowId) -> Option<(u64, Vec<SeatStatus>)> {
        self.lock()
            .get(&show_id)
            .map(|t| (t.version, t.statuses.clone()))
    }

    /// The count held for a show in this process.
    pub fn get(&self, show_id: ShowId) -> Option<Availability> {
        self.lock().get(&show_id).map(|t| Availability {
            show_id,
            available_seats: t.available,
            version: t.version,
        })
    }

    /// Takes the counts changed since the last call (to be stored).
    pub fn take_dirty(&self) -> Vec<Availability> {
        let shows: Vec<ShowId> = match self.dirty.lock() {
            Ok(mut dirty) => dirty.drain().collect(),
            Err(poisoned) => poisoned.into_inner().drain().collect(),
        };
        shows.into_iter().filter_map(|s| self.get(s)).collect()
    }

    /// Puts counts back after a failed store write so the next flush retries them.
    pub fn restore_dirty(&self, counts: &[Availability]) {
        for c in counts {
            self.mark_dirty(c.show_id);
        }
    }

    fn mark_dirty(&self, show_id: ShowId) {
        match self.dirty.lock() {
            Ok(mut dirty) => dirty.insert(show_id),
            Err(poisoned) => poisoned.into_inner().insert(show_id),
        };
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ShowId, Tracker>> {
        // A panic while holding the lock leaves whole trackers (each update is a few assignments);
        // keep serving rather than poison every later read.
        self.trackers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
