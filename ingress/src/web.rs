//! The web front end (the `web` crate) at `/` (`index.html`) and `/assets/<path>`; a path with no
//! file is the API's `404 not-found`.

use axum::Router;
use axum::extract::Path;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;
use crate::state::AppState;

/// The routes serving the front end.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve(&format!("assets/{path}"), &headers)
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    web::serve(path, headers).unwrap_or_else(|| ApiError::NotFound.into_response())
}
