//! Request extractors that fail with the contract's problem documents instead of axum's plain-text
//! rejections: JSON bodies, UUID path ids, paging and other query parameters, `Idempotency-Key`.

use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::ApiError;

/// Most bytes a request body may have (contract: 64 KiB).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A JSON body. Unknown fields are ignored; a malformed body or a wrong type answers
/// `400 invalid-request` naming the JSON path of the offending field.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(ApiJson)
    }
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge {
            limit_bytes: BODY_LIMIT_BYTES,
        }
    } else {
        ApiError::invalid("body", "the request body could not be read")
    }
}

/// Parse `bytes` as JSON into `T`, naming the offending field on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid("body", "a JSON body is required"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_of(&e);
        ApiError::invalid(field, e.inner().to_string())
    })?;
    de.end()
        .map_err(|e| ApiError::invalid("body", format!("trailing data after JSON: {e}")))?;
    Ok(value)
}

/// The JSON path of a deserialization error; for a missing field, the field itself.
fn field_of(error: &serde_path_to_error::Error<serde_json::Error>) -> String {
    if error.inner().is_syntax() || error.inner().is_eof() {
        return "body".to_string();
    }
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    match (missing, path.as_str()) {
        (Some(name), "." | "?") => name,
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, "." | "?") => "body".to_string(),
        (None, path) => path.to_string(),
    }
}

/// The path parameters of a matched route, parsed on demand with field-naming errors.
#[derive(Debug, Clone)]
pub struct PathIds(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for PathIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid("path", "path parameters are not valid UTF-8"))?;
        Ok(PathIds(
            raw.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ))
    }
}

impl PathIds {
    /// The path parameter `name` as a UUID (`400 invalid-request` naming it otherwise).
    pub fn uuid(&self, name: &str) -> Result<Uuid, ApiError> {
        let value = self
            .0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| ApiError::invalid(name, "missing path parameter"))?;
        parse_uuid(name, value)
    }
}

/// Parse a UUID string, naming `field` on failure.
pub fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(value).map_err(|_| ApiError::invalid(field, "not a valid UUID"))
}

/// Query string parameters, parsed on demand with field-naming errors.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or("");
        let pairs: Result<Vec<(String, String)>, _> = serde_urlencoded_pairs(query);
        pairs.map(QueryParams)
    }
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let mut pairs = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let key = percent_decode(key).ok_or_else(|| ApiError::invalid("query", "bad escape"))?;
        let value = percent_decode(value).ok_or_else(|| ApiError::invalid(&key, "bad escape"))?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Decode `application/x-www-form-urlencoded` escapes (`+` is a space); `None` on bad escapes or
/// invalid UTF-8.
fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = input.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

impl QueryParams {
    /// The last value given for `name`, if any (an empty value counts as absent).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// `name` as an integer in `min..=max`, or `default` when absent.
    pub fn int_in(&self, name: &str, min: u64, max: u64, default: u64) -> Result<u64, ApiError> {
        let Some(raw) = self.get(name) else {
            return Ok(default);
        };
        let value: u64 = raw
            .parse()
            .map_err(|_| ApiError::invalid(name, format!("must be an integer in {min}..={max}")))?;
        if !(min..=max).contains(&value) {
            return Err(ApiError::invalid(
                name,
                format!("must be an integer in {min}..={max}"),
            ));
        }
        Ok(value)
    }

    /// `page` and `limit` per the contract's paging rules.
    pub fn paging(&self) -> Result<Paging, ApiError> {
        Ok(Paging {
            page: self.int_in("page", 1, u64::from(u32::MAX), 1)? as u32,
            limit: self.int_in("limit", 1, 100, 20)? as u32,
        })
    }
}

/// A page request: `page` from 1, `limit` 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Page number, from 1.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

impl Paging {
    /// Index of the first item of the page.
    pub fn offset(&self) -> usize {
        (self.page as usize - 1).saturating_mul(self.limit as usize)
    }
}

/// The `Idempotency-Key` header, if sent: 1..=255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(pub Option<String>);

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(IDEMPOTENCY_KEY) else {
            return Ok(IdempotencyKey(None));
        };
        let bad = || ApiError::invalid("Idempotency-Key", "must be 1..255 printable characters");
        let key = value.to_str().map_err(|_| bad())?;
        let printable = key.bytes().all(|b| (0x20..0x7f).contains(&b));
        if key.is_empty() || key.len() > 255 || !printable {
            return Err(bad());
        }
        Ok(IdempotencyKey(Some(key.to_string())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Body {
        show_id: Uuid,
        seat_ids: Vec<Uuid>,
    }

    fn field(result: Result<Body, ApiError>) -> String {
        match result.unwrap_err() {
            ApiError::InvalidRequest { field, .. } => field,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_offending_field() {
        let id = Uuid::nil();
        assert_eq!(field(parse_json(br#"{"seatIds":[]}"#)), "showId");
        assert_eq!(
            field(parse_json(
                format!(r#"{{"showId":"{id}","seatIds":["x"]}}"#).as_bytes()
            )),
            "seatIds[0]"
        );
        assert_eq!(field(parse_json(br#"{"showId":5}"#)), "showId");
        assert_eq!(field(parse_json(b"{nope")), "body");
        assert_eq!(field(parse_json(b"")), "body");
        assert_eq!(field(parse_json(b"[]")), "body");
        let ok: Body =
            parse_json(format!(r#"{{"showId":"{id}","seatIds":[],"extra":{{"a":1}}}}"#).as_bytes())
                .unwrap();
        assert_eq!(ok.show_id, id);
    }

    #[test]
    fn paging_follows_the_contract() {
        let q = |s: &str| QueryParams(serde_urlencoded_pairs(s).unwrap());
        assert_eq!(q("").paging().unwrap(), Paging { page: 1, limit: 20 });
        assert!(q("page=0").paging().is_err());
        assert!(q("page=-1").paging().is_err());
        assert!(q("limit=101").paging().is_err());
        assert!(q("limit=abc").paging().is_err());
        assert!(q("page=99999999999999999999999").paging().is_err());
        assert_eq!(q("page=3&limit=100").paging().unwrap().offset(), 200);
        assert_eq!(q("city=New+York%21").get("city"), Some("New York!"));
        assert!(serde_urlencoded_pairs("city=%zz").is_err());
    }
}
