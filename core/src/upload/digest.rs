//! The SHA-256 of what a file sent, computed as it is sent. Each chunk is
//! hashed on a second thread while its request is in flight, so the check
//! that the target holds the bytes that were queued costs no time on the
//! link; only a resume hashes the prefix the target already holds.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::provenance::values::HashingWriter;

#[derive(Default)]
pub(super) struct SentDigest {
    /// Covers the file's bytes `[0, bytes())`; `None` until the first catch-up.
    hashed: Option<HashingWriter<io::Sink>>,
}

impl SentDigest {
    /// Makes the digest cover exactly `[0, offset)`, re-reading the file if
    /// it covers anything else (a resume, or a target that kept less than sent).
    pub fn catch_up(&mut self, source: &mut File, offset: u64) -> io::Result<()> {
        if self.hashed.as_ref().map(HashingWriter::bytes) == Some(offset) {
            return Ok(());
        }
        self.hashed = None;
        let mut writer = HashingWriter::new(io::sink());
        source.seek(SeekFrom::Start(0))?;
        if io::copy(&mut source.take(offset), &mut writer)? != offset {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.hashed = Some(writer);
        Ok(())
    }

    /// Runs `send` while `chunk` (the bytes at the end of what is covered)
    /// is hashed on another thread.
    pub fn hash_while<T>(&mut self, chunk: &[u8], send: impl FnOnce() -> T) -> T {
        let hashed = self.hashed.take();
        let (result, hashed) = std::thread::scope(|scope| {
            let hashing = scope.spawn(move || {
                let mut writer = hashed?;
                writer.write_all(chunk).ok()?;
                Some(writer)
            });
            (send(), hashing.join())
        });
        // A panic in the hasher leaves nothing covered: the next catch-up starts over.
        self.hashed = hashed.ok().flatten();
        result
    }

    /// The digest, if it covers anything (always after a `catch_up`).
    pub fn finish_hex(self) -> Option<String> {
        self.hashed.map(|writer| writer.finish().1.to_hex())
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
        assert_eq!(digest.finish_hex(), Some(crate::provenance::values::Sha256Digest::of(&bytes).to_hex()));
    }
}
