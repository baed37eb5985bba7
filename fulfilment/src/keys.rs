//! Where the ticket key ring comes from: `BOXOFFICE_TICKET_KEYS`, or in dev mode a key generated
//! on first start and kept in the data dir (so tickets stay valid across restarts).

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tickets::{KeyId, KeyRing, KeyRingError};

/// File holding the generated ticket key ring of dev mode.
pub const KEYS_FILE: &str = "ticket-keys";

/// Name of the key dev mode generates.
pub const GENERATED_KEY_ID: &str = "dev1";

/// Why no key ring could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The configured or stored ring does not parse (the message names no secret).
    #[error("ticket keys: {0}")]
    Invalid(#[from] KeyRingError),
    /// Serve mode needs keys shared by every process: neither keys nor an auth secret to derive
    /// one from are configured.
    #[error(
        "serve mode needs BOXOFFICE_TICKET_KEYS or BOXOFFICE_AUTH_SECRET (every ingress and ticket worker must share them)"
    )]
    Missing,
    /// The auth secret is too short to derive a key from (RFC 7518 asks HS256 keys to be at
    /// least as long as the hash; a key derived from a short secret is only as strong as it).
    #[error("BOXOFFICE_AUTH_SECRET must be at least {AUTH_SECRET_MIN_BYTES} bytes (got {0})")]
    ShortSecret(usize),
    /// The key file could not be read or written.
    #[error("ticket key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Shortest auth secret any process accepts, in bytes: the output size of SHA-256, which
/// RFC 7518 asks of an HS256 key.
pub const AUTH_SECRET_MIN_BYTES: usize = 32;

/// Name of the key serve mode derives from the auth secret when no keys are configured.
pub const DERIVED_KEY_ID: &str = "a1";

/// Label mixed into the derivation, so the ticket key is unrelated to every other use of the
/// auth secret (HMAC-SHA256 as a key derivation function with domain separation).
const DERIVATION_LABEL: &[u8] = b"boxoffice/ticket-key/v1";

/// Serve mode's ring: the configured keys, else one key derived from the auth secret that every
/// ingress and ticket worker shares anyway. Configure `BOXOFFICE_TICKET_KEYS` to rotate ticket
/// keys on their own schedule (keep `a1` after the new key while its tickets are out).
pub fn required(configured: Option<&str>, auth_secret: Option<&str>) -> Result<KeyRing, KeysError> {
    // A short secret is refused even when the keys are configured: every process that reads it
    // applies the same floor, so a deployment cannot run half its processes on it.
    if let Some(secret) = auth_secret
        && secret.len() < AUTH_SECRET_MIN_BYTES
    {
        return Err(KeysError::ShortSecret(secret.len()));
    }
    if let Some(config) = configured {
        return Ok(KeyRing::from_config(config)?);
    }
    let secret = auth_secret.ok_or(KeysError::Missing)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(DERIVATION_LABEL);
    let derived = mac.finalize().into_bytes().to_vec();
    let id = KeyId::new(DERIVED_KEY_ID)?;
    Ok(KeyRing::new(id.clone(), [(id, derived)])?)
}

/// The configured ring, else the one kept in `data_dir` (generated on first start).
pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<KeyRing, KeysError> {
    if let Some(config) = configured {
        return Ok(KeyRing::from_config(config)?);
    }
    let path = data_dir.join(KEYS_FILE);
    let file = |source| KeysError::File {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(KeyRing::from_config(text.trim())?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file(e)),
    }
    let id = KeyId::new(GENERATED_KEY_ID)?;
    let config = KeyRing::generate_config(&id);
    write_private(&path, &config).map_err(file)?;
    Ok(KeyRing::from_config(&config)?)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_ring_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(None, dir.path()).unwrap();
        let second = load_or_create(None, dir.path()).unwrap();
        assert_eq!(first.signing_key_id().as_str(), GENERATED_KEY_ID);
        let claims = tickets::TicketClaims {
            ticket_id: schemas::TicketId(uuid::Uuid::from_u128(1)),
            booking_id: schemas::BookingId(uuid::Uuid::from_u128(2)),
            show_id: schemas::ShowId(uuid::Uuid::from_u128(3)),
            seat_id: schemas::SeatId(uuid::Uuid::from_u128(4)),
        };
        assert_eq!(second.verify(&first.sign(&claims)), Ok(claims));
    }

    #[test]
    fn serve_mode_refuses_to_start_without_keys() {
        assert!(matches!(required(None, None), Err(KeysError::Missing)));
        assert!(matches!(
            required(Some("nonsense"), Some(&"s".repeat(32))),
            Err(KeysError::Invalid(_))
        ));
    }

    #[test]
    fn an_auth_secret_under_32_bytes_is_refused() {
        let short = "s".repeat(31);
        let refused = required(None, Some(&short)).unwrap_err();
        assert!(matches!(refused, KeysError::ShortSecret(31)));
        assert!(
            refused.to_string().contains("BOXOFFICE_AUTH_SECRET"),
            "{refused}"
        );
        assert!(matches!(
            required(Some("k1:AAAA"), Some(&short)),
            Err(KeysError::ShortSecret(31))
        ));
    }

    #[test]
    fn serve_processes_sharing_the_auth_secret_derive_the_same_key() {
        let claims = tickets::TicketClaims {
            ticket_id: schemas::TicketId(uuid::Uuid::from_u128(1)),
            booking_id: schemas::BookingId(uuid::Uuid::from_u128(2)),
            show_id: schemas::ShowId(uuid::Uuid::from_u128(3)),
            seat_id: schemas::SeatId(uuid::Uuid::from_u128(4)),
        };
        let ingress = required(None, Some("a-shared-auth-secret-of-32-bytes-at-least")).unwrap();
        let worker = required(None, Some("a-shared-auth-secret-of-32-bytes-at-least")).unwrap();
        let other = required(None, Some("another-auth-secret-of-32-bytes-at-least")).unwrap();
        let code = worker.sign(&claims);
        assert_eq!(ingress.verify(&code), Ok(claims));
        assert_eq!(
            other.verify(&code),
            Err(tickets::TicketCodeError::BadSignature)
        );
        assert_eq!(ingress.signing_key_id().as_str(), DERIVED_KEY_ID);
    }
}
