//! Any bytes as a signed record: JSON parsing, canonicalisation, the number
//! checks and signature verification. Must never panic.

#![no_main]

use egocap_core::provenance::record::SignedRecord;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = SignedRecord::parse(data) {
        // A record that parses must re-parse from its own canonical bytes.
        let again = SignedRecord::parse(record.canonical_bytes());
        assert!(again.is_ok_and(|r| r.hash() == record.hash()));
    }
});
