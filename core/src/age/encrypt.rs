//! Forward-only streaming encryption to X25519 recipients.

use std::io::{self, Write};

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::file_key::{FileKey, PAYLOAD_NONCE_LEN};
use super::header::encode_header;
use super::keys::Recipient;
use super::stream::{Stream, CHUNK_LEN, ENCRYPTED_CHUNK_LEN};
use super::{x25519, AgeError};

/// Encrypts what is written to it into an age v1 file on `inner`.
///
/// The header and payload nonce are written by [`StreamEncryptor::new`];
/// each 64 KiB chunk is sealed and written once the next byte arrives (the
/// last chunk may be full, so a full chunk cannot be sealed before we know
/// whether more follows); [`StreamEncryptor::finish`] seals the final chunk.
/// Dropping the encryptor without `finish` leaves a file that every reader
/// rejects as truncated. Memory: one chunk, whatever the file size.
pub struct StreamEncryptor<W: Write> {
    inner: W,
    stream: Stream,
    /// Plaintext of the current chunk; then, briefly, its ciphertext and tag.
    chunk: Zeroizing<Vec<u8>>,
    /// Set when sealing or writing a chunk failed: the output is broken.
    broken: bool,
}

impl<W: Write> StreamEncryptor<W> {
    /// Writes the header (one X25519 stanza per recipient, age v1 §header)
    /// and the payload nonce to `inner`.
    pub fn new(mut inner: W, recipients: &[Recipient]) -> Result<Self, AgeError> {
        if recipients.is_empty() {
            return Err(AgeError::NoRecipients);
        }
        let rng = SystemRandom::new();
        let file_key = FileKey::generate(&rng)?;
        let stanzas = recipients
            .iter()
            .map(|recipient| x25519::wrap(&file_key, recipient, &rng))
            .collect::<Result<Vec<_>, _>>()?;
        let mut nonce = [0u8; PAYLOAD_NONCE_LEN];
        rng.fill(&mut nonce).map_err(|_| AgeError::Randomness)?;
        let stream = Stream::new(file_key.payload_key(&nonce)?);

        inner.write_all(&encode_header(&stanzas, &file_key)?)?;
        inner.write_all(&nonce)?;
        Ok(Self { inner, stream, chunk: Zeroizing::new(Vec::with_capacity(ENCRYPTED_CHUNK_LEN)), broken: false })
    }

    /// Seals the buffered bytes as the final chunk (empty only if nothing
    /// was written at all), flushes, and hands back the writer.
    pub fn finish(mut self) -> Result<W, AgeError> {
        self.seal_and_write(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }

    /// Seals the buffered chunk and writes it with its tag. After any
    /// failure the chunk counter and the output disagree: refuse from then on.
    fn seal_and_write(&mut self, last: bool) -> Result<(), AgeError> {
        if self.broken {
            return Err(AgeError::StreamBroken);
        }
        let tag = self.stream.seal_chunk(&mut self.chunk[..], last).inspect_err(|_| self.broken = true)?;
        self.chunk.extend_from_slice(tag.as_ref());
        self.inner.write_all(&self.chunk).inspect_err(|_| self.broken = true)?;
        self.chunk.clear();
        Ok(())
    }
}

impl<W: Write> Write for StreamEncryptor<W> {
    /// Takes up to the rest of the current chunk. A full chunk is sealed and
    /// written first, before any byte of `buf` is taken, so an error means
    /// nothing of `buf` was consumed.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.chunk.len() == CHUNK_LEN {
            self.seal_and_write(false)?;
        }
        let taken = buf.len().min(CHUNK_LEN - self.chunk.len());
        self.chunk.extend_from_slice(&buf[..taken]);
        Ok(taken)
    }

    /// Flushes `inner`. Buffered plaintext stays buffered: sealing it now
    /// would end a chunk early, and only the final chunk may be short.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::age::{decrypt, Identity};

    fn encrypt(recipient: &Recipient, plaintext: &[u8]) -> Vec<u8> {
        let mut encryptor = StreamEncryptor::new(Vec::new(), std::slice::from_ref(recipient)).unwrap();
        encryptor.write_all(plaintext).unwrap();
        encryptor.finish().unwrap()
    }

    #[test]
    fn empty_recipient_list_is_refused() {
        assert!(matches!(StreamEncryptor::new(Vec::new(), &[]), Err(AgeError::NoRecipients)));
    }

    #[test]
    fn header_is_written_before_any_plaintext() {
        let identity = Identity::generate().unwrap();
        let encryptor = StreamEncryptor::new(Vec::new(), &[identity.recipient()]).unwrap();
        assert!(encryptor.inner.starts_with(b"age-encryption.org/v1\n-> X25519 "));
    }

    #[test]
    fn payload_length_follows_the_chunking_rules() {
        let identity = Identity::generate().unwrap();
        let header_and_nonce = encrypt(&identity.recipient(), b"").len() - 16;
        for (plaintext_len, chunks) in [(0, 1), (1, 1), (CHUNK_LEN, 1), (CHUNK_LEN + 1, 2), (3 * CHUNK_LEN, 3)] {
            let sealed = encrypt(&identity.recipient(), &vec![7; plaintext_len]);
            assert_eq!(sealed.len() - header_and_nonce, plaintext_len + 16 * chunks, "{plaintext_len}");
        }
    }

    #[test]
    fn write_takes_at_most_one_chunk_per_call() {
        let identity = Identity::generate().unwrap();
        let mut encryptor = StreamEncryptor::new(Vec::new(), &[identity.recipient()]).unwrap();
        let big = vec![1; 3 * CHUNK_LEN];
        assert_eq!(encryptor.write(&big).unwrap(), CHUNK_LEN);
        assert_eq!(encryptor.chunk.capacity(), ENCRYPTED_CHUNK_LEN);
        assert_eq!(encryptor.write(&big[..10]).unwrap(), 10);
        assert_eq!(encryptor.chunk.len(), 10, "the full chunk was sealed and written");
    }

    #[test]
    fn a_failed_write_breaks_the_encryptor_for_good() {
        struct FailAfter(usize);
        impl Write for FailAfter {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk full"));
                }
                let n = buf.len().min(self.0);
                self.0 -= n;
                Ok(n)
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let identity = Identity::generate().unwrap();
        let mut encryptor = StreamEncryptor::new(FailAfter(1000), &[identity.recipient()]).unwrap();
        let data = vec![1; CHUNK_LEN + 1];
        assert!(encryptor.write_all(&data).is_err());
        assert!(matches!(encryptor.finish(), Err(AgeError::StreamBroken)));
    }

    #[test]
    fn our_file_decrypts_with_our_decrypt() {
        let identity = Identity::generate().unwrap();
        let plaintext = b"sealed segment".repeat(10_000);
        let sealed = encrypt(&identity.recipient(), &plaintext);
        let mut out = Vec::new();
        assert_eq!(decrypt(&sealed[..], &[identity], &mut out).unwrap(), plaintext.len() as u64);
        assert_eq!(out, plaintext);
    }
}
