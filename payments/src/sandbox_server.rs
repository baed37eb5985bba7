//! The sandbox provider as an HTTP service (`boxoffice payments-sandbox`), Stripe-shaped:
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `POST /v1/authorizations` | `AuthorizeRequest` | `200 Authorization` |
//! | `GET /v1/authorizations[?status=AUTHORIZED\|CAPTURED\|...]` | | `200 [Authorization]`, oldest first (all without `status`) |
//! | `GET /v1/authorizations/{id}` | | `200 Authorization` |
//! | `POST /v1/authorizations/{id}/capture` | | `200 Authorization` |
//! | `POST /v1/authorizations/{id}/void` | | `200 Authorization` |
//! | `POST /v1/authorizations/{id}/refunds` | `RefundRequest` | `200 Authorization` |
//! | `GET /healthz` | | `200` |
//!
//! Every POST needs an `Idempotency-Key` header. Errors are `application/problem+json` carrying the
//! [`PaymentError`] fields and its kebab-case `code`, so the client rebuilds the exact error.

use std::future::Future;
use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;
use uuid::Uuid;

use crate::PaymentProvider;
use crate::model::{
    AuthorizationId, AuthorizationStatus, AuthorizeRequest, PaymentError, RefundRequest,
};
use crate::sandbox::{SandboxConfig, SandboxProvider};

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// Configuration of `boxoffice payments-sandbox`.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerConfig {
    /// Address to listen on (`BOXOFFICE_PAYMENTS_ADDR`).
    pub addr: SocketAddr,
    /// The provider behind the service (data dir, faults).
    pub sandbox: SandboxConfig,
}

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding or serving failed.
    #[error("payments sandbox io: {0}")]
    Io(#[from] std::io::Error),
    /// The provider could not open its state.
    #[error(transparent)]
    Provider(#[from] PaymentError),
}

/// Runs the service on `config.addr` until Ctrl-C / SIGTERM.
pub async fn run(config: ServerConfig) -> Result<(), ServerError> {
    let provider = SandboxProvider::open(&config.sandbox)?;
    let listener = TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "payments sandbox listening");
    serve(listener, provider, shutdown_signal()).await
}

/// Serves `provider` on `listener` until `shutdown` completes (tests bind port 0 and pass their own
/// shutdown future).
pub async fn serve(
    listener: TcpListener,
    provider: SandboxProvider,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    axum::serve(listener, router(provider))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The service's routes over `provider`.
pub fn router(provider: SandboxProvider) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/v1/authorizations",
            post(authorize).get(list_authorizations),
        )
        .route("/v1/authorizations/{id}", get(get_authorization))
        .route("/v1/authorizations/{id}/capture", post(capture))
        .route("/v1/authorizations/{id}/void", post(void))
        .route("/v1/authorizations/{id}/refunds", post(refund))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "not-found", "no such route", None) })
        .with_state(provider)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// A failed call as an HTTP response.
struct ApiError(PaymentError);

impl From<PaymentError> for ApiError {
    fn from(e: PaymentError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let detail = self.0.to_string();
        let fields = serde_json::to_value(&self.0).ok();
        let code = fields
            .as_ref()
            .and_then(|f| f.get("code"))
            .and_then(|c| c.as_str())
            .unwrap_or("error")
            .to_owned();
        problem(status, &code, &detail, fields)
    }
}

fn problem(
    status: StatusCode,
    code: &str,
    detail: &str,
    fields: Option<serde_json::Value>,
) -> Response {
    let mut body = match fields {
        Some(serde_json::Value::Object(map)) => map,
        Some(_) | None => serde_json::Map::new(),
    };
    body.insert("type".into(), "about:blank".into());
    body.insert(
        "title".into(),
        status.canonical_reason().unwrap_or("error").into(),
    );
    body.insert("status".into(), status.as_u16().into());
    body.insert("detail".into(), detail.into());
    body.insert("code".into(), code.into());
    let mut response = (status, Json(serde_json::Value::Object(body))).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/problem+json"),
    );
    response
}

fn key(headers: &HeaderMap) -> Result<String, ApiError> {
    let value = headers
        .get(IDEMPOTENCY_KEY)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError(PaymentError::InvalidRequest {
                field: "Idempotency-Key".into(),
                reason: "header is required".into(),
            })
        })?;
    crate::check_key(value)?;
    Ok(value.to_owned())
}

fn authorization_id(raw: &str) -> Result<AuthorizationId, ApiError> {
    Uuid::parse_str(raw).map(AuthorizationId).map_err(|_| {
        ApiError(PaymentError::InvalidRequest {
            field: "id".into(),
            reason: "must be a UUID".into(),
        })
    })
}

fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    parsed.map(|Json(v)| v).map_err(|e| {
        ApiError(PaymentError::InvalidRequest {
            field: "body".into(),
            reason: e.body_text(),
        })
    })
}

async fn authorize(
    State(provider): State<SandboxProvider>,
    headers: HeaderMap,
    request: Result<Json<AuthorizeRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = key(&headers)?;
    let request = body(request)?;
    let authorization = provider.authorize(&key, &request).await?;
    Ok(Json(authorization).into_response())
}

/// Query of the list endpoint.
#[derive(Debug, Deserialize)]
struct ListQuery {
    status: Option<String>,
}

/// The open authorizations (the reconciler's list) or, for a read-back of a whole run, every one
/// of a status or all of them.
async fn list_authorizations(
    State(provider): State<SandboxProvider>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = query.status.map(|s| list_status(&s)).transpose()?;
    Ok(Json(provider.list(status)).into_response())
}

fn list_status(raw: &str) -> Result<AuthorizationStatus, ApiError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        ApiError(PaymentError::InvalidRequest {
            field: "status".into(),
            reason: "must be AUTHORIZED, CAPTURED, PARTIALLY_REFUNDED, REFUNDED or VOIDED".into(),
        })
    })
}

async fn get_authorization(
    State(provider): State<SandboxProvider>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = authorization_id(&id)?;
    Ok(Json(provider.get(id).await?).into_response())
}

async fn capture(
    State(provider): State<SandboxProvider>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = key(&headers)?;
    let id = authorization_id(&id)?;
    Ok(Json(provider.capture(&key, id).await?).into_response())
}

async fn void(
    State(provider): State<SandboxProvider>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = key(&headers)?;
    let id = authorization_id(&id)?;
    Ok(Json(provider.void(&key, id).await?).into_response())
}

async fn refund(
    State(provider): State<SandboxProvider>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request: Result<Json<RefundRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let key = key(&headers)?;
    let id = authorization_id(&id)?;
    let request = body(request)?;
    Ok(Json(provider.refund(&key, id, request.amount_minor).await?).into_response())
}

/// Command-line and environment settings of `boxoffice payments-sandbox`.
#[derive(Clone, Debug, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_ADDR",
        default_value = "127.0.0.1:8090"
    )]
    pub addr: SocketAddr,
    /// Directory keeping authorizations across restarts (in memory when unset).
    #[arg(long, env = "BOXOFFICE_PAYMENTS_DATA_DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Injected faults.
    #[command(flatten)]
    pub faults: FaultArgs,
}

impl SandboxArgs {
    /// The service configuration these settings describe.
    pub fn config(&self) -> ServerConfig {
        ServerConfig {
            addr: self.addr,
            sandbox: SandboxConfig {
                data_dir: self.data_dir.clone(),
                faults: self.faults.config(),
                slow_method_delay: None,
            },
        }
    }
}

/// Fault injection of the sandbox as flags and `BOXOFFICE_PAYMENTS_FAULT_*` variables, shared by
/// `boxoffice payments-sandbox` and the in-process sandbox of `boxoffice dev`. This is a product
/// feature for resilience drills and tests: all rates default to 0 (no faults).
#[derive(Clone, Debug, clap::Args)]
pub struct FaultArgs {
    /// Seed of the fault generator (same seed, same faults).
    #[arg(long, env = "BOXOFFICE_PAYMENTS_FAULT_SEED", default_value_t = 0)]
    pub fault_seed: u64,
    /// Share (0..1) of pm_card_visa authorizations declined.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_FAULT_DECLINE_RATE",
        default_value_t = 0.0
    )]
    pub fault_decline_rate: f64,
    /// Share (0..1) of calls answered 503 without effect.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_FAULT_ERROR_RATE",
        default_value_t = 0.0
    )]
    pub fault_error_rate: f64,
    /// Share (0..1) of calls that take effect but answer only after --fault-timeout-ms (504).
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_RATE",
        default_value_t = 0.0
    )]
    pub fault_timeout_rate: f64,
    /// How long a timed-out call hangs, in milliseconds.
    #[arg(
        long,
        env = "BOXOFFICE_PAYMENTS_FAULT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub fault_timeout_ms: u64,
    /// Latency added to every call, in milliseconds.
    #[arg(long, env = "BOXOFFICE_PAYMENTS_FAULT_LATENCY_MS", default_value_t = 0)]
    pub fault_latency_ms: u64,
}

impl Default for FaultArgs {
    /// No faults (the flags' defaults).
    fn default() -> Self {
        let none = crate::sandbox::FaultConfig::default();
        FaultArgs {
            fault_seed: none.seed,
            fault_decline_rate: none.decline_rate,
            fault_error_rate: none.error_rate,
            fault_timeout_rate: none.timeout_rate,
            fault_timeout_ms: none.timeout_ms,
            fault_latency_ms: none.added_latency_ms,
        }
    }
}

impl FaultArgs {
    /// The fault configuration these settings describe.
    pub fn config(&self) -> crate::sandbox::FaultConfig {
        crate::sandbox::FaultConfig {
            seed: self.fault_seed,
            decline_rate: self.fault_decline_rate,
            error_rate: self.fault_error_rate,
            timeout_rate: self.fault_timeout_rate,
            timeout_ms: self.fault_timeout_ms,
            added_latency_ms: self.fault_latency_ms,
        }
    }
}
