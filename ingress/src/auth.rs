//! Bearer tokens: JWT HS256 signed with the configured secret, claims `sub`, `exp`, `roles`.
//!
//! Written against the JWT spec directly (HMAC-SHA256 over `header.payload`, base64url without
//! padding) rather than a general JWT library: we accept exactly one algorithm, so there is no
//! algorithm-confusion surface, and the signature check is constant-time (`Mac::verify_slice`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use schemas::UserId;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::error::ApiError;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The fixed JOSE header of every token we issue.
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// A role a token may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages venues, events, shows, seats and waiting rooms.
    Admin,
    /// Scans tickets at the gates.
    Staff,
}

/// JWT claims we read and write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id (UUID string).
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Roles; absent for ordinary buyers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// When the token was issued, seconds since the Unix epoch (guest tokens carry it, so the
    /// demand guard can tell a brand-new identity; other issuers may leave it out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

/// Signs and verifies tokens with one HS256 secret.
#[derive(Clone)]
pub struct TokenKeys {
    mac: HmacSha256,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys(..)")
    }
}

/// Why a token was refused (all answer 401; the reason is for logs and the problem detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Header names another algorithm.
    #[error("unsupported token algorithm")]
    Algorithm,
    /// Signature does not match.
    #[error("bad token signature")]
    Signature,
    /// `exp` is in the past.
    #[error("token expired")]
    Expired,
    /// `sub` is not a UUID.
    #[error("token subject is not a user id")]
    Subject,
}

impl TokenKeys {
    /// Keys for `secret` (any length; HMAC pads or hashes it).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    /// Sign `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(HEADER_JSON);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac.clone();
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    /// Verify `token` and return the caller it names, as of `now_s` (Unix seconds).
    pub fn verify(&self, token: &str, now_s: i64) -> Result<Caller, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: JoseHeader = decode_json(header)?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(&token.as_bytes()[..header_and_payload_len(token)]);
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_json(payload)?;
        if claims.exp <= now_s {
            return Err(TokenError::Expired);
        }
        let user = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Subject)?;
        Ok(Caller {
            user: UserId(user),
            roles: claims.roles.iter().filter_map(|r| parse_role(r)).collect(),
            issued_at: claims.iat,
        })
    }
}

fn header_and_payload_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "admin" => Some(Role::Admin),
        "staff" => Some(Role::Staff),
        // Unknown roles grant nothing; tokens from newer issuers stay usable.
        _ => None,
    }
}

#[derive(Deserialize)]
struct JoseHeader {
    alg: String,
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The authenticated caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub user: UserId,
    /// Roles granted by the token.
    pub roles: Vec<Role>,
    /// When the token was issued (its `iat`), if it says.
    pub issued_at: Option<i64>,
}

impl Caller {
    /// Whether the caller has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// The bearer token of a request, if it sent an `Authorization: Bearer` header.
pub fn bearer(parts: &Parts) -> Option<&str> {
    bearer_value(parts.headers.get(axum::http::header::AUTHORIZATION)?)
}

/// The token of an `Authorization`-style value `Bearer <token>` (scheme case-insensitive).
pub fn bearer_value(value: &axum::http::HeaderValue) -> Option<&str> {
    let (scheme, token) = value.to_str().ok()?.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// What the extractors need of the application: the keys tokens are verified with. A trait, so
/// that authentication does not depend on the application state that holds the keys.
pub trait HasTokenKeys {
    /// The keys of this deployment.
    fn token_keys(&self) -> &TokenKeys;

    /// Now in Unix seconds, by the process's clock (token expiry is checked against it).
    fn now_s(&self) -> i64;
}

impl<S: HasTokenKeys + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // The rate-limit middleware already verified the token; reuse its result.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        let token = bearer(parts).ok_or(ApiError::Unauthenticated("missing bearer token"))?;
        state
            .token_keys()
            .verify(token, state.now_s())
            .map_err(|e| ApiError::Unauthenticated(token_error_text(e)))
    }
}

fn token_error_text(error: TokenError) -> &'static str {
    match error {
        TokenError::Malformed => "malformed token",
        TokenError::Algorithm => "unsupported token algorithm",
        TokenError::Signature => "bad token signature",
        TokenError::Expired => "token expired",
        TokenError::Subject => "token subject is not a user id",
    }
}

/// A caller with the `admin` role (403 otherwise).
#[derive(Clone, Debug)]
pub struct Admin(pub Caller);

impl<S: HasTokenKeys + Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        if caller.has(Role::Admin) {
            Ok(Admin(caller))
        } else {
            Err(ApiError::Forbidden("admin role required"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::from_u128(42).to_string(),
            exp,
            roles: vec!["admin".into(), "wizard".into()],
            iat: Some(1),
        }
    }

    #[test]
    fn signed_tokens_verify_and_carry_known_roles() {
        let keys = TokenKeys::new(b"auth-unit-test-secret-0123456789abcdef");
        let caller = keys.verify(&keys.sign(&claims(2_000)), 1_000).unwrap();
        assert_eq!(caller.user, UserId(Uuid::from_u128(42)));
        assert_eq!(caller.roles, vec![Role::Admin]);
    }

    #[test]
    fn expired_forged_and_malformed_tokens_are_refused() {
        let keys = TokenKeys::new(b"auth-unit-test-secret-0123456789abcdef");
        let token = keys.sign(&claims(2_000));
        assert_eq!(keys.verify(&token, 2_000), Err(TokenError::Expired));
        let other = TokenKeys::new(b"other");
        assert_eq!(other.verify(&token, 0), Err(TokenError::Signature));
        assert_eq!(keys.verify("a.b", 0), Err(TokenError::Malformed));
        assert_eq!(keys.verify("a.b.c.d", 0), Err(TokenError::Malformed));
        let (_, rest) = token.split_once('.').unwrap();
        let none = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        assert_eq!(keys.verify(&none, 0), Err(TokenError::Algorithm));
    }

    #[test]
    fn tampered_payload_fails_the_signature() {
        let keys = TokenKeys::new(b"auth-unit-test-secret-0123456789abcdef");
        let token = keys.sign(&claims(2_000));
        let parts: Vec<&str> = token.split('.').collect();
        let mut forged = claims(9_000);
        forged.roles = vec!["admin".into()];
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
        assert_eq!(keys.verify(&tampered, 0), Err(TokenError::Signature));
    }
}
