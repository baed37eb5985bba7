//! Seat maps served from the seat projection every ingress keeps (the catalog's per-show seat
//! statuses, fed by the committed seat deltas), not from the store: during a sale a show's
//! version moves with every batch, and reading and restoring the whole show per `GET` put the
//! store on the path of every viewer.
//!
//! Read-your-writes within a process: [`SeatVersions`] remembers the newest seat version this
//! process answered a command at, per show. A `GET` serves the projection once it has reached
//! that version, waiting up to [`CATCH_UP`] for the delta (the processor hands it to the
//! transport before it sends the replies, so it is normally there first). A projection still
//! behind after that is served as it is (counted: `boxoffice_seat_map_behind_total`): under
//! overload a viewer gets a map a moment old rather than adding a whole-show store read to the
//! load. Only a show the projection does not know is read from the store (counted:
//! `boxoffice_seat_map_store_reads_total`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use schemas::ShowId;
use tokio::sync::Notify;

/// How long a seat-map `GET` waits for the projection to reach what this process answered.
pub const CATCH_UP: Duration = Duration::from_millis(100);

/// Shows whose answered version is remembered at most (then the memory starts over: a `GET` of a
/// forgotten show serves the projection as it is).
pub const VERSIONS_MAX: usize = 100_000;

/// Per show, the newest seat version a command answered in this process was decided at, and the
/// signal that the projection moved.
#[derive(Debug, Default)]
pub struct SeatVersions {
    answered: Mutex<HashMap<ShowId, u64>>,
    moved: Notify,
}

impl SeatVersions {
    /// A reply for `show` at seat `version` went out from this process.
    pub fn answered(&self, show: ShowId, version: u64) {
        let mut answered = lock(&self.answered);
        if answered.len() >= VERSIONS_MAX && !answered.contains_key(&show) {
            answered.clear();
        }
        let entry = answered.entry(show).or_insert(version);
        *entry = (*entry).max(version);
    }

    /// The version a seat map of `show` must have reached.
    pub fn wanted(&self, show: ShowId) -> u64 {
        lock(&self.answered).get(&show).copied().unwrap_or(0)
    }

    /// The projection applied a delta or a snapshot.
    pub fn projection_moved(&self) {
        self.moved.notify_waiters();
    }

    /// What `read` answers once its version is at least [`Self::wanted`], waiting up to `wait`
    /// for the projection to get there ([`Projected::Fresh`]); after that, what it answers then
    /// ([`Projected::Behind`]). [`Projected::Unknown`] at once when `read` knows nothing.
    pub async fn fresh<T>(
        &self,
        show: ShowId,
        wait: Duration,
        read: impl Fn() -> Option<(u64, T)>,
    ) -> Projected<T> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Registered before reading, so a move between the read and the wait is not missed.
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            let wanted = self.wanted(show);
            match read() {
                None => return Projected::Unknown,
                Some((version, value)) if version >= wanted => {
                    return Projected::Fresh(version, value);
                }
                Some((version, value)) if tokio::time::Instant::now() >= deadline => {
                    return Projected::Behind(version, value);
                }
                Some(_) => {}
            }
            let _ = tokio::time::timeout_at(deadline, moved).await;
        }
    }
}

/// What the projection has for a seat map.
#[derive(Debug, PartialEq, Eq)]
pub enum Projected<T> {
    /// At `version`, as new as every answer this process gave.
    Fresh(u64, T),
    /// At `version`, behind an answer this process gave, after waiting.
    Behind(u64, T),
    /// Nothing: the projection does not follow the show.
    Unknown,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn show() -> ShowId {
        ShowId(uuid::Uuid::from_u128(1))
    }

    #[tokio::test]
    async fn a_projection_behind_what_was_answered_is_waited_for() {
        let versions = Arc::new(SeatVersions::default());
        versions.answered(show(), 7);
        versions.answered(show(), 5);
        assert_eq!(versions.wanted(show()), 7);
        let projection = Arc::new(Mutex::new(6u64));
        let (v, p) = (versions.clone(), projection.clone());
        let mover = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            *p.lock().unwrap() = 7;
            v.projection_moved();
        });
        let read = || Some((*projection.lock().unwrap(), ()));
        let got = versions.fresh(show(), Duration::from_secs(5), read).await;
        assert_eq!(got, Projected::Fresh(7, ()));
        mover.await.unwrap();
    }

    #[tokio::test]
    async fn a_projection_that_does_not_catch_up_is_served_as_behind() {
        let versions = SeatVersions::default();
        versions.answered(show(), 9);
        let started = tokio::time::Instant::now();
        let got = versions
            .fresh(show(), Duration::from_millis(30), || Some((8u64, ())))
            .await;
        assert_eq!(got, Projected::Behind(8, ()));
        assert!(started.elapsed() >= Duration::from_millis(30));
        // Nothing to wait for when the projection does not follow the show.
        let started = tokio::time::Instant::now();
        let unknown = versions
            .fresh(show(), Duration::from_secs(60), || None::<(u64, ())>)
            .await;
        assert_eq!(unknown, Projected::Unknown);
        assert!(started.elapsed() < Duration::from_secs(1));
        // A show this process never answered for is served as the projection has it.
        let other = ShowId(uuid::Uuid::from_u128(2));
        let got = versions
            .fresh(other, Duration::ZERO, || Some((0u64, ())))
            .await;
        assert_eq!(got, Projected::Fresh(0, ()));
    }
}
