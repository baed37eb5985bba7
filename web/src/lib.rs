//! The web front end (`index.html` and `assets/` beside this crate, see its README), built into
//! the binary, and how a file of it is answered: with the MIME type of its extension; file names
//! carry no content hash, so responses say `Cache-Control: no-cache` and carry an `ETag`
//! (`If-None-Match` answers `304`); every page is held to a same-origin Content-Security-Policy.
//! The HTTP front mounts it at `/` and `/assets/`.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Nothing from any other origin; workers for the proof-of-work, blobs and data URLs for images
/// (QR codes, the empty favicon).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' blob: data:; \
     connect-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file ready to serve.
#[derive(Debug)]
pub struct Asset {
    /// Its bytes.
    pub bytes: &'static [u8],
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Strong validator derived from the bytes.
    pub etag: HeaderValue,
}

/// Every embedded file by path (`index.html`, `assets/js/main.js`, ...).
pub fn assets() -> &'static HashMap<&'static str, Asset> {
    static ASSETS: OnceLock<HashMap<&'static str, Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| {
        embedded::FILES
            .iter()
            .map(|(path, bytes)| {
                let digest = Sha256::digest(bytes);
                let etag = format!("\"{}\"", hex::encode(&digest[..12]));
                let asset = Asset {
                    bytes,
                    content_type: content_type(path),
                    etag: HeaderValue::from_str(&etag).expect("hex is a valid header value"),
                };
                (*path, asset)
            })
            .collect()
    })
}

/// The MIME type of a file by extension (module scripts and workers must be JavaScript).
pub fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// The answer to a `GET` of the file at `path` (`index.html`, `assets/...`) with `request`'s
/// headers, or `None` when there is no such file.
pub fn serve(path: &str, request: &HeaderMap) -> Option<Response> {
    let asset = assets().get(path)?;
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == asset.etag
        });
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(asset.bytes));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, asset.etag.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Some(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_front_end_is_embedded_with_its_types() {
        let assets = assets();
        let index = &assets["index.html"];
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(
            std::str::from_utf8(index.bytes)
                .unwrap()
                .contains("/assets/js/main.js")
        );
        assert_eq!(
            assets["assets/js/main.js"].content_type,
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            assets["assets/app.css"].content_type,
            "text/css; charset=utf-8"
        );
        assert!(
            !assets.contains_key("README.md"),
            "only index.html and assets/"
        );
        assert!(
            assets
                .keys()
                .all(|p| *p == "index.html" || p.starts_with("assets/"))
        );
    }

    #[test]
    fn types_by_extension() {
        assert_eq!(content_type("a/b.SVG"), "image/svg+xml");
        assert_eq!(content_type("x.png"), "image/png");
        assert_eq!(content_type("worker.mjs"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn a_matching_etag_answers_not_modified() {
        let etag = assets()["index.html"].etag.clone();
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, etag);
        let response = serve("index.html", &request).unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
        let response = serve("index.html", &HeaderMap::new()).unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(serve("assets/nope.js", &HeaderMap::new()).is_none());
    }
}
