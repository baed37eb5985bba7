//! The challenge a show may put in front of joining its queue (anti-bot), behind one seam:
//! [`JoinChallenge`] issues a challenge for a show, user and difficulty and verifies an answer.
//!
//! The built-in one, and the default, is the contract's proof of work ([`ProofOfWork`]): the
//! challenge is an HMAC of show, user, difficulty and a server nonce ([`ChallengeNonce`]: the
//! challenge window and the buyer's last queue entry, so challenges expire and each solution is
//! accepted once; nothing stored, every ingress derives the same one), and an answer is a nonce such that SHA-256(challenge + nonce) has `bits` leading
//! zero bits. A show switches its challenge on with `challengeBits` (its difficulty); shows
//! without it are joined without one. Another implementation (a CAPTCHA provider, say) plugs in
//! with [`crate::WaitingRoom::set_challenge`]; it speaks the same `{ challenge, bits }` shape,
//! so the HTTP contract does not change with it.

use schemas::{ShowId, UserId};

use crate::token::{self, ChallengeNonce, RoomKeys, SOLUTION_LEN_MAX};

/// A challenge handed to a joiner: the contract's `428` body `{ challenge, bits }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// What the joiner must answer (opaque to the waiting room).
    pub challenge: String,
    /// The difficulty asked for (the show's `challengeBits`).
    pub bits: u8,
}

/// Why an answer to a join challenge was not accepted. Every reason answers
/// `428 challenge-required` with the challenge to answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeRefusal {
    /// The join carried no answer.
    #[error("no answer to the challenge")]
    Missing,
    /// The answer cannot be one (empty, or longer than [`SOLUTION_LEN_MAX`]).
    #[error("the answer to the challenge is malformed")]
    Malformed,
    /// The answer does not solve the challenge.
    #[error("the answer does not solve the challenge")]
    Unsolved,
}

impl ChallengeRefusal {
    /// A short stable name (for metrics and logs).
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeRefusal::Missing => "missing",
            ChallengeRefusal::Malformed => "malformed",
            ChallengeRefusal::Unsolved => "unsolved",
        }
    }
}

/// A challenge for joining a show's queue. Implementations must be deterministic across
/// processes (several ingresses may issue and verify for the same buyer) or keep their own
/// shared state.
pub trait JoinChallenge: Send + Sync {
    /// A short stable name (for metrics and logs).
    fn name(&self) -> &'static str;

    /// The challenge `user` must answer to join `show` at difficulty `bits` (1 or more), with
    /// the server's `nonce` (an implementation that ignores it gets no expiry and no single use).
    fn issue(&self, show: ShowId, user: UserId, bits: u8, nonce: ChallengeNonce) -> Challenge;

    /// Whether `answer` solves `challenge` (one this implementation issued; the waiting room
    /// issues it afresh on every join, so a client never chooses what it answers).
    fn verify(&self, challenge: &Challenge, answer: &str) -> Result<(), ChallengeRefusal>;
}

/// The contract's proof of work: the built-in and default [`JoinChallenge`].
#[derive(Clone, Debug)]
pub struct ProofOfWork {
    keys: RoomKeys,
}

impl ProofOfWork {
    /// Proof of work with challenges derived from `keys`.
    pub fn new(keys: RoomKeys) -> ProofOfWork {
        ProofOfWork { keys }
    }
}

impl JoinChallenge for ProofOfWork {
    fn name(&self) -> &'static str {
        "proof-of-work"
    }

    fn issue(&self, show: ShowId, user: UserId, bits: u8, nonce: ChallengeNonce) -> Challenge {
        Challenge {
            challenge: self.keys.challenge(show, user, bits, nonce),
            bits,
        }
    }

    fn verify(&self, challenge: &Challenge, answer: &str) -> Result<(), ChallengeRefusal> {
        if answer.is_empty() || answer.len() > SOLUTION_LEN_MAX {
            return Err(ChallengeRefusal::Malformed);
        }
        if token::solves(&challenge.challenge, answer, challenge.bits) {
            Ok(())
        } else {
            Err(ChallengeRefusal::Unsolved)
        }
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn pow() -> ProofOfWork {
        ProofOfWork::new(RoomKeys::new(b"0123456789abcdef0123456789abcdef"))
    }

    #[test]
    fn proof_of_work_issues_the_derived_challenge_and_verifies_nonces() {
        let (show, user) = (ShowId(Uuid::from_u128(1)), UserId(Uuid::from_u128(2)));
        let pow = pow();
        let nonce_of = |window| ChallengeNonce {
            window,
            entry: None,
        };
        let issued = pow.issue(show, user, 10, nonce_of(1));
        assert_eq!(
            issued,
            Challenge {
                challenge: RoomKeys::new(b"0123456789abcdef0123456789abcdef").challenge(
                    show,
                    user,
                    10,
                    nonce_of(1)
                ),
                bits: 10,
            }
        );
        let nonce = token::solve(&issued.challenge, 10);
        assert_eq!(pow.verify(&issued, &nonce), Ok(()));
        // The same nonce rarely solves another user's challenge at 10 bits; find one it fails.
        let other = (3..100)
            .map(|n| pow.issue(show, UserId(Uuid::from_u128(n)), 10, nonce_of(1)))
            .find(|c| !token::solves(&c.challenge, &nonce, 10))
            .expect("a nonce solves about one challenge in a thousand");
        assert_eq!(pow.verify(&other, &nonce), Err(ChallengeRefusal::Unsolved));
        assert_eq!(pow.verify(&issued, ""), Err(ChallengeRefusal::Malformed));
        let long = "1".repeat(SOLUTION_LEN_MAX + 1);
        assert_eq!(pow.verify(&issued, &long), Err(ChallengeRefusal::Malformed));
    }
}
