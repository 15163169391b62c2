//! The SHA-256 of what a file sent, computed as it is sent. Each chunk is
//! hashed on a second thread while its request is in flight, so the check
//! that the target holds the bytes that were queued costs no time on the
//! link; only a resume hashes the prefix the target already holds.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

#[derive(Default)]
pub(super) struct SentDigest {
    hasher: Sha256,
    /// The hasher covers the file's bytes `[0, hashed_to)`.
    hashed_to: u64,
}

impl SentDigest {
    /// Makes the digest cover exactly `[0, offset)`, re-reading the file if
    /// it covers anything else (a resume, or a target that kept less than sent).
    pub fn catch_up(&mut self, source: &mut File, offset: u64) -> std::io::Result<()> {
        if self.hashed_to == offset {
            return Ok(());
        }
        *self = Self::default();
        source.seek(SeekFrom::Start(0))?;
        let mut buffer = vec![0u8; 256 * 1024];
        let mut prefix = source.take(offset);
        loop {
            let read = prefix.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            self.hasher.update(&buffer[..read]);
            self.hashed_to += read as u64;
        }
        if self.hashed_to != offset {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    /// Runs `send` while `chunk` (the bytes at `hashed_to`) is hashed on another thread.
    pub fn hash_while<T>(&mut self, chunk: &[u8], send: impl FnOnce() -> T) -> T {
        let mut hasher = std::mem::take(&mut self.hasher);
        let (result, hasher) = std::thread::scope(|scope| {
            let hashing = scope.spawn(move || {
                hasher.update(chunk);
                hasher
            });
            (send(), hashing.join())
        });
        match hasher {
            Ok(hasher) => {
                self.hasher = hasher;
                self.hashed_to += chunk.len() as u64;
            }
            // Cannot happen short of a bug in the hasher; the next catch_up starts over.
            Err(_) => self.hashed_to = u64::MAX,
        }
        result
    }

    pub fn finish_hex(self) -> String {
        hex::encode(self.hasher.finalize())
    }
}

/// `length` bytes at `offset` into `chunk`; short reads are an error.
pub(super) fn read_chunk(source: &mut File, offset: u64, length: u64, chunk: &mut Vec<u8>) -> std::io::Result<()> {
    chunk.clear();
    source.seek(SeekFrom::Start(offset))?;
    source.take(length).read_to_end(chunk)?;
    if (chunk.len() as u64) < length {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hashed_aside_and_prefixes_re_read_give_the_files_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let mut file = File::open(&path).unwrap();
        let mut digest = SentDigest::default();
        let mut chunk = Vec::new();
        for (offset, length) in [(0, 30_000), (30_000, 30_000)] {
            digest.catch_up(&mut file, offset).unwrap();
            read_chunk(&mut file, offset, length, &mut chunk).unwrap();
            assert_eq!(digest.hash_while(&chunk, || 7), 7);
        }
        // The target kept only 45 000 bytes: the digest starts over from the file.
        digest.catch_up(&mut file, 45_000).unwrap();
        read_chunk(&mut file, 45_000, 55_000, &mut chunk).unwrap();
        digest.hash_while(&chunk, || ());
        assert_eq!(digest.finish_hex(), hex::encode(Sha256::digest(&bytes)));
    }
}
