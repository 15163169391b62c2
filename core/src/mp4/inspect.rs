//! Reads back the outline of an MP4 (ISO/IEC 14496-12 boxes): enough to
//! check that a decrypted segment is a whole, well-formed file and holds
//! the number of frames its record claims. Input is untrusted: every size
//! is checked against what is left before it is used.

use thiserror::Error;

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Mp4InspectError {
    #[error("box at offset {offset} runs past the end of the file")]
    Truncated { offset: usize },
    #[error("the file does not start with an ftyp box")]
    NoFtyp,
    #[error("the file has no {0} box")]
    Missing(&'static str),
}

/// What a segment file holds, by track.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mp4Outline {
    /// Handler type (`vide`, `meta`, `camm`…) and sample count of each track.
    pub tracks: Vec<([u8; 4], u64)>,
    pub media_bytes: u64,
}

impl Mp4Outline {
    /// Sample count of the first video track.
    pub fn video_samples(&self) -> Option<u64> {
        self.tracks.iter().find(|(handler, _)| handler == b"vide").map(|(_, n)| *n)
    }
}

pub fn inspect(file: &[u8]) -> Result<Mp4Outline, Mp4InspectError> {
    let top = children(file, 0)?;
    if top.first().map(|b| &b.kind) != Some(b"ftyp") {
        return Err(Mp4InspectError::NoFtyp);
    }
    let moov = top.iter().find(|b| &b.kind == b"moov").ok_or(Mp4InspectError::Missing("moov"))?;
    let mdat = top.iter().find(|b| &b.kind == b"mdat").ok_or(Mp4InspectError::Missing("mdat"))?;
    let moov_children = children(moov.body, moov.body_offset)?;
    if !moov_children.iter().any(|b| &b.kind == b"mvhd") {
        return Err(Mp4InspectError::Missing("mvhd"));
    }
    let mut outline = Mp4Outline { tracks: Vec::new(), media_bytes: mdat.body.len() as u64 };
    for trak in moov_children.iter().filter(|b| &b.kind == b"trak") {
        outline.tracks.push(track_outline(trak)?);
    }
    if outline.tracks.is_empty() {
        return Err(Mp4InspectError::Missing("trak"));
    }
    Ok(outline)
}

struct BoxRef<'a> {
    kind: [u8; 4],
    body: &'a [u8],
    body_offset: usize,
}

fn track_outline(trak: &BoxRef<'_>) -> Result<([u8; 4], u64), Mp4InspectError> {
    let mdia = find(trak, b"mdia", "mdia")?;
    let hdlr = find(&mdia, b"hdlr", "hdlr")?;
    // FullBox header (4) + pre_defined (4), then handler_type (§8.4.3).
    let handler: [u8; 4] = hdlr
        .body
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .ok_or(Mp4InspectError::Truncated { offset: hdlr.body_offset })?;
    let minf = find(&mdia, b"minf", "minf")?;
    let stbl = find(&minf, b"stbl", "stbl")?;
    let stsz = find(&stbl, b"stsz", "stsz")?;
    // FullBox header (4) + sample_size (4), then sample_count (§8.7.3.2).
    let count = stsz
        .body
        .get(8..12)
        .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
        .ok_or(Mp4InspectError::Truncated { offset: stsz.body_offset })?;
    Ok((handler, count))
}

fn find<'a>(parent: &BoxRef<'a>, kind: &[u8; 4], name: &'static str) -> Result<BoxRef<'a>, Mp4InspectError> {
    children(parent.body, parent.body_offset)?
        .into_iter()
        .find(|b| &b.kind == kind)
        .ok_or(Mp4InspectError::Missing(name))
}

/// Splits `bytes` into boxes (§4.2: 32-bit size, or 1 + 64-bit largesize,
/// or 0 = to the end).
fn children(bytes: &[u8], base: usize) -> Result<Vec<BoxRef<'_>>, Mp4InspectError> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let truncated = Mp4InspectError::Truncated { offset: base + at };
        let header = bytes.get(at..at + 8).ok_or(truncated.clone())?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = [header[4], header[5], header[6], header[7]];
        let (header_len, size) = match size32 {
            0 => (8, bytes.len() - at),
            1 => {
                let large = bytes.get(at + 8..at + 16).ok_or(truncated.clone())?;
                let size = u64::from_be_bytes(large.try_into().map_err(|_| truncated.clone())?);
                (16, usize::try_from(size).map_err(|_| truncated.clone())?)
            }
            n => (8, n as usize),
        };
        if size < header_len || size > bytes.len() - at {
            return Err(truncated);
        }
        boxes.push(BoxRef { kind, body: &bytes[at + header_len..at + size], body_offset: base + at + header_len });
        at += size;
    }
    Ok(boxes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_and_foreign_files_are_typed_errors() {
        assert_eq!(inspect(b""), Err(Mp4InspectError::NoFtyp));
        assert_eq!(inspect(b"\0\0\0\x10ftypisom"), Err(Mp4InspectError::Truncated { offset: 0 }));
        assert_eq!(inspect(b"\0\0\0\x08ftyp"), Err(Mp4InspectError::Missing("moov")));
        assert_eq!(inspect(b"\0\0\0\x08moov"), Err(Mp4InspectError::NoFtyp));
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics_the_box_walker(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1024)) {
            let _ = inspect(&bytes);
        }
    }
}
