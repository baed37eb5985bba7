//! Key rings: configuration parsing and rotation.

mod common;

use common::{claims, ring, secret};
use tickets::{KeyId, KeyRing, KeyRingError, TicketCodeError};

#[test]
fn the_first_configured_key_signs_and_every_key_verifies() {
    let ring = ring(&[("k2", 2), ("k1", 1)]);
    assert_eq!(ring.signing_key_id().as_str(), "k2");
    let ids: Vec<&str> = ring.key_ids().map(KeyId::as_str).collect();
    assert_eq!(ids, ["k1", "k2"]);
}

#[test]
fn rotation_keeps_old_tickets_valid_and_signs_new_ones_with_the_new_key() {
    let before = ring(&[("k1", 1)]);
    let old_code = before.sign(&claims(1));

    let rotated = ring(&[("k2", 2), ("k1", 1)]);
    assert_eq!(rotated.verify(&old_code), Ok(claims(1)));
    let new_code = rotated.sign(&claims(2));
    assert_ne!(new_code, before.sign(&claims(2)));
    assert_eq!(rotated.verify(&new_code), Ok(claims(2)));
    // A process still on the old ring does not know the new key.
    assert_eq!(
        before.verify(&new_code),
        Err(TicketCodeError::UnknownKey {
            key_id: "k2".to_owned()
        })
    );

    let retired = ring(&[("k2", 2)]);
    assert_eq!(
        retired.verify(&old_code),
        Err(TicketCodeError::UnknownKey {
            key_id: "k1".to_owned()
        })
    );
    assert_eq!(retired.verify(&new_code), Ok(claims(2)));
}

#[test]
fn the_same_key_id_with_another_secret_is_a_bad_signature() {
    let code = ring(&[("k1", 1)]).sign(&claims(3));
    assert_eq!(
        ring(&[("k1", 9)]).verify(&code),
        Err(TicketCodeError::BadSignature)
    );
}

#[test]
fn configuration_accepts_padding_or_not_and_whitespace() {
    let unpadded = data_encoding::BASE64_NOPAD.encode(&[5u8; 33]);
    let config = format!(" k5 : {unpadded} ,\n k1:{}", secret(1));
    let ring = KeyRing::from_config(&config).expect("valid");
    assert_eq!(ring.signing_key_id().as_str(), "k5");
    let parsed: KeyRing = format!("k1:{}", secret(1)).parse().expect("FromStr");
    let code = parsed.sign(&claims(4));
    assert_eq!(ring.verify(&code), Ok(claims(4)));
}

#[test]
fn bad_configurations_are_named_errors() {
    let short = data_encoding::BASE64.encode(&[1u8; 31]);
    let cases: Vec<(String, KeyRingError)> = vec![
        (String::new(), KeyRingError::Empty),
        ("  ".to_owned(), KeyRingError::Empty),
        (
            "k1".to_owned(),
            KeyRingError::MalformedEntry { position: 1 },
        ),
        (
            format!("k1:{},", secret(1)),
            KeyRingError::MalformedEntry { position: 2 },
        ),
        (
            format!(":{}", secret(1)),
            KeyRingError::InvalidKeyId {
                key_id: String::new(),
            },
        ),
        (
            format!("k 1:{}", secret(1)),
            KeyRingError::InvalidKeyId {
                key_id: "k 1".to_owned(),
            },
        ),
        (
            format!("{}:{}", "k".repeat(17), secret(1)),
            KeyRingError::InvalidKeyId {
                key_id: "k".repeat(17),
            },
        ),
        (
            "k1:not base64!".to_owned(),
            KeyRingError::SecretNotBase64 {
                key_id: key_id("k1"),
            },
        ),
        (
            format!("k1:{short}"),
            KeyRingError::SecretTooShort {
                key_id: key_id("k1"),
                len_bytes: 31,
            },
        ),
        (
            format!("k1:{},k1:{}", secret(1), secret(2)),
            KeyRingError::DuplicateKeyId {
                key_id: key_id("k1"),
            },
        ),
    ];
    for (config, expected) in cases {
        assert_eq!(
            KeyRing::from_config(&config).err(),
            Some(expected),
            "{config:?}"
        );
    }
}

#[test]
fn errors_and_debug_output_never_show_secrets() {
    let ring = ring(&[("k1", 1)]);
    let debug = format!("{ring:?}");
    assert!(debug.contains("k1"));
    assert!(!debug.contains(&secret(1)), "{debug}");
    let error = KeyRing::from_config("k1:c2VjcmV0").expect_err("too short");
    assert!(!error.to_string().contains("c2VjcmV0"), "{error}");
}

#[test]
fn the_signing_key_must_be_in_the_ring() {
    let result = KeyRing::new(key_id("k9"), [(key_id("k1"), vec![1u8; 32])]);
    assert_eq!(
        result.err(),
        Some(KeyRingError::SigningKeyMissing {
            key_id: key_id("k9")
        })
    );
    let empty = KeyRing::new(key_id("k1"), Vec::new());
    assert_eq!(empty.err(), Some(KeyRingError::Empty));
}

#[test]
fn generated_configurations_parse_and_differ() {
    let first = KeyRing::generate_config(&key_id("dev"));
    let second = KeyRing::generate_config(&key_id("dev"));
    assert_ne!(first, second);
    let ring = KeyRing::from_config(&first).expect("generated config parses");
    assert_eq!(ring.verify(&ring.sign(&claims(5))), Ok(claims(5)));
    assert_eq!(
        KeyRing::from_config(&second)
            .expect("parses")
            .verify(&ring.sign(&claims(5))),
        Err(TicketCodeError::BadSignature)
    );
}

fn key_id(id: &str) -> KeyId {
    KeyId::new(id).expect("valid key id")
}
