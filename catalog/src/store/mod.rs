//! Where the catalog keeps venues, events, shows and availability counts. Two implementations of
//! [`CatalogStore`]: [`EmbeddedStore`] (redb file under the data dir, dev mode) and [`CqlStore`]
//! (ScyllaDB / Cassandra, serve mode).

mod cql;
mod embedded;

pub use cql::{CqlStore, schema_statements};
pub use embedded::EmbeddedStore;

use async_trait::async_trait;
use schemas::{EventId, ShowId, VenueId};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::model::{Event, Show, Venue};

/// The availability projection of one show: how many seats are AVAILABLE as of seat `version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    /// Show.
    pub show_id: ShowId,
    /// Seats AVAILABLE.
    pub available_seats: u32,
    /// Seat version the count reflects; a write with an older version never replaces a newer one.
    pub version: u64,
}

/// Catalog persistence. Writes are upserts by id (so a retried create is harmless); availability
/// writes keep the highest version.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Inserts or replaces a venue.
    async fn put_venue(&self, venue: &Venue) -> Result<(), StoreError>;
    /// One venue by id.
    async fn venue(&self, id: VenueId) -> Result<Option<Venue>, StoreError>;
    /// Inserts or replaces an event.
    async fn put_event(&self, event: &Event) -> Result<(), StoreError>;
    /// One event by id.
    async fn event(&self, id: EventId) -> Result<Option<Event>, StoreError>;
    /// Every event (the search index is built from them at start).
    async fn events(&self) -> Result<Vec<Event>, StoreError>;
    /// Inserts or replaces a show (its `available_seats` here is only the initial count; the
    /// availability projection is kept apart by [`CatalogStore::put_availability`]).
    async fn put_show(&self, show: &Show) -> Result<(), StoreError>;
    /// One show by id, as stored by `put_show`.
    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError>;
    /// The shows of one event, in any order.
    async fn shows_of_event(&self, id: EventId) -> Result<Vec<Show>, StoreError>;
    /// Every show (the caller re-registers layouts with the pipeline at start).
    async fn shows(&self) -> Result<Vec<Show>, StoreError>;
    /// Stores availability counts; each keeps the higher version of stored and given.
    async fn put_availability(&self, counts: &[Availability]) -> Result<(), StoreError>;
    /// The stored availability of a show, `None` before the first seat change.
    async fn availability(&self, id: ShowId) -> Result<Option<Availability>, StoreError>;
    /// Whether no venue exists yet (the demo seed runs only then).
    async fn is_empty(&self) -> Result<bool, StoreError>;
}

/// Encodes a stored record. JSON keeps records readable and lets fields be added later with
/// defaults.
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Fatal(format!("encode: {e}")))
}

/// Decodes a stored record.
fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Fatal(format!("decode: {e}")))
}
