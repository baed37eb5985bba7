//! The waiting room: `POST /v1/shows/{showId}/queue`, `GET .../queue/me`, `GET .../queue/live`
//! (WebSocket), `PUT /v1/admin/shows/{showId}/waiting-room`, and the admission check of holds.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use catalog::WaitingRoom as RoomSettings;
use hyper_util::rt::TokioIo;
use queue::{AutoSetting, QueueEntry, WaitingRoom};
use schemas::{ShowId, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Caller, HasTokenKeys, bearer_value};
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey, PathIds, QueryParams};
use crate::routes::views::ShowBody;
use crate::state::AppState;
use clock::rfc3339_ms;
use live::upgrade;
use live::wire::Message;
use usecases::submit::Identity;

/// Header carrying the admission token on hold requests.
pub const ADMISSION_TOKEN: &str = "admission-token";

/// Header carrying the proof-of-work nonce on a join.
pub const CHALLENGE_SOLUTION: &str = "challenge-solution";

/// A buyer's place in a show's waiting room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueEntryBody {
    /// Show.
    pub show_id: Uuid,
    /// `WAITING`, `ADMITTED`, `EXPIRED` or `SOLD_OUT`.
    pub status: &'static str,
    /// Place in the admission order; null until the sale opens for those who joined before it
    /// (they are shuffled into random order at the opening).
    pub queue_number: Option<u32>,
    /// WAITING entries ahead plus one; 0 once admitted; null until the opening.
    pub position: Option<u32>,
    /// Rough wait in seconds; null when unknown (sold out).
    pub estimated_wait_seconds: Option<u64>,
    /// Why the entry is in its status (always present for `SOLD_OUT`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `ADMITTED`: the token for the `Admission-Token` header of holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_token: Option<String>,
    /// When `ADMITTED`: when the token lapses (RFC 3339 UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admission_expires_at: Option<String>,
}

impl From<QueueEntry> for QueueEntryBody {
    fn from(entry: QueueEntry) -> Self {
        QueueEntryBody {
            show_id: entry.show.0,
            status: entry.status.as_str(),
            queue_number: entry.queue_number,
            position: entry.position,
            estimated_wait_seconds: entry.estimated_wait_s,
            message: entry.message,
            admission_expires_at: entry.admission.as_ref().map(|a| rfc3339_ms(a.expires_at)),
            admission_token: entry.admission.map(|a| a.token),
        }
    }
}

/// The waiting-room service, or 503 when this process runs without one.
fn room(state: &AppState) -> Result<&WaitingRoom, ApiError> {
    state
        .waiting_room()
        .ok_or_else(|| ApiError::unavailable("the waiting room is not running"))
}

/// The `Challenge-Solution` header, if sent (printable, at most 64 characters).
pub fn challenge_solution(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(CHALLENGE_SOLUTION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= queue::token::SOLUTION_LEN_MAX)
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid("Challenge-Solution", "must be 1..64 printable characters")
        })
}

/// Request identity of a join (for the idempotency fingerprint).
#[derive(Serialize)]
struct JoinRequest {
    show_id: Uuid,
}

/// A header's value as text, if sent and printable.
pub fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Join a show's waiting room (joining again returns the same entry with 200).
#[utoipa::path(post, path = "/v1/shows/{showId}/queue", tag = "waiting-room",
    params(("showId" = Uuid, Path, description = "Show id"),
        ("Idempotency-Key" = Option<String>, Header, description = "1..255 printable characters"),
        ("Challenge-Solution" = Option<String>, Header, description = "Nonce such that SHA-256(challenge + nonce) has `bits` leading zero bits")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Joined", body = QueueEntryBody),
        (status = 200, description = "Already in the queue: the same entry", body = QueueEntryBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "sale-closed", body = Problem, content_type = PROBLEM),
        (status = 404, description = "no such show, or no active waiting room", body = Problem, content_type = PROBLEM),
        (status = 422, description = "idempotency-key-reused", body = Problem, content_type = PROBLEM),
        (status = 428, description = "challenge-required (with challenge and bits)", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn join(
    State(state): State<AppState>,
    caller: Caller,
    IdempotencyKey(key): IdempotencyKey,
    path: PathIds,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    let solution = challenge_solution(&headers)?;
    let request = JoinRequest { show_id: show.0 };
    let identity = Identity::of(caller.user, key.as_deref(), "queue-join", &request);
    let services = state.services();
    let joined = usecases::admission::join(services, show, caller.user, solution, identity).await?;
    let status = if joined.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(QueueEntryBody::from(joined.entry))).into_response())
}

/// The caller's entry in a show's waiting room; when `ADMITTED` it carries the admission token.
#[utoipa::path(get, path = "/v1/shows/{showId}/queue/me", tag = "waiting-room",
    params(("showId" = Uuid, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's entry", body = QueueEntryBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "no such show, or the caller has not joined", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    path: PathIds,
) -> Result<Json<QueueEntryBody>, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    let entry = room(&state)?
        .entry(show, caller.user, state.now())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(entry.into()))
}

/// Body of `PUT /v1/admin/shows/{showId}/waiting-room`: the contract's fields plus the show's
/// automatic switch-on.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitingRoomUpdate {
    /// Whether buyers queue.
    pub enabled: bool,
    /// Admissions per minute.
    #[serde(default)]
    pub admit_per_minute: u32,
    /// Proof-of-work bits to join (0 or absent: none).
    #[serde(default)]
    pub challenge_bits: Option<u8>,
    /// Switch the room on automatically when hold attempts on the show average at least this
    /// many per second (0: never). Absent: the deployment's default applies, except that
    /// switching the room off (`enabled: false`) also stops automatic switch-on for the show
    /// until a threshold is given again.
    #[serde(default)]
    pub auto_above_per_second: Option<u32>,
}

impl WaitingRoomUpdate {
    /// The show's automatic switch-on after this update, when it changes: an explicit
    /// threshold, or never after an explicit switch-off (the admin's decision stands over
    /// demand).
    fn auto_setting(&self) -> Option<AutoSetting> {
        match (self.auto_above_per_second, self.enabled) {
            (Some(per_s), _) => Some(AutoSetting::from_per_s(per_s)),
            (None, false) => Some(AutoSetting::Never),
            (None, true) => None,
        }
    }
}

/// Switch a show's waiting room on or off, set its pace and its proof-of-work difficulty
/// (`challengeBits` 0 or absent: no challenge), and its automatic switch-on
/// (`autoAbovePerSecond`). The admin's decision replaces an automatic switch-on.
#[utoipa::path(put, path = "/v1/admin/shows/{showId}/waiting-room", tag = "admin",
    request_body = WaitingRoomUpdate,
    params(("showId" = Uuid, Path, description = "Show id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The show with its new settings", body = ShowBody),
        (status = 400, description = "invalid-request", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 403, description = "forbidden", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn set_waiting_room(
    State(state): State<AppState>,
    _admin: Admin,
    path: PathIds,
    ApiJson(body): ApiJson<WaitingRoomUpdate>,
) -> Result<Json<ShowBody>, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    let settings = RoomSettings {
        enabled: body.enabled,
        admit_per_minute: body.admit_per_minute,
        challenge_bits: body.challenge_bits.filter(|bits| *bits > 0),
    };
    let updated = state
        .backends()
        .catalog
        .set_waiting_room(show, settings)
        .await?;
    if let Some(room) = state.waiting_room() {
        room.forget_show(show);
        if let Some(setting) = body.auto_setting() {
            room.set_auto(show, setting, state.now()).await?;
        }
    }
    Ok(Json(updated.view(state.now_utc()).into()))
}

/// How often the entry is recomputed without a change signal (expiry, estimates).
const LIVE_REFRESH: Duration = Duration::from_secs(1);
/// Least time between two pushes to one watcher (changes in between are coalesced).
const LIVE_MIN_GAP: Duration = Duration::from_millis(250);
/// Entries a watcher may be behind before it is closed as too slow (at one push per
/// [`LIVE_MIN_GAP`], a few seconds of a socket taking nothing).
const LIVE_FRAMES: usize = 16;

/// The caller's entry pushed over WebSocket whenever it changes (auth with `?token=<JWT>`):
/// text frames, each a QueueEntry.
#[utoipa::path(get, path = "/v1/shows/{showId}/queue/live", tag = "waiting-room",
    params(("showId" = Uuid, Path, description = "Show id"),
        ("token" = String, Query, description = "Bearer token (JWT) of the caller")),
    responses(
        (status = 101, description = "Switching to WebSocket: QueueEntry frames"),
        (status = 400, description = "invalid-request (bad id, or not a WebSocket handshake)", body = Problem, content_type = PROBLEM),
        (status = 401, description = "unauthenticated", body = Problem, content_type = PROBLEM),
        (status = 404, description = "not-found", body = Problem, content_type = PROBLEM),
        (status = 503, description = "unavailable", body = Problem, content_type = PROBLEM),
    ))]
pub async fn live(
    State(state): State<AppState>,
    path: PathIds,
    query: QueryParams,
    mut request: Request,
) -> Result<Response, ApiError> {
    let show = ShowId(path.uuid("showId")?);
    let token = query
        .get("token")
        .or_else(|| {
            request
                .headers()
                .get("authorization")
                .and_then(bearer_value)
        })
        .ok_or(ApiError::Unauthenticated("missing token"))?;
    let caller = state
        .keys()
        .verify(token, state.now_s())
        .map_err(|_| ApiError::Unauthenticated("invalid or expired token"))?;
    let room = room(&state)?.clone();
    if room.show(show).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let clock = state.backends().clock.clone();
    let tuning = state.config().live.tuning();
    let accept = upgrade::accept_key(request.headers())?;
    let on_upgrade = upgrade::take_upgrade(&mut request)?;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let (entries, frames) = tokio::sync::broadcast::channel(LIVE_FRAMES);
        let pusher = tokio::spawn(push_entry(entries, room, (show, caller.user), clock));
        metrics::gauge!("boxoffice_queue_live_watchers").increment(1.0);
        live::viewer::serve_messages(TokioIo::new(upgraded), frames, &tuning, false).await;
        pusher.abort();
        metrics::gauge!("boxoffice_queue_live_watchers").decrement(1.0);
    });
    Ok(upgrade::switching_protocols(accept))
}

/// Push the entry whenever what it shows changes, until the watcher leaves (no receiver) or
/// the room shuts down (the sender is dropped: the watcher gets 1001).
async fn push_entry(
    entries: tokio::sync::broadcast::Sender<Message>,
    room: WaitingRoom,
    (show, user): (ShowId, UserId),
    clock: clock::SharedClock,
) {
    let mut changes = room.subscribe(show);
    let mut closing = room.closing();
    let mut last_sent: Option<QueueEntryBody> = None;
    loop {
        changes.borrow_and_update();
        if let Ok(Some(entry)) = room.entry(show, user, clock.now()).await {
            let body = QueueEntryBody::from(entry);
            if last_sent.as_ref() != Some(&body) {
                let text = serde_json::to_vec(&body).unwrap_or_default();
                if entries.send(Message::text(Bytes::from(text))).is_err() {
                    return;
                }
                last_sent = Some(body);
                tokio::time::sleep(LIVE_MIN_GAP).await;
            }
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(LIVE_REFRESH) => {}
            () = async { let _ = closing.wait_for(|closing| *closing).await; } => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_switch_off_stops_automatic_switch_on_unless_a_threshold_is_given() {
        let update = |enabled, auto_above_per_second| WaitingRoomUpdate {
            enabled,
            admit_per_minute: 60,
            challenge_bits: None,
            auto_above_per_second,
        };
        assert_eq!(update(true, None).auto_setting(), None);
        assert_eq!(update(false, None).auto_setting(), Some(AutoSetting::Never));
        assert_eq!(
            update(false, Some(0)).auto_setting(),
            Some(AutoSetting::Never)
        );
        assert_eq!(
            update(false, Some(40)).auto_setting(),
            Some(AutoSetting::Above(40))
        );
        assert_eq!(
            update(true, Some(40)).auto_setting(),
            Some(AutoSetting::Above(40))
        );
    }

    #[test]
    fn challenge_solutions_are_checked_for_shape() {
        let mut headers = HeaderMap::new();
        assert_eq!(challenge_solution(&headers).unwrap(), None);
        headers.insert(CHALLENGE_SOLUTION, "12345".parse().unwrap());
        assert_eq!(challenge_solution(&headers).unwrap(), Some("12345"));
        headers.insert(CHALLENGE_SOLUTION, "1".repeat(65).parse().unwrap());
        assert!(challenge_solution(&headers).is_err());
    }
}
