//! The single place the wire encoding is chosen: MessagePack via rmp-serde, structs as arrays
//! (compact; field order is part of the schema, so fields are only ever appended).

use serde::{Serialize, de::DeserializeOwned};

/// A message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed (only on types serde cannot represent).
    #[error("encode: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    /// The bytes are not a valid message of the expected type.
    #[error("decode: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
}

/// Encode a wire value.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    Ok(rmp_serde::to_vec(value)?)
}

/// Decode a wire value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(rmp_serde::from_slice(bytes)?)
}
