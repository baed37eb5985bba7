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
//!
//! Rendering: the JSON of a show's map at a version is rendered once and shared by every `GET`
//! of that version ([`RenderCache`]), its gzip form made on the first request that accepts it;
//! the version is the `ETag`, so a client holding the current map gets `304`.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use schemas::{SeatStatus, ShowId};
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

/// The rendered seat maps of the latest version of each show.
#[derive(Debug, Default)]
pub struct RenderCache {
    shows: Mutex<HashMap<ShowId, Arc<Rendered>>>,
}

/// One show's seat map at one version, rendered.
#[derive(Debug)]
pub struct Rendered {
    /// Seat version.
    pub version: u64,
    /// The JSON body.
    pub json: Bytes,
    gzip: OnceLock<Option<Bytes>>,
}

impl Rendered {
    /// The map at `version` as `json`.
    pub fn new(version: u64, json: Bytes) -> Rendered {
        Rendered {
            version,
            json,
            gzip: OnceLock::new(),
        }
    }

    /// The JSON gzipped, made once per version (`None` if compressing failed: serve it plain).
    pub fn gzip(&self) -> Option<Bytes> {
        self.gzip
            .get_or_init(|| {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.json.len() / 8),
                    flate2::Compression::fast(),
                );
                encoder.write_all(&self.json).ok()?;
                encoder.finish().ok().map(Bytes::from)
            })
            .clone()
    }

    /// The entity tag of this version.
    pub fn etag(&self) -> String {
        etag(self.version)
    }
}

/// The entity tag of a seat map at `version` (weak: `lastUpdated` is this process's view).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// Shows whose rendered map is kept at most (then the cache starts over).
pub const RENDERED_MAX: usize = 1_000;

impl RenderCache {
    /// `show`'s map at `version`: the cached one, or `render()` (kept unless a newer version
    /// is cached meanwhile).
    pub fn get_or_render(
        &self,
        show: ShowId,
        version: u64,
        render: impl FnOnce() -> Bytes,
    ) -> Arc<Rendered> {
        if let Some(cached) = lock(&self.shows)
            .get(&show)
            .filter(|r| r.version == version)
        {
            return cached.clone();
        }
        let rendered = Arc::new(Rendered::new(version, render()));
        let mut shows = lock(&self.shows);
        if shows.len() >= RENDERED_MAX && !shows.contains_key(&show) {
            shows.clear();
        }
        match shows.get(&show) {
            Some(newer) if newer.version > version => {}
            _ => {
                shows.insert(show, rendered.clone());
            }
        }
        rendered
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Statuses in layout order from the projection's copy (a seat the projection does not know is
/// shown `BLOCKED`, as for the engine's state).
pub fn status_at(statuses: &[SeatStatus], index: u32) -> SeatStatus {
    statuses
        .get(index as usize)
        .copied()
        .unwrap_or(SeatStatus::Blocked)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

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

    #[test]
    fn a_version_is_rendered_once_and_gzipped_once() {
        let cache = RenderCache::default();
        let mut renders = 0;
        let body = Bytes::from(vec![b'a'; 10_000]);
        for _ in 0..3 {
            cache.get_or_render(show(), 4, || {
                renders += 1;
                body.clone()
            });
        }
        assert_eq!(renders, 1);
        let rendered = cache.get_or_render(show(), 4, || unreachable!());
        let gzip = rendered.gzip().unwrap();
        assert!(gzip.len() < 200, "{} bytes", gzip.len());
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, body);
        // An older version rendered late does not replace the newer one.
        cache.get_or_render(show(), 5, || Bytes::from_static(b"five"));
        cache.get_or_render(show(), 4, || Bytes::from_static(b"four"));
        let kept = cache.get_or_render(show(), 5, || unreachable!());
        assert_eq!(kept.json, Bytes::from_static(b"five"));
        assert_eq!(rendered.etag(), "W/\"4\"");
    }
}
