//! Where the ticket key ring comes from: `BOXOFFICE_TICKET_KEYS`, or in dev mode a key generated
//! on first start and kept in the data dir (so tickets stay valid across restarts).

use std::path::Path;

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
    /// Serve mode needs keys shared by every process; none are configured.
    #[error(
        "BOXOFFICE_TICKET_KEYS is required in serve mode (every ingress and ticket worker must share it)"
    )]
    Missing,
    /// The key file could not be read or written.
    #[error("ticket key file {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The configured ring; serve mode has no other source.
pub fn required(configured: Option<&str>) -> Result<KeyRing, KeysError> {
    let config = configured.ok_or(KeysError::Missing)?;
    Ok(KeyRing::from_config(config)?)
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
        assert!(matches!(required(None), Err(KeysError::Missing)));
        assert!(matches!(
            required(Some("nonsense")),
            Err(KeysError::Invalid(_))
        ));
    }
}
