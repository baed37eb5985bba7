//! Seat maps rendered for HTTP: the JSON of a show's map at a version is rendered once and
//! shared by every `GET` of that version ([`RenderCache`]), its gzip form made on the first
//! request that accepts it; the version is the `ETag`, so a client holding the current map gets
//! `304`. Which statuses a `GET` serves (the seat projection, not the store) is decided by
//! [`usecases::projection`].

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use schemas::{SeatStatus, ShowId};

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
