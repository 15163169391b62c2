//! Camera frames as the host hands them over, and their validation and
//! conversion to the planar I420 layout the encoders take.
//!
//! Android's `YUV_420_888` hands out three planes whose chroma planes may be
//! interleaved (pixel stride 2): that is NV12 or NV21 seen through separate
//! buffers. iOS hands out bi-planar NV12. Both arrive here as one buffer per
//! plane with its row stride and pixel stride, and are copied once into an
//! owned [`I420Image`] so the host can recycle its buffers immediately.

use thiserror::Error;

/// How the chroma samples of a 4:2:0 frame are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PixelLayout {
    /// Three planes: Y, U (Cb), V (Cr); chroma pixel stride usually 1.
    I420,
    /// Two planes: Y, then interleaved U,V. As one "plane" with pixel stride 2.
    Nv12,
    /// Two planes: Y, then interleaved V,U (Android camera default).
    Nv21,
}

/// Whether luma spans 16..235 (limited, "video") or 0..255 (full).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourRange {
    Limited,
    Full,
}

/// The YUV↔RGB matrix the camera used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColourMatrix {
    Bt601,
    Bt709,
}

/// One plane of a frame: bytes plus how to step through them.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    pub data: &'a [u8],
    /// Bytes from the start of one row to the start of the next.
    pub row_stride: usize,
    /// Bytes from one sample to the next within a row (1 planar, 2 interleaved).
    pub pixel_stride: usize,
}

/// A frame borrowed from the host for the duration of a push.
///
/// Planes: I420 → `[Y, U, V]`. NV12/NV21 → `[Y, UV]` (or `[Y, VU]`) with the
/// interleaved plane's pixel stride 2; Android's three-plane view of NV21 is
/// also accepted as `[Y, U, V]` with pixel stride 2 (the U and V views then
/// overlap in memory, which is fine: we only read).
#[derive(Debug, Clone)]
pub struct FrameRef<'a> {
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    pub planes: Vec<PlaneRef<'a>>,
    pub range: ColourRange,
    pub matrix: ColourMatrix,
    /// Capture time in nanoseconds on the frame stream's declared clock.
    pub timestamp_ns: i64,
}

/// What must stay the same for the whole session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FrameFormat {
    pub width: u32,
    pub height: u32,
    pub layout: PixelLayout,
    pub range: ColourRange,
    pub matrix: ColourMatrix,
}

/// Largest accepted width or height (8K is 7680).
pub const MAX_SIDE: usize = 8192;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("frame size {width}x{height} is not usable: width and height must be even, 16 to 8192")]
    BadDimensions { width: u32, height: u32 },
    #[error("frame layout {layout:?} needs {expected} planes, got {got}")]
    PlaneCount { layout: PixelLayout, expected: &'static str, got: usize },
    #[error("plane {plane}: pixel stride {pixel_stride} is not valid for {layout:?}")]
    BadPixelStride { plane: usize, pixel_stride: usize, layout: PixelLayout },
    #[error("plane {plane}: row stride {row_stride} is shorter than a row ({row_bytes} bytes)")]
    RowStrideTooSmall { plane: usize, row_stride: usize, row_bytes: usize },
    #[error("plane {plane}: buffer has {got} bytes, its strides need {needed}")]
    BufferTooSmall { plane: usize, got: usize, needed: usize },
}

/// An owned, tightly packed I420 picture (no row padding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I420Image {
    pub width: u32,
    pub height: u32,
    /// Y plane (width × height), then U and V (each width/2 × height/2).
    pub data: Vec<u8>,
}

impl I420Image {
    /// A mid-grey picture, as a starting canvas.
    pub fn grey(width: u32, height: u32) -> Self {
        let luma = width as usize * height as usize;
        let mut data = vec![128u8; luma + luma / 2];
        data[..luma].fill(16);
        Self { width, height, data }
    }

    pub fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    pub fn y(&self) -> &[u8] {
        &self.data[..self.luma_len()]
    }

    pub fn u(&self) -> &[u8] {
        let l = self.luma_len();
        &self.data[l..l + l / 4]
    }

    pub fn v(&self) -> &[u8] {
        let l = self.luma_len();
        &self.data[l + l / 4..]
    }

    /// This picture as a frame to push, as a host with planar buffers would.
    pub fn as_frame(&self, timestamp_ns: i64, range: ColourRange, matrix: ColourMatrix) -> FrameRef<'_> {
        let w = self.width as usize;
        FrameRef {
            width: self.width,
            height: self.height,
            layout: PixelLayout::I420,
            planes: vec![
                PlaneRef { data: self.y(), row_stride: w, pixel_stride: 1 },
                PlaneRef { data: self.u(), row_stride: w / 2, pixel_stride: 1 },
                PlaneRef { data: self.v(), row_stride: w / 2, pixel_stride: 1 },
            ],
            range,
            matrix,
            timestamp_ns,
        }
    }

    /// Mutable Y, U and V planes at once.
    pub fn planes_mut(&mut self) -> (&mut [u8], &mut [u8], &mut [u8]) {
        let l = self.luma_len();
        let (y, chroma) = self.data.split_at_mut(l);
        let (u, v) = chroma.split_at_mut(l / 4);
        (y, u, v)
    }
}

impl FrameRef<'_> {
    pub fn format(&self) -> FrameFormat {
        FrameFormat {
            width: self.width,
            height: self.height,
            layout: self.layout,
            range: self.range,
            matrix: self.matrix,
        }
    }

    /// Checks dimensions, plane count, strides and buffer sizes.
    pub fn validate(&self) -> Result<(), FrameError> {
        let (w, h) = (self.width as usize, self.height as usize);
        // The upper bound keeps every size product below 2^31, so the stride
        // arithmetic below cannot overflow even on 32-bit Android.
        if !self.width.is_multiple_of(2)
            || !self.height.is_multiple_of(2)
            || w < 16
            || h < 16
            || w > MAX_SIDE
            || h > MAX_SIDE
        {
            return Err(FrameError::BadDimensions { width: self.width, height: self.height });
        }
        let expected = match (self.layout, self.planes.len()) {
            (PixelLayout::I420, 3) | (PixelLayout::Nv12 | PixelLayout::Nv21, 2 | 3) => None,
            (PixelLayout::I420, _) => Some("3"),
            _ => Some("2 or 3"),
        };
        if let Some(expected) = expected {
            return Err(FrameError::PlaneCount { layout: self.layout, expected, got: self.planes.len() });
        }
        for (index, plane) in self.planes.iter().enumerate() {
            let (plane_w, plane_h, samples_per_pixel) = self.plane_geometry(index);
            let stride_ok = match (index, self.layout) {
                (0, _) => plane.pixel_stride == 1,
                (_, PixelLayout::I420) => plane.pixel_stride == 1 || plane.pixel_stride == 2,
                _ => plane.pixel_stride == 2,
            };
            if !stride_ok {
                return Err(FrameError::BadPixelStride {
                    plane: index,
                    pixel_stride: plane.pixel_stride,
                    layout: self.layout,
                });
            }
            let row_bytes = (plane_w - 1) * plane.pixel_stride + samples_per_pixel;
            if plane.row_stride < row_bytes {
                return Err(FrameError::RowStrideTooSmall { plane: index, row_stride: plane.row_stride, row_bytes });
            }
            // The last row need not be padded to the full stride (Android
            // often ends the buffer right after the last sample). A host's
            // row stride is untrusted: saturate rather than wrap.
            let needed = (plane_h - 1).saturating_mul(plane.row_stride).saturating_add(row_bytes);
            if plane.data.len() < needed {
                return Err(FrameError::BufferTooSmall { plane: index, got: plane.data.len(), needed });
            }
        }
        Ok(())
    }

    /// Width and height in samples of plane `index`, and how many bytes the
    /// last sample of a row occupies (2 for an interleaved UV plane).
    fn plane_geometry(&self, index: usize) -> (usize, usize, usize) {
        let (w, h) = (self.width as usize, self.height as usize);
        match (index, self.planes.len()) {
            (0, _) => (w, h, 1),
            (_, 2) => (w / 2, h / 2, 2),
            _ => (w / 2, h / 2, 1),
        }
    }

    /// Copies the frame into a packed I420 image. Call [`validate`] first;
    /// an invalid frame yields an error here too, never a panic.
    pub fn to_i420(&self) -> Result<I420Image, FrameError> {
        self.validate()?;
        let mut image = I420Image { width: self.width, height: self.height, data: Vec::new() };
        let (w, h) = (self.width as usize, self.height as usize);
        image.data.resize(w * h + w * h / 2, 0);
        let (y, u, v) = image.planes_mut();
        copy_plane(&self.planes[0], w, h, y);
        let (cw, ch) = (w / 2, h / 2);
        match (self.layout, self.planes.len()) {
            (PixelLayout::I420, _) => {
                copy_plane(&self.planes[1], cw, ch, u);
                copy_plane(&self.planes[2], cw, ch, v);
            }
            (PixelLayout::Nv12, 2) => deinterleave(&self.planes[1], cw, ch, u, v),
            (PixelLayout::Nv21, 2) => deinterleave(&self.planes[1], cw, ch, v, u),
            // Three-plane view of a semi-planar buffer: the host already
            // points U and V at the right bytes.
            (_, _) => {
                copy_plane(&self.planes[1], cw, ch, u);
                copy_plane(&self.planes[2], cw, ch, v);
            }
        }
        Ok(image)
    }
}

fn copy_plane(plane: &PlaneRef<'_>, width: usize, height: usize, out: &mut [u8]) {
    for (row, out_row) in out.chunks_exact_mut(width).take(height).enumerate() {
        let start = row * plane.row_stride;
        if plane.pixel_stride == 1 {
            out_row.copy_from_slice(&plane.data[start..start + width]);
        } else {
            let src = &plane.data[start..];
            for (x, px) in out_row.iter_mut().enumerate() {
                *px = src[x * plane.pixel_stride];
            }
        }
    }
}

fn deinterleave(plane: &PlaneRef<'_>, width: usize, height: usize, first: &mut [u8], second: &mut [u8]) {
    let rows = first.chunks_exact_mut(width).zip(second.chunks_exact_mut(width));
    for (row, (a, b)) in rows.take(height).enumerate() {
        let src = &plane.data[row * plane.row_stride..][..width * 2];
        for ((pair, a), b) in src.chunks_exact(2).zip(a.iter_mut()).zip(b.iter_mut()) {
            *a = pair[0];
            *b = pair[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i420_planes(w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let y = (0..w * h).map(|i| (i % 251) as u8).collect();
        let u = (0..w * h / 4).map(|i| (i % 241) as u8).collect();
        let v = (0..w * h / 4).map(|i| (i % 239) as u8 ^ 0x55).collect();
        (y, u, v)
    }

    fn frame<'a>(layout: PixelLayout, w: u32, h: u32, planes: Vec<PlaneRef<'a>>) -> FrameRef<'a> {
        FrameRef {
            width: w,
            height: h,
            layout,
            planes,
            range: ColourRange::Limited,
            matrix: ColourMatrix::Bt709,
            timestamp_ns: 0,
        }
    }

    #[test]
    fn nv21_with_padding_converts_to_the_same_i420_as_planar_input() {
        let (w, h) = (32usize, 16usize);
        let (y, u, v) = i420_planes(w, h);
        let planar = frame(
            PixelLayout::I420,
            w as u32,
            h as u32,
            vec![
                PlaneRef { data: &y, row_stride: w, pixel_stride: 1 },
                PlaneRef { data: &u, row_stride: w / 2, pixel_stride: 1 },
                PlaneRef { data: &v, row_stride: w / 2, pixel_stride: 1 },
            ],
        );
        let expected = planar.to_i420().unwrap();

        // Android-style: rows padded to 64 bytes, VU interleaved, last row short.
        let stride = 64;
        let mut y_padded = vec![0u8; stride * h];
        for r in 0..h {
            y_padded[r * stride..r * stride + w].copy_from_slice(&y[r * w..(r + 1) * w]);
        }
        let mut vu = vec![0u8; stride * (h / 2 - 1) + w];
        for r in 0..h / 2 {
            for c in 0..w / 2 {
                vu[r * stride + 2 * c] = v[r * w / 2 + c];
                vu[r * stride + 2 * c + 1] = u[r * w / 2 + c];
            }
        }
        let nv21 = frame(
            PixelLayout::Nv21,
            w as u32,
            h as u32,
            vec![
                PlaneRef { data: &y_padded, row_stride: stride, pixel_stride: 1 },
                PlaneRef { data: &vu, row_stride: stride, pixel_stride: 2 },
            ],
        );
        assert_eq!(nv21.to_i420().unwrap(), expected);

        // The same buffer as YUV_420_888's three planes (U view starts one byte in).
        let three = frame(
            PixelLayout::Nv21,
            w as u32,
            h as u32,
            vec![
                PlaneRef { data: &y_padded, row_stride: stride, pixel_stride: 1 },
                PlaneRef { data: &vu[1..], row_stride: stride, pixel_stride: 2 },
                PlaneRef { data: &vu, row_stride: stride, pixel_stride: 2 },
            ],
        );
        assert_eq!(three.to_i420().unwrap(), expected);
    }

    #[test]
    fn rejects_odd_dimensions_short_buffers_and_small_strides() {
        let buf = vec![0u8; 64 * 64];
        let plane = |s| PlaneRef { data: &buf, row_stride: s, pixel_stride: 1 };
        let odd = frame(PixelLayout::I420, 33, 16, vec![plane(33), plane(17), plane(17)]);
        assert!(matches!(odd.validate(), Err(FrameError::BadDimensions { .. })));

        let small_stride = frame(PixelLayout::I420, 32, 16, vec![plane(31), plane(16), plane(16)]);
        assert!(matches!(small_stride.validate(), Err(FrameError::RowStrideTooSmall { plane: 0, .. })));

        let short = vec![0u8; 10];
        let short_buffer = frame(
            PixelLayout::I420,
            32,
            16,
            vec![plane(32), PlaneRef { data: &short, row_stride: 16, pixel_stride: 1 }, plane(16)],
        );
        assert_eq!(short_buffer.to_i420(), Err(FrameError::BufferTooSmall { plane: 1, got: 10, needed: 128 }));

        let two_planes_i420 = frame(PixelLayout::I420, 32, 16, vec![plane(32), plane(32)]);
        assert!(matches!(two_planes_i420.validate(), Err(FrameError::PlaneCount { .. })));

        let nv12_planar_chroma = frame(PixelLayout::Nv12, 32, 16, vec![plane(32), plane(32)]);
        assert!(matches!(nv12_planar_chroma.validate(), Err(FrameError::BadPixelStride { plane: 1, .. })));
    }
}
