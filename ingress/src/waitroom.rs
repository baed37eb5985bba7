//! Wiring of the waiting room ([`queue::WaitingRoom`]) into the API: where it reads shows (the
//! catalog), where it keeps its log (redb under the data dir in dev mode, a JetStream stream next
//! to the command stream in serve mode), and its settings.
//!
//! Admissions stay valid for the hold TTL (`BOXOFFICE_HOLD_TTL`): an admitted buyer gets as long
//! to pick seats as a hold then lasts.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use catalog::{Catalog, CatalogError};
use processors::store::ShowReader;
use processors::topology::Topology;
use queue::jetstream::StreamSpec;
use queue::{Directory, QueueError, RoomConfig, RoomShow, WaitingRoom};
use schemas::{ShowId, UnixMs};

use crate::config::ApiConfig;

/// File of the dev-mode waiting-room log under the data dir.
pub const LOG_FILE: &str = "waiting-room.redb";

/// Shows as the waiting room needs them: settings from the catalog (what holds check), AVAILABLE
/// seats from the source of truth (read by admission rounds only: the catalog's projection lags
/// the holds a moment, and admission pacing must see every hold already answered).
#[derive(Clone)]
pub struct CatalogDirectory {
    catalog: Arc<Catalog>,
    reader: Arc<dyn ShowReader>,
}

impl std::fmt::Debug for CatalogDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatalogDirectory").finish_non_exhaustive()
    }
}

impl CatalogDirectory {
    /// A directory over `catalog` and the seat state behind `reader`.
    pub fn new(catalog: Arc<Catalog>, reader: Arc<dyn ShowReader>) -> CatalogDirectory {
        CatalogDirectory { catalog, reader }
    }
}

#[async_trait]
impl Directory for CatalogDirectory {
    async fn show(&self, show: ShowId) -> Result<Option<RoomShow>, QueueError> {
        let stored = match self.catalog.show(show).await {
            Ok(stored) => stored,
            Err(CatalogError::ShowNotFound(_)) => return Ok(None),
            Err(e) => return Err(QueueError::Unavailable(e.to_string())),
        };
        Ok(Some(RoomShow {
            enabled: stored.waiting_room.enabled,
            admit_per_minute: stored.waiting_room.admit_per_minute,
            challenge_bits: stored.waiting_room.challenge_bits,
            sale_opens_at: stored.sale_opens_at.map(|t| UnixMs(t.timestamp_millis())),
            show_time: UnixMs(stored.show_time.timestamp_millis()),
        }))
    }

    async fn available_seats(&self, show: ShowId) -> Result<u32, QueueError> {
        let seats = self
            .reader
            .show(show)
            .await
            .map_err(|e| QueueError::Unavailable(e.to_string()))?;
        // Seats not created in the pipeline yet: nothing is sellable until they are.
        Ok(seats.map_or(0, |s| s.state.available_seats()))
    }
}

/// The service settings for `api`.
pub fn room_config(api: &ApiConfig) -> RoomConfig {
    RoomConfig::new(api.hold_ttl().as_millis() as i64)
}

/// Dev mode: the log in `<data_dir>/waiting-room.redb`, replayed at start.
pub async fn open_dev(
    api: &ApiConfig,
    directory: CatalogDirectory,
    secret: &[u8],
    data_dir: &Path,
) -> Result<WaitingRoom, QueueError> {
    WaitingRoom::open_embedded(
        &data_dir.join(LOG_FILE),
        Arc::new(directory),
        secret,
        room_config(api),
    )
    .await
}

/// The stream of the serve-mode log, named after the command stream of `topology` (so a
/// topology with its own names, a test's for example, gets its own waiting rooms too).
pub fn stream_spec(topology: &Topology) -> StreamSpec {
    StreamSpec {
        stream: format!("{}_WAITING_ROOM", topology.commands.stream),
        subject_prefix: format!("{}_waitroom", topology.commands.subject_prefix),
        replicas: topology.commands.replicas,
    }
}

/// Serve mode: the log in JetStream, shared by every ingress; returns once replayed.
pub async fn open_serve(
    api: &ApiConfig,
    client: async_nats::Client,
    topology: &Topology,
    directory: CatalogDirectory,
    secret: &[u8],
) -> Result<WaitingRoom, QueueError> {
    WaitingRoom::open_jetstream(
        client,
        stream_spec(topology),
        Arc::new(directory),
        secret,
        room_config(api),
        api.command_timeout(),
    )
    .await
}
