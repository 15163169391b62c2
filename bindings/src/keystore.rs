//! The device's signing key. The host implements [`KeyStore`] over Android
//! Keystore or the iOS Keychain (Ed25519, private bytes never leave it), or
//! uses the library's [`FileKeyStore`], a key file readable by its owner
//! only. Either goes wherever a `KeyStore` is expected: `FileKeyStore`
//! implements the exported trait, so Kotlin sees `class FileKeyStore :
//! KeyStore` and Swift `extension FileKeyStore: KeyStore`.

use std::path::Path;
use std::sync::Arc;

use egocap_core::provenance::keystore::{
    self as core, KeyStore as _, KeyStoreError, PublicKey, PUBLIC_KEY_LEN, SIGNATURE_LEN,
};

use crate::error::{guarded, EgocapError, KeyStoreFailure};

/// An Ed25519 signing key the host keeps. Called on the calling thread
/// (record signing) and on the library's worker thread (one signature per
/// segment); may block briefly, e.g. while the hardware signs.
///
/// Kotlin: an Android app also imports `java.security.KeyStore`; import
/// this one under another name (`import uniffi.egocap_ffi.KeyStore as
/// DeviceKeyStore`).
#[uniffi::export(with_foreign)]
pub trait KeyStore: Send + Sync {
    /// The raw Ed25519 public key, 32 bytes (JDK: the last 32 bytes of
    /// `publicKey.encoded`, its X.509 form; CryptoKit: `rawRepresentation`).
    fn public_key(&self) -> Result<Vec<u8>, KeyStoreFailure>;
    /// The raw Ed25519 signature over `message`, 64 bytes.
    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, KeyStoreFailure>;
}

/// The library's own key store: an Ed25519 key in a PKCS#8 file with mode
/// 0600 (never overwritten), or in memory only. For desktop tools and
/// tests; on a phone prefer the platform key store through [`KeyStore`].
#[derive(uniffi::Object)]
pub struct FileKeyStore(core::FileKeyStore);

#[uniffi::export]
impl FileKeyStore {
    /// Makes a new key and writes it to `path`; fails if the file exists.
    #[uniffi::constructor]
    pub fn generate(path: String) -> Result<Arc<Self>, EgocapError> {
        guarded(|| Ok(Arc::new(Self(core::FileKeyStore::generate(Path::new(&path))?))))
    }

    /// Reads a key written by `generate`; refuses a file others may read.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, EgocapError> {
        guarded(|| Ok(Arc::new(Self(core::FileKeyStore::open(Path::new(&path))?))))
    }

    /// A key that lives only in this object (tests, demos).
    #[uniffi::constructor]
    pub fn ephemeral() -> Result<Arc<Self>, EgocapError> {
        guarded(|| Ok(Arc::new(Self(core::FileKeyStore::ephemeral()?))))
    }

    /// The public key as 64 lowercase hex digits, as records and the
    /// dataset owner's pinned key (`ownerKeyHex`) write it.
    pub fn public_key_hex(&self) -> Result<String, EgocapError> {
        guarded(|| Ok(self.0.public_key()?.to_hex()))
    }
}

#[uniffi::export]
impl KeyStore for FileKeyStore {
    fn public_key(&self) -> Result<Vec<u8>, KeyStoreFailure> {
        guarded(|| Ok(self.0.public_key()?.0.to_vec()))
    }

    fn sign(&self, message: Vec<u8>) -> Result<Vec<u8>, KeyStoreFailure> {
        guarded(|| Ok(self.0.sign(&message)?))
    }
}

/// The host's key store seen through the core's trait. A key or signature
/// of the wrong length is a typed error here; a signature that does not
/// verify is caught by the core before any record carries it.
pub(crate) struct HostKeyStore(pub Arc<dyn KeyStore>);

impl core::KeyStore for HostKeyStore {
    fn public_key(&self) -> Result<PublicKey, KeyStoreError> {
        let bytes = self.0.public_key()?;
        let key: [u8; PUBLIC_KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
            KeyStoreError::Host(format!(
                "the host's public key is {} bytes; a raw Ed25519 public key is {PUBLIC_KEY_LEN}",
                bytes.len()
            ))
        })?;
        Ok(PublicKey(key))
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyStoreError> {
        let signature = self.0.sign(message.to_vec())?;
        if signature.len() != SIGNATURE_LEN {
            return Err(KeyStoreError::Host(format!(
                "the host's signature is {} bytes; a raw Ed25519 signature is {SIGNATURE_LEN}",
                signature.len()
            )));
        }
        Ok(signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed {
        key: Vec<u8>,
        signature: Vec<u8>,
    }

    impl KeyStore for Fixed {
        fn public_key(&self) -> Result<Vec<u8>, KeyStoreFailure> {
            Ok(self.key.clone())
        }
        fn sign(&self, _message: Vec<u8>) -> Result<Vec<u8>, KeyStoreFailure> {
            Ok(self.signature.clone())
        }
    }

    #[test]
    fn a_host_key_or_signature_of_the_wrong_length_is_a_typed_error() {
        let host = HostKeyStore(Arc::new(Fixed { key: vec![1; 31], signature: vec![2; 63] }));
        let key = host.public_key().unwrap_err();
        assert!(key.to_string().contains("31 bytes"), "{key}");
        let signature = host.sign(b"m").unwrap_err();
        assert!(signature.to_string().contains("63 bytes"), "{signature}");
        let error: EgocapError = key.into();
        assert!(matches!(error, EgocapError::KeyStore { .. }), "{error}");
    }

    #[test]
    fn a_file_key_store_signs_through_the_host_side_of_the_trait() {
        let file = FileKeyStore::ephemeral().unwrap();
        let host = HostKeyStore(file.clone());
        let key = host.public_key().unwrap();
        assert_eq!(key.to_hex(), file.public_key_hex().unwrap());
        key.verify(b"message", &host.sign(b"message").unwrap()).unwrap();
    }
}
