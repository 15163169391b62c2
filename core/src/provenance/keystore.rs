//! The device's signing identity: an Ed25519 key behind [`KeyStore`], which
//! only ever hands out the public key and signatures, so a host can keep the
//! private key in Android Keystore or the iOS Keychain. The default
//! [`FileKeyStore`] keeps a PKCS#8 key file readable by its owner only.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;
use ring::signature::{self, Ed25519KeyPair, KeyPair};
use thiserror::Error;
use zeroize::Zeroizing;

use super::values::decode_lower_hex;

pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// Signs with a key whose private bytes it never reveals.
pub trait KeyStore: Send + Sync {
    fn public_key(&self) -> Result<PublicKey, KeyStoreError>;
    /// An Ed25519 signature (64 bytes) over `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyStoreError>;
}

#[derive(Debug, Error)]
pub enum KeyStoreError {
    #[error("cannot read key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write key file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("key file {path} already exists; refusing to overwrite a device key")]
    Exists { path: PathBuf },
    #[error("key file {path} is not an Ed25519 PKCS#8 key")]
    Malformed { path: PathBuf },
    #[error("key file {path} is readable by others (mode {mode:o}); it must be 0600")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("the system random generator failed")]
    Random,
    #[error("the host key store failed: {0}")]
    Host(String),
}

/// An Ed25519 public key; lowercase hex in records.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; PUBLIC_KEY_LEN]);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PublicKeyError {
    #[error("a public key is {PUBLIC_KEY_LEN} bytes as 64 hex digits")]
    Malformed,
    #[error("the signature does not verify under key {0}")]
    BadSignature(String),
}

impl PublicKey {
    /// 64 lowercase hex digits, nothing else: one key, one spelling.
    pub fn from_hex(text: &str) -> Result<Self, PublicKeyError> {
        decode_lower_hex(text).map(Self).ok_or(PublicKeyError::Malformed)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Checks an Ed25519 signature over `message`.
    pub fn verify(&self, message: &[u8], signature_bytes: &[u8]) -> Result<(), PublicKeyError> {
        signature::UnparsedPublicKey::new(&signature::ED25519, self.0)
            .verify(message, signature_bytes)
            .map_err(|_| PublicKeyError::BadSignature(self.to_hex()))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// An Ed25519 key held in this process, signing with `ring`.
pub struct FileKeyStore {
    pair: Ed25519KeyPair,
}

impl FileKeyStore {
    /// Makes a new key and writes it to `path` (mode 0600, never overwriting).
    pub fn generate(path: &Path) -> Result<Self, KeyStoreError> {
        let pkcs8 = new_pkcs8()?;
        write_private_file(path, &pkcs8)?;
        Self::from_pkcs8(&pkcs8).ok_or_else(|| KeyStoreError::Malformed { path: path.to_path_buf() })
    }

    /// A key that lives only in memory (demo runs and tests).
    pub fn ephemeral() -> Result<Self, KeyStoreError> {
        let pkcs8 = new_pkcs8()?;
        Self::from_pkcs8(&pkcs8).ok_or(KeyStoreError::Random)
    }

    /// Reads a key written by [`FileKeyStore::generate`]; refuses a file others can read.
    pub fn open(path: &Path) -> Result<Self, KeyStoreError> {
        check_owner_only(path)?;
        let bytes =
            Zeroizing::new(fs::read(path).map_err(|source| KeyStoreError::Read { path: path.to_path_buf(), source })?);
        Self::from_pkcs8(&bytes).ok_or_else(|| KeyStoreError::Malformed { path: path.to_path_buf() })
    }

    fn from_pkcs8(pkcs8: &[u8]) -> Option<Self> {
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).ok().map(|pair| Self { pair })
    }
}

impl KeyStore for FileKeyStore {
    fn public_key(&self) -> Result<PublicKey, KeyStoreError> {
        let bytes: [u8; PUBLIC_KEY_LEN] =
            self.pair.public_key().as_ref().try_into().map_err(|_| KeyStoreError::Random)?;
        Ok(PublicKey(bytes))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        Ok(self.pair.sign(message).as_ref().to_vec())
    }
}

fn new_pkcs8() -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| KeyStoreError::Random)?;
    Ok(Zeroizing::new(document.as_ref().to_vec()))
}

/// Writes secret bytes to a new file that only its owner may read, durably.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), KeyStoreError> {
    let write_error = |source| KeyStoreError::Write { path: path.to_path_buf(), source };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::AlreadyExists => KeyStoreError::Exists { path: path.to_path_buf() },
        _ => write_error(source),
    })?;
    file.write_all(bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent).and_then(|d| d.sync_all()).map_err(write_error)?;
    }
    Ok(())
}

#[cfg(unix)]
fn check_owner_only(path: &Path) -> Result<(), KeyStoreError> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = fs::metadata(path).map_err(|source| KeyStoreError::Read { path: path.to_path_buf(), source })?;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyStoreError::TooOpen { path: path.to_path_buf(), mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_owner_only(_path: &Path) -> Result<(), KeyStoreError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_file_is_owner_only_and_signs_verifiably_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        let made = FileKeyStore::generate(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let reopened = FileKeyStore::open(&path).unwrap();
        assert_eq!(made.public_key().unwrap(), reopened.public_key().unwrap());
        let signature = reopened.sign(b"hello").unwrap();
        made.public_key().unwrap().verify(b"hello", &signature).unwrap();
        assert!(made.public_key().unwrap().verify(b"hellO", &signature).is_err());
        assert!(matches!(FileKeyStore::generate(&path), Err(KeyStoreError::Exists { .. })));
    }

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        FileKeyStore::generate(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(FileKeyStore::open(&path), Err(KeyStoreError::TooOpen { mode: 0o644, .. })));
    }

    #[test]
    fn garbage_in_a_key_file_is_a_typed_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.key");
        write_private_file(&path, b"not a key").unwrap();
        assert!(matches!(FileKeyStore::open(&path), Err(KeyStoreError::Malformed { .. })));
    }
}
