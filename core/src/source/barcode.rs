//! A frame index stamped into the pixels, so tests can read it back from the
//! decoded video after lossy H.264 and check that every frame arrived once,
//! in order.
//!
//! # Layout (a reader elsewhere reimplements this from the text below)
//!
//! - The barcode occupies the luma rows `0..bar_h`, where
//!   `bar_h = max(16, round_up_to_even(height / 24))` (integer division, then
//!   rounded up to the next even number). The picture must be at least
//!   `bar_h` rows tall.
//! - The width is split into 40 equal cells of `cell_w = width / 40` pixels
//!   (integer division; requires `width >= 320`, so a cell is at least 8
//!   pixels wide). Cell `c` spans columns `c * cell_w .. (c + 1) * cell_w`.
//!   Leftover columns right of `40 * cell_w` are black.
//! - A white cell has luma 235, a black cell luma 16 (limited range).
//! - Cell 0 is white and cell 1 black: a sync pair.
//! - Cells 2..34 hold the 32-bit index, most significant bit first
//!   (cell 2 = bit 31, cell 33 = bit 0); white = 1.
//! - Cells 34..40 hold the low 6 bits of the bitwise NOT of the index, most
//!   significant first (cell 34 = bit 5 of `!index`, cell 39 = bit 0): a check.
//! - Chroma (U and V) under the bar, i.e. chroma rows `0..bar_h / 2`, full
//!   width, is 128 (neutral), so the bar is grey-scale whatever the scene.
//!
//! # Reading
//!
//! For each cell, average the luma over its centre half in both directions:
//! columns `x0 + cell_w / 4 .. x0 + cell_w / 4 + cell_w / 2` and rows
//! `bar_h / 4 .. bar_h / 4 + bar_h / 2`, where `x0 = c * cell_w`. A mean of
//! 128 or more is white (1), below is black (0). The centre half keeps clear
//! of the ringing that H.264 leaves at cell edges. The read is valid only if
//! cell 0 is white, cell 1 black, and the check cells equal the low 6 bits of
//! the NOT of the decoded index.

use thiserror::Error;

use crate::frame::I420Image;

/// Cells across the width: sync pair, 32 index bits, 6 check bits.
pub const CELLS: u32 = 40;
/// Narrowest picture the barcode fits (8-pixel cells).
pub const MIN_WIDTH: u32 = 320;

const WHITE: u8 = 235;
const BLACK: u8 = 16;
const INDEX_FIRST_CELL: u32 = 2;
const CHECK_FIRST_CELL: u32 = 34;
const CHECK_BITS: u32 = 6;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum BarcodeError {
    #[error("picture is {width} pixels wide; the barcode needs at least {MIN_WIDTH}")]
    TooNarrow { width: u32 },
    #[error("picture is {height} rows tall; the barcode needs {bar_h}")]
    TooShort { height: u32, bar_h: u32 },
    #[error("picture {width}x{height} has {got} bytes, I420 needs {needed}")]
    BadBuffer { width: u32, height: u32, got: usize, needed: usize },
}

/// Height in rows of the bar for a picture `height` rows tall.
pub fn bar_height(height: u32) -> u32 {
    let rows = height / 24;
    (rows + (rows & 1)).max(16)
}

/// Writes `index` into the top rows of `image` (luma and chroma).
pub fn stamp(image: &mut I420Image, index: u32) -> Result<(), BarcodeError> {
    let (width, height) = (image.width, image.height);
    if width < MIN_WIDTH {
        return Err(BarcodeError::TooNarrow { width });
    }
    let bar_h = bar_height(height);
    if height < bar_h {
        return Err(BarcodeError::TooShort { height, bar_h });
    }
    let needed = width as usize * height as usize * 3 / 2;
    if image.data.len() != needed || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(BarcodeError::BadBuffer { width, height, got: image.data.len(), needed });
    }

    // Build one row of the bar, then copy it down: row-wise fills only.
    let w = width as usize;
    let cell_w = (width / CELLS) as usize;
    let mut row = vec![BLACK; w];
    for (cell, px) in row.chunks_exact_mut(cell_w).take(CELLS as usize).enumerate() {
        px.fill(if cell_is_white(index, cell as u32) { WHITE } else { BLACK });
    }
    let (y, u, v) = image.planes_mut();
    for out in y.chunks_exact_mut(w).take(bar_h as usize) {
        out.copy_from_slice(&row);
    }
    let chroma_len = (w / 2) * (bar_h as usize / 2);
    u[..chroma_len].fill(128);
    v[..chroma_len].fill(128);
    Ok(())
}

/// Reads the index from a luma plane (`width × height`, no padding). `None`
/// when the picture is too small, the sync pair is wrong, or the check bits
/// do not match: noise never yields an index by accident except with
/// probability 2^-8.
pub fn read(luma: &[u8], width: u32, height: u32) -> Option<u32> {
    let bar_h = bar_height(height);
    if width < MIN_WIDTH || height < bar_h || luma.len() < width as usize * height as usize {
        return None;
    }
    let bit = |cell: u32| cell_mean(luma, width, bar_h, cell) >= 128;
    if !bit(0) || bit(1) {
        return None;
    }
    let index = (0..32).fold(0u32, |acc, i| (acc << 1) | u32::from(bit(INDEX_FIRST_CELL + i)));
    let check = (0..CHECK_BITS).fold(0u32, |acc, i| (acc << 1) | u32::from(bit(CHECK_FIRST_CELL + i)));
    (check == check_of(index)).then_some(index)
}

fn check_of(index: u32) -> u32 {
    !index & ((1 << CHECK_BITS) - 1)
}

fn cell_is_white(index: u32, cell: u32) -> bool {
    match cell {
        0 => true,
        1 => false,
        c if c < CHECK_FIRST_CELL => (index >> (31 - (c - INDEX_FIRST_CELL))) & 1 == 1,
        c => (check_of(index) >> (CHECK_BITS - 1 - (c - CHECK_FIRST_CELL))) & 1 == 1,
    }
}

/// Mean luma over the centre half (both directions) of one cell.
fn cell_mean(luma: &[u8], width: u32, bar_h: u32, cell: u32) -> u32 {
    let cell_w = width / CELLS;
    let x0 = (cell * cell_w + cell_w / 4) as usize;
    let x1 = x0 + (cell_w / 2) as usize;
    let rows = bar_h / 4..bar_h / 4 + bar_h / 2;
    let count = (x1 - x0) as u32 * rows.len() as u32;
    let sum: u32 =
        rows.map(|r| luma[r as usize * width as usize..][x0..x1].iter().map(|&p| u32::from(p)).sum::<u32>()).sum();
    sum / count.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamped_index_reads_back() {
        for (w, h) in [(320, 240), (1280, 720), (642, 360)] {
            let mut image = I420Image::grey(w, h);
            for index in [0u32, 1, 2, 0x8000_0001, 12_345, u32::MAX] {
                stamp(&mut image, index).unwrap();
                assert_eq!(read(image.y(), w, h), Some(index), "{w}x{h} index {index}");
            }
        }
    }

    #[test]
    fn bar_is_at_least_16_rows_and_even() {
        assert_eq!(bar_height(240), 16);
        assert_eq!(bar_height(720), 30);
        assert_eq!(bar_height(1080), 46);
        assert_eq!(bar_height(600), 26);
    }

    #[test]
    fn stamp_sets_chroma_under_the_bar_and_leaves_the_rest() {
        let mut image = I420Image::grey(330, 240);
        let (_, u, v) = image.planes_mut();
        u.fill(60);
        v.fill(200);
        stamp(&mut image, 7).unwrap();
        let cw = 165;
        assert!(image.u()[..cw * 8].iter().all(|&p| p == 128));
        assert!(image.v()[..cw * 8].iter().all(|&p| p == 128));
        assert_eq!(image.u()[cw * 8], 60);
        // Leftover columns (330 - 40 * 8 = 10) are black.
        assert!(image.y()[320..330].iter().all(|&p| p == BLACK));
    }

    #[test]
    fn noise_and_blank_pictures_read_as_none() {
        let (w, h) = (320u32, 240u32);
        let mut state = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..w * h)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 56) as u8
            })
            .collect();
        assert_eq!(read(&noise, w, h), None);
        assert_eq!(read(&vec![235u8; (w * h) as usize], w, h), None);
        assert_eq!(read(&vec![16u8; (w * h) as usize], w, h), None);
    }

    proptest::proptest! {
        #[test]
        fn any_index_round_trips_at_any_usable_size(index: u32, w in 160u32..400, h in 8u32..200) {
            let (w, h) = (w * 2, h * 2);
            let mut image = I420Image::grey(w, h);
            if h >= bar_height(h) {
                stamp(&mut image, index).unwrap();
                proptest::prop_assert_eq!(read(image.y(), w, h), Some(index));
            }
        }

        #[test]
        fn read_never_panics_on_short_or_odd_input(luma: Vec<u8>, w in 0u32..2000, h in 0u32..100) {
            let _ = read(&luma, w, h);
        }
    }

    #[test]
    fn rejects_small_pictures() {
        let mut narrow = I420Image::grey(318, 240);
        assert_eq!(stamp(&mut narrow, 1), Err(BarcodeError::TooNarrow { width: 318 }));
        let mut short = I420Image::grey(320, 14);
        assert_eq!(stamp(&mut short, 1), Err(BarcodeError::TooShort { height: 14, bar_h: 16 }));
        assert_eq!(read(narrow.y(), 318, 240), None);
    }
}
