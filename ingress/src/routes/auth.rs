//! `POST /v1/auth/guest`: anonymous guest tokens so anyone can browse and buy, at most
//! `BOXOFFICE_GUEST_PER_IP_PER_MIN` per client address and `BOXOFFICE_GUEST_PER_PREFIX_PER_MIN`
//! per network prefix: a guest comes with its own per-user limits (tickets, holds, requests), so
//! free guests would make those limits free too.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use schemas::UserId;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::{Claims, HasTokenKeys};
use crate::client::ClientIp;
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use clock::rfc3339_s;

/// A freshly issued guest token.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuestToken {
    /// Bearer token (JWT HS256).
    pub token: String,
    /// The new guest's user id (the token's `sub`).
    pub user_id: Uuid,
    /// When the token expires (RFC 3339 UTC).
    pub expires_at: String,
}

/// Issue a guest token for a new anonymous user.
#[utoipa::path(
    post,
    path = "/v1/auth/guest",
    tag = "auth",
    responses(
        (status = 201, description = "Guest token issued", body = GuestToken),
        (status = 403, description = "Guest tokens are disabled", body = Problem,
            content_type = "application/problem+json"),
    )
)]
pub async fn guest(
    State(state): State<AppState>,
    client: Option<Extension<ClientIp>>,
) -> Result<(StatusCode, Json<GuestToken>), ApiError> {
    if !state.config().guest_auth {
        return Err(ApiError::Forbidden("guest tokens are disabled"));
    }
    // Each guest is a fresh set of per-user limits, so issuing them is what must cost something.
    if let Some(Extension(ClientIp(ip))) = client
        && let Err(refused) = state.limits().check_guest(ip)
    {
        return Err(state.limits().held(refused).await);
    }
    let user = UserId(Uuid::new_v4());
    let now = state.now_s();
    let exp = now.saturating_add(state.config().guest_token_ttl_s as i64);
    let token = state.keys().sign(&Claims {
        sub: user.to_string(),
        exp,
        roles: Vec::new(),
        iat: Some(now),
    });
    metrics::counter!("boxoffice_guest_tokens_issued_total").increment(1);
    Ok((
        StatusCode::CREATED,
        Json(GuestToken {
            token,
            user_id: user.0,
            expires_at: rfc3339_s(exp),
        }),
    ))
}
