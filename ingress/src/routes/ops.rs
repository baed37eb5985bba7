//! Operations endpoints: liveness, readiness and the OpenAPI document on the API, and the
//! Prometheus text the metrics address serves.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, Problem};
use crate::state::AppState;

/// How long one readiness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Body of the health endpoints.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when healthy.
    pub status: &'static str,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready to serve: every backing service reachable and state loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = Health),
        (status = 503, description = "A backing service is not ready", body = Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    for (name, probe) in state.probes() {
        match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => {
                tracing::warn!(probe = name, %reason, "not ready");
                return Err(ApiError::unavailable(format!("{name} is not ready")));
            }
            Err(_) => return Err(ApiError::unavailable(format!("{name} did not answer"))),
        }
    }
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus text exposition of every metric recorded in this process (served on the metrics
/// address, `application::server::spawn_metrics`, never on the API's).
pub fn prometheus_text(prometheus: &PrometheusHandle) -> Response {
    let body = prometheus.render();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The rendered OpenAPI document, shared by every request.
#[derive(Clone)]
pub struct OpenApiJson(pub Arc<String>);

/// This API's OpenAPI 3.1 document, generated from the route definitions.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn openapi(Extension(doc): Extension<OpenApiJson>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        doc.0.as_str().to_owned(),
    )
        .into_response()
}
