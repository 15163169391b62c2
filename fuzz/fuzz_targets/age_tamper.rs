//! Authenticated encryption as a property the fuzzer can check: a file we
//! encrypt decrypts to its plaintext, and any change to it (flipped bytes,
//! truncation, appended bytes) makes decryption fail, never return other
//! plaintext. Reaches the STREAM reader with valid keys, which random
//! inputs to `age_decrypt` almost never do.

#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use egocap_core::age::{decrypt, Identity, StreamEncryptor};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const IDENTITY: &str = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";

#[derive(Arbitrary, Debug)]
struct Case {
    /// Repeated to reach the 64 KiB chunk boundaries without huge inputs.
    plaintext: Vec<u8>,
    repeat: u16,
    /// (position modulo the file length, byte to XOR there).
    flips: Vec<(u32, u8)>,
    truncate_to: Option<u32>,
    append: Vec<u8>,
}

fn identity() -> &'static Identity {
    static CELL: OnceLock<Identity> = OnceLock::new();
    CELL.get_or_init(|| Identity::parse(IDENTITY).expect("the fixed identity parses"))
}

fuzz_target!(|case: Case| {
    let plaintext: Vec<u8> = case.plaintext.repeat(usize::from(case.repeat % 512) + 1);
    let mut encryptor = StreamEncryptor::new(Vec::new(), &[identity().recipient()]).expect("encryptor");
    encryptor.write_all(&plaintext).expect("write");
    let sealed = encryptor.finish().expect("finish");

    let mut file = sealed.clone();
    for (position, byte) in &case.flips {
        if !file.is_empty() {
            let index = *position as usize % file.len();
            file[index] ^= byte;
        }
    }
    if let Some(len) = case.truncate_to {
        file.truncate(len as usize % (file.len() + 1));
    }
    file.extend_from_slice(&case.append);

    let mut decrypted = Vec::new();
    let result = decrypt(file.as_slice(), std::slice::from_ref(identity()), &mut decrypted);
    if file == sealed {
        assert_eq!(result.expect("the untouched file decrypts"), plaintext.len() as u64);
        assert!(decrypted == plaintext);
    } else {
        assert!(result.is_err(), "a changed file decrypted ({} bytes)", decrypted.len());
    }
});
