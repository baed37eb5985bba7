//! Cross-cutting request handling, outermost first: metrics, body-size guard, timeout, rate limits.
//! Each one answers with an [`ApiError`] so even these early refusals are problem documents.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::{HasTokenKeys, bearer};
use crate::client::ClientIp;
use crate::error::ApiError;
use crate::extract::BODY_LIMIT_BYTES;
use crate::ratelimit;
use crate::state::AppState;

/// Count and time every request by route template (bounded labels: never a raw path or id).
pub async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    let labels = [("method", method), ("route", route), ("status", status)];
    metrics::counter!("boxoffice_http_requests_total", &labels).increment(1);
    metrics::histogram!("boxoffice_http_request_duration_seconds", &labels[..2])
        .record(started.elapsed().as_secs_f64());
    response
}

/// Refuse a declared body over the limit before reading it (bodies without a length are cut by
/// the body limit in the JSON extractor).
pub async fn guard_body_size(req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > BODY_LIMIT_BYTES as u64) {
        return ApiError::PayloadTooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        }
        .into_response();
    }
    next.run(req).await
}

/// Answer `503 unavailable` when a request takes longer than the configured timeout.
pub async fn timeout(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(state.config().request_timeout(), next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable("the request timed out").into_response(),
    }
}

/// Per-IP then per-user limits. A valid bearer token is verified here once and its caller stored
/// in the request extensions for the handlers; an invalid one is left for the handler to refuse
/// (public endpoints ignore it). Probes ([`ratelimit::UNLIMITED_ROUTES`]) are never limited.
/// Refusals are answered after [`ratelimit::REFUSAL_DELAY`] ([`crate::ratelimit::RateLimits::held`]).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    if route.is_some_and(|route| !ratelimit::limited(route)) {
        return next.run(req).await;
    }
    // The client address is worked out here once (trusted proxies) and left in the extensions
    // for the handlers that key on it (guest issuance, the demand guard).
    let (mut parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    if let Some(peer) = peer {
        let ip = state.proxies().client_ip(peer, &parts.headers);
        if let Err(e) = state.limits().check_ip(ip) {
            return state.limits().held(e).await.into_response();
        }
        parts.extensions.insert(ClientIp(ip));
    }
    let caller = bearer(&parts).and_then(|t| state.keys().verify(t, state.now_s()).ok());
    if let Some(caller) = caller {
        if let Err(e) = state.limits().check_user(caller.user) {
            return state.limits().held(e).await.into_response();
        }
        parts.extensions.insert(caller);
    }
    next.run(Request::from_parts(parts, body)).await
}
