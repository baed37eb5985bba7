//! A show's seat state in the pipeline: created from the catalog's layout when first needed
//! (the catalog write and the pipeline's `CreateShow` are two writes; a crash or an outage
//! between them must not leave a show without seats), and its statuses for a seat map.

use processors::reader::ShowSnapshot;
use schemas::{Command, Fingerprint, Outcome, Rejection, SeatId, SeatStatus, ShowId, UnixMs};

use crate::projection::{CATCH_UP, Projected};
use crate::submit::{Identity, create_show_command_id, envelope, submit};
use crate::{Failure, Services};

/// Tell the pipeline to create a show's seat state from its catalog layout (idempotent: the
/// command id derives from the show).
pub async fn create_seat_state(services: &Services, show: ShowId) -> Result<(), Failure> {
    let catalog = &services.backends.catalog;
    let stored = catalog.show(show).await?;
    let layout = catalog.show_layout(show).await?;
    let command = Command::CreateShow {
        layout,
        show_time: UnixMs(stored.show_time.timestamp_millis()),
        sale_opens_at: stored.sale_opens_at.map(|t| UnixMs(t.timestamp_millis())),
    };
    let id = create_show_command_id(show);
    let identity = Identity {
        command_id: id,
        fingerprint: Fingerprint(*id.0.as_bytes()),
        keyed: false,
    };
    let reply = submit(services, envelope(services, identity, show, command)).await?;
    match reply.outcome {
        Outcome::Accepted(_) | Outcome::Rejected(Rejection::ShowAlreadyExists) => Ok(()),
        Outcome::Rejected(other) => {
            tracing::error!(%show, rejection = ?other, "pipeline refused a catalog layout");
            Err(Failure::SeatsNotReady(
                "the show's seats could not be created",
            ))
        }
    }
}

/// The show's seat state; a catalog show whose seats never reached the pipeline gets them now.
/// Unknown shows are [`Failure::NotFound`] (from the catalog).
pub async fn ensure_show(services: &Services, show: ShowId) -> Result<ShowSnapshot, Failure> {
    let reader = &services.backends.reader;
    if let Some(snapshot) = reader.show(show).await? {
        return Ok(snapshot);
    }
    create_seat_state(services, show).await?;
    reader
        .show(show)
        .await?
        .ok_or(Failure::SeatsNotReady("the show's seats are not ready yet"))
}

/// A show's seat statuses in layout order with their version: from this process's projection
/// (see [`crate::projection`]), or, when the projection does not know the show, from the store.
pub async fn seat_statuses(
    services: &Services,
    show: ShowId,
) -> Result<(u64, Vec<SeatStatus>), Failure> {
    let catalog = &services.backends.catalog;
    let projected = services
        .seat_versions
        .fresh(show, CATCH_UP, || catalog.seat_statuses(show))
        .await;
    match projected {
        Projected::Fresh(version, statuses) => return Ok((version, statuses)),
        Projected::Behind(version, statuses) => {
            metrics::counter!("boxoffice_seat_map_behind_total").increment(1);
            return Ok((version, statuses));
        }
        Projected::Unknown => {}
    }
    metrics::counter!("boxoffice_seat_map_store_reads_total").increment(1);
    let snapshot = ensure_show(services, show).await?;
    let statuses: Vec<SeatStatus> = snapshot.state.seat_statuses().map(|(_, s)| s).collect();
    catalog.sync_seats(show, snapshot.version, statuses.iter().copied());
    services.seat_versions.projection_moved();
    Ok((snapshot.version, statuses))
}

/// Take `seats` of `show` off sale (`block`) or put them back; every seat must be the show's
/// ([`Failure::NotFound`] otherwise). Answers the seat version the change was decided at.
pub async fn change_seats(
    services: &Services,
    show: ShowId,
    seats: Vec<SeatId>,
    block: bool,
    identity: Identity,
) -> Result<u64, Failure> {
    let snapshot = ensure_show(services, show).await?;
    if seats
        .iter()
        .any(|s| snapshot.state.seat_index(*s).is_none())
    {
        return Err(Failure::NotFound);
    }
    let command = if block {
        Command::Block { seats }
    } else {
        Command::Unblock { seats }
    };
    let reply = submit(services, envelope(services, identity, show, command)).await?;
    match reply.outcome {
        Outcome::Accepted(_) => Ok(reply.version),
        Outcome::Rejected(rejection) => Err(Failure::Rejected(rejection)),
    }
}
