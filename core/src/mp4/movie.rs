//! The `ftyp` and `moov` boxes: movie header, one `trak` per track with its
//! edit list, media header, handler and sample tables. Section numbers are
//! those of ISO/IEC 14496-12 (5th edition) unless stated otherwise.

use super::avc::write_avcc;
use super::boxes::BoxWriter;
use super::plan::{TrackMedia, TrackPlan, MOVIE_TIMESCALE};
use super::Mp4Error;

pub(crate) struct MovieHeader {
    pub creation_time_1904: u64,
}

/// `ftyp` (§4.3): ISO base media with the AVC brand; `mp41` for players
/// that look for an MP4 brand before anything else.
pub(crate) fn ftyp() -> Result<Vec<u8>, Mp4Error> {
    let mut w = BoxWriter::new();
    w.boxed(b"ftyp", |w| {
        w.bytes(b"isom");
        w.u32(0x200); // minor_version
        for brand in [b"isom", b"iso2", b"avc1", b"mp41"] {
            w.bytes(brand);
        }
        Ok(())
    })?;
    Ok(w.into_bytes())
}

/// `moov` (§8.2.1). Chunk offsets are `base` plus each chunk's offset in
/// the `mdat` payload; `wide` selects `co64` over `stco` (§8.7.5).
pub(crate) fn moov(header: &MovieHeader, tracks: &[TrackPlan<'_>], base: u64, wide: bool) -> Result<Vec<u8>, Mp4Error> {
    let mut w = BoxWriter::new();
    w.boxed(b"moov", |w| {
        mvhd(w, header, tracks)?;
        for track in tracks {
            trak(w, header, track, base, wide)?;
        }
        Ok(())
    })?;
    Ok(w.into_bytes())
}

/// `mvhd` (§8.2.2), version 1 for 64-bit times.
fn mvhd(w: &mut BoxWriter, header: &MovieHeader, tracks: &[TrackPlan<'_>]) -> Result<(), Mp4Error> {
    let duration = tracks.iter().map(TrackPlan::duration_movie).max().unwrap_or(0);
    let next_track_id = tracks.iter().map(|t| t.track_id).max().unwrap_or(0).saturating_add(1);
    w.full_box(b"mvhd", 1, 0, |w| {
        w.u64(header.creation_time_1904);
        w.u64(header.creation_time_1904); // modification_time
        w.u32(MOVIE_TIMESCALE);
        w.u64(duration);
        w.u32(0x0001_0000); // rate 1.0
        w.u16(0x0100); // volume 1.0
        w.zeros(2 + 4 * 2); // reserved
        write_matrix(w, [0x0001_0000, 0, 0, 0x0001_0000, 0, 0]);
        w.zeros(4 * 6); // pre_defined
        w.u32(next_track_id);
        Ok(())
    })
}

fn trak(w: &mut BoxWriter, header: &MovieHeader, track: &TrackPlan<'_>, base: u64, wide: bool) -> Result<(), Mp4Error> {
    w.boxed(b"trak", |w| {
        tkhd(w, header, track)?;
        // `edts`/`elst` (§8.6.5, §8.6.6), version 1: 64-bit durations and times.
        w.boxed(b"edts", |w| {
            w.full_box(b"elst", 1, 0, |w| {
                w.count(track.edits.len(), "edit count")?;
                for edit in &track.edits {
                    w.u64(edit.duration_movie);
                    w.i64(edit.media_time);
                    w.u16(1); // media_rate_integer
                    w.u16(0); // media_rate_fraction
                }
                Ok(())
            })
        })?;
        w.boxed(b"mdia", |w| {
            // `mdhd` (§8.4.2), version 1; language "und" packed as 3 × 5 bits.
            w.full_box(b"mdhd", 1, 0, |w| {
                w.u64(header.creation_time_1904);
                w.u64(header.creation_time_1904);
                w.u32(track.timescale);
                w.u64(track.media_duration);
                w.u16(0x55c4);
                w.u16(0); // pre_defined
                Ok(())
            })?;
            let (handler, name): (&[u8; 4], &[u8]) = match track.media {
                TrackMedia::Video { .. } => (b"vide", b"VideoHandler\0"),
                // The CAMM spec asks for a `meta` handler.
                TrackMedia::CameraMotion => (b"meta", b"CameraMetadataMotionHandler\0"),
            };
            // `hdlr` (§8.4.3).
            w.full_box(b"hdlr", 0, 0, |w| {
                w.u32(0); // pre_defined
                w.bytes(handler);
                w.zeros(4 * 3); // reserved
                w.bytes(name);
                Ok(())
            })?;
            w.boxed(b"minf", |w| {
                match track.media {
                    // `vmhd` (§12.1.2): flags = 1 as the spec requires; copy mode, no opcolor.
                    TrackMedia::Video { .. } => w.full_box(b"vmhd", 0, 1, |w| {
                        w.zeros(2 + 2 * 3);
                        Ok(())
                    })?,
                    // `nmhd` (§8.4.5.2): null media header for the metadata track.
                    TrackMedia::CameraMotion => w.full_box(b"nmhd", 0, 0, |_| Ok(()))?,
                }
                // `dinf`/`dref` (§8.7.1, §8.7.2): one `url ` entry with flag 1, "media in this file".
                w.boxed(b"dinf", |w| {
                    w.full_box(b"dref", 0, 0, |w| {
                        w.u32(1);
                        w.full_box(b"url ", 0, 1, |_| Ok(()))
                    })
                })?;
                stbl(w, track, base, wide)
            })
        })
    })
}

/// `tkhd` (§8.3.2), version 1, flags track_enabled | track_in_movie.
fn tkhd(w: &mut BoxWriter, header: &MovieHeader, track: &TrackPlan<'_>) -> Result<(), Mp4Error> {
    let (matrix, width, height) = match track.media {
        TrackMedia::Video { width, height, rotation_degrees, .. } => {
            (display_matrix(rotation_degrees, width, height)?, width, height)
        }
        TrackMedia::CameraMotion => ([0x0001_0000, 0, 0, 0x0001_0000, 0, 0], 0, 0),
    };
    w.full_box(b"tkhd", 1, 0x000003, |w| {
        w.u64(header.creation_time_1904);
        w.u64(header.creation_time_1904);
        w.u32(track.track_id);
        w.u32(0); // reserved
        w.u64(track.duration_movie());
        w.zeros(4 * 2); // reserved
        w.u16(0); // layer
        w.u16(0); // alternate_group
        w.u16(0); // volume: not an audio track
        w.u16(0); // reserved
        write_matrix(w, matrix);
        w.u32(u32::from(width) << 16); // 16.16 fixed point
        w.u32(u32::from(height) << 16);
        Ok(())
    })
}

/// The display matrix for a clockwise rotation, as `[a, b, c, d, x, y]` in
/// 16.16 fixed point (§6.2.2: a point (p, q) is shown at
/// (a·p + c·q + x, b·p + d·q + y)). The translation keeps the rotated
/// picture in the positive quadrant; these are the matrices ffmpeg and
/// Android's MediaMuxer write for the same rotation.
fn display_matrix(rotation_degrees: u16, width: u16, height: u16) -> Result<[i32; 6], Mp4Error> {
    const ONE: i32 = 0x0001_0000;
    let fixed = |v: u16| i32::try_from(i64::from(v) << 16).map_err(|_| Mp4Error::Overflow { what: "rotation offset" });
    Ok(match rotation_degrees {
        90 => [0, ONE, -ONE, 0, fixed(height)?, 0],
        180 => [-ONE, 0, 0, -ONE, fixed(width)?, fixed(height)?],
        270 => [0, -ONE, ONE, 0, 0, fixed(width)?],
        _ => [ONE, 0, 0, ONE, 0, 0],
    })
}

/// The 3×3 matrix of §6.2.2 with u = v = 0 and w = 1.0 (2.30 fixed point).
fn write_matrix(w: &mut BoxWriter, [a, b, c, d, x, y]: [i32; 6]) {
    for v in [a, b, 0, c, d, 0, x, y, 0x4000_0000] {
        w.i32(v);
    }
}

/// `stbl` (§8.5.1) and its tables.
fn stbl(w: &mut BoxWriter, track: &TrackPlan<'_>, base: u64, wide: bool) -> Result<(), Mp4Error> {
    w.boxed(b"stbl", |w| {
        // `stsd` (§8.5.2) with a single sample entry.
        w.full_box(b"stsd", 0, 0, |w| {
            w.u32(1);
            match track.media {
                TrackMedia::Video { width, height, sps, pps, .. } => avc1(w, width, height, sps, pps),
                // CameraMotionMetadataSampleEntry is a bare SampleEntry('camm') (CAMM spec, "Sample entry").
                TrackMedia::CameraMotion => w.boxed(b"camm", |w| {
                    sample_entry_header(w);
                    Ok(())
                }),
            }
        })?;
        // `stts` (§8.6.1.2): run-length coded decode durations.
        let runs = run_lengths(&track.deltas);
        w.full_box(b"stts", 0, 0, |w| {
            w.count(runs.len(), "stts entry count")?;
            for (count, delta) in runs {
                w.u32(count);
                w.u32(delta);
            }
            Ok(())
        })?;
        // `ctts` (§8.6.1.3), version 0: offsets are never negative because
        // the edit list, not the offsets, moves the first frame to time 0.
        if let Some(offsets) = &track.composition_offsets {
            let runs = run_lengths(offsets);
            w.full_box(b"ctts", 0, 0, |w| {
                w.count(runs.len(), "ctts entry count")?;
                for (count, offset) in runs {
                    w.u32(count);
                    w.u32(offset);
                }
                Ok(())
            })?;
        }
        // `stss` (§8.6.2); absent means every sample is a sync sample.
        if let Some(sync) = &track.sync_samples {
            w.full_box(b"stss", 0, 0, |w| {
                w.count(sync.len(), "sync sample count")?;
                sync.iter().for_each(|&n| w.u32(n));
                Ok(())
            })?;
        }
        // `stsc` (§8.7.4): a new entry only where samples-per-chunk changes.
        let per_chunk: Vec<u32> =
            track.chunks.iter().map(|c| u32::try_from(c.sample_count).unwrap_or(u32::MAX)).collect();
        w.full_box(b"stsc", 0, 0, |w| {
            let mut entries = Vec::new();
            let mut first_chunk = 1u32;
            for (count, samples_per_chunk) in run_lengths(&per_chunk) {
                entries.push((first_chunk, samples_per_chunk));
                first_chunk = first_chunk.saturating_add(count);
            }
            w.count(entries.len(), "stsc entry count")?;
            for (first_chunk, samples_per_chunk) in entries {
                w.u32(first_chunk);
                w.u32(samples_per_chunk);
                w.u32(1); // sample_description_index
            }
            Ok(())
        })?;
        // `stsz` (§8.7.3.2): one size for all when they agree.
        let sizes: Vec<u32> = track.samples.iter().map(|s| u32::try_from(s.len()).unwrap_or(u32::MAX)).collect();
        w.full_box(b"stsz", 0, 0, |w| {
            let uniform = sizes.first().filter(|&&first| sizes.iter().all(|&s| s == first));
            w.u32(uniform.copied().unwrap_or(0));
            w.count(sizes.len(), "sample count")?;
            if uniform.is_none() {
                sizes.iter().for_each(|&s| w.u32(s));
            }
            Ok(())
        })?;
        // `stco` / `co64` (§8.7.5).
        let kind = if wide { b"co64" } else { b"stco" };
        w.full_box(kind, 0, 0, |w| {
            w.count(track.chunks.len(), "chunk count")?;
            for chunk in &track.chunks {
                let offset = base.checked_add(chunk.offset).ok_or(Mp4Error::Overflow { what: "chunk offset" })?;
                if wide {
                    w.u64(offset);
                } else {
                    w.u32(u32::try_from(offset).map_err(|_| Mp4Error::Overflow { what: "chunk offset" })?);
                }
            }
            Ok(())
        })
    })
}

/// `avc1`: AVCSampleEntry (ISO/IEC 14496-15 §5.3.4.1), a VisualSampleEntry (§12.1.3) plus `avcC`.
fn avc1(w: &mut BoxWriter, width: u16, height: u16, sps: &[u8], pps: &[u8]) -> Result<(), Mp4Error> {
    w.boxed(b"avc1", |w| {
        sample_entry_header(w);
        w.zeros(2 + 2 + 4 * 3); // pre_defined, reserved, pre_defined[3]
        w.u16(width);
        w.u16(height);
        w.u32(0x0048_0000); // horizresolution 72 dpi
        w.u32(0x0048_0000); // vertresolution 72 dpi
        w.u32(0); // reserved
        w.u16(1); // frame_count
        w.zeros(32); // compressorname: empty Pascal string
        w.u16(0x0018); // depth: colour, no alpha
        w.u16(0xffff); // pre_defined = -1
        write_avcc(w, sps, pps)
    })
}

/// SampleEntry (§8.5.2.2): six reserved bytes and data_reference_index = 1.
fn sample_entry_header(w: &mut BoxWriter) {
    w.zeros(6);
    w.u16(1);
}

/// `(count, value)` runs of equal consecutive values.
fn run_lengths(values: &[u32]) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((count, last)) if *last == v && *count < u32::MAX => *count += 1,
            _ => runs.push((1, v)),
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_collapse_equal_neighbours_only() {
        assert_eq!(run_lengths(&[3, 3, 0, 0, 0, 3]), [(2, 3), (3, 0), (1, 3)]);
        assert!(run_lengths(&[]).is_empty());
    }

    #[test]
    fn quarter_turn_maps_the_picture_into_view() -> Result<(), Mp4Error> {
        // Turned clockwise, the top-left corner goes to the top-right of a
        // picture `height` wide, and the bottom-right corner to the bottom-left.
        let [a, b, c, d, x, y] = display_matrix(90, 320, 240)?;
        let map = |p: i64, q: i64| {
            let one = 1i64 << 16;
            (
                (i64::from(a) * p + i64::from(c) * q) / one + i64::from(x) / one,
                (i64::from(b) * p + i64::from(d) * q) / one + i64::from(y) / one,
            )
        };
        assert_eq!(map(0, 0), (240, 0));
        assert_eq!(map(320, 240), (0, 320));
        assert!(display_matrix(90, 40_000, 40_000).is_err());
        assert_eq!(display_matrix(0, 40_000, 40_000)?, [1 << 16, 0, 0, 1 << 16, 0, 0]);
        Ok(())
    }
}
