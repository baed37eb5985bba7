//! Secrets of the waiting room, all derived from the one auth secret every ingress shares:
//! admission tokens (HMAC-SHA256 over show, user and expiry), proof-of-work challenges (HMAC of
//! show, user, difficulty and a server nonce, so they need no storage), and the per-show opening
//! seed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use schemas::{ShowId, UnixMs, UserId};
use sha2::{Digest, Sha256};

type HmacSha256 = hmac::Hmac<Sha256>;

/// Version byte leading every admission token (a new format gets a new byte).
const TOKEN_VERSION: u8 = 1;
/// Token payload: version, show, user, expiry (big-endian ms).
const PAYLOAD_LEN: usize = 1 + 16 + 16 + 8;
/// Token bytes: payload then the 32-byte MAC.
const TOKEN_LEN: usize = PAYLOAD_LEN + 32;

/// Longest `Challenge-Solution` accepted (a decimal nonce needs far fewer).
pub const SOLUTION_LEN_MAX: usize = 64;

/// Most leading zero bits a show may ask for (about 4 billion hashes on average).
pub const CHALLENGE_BITS_MAX: u8 = 32;

/// The server's nonce of a challenge: what makes each one new without any process storing it.
/// Every ingress derives the same nonce from the clock and the shared queue log, and the client
/// can neither choose nor predict the challenge it yields (it is a MAC under the room's key).
///
/// - `window`: the challenge window the challenge was issued in (`now / window length`); a
///   challenge is answerable in its window and the next one, so it expires after one to two
///   windows.
/// - `entry`: the buyer's last queue entry in the show (`(join tag, queue number)`; `None`
///   before the first join, the number `u32::MAX` while unnumbered). Each accepted solution
///   makes a new entry, so the next challenge differs: a solution is accepted once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChallengeNonce {
    /// Challenge window number.
    pub window: i64,
    /// The buyer's last entry: join tag and queue number.
    pub entry: Option<(u32, u32)>,
}

impl ChallengeNonce {
    fn bytes(&self) -> [u8; 17] {
        let mut out = [0u8; 17];
        out[..8].copy_from_slice(&self.window.to_be_bytes());
        if let Some((tag, number)) = self.entry {
            out[8] = 1;
            out[9..13].copy_from_slice(&tag.to_be_bytes());
            out[13..].copy_from_slice(&number.to_be_bytes());
        }
        out
    }
}

/// Why an admission token was refused (every reason answers `403 admission-required`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    /// No `Admission-Token` header.
    #[error("no admission token")]
    Missing,
    /// Not a token this service issued (bad encoding, version or signature).
    #[error("admission token is not valid")]
    Forged,
    /// Issued for another show.
    #[error("admission token belongs to another show")]
    OtherShow,
    /// Issued to another user.
    #[error("admission token belongs to another user")]
    OtherUser,
    /// The admission window has passed.
    #[error("admission token expired")]
    Expired,
}

/// The waiting room's keys. Cheap to clone.
#[derive(Clone)]
pub struct RoomKeys {
    token: HmacSha256,
    challenge: HmacSha256,
    hold_challenge: HmacSha256,
    seed: HmacSha256,
}

impl std::fmt::Debug for RoomKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKeys(..)")
    }
}

fn derive(secret: &[u8], purpose: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(purpose.as_bytes());
    let key = mac.finalize().into_bytes();
    HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length")
}

impl RoomKeys {
    /// Keys derived from the service's auth secret (one derived key per purpose, so a token MAC
    /// can never double as a bearer-token signature or a challenge).
    pub fn new(secret: &[u8]) -> RoomKeys {
        RoomKeys {
            token: derive(secret, "boxoffice/waiting-room/admission-token/v1"),
            challenge: derive(secret, "boxoffice/waiting-room/challenge/v1"),
            hold_challenge: derive(secret, "boxoffice/demand-guard/challenge/v1"),
            seed: derive(secret, "boxoffice/waiting-room/opening-seed/v1"),
        }
    }

    /// The admission token of `user` for `show`, valid until `expires_at`.
    pub fn admission_token(&self, show: ShowId, user: UserId, expires_at: UnixMs) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(TOKEN_VERSION);
        bytes.extend_from_slice(show.0.as_bytes());
        bytes.extend_from_slice(user.0.as_bytes());
        bytes.extend_from_slice(&expires_at.0.to_be_bytes());
        let mut mac = self.token.clone();
        mac.update(&bytes);
        bytes.extend_from_slice(&mac.finalize().into_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Check `token` for `show` and `user` at `now`; returns its expiry. The signature is
    /// compared in constant time before anything in the payload is trusted.
    pub fn verify_admission(
        &self,
        token: &str,
        show: ShowId,
        user: UserId,
        now: UnixMs,
    ) -> Result<UnixMs, TokenRefusal> {
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim())
            .map_err(|_| TokenRefusal::Forged)?;
        if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION {
            return Err(TokenRefusal::Forged);
        }
        let (payload, signature) = bytes.split_at(PAYLOAD_LEN);
        let mut mac = self.token.clone();
        mac.update(payload);
        mac.verify_slice(signature)
            .map_err(|_| TokenRefusal::Forged)?;
        if payload[1..17] != *show.0.as_bytes() {
            return Err(TokenRefusal::OtherShow);
        }
        if payload[17..33] != *user.0.as_bytes() {
            return Err(TokenRefusal::OtherUser);
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&payload[33..41]);
        let expires_at = UnixMs(i64::from_be_bytes(expiry));
        if now >= expires_at {
            return Err(TokenRefusal::Expired);
        }
        Ok(expires_at)
    }

    /// The proof-of-work challenge of `user` joining `show` at difficulty `bits` with the server
    /// `nonce`. Derived, not stored: any ingress process computes the same one, and a new
    /// difficulty, window or entry means a new one.
    pub fn challenge(&self, show: ShowId, user: UserId, bits: u8, nonce: ChallengeNonce) -> String {
        let mut mac = self.challenge.clone();
        mac.update(show.0.as_bytes());
        mac.update(user.0.as_bytes());
        mac.update(&[bits]);
        mac.update(&nonce.bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// The demand guard's proof-of-work challenge for a hold of `user` on `show` at difficulty
    /// `bits` in challenge window `window` (its server nonce). Its own key, so a solution to a
    /// queue challenge never answers a hold challenge or the reverse.
    pub fn hold_challenge(&self, show: ShowId, user: UserId, bits: u8, window: i64) -> String {
        let mut mac = self.hold_challenge.clone();
        mac.update(show.0.as_bytes());
        mac.update(user.0.as_bytes());
        mac.update(&[bits]);
        mac.update(&window.to_be_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }

    /// The shuffle seed of `show`'s opening (recorded in the log when used).
    pub fn opening_seed(&self, show: ShowId) -> [u8; 32] {
        let mut mac = self.seed.clone();
        mac.update(show.0.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Whether SHA-256(`challenge` + `nonce`) starts with at least `bits` zero bits.
pub fn solves(challenge: &str, nonce: &str, bits: u8) -> bool {
    if nonce.is_empty() || nonce.len() > SOLUTION_LEN_MAX {
        return false;
    }
    let mut hash = Sha256::new();
    hash.update(challenge.as_bytes());
    hash.update(nonce.as_bytes());
    leading_zero_bits(&hash.finalize()) >= u32::from(bits)
}

/// Leading zero bits of `bytes`.
pub fn leading_zero_bits(bytes: &[u8]) -> u32 {
    let mut zeros = 0;
    for byte in bytes {
        if *byte == 0 {
            zeros += 8;
        } else {
            return zeros + byte.leading_zeros();
        }
    }
    zeros
}

/// Find a nonce for `challenge` at `bits` by counting up from 0, as the web client does (for
/// tests and tools; a difficulty above 24 bits takes a long time).
pub fn solve(challenge: &str, bits: u8) -> String {
    (0u64..)
        .map(|n| n.to_string())
        .find(|nonce| solves(challenge, nonce, bits))
        .expect("some nonce solves any difficulty up to 256 bits")
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn ids() -> (ShowId, UserId) {
        (ShowId(Uuid::from_u128(1)), UserId(Uuid::from_u128(2)))
    }

    #[test]
    fn an_admission_token_is_valid_for_its_show_user_and_window_only() {
        let keys = RoomKeys::new(b"0123456789abcdef0123456789abcdef");
        let (show, user) = ids();
        let token = keys.admission_token(show, user, UnixMs(5_000));
        assert_eq!(
            keys.verify_admission(&token, show, user, UnixMs(4_999)),
            Ok(UnixMs(5_000))
        );
        assert_eq!(
            keys.verify_admission(&token, show, user, UnixMs(5_000)),
            Err(TokenRefusal::Expired)
        );
        let other_show = ShowId(Uuid::from_u128(3));
        let other_user = UserId(Uuid::from_u128(4));
        assert_eq!(
            keys.verify_admission(&token, other_show, user, UnixMs(0)),
            Err(TokenRefusal::OtherShow)
        );
        assert_eq!(
            keys.verify_admission(&token, show, other_user, UnixMs(0)),
            Err(TokenRefusal::OtherUser)
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let keys = RoomKeys::new(b"0123456789abcdef0123456789abcdef");
        let (show, user) = ids();
        let other = RoomKeys::new(b"another secret of some length, 32+");
        let foreign = other.admission_token(show, user, UnixMs(i64::MAX));
        assert_eq!(
            keys.verify_admission(&foreign, show, user, UnixMs(0)),
            Err(TokenRefusal::Forged)
        );
        // A longer expiry written into a real token breaks the signature.
        let token = keys.admission_token(show, user, UnixMs(5_000));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        bytes[40] ^= 0x40;
        let tampered = URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            keys.verify_admission(&tampered, show, user, UnixMs(0)),
            Err(TokenRefusal::Forged)
        );
        for junk in ["", "not base64 !", "AAAA", &token[..token.len() - 2]] {
            assert_eq!(
                keys.verify_admission(junk, show, user, UnixMs(0)),
                Err(TokenRefusal::Forged),
                "{junk:?}"
            );
        }
    }

    const NONCE: ChallengeNonce = ChallengeNonce {
        window: 7,
        entry: None,
    };

    #[test]
    fn challenges_are_per_show_user_difficulty_and_nonce_and_solutions_verify() {
        let keys = RoomKeys::new(b"0123456789abcdef0123456789abcdef");
        let (show, user) = ids();
        let challenge = keys.challenge(show, user, 12, NONCE);
        assert_eq!(challenge, keys.challenge(show, user, 12, NONCE));
        assert_ne!(challenge, keys.challenge(show, user, 13, NONCE));
        assert_ne!(
            challenge,
            keys.challenge(show, UserId(Uuid::from_u128(9)), 12, NONCE)
        );
        let later = ChallengeNonce { window: 8, ..NONCE };
        assert_ne!(challenge, keys.challenge(show, user, 12, later));
        // After a join, the buyer's entry is part of the nonce, whatever its tag.
        for entry in [Some((0, 0)), Some((0, u32::MAX)), Some((5, 1))] {
            let joined = ChallengeNonce { entry, ..NONCE };
            assert_ne!(
                challenge,
                keys.challenge(show, user, 12, joined),
                "{entry:?}"
            );
        }
        let nonce = solve(&challenge, 12);
        assert!(solves(&challenge, &nonce, 12));
        let digest = Sha256::digest(format!("{challenge}{nonce}").as_bytes());
        assert!(leading_zero_bits(&digest) >= 12);
        assert!(!solves(&challenge, "", 0), "an empty nonce is no answer");
        assert!(!solves(&challenge, &"1".repeat(SOLUTION_LEN_MAX + 1), 0));
        // Most nonces do not solve 12 bits.
        let failing = (0..100)
            .filter(|n| !solves(&challenge, &n.to_string(), 12))
            .count();
        assert!(failing > 90);
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        assert_eq!(leading_zero_bits(&[0, 0, 0b0001_0000]), 19);
        assert_eq!(leading_zero_bits(&[0x80]), 0);
        assert_eq!(leading_zero_bits(&[0, 0]), 16);
    }

    #[test]
    fn opening_seeds_differ_per_show_and_secret() {
        let keys = RoomKeys::new(b"0123456789abcdef0123456789abcdef");
        let (show, _) = ids();
        assert_eq!(keys.opening_seed(show), keys.opening_seed(show));
        assert_ne!(
            keys.opening_seed(show),
            keys.opening_seed(ShowId(Uuid::from_u128(5)))
        );
        assert_ne!(
            keys.opening_seed(show),
            RoomKeys::new(b"another secret of some length, 32+").opening_seed(show)
        );
    }
}
