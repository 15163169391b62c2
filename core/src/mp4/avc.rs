//! H.264 bitstream plumbing: Annex-B byte streams (ITU-T H.264 Annex B) to
//! the length-prefixed form MP4 samples carry (ISO/IEC 14496-15 §5.3.2),
//! and the decoder configuration record `avcC` (ISO/IEC 14496-15 §5.3.3.1).

use super::boxes::BoxWriter;
use super::Mp4Error;

/// One access unit converted from Annex-B.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AvccAccessUnit {
    /// Picture NAL units (slices, SEI, …), each prefixed by its 4-byte
    /// big-endian length; SPS, PPS, AUD and filler data are left out.
    pub data: Vec<u8>,
    /// Every SPS found, in order, without start codes.
    pub sps: Vec<Vec<u8>>,
    /// Every PPS found, in order, without start codes.
    pub pps: Vec<Vec<u8>>,
    /// Whether a coded slice of an IDR picture (NAL type 5) is present.
    pub is_idr: bool,
}

// nal_unit_type values, ITU-T H.264 Table 7-1.
const NAL_IDR_SLICE: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_AUD: u8 = 9;
const NAL_FILLER: u8 = 12;

/// Converts one access unit from Annex-B to AVCC. Empty input (or only zero
/// bytes) gives an empty unit; bytes before the first start code are an error.
pub fn annexb_to_avcc(annexb: &[u8]) -> Result<AvccAccessUnit, Mp4Error> {
    let mut unit = AvccAccessUnit::default();
    for nal in split_annexb(annexb)? {
        let Some(&header) = nal.first() else { continue };
        if header & 0x80 != 0 {
            return Err(Mp4Error::MalformedAnnexB { reason: "NAL unit has forbidden_zero_bit set" });
        }
        match header & 0x1f {
            NAL_SPS => unit.sps.push(nal.to_vec()),
            NAL_PPS => unit.pps.push(nal.to_vec()),
            NAL_AUD | NAL_FILLER => {}
            nal_type => {
                unit.is_idr |= nal_type == NAL_IDR_SLICE;
                let len = u32::try_from(nal.len())
                    .map_err(|_| Mp4Error::MalformedAnnexB { reason: "NAL unit longer than 4 GiB" })?;
                unit.data.extend_from_slice(&len.to_be_bytes());
                unit.data.extend_from_slice(nal);
            }
        }
    }
    Ok(unit)
}

/// The NAL units between `00 00 01` start codes, with the zero bytes that
/// precede a start code (4-byte codes, trailing_zero_8bits) trimmed.
fn split_annexb(input: &[u8]) -> Result<Vec<&[u8]>, Mp4Error> {
    let mut payload_starts = Vec::new();
    let mut code_starts = Vec::new();
    let mut i = 0;
    while i + 3 <= input.len() {
        if input.get(i..i + 3) == Some(&[0, 0, 1]) {
            code_starts.push(i);
            payload_starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let leading = code_starts.first().copied().unwrap_or(input.len());
    if input.iter().take(leading).any(|&b| b != 0) {
        return Err(Mp4Error::MalformedAnnexB { reason: "data before the first start code" });
    }
    let ends = code_starts.iter().skip(1).copied().chain(std::iter::once(input.len()));
    let mut nals = Vec::with_capacity(payload_starts.len());
    for (start, end) in payload_starts.into_iter().zip(ends) {
        let nal = input.get(start..end).unwrap_or_default();
        let trimmed_len = nal.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
        if let Some(nal) = nal.get(..trimmed_len).filter(|n| !n.is_empty()) {
            nals.push(nal);
        }
    }
    Ok(nals)
}

/// Whether `data` is a well-formed AVCC sample: one or more NAL units, each
/// behind a 4-byte length, filling the buffer exactly.
pub(crate) fn is_well_formed_avcc(data: &[u8]) -> bool {
    let mut rest = data;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else { return false };
        let len = u32::from_be_bytes(*len) as usize;
        if len == 0 || len > tail.len() {
            return false;
        }
        rest = &tail[len..];
    }
    true
}

/// Writes the `avcC` box: AVCConfigurationBox holding an
/// AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1.2) with one SPS
/// and one PPS and 4-byte NAL lengths.
pub(crate) fn write_avcc(w: &mut BoxWriter, sps: &[u8], pps: &[u8]) -> Result<(), Mp4Error> {
    let [_, profile_idc, compatibility, level_idc, ..] = *sps else {
        return Err(Mp4Error::MissingParameterSet { which: "SPS" });
    };
    let sps_len = u16::try_from(sps.len()).map_err(|_| Mp4Error::Overflow { what: "SPS length" })?;
    let pps_len = u16::try_from(pps.len()).map_err(|_| Mp4Error::Overflow { what: "PPS length" })?;
    // The chroma/bit-depth extension is present for these profiles only (§5.3.3.1.2).
    let high_profile = matches!(profile_idc, 100 | 110 | 122 | 144);
    let format = if high_profile { Some(parse_sps_format(sps)?) } else { None };
    w.boxed(b"avcC", |w| {
        w.u8(1); // configurationVersion
        w.u8(profile_idc);
        w.u8(compatibility);
        w.u8(level_idc);
        w.u8(0xfc | 3); // reserved '111111', lengthSizeMinusOne = 3
        w.u8(0xe0 | 1); // reserved '111', numOfSequenceParameterSets = 1
        w.u16(sps_len);
        w.bytes(sps);
        w.u8(1); // numOfPictureParameterSets
        w.u16(pps_len);
        w.bytes(pps);
        if let Some(f) = format {
            w.u8(0xfc | f.chroma_format_idc);
            w.u8(0xf8 | f.bit_depth_luma_minus8);
            w.u8(0xf8 | f.bit_depth_chroma_minus8);
            w.u8(0); // numOfSequenceParameterSetExt
        }
        Ok(())
    })
}

/// The SPS fields the `avcC` extension repeats (ITU-T H.264 §7.3.2.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpsFormat {
    chroma_format_idc: u8,
    bit_depth_luma_minus8: u8,
    bit_depth_chroma_minus8: u8,
}

fn parse_sps_format(sps: &[u8]) -> Result<SpsFormat, Mp4Error> {
    let rbsp = unescape_rbsp(sps.get(4..).unwrap_or_default());
    let mut bits = BitReader { data: &rbsp, pos: 0 };
    let invalid = |reason| Mp4Error::InvalidSps { reason };
    let _seq_parameter_set_id = bits.ue().ok_or(invalid("truncated seq_parameter_set_id"))?;
    let chroma = bits.ue().ok_or(invalid("truncated chroma_format_idc"))?;
    if chroma > 3 {
        return Err(invalid("chroma_format_idc above 3"));
    }
    if chroma == 3 {
        bits.bit().ok_or(invalid("truncated separate_colour_plane_flag"))?;
    }
    let luma = bits.ue().ok_or(invalid("truncated bit_depth_luma_minus8"))?;
    let chroma_depth = bits.ue().ok_or(invalid("truncated bit_depth_chroma_minus8"))?;
    if luma > 6 || chroma_depth > 6 {
        return Err(invalid("bit depth above 14"));
    }
    // All three were range-checked above, so the casts are exact.
    Ok(SpsFormat {
        chroma_format_idc: chroma as u8,
        bit_depth_luma_minus8: luma as u8,
        bit_depth_chroma_minus8: chroma_depth as u8,
    })
}

/// Drops emulation-prevention bytes: `00 00 03` → `00 00` (H.264 §7.4.1).
fn unescape_rbsp(ebsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ebsp.len());
    let mut zeros = 0;
    for &b in ebsp {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<u32> {
        let byte = self.data.get(self.pos / 8)?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    /// Unsigned Exp-Golomb code ue(v) (H.264 §9.1), up to 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut leading = 0;
        while self.bit()? == 0 {
            leading += 1;
            if leading > 31 {
                return None;
            }
        }
        let mut suffix: u64 = 0;
        for _ in 0..leading {
            suffix = (suffix << 1) | u64::from(self.bit()?);
        }
        u32::try_from((1u64 << leading) - 1 + suffix).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn drops_parameter_sets_and_delimiters_and_prefixes_lengths() -> Result<(), Mp4Error> {
        let stream = [
            &[0, 0, 0, 1, 0x09, 0xf0][..],               // AUD
            &[0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0xab], // SPS
            &[0, 0, 1, 0x68, 0xce, 0x3c, 0x80],          // PPS
            &[0, 0, 1, 0x06, 0x05, 0x01, 0x80],          // SEI
            &[0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x00],    // IDR slice + trailing zeros
        ]
        .concat();
        let unit = annexb_to_avcc(&stream)?;
        assert_eq!(unit.sps, vec![vec![0x67, 0x42, 0xc0, 0x1e, 0xab]]);
        assert_eq!(unit.pps, vec![vec![0x68, 0xce, 0x3c, 0x80]]);
        assert!(unit.is_idr);
        assert_eq!(unit.data, [0, 0, 0, 4, 0x06, 0x05, 0x01, 0x80, 0, 0, 0, 3, 0x65, 0x88, 0x84]);
        assert!(is_well_formed_avcc(&unit.data));
        Ok(())
    }

    #[test]
    fn non_idr_slice_is_not_sync() -> Result<(), Mp4Error> {
        let unit = annexb_to_avcc(&[0, 0, 1, 0x41, 0x9a, 0x01])?;
        assert!(!unit.is_idr);
        assert_eq!(unit.data, [0, 0, 0, 3, 0x41, 0x9a, 0x01]);
        Ok(())
    }

    #[test]
    fn rejects_bytes_before_the_first_start_code() {
        assert!(annexb_to_avcc(&[0x65, 0, 0, 1, 0x65, 0x88]).is_err());
        assert!(annexb_to_avcc(&[0x65, 0x88]).is_err());
        assert_eq!(annexb_to_avcc(&[]), Ok(AvccAccessUnit::default()));
    }

    #[test]
    fn reads_high_profile_chroma_and_bit_depth() -> Result<(), Mp4Error> {
        // profile 100, level 31; ue: sps_id=0 '1', chroma=1 '010', luma=0 '1', chroma=0 '1'.
        let sps = [0x67, 100, 0, 31, 0b1010_1100];
        let format = parse_sps_format(&sps)?;
        assert_eq!(format, SpsFormat { chroma_format_idc: 1, bit_depth_luma_minus8: 0, bit_depth_chroma_minus8: 0 });
        let mut w = BoxWriter::new();
        write_avcc(&mut w, &sps, &[0x68, 0xee])?;
        let avcc = w.into_bytes();
        assert_eq!(&avcc[8..13], &[1, 100, 0, 31, 0xff]);
        assert_eq!(&avcc[avcc.len() - 4..], &[0xfd, 0xf8, 0xf8, 0]);
        Ok(())
    }

    #[test]
    fn truncated_sps_is_an_error() {
        assert!(parse_sps_format(&[0x67, 100, 0, 31]).is_err());
        assert!(parse_sps_format(&[0x67, 100, 0, 31, 0, 0, 0, 0, 0]).is_err());
    }

    #[test]
    fn avcc_sample_check_rejects_bad_lengths() {
        assert!(is_well_formed_avcc(&[0, 0, 0, 1, 0x65]));
        assert!(!is_well_formed_avcc(&[]));
        assert!(!is_well_formed_avcc(&[0, 0, 0, 2, 0x65]));
        assert!(!is_well_formed_avcc(&[0, 0, 0, 0]));
        assert!(!is_well_formed_avcc(&[0, 0, 1, 0x65]));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(unit) = annexb_to_avcc(&bytes) {
                prop_assert!(unit.data.is_empty() || is_well_formed_avcc(&unit.data));
            }
            let _ = parse_sps_format(&bytes);
        }

        #[test]
        fn truncated_streams_never_panic(cut in 0usize..64, noise in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut stream = vec![0, 0, 0, 1, 0x67, 100, 0, 31, 0xac, 0, 0, 1, 0x68, 0xee, 0, 0, 1, 0x65];
            stream.extend_from_slice(&noise);
            stream.truncate(cut.min(stream.len()));
            if let Ok(unit) = annexb_to_avcc(&stream) {
                prop_assert!(unit.data.is_empty() || is_well_formed_avcc(&unit.data));
            }
        }
    }
}
