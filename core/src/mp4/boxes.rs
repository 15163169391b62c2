//! A small writer for ISO BMFF boxes (ISO/IEC 14496-12 §4.2).
//!
//! A box is a 32-bit big-endian size (of the whole box, header included),
//! a four-character type, then its payload; a full box adds an 8-bit
//! version and 24 bits of flags. Boxes nest by calling [`BoxWriter::boxed`]
//! inside the body of another, and the size is patched in when the body ends.

use super::Mp4Error;

pub(crate) struct BoxWriter {
    buf: Vec<u8>,
}

impl BoxWriter {
    pub fn new() -> Self {
        Self { buf: Vec::new() }
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// A box whose payload `body` writes.
    pub fn boxed<F>(&mut self, kind: &[u8; 4], body: F) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Self) -> Result<(), Mp4Error>,
    {
        let start = self.buf.len();
        self.u32(0);
        self.bytes(kind);
        body(self)?;
        let size = u32::try_from(self.buf.len() - start).map_err(|_| Mp4Error::Overflow { what: "box size" })?;
        if let Some(slot) = self.buf.get_mut(start..start + 4) {
            slot.copy_from_slice(&size.to_be_bytes());
        }
        Ok(())
    }

    /// A full box (§4.2): version and 24-bit flags before the payload.
    pub fn full_box<F>(&mut self, kind: &[u8; 4], version: u8, flags: u32, body: F) -> Result<(), Mp4Error>
    where
        F: FnOnce(&mut Self) -> Result<(), Mp4Error>,
    {
        self.boxed(kind, |w| {
            w.u32((u32::from(version) << 24) | (flags & 0x00ff_ffff));
            body(w)
        })
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub fn bytes(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }

    pub fn zeros(&mut self, n: usize) {
        self.buf.resize(self.buf.len() + n, 0);
    }

    /// A count written as `u32`, as every sample-table entry count is.
    pub fn count(&mut self, n: usize, what: &'static str) -> Result<(), Mp4Error> {
        self.u32(u32::try_from(n).map_err(|_| Mp4Error::Overflow { what })?);
        Ok(())
    }
}

/// The header of the `mdat` box (§8.1.1) for a payload of `payload_len`
/// bytes: the compact form when it fits, else `size = 1` and a 64-bit
/// `largesize` (§4.2).
pub(crate) fn mdat_header(payload_len: u64) -> Result<Vec<u8>, Mp4Error> {
    let mut out = Vec::with_capacity(16);
    match payload_len.checked_add(8).and_then(|n| u32::try_from(n).ok()) {
        Some(size) => {
            out.extend_from_slice(&size.to_be_bytes());
            out.extend_from_slice(b"mdat");
        }
        None => {
            let size = payload_len.checked_add(16).ok_or(Mp4Error::Overflow { what: "mdat size" })?;
            out.extend_from_slice(&1u32.to_be_bytes());
            out.extend_from_slice(b"mdat");
            out.extend_from_slice(&size.to_be_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_boxes_carry_their_own_sizes() -> Result<(), Mp4Error> {
        let mut w = BoxWriter::new();
        w.boxed(b"outr", |w| {
            w.full_box(b"innr", 1, 0x000003, |w| {
                w.u16(0xabcd);
                Ok(())
            })
        })?;
        let bytes = w.into_bytes();
        assert_eq!(
            bytes,
            [0, 0, 0, 22, b'o', b'u', b't', b'r', 0, 0, 0, 14, b'i', b'n', b'n', b'r', 1, 0, 0, 3, 0xab, 0xcd]
        );
        Ok(())
    }

    #[test]
    fn mdat_switches_to_largesize_past_four_gibibytes() -> Result<(), Mp4Error> {
        assert_eq!(mdat_header(10)?, [0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let big = u64::from(u32::MAX);
        let header = mdat_header(big)?;
        assert_eq!(header.len(), 16);
        assert_eq!(&header[..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(header[8..], (big + 16).to_be_bytes());
        Ok(())
    }
}
