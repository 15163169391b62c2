//! Face blurring before encoding: the detector (and its second look at
//! doubtful small faces), the tracker, the camera motion measurement, the
//! coverage of frames between detections, the irreversible obscuring of a
//! region, the look-ahead stage that combines them and fails closed, and
//! the monitor of failed-closed frames.

mod coverage;
pub mod detector;
mod follow_forward;
pub mod monitor;
mod motion;
mod network_input;
mod network_pass;
pub mod obscure;
mod retinaface;
pub mod second_look;
pub mod stage;
mod trace;
mod trace_back;
pub mod tracker;
