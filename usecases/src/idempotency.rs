//! `Idempotency-Key` handling: the command id derived from (user, key), the request fingerprint,
//! and the shared create-only index (user, key) -> fingerprint that tells a retry (same request)
//! from a reuse (different request) for at least 24 hours.
//!
//! The index's stores (redb in dev mode, a NATS KV bucket in serve mode) are assembled by the
//! `application` crate.
//!
//! The index only answers "same request or not"; the first *response* is reproduced by the
//! pipeline, which remembers each command id's outcome in the show's state. So whichever ingress
//! process receives a retry answers it identically.

use std::time::Duration;

use async_trait::async_trait;
use schemas::{CommandId, Fingerprint, UserId};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// How long a key is remembered (contract: at least 24 hours).
pub const KEY_TTL: Duration = Duration::from_secs(24 * 3600);

/// The command id for a request: derived from (user, key) when a key is sent, so a retry maps to
/// the same command and two users' keys never collide; random otherwise.
pub fn command_id(user: UserId, key: Option<&str>) -> CommandId {
    match key {
        Some(key) => CommandId(Uuid::new_v5(&user.0, key.as_bytes())),
        None => CommandId(Uuid::new_v4()),
    }
}

/// Fingerprint of a request: the operation name and its canonical (re-serialized, so whitespace,
/// field order and unknown fields do not matter) parameters.
pub fn fingerprint<T: Serialize>(operation: &str, request: &T) -> Fingerprint {
    let mut hasher = Sha256::new();
    hasher.update(operation.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(request).expect("request values serialize"));
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Fingerprint(bytes)
}

/// What the index says about a (user, key) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First use of the key: recorded now.
    New,
    /// The key was used before for this same request: a retry.
    Retry,
    /// The key was used before for a different request.
    Reused,
}

/// The index could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Storage is unreachable or failing; retrying later may work.
    #[error("idempotency index unavailable: {0}")]
    Unavailable(String),
}

/// A shared, create-only map command id -> fingerprint with a TTL.
#[async_trait]
pub trait IdempotencyIndex: Send + Sync {
    /// Record `fingerprint` for `command` unless the command id is already recorded, and say how
    /// it compares.
    async fn claim(
        &self,
        command: CommandId,
        fingerprint: Fingerprint,
    ) -> Result<Claim, IndexError>;
}

impl Claim {
    /// What a use of a key means, given the fingerprint stored for it: a retry of the same
    /// request or a reuse for another one (for the index's stores).
    pub fn of_stored(stored: &[u8], fingerprint: &Fingerprint) -> Claim {
        if stored == fingerprint.0 {
            Claim::Retry
        } else {
            Claim::Reused
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_ids_are_per_user_and_key() {
        let a = UserId(Uuid::from_u128(1));
        let b = UserId(Uuid::from_u128(2));
        assert_eq!(command_id(a, Some("k")), command_id(a, Some("k")));
        assert_ne!(command_id(a, Some("k")), command_id(b, Some("k")));
        assert_ne!(command_id(a, Some("k")), command_id(a, Some("j")));
        assert_ne!(command_id(a, None), command_id(a, None));
    }
}
