//! Any bytes as a decrypted segment: the MP4 box walker `verify` runs.
//! Must never panic or read out of bounds.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = egocap_core::mp4::inspect::inspect(data);
});
