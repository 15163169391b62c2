//! age v1 file encryption (c2sp.org/age, https://age-encryption.org/v1) for
//! X25519 recipients, interoperable with the `age` CLI.
//!
//! Layout of the module, following the format top-down:
//! - `keys`: `age1…` recipients and `AGE-SECRET-KEY-1…` identities (Bech32);
//! - `x25519`: the X25519 recipient stanza that wraps the file key;
//! - `header`: the textual header (version line, stanzas, MAC);
//! - `file_key`: the file key and the keys derived from it;
//! - `stream`: the STREAM chunked payload;
//! - [`StreamEncryptor`] / [`StreamDecryptor`] / [`decrypt`]: whole files,
//!   forward-only, one 64 KiB chunk of memory whatever the file size.
//!
//! Encryption uses `ring` only; the identity side (static secrets) uses
//! `x25519-dalek`. Secrets live in zeroizing containers and appear in no
//! error, log line or `Debug` output.

mod decrypt;
mod encrypt;
mod file_key;
mod header;
mod keys;
mod stream;
mod x25519;

#[cfg(test)]
mod round_trip_tests;

use std::io;

use thiserror::Error;

pub use decrypt::{decrypt, StreamDecryptor};
pub use encrypt::StreamEncryptor;
pub use keys::{parse_identity_file, Identity, Recipient};

/// Everything that can fail in this module. Messages name what failed and
/// where (line, chunk), never key material or plaintext.
#[derive(Debug, Error)]
pub enum AgeError {
    #[error("invalid age recipient: {reason}")]
    InvalidRecipient { reason: &'static str },
    #[error("invalid age identity: {reason}")]
    InvalidIdentity { reason: &'static str },
    #[error("invalid age identity file, line {line}: {reason}")]
    IdentityFile { line: usize, reason: &'static str },
    #[error("the identity file holds no identities")]
    NoIdentitiesInFile,
    #[error("cannot encrypt to an empty list of recipients")]
    NoRecipients,
    #[error("cannot decrypt without identities")]
    NoIdentities,
    #[error("not an age file: {reason}")]
    NotAgeFile { reason: &'static str },
    #[error("unsupported age format version {version:?} (only v1 is supported)")]
    UnsupportedVersion { version: String },
    #[error("malformed age header, line {line}: {reason}")]
    MalformedHeader { line: usize, reason: &'static str },
    #[error("malformed recipient stanza {stanza} in the age header: {reason}")]
    MalformedStanza { stanza: usize, reason: &'static str },
    #[error("age header exceeds the limit of {limit} {what}")]
    HeaderTooLarge { what: &'static str, limit: usize },
    /// The file is well formed, but none of the identities can unwrap any
    /// of its X25519 stanzas: it was encrypted to someone else.
    #[error("no identity matches any recipient stanza of the file")]
    NoMatchingIdentity,
    /// X25519 with a low-order point gives an all-zero shared secret; the
    /// age spec requires aborting (age v1 §X25519 recipient stanza).
    #[error("X25519 produced an all-zero shared secret (low-order public key)")]
    ZeroSharedSecret,
    #[error("the header MAC does not verify: the header was modified")]
    HeaderMac,
    #[error("payload chunk {chunk} failed authentication (modified, or truncated at a chunk boundary)")]
    PayloadAuthentication { chunk: u64 },
    #[error("payload truncated: {reason}")]
    PayloadTruncated { reason: &'static str },
    #[error("payload chunk {chunk} is an empty final chunk after a full one")]
    EmptyFinalChunk { chunk: u64 },
    #[error("payload has more chunks than the STREAM counter can number")]
    ChunkCounterOverflow,
    /// An encryptor or decryptor is not usable after an error: its place in
    /// the STREAM is lost.
    #[error("an earlier error ended this age stream; its output is incomplete")]
    StreamBroken,
    #[error("the system random number generator failed")]
    Randomness,
    /// A step that cannot fail on valid use (a crypto library call, the
    /// STREAM bookkeeping) failed anyway.
    #[error("internal error: {what} failed")]
    Internal { what: &'static str },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// For the `Read`/`Write` impls: an I/O error comes back as itself, any
/// other error as `InvalidData` carrying the [`AgeError`] (see
/// [`io::Error::get_ref`]).
impl From<AgeError> for io::Error {
    fn from(error: AgeError) -> Self {
        match error {
            AgeError::Io(error) => error,
            other => io::Error::new(io::ErrorKind::InvalidData, other),
        }
    }
}
