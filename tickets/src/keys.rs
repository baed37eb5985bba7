//! Ticket signing keys: a ring of named HMAC-SHA256 secrets, one of which signs.
//!
//! Rotation works by name: a code carries the id of the key that signed it, so verification picks
//! the secret by that id and never looks anything up per ticket. To rotate, put the new key first
//! (it signs from then on) and keep the old ones after it until every ticket they signed is past
//! its show; removing a key makes its tickets fail with
//! [`TicketCodeError::UnknownKey`](crate::TicketCodeError::UnknownKey).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use data_encoding::{BASE64, BASE64_NOPAD};
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use sha2::Sha256;

/// Environment variable (and config key) holding the ring: `"k2:<base64>,k1:<base64>"`, the first
/// entry signing, every entry verifying.
pub const KEYS_ENV_VAR: &str = "BOXOFFICE_TICKET_KEYS";

/// Longest key id in bytes; ids travel inside every code, so they are kept short.
pub const MAX_KEY_ID_LEN: usize = 16;

/// Shortest accepted secret: HMAC-SHA256 is only as strong as its key, and 32 bytes matches the
/// hash output.
pub const MIN_SECRET_LEN_BYTES: usize = 32;

/// Bytes of a secret made by [`KeyRing::generate_config`].
const GENERATED_SECRET_LEN_BYTES: usize = 32;

/// Mixed into every MAC before the payload so a ticket key can never be confused with (or reused
/// as) a MAC key of another purpose that happens to share its secret.
const MAC_DOMAIN: &[u8] = b"boxoffice/ticket-code\0";

/// HMAC-SHA256 as used for ticket codes.
pub(crate) type TicketMac = Hmac<Sha256>;

/// Name of one signing key: 1 to [`MAX_KEY_ID_LEN`] ASCII letters, digits, `-` or `_`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    /// Checks `id` and wraps it.
    pub fn new(id: &str) -> Result<KeyId, KeyRingError> {
        if is_valid_key_id(id.as_bytes()) {
            Ok(KeyId(id.to_owned()))
        } else {
            Err(KeyRingError::InvalidKeyId {
                key_id: id.to_owned(),
            })
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Borrow<str> for KeyId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyId {
    type Err = KeyRingError;

    fn from_str(id: &str) -> Result<KeyId, KeyRingError> {
        KeyId::new(id)
    }
}

/// Whether `id` has the shape of a key id; codes are checked with this before any lookup.
pub(crate) fn is_valid_key_id(id: &[u8]) -> bool {
    (1..=MAX_KEY_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// A bad ticket key configuration. Every variant is fatal: the process must not start signing or
/// admitting with a ring it could not read. Secrets never appear in these messages.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyRingError {
    /// The configuration names no key at all.
    #[error("no ticket keys configured (expected \"<keyId>:<base64 secret>,...\")")]
    Empty,
    /// An entry lacks the `:` between key id and secret.
    #[error("ticket key entry {position} is not \"<keyId>:<base64 secret>\"")]
    MalformedEntry {
        /// 1-based position of the entry in the list.
        position: usize,
    },
    /// A key id is empty, too long or uses characters outside `A-Z a-z 0-9 - _`.
    #[error("ticket key id {key_id:?} must be 1-{MAX_KEY_ID_LEN} of A-Z a-z 0-9 - _")]
    InvalidKeyId {
        /// The rejected id.
        key_id: String,
    },
    /// A secret is not base64 (standard alphabet, padding optional).
    #[error("secret of ticket key {key_id} is not base64")]
    SecretNotBase64 {
        /// The key whose secret failed to decode.
        key_id: KeyId,
    },
    /// A secret decodes to fewer than [`MIN_SECRET_LEN_BYTES`] bytes.
    #[error(
        "secret of ticket key {key_id} has {len_bytes} bytes; at least {MIN_SECRET_LEN_BYTES} are required"
    )]
    SecretTooShort {
        /// The key with the short secret.
        key_id: KeyId,
        /// Its decoded length.
        len_bytes: usize,
    },
    /// Two entries share an id, so a code signed by that id would be ambiguous.
    #[error("ticket key id {key_id} appears twice")]
    DuplicateKeyId {
        /// The repeated id.
        key_id: KeyId,
    },
    /// The signing key id is not among the keys.
    #[error("signing key {key_id} is not in the ring")]
    SigningKeyMissing {
        /// The missing id.
        key_id: KeyId,
    },
}

/// One verifying (and possibly signing) key, kept as an HMAC state that has already absorbed the
/// key pads and [`MAC_DOMAIN`]; each sign or verify clones it, which skips re-deriving the pads.
#[derive(Clone)]
pub(crate) struct TicketKey {
    keyed_mac: TicketMac,
}

impl TicketKey {
    fn new(secret: &[u8]) -> TicketKey {
        // Any length is accepted by HMAC (long keys are hashed), so this cannot fail; the ring
        // enforces the minimum length before we get here.
        let mut keyed_mac = <TicketMac as KeyInit>::new_from_slice(secret)
            .expect("HMAC accepts keys of any length");
        keyed_mac.update(MAC_DOMAIN);
        TicketKey { keyed_mac }
    }

    /// A fresh MAC over the domain, ready for the payload.
    pub(crate) fn mac(&self) -> TicketMac {
        self.keyed_mac.clone()
    }
}

/// The configured ticket keys: which one signs, and every one that still verifies.
#[derive(Clone)]
pub struct KeyRing {
    signing_key_id: KeyId,
    keys: BTreeMap<KeyId, TicketKey>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets, only names.
        f.debug_struct("KeyRing")
            .field("signing_key_id", &self.signing_key_id)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KeyRing {
    /// A ring from raw secrets. `signing_key_id` must be one of `keys`; ids must be unique and
    /// secrets at least [`MIN_SECRET_LEN_BYTES`] long.
    pub fn new<I>(signing_key_id: KeyId, keys: I) -> Result<KeyRing, KeyRingError>
    where
        I: IntoIterator<Item = (KeyId, Vec<u8>)>,
    {
        let mut ring = BTreeMap::new();
        for (key_id, secret) in keys {
            if secret.len() < MIN_SECRET_LEN_BYTES {
                return Err(KeyRingError::SecretTooShort {
                    key_id,
                    len_bytes: secret.len(),
                });
            }
            if ring.contains_key(&key_id) {
                return Err(KeyRingError::DuplicateKeyId { key_id });
            }
            ring.insert(key_id, TicketKey::new(&secret));
        }
        if ring.is_empty() {
            return Err(KeyRingError::Empty);
        }
        if !ring.contains_key(&signing_key_id) {
            return Err(KeyRingError::SigningKeyMissing {
                key_id: signing_key_id,
            });
        }
        Ok(KeyRing {
            signing_key_id,
            keys: ring,
        })
    }

    /// Parses the configuration form `"k2:<base64>,k1:<base64>"` (see [`KEYS_ENV_VAR`]): entries
    /// separated by commas, whitespace around them ignored, the first entry signs.
    pub fn from_config(config: &str) -> Result<KeyRing, KeyRingError> {
        if config.trim().is_empty() {
            return Err(KeyRingError::Empty);
        }
        let mut signing_key_id = None;
        let mut keys = Vec::new();
        for (index, entry) in config.split(',').map(str::trim).enumerate() {
            let (key_id, secret) = parse_entry(entry, index + 1)?;
            signing_key_id.get_or_insert_with(|| key_id.clone());
            keys.push((key_id, secret));
        }
        let signing_key_id = signing_key_id.ok_or(KeyRingError::Empty)?;
        KeyRing::new(signing_key_id, keys)
    }

    /// A fresh configuration value with one random 32-byte key named `key_id`, for dev mode to
    /// persist on first start (the secret comes from the thread-local CSPRNG seeded by the OS).
    pub fn generate_config(key_id: &KeyId) -> String {
        let mut secret = [0u8; GENERATED_SECRET_LEN_BYTES];
        rand::rng().fill_bytes(&mut secret);
        format!("{key_id}:{}", BASE64.encode(&secret))
    }

    /// The key new codes are signed with.
    pub fn signing_key_id(&self) -> &KeyId {
        &self.signing_key_id
    }

    /// Every key that verifies, in id order.
    pub fn key_ids(&self) -> impl Iterator<Item = &KeyId> {
        self.keys.keys()
    }

    /// The signing key.
    pub(crate) fn signing_key(&self) -> &TicketKey {
        // `new` guarantees the signing id is present.
        &self.keys[&self.signing_key_id]
    }

    /// The key named by `key_id`, if the ring still has it.
    pub(crate) fn key(&self, key_id: &str) -> Option<&TicketKey> {
        self.keys.get(key_id)
    }
}

impl FromStr for KeyRing {
    type Err = KeyRingError;

    fn from_str(config: &str) -> Result<KeyRing, KeyRingError> {
        KeyRing::from_config(config)
    }
}

/// One `"<keyId>:<base64 secret>"` entry.
fn parse_entry(entry: &str, position: usize) -> Result<(KeyId, Vec<u8>), KeyRingError> {
    let (key_id, secret) = entry
        .split_once(':')
        .ok_or(KeyRingError::MalformedEntry { position })?;
    let key_id = KeyId::new(key_id.trim())?;
    let secret = decode_secret(secret.trim()).ok_or_else(|| KeyRingError::SecretNotBase64 {
        key_id: key_id.clone(),
    })?;
    Ok((key_id, secret))
}

/// Standard base64 with or without `=` padding (`openssl rand -base64 32` pads, some tools don't).
fn decode_secret(secret: &str) -> Option<Vec<u8>> {
    BASE64
        .decode(secret.as_bytes())
        .or_else(|_| BASE64_NOPAD.decode(secret.as_bytes()))
        .ok()
}
