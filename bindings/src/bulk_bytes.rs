//! Byte buffers that cross the FFI in one copy.
//!
//! UniFFI 0.32 lifts and lowers a `Vec<u8>` one element at a time (a bounds
//! check and a push per byte), which costs milliseconds for a 720p frame.
//! [`BulkBytes`] keeps UniFFI's wire format and metadata for `Vec<u8>` (a
//! `RustBuffer` holding a big-endian `i32` length, then the bytes), so the
//! foreign side still sees a plain `ByteArray` / `Data`, but copies the
//! bytes with one `memcpy`. This is the crate's only `unsafe`: implementing
//! UniFFI's converter traits requires it.
#![allow(unsafe_code)]

use uniffi::deps::anyhow::bail;
use uniffi::{FfiConverter, MetadataBuffer, TypeId};

/// Owned bytes: a frame plane, a picture, an access unit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkBytes(pub Vec<u8>);

// SAFETY: the FFI type, metadata and byte layout are exactly those UniFFI
// uses for `Vec<u8>` (`Lower`/`Lift for Vec<T>` in uniffi_core: an `i32`
// count, then each `u8`), so the generated foreign code for `bytes` reads
// and writes these values correctly. No raw pointers are handled here.
unsafe impl FfiConverter<crate::UniFfiTag> for BulkBytes {
    uniffi::ffi_converter_rust_buffer_lift_and_lower!(crate::UniFfiTag);

    const TYPE_ID_META: MetadataBuffer = <Vec<u8> as TypeId<crate::UniFfiTag>>::TYPE_ID_META;

    fn write(obj: Self, buf: &mut Vec<u8>) {
        // UniFFI's own `Vec` lowering panics past i32::MAX too; a frame is far smaller.
        let len = i32::try_from(obj.0.len()).unwrap_or(i32::MAX);
        buf.reserve(4 + obj.0.len());
        buf.extend_from_slice(&len.to_be_bytes());
        buf.extend_from_slice(&obj.0[..len as usize]);
    }

    fn try_read(buf: &mut &[u8]) -> uniffi::Result<Self> {
        let Some((len, rest)) = buf.split_first_chunk::<4>() else { bail!("byte buffer length is missing") };
        let Ok(len) = usize::try_from(i32::from_be_bytes(*len)) else { bail!("negative byte buffer length") };
        if rest.len() < len {
            bail!("byte buffer says {len} bytes, {} remain", rest.len());
        }
        let (bytes, rest) = rest.split_at(len);
        *buf = rest;
        Ok(Self(bytes.to_vec()))
    }
}

uniffi::derive_ffi_traits!(local BulkBytes);

impl From<Vec<u8>> for BulkBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

#[cfg(test)]
mod tests {
    use uniffi::{Lift, Lower};

    use super::*;

    #[test]
    fn same_wire_format_as_uniffi_vec_u8_both_ways() {
        let bytes: Vec<u8> = (0..=255).cycle().take(70_001).collect();
        let ours = <BulkBytes as Lower<crate::UniFfiTag>>::lower(BulkBytes(bytes.clone()));
        let lifted_by_uniffi = <Vec<u8> as Lift<crate::UniFfiTag>>::try_lift(ours).unwrap();
        assert_eq!(lifted_by_uniffi, bytes);
        let theirs = <Vec<u8> as Lower<crate::UniFfiTag>>::lower(bytes.clone());
        let lifted_by_us = <BulkBytes as Lift<crate::UniFfiTag>>::try_lift(theirs).unwrap();
        assert_eq!(lifted_by_us.0, bytes);
    }

    #[test]
    fn a_truncated_buffer_is_an_error_not_a_panic() {
        let mut short: &[u8] = &[0, 0, 0, 10, 1, 2, 3];
        assert!(<BulkBytes as Lift<crate::UniFfiTag>>::try_read(&mut short).is_err());
        let mut negative: &[u8] = &[0xff, 0xff, 0xff, 0xff];
        assert!(<BulkBytes as Lift<crate::UniFfiTag>>::try_read(&mut negative).is_err());
    }
}
