//! Face blurring before encoding (issue 7). So far: the face detector and
//! the irreversible obscuring of a region; tracking, look-ahead and the
//! pipeline stage are not built yet.

pub mod detector;
mod network_input;
pub mod obscure;
mod retinaface;
pub mod tracker;
