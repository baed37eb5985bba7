//! The WebSocket opening handshake (RFC 6455 section 4.2), done by hand rather than through
//! axum's `WebSocketUpgrade`: live viewers are served from the raw upgraded socket, writing
//! frames that are encoded once for all of them (see [`super::wire`]).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use base64::Engine as _;
use hyper::upgrade::OnUpgrade;
use sha1::{Digest, Sha1};

/// Why a request cannot become a WebSocket: the header (or `upgrade` for the connection itself)
/// and what is wrong with it, for a `400 invalid-request` that names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct UpgradeError {
    /// The offending header, or `upgrade`.
    pub field: &'static str,
    /// What is wrong, in words for the client.
    pub reason: &'static str,
}

fn refuse(field: &'static str, reason: &'static str) -> UpgradeError {
    UpgradeError { field, reason }
}

/// Check that `headers` ask for a WebSocket and return the `Sec-WebSocket-Accept` value.
pub fn accept_key(headers: &HeaderMap) -> Result<HeaderValue, UpgradeError> {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let upgrade_websocket = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    if !connection_upgrade || !upgrade_websocket {
        return Err(refuse(
            "upgrade",
            "this endpoint speaks WebSocket only (Connection: Upgrade, Upgrade: websocket)",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(refuse(
            "sec-websocket-version",
            "only WebSocket version 13 is supported",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| refuse("sec-websocket-key", "missing"))?;
    HeaderValue::from_str(&accept_value(key.as_bytes()))
        .map_err(|_| refuse("sec-websocket-key", "unusable"))
}

/// The GUID RFC 6455 appends to the client's key before hashing.
const HANDSHAKE_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept`: base64 of the SHA-1 of the client's key and the GUID (section 4.2.2).
fn accept_value(key: &[u8]) -> String {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(HANDSHAKE_GUID);
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// The pending upgrade of this connection (absent when the connection cannot be taken over,
/// for example HTTP/2 without extended CONNECT).
pub fn take_upgrade(request: &mut axum::extract::Request) -> Result<OnUpgrade, UpgradeError> {
    request
        .extensions_mut()
        .remove::<OnUpgrade>()
        .ok_or_else(|| refuse("upgrade", "this connection cannot be upgraded"))
}

/// `101 Switching Protocols` completing the handshake.
pub fn switching_protocols(accept: HeaderValue) -> Response<Body> {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request_headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn accepts_the_rfc_example_key() {
        let headers = request_headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        // RFC 6455 section 1.3.
        assert_eq!(
            accept_key(&headers).unwrap(),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn plain_requests_and_old_versions_are_invalid() {
        let plain = request_headers(&[]);
        assert!(matches!(
            accept_key(&plain),
            Err(UpgradeError { field, .. }) if field == "upgrade"
        ));
        let old = request_headers(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-version", "8"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ]);
        assert!(matches!(
            accept_key(&old),
            Err(UpgradeError { field, .. }) if field == "sec-websocket-version"
        ));
    }
}
