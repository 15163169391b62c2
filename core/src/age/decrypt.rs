//! Streaming decryption with X25519 identities.

use std::io::{self, BufReader, Read, Write};
use std::ops::Range;

use zeroize::Zeroizing;

use super::file_key::{FileKey, PAYLOAD_NONCE_LEN};
use super::header::Header;
use super::keys::Identity;
use super::stream::{Stream, ENCRYPTED_CHUNK_LEN};
use super::x25519::X25519Stanza;
use super::AgeError;

/// Decrypts an age file from `input` into `output` with the first of
/// `identities` that matches one of its X25519 stanzas, and returns the
/// number of plaintext bytes written.
///
/// Streaming: each chunk is authenticated before it is written, but a
/// truncated file shows only at its end, so on error `output` holds a
/// prefix of the plaintext that must be discarded.
pub fn decrypt<R: Read, W: Write>(input: R, identities: &[Identity], mut output: W) -> Result<u64, AgeError> {
    let mut decryptor = StreamDecryptor::new(input, identities)?;
    let mut written = 0u64;
    while let Some(plaintext) = decryptor.next_chunk()? {
        output.write_all(plaintext)?;
        written += plaintext.len() as u64;
    }
    output.flush()?;
    Ok(written)
}

/// Reads the plaintext of an age file, one authenticated chunk at a time:
/// through [`StreamDecryptor::next_chunk`] (typed errors) or through
/// [`Read`] (errors as `io::Error` carrying the [`AgeError`]); use one or
/// the other. `Read` returns `Ok(0)` only after a valid final chunk.
pub struct StreamDecryptor<R: Read> {
    input: BufReader<R>,
    stream: Stream,
    /// One encrypted chunk and one byte of look-ahead; after opening, the
    /// chunk's plaintext is at the front.
    buffer: Zeroizing<Vec<u8>>,
    /// The first byte of the next chunk, read to learn that the current one
    /// is not the last.
    look_ahead: Option<u8>,
    /// Plaintext in `buffer` not yet handed out through `Read`.
    unread: Range<usize>,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Finished,
    Failed,
}

impl<R: Read> StreamDecryptor<R> {
    /// Reads and checks the header: finds the file key with `identities`,
    /// verifies the header MAC, reads the payload nonce.
    pub fn new(input: R, identities: &[Identity]) -> Result<Self, AgeError> {
        if identities.is_empty() {
            return Err(AgeError::NoIdentities);
        }
        let mut input = BufReader::new(input);
        let header = Header::read(&mut input)?;
        let file_key = unwrap_file_key(&header, identities)?;
        header.verify_mac(&file_key)?;
        let mut nonce = [0u8; PAYLOAD_NONCE_LEN];
        input.read_exact(&mut nonce).map_err(|error| match error.kind() {
            io::ErrorKind::UnexpectedEof => {
                AgeError::PayloadTruncated { reason: "the payload nonce is missing or short" }
            }
            _ => AgeError::Io(error),
        })?;
        Ok(Self {
            input,
            stream: Stream::new(file_key.payload_key(&nonce)?),
            buffer: Zeroizing::new(vec![0; ENCRYPTED_CHUNK_LEN + 1]),
            look_ahead: None,
            unread: 0..0,
            state: State::Reading,
        })
    }

    /// The plaintext of the next chunk, authenticated; `None` once the final
    /// chunk has been returned. After an error every call fails.
    pub fn next_chunk(&mut self) -> Result<Option<&[u8]>, AgeError> {
        Ok(self.open_next_chunk()?.map(|len| &self.buffer[..len]))
    }

    fn open_next_chunk(&mut self) -> Result<Option<usize>, AgeError> {
        match self.state {
            State::Finished => return Ok(None),
            State::Failed => return Err(AgeError::StreamBroken),
            State::Reading => {}
        }
        let opened = self.read_and_open_chunk();
        if opened.is_err() {
            self.state = State::Failed;
        }
        opened.map(Some)
    }

    /// Reads up to one encrypted chunk and one byte more. Whether that byte
    /// exists decides whether the chunk is the final one (age v1 §payload:
    /// the final chunk is the one at the end of the file, full or not).
    fn read_and_open_chunk(&mut self) -> Result<usize, AgeError> {
        let mut filled = 0;
        if let Some(byte) = self.look_ahead.take() {
            self.buffer[0] = byte;
            filled = 1;
        }
        filled += read_until_full(&mut self.input, &mut self.buffer[filled..])?;
        let last = filled <= ENCRYPTED_CHUNK_LEN;
        if !last {
            self.look_ahead = Some(self.buffer[ENCRYPTED_CHUNK_LEN]);
            filled = ENCRYPTED_CHUNK_LEN;
        } else if filled == 0 {
            // Only possible before the first chunk: later, the look-ahead
            // byte is always there.
            return Err(AgeError::PayloadTruncated { reason: "the payload has no chunks" });
        }
        let plaintext_len = self.stream.open_chunk(&mut self.buffer[..filled], last)?.len();
        if last {
            self.state = State::Finished;
        }
        Ok(plaintext_len)
    }
}

impl<R: Read> Read for StreamDecryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // An empty chunk (the whole payload of an empty file) yields nothing.
        while self.unread.is_empty() {
            match self.open_next_chunk()? {
                Some(len) => self.unread = 0..len,
                None => return Ok(0),
            }
        }
        let len = out.len().min(self.unread.len());
        out[..len].copy_from_slice(&self.buffer[self.unread.start..self.unread.start + len]);
        self.unread.start += len;
        Ok(len)
    }
}

/// Tries every identity on every X25519 stanza; other stanza types are
/// ignored (age v1 §recipient stanza). All X25519 stanzas are validated
/// first, so a malformed one fails the file whichever identity matches.
fn unwrap_file_key(header: &Header, identities: &[Identity]) -> Result<FileKey, AgeError> {
    let mut stanzas = Vec::new();
    for (index, stanza) in header.stanzas.iter().enumerate() {
        if let Some(stanza) = X25519Stanza::from_stanza(stanza, index + 1)? {
            stanzas.push(stanza);
        }
    }
    for identity in identities {
        for stanza in &stanzas {
            if let Some(file_key) = stanza.unwrap(identity)? {
                return Ok(file_key);
            }
        }
    }
    Err(AgeError::NoMatchingIdentity)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_until_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
#[path = "decrypt_tests.rs"]
mod tests;
