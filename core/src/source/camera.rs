//! A desktop camera (V4L2 on Linux, through nokhwa) as a live frame source.
//!
//! We ask for the format nearest 1280×720 at 30 fps among those we can
//! convert without a JPEG decoder (YUYV, NV12, grey, raw RGB/BGR; nokhwa's
//! MJPEG decoding would pull in a C JPEG library), and convert each frame to
//! I420 ourselves. Frames are stamped with `CLOCK_MONOTONIC` when they reach
//! us: V4L2 buffer timestamps are not reliably on one clock across drivers.

use std::path::Path;

use crossbeam_channel::{bounded, Receiver};
use nokhwa::utils::{
    ApiBackend, CameraFormat, CameraIndex, FrameFormat as CamFourcc, RequestedFormat, RequestedFormatType,
};
use nokhwa::Camera;

use crate::clock::{Clock, ClockDomain, SystemClock};
use crate::frame::{ColourMatrix, ColourRange, FrameFormat, I420Image, PixelLayout};

use super::{FrameSource, Pacing, SourceError, SourceItem};

/// Formats we convert ourselves, best first (YUYV and NV12 keep the
/// camera's own YUV; RGB needs a matrix).
const CONVERTIBLE: [CamFourcc; 5] =
    [CamFourcc::NV12, CamFourcc::YUYV, CamFourcc::RAWRGB, CamFourcc::RAWBGR, CamFourcc::GRAY];

const WANTED: (u32, u32, u32) = (1280, 720, 30);

/// The camera lives on its own thread: nokhwa's `Camera` is not `Send`
/// (without nokhwa's `camera-sync-impl`, an `unsafe impl` we do not want to
/// vouch for), while a `FrameSource` must be. The thread opens the camera,
/// converts each frame to I420 and hands it over a short channel; it ends
/// when the source is dropped.
pub struct CameraSource {
    frames: Receiver<Result<SourceItem, SourceError>>,
    format: FrameFormat,
    fps: u32,
}

impl std::fmt::Debug for CameraSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraSource").field("format", &self.format).field("fps", &self.fps).finish()
    }
}

/// Frames converted ahead of the consumer. Small: a live source should hand
/// over fresh frames, and the session's own queue does the drop accounting.
const CHANNEL_FRAMES: usize = 2;

impl CameraSource {
    /// Opens the first camera the system lists.
    pub fn open_first() -> Result<Self, SourceError> {
        Self::open_first_in(Path::new("/dev"))
    }

    /// As [`open_first`](Self::open_first), looking for V4L2 nodes in `dev`
    /// (on Linux), so a test can point it at an empty directory.
    pub fn open_first_in(dev: &Path) -> Result<Self, SourceError> {
        let none_found = || SourceError::NoCamera(format!("no camera device found (checked {}/video*)", dev.display()));
        if cfg!(target_os = "linux") && !has_video_nodes(dev) {
            return Err(none_found());
        }
        let backend = nokhwa::native_api_backend().unwrap_or(ApiBackend::Auto);
        let cameras = nokhwa::query(backend).map_err(|e| SourceError::Camera(format!("listing cameras: {e}")))?;
        let index = cameras.first().ok_or_else(none_found)?.index().clone();

        let (opened_tx, opened_rx) = bounded(1);
        let (frames_tx, frames) = bounded(CHANNEL_FRAMES);
        std::thread::Builder::new()
            .name("egocap-camera".into())
            .spawn(move || {
                let mut camera = match Capture::open(index, backend) {
                    Ok(camera) => camera,
                    Err(e) => {
                        let _ = opened_tx.send(Err(e));
                        return;
                    }
                };
                if opened_tx.send(Ok((camera.format, camera.fps))).is_err() {
                    return;
                }
                loop {
                    let item = camera.next_frame();
                    let failed = item.is_err();
                    // A send error means the source was dropped: stop.
                    if frames_tx.send(item).is_err() || failed {
                        return;
                    }
                }
            })
            .map_err(|e| SourceError::Camera(format!("starting the camera thread: {e}")))?;
        let (format, fps) = opened_rx
            .recv()
            .map_err(|_| SourceError::Camera("the camera thread ended while opening the camera".into()))??;
        Ok(Self { frames, format, fps })
    }
}

impl FrameSource for CameraSource {
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
        self.fps as f32
    }

    fn pacing(&self) -> Pacing {
        Pacing::Live
    }

    fn next_item(&mut self) -> Result<Option<SourceItem>, SourceError> {
        match self.frames.recv() {
            Ok(item) => item.map(Some),
            // The thread stops only after reporting an error, which the
            // previous call returned: the stream has ended.
            Err(_) => Ok(None),
        }
    }
}

/// The camera itself, on the camera thread.
struct Capture {
    camera: Camera,
    format: FrameFormat,
    fps: u32,
}

impl Capture {
    fn open(index: CameraIndex, backend: ApiBackend) -> Result<Self, SourceError> {
        let camera_err = |what: &str, e: nokhwa::NokhwaError| SourceError::Camera(format!("{what}: {e}"));
        let any = RequestedFormat::with_formats(RequestedFormatType::None, &CONVERTIBLE);
        let mut camera = Camera::with_backend(index, any, backend).map_err(|e| camera_err("opening the camera", e))?;
        let offered = camera.compatible_camera_formats().map_err(|e| camera_err("listing formats", e))?;
        let chosen = nearest_format(&offered).ok_or_else(|| {
            SourceError::Camera(format!(
                "the camera offers no format this build converts ({CONVERTIBLE:?}); offered: {:?}",
                offered.iter().map(|f| f.format()).collect::<Vec<_>>()
            ))
        })?;
        camera
            .set_camera_requset(RequestedFormat::with_formats(RequestedFormatType::Exact(chosen), &CONVERTIBLE))
            .map_err(|e| camera_err("setting the format", e))?;
        camera.open_stream().map_err(|e| camera_err("starting the stream", e))?;
        let camera_format = camera.camera_format();
        let (width, height) = (camera_format.width() & !1, camera_format.height() & !1);
        if width < 16 || height < 16 {
            return Err(SourceError::Camera(format!("camera frame size {width}x{height} is too small")));
        }
        // RGB input is converted with BT.601 (see `rgb_to_i420`); YUV keeps
        // the camera's matrix, by convention BT.709 for HD.
        let matrix = match camera_format.format() {
            CamFourcc::RAWRGB | CamFourcc::RAWBGR => ColourMatrix::Bt601,
            _ if height >= 720 => ColourMatrix::Bt709,
            _ => ColourMatrix::Bt601,
        };
        let format = FrameFormat { width, height, layout: PixelLayout::I420, range: ColourRange::Limited, matrix };
        Ok(Self { camera, format, fps: camera_format.frame_rate() })
    }

    fn next_frame(&mut self) -> Result<SourceItem, SourceError> {
        let buffer = self.camera.frame().map_err(|e| SourceError::Camera(format!("reading a frame: {e}")))?;
        let timestamp_ns = SystemClock.now_ns(ClockDomain::HostMonotonic).unwrap_or(0);
        let res = buffer.resolution();
        let raw = Raw { data: buffer.buffer(), width: res.width() as usize, height: res.height() as usize };
        let (w, h) = (self.format.width as usize, self.format.height as usize);
        let fourcc = buffer.source_frame_format();
        let image = match fourcc {
            CamFourcc::YUYV => yuyv_to_i420(&raw, w, h),
            CamFourcc::NV12 => nv12_to_i420(&raw, w, h),
            CamFourcc::GRAY => grey_to_i420(&raw, w, h),
            CamFourcc::RAWRGB => rgb_to_i420(&raw, w, h, [0, 1, 2]),
            CamFourcc::RAWBGR => rgb_to_i420(&raw, w, h, [2, 1, 0]),
            CamFourcc::MJPEG => None,
        }
        .ok_or_else(|| {
            let size = (res.width(), res.height(), raw.data.len());
            SourceError::Camera(format!(
                "a {fourcc} frame of {}x{} ({} bytes) cannot be converted",
                size.0, size.1, size.2
            ))
        })?;
        Ok(SourceItem { image, timestamp_ns, imu: Vec::new() })
    }
}

fn has_video_nodes(dev: &Path) -> bool {
    std::fs::read_dir(dev)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("video"))))
}

/// The convertible format nearest 1280×720 at 30 fps: by pixel-count
/// distance, then frame-rate distance, then our preference order.
fn nearest_format(offered: &[CameraFormat]) -> Option<CameraFormat> {
    let (ww, wh, wf) = WANTED;
    offered.iter().filter(|f| CONVERTIBLE.contains(&f.format())).copied().min_by_key(|f| {
        let size = (i64::from(f.width()) - i64::from(ww)).abs() + (i64::from(f.height()) - i64::from(wh)).abs();
        let fps = (i64::from(f.frame_rate()) - i64::from(wf)).abs();
        let pref = CONVERTIBLE.iter().position(|c| *c == f.format()).unwrap_or(CONVERTIBLE.len());
        (size, fps, pref)
    })
}

/// A camera buffer and its declared size (which may be odd; we crop to `w×h`).
struct Raw<'a> {
    data: &'a [u8],
    width: usize,
    height: usize,
}

fn blank(w: usize, h: usize) -> Vec<u8> {
    vec![0u8; w * h * 3 / 2]
}

fn yuyv_to_i420(raw: &Raw<'_>, w: usize, h: usize) -> Option<I420Image> {
    let stride = raw.width * 2;
    if raw.data.len() < stride * raw.height || raw.width < w || raw.height < h {
        return None;
    }
    let mut image = I420Image { width: w as u32, height: h as u32, data: blank(w, h) };
    let (y, u, v) = image.planes_mut();
    for (row, out) in y.chunks_exact_mut(w).enumerate() {
        let src = &raw.data[row * stride..][..w * 2];
        for (o, px) in out.iter_mut().zip(src.chunks_exact(2)) {
            *o = px[0];
        }
    }
    // 4:2:2 → 4:2:0: average the chroma of each pair of rows.
    for (crow, (ur, vr)) in u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2)).enumerate() {
        let a = &raw.data[2 * crow * stride..][..w * 2];
        let b = &raw.data[(2 * crow + 1) * stride..][..w * 2];
        for (x, (uo, vo)) in ur.iter_mut().zip(vr.iter_mut()).enumerate() {
            *uo = avg(a[4 * x + 1], b[4 * x + 1]);
            *vo = avg(a[4 * x + 3], b[4 * x + 3]);
        }
    }
    Some(image)
}

fn nv12_to_i420(raw: &Raw<'_>, w: usize, h: usize) -> Option<I420Image> {
    let (sw, sh) = (raw.width, raw.height);
    if raw.data.len() < sw * sh + sw * sh.div_ceil(2) || sw < w || sh < h {
        return None;
    }
    let mut image = I420Image { width: w as u32, height: h as u32, data: blank(w, h) };
    let (y, u, v) = image.planes_mut();
    for (row, out) in y.chunks_exact_mut(w).enumerate() {
        out.copy_from_slice(&raw.data[row * sw..][..w]);
    }
    let uv = &raw.data[sw * sh..];
    // NV12's chroma rows are as wide in bytes as a luma row (U,V pairs).
    let chroma_stride = sw + (sw & 1);
    for (crow, (ur, vr)) in u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2)).enumerate() {
        let src = uv.get(crow * chroma_stride..crow * chroma_stride + w)?;
        for ((uo, vo), pair) in ur.iter_mut().zip(vr.iter_mut()).zip(src.chunks_exact(2)) {
            *uo = pair[0];
            *vo = pair[1];
        }
    }
    Some(image)
}

fn grey_to_i420(raw: &Raw<'_>, w: usize, h: usize) -> Option<I420Image> {
    if raw.data.len() < raw.width * raw.height || raw.width < w || raw.height < h {
        return None;
    }
    let mut image = I420Image { width: w as u32, height: h as u32, data: blank(w, h) };
    let (y, u, v) = image.planes_mut();
    // Full-range grey into limited-range luma: 16 + g * 219 / 255.
    for (row, out) in y.chunks_exact_mut(w).enumerate() {
        for (o, &g) in out.iter_mut().zip(&raw.data[row * raw.width..][..w]) {
            *o = (16 + (u32::from(g) * 219 + 127) / 255) as u8;
        }
    }
    u.fill(128);
    v.fill(128);
    Some(image)
}

/// Packed 8-bit RGB (channel order given by `order`: indices of R, G, B in
/// a pixel) to limited-range BT.601 I420, in integer arithmetic (the
/// ITU-R BT.601 coefficients scaled by 256).
fn rgb_to_i420(raw: &Raw<'_>, w: usize, h: usize, order: [usize; 3]) -> Option<I420Image> {
    let stride = raw.width * 3;
    if raw.data.len() < stride * raw.height || raw.width < w || raw.height < h {
        return None;
    }
    let mut image = I420Image { width: w as u32, height: h as u32, data: blank(w, h) };
    let (y, u, v) = image.planes_mut();
    let rgb = |row: usize, x: usize| {
        let p = &raw.data[row * stride + x * 3..][..3];
        (i32::from(p[order[0]]), i32::from(p[order[1]]), i32::from(p[order[2]]))
    };
    for (row, out) in y.chunks_exact_mut(w).enumerate() {
        for (x, o) in out.iter_mut().enumerate() {
            let (r, g, b) = rgb(row, x);
            *o = clamp(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16);
        }
    }
    for (crow, (ur, vr)) in u.chunks_exact_mut(w / 2).zip(v.chunks_exact_mut(w / 2)).enumerate() {
        for (cx, (uo, vo)) in ur.iter_mut().zip(vr.iter_mut()).enumerate() {
            let (mut r, mut g, mut b) = (0, 0, 0);
            for (dy, dx) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                let (pr, pg, pb) = rgb(2 * crow + dy, 2 * cx + dx);
                (r, g, b) = (r + pr, g + pg, b + pb);
            }
            let (r, g, b) = ((r + 2) / 4, (g + 2) / 4, (b + 2) / 4);
            *uo = clamp(((-38 * r - 74 * g + 112 * b + 128) >> 8) + 128);
            *vo = clamp(((112 * r - 94 * g - 18 * b + 128) >> 8) + 128);
        }
    }
    Some(image)
}

fn avg(a: u8, b: u8) -> u8 {
    (u16::from(a) + u16::from(b)).div_ceil(2) as u8
}

fn clamp(x: i32) -> u8 {
    x.clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use nokhwa::utils::Resolution;

    #[test]
    fn no_video_nodes_is_a_no_camera_error() {
        let empty = tempfile::tempdir().unwrap();
        match CameraSource::open_first_in(empty.path()) {
            Err(SourceError::NoCamera(msg)) => assert!(msg.contains("no camera device found"), "{msg}"),
            other => panic!("expected NoCamera, got {other:?}"),
        }
    }

    #[test]
    fn this_machine_without_dev_video_reports_no_camera() {
        if has_video_nodes(Path::new("/dev")) {
            return; // A machine with a camera: nothing to assert here.
        }
        match CameraSource::open_first() {
            Err(SourceError::NoCamera(msg)) => assert_eq!(msg, "no camera device found (checked /dev/video*)"),
            other => panic!("expected NoCamera, got {other:?}"),
        }
    }

    #[test]
    fn picks_the_convertible_format_nearest_720p30() {
        let f = |w, h, fourcc, fps| CameraFormat::new(Resolution::new(w, h), fourcc, fps);
        let offered = [
            f(1280, 720, CamFourcc::MJPEG, 30),
            f(1920, 1080, CamFourcc::YUYV, 30),
            f(1280, 720, CamFourcc::YUYV, 10),
            f(640, 480, CamFourcc::YUYV, 30),
        ];
        assert_eq!(nearest_format(&offered), Some(offered[2]));
        assert_eq!(nearest_format(&offered[..1]), None);
    }

    #[test]
    fn yuyv_and_rgb_convert_to_the_expected_i420() {
        // 4×2 YUYV: Y ramps, U/V differ between the two rows and average.
        let yuyv = [10, 100, 20, 200, 30, 110, 40, 210, 50, 102, 60, 202, 70, 112, 80, 212];
        let img = yuyv_to_i420(&Raw { data: &yuyv, width: 4, height: 2 }, 4, 2).unwrap();
        assert_eq!(img.y(), &[10, 20, 30, 40, 50, 60, 70, 80]);
        assert_eq!(img.u(), &[101, 111]);
        assert_eq!(img.v(), &[201, 211]);
        // Pure white and black RGB map to limited-range 235/16 with neutral chroma.
        let mut rgb = vec![255u8; 2 * 2 * 3];
        let white = rgb_to_i420(&Raw { data: &rgb, width: 2, height: 2 }, 2, 2, [0, 1, 2]).unwrap();
        assert_eq!(white.data, vec![235, 235, 235, 235, 128, 128]);
        rgb.fill(0);
        let black = rgb_to_i420(&Raw { data: &rgb, width: 2, height: 2 }, 2, 2, [2, 1, 0]).unwrap();
        assert_eq!(black.data, vec![16, 16, 16, 16, 128, 128]);
        assert!(yuyv_to_i420(&Raw { data: &yuyv[..10], width: 4, height: 2 }, 4, 2).is_none());
    }
}
