//! Keeping the catalog's view of seats current: the demo seed and start-up reconciliation (every
//! catalog show has seat state in the pipeline, every projection starts from the source of truth),
//! and the follower folding committed seat deltas into `availableSeats`.

use std::sync::Arc;

use catalog::DeltaOutcome;
use chrono::Utc;
use schemas::{SeatDelta, ShowId};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::server::{StartError, backend};
use ingress::state::AppState;
use usecases::shows::ensure_show;

/// Seed the demo catalog on first start, then reconcile (see [`reconcile`]). Returns how many
/// shows the seed created.
pub async fn seed_and_reconcile(state: &AppState) -> Result<usize, StartError> {
    let catalog = &state.backends().catalog;
    let created = catalog::seed::demo(catalog, Utc::now())
        .await
        .map_err(backend("demo seed"))?;
    reconcile(state).await?;
    Ok(created.len())
}

/// Make sure every catalog show has seat state in the pipeline and an availability projection
/// taken from the source of truth.
pub async fn reconcile(state: &AppState) -> Result<(), StartError> {
    let catalog = &state.backends().catalog;
    let shows = catalog.all_shows().await.map_err(backend("catalog"))?;
    for show in &shows {
        resync(state, show.show_id)
            .await
            .map_err(|e| backend("seat state")(format!("show {}: {e}", show.show_id)))?;
    }
    Ok(())
}

/// Reset a show's available-seat projection from the source of truth.
pub async fn resync(state: &AppState, show: ShowId) -> Result<u32, ingress::error::ApiError> {
    let snapshot = ensure_show(state.services(), show).await?;
    let statuses = snapshot.state.seat_statuses().map(|(_, status)| status);
    let available = state
        .backends()
        .catalog
        .sync_seats(show, snapshot.version, statuses);
    state.services().seat_versions.projection_moved();
    Ok(available)
}

/// Follow committed seat deltas until the stream closes.
pub fn spawn_seat_follower(
    state: AppState,
    mut deltas: Receiver<Arc<SeatDelta>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match deltas.recv().await {
                Ok(delta) => apply(&state, &delta).await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "seat follower lagged; resyncing every show");
                    resync_all(&state).await;
                }
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// Fold one committed seat delta into the projection (resyncing the show on a gap).
pub async fn apply(state: &AppState, delta: &SeatDelta) {
    state.services().note_seat_change(delta.show_id, delta.at);
    match state.backends().catalog.apply_seat_delta(delta) {
        DeltaOutcome::Applied { .. } => state.services().seat_versions.projection_moved(),
        DeltaOutcome::Stale => {}
        DeltaOutcome::NeedsSnapshot { .. } => {
            if let Err(e) = resync(state, delta.show_id).await {
                tracing::warn!(show = %delta.show_id, error = %e, "availability resync failed");
            }
        }
    }
}

async fn resync_all(state: &AppState) {
    let shows = match state.backends().catalog.all_shows().await {
        Ok(shows) => shows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list shows to resync");
            return;
        }
    };
    for show in shows {
        if let Err(e) = resync(state, show.show_id).await {
            tracing::warn!(show = %show.show_id, error = %e, "availability resync failed");
        }
    }
}
