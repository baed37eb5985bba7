//! The waiting room: `POST /v1/shows/{showId}/queue`, `GET .../queue/me`, `GET .../queue/live`
//! (WebSocket), `PUT /v1/admin/shows/{showId}/waiting-room`, and the admission check of holds.

use std::time::Duration;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use catalog::WaitingRoom as RoomSettings;
use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use queue::{
    AdmissionError, AutoSetting, JoinError, QueueEntry, TokenRefusal, UseRecord, WaitingRoom,
};
use schemas::{ShowId, UserId};
use serde::{Deserialize, Serialize};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Admin, Caller, HasTokenKeys, bearer_value};
use crate::error::{ApiError, PROBLEM_JSON as PROBLEM, Problem};
use crate::extract::{ApiJson, IdempotencyKey, PathIds, QueryParams};
use crate::idempotency;
use crate::pipeline::claim;
use crate::routes::views::ShowBody;
use crate::state::AppState;
use clock::rfc3339_ms;
use live::upgrade;

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

fn join_error(error: JoinError) -> ApiError {
    match error {
        JoinError::UnknownShow | JoinError::NoWaitingRoom => ApiError::NotFound,
        JoinError::SaleClosed => ApiError::SaleClosed,
        // Every refusal (no answer, a malformed or a wrong one) answers the same 428 with the
        // challenge to solve; the queue counts them by reason.
        JoinError::ChallengeRequired {
            challenge,
            bits,
            refusal: _,
        } => ApiError::ChallengeRequired { challenge, bits },
        JoinError::Queue(e) => e.into(),
    }
}

/// The `Challenge-Solution` header, if sent (printable, at most 64 characters).
fn challenge_solution(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
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

/// 32 bits of a command id: what the queue remembers of the join that created an entry.
fn join_tag(command: schemas::CommandId) -> u32 {
    let bytes = command.0.as_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
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
    let room = room(&state)?;
    let command_id = idempotency::command_id(caller.user, key.as_deref());
    let fingerprint = idempotency::fingerprint("queue-join", &JoinRequest { show_id: show.0 });
    claim(&state, key.as_deref(), command_id, fingerprint).await?;
    let joined = room
        .join(
            show,
            caller.user,
            join_tag(command_id),
            solution,
            state.now(),
        )
        .await
        .map_err(join_error)?;
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

/// Refuse a hold on a show whose waiting room is active unless it carries a valid admission
/// token for this show and user (`403 admission-required`). Shows without one ignore the header.
pub async fn require_admission(
    state: &AppState,
    show: ShowId,
    user: UserId,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let token = headers.get(ADMISSION_TOKEN).and_then(|v| v.to_str().ok());
    let room = room(state)?;
    let now = state.now();
    // Every hold attempt is a demand signal for automatic switch-on.
    room.note_demand(show, now);
    match room.check_admission(show, user, token, now).await {
        Ok(()) => Ok(()),
        Err(AdmissionError::Refused(refusal)) => {
            metrics::counter!("boxoffice_queue_admission_refused_total").increment(1);
            Err(ApiError::AdmissionRequired(refusal_text(refusal)))
        }
        Err(AdmissionError::Queue(e)) => Err(e.into()),
    }
}

fn refusal_text(refusal: TokenRefusal) -> &'static str {
    match refusal {
        TokenRefusal::Missing => "this show sells through a waiting room: join the queue first",
        TokenRefusal::Forged => "the admission token is not valid",
        TokenRefusal::OtherShow => "the admission token is for another show",
        TokenRefusal::OtherUser => "the admission token is for another user",
        TokenRefusal::Expired => "the admission token has expired: join the queue again",
    }
}

/// The demand guard in front of a hold by `caller` from client `ip` on `show` (of `show_seats`
/// seats): when the caller's identity is newer than `BOXOFFICE_GUARD_NEW_GUEST_S`, or the
/// client's address or network took more than its share of the show or most of its attempts are
/// refused, the hold needs the guard's proof of work (`428 challenge-required` with the reason in
/// `detail`, answered in `Challenge-Solution` on the retry, as joins are). Without a waiting room
/// in this process there is no guard.
pub fn guard_hold(
    state: &AppState,
    show: ShowId,
    caller: &Caller,
    ip: std::net::IpAddr,
    show_seats: u32,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(room) = state.waiting_room() else {
        return Ok(());
    };
    if !state.config().guard {
        return Ok(());
    }
    let now = state.now();
    let young = queue::guard::new_identity(
        caller.issued_at,
        state.now_s(),
        state.config().guard_new_guest_s,
    );
    let Some(reason) = young.or_else(|| room.guard_verdict(show, ip, show_seats, now)) else {
        return Ok(());
    };
    let solution = challenge_solution(headers)?;
    room.check_hold_challenge(show, caller.user, solution, now)
        .map_err(|issued| ApiError::GuardChallenge {
            challenge: issued.challenge,
            bits: issued.bits,
            reason,
        })
}

/// After a hold attempt the pipeline answered: count it for the demand guard (`held` seats, or
/// `None` when refused).
pub fn note_guard(state: &AppState, show: ShowId, ip: std::net::IpAddr, held: Option<usize>) {
    if let Some(room) = state.waiting_room() {
        let held = held.map(|seats| u32::try_from(seats).unwrap_or(u32::MAX));
        room.note_hold(show, ip, state.now(), held);
    }
}

/// After a hold: tell the waiting room the caller's admission turned into `seats` held seats.
/// Off the request path and bounded ([`WaitingRoom::record_use`]): the hold has succeeded, and
/// a record dropped when too many are in flight only makes pacing more cautious, whereas
/// waiting here would make a slow log slow every hold.
pub fn note_hold(state: &AppState, show: ShowId, user: UserId, seats: usize) {
    if let Some(room) = state.waiting_room() {
        let seats = u32::try_from(seats).unwrap_or(u32::MAX);
        match room.record_use(show, user, seats, state.now()) {
            UseRecord::NotAdmitted | UseRecord::Started => {}
            UseRecord::Dropped => {
                tracing::debug!(%show, "admission use not recorded: too many records in flight");
            }
        }
    }
}

/// Settings of one live-queue connection.
const LIVE_READ_BUFFER_BYTES: usize = 1024;
/// Largest message a watcher may send.
const LIVE_INBOUND_BYTES_MAX: usize = 1024;
/// How often the entry is recomputed without a change signal (expiry, estimates).
const LIVE_REFRESH: Duration = Duration::from_secs(1);
/// Least time between two pushes to one watcher (changes in between are coalesced).
const LIVE_MIN_GAP: Duration = Duration::from_millis(250);
/// Longest a push may take before the watcher is dropped as too slow.
const LIVE_WRITE_TIMEOUT: Duration = Duration::from_secs(10);

fn live_socket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(LIVE_READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(16 * 1024)
        .max_message_size(Some(LIVE_INBOUND_BYTES_MAX))
        .max_frame_size(Some(LIVE_INBOUND_BYTES_MAX))
}

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
    let accept = upgrade::accept_key(request.headers())?;
    let on_upgrade = upgrade::take_upgrade(&mut request)?;
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(
            TokioIo::new(upgraded),
            Role::Server,
            Some(live_socket_config()),
        )
        .await;
        metrics::gauge!("boxoffice_queue_live_watchers").increment(1.0);
        watch_entry(ws, room, (show, caller.user), clock).await;
        metrics::gauge!("boxoffice_queue_live_watchers").decrement(1.0);
    });
    Ok(upgrade::switching_protocols(accept))
}

/// Push the entry whenever what it shows changes, until the watcher leaves or we shut down.
async fn watch_entry<S>(
    mut ws: WebSocketStream<S>,
    room: WaitingRoom,
    (show, user): (ShowId, UserId),
    clock: clock::SharedClock,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut changes = room.subscribe(show);
    let mut closing = room.closing();
    let mut last_sent: Option<QueueEntryBody> = None;
    loop {
        changes.borrow_and_update();
        if let Ok(Some(entry)) = room.entry(show, user, clock.now()).await {
            let body = QueueEntryBody::from(entry);
            if last_sent.as_ref() != Some(&body) {
                let text = serde_json::to_string(&body).unwrap_or_default();
                match tokio::time::timeout(LIVE_WRITE_TIMEOUT, ws.send(Message::Text(text.into())))
                    .await
                {
                    Ok(Ok(())) => last_sent = Some(body),
                    Ok(Err(_)) | Err(_) => return,
                }
                tokio::time::sleep(LIVE_MIN_GAP).await;
            }
        }
        tokio::select! {
            _ = changes.changed() => {}
            () = tokio::time::sleep(LIVE_REFRESH) => {}
            () = async { let _ = closing.wait_for(|closing| *closing).await; } => {
                let frame = CloseFrame { code: CloseCode::Away, reason: "server shutting down".into() };
                let _ = tokio::time::timeout(LIVE_WRITE_TIMEOUT, ws.send(Message::Close(Some(frame)))).await;
                return;
            }
            incoming = ws.next() => match incoming {
                // Pings are answered by the socket itself; anything else from the watcher is
                // ignored. A close or a broken connection ends the watch.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_tags_come_from_the_command_id() {
        let id = schemas::CommandId(Uuid::from_u128(0x0102_0304_0000_0000_0000_0000_0000_0000));
        assert_eq!(join_tag(id), 0x0102_0304);
    }

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
