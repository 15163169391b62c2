//! Properties: whatever the plaintext size and however it is cut into write
//! and read calls, decryption gives back exactly what was encrypted; and
//! any change to an encrypted file makes decryption fail.

use std::io::{Read, Write};

use proptest::prelude::*;

use super::stream::CHUNK_LEN;
use super::{decrypt, Identity, StreamDecryptor, StreamEncryptor};

/// Deterministic bytes that differ from chunk to chunk (xorshift64).
fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Sizes around the chunk boundaries, where STREAM has its edge cases, and
/// anywhere up to four chunks.
fn plaintext_len() -> impl Strategy<Value = usize> {
    prop_oneof![0..3usize, CHUNK_LEN - 2..CHUNK_LEN + 3, 2 * CHUNK_LEN - 1..2 * CHUNK_LEN + 2, 0..4 * CHUNK_LEN,]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_for_any_size_and_any_split_of_calls(
        len in plaintext_len(),
        seed in any::<u64>(),
        write_sizes in proptest::collection::vec(1usize..100_000, 1..16),
        read_size in 1usize..70_000,
    ) {
        let identity = Identity::generate().unwrap();
        let plaintext = plaintext(len, seed);

        let mut encryptor = StreamEncryptor::new(Vec::new(), &[identity.recipient()]).unwrap();
        let mut rest = plaintext.as_slice();
        for size in write_sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (piece, after) = rest.split_at((*size).min(rest.len()));
            encryptor.write_all(piece).unwrap();
            rest = after;
        }
        let file = encryptor.finish().unwrap();

        let mut decrypted = Vec::new();
        let written = decrypt(&file[..], std::slice::from_ref(&identity), &mut decrypted).unwrap();
        prop_assert_eq!(written, len as u64);
        prop_assert!(decrypted == plaintext, "decrypt differs for {} bytes", len);

        let mut decryptor = StreamDecryptor::new(&file[..], std::slice::from_ref(&identity)).unwrap();
        let mut read_back = Vec::new();
        let mut buffer = vec![0u8; read_size];
        loop {
            let n = decryptor.read(&mut buffer).unwrap();
            if n == 0 {
                break;
            }
            read_back.extend_from_slice(&buffer[..n]);
        }
        prop_assert!(read_back == plaintext, "Read differs for {} bytes", len);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_change_to_a_file_makes_decryption_fail(
        len in plaintext_len(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 1u8..=255), 0..3),
        truncate in proptest::option::of(any::<proptest::sample::Index>()),
        append in proptest::collection::vec(any::<u8>(), 0..3),
    ) {
        prop_assume!(!flips.is_empty() || truncate.is_some() || !append.is_empty());
        let identity = Identity::generate().unwrap();
        let mut encryptor = StreamEncryptor::new(Vec::new(), &[identity.recipient()]).unwrap();
        encryptor.write_all(&plaintext(len, 7)).unwrap();
        let sealed = encryptor.finish().unwrap();

        let mut changed = sealed.clone();
        for (position, byte) in &flips {
            let index = position.index(changed.len());
            changed[index] ^= byte;
        }
        if let Some(cut) = truncate {
            changed.truncate(cut.index(changed.len()));
        }
        changed.extend_from_slice(&append);
        prop_assume!(changed != sealed);

        let result = decrypt(&changed[..], std::slice::from_ref(&identity), std::io::sink());
        prop_assert!(result.is_err(), "a changed file of {} bytes decrypted", changed.len());
    }
}
