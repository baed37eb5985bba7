//! `GET /v1/shows/{showId}/seats/live`: the HTTP side of the live seat map. The fan-out itself
//! (followers, frames, viewers) is [`crate::live`]; this handler only checks the request, makes
//! sure the show exists and hands the upgraded connection over.

use axum::extract::{Request, State};
use axum::response::Response;
use hyper_util::rt::TokioIo;
use schemas::ShowId;

use crate::error::{ApiError, Problem};
use crate::extract::PathIds;
use crate::state::AppState;
use live::{deflate, upgrade};

/// Live seat statuses of a show over WebSocket (no auth). Frames are text JSON: first
/// `{"type":"SNAPSHOT","version","seats":[{"seatId","status"}]}` listing every seat, then
/// `{"type":"SEAT_UPDATE","fromVersion","version","seats":[…],"timestamp"}` where `fromVersion`
/// is the previous frame's `version`. A viewer too slow to keep up is closed with code 4001.
#[utoipa::path(get, path = "/v1/shows/{showId}/seats/live", tag = "catalog",
    params(("showId" = uuid::Uuid, Path, description = "Show id")),
    responses(
        (status = 101, description = "Switching to WebSocket: SNAPSHOT, then SEAT_UPDATE frames"),
        (status = 400, description = "invalid-request (bad id, or not a WebSocket handshake)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn seats_live(
    State(state): State<AppState>,
    path: PathIds,
    mut request: Request,
) -> Result<Response, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    let live = state.live().clone();
    if !live.is_followed(show) {
        usecases::shows::ensure_show(state.services(), show).await?;
    }
    let accept = upgrade::accept_key(request.headers())?;
    let deflate = deflate::negotiate(request.headers());
    let on_upgrade = upgrade::take_upgrade(&mut request)?;
    let ticket = live.join(show);
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(e) => {
                tracing::debug!(error = %e, "live seats upgrade failed");
                return;
            }
        };
        live.serve_connection(TokioIo::new(upgraded), ticket, deflate.is_some())
            .await;
    });
    let mut response = upgrade::switching_protocols(accept);
    if let Some(agreed) = deflate {
        response.headers_mut().insert(
            axum::http::header::SEC_WEBSOCKET_EXTENSIONS,
            agreed.response(),
        );
    }
    Ok(response)
}
