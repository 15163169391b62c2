//! Where each sample goes in `mdat`: samples are grouped into chunks of
//! about one second per track (§8.7.4), and the chunks of all tracks are
//! interleaved by time so a player reading the file front to back finds
//! video and IMU data for the same moment close together.

use super::plan::{Chunk, TrackPlan, MOVIE_TIMESCALE};
use super::Mp4Error;

/// Longest time span of one chunk, in movie units.
const CHUNK_SPAN_MOVIE: i128 = MOVIE_TIMESCALE as i128;

pub(crate) struct MediaLayout {
    pub payload_len: u64,
    /// Offset of the chunk stored last, relative to the payload start.
    pub last_chunk_offset: u64,
    /// (track index, chunk index) in file order.
    order: Vec<(usize, usize)>,
}

/// Splits every track into chunks, orders them by time and sets their offsets.
pub(crate) fn interleave(tracks: &mut [TrackPlan<'_>]) -> Result<MediaLayout, Mp4Error> {
    let mut keyed = Vec::new();
    for (track_index, track) in tracks.iter_mut().enumerate() {
        track.chunks = split_into_chunks(&track.sample_times_movie);
        for (chunk_index, chunk) in track.chunks.iter().enumerate() {
            let start = track.sample_times_movie.get(chunk.first_sample).copied().unwrap_or_default();
            keyed.push((start, track_index, chunk_index));
        }
    }
    keyed.sort_unstable();

    let mut offset = 0u64;
    let mut last_chunk_offset = 0;
    let mut order = Vec::with_capacity(keyed.len());
    for (_, track_index, chunk_index) in keyed {
        let Some(track) = tracks.get_mut(track_index) else { continue };
        let Some(chunk) = track.chunks.get_mut(chunk_index) else { continue };
        chunk.offset = offset;
        last_chunk_offset = offset;
        let bytes: u64 =
            track.samples.iter().skip(chunk.first_sample).take(chunk.sample_count).map(|s| s.len() as u64).sum();
        offset = offset.checked_add(bytes).ok_or(Mp4Error::Overflow { what: "media size" })?;
        order.push((track_index, chunk_index));
    }
    Ok(MediaLayout { payload_len: offset, last_chunk_offset, order })
}

/// Appends the samples of every chunk, in file order.
pub(crate) fn write_payload(tracks: &[TrackPlan<'_>], layout: &MediaLayout, out: &mut Vec<u8>) {
    for &(track_index, chunk_index) in &layout.order {
        let Some(track) = tracks.get(track_index) else { continue };
        let Some(chunk) = track.chunks.get(chunk_index) else { continue };
        for sample in track.samples.iter().skip(chunk.first_sample).take(chunk.sample_count) {
            out.extend_from_slice(sample);
        }
    }
}

fn split_into_chunks(times: &[i128]) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut chunk_start = None;
    for (index, &time) in times.iter().enumerate() {
        match (chunks.last_mut(), chunk_start) {
            (Some(chunk), Some(start)) if time - start < CHUNK_SPAN_MOVIE => chunk.sample_count += 1,
            _ => {
                chunks.push(Chunk { first_sample: index, sample_count: 1, offset: 0 });
                chunk_start = Some(time);
            }
        }
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_span_at_most_one_second() {
        let half = CHUNK_SPAN_MOVIE / 2;
        let times = [0, half, 2 * half, 2 * half, 5 * half];
        let chunks = split_into_chunks(&times);
        let shape: Vec<_> = chunks.iter().map(|c| (c.first_sample, c.sample_count)).collect();
        assert_eq!(shape, [(0, 2), (2, 2), (4, 1)]);
    }

    #[test]
    fn no_samples_no_chunks() {
        assert!(split_into_chunks(&[]).is_empty());
    }
}
