//! What ffprobe and ffmpeg say about a segment file.

use std::ffi::OsStr;
use std::path::Path;

use serde_json::Value;

use crate::tools::{ffmpeg, ffprobe_json, json_array, json_i64, json_str};
use crate::{HarnessError, Result};

/// One stream as ffprobe lists it.
#[derive(Debug, Clone)]
pub struct Stream {
    pub index: usize,
    pub codec_type: String,
    pub codec_name: Option<String>,
    pub codec_tag_string: String,
    /// `num / den` seconds per tick.
    pub time_base: (i64, i64),
    pub width: Option<usize>,
    pub height: Option<usize>,
    pub tags: Value,
}

/// Streams and container-level tags of `file`.
#[derive(Debug, Clone)]
pub struct Probe {
    pub streams: Vec<Stream>,
    pub format_tags: Value,
}

impl Probe {
    pub fn of(file: &Path) -> Result<Self> {
        let json = ffprobe_json(&["-show_streams", "-show_format"], file)?;
        let streams = json_array(&json, "streams")?.iter().map(parse_stream).collect::<Result<Vec<_>>>()?;
        let format_tags = json.get("format").and_then(|f| f.get("tags")).cloned().unwrap_or(Value::Null);
        Ok(Self { streams, format_tags })
    }

    pub fn video(&self) -> Result<&Stream> {
        self.streams
            .iter()
            .find(|s| s.codec_type == "video")
            .ok_or_else(|| HarnessError::Layout("no video stream".into()))
    }

    /// The data stream whose sample entry is `camm`.
    pub fn camm(&self) -> Result<&Stream> {
        self.streams
            .iter()
            .find(|s| s.codec_tag_string == "camm")
            .ok_or_else(|| HarnessError::Layout("no stream with codec tag camm".into()))
    }
}

fn parse_stream(s: &Value) -> Result<Stream> {
    let tb = json_str(s, "time_base")?;
    let time_base = tb
        .split_once('/')
        .and_then(|(n, d)| Some((n.parse().ok()?, d.parse().ok()?)))
        .filter(|&(n, d): &(i64, i64)| n > 0 && d > 0)
        .ok_or_else(|| HarnessError::Json { what: "stream time_base".into(), reason: tb.to_string() })?;
    let dim = |key| json_i64(s, key).ok().and_then(|v| usize::try_from(v).ok());
    Ok(Stream {
        index: usize::try_from(json_i64(s, "index")?).unwrap_or(usize::MAX),
        codec_type: json_str(s, "codec_type")?.to_string(),
        codec_name: s.get("codec_name").and_then(Value::as_str).map(str::to_string),
        codec_tag_string: json_str(s, "codec_tag_string")?.to_string(),
        time_base,
        width: dim("width"),
        height: dim("height"),
        tags: s.get("tags").cloned().unwrap_or(Value::Null),
    })
}

/// A packet's timing in its stream's time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketTime {
    pub pts: i64,
    /// ffprobe omits it where the container gives none (e.g. the last
    /// sample of a metadata track).
    pub duration: Option<i64>,
}

/// Packets of stream `index`, sorted by presentation time.
pub fn packet_times(file: &Path, index: usize) -> Result<Vec<PacketTime>> {
    let select = index.to_string();
    let json = ffprobe_json(&["-select_streams", &select, "-show_entries", "packet=pts,duration"], file)?;
    let mut packets = json_array(&json, "packets")?
        .iter()
        .map(|p| Ok(PacketTime { pts: json_i64(p, "pts")?, duration: json_i64(p, "duration").ok() }))
        .collect::<Result<Vec<_>>>()?;
    packets.sort_by_key(|p| p.pts);
    Ok(packets)
}

/// Every frame of the first video stream, decoded to 8-bit grey
/// (`width × height` bytes each), in presentation order. `passthrough`
/// stops ffmpeg from duplicating or dropping frames to make a constant rate.
pub fn decode_grey_frames(file: &Path, width: usize, height: usize) -> Result<Vec<Vec<u8>>> {
    let args: [&OsStr; 13] = [
        "-v".as_ref(),
        "error".as_ref(),
        "-i".as_ref(),
        file.as_os_str(),
        "-map".as_ref(),
        "0:v:0".as_ref(),
        "-fps_mode".as_ref(),
        "passthrough".as_ref(),
        "-f".as_ref(),
        "rawvideo".as_ref(),
        "-pix_fmt".as_ref(),
        "gray".as_ref(),
        "-".as_ref(),
    ];
    let output = ffmpeg(&args)?;
    let size = width * height;
    if size == 0 || output.stdout.len() % size != 0 {
        return Err(HarnessError::Layout(format!(
            "{}: decoded {} bytes, not a whole number of {width}x{height} frames",
            file.display(),
            output.stdout.len()
        )));
    }
    Ok(output.stdout.chunks_exact(size).map(<[u8]>::to_vec).collect())
}

/// The raw samples of stream `index`, back to back (`-c copy -f data`).
pub fn stream_bytes(file: &Path, index: usize) -> Result<Vec<u8>> {
    let map = format!("0:{index}");
    let args: [&OsStr; 11] = [
        "-v".as_ref(),
        "error".as_ref(),
        "-i".as_ref(),
        file.as_os_str(),
        "-map".as_ref(),
        map.as_ref(),
        "-c".as_ref(),
        "copy".as_ref(),
        "-f".as_ref(),
        "data".as_ref(),
        "-".as_ref(),
    ];
    Ok(ffmpeg(&args)?.stdout)
}

/// What `ffmpeg -v error -i FILE -f null -` prints: empty for a clean decode.
pub fn decode_diagnostics(file: &Path) -> Result<String> {
    let args: [&OsStr; 7] = [
        "-v".as_ref(),
        "error".as_ref(),
        "-i".as_ref(),
        file.as_os_str(),
        "-f".as_ref(),
        "null".as_ref(),
        "-".as_ref(),
    ];
    let output = ffmpeg(&args)?;
    Ok(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// `ticks` of `time_base` in nanoseconds, rounded to nearest.
pub fn ticks_to_ns(ticks: i64, time_base: (i64, i64)) -> i64 {
    let num = i128::from(ticks) * i128::from(time_base.0) * 1_000_000_000;
    let den = i128::from(time_base.1);
    let rounded = if num >= 0 { (num + den / 2) / den } else { (num - den / 2) / den };
    i64::try_from(rounded).unwrap_or(i64::MAX)
}
