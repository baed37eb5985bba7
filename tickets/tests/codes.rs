//! Ticket codes: round trips, and every kind of damage is refused with the right name.

mod common;

use common::{claims, ring};
use data_encoding::BASE32_NOPAD;
use proptest::prelude::*;
use tickets::{FORMAT_VERSION, KeyRing, MAX_CODE_LEN, TicketCodeError};

const BASE32_ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn standard_ring() -> KeyRing {
    ring(&[("k2", 2), ("k1", 1)])
}

#[test]
fn a_signed_code_verifies_back_to_its_claims() {
    let ring = standard_ring();
    for seed in [0u128, 1, 42, u128::MAX, 0xdead_beef_cafe] {
        let claims = claims(seed);
        let code = ring.sign(&claims);
        assert_eq!(ring.verify(&code), Ok(claims));
    }
}

#[test]
fn codes_are_135_upper_case_base32_characters_and_deterministic() {
    let ring = standard_ring();
    let code = ring.sign(&claims(7));
    // 1 version + 1 length + 2 key id + 64 ids + 16 tag = 84 bytes -> ceil(84 * 8 / 5).
    assert_eq!(code.len(), 135);
    assert!(code.len() <= MAX_CODE_LEN);
    assert!(code.chars().all(|c| BASE32_ALPHABET.contains(c)), "{code}");
    assert_eq!(ring.sign(&claims(7)), code);
    assert_ne!(ring.sign(&claims(8)), code);
}

#[test]
fn the_longest_key_id_still_round_trips_within_the_maximum_length() {
    let ring = ring(&[("abcdefghij-_0123", 3)]);
    let code = ring.sign(&claims(9));
    assert_eq!(code.len(), MAX_CODE_LEN);
    assert_eq!(ring.verify(&code), Ok(claims(9)));
}

#[test]
fn every_character_replaced_by_every_other_base32_character_fails() {
    let ring = standard_ring();
    let code = ring.sign(&claims(11));
    let mut checked = 0;
    for position in 0..code.len() {
        for replacement in BASE32_ALPHABET.chars().chain("a0189=- é".chars()) {
            if code[position..].starts_with(replacement) {
                continue;
            }
            let altered = replace_char(&code, position, replacement);
            assert!(
                ring.verify(&altered).is_err(),
                "altered at {position} to {replacement:?} still verifies"
            );
            checked += 1;
        }
    }
    assert!(checked > 135 * 31);
}

#[test]
fn every_bit_of_the_binary_payload_flipped_fails_with_the_matching_error() {
    let ring = standard_ring();
    let payload = BASE32_NOPAD
        .decode(ring.sign(&claims(12)).as_bytes())
        .expect("base32");
    assert_eq!(payload.len(), 84);
    for index in 0..payload.len() {
        for bit in 0..8 {
            let mut altered = payload.clone();
            altered[index] ^= 1 << bit;
            let result = ring.verify(&BASE32_NOPAD.encode(&altered));
            match index {
                0 => assert_eq!(
                    result,
                    Err(TicketCodeError::UnsupportedVersion {
                        version: FORMAT_VERSION ^ (1 << bit)
                    })
                ),
                // The key id length: the code no longer adds up.
                1 => assert!(
                    matches!(result, Err(TicketCodeError::Malformed { .. })),
                    "{result:?}"
                ),
                // The key id: another valid-looking name is unknown, a non-name is malformed.
                2 | 3 => assert!(
                    matches!(
                        result,
                        Err(TicketCodeError::UnknownKey { .. } | TicketCodeError::Malformed { .. })
                    ),
                    "{result:?}"
                ),
                _ => assert_eq!(
                    result,
                    Err(TicketCodeError::BadSignature),
                    "byte {index} bit {bit}"
                ),
            }
        }
    }
}

#[test]
fn truncated_codes_are_malformed() {
    let ring = standard_ring();
    let code = ring.sign(&claims(13));
    for len in 0..code.len() {
        let result = ring.verify(&code[..len]);
        assert!(
            matches!(result, Err(TicketCodeError::Malformed { .. })),
            "prefix {len}: {result:?}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    let ring = standard_ring();
    let code = ring.sign(&claims(14));
    let too_long = "A".repeat(MAX_CODE_LEN + 1);
    let lower = code.to_lowercase();
    let padded = format!("{code}=");
    let spaced = format!(" {code}");
    let extended = format!("{code}AAAAAAAA");
    let garbage = [
        "",
        "hello",
        "not a ticket",
        "https://example.com/t/123",
        "????",
        "ÄÖÜ",
        too_long.as_str(),
        lower.as_str(),
        padded.as_str(),
        spaced.as_str(),
        extended.as_str(),
    ];
    for input in garbage {
        let result = ring.verify(input);
        assert!(
            matches!(result, Err(TicketCodeError::Malformed { .. })),
            "{input:?}: {result:?}"
        );
    }
}

#[test]
fn a_future_format_version_is_named_as_such() {
    let ring = standard_ring();
    let mut payload = BASE32_NOPAD
        .decode(ring.sign(&claims(15)).as_bytes())
        .expect("base32");
    payload[0] = 2;
    assert_eq!(
        ring.verify(&BASE32_NOPAD.encode(&payload)),
        Err(TicketCodeError::UnsupportedVersion { version: 2 })
    );
}

#[test]
fn claims_swapped_between_two_genuine_codes_fail() {
    let ring = standard_ring();
    let first = BASE32_NOPAD
        .decode(ring.sign(&claims(16)).as_bytes())
        .expect("base32");
    let second = BASE32_NOPAD
        .decode(ring.sign(&claims(17)).as_bytes())
        .expect("base32");
    // The ids of one with the tag of the other.
    let mut spliced = first[..68].to_vec();
    spliced.extend_from_slice(&second[68..]);
    assert_eq!(
        ring.verify(&BASE32_NOPAD.encode(&spliced)),
        Err(TicketCodeError::BadSignature)
    );
}

fn replace_char(code: &str, position: usize, replacement: char) -> String {
    code.char_indices()
        .map(|(index, c)| if index == position { replacement } else { c })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_single_character_altered_fails(
        seed in any::<u128>(),
        position in 0usize..135,
        replacement in any::<char>(),
    ) {
        let ring = standard_ring();
        let code = ring.sign(&claims(seed));
        prop_assume!(!code[position..].starts_with(replacement));
        let altered = replace_char(&code, position, replacement);
        prop_assert!(ring.verify(&altered).is_err());
    }

    #[test]
    fn any_single_byte_of_the_payload_replaced_fails(
        seed in any::<u128>(),
        position in 0usize..84,
        replacement in any::<u8>(),
    ) {
        let ring = standard_ring();
        let mut payload = BASE32_NOPAD.decode(ring.sign(&claims(seed)).as_bytes()).expect("base32");
        prop_assume!(payload[position] != replacement);
        payload[position] = replacement;
        prop_assert!(ring.verify(&BASE32_NOPAD.encode(&payload)).is_err());
    }

    #[test]
    fn a_character_inserted_or_deleted_fails(
        seed in any::<u128>(),
        position in 0usize..135,
        inserted in proptest::sample::select(BASE32_ALPHABET.chars().collect::<Vec<_>>()),
    ) {
        let ring = standard_ring();
        let code = ring.sign(&claims(seed));
        let mut longer = code.clone();
        longer.insert(position, inserted);
        let mut shorter = code.clone();
        shorter.remove(position);
        prop_assert!(ring.verify(&longer).is_err());
        prop_assert!(ring.verify(&shorter).is_err());
    }

    #[test]
    fn random_claims_round_trip(seed in any::<u128>()) {
        let ring = standard_ring();
        prop_assert_eq!(ring.verify(&ring.sign(&claims(seed))), Ok(claims(seed)));
    }
}
