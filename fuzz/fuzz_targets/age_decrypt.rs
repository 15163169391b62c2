//! Any bytes as an age file: the header parser (version line, stanzas,
//! base64, MAC line, size limits) and, past a header, the STREAM reader.
//! Must never panic; almost every input is an error, which is fine.

#![no_main]

use std::sync::OnceLock;

use egocap_core::age::{decrypt, Identity};
use libfuzzer_sys::fuzz_target;

/// A fixed identity, so inputs saved from a run replay the same way.
const IDENTITY: &str = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";

fn identity() -> &'static Identity {
    static CELL: OnceLock<Identity> = OnceLock::new();
    CELL.get_or_init(|| Identity::parse(IDENTITY).expect("the fixed identity parses"))
}

fuzz_target!(|data: &[u8]| {
    let _ = decrypt(data, std::slice::from_ref(identity()), std::io::sink());
});
