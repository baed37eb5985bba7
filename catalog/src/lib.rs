//! The catalog: venues, events and shows, their seat layouts, event search, and the
//! available-seat projection.
//!
//! # Layout
//! - [`model`]: the nouns (`Venue`, `Event`, `Show`, ...) and request types that deserialize from
//!   the contract's JSON bodies.
//! - [`validate`]: input checks naming the offending field ([`ValidationError`]).
//! - [`status`]: the pure show-status function ([`show_status`]).
//! - [`layout`]: building a show's `schemas::ShowLayout` (stable seat ids, drawing coordinates) and
//!   the cached, immutable [`SeatMap`] read model with O(1) seat lookups.
//! - [`search`]: the tantivy index over events (stemmed full text, city/category/date filters).
//! - [`availability`]: folding `SeatDelta`s into per-show AVAILABLE counts.
//! - [`store`]: the [`CatalogStore`] trait with [`EmbeddedStore`] (redb, dev mode) and [`CqlStore`]
//!   (ScyllaDB/Cassandra, serve mode).
//! - [`seed`]: the demo catalog for `boxoffice dev`.
//!
//! A request flows: the ingress parses a body into a request type -> [`Catalog`] validates it, writes
//! the store, updates the search index and caches -> returns the domain object. Creating a show also
//! returns its `ShowLayout`; the caller sends it to the pipeline as `Command::CreateShow` (the
//! catalog owns no bus). Seat deltas from the pipeline flow into [`Catalog::apply_seat_delta`].

pub mod availability;
pub mod error;
pub mod layout;
pub mod model;
pub mod search;
pub mod seed;
pub mod status;
pub mod store;
pub mod validate;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use schemas::{EventId, SeatDelta, SeatId, SeatStatus, ShowId, ShowLayout, VenueId};
use uuid::Uuid;

pub use availability::DeltaOutcome;
pub use error::{CatalogError, StoreError, ValidationError};
pub use layout::{SeatDetail, SeatMap, SeatMapSeat, SeatMapSection, build_show_layout};
pub use model::{
    Category, Event, EventDetail, EventQuery, EventSummary, NewEvent, NewShow, NewVenue, Page,
    Show, ShowView, Venue, VenueRow, VenueSection, WaitingRoom,
};
pub use status::{ShowStatus, show_status};
pub use store::{Availability, CatalogStore, CqlStore, EmbeddedStore};

use availability::Projection;
use search::SearchIndex;

/// Most seat maps kept in memory; older ones are rebuilt on demand (a 50,000-seat map is ~2 MB).
pub const SEAT_MAP_CACHE_MAX: usize = 64;

/// A show just created: the stored show and the layout to send to the pipeline in
/// `Command::CreateShow { layout, show_time, sale_opens_at }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedShow {
    /// The stored show.
    pub show: Show,
    /// Its seat layout (seat ids `SeatId::derive(show_id, index)`).
    pub layout: ShowLayout,
}

/// The catalog service: one per process, shared behind an `Arc`.
pub struct Catalog {
    store: Arc<dyn CatalogStore>,
    index: SearchIndex,
    /// Every event's summary, for ordering and paging search hits without store reads.
    summaries: RwLock<HashMap<EventId, EventSummary>>,
    seat_maps: Mutex<SeatMapCache>,
    projection: Projection,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct SeatMapCache {
    maps: HashMap<ShowId, (u64, Arc<SeatMap>)>,
    clock: u64,
}

impl Catalog {
    /// Opens a catalog over `store` and builds the search index from the stored events.
    pub async fn open(store: Arc<dyn CatalogStore>) -> Result<Catalog, CatalogError> {
        let catalog = Catalog {
            store,
            index: SearchIndex::new()?,
            summaries: RwLock::new(HashMap::new()),
            seat_maps: Mutex::new(SeatMapCache::default()),
            projection: Projection::default(),
        };
        catalog.refresh_search().await?;
        Ok(catalog)
    }

    /// Opens the dev-mode catalog stored in `<data_dir>/catalog.redb`.
    pub async fn open_embedded(data_dir: &Path) -> Result<Catalog, CatalogError> {
        let store = EmbeddedStore::open(data_dir)?;
        Catalog::open(Arc::new(store)).await
    }

    /// The store behind this catalog.
    pub fn store(&self) -> &Arc<dyn CatalogStore> {
        &self.store
    }

    /// Re-reads every event from the store into the search index. Another process (a second
    /// ingress in serve mode) may have created events; calling this periodically picks them up.
    pub async fn refresh_search(&self) -> Result<(), CatalogError> {
        let events = self.store.events().await?;
        let fresh: Vec<Event> = {
            let known = read(&self.summaries);
            events
                .into_iter()
                .filter(|e| known.get(&e.event_id) != Some(&e.summary()))
                .collect()
        };
        if fresh.is_empty() {
            return Ok(());
        }
        self.index.upsert(&fresh)?;
        let mut summaries = write(&self.summaries);
        for e in &fresh {
            summaries.insert(e.event_id, e.summary());
        }
        Ok(())
    }

    // ---- venues ----

    /// Validates and stores a new venue.
    pub async fn create_venue(&self, new: NewVenue) -> Result<Venue, CatalogError> {
        validate::venue(&new)?;
        let total_seats = new
            .sections
            .iter()
            .flat_map(|s| s.rows.iter().map(|r| r.seats))
            .sum();
        let venue = Venue {
            venue_id: VenueId(Uuid::new_v4()),
            name: new.name,
            city: new.city,
            sections: new.sections,
            total_seats,
        };
        self.store.put_venue(&venue).await?;
        Ok(venue)
    }

    /// One venue.
    pub async fn venue(&self, id: VenueId) -> Result<Venue, CatalogError> {
        self.store
            .venue(id)
            .await?
            .ok_or(CatalogError::VenueNotFound(id))
    }

    // ---- events ----

    /// Validates and stores a new event at an existing venue, and indexes it for search at once.
    pub async fn create_event(&self, new: NewEvent) -> Result<Event, CatalogError> {
        validate::event(&new)?;
        let venue = self.venue(new.venue_id).await?;
        let event = Event {
            event_id: EventId(Uuid::new_v4()),
            title: new.title,
            description: new.description,
            category: new.category,
            city: new.city,
            venue_id: venue.venue_id,
            venue_name: venue.name,
            start_date: new.start_date,
            end_date: new.end_date,
            poster_url: new.poster_url,
        };
        self.store.put_event(&event).await?;
        self.index.upsert(std::slice::from_ref(&event))?;
        write(&self.summaries).insert(event.event_id, event.summary());
        Ok(event)
    }

    /// One event.
    pub async fn event(&self, id: EventId) -> Result<Event, CatalogError> {
        self.store
            .event(id)
            .await?
            .ok_or(CatalogError::EventNotFound(id))
    }

    /// The contract's Event: the event with its shows (ordered by show time) as of `now`.
    pub async fn event_detail(
        &self,
        id: EventId,
        now: DateTime<Utc>,
    ) -> Result<EventDetail, CatalogError> {
        let event = self.event(id).await?;
        let shows = self.shows_of_event(id).await?;
        Ok(EventDetail {
            event,
            shows: shows.iter().map(|s| s.view(now)).collect(),
        })
    }

    /// Searches events (see [`EventQuery`]). With a text query, hits are ranked best first (ties
    /// by start date, title, id); without one, ordered by start date, then title, then id.
    pub async fn search(&self, q: &EventQuery) -> Result<Page<EventSummary>, CatalogError> {
        validate::query(q)?;
        let hits = self.index.search(q)?;
        let summaries = read(&self.summaries);
        let mut found: Vec<(f32, &EventSummary)> = hits
            .events
            .iter()
            .filter_map(|(id, score)| summaries.get(id).map(|s| (*score, s)))
            .collect();
        found.sort_by(|(score_a, a), (score_b, b)| {
            score_b
                .total_cmp(score_a)
                .then(a.start_date.cmp(&b.start_date))
                .then_with(|| a.title.cmp(&b.title))
                .then(a.event_id.cmp(&b.event_id))
        });
        let total = found.len() as u64;
        let skip = (q.page as usize - 1).saturating_mul(q.limit as usize);
        let items = found
            .into_iter()
            .skip(skip)
            .take(q.limit as usize)
            .map(|(_, s)| s.clone())
            .collect();
        Ok(Page {
            items,
            page: q.page,
            limit: q.limit,
            total,
        })
    }

    // ---- shows ----

    /// Validates and stores a new show of an event, at the event's venue. Returns the show and the
    /// layout the caller must send to the pipeline (`Command::CreateShow`).
    pub async fn create_show(
        &self,
        event_id: EventId,
        new: NewShow,
    ) -> Result<CreatedShow, CatalogError> {
        validate::show(&new)?;
        let event = self.event(event_id).await?;
        let venue = self.venue(event.venue_id).await?;
        let show_id = ShowId(Uuid::new_v4());
        let layout = build_show_layout(show_id, &venue);
        let show = Show {
            show_id,
            event_id,
            venue_id: venue.venue_id,
            show_time: new.show_time,
            sale_opens_at: new.sale_opens_at,
            total_seats: venue.total_seats,
            available_seats: venue.total_seats,
            seats_version: 0,
            min_price_minor: venue.min_price_minor(),
            currency: venue.currency().to_owned(),
            waiting_room: new.waiting_room.unwrap_or(WaitingRoom::OFF),
        };
        self.store.put_show(&show).await?;
        self.projection.start(show_id, show.total_seats, 0);
        let map = SeatMap::new(show_id, show.event_id, venue.venue_id, &venue.name, &layout);
        self.cache_seat_map(Arc::new(map));
        Ok(CreatedShow { show, layout })
    }

    /// One show, with the freshest available-seat count this process knows.
    pub async fn show(&self, id: ShowId) -> Result<Show, CatalogError> {
        let show = self
            .store
            .show(id)
            .await?
            .ok_or(CatalogError::ShowNotFound(id))?;
        self.with_availability(show).await
    }

    /// The shows of an event ordered by show time.
    pub async fn shows_of_event(&self, id: EventId) -> Result<Vec<Show>, CatalogError> {
        let mut shows = Vec::new();
        for show in self.store.shows_of_event(id).await? {
            shows.push(self.with_availability(show).await?);
        }
        shows.sort_by(|a, b| {
            a.show_time
                .cmp(&b.show_time)
                .then(a.show_id.cmp(&b.show_id))
        });
        Ok(shows)
    }

    /// Every show (for example to re-send `CreateShow` for shows whose creation a crash
    /// interrupted; the engine ignores a show it already has).
    pub async fn all_shows(&self) -> Result<Vec<Show>, CatalogError> {
        Ok(self.store.shows().await?)
    }

    /// Replaces a show's waiting-room settings and returns the updated show.
    pub async fn set_waiting_room(
        &self,
        id: ShowId,
        room: WaitingRoom,
    ) -> Result<Show, CatalogError> {
        validate::waiting_room(&room, "")?;
        let mut show = self
            .store
            .show(id)
            .await?
            .ok_or(CatalogError::ShowNotFound(id))?;
        show.waiting_room = room;
        self.store.put_show(&show).await?;
        self.with_availability(show).await
    }

    /// The layout of an existing show, rebuilt from its venue (identical to the one returned at
    /// creation).
    pub async fn show_layout(&self, id: ShowId) -> Result<ShowLayout, CatalogError> {
        let show = self
            .store
            .show(id)
            .await?
            .ok_or(CatalogError::ShowNotFound(id))?;
        let venue = self.venue(show.venue_id).await?;
        Ok(build_show_layout(id, &venue))
    }

    /// The immutable seat map of a show, built once and cached.
    pub async fn seat_map(&self, id: ShowId) -> Result<Arc<SeatMap>, CatalogError> {
        if let Some(map) = self.cached_seat_map(id) {
            return Ok(map);
        }
        let show = self
            .store
            .show(id)
            .await?
            .ok_or(CatalogError::ShowNotFound(id))?;
        let venue = self.venue(show.venue_id).await?;
        let layout = build_show_layout(id, &venue);
        let map = Arc::new(SeatMap::new(
            id,
            show.event_id,
            venue.venue_id,
            &venue.name,
            &layout,
        ));
        self.cache_seat_map(Arc::clone(&map));
        Ok(map)
    }

    /// Where a seat of a show is (section, row, number, price); `Ok(None)` if the id is not a seat
    /// of this show.
    pub async fn seat_detail(
        &self,
        show: ShowId,
        seat: SeatId,
    ) -> Result<Option<SeatDetail>, CatalogError> {
        Ok(self.seat_map(show).await?.seat(seat))
    }

    // ---- availability projection ----

    /// Folds one committed seat delta into the show's AVAILABLE count (idempotent: older versions
    /// are ignored). On [`DeltaOutcome::NeedsSnapshot`] call [`Catalog::sync_seats`].
    pub fn apply_seat_delta(&self, delta: &SeatDelta) -> DeltaOutcome {
        self.projection.apply(delta)
    }

    /// A show's seat statuses in layout order at the version the projection holds, if this
    /// process follows the show: what seat maps are served from, without a store read.
    pub fn seat_statuses(&self, show: ShowId) -> Option<(u64, Vec<SeatStatus>)> {
        self.projection.statuses(show)
    }

    /// Resets a show's projection from a snapshot: every seat's status in layout order at
    /// `version` (ignored if the projection already holds a newer version). Returns the count.
    pub fn sync_seats(
        &self,
        show: ShowId,
        version: u64,
        statuses: impl IntoIterator<Item = SeatStatus>,
    ) -> u32 {
        self.projection
            .sync(show, version, statuses.into_iter().collect())
    }

    /// Stores a show's AVAILABLE count computed elsewhere (keeps the higher version).
    pub async fn set_available(
        &self,
        show: ShowId,
        available_seats: u32,
        version: u64,
    ) -> Result<(), CatalogError> {
        let count = Availability {
            show_id: show,
            available_seats,
            version,
        };
        Ok(self.store.put_availability(&[count]).await?)
    }

    /// Writes the counts changed since the last flush to the store (one write for all). Counts are
    /// served from memory meanwhile; storing them keeps other processes and restarts current.
    pub async fn flush_availability(&self) -> Result<usize, CatalogError> {
        let dirty = self.projection.take_dirty();
        if dirty.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.store.put_availability(&dirty).await {
            self.projection.restore_dirty(&dirty);
            return Err(e.into());
        }
        Ok(dirty.len())
    }

    /// Spawns a task flushing availability every `period` until the catalog is dropped.
    pub fn spawn_availability_flusher(
        self: &Arc<Self>,
        period: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Catalog> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(catalog) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = catalog.flush_availability().await {
                    tracing::warn!(error = %e, "availability flush failed; will retry");
                }
            }
        })
    }

    /// Spawns a task calling [`Catalog::refresh_search`] every `period` until the catalog is
    /// dropped. Needed only when several processes create events in one store (serve mode with
    /// more than one ingress): the contract lets search lag by up to 1 s.
    pub fn spawn_search_refresher(
        self: &Arc<Self>,
        period: Duration,
    ) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Catalog> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let Some(catalog) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = catalog.refresh_search().await {
                    tracing::warn!(error = %e, "search refresh failed; will retry");
                }
            }
        })
    }

    async fn with_availability(&self, mut show: Show) -> Result<Show, CatalogError> {
        let known = match self.projection.get(show.show_id) {
            Some(count) => Some(count),
            None => self.store.availability(show.show_id).await?,
        };
        if let Some(count) = known.filter(|c| c.version >= show.seats_version) {
            show.available_seats = count.available_seats;
            show.seats_version = count.version;
        }
        Ok(show)
    }

    fn cached_seat_map(&self, id: ShowId) -> Option<Arc<SeatMap>> {
        let mut cache = lock(&self.seat_maps);
        cache.clock += 1;
        let clock = cache.clock;
        cache.maps.get_mut(&id).map(|(used, map)| {
            *used = clock;
            Arc::clone(map)
        })
    }

    fn cache_seat_map(&self, map: Arc<SeatMap>) {
        let mut cache = lock(&self.seat_maps);
        cache.clock += 1;
        let clock = cache.clock;
        if cache.maps.len() >= SEAT_MAP_CACHE_MAX && !cache.maps.contains_key(&map.show_id) {
            let oldest = cache
                .maps
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(id, _)| *id);
            if let Some(oldest) = oldest {
                cache.maps.remove(&oldest);
            }
        }
        cache.maps.insert(map.show_id, (clock, map));
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
