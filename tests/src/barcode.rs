//! An independent reader of the frame-index barcode, written from the
//! layout described in `egocap_core::source::barcode` (not calling it):
//!
//! bar height `max(16, round_up_to_even(height / 24))`; 40 cells of
//! `width / 40` pixels; cell 0 white, cell 1 black; cells 2..34 the index,
//! MSB first; cells 34..40 the low 6 bits of `!index`, MSB first. A cell is
//! white when the mean luma of its centre half (both directions) is ≥ 128.

/// The index stamped in a `width × height` grey picture, if the barcode is
/// intact.
pub fn read_index(luma: &[u8], width: usize, height: usize) -> Option<u32> {
    let rows_24 = height / 24;
    let bar = std::cmp::max(16, rows_24 + rows_24 % 2);
    let cell = width / 40;
    if cell < 8 || height < bar || luma.len() < width * height {
        return None;
    }
    let bits: Vec<bool> = (0..40)
        .map(|c| {
            let (x0, y0) = (c * cell + cell / 4, bar / 4);
            let (w, h) = (cell / 2, bar / 2);
            let sum: u64 =
                (y0..y0 + h).flat_map(|y| &luma[y * width + x0..y * width + x0 + w]).map(|&p| u64::from(p)).sum();
            sum / (w * h) as u64 >= 128
        })
        .collect();
    if !bits[0] || bits[1] {
        return None;
    }
    let index = bits[2..34].iter().fold(0u32, |acc, &b| acc << 1 | u32::from(b));
    let check = bits[34..40].iter().fold(0u32, |acc, &b| acc << 1 | u32::from(b));
    (check == (!index & 0x3f)).then_some(index)
}
