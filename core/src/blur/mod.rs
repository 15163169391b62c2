//! Face blurring before encoding: the detector, the tracker, the
//! irreversible obscuring of a region, the look-ahead stage that combines
//! them and fails closed, and the monitor of failed-closed frames.

pub mod detector;
pub mod monitor;
mod motion;
mod network_input;
pub mod obscure;
mod retinaface;
pub mod stage;
pub mod tracker;
