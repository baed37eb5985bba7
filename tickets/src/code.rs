//! The ticket code: a compact signed payload, the exact string encoded in the QR.
//!
//! # Binary layout (format version 1)
//! | bytes | field |
//! |---|---|
//! | 1 | format version (`1`) |
//! | 1 | key id length `n` (1..=16) |
//! | n | key id, ASCII |
//! | 16 | ticket id (UUID bytes) |
//! | 16 | booking id |
//! | 16 | show id |
//! | 16 | seat id |
//! | 16 | tag: HMAC-SHA256 over a domain label and every byte above, truncated to 128 bits |
//!
//! With a two-letter key id that is 84 bytes.
//!
//! # Text form: unpadded upper-case base32 (RFC 4648)
//! QR codes have an *alphanumeric* mode (`0-9 A-Z space $ % * + - . / :`) that stores two
//! characters in 11 bits. Upper-case base32 uses only characters of that set, so each 5-bit
//! symbol costs 5.5 bits in the QR: 84 bytes become 135 characters and 743 data bits. Base64url
//! needs lower case and `_`, which forces *byte* mode at 8 bits per character: 112 characters,
//! 896 data bits. At error correction M the base32 form always fits a version 6 symbol (41x41
//! modules) where base64url needs version 7 (45x45) for nearly every code, so base32 gives larger
//! modules at the same printed size, which is what makes a code scan quickly off a phone screen. The alphabet also leaves
//! out `0 1 8 9` (easily taken for `O I B` when a code is typed in by hand) and has none of the
//! `+/=` that URLs and scanners mangle. Decoding is
//! strict (upper case only, no padding, unused trailing bits must be zero) so every code has
//! exactly one accepted spelling: altering any character of a code never yields a code that
//! still verifies.

use data_encoding::BASE32_NOPAD;
use hmac::Mac;
use schemas::{BookingId, SeatId, ShowId, TicketId};
use uuid::Uuid;

use crate::keys::{KeyRing, MAX_KEY_ID_LEN, TicketMac, is_valid_key_id};

/// Format version written into every code; a reader meeting another value refuses it.
pub const FORMAT_VERSION: u8 = 1;

/// Bytes of HMAC-SHA256 kept in a code: 128 bits, the floor the design sets for forgery
/// resistance (a forger must guess the tag; 2^-128 per try).
pub const TAG_LEN_BYTES: usize = 16;

/// Bytes of one id in the payload.
const ID_LEN_BYTES: usize = 16;

/// Bytes of the four ids.
const IDS_LEN_BYTES: usize = 4 * ID_LEN_BYTES;

/// Version byte + key id length byte.
const HEADER_LEN_BYTES: usize = 2;

/// Longest possible payload; longer input is rejected before decoding.
const MAX_PAYLOAD_LEN_BYTES: usize =
    HEADER_LEN_BYTES + MAX_KEY_ID_LEN + IDS_LEN_BYTES + TAG_LEN_BYTES;

/// Longest possible code in characters (base32: 8 characters per 5 bytes, rounded up).
pub const MAX_CODE_LEN: usize = (MAX_PAYLOAD_LEN_BYTES * 8).div_ceil(5);

/// What a ticket code vouches for: this ticket, of this booking, admits to this seat of this show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TicketClaims {
    /// The ticket.
    pub ticket_id: TicketId,
    /// The booking that bought it.
    pub booking_id: BookingId,
    /// The show it admits to; check-in routes through this show's partition.
    pub show_id: ShowId,
    /// The seat it admits to.
    pub seat_id: SeatId,
}

/// Why a code was refused. None is retryable: the same code fails the same way every time, and the
/// check-in API answers all of them `422 invalid-ticket`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketCodeError {
    /// Not a ticket code at all: empty, wrong alphabet or length, bad key id field.
    #[error("malformed ticket code: {reason}")]
    Malformed {
        /// What was wrong, for logs.
        reason: &'static str,
    },
    /// Well formed but of a format version this build does not read.
    #[error("unsupported ticket code version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// Signed by a key this ring does not have (never configured, or retired).
    #[error("ticket code signed by unknown key {key_id:?}")]
    UnknownKey {
        /// The key id the code names.
        key_id: String,
    },
    /// The tag does not match: forged or altered.
    #[error("ticket code signature does not verify")]
    BadSignature,
}

impl KeyRing {
    /// Signs `claims` with the signing key and returns the code (the exact QR content).
    pub fn sign(&self, claims: &TicketClaims) -> String {
        let key_id = self.signing_key_id().as_str().as_bytes();
        let mut payload = Vec::with_capacity(MAX_PAYLOAD_LEN_BYTES);
        payload.push(FORMAT_VERSION);
        // KeyId guarantees 1..=MAX_KEY_ID_LEN bytes, so the length fits one byte.
        payload.push(key_id.len() as u8);
        payload.extend_from_slice(key_id);
        for id in claim_ids(claims) {
            payload.extend_from_slice(id.as_bytes());
        }
        let mut mac = self.signing_key().mac();
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        payload.extend_from_slice(&tag[..TAG_LEN_BYTES]);
        BASE32_NOPAD.encode(&payload)
    }

    /// Checks `code` and returns what it vouches for. The key is chosen by the id inside the code;
    /// the tag is compared in constant time.
    pub fn verify(&self, code: &str) -> Result<TicketClaims, TicketCodeError> {
        let payload = decode_text(code)?;
        let fields = split_payload(&payload)?;
        let key_id =
            std::str::from_utf8(fields.key_id).map_err(|_| malformed("key id is not ASCII"))?;
        let key = self
            .key(key_id)
            .ok_or_else(|| TicketCodeError::UnknownKey {
                key_id: key_id.to_owned(),
            })?;
        let mut mac: TicketMac = key.mac();
        mac.update(fields.signed);
        mac.verify_truncated_left(fields.tag)
            .map_err(|_| TicketCodeError::BadSignature)?;
        Ok(read_claims(fields.ids))
    }
}

/// The ids in payload order.
fn claim_ids(claims: &TicketClaims) -> [&Uuid; 4] {
    [
        claims.ticket_id.as_uuid(),
        claims.booking_id.as_uuid(),
        claims.show_id.as_uuid(),
        claims.seat_id.as_uuid(),
    ]
}

fn malformed(reason: &'static str) -> TicketCodeError {
    TicketCodeError::Malformed { reason }
}

/// Strict base32 to bytes, refusing anything longer than a code can be before decoding it.
fn decode_text(code: &str) -> Result<Vec<u8>, TicketCodeError> {
    if code.is_empty() {
        return Err(malformed("empty"));
    }
    if code.len() > MAX_CODE_LEN {
        return Err(malformed("too long"));
    }
    BASE32_NOPAD
        .decode(code.as_bytes())
        .map_err(|_| malformed("not upper-case unpadded base32"))
}

/// The parts of a decoded payload.
struct PayloadFields<'a> {
    key_id: &'a [u8],
    /// Everything the tag covers.
    signed: &'a [u8],
    ids: &'a [u8],
    tag: &'a [u8],
}

fn split_payload(payload: &[u8]) -> Result<PayloadFields<'_>, TicketCodeError> {
    let (&version, rest) = payload.split_first().ok_or(malformed("empty"))?;
    if version != FORMAT_VERSION {
        return Err(TicketCodeError::UnsupportedVersion { version });
    }
    let (&key_id_len, rest) = rest.split_first().ok_or(malformed("truncated"))?;
    let key_id_len = usize::from(key_id_len);
    if rest.len() != key_id_len + IDS_LEN_BYTES + TAG_LEN_BYTES {
        return Err(malformed("wrong length"));
    }
    let (key_id, rest) = rest.split_at(key_id_len);
    if !is_valid_key_id(key_id) {
        return Err(malformed("bad key id"));
    }
    let (ids, tag) = rest.split_at(IDS_LEN_BYTES);
    let signed = &payload[..payload.len() - TAG_LEN_BYTES];
    Ok(PayloadFields {
        key_id,
        signed,
        ids,
        tag,
    })
}

/// The four ids from their 64 bytes (length checked by [`split_payload`]).
fn read_claims(ids: &[u8]) -> TicketClaims {
    let id = |index: usize| {
        let start = index * ID_LEN_BYTES;
        let mut bytes = [0u8; ID_LEN_BYTES];
        bytes.copy_from_slice(&ids[start..start + ID_LEN_BYTES]);
        Uuid::from_bytes(bytes)
    };
    TicketClaims {
        ticket_id: TicketId(id(0)),
        booking_id: BookingId(id(1)),
        show_id: ShowId(id(2)),
        seat_id: SeatId(id(3)),
    }
}
