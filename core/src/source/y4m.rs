//! A YUV4MPEG2 (Y4M) file as a frame source, streamed frame by frame.
//!
//! Format (as written by ffmpeg and mjpegtools): a header line
//! `YUV4MPEG2` followed by space-separated parameters, each a letter and a
//! value — `W` width, `H` height, `F` frame rate as `num:den`, `I`
//! interlacing, `A` aspect, `C` colour space, `X` extensions — and a
//! newline. Each frame is a line `FRAME` (with optional parameters) and then
//! the raw planes: Y, then U and V. We take only 8-bit 4:2:0 (`C420`,
//! `C420jpeg`, `C420paldv`, `C420mpeg2`, or no `C`, which means 4:2:0); the
//! chroma siting differences between them do not matter to the encoder.
//!
//! Timestamps are `base + index * 1e9 * den / num`: a file has no capture
//! times, so frames are spaced exactly at the declared rate.

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::path::Path;

use crate::clock::{Clock, ClockDomain, SystemClock};
use crate::frame::{ColourMatrix, ColourRange, FrameFormat, I420Image, PixelLayout};

use super::{FrameSource, Pacing, SourceError, SourceItem};

/// A header or frame line longer than this is not Y4M (and must not make us
/// buffer an unbounded line).
const MAX_LINE: usize = 4096;

#[derive(Debug)]
pub struct Y4mSource {
    path: String,
    reader: BufReader<File>,
    format: FrameFormat,
    fps_num: u64,
    fps_den: u64,
    base_ns: i64,
    next_index: u64,
    finished: bool,
}

impl Y4mSource {
    /// Opens `path` and reads its header; frame times start at the current
    /// `CLOCK_MONOTONIC`, the clock this source declares.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SourceError> {
        let base_ns = SystemClock.now_ns(ClockDomain::HostMonotonic).unwrap_or(0);
        Self::open_with_base(path, base_ns)
    }

    /// Like [`open`](Self::open), with frame 0 at `base_ns`.
    pub fn open_with_base(path: impl AsRef<Path>, base_ns: i64) -> Result<Self, SourceError> {
        let path_str = path.as_ref().display().to_string();
        let file =
            File::open(path.as_ref()).map_err(|e| SourceError::Io { path: path_str.clone(), reason: e.to_string() })?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let bad = |reason: String| SourceError::Y4m { path: path_str.clone(), reason };
        let line = read_line(&mut reader, &path_str)?.ok_or_else(|| bad("the file is empty".into()))?;
        let header = parse_header(&line).map_err(bad)?;
        Ok(Self {
            path: path_str,
            reader,
            format: header.format,
            fps_num: header.fps_num,
            fps_den: header.fps_den,
            base_ns,
            next_index: 0,
            finished: false,
        })
    }

    /// Frames per second as the file declares it, `(num, den)`.
    pub fn frame_rate(&self) -> (u64, u64) {
        (self.fps_num, self.fps_den)
    }

    /// Time of frame `index`.
    pub fn frame_timestamp_ns(&self, index: u64) -> i64 {
        let offset = u128::from(index) * 1_000_000_000 * u128::from(self.fps_den) / u128::from(self.fps_num);
        self.base_ns.saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    fn error(&self, reason: String) -> SourceError {
        SourceError::Y4m { path: self.path.clone(), reason }
    }
}

impl FrameSource for Y4mSource {
    fn format(&self) -> FrameFormat {
        self.format
    }

    fn frame_clock(&self) -> ClockDomain {
        ClockDomain::HostMonotonic
    }

    fn imu_clock(&self) -> Option<ClockDomain> {
        None
    }

    fn nominal_fps(&self) -> f32 {
        (self.fps_num as f64 / self.fps_den as f64) as f32
    }

    fn pacing(&self) -> Pacing {
        Pacing::PushBack
    }

    fn next_item(&mut self) -> Result<Option<SourceItem>, SourceError> {
        if self.finished {
            return Ok(None);
        }
        let index = self.next_index;
        let Some(line) = read_line(&mut self.reader, &self.path)? else {
            self.finished = true;
            return Ok(None);
        };
        if line != "FRAME" && !line.starts_with("FRAME ") {
            return Err(self.error(format!("frame {index}: expected a FRAME line, found {:?}", truncate(&line))));
        }
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let mut data = vec![0u8; w * h * 3 / 2];
        read_full(&mut self.reader, &mut data).map_err(|got| match got {
            Ok(got) => self.error(format!("frame {index} is truncated: {got} of {} bytes", data.len())),
            Err(e) => SourceError::Io { path: self.path.clone(), reason: e.to_string() },
        })?;
        self.next_index += 1;
        let image = I420Image { width: self.format.width, height: self.format.height, data };
        Ok(Some(SourceItem { image, timestamp_ns: self.frame_timestamp_ns(index), imu: Vec::new() }))
    }
}

#[derive(Debug)]
struct Header {
    format: FrameFormat,
    fps_num: u64,
    fps_den: u64,
}

fn parse_header(line: &str) -> Result<Header, String> {
    let mut tokens = line.split(' ').filter(|t| !t.is_empty());
    if tokens.next() != Some("YUV4MPEG2") {
        return Err("it does not start with YUV4MPEG2".into());
    }
    let (mut width, mut height, mut rate, mut range) = (None, None, None, ColourRange::Limited);
    for token in tokens {
        let mut chars = token.chars();
        let tag = chars.next();
        let value = chars.as_str();
        match tag {
            Some('W') => width = Some(value.parse::<u32>().map_err(|_| format!("bad width {value:?}"))?),
            Some('H') => height = Some(value.parse::<u32>().map_err(|_| format!("bad height {value:?}"))?),
            Some('F') => rate = Some(parse_ratio(value).ok_or_else(|| format!("bad frame rate {value:?}"))?),
            Some('C') => match value {
                "420" | "420jpeg" | "420paldv" | "420mpeg2" => {}
                other => return Err(format!("colour space C{other} is not supported; only 8-bit 4:2:0 (C420*)")),
            },
            Some('X') if value.eq_ignore_ascii_case("COLORRANGE=FULL") => range = ColourRange::Full,
            // Interlacing, aspect ratio and other extensions do not change
            // how the bytes are laid out.
            _ => {}
        }
    }
    let width = width.ok_or("the header has no width (W)")?;
    let height = height.ok_or("the header has no height (H)")?;
    let (fps_num, fps_den) = rate.ok_or("the header has no frame rate (F)")?;
    if width < 16
        || height < 16
        || !width.is_multiple_of(2)
        || !height.is_multiple_of(2)
        || width > 16384
        || height > 16384
    {
        return Err(format!("frame size {width}x{height} is not usable (even, 16..=16384)"));
    }
    // Y4M does not say which matrix; follow the usual convention of HD
    // material being BT.709 and SD BT.601.
    let matrix = if height >= 720 { ColourMatrix::Bt709 } else { ColourMatrix::Bt601 };
    Ok(Header { format: FrameFormat { width, height, layout: PixelLayout::I420, range, matrix }, fps_num, fps_den })
}

fn parse_ratio(value: &str) -> Option<(u64, u64)> {
    let (num, den) = value.split_once(':')?;
    let (num, den) = (num.parse::<u64>().ok()?, den.parse::<u64>().ok()?);
    (num > 0 && den > 0 && num <= u64::from(u32::MAX) && den <= u64::from(u32::MAX)).then_some((num, den))
}

/// Reads one `\n`-terminated line (without the newline). `None` at a clean
/// end of file; an error for a line cut short or too long.
fn read_line(reader: &mut BufReader<File>, path: &str) -> Result<Option<String>, SourceError> {
    let mut line = Vec::new();
    let got = reader
        .by_ref()
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| SourceError::Io { path: path.to_string(), reason: e.to_string() })?;
    let bad = |reason: String| SourceError::Y4m { path: path.to_string(), reason };
    match (got, line.last()) {
        (0, _) => Ok(None),
        (_, Some(b'\n')) => {
            line.pop();
            String::from_utf8(line).map(Some).map_err(|_| bad("a header line is not text".into()))
        }
        _ if got > MAX_LINE => Err(bad(format!("a header line is longer than {MAX_LINE} bytes"))),
        _ => Err(bad("the file ends in the middle of a header line".into())),
    }
}

/// Fills `buf`; on a short read returns `Err(Ok(bytes_read))`.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), Result<usize, std::io::Error>> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Err(Ok(filled)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Err(e)),
        }
    }
    Ok(())
}

fn truncate(line: &str) -> String {
    line.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn ffmpeg_y4m(dir: &Path, name: &str, pix_fmt: &str, frames: u32) -> std::path::PathBuf {
        let out = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v"])
            .arg(frames.to_string())
            .args(["-pix_fmt", pix_fmt, "-strict", "-1"])
            .arg(&out)
            .status()
            .expect("ffmpeg must be installed (scripts/install-test-deps.sh)");
        assert!(status.success(), "ffmpeg failed to write {name}");
        out
    }

    #[test]
    fn reads_every_frame_of_an_ffmpeg_file_with_its_size_and_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = ffmpeg_y4m(dir.path(), "out.y4m", "yuv420p", 10);
        let mut source = Y4mSource::open_with_base(&path, 5_000).unwrap();
        assert_eq!(source.frame_rate(), (25, 1));
        assert_eq!(source.nominal_fps(), 25.0);
        assert_eq!((source.format().width, source.format().height), (320, 240));
        assert_eq!(source.frame_clock(), ClockDomain::HostMonotonic);
        assert_eq!(source.imu_clock(), None);
        let mut frames = Vec::new();
        while let Some(item) = source.next_item().unwrap() {
            assert_eq!((item.image.width, item.image.height), (320, 240));
            assert_eq!(item.image.data.len(), 320 * 240 * 3 / 2);
            frames.push(item);
        }
        assert_eq!(frames.len(), 10);
        let times: Vec<i64> = frames.iter().map(|f| f.timestamp_ns).collect();
        assert_eq!(times, (0..10).map(|i| 5_000 + i * 40_000_000).collect::<Vec<_>>());
        // testsrc moves: consecutive frames differ.
        assert_ne!(frames[0].image.data, frames[1].image.data);
        assert!(source.next_item().unwrap().is_none());
    }

    #[test]
    fn truncated_file_is_a_typed_error_naming_the_frame() {
        let dir = tempfile::tempdir().unwrap();
        let path = ffmpeg_y4m(dir.path(), "full.y4m", "yuv420p", 3);
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.y4m");
        std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
        let mut source = Y4mSource::open(&cut).unwrap();
        assert!(source.next_item().unwrap().is_some());
        assert!(source.next_item().unwrap().is_some());
        match source.next_item() {
            Err(SourceError::Y4m { reason, .. }) => assert!(reason.contains("frame 2 is truncated"), "{reason}"),
            other => panic!("expected a truncation error, got {other:?}"),
        }
    }

    #[test]
    fn other_chroma_formats_and_garbage_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = ffmpeg_y4m(dir.path(), "444.y4m", "yuv444p", 1);
        match Y4mSource::open(&path) {
            Err(SourceError::Y4m { reason, .. }) => assert!(reason.contains("C444"), "{reason}"),
            other => panic!("expected a Y4M error, got {other:?}"),
        }
        let junk = dir.path().join("junk.y4m");
        std::fs::write(&junk, b"RIFF....WAVEfmt \n").unwrap();
        assert!(matches!(Y4mSource::open(&junk), Err(SourceError::Y4m { .. })));
        assert!(matches!(Y4mSource::open(dir.path().join("missing.y4m")), Err(SourceError::Io { .. })));
    }

    proptest::proptest! {
        #[test]
        fn header_parser_never_panics(line in "YUV4MPEG2( [A-Z][^ ]{0,12}){0,8}") {
            let _ = parse_header(&line);
        }

        #[test]
        fn header_parser_never_panics_on_any_text(line: String) {
            let _ = parse_header(&line);
        }
    }

    #[test]
    fn header_parsing_covers_the_420_variants_and_missing_fields() {
        for c in ["", " C420", " C420jpeg", " C420paldv", " C420mpeg2"] {
            let h = parse_header(&format!("YUV4MPEG2 W320 H240 F30000:1001 Ip A1:1{c} XYSCSS=420JPEG")).unwrap();
            assert_eq!((h.fps_num, h.fps_den), (30000, 1001));
        }
        assert!(parse_header("YUV4MPEG2 W320 H240 F25:1 C420p10").unwrap_err().contains("C420p10"));
        assert!(parse_header("YUV4MPEG2 W320 F25:1").unwrap_err().contains("height"));
        assert!(parse_header("YUV4MPEG2 W320 H240 F25:0").unwrap_err().contains("frame rate"));
        assert!(parse_header("YUV4MPEG2 W321 H240 F25:1").unwrap_err().contains("321x240"));
        let full = parse_header("YUV4MPEG2 W1280 H720 F25:1 XCOLORRANGE=FULL").unwrap();
        assert_eq!(full.format.range, ColourRange::Full);
        assert_eq!(full.format.matrix, ColourMatrix::Bt709);
    }
}
