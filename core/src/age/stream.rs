//! STREAM, the chunked payload encryption (age v1 §payload): 64 KiB
//! plaintext chunks, each sealed with ChaCha20-Poly1305 under the payload
//! key and the nonce `11-byte big-endian chunk counter || final flag`.
//! Only the final chunk may be short, and it may be empty only when it is
//! the only chunk.

use ring::aead;

use super::AgeError;

pub(super) const CHUNK_LEN: usize = 64 * 1024;
pub(super) const TAG_LEN: usize = aead::MAX_TAG_LEN;
pub(super) const ENCRYPTED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;

/// One direction of one payload: the key and where in the chunk sequence
/// we are. Each chunk number is used once, so each nonce is used once.
pub(super) struct Stream {
    key: aead::LessSafeKey,
    /// The counter of the next chunk. The spec's counter has 88 bits; 2^64
    /// chunks of 64 KiB are beyond any real file, and we stop there.
    next_chunk: u64,
    finished: bool,
}

impl Stream {
    pub(super) fn new(key: aead::LessSafeKey) -> Self {
        Self { key, next_chunk: 0, finished: false }
    }

    /// Encrypts one plaintext chunk in place and returns the tag that follows
    /// it. A chunk that is not `last` must be full.
    pub(super) fn seal_chunk(&mut self, chunk: &mut [u8], last: bool) -> Result<aead::Tag, AgeError> {
        let allowed = if last { chunk.len() <= CHUNK_LEN } else { chunk.len() == CHUNK_LEN };
        if !allowed || (last && chunk.is_empty() && self.next_chunk > 0) {
            return Err(AgeError::Internal { what: "STREAM chunk sizing" });
        }
        let nonce = self.advance(last)?;
        self.key
            .seal_in_place_separate_tag(nonce, aead::Aad::empty(), chunk)
            .map_err(|_| AgeError::Internal { what: "ChaCha20-Poly1305 seal of a payload chunk" })
    }

    /// Decrypts one chunk (ciphertext and tag) in place and returns its
    /// plaintext. The caller decides `last` from the file's length: only a
    /// chunk followed by end of file is the final one.
    pub(super) fn open_chunk<'c>(&mut self, chunk: &'c mut [u8], last: bool) -> Result<&'c mut [u8], AgeError> {
        let index = self.next_chunk;
        let plaintext_len = chunk
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(AgeError::PayloadTruncated { reason: "the last chunk is shorter than its authentication tag" })?;
        if !last && plaintext_len != CHUNK_LEN {
            return Err(AgeError::Internal { what: "STREAM chunk sizing" });
        }
        if last && plaintext_len == 0 && index > 0 {
            return Err(AgeError::EmptyFinalChunk { chunk: index });
        }
        let nonce = self.advance(last)?;
        self.key
            .open_in_place(nonce, aead::Aad::empty(), chunk)
            .map_err(|_| AgeError::PayloadAuthentication { chunk: index })
    }

    /// The nonce of the next chunk; moves past it.
    fn advance(&mut self, last: bool) -> Result<aead::Nonce, AgeError> {
        if self.finished {
            return Err(AgeError::Internal { what: "STREAM chunk after the final chunk" });
        }
        let nonce = chunk_nonce(self.next_chunk, last);
        if last {
            self.finished = true;
        } else {
            self.next_chunk = self.next_chunk.checked_add(1).ok_or(AgeError::ChunkCounterOverflow)?;
        }
        Ok(nonce)
    }
}

/// 11-byte big-endian counter, then 0x01 for the final chunk or 0x00.
fn chunk_nonce(counter: u64, last: bool) -> aead::Nonce {
    let mut nonce = [0u8; aead::NONCE_LEN];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    aead::Nonce::assume_unique_for_key(nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> Stream {
        let key = aead::UnboundKey::new(&aead::CHACHA20_POLY1305, &[5; 32]).unwrap();
        Stream::new(aead::LessSafeKey::new(key))
    }

    /// Seals `chunks` (all but the last full) into ciphertext||tag each.
    fn seal_all(chunks: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let mut sealing = stream();
        chunks
            .iter()
            .enumerate()
            .map(|(i, plain)| {
                let mut sealed = plain.clone();
                let tag = sealing.seal_chunk(&mut sealed, i + 1 == chunks.len()).unwrap();
                sealed.extend_from_slice(tag.as_ref());
                sealed
            })
            .collect()
    }

    #[test]
    fn nonce_is_big_endian_counter_then_final_flag() {
        let nonce = chunk_nonce(0x0102_0304_0506_0708, true);
        assert_eq!(nonce.as_ref(), &[0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 1]);
        assert_eq!(chunk_nonce(0, false).as_ref(), &[0; 12]);
    }

    #[test]
    fn chunks_open_in_order_with_their_final_flag() {
        let chunks = vec![vec![1; CHUNK_LEN], vec![2; CHUNK_LEN], vec![3; 10]];
        let mut sealed = seal_all(&chunks);
        let mut opening = stream();
        for (i, (sealed, plain)) in sealed.iter_mut().zip(&chunks).enumerate() {
            let opened = opening.open_chunk(sealed, i == 2).unwrap();
            assert_eq!(opened, plain.as_slice());
        }
    }

    #[test]
    fn final_flag_is_authenticated() {
        // A full final chunk read as a middle one (more data after it) fails,
        // and a middle chunk read as the final one (file cut after it) fails.
        let mut sealed = seal_all(&[vec![1; CHUNK_LEN], vec![2; CHUNK_LEN]]);
        let mut first = sealed[0].clone();
        let result = stream().open_chunk(&mut first, true);
        assert!(matches!(result, Err(AgeError::PayloadAuthentication { chunk: 0 })));
        let mut opening = stream();
        opening.open_chunk(&mut sealed[0], false).unwrap();
        assert!(matches!(opening.open_chunk(&mut sealed[1], false), Err(AgeError::PayloadAuthentication { chunk: 1 })));
    }

    #[test]
    fn reordered_chunks_fail() {
        let mut sealed = seal_all(&[vec![1; CHUNK_LEN], vec![2; CHUNK_LEN], vec![3; 5]]);
        let mut opening = stream();
        assert!(matches!(opening.open_chunk(&mut sealed[1], false), Err(AgeError::PayloadAuthentication { chunk: 0 })));
    }

    #[test]
    fn empty_final_chunk_is_valid_only_as_the_only_chunk() {
        let mut only = seal_all(&[vec![]]);
        assert_eq!(only[0].len(), TAG_LEN);
        assert!(stream().open_chunk(&mut only[0], true).unwrap().is_empty());

        let mut sealing = stream();
        let mut full = vec![1; CHUNK_LEN];
        let _tag = sealing.seal_chunk(&mut full, false).unwrap();
        assert!(sealing.seal_chunk(&mut [], true).is_err());

        let mut opening = stream();
        let mut sealed = seal_all(&[vec![1; CHUNK_LEN], vec![2; 1]]);
        opening.open_chunk(&mut sealed[0], false).unwrap();
        let mut bare_tag = [0u8; TAG_LEN];
        assert!(matches!(opening.open_chunk(&mut bare_tag, true), Err(AgeError::EmptyFinalChunk { chunk: 1 })));
    }

    #[test]
    fn chunk_shorter_than_a_tag_is_truncation() {
        let mut short = [0u8; TAG_LEN - 1];
        assert!(matches!(stream().open_chunk(&mut short, true), Err(AgeError::PayloadTruncated { .. })));
    }

    #[test]
    fn short_chunk_cannot_be_sealed_as_a_middle_one() {
        assert!(stream().seal_chunk(&mut [0; 100], false).is_err());
        assert!(stream().seal_chunk(&mut vec![0; CHUNK_LEN + 1], true).is_err());
    }

    #[test]
    fn nothing_follows_the_final_chunk() {
        let mut sealing = stream();
        let _tag = sealing.seal_chunk(&mut [1; 3], true).unwrap();
        assert!(sealing.seal_chunk(&mut [1; 3], true).is_err());
    }

    #[test]
    fn counter_overflow_is_an_error() {
        let mut sealing = stream();
        sealing.next_chunk = u64::MAX;
        let mut full = vec![0; CHUNK_LEN];
        assert!(matches!(sealing.seal_chunk(&mut full, false), Err(AgeError::ChunkCounterOverflow)));
        let mut sealing = stream();
        sealing.next_chunk = u64::MAX;
        let _tag = sealing.seal_chunk(&mut [0; 1], true).unwrap();
    }
}
