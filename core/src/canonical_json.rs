//! RFC 8785 JSON Canonicalization Scheme. PLACEHOLDER — being implemented.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CanonicalJsonError {
    #[error("not implemented yet")]
    Unimplemented,
}

pub fn to_canonical_bytes(_value: &serde_json::Value) -> Result<Vec<u8>, CanonicalJsonError> {
    Err(CanonicalJsonError::Unimplemented)
}
