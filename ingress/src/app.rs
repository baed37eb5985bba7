//! The router: every route of the contract, the problem+json fallbacks, and the middleware stack.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT_BYTES;
use crate::middleware;
use crate::openapi::ApiDoc;
use crate::routes::{admin, auth, bookings, holds, ops, shows};
use crate::state::AppState;

/// Header carrying the request id (generated when the client sends none, echoed back).
pub const REQUEST_ID: &str = "x-request-id";

/// Every documented route. The OpenAPI document is derived from exactly this list, so the
/// published spec and the served routes cannot drift apart.
pub fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::guest))
        .routes(routes!(shows::list_events))
        .routes(routes!(shows::get_event))
        .routes(routes!(shows::seat_map))
        .routes(routes!(crate::routes::live::seats_live))
        .routes(routes!(admin::create_venue))
        .routes(routes!(admin::create_event))
        .routes(routes!(admin::create_show))
        .routes(routes!(admin::block_seats))
        .routes(routes!(admin::unblock_seats))
        .routes(routes!(crate::routes::queue::join))
        .routes(routes!(crate::routes::queue::me))
        .routes(routes!(crate::routes::queue::live))
        .routes(routes!(crate::routes::queue::set_waiting_room))
        .routes(routes!(holds::hold))
        .routes(routes!(holds::get_hold, holds::release_hold))
        .routes(routes!(bookings::confirm))
        .routes(routes!(bookings::list_bookings))
        .routes(routes!(bookings::get_booking))
        .routes(routes!(crate::routes::cancel::cancel_booking))
        .routes(routes!(crate::routes::tickets::qr_png))
        .routes(routes!(crate::routes::tickets::qr_svg))
        .routes(routes!(crate::routes::tickets::ticket_pdf))
        .routes(routes!(crate::routes::checkin::checkin))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::openapi))
}

/// The OpenAPI document of [`api_routes`].
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    split_routes().1
}

/// The routes and their finished document (with what the middleware adds to every operation).
fn split_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, mut doc) = api_routes().split_for_parts();
    crate::openapi::document_rate_limits(&mut doc);
    (routes, doc)
}

/// The complete application: routes, fallbacks and middleware, bound to `state`.
pub fn router(state: AppState) -> Router {
    let (routes, doc) = split_routes();
    let doc = ops::OpenApiJson(Arc::new(
        doc.to_pretty_json().expect("OpenAPI document serializes"),
    ));
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID);
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(axum::middleware::from_fn(middleware::record_metrics))
        .layer(axum::middleware::from_fn(middleware::guard_body_size))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(axum::Extension(doc));
    routes
        .merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(stack)
        .with_state(state)
}

fn request_span<B>(req: &Request<B>) -> tracing::Span {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound
}

async fn method_not_allowed() -> impl IntoResponse {
    ApiError::MethodNotAllowed
}

/// How long graceful shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(15);
