//! Face blurring before encoding (issue 7). So far: the face detector.

pub mod detector;
mod network_input;
mod retinaface;
