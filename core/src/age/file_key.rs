//! The 128-bit file key and the two keys derived from it: the header MAC key
//! (age v1 §header MAC) and the payload key (age v1 §payload).

use ring::rand::SecureRandom;
use ring::{aead, hkdf, hmac};
use zeroize::Zeroizing;

use super::AgeError;

pub(super) const FILE_KEY_LEN: usize = 16;
/// The random per-file nonce at the start of the payload (age v1 §payload).
pub(super) const PAYLOAD_NONCE_LEN: usize = 16;

const HEADER_MAC_INFO: &[u8] = b"header";
const PAYLOAD_INFO: &[u8] = b"payload";

/// A file key; zeroized on drop, no `Debug`.
pub(super) struct FileKey(Zeroizing<[u8; FILE_KEY_LEN]>);

impl FileKey {
    /// 16 bytes of CSPRNG output, fresh for every file (age v1 §file key).
    pub(super) fn generate(rng: &dyn SecureRandom) -> Result<Self, AgeError> {
        let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
        rng.fill(key.as_mut()).map_err(|_| AgeError::Randomness)?;
        Ok(Self(key))
    }

    /// Takes a file key unwrapped from a stanza; the caller's buffer is its
    /// own to zeroize.
    pub(super) fn from_unwrapped(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != FILE_KEY_LEN {
            return None;
        }
        let mut key = Zeroizing::new([0u8; FILE_KEY_LEN]);
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    pub(super) fn as_bytes(&self) -> &[u8; FILE_KEY_LEN] {
        &self.0
    }

    /// HMAC key = HKDF-SHA-256(ikm = file key, salt = empty, info = "header").
    pub(super) fn header_mac_key(&self) -> Result<hmac::Key, AgeError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &[]).extract(self.0.as_ref());
        let okm = prk
            .expand(&[HEADER_MAC_INFO], hmac::HMAC_SHA256)
            .map_err(|_| AgeError::Internal { what: "HKDF of the header MAC key" })?;
        Ok(hmac::Key::from(okm))
    }

    /// payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload").
    pub(super) fn payload_key(&self, nonce: &[u8; PAYLOAD_NONCE_LEN]) -> Result<aead::LessSafeKey, AgeError> {
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, nonce).extract(self.0.as_ref());
        let okm = prk
            .expand(&[PAYLOAD_INFO], &aead::CHACHA20_POLY1305)
            .map_err(|_| AgeError::Internal { what: "HKDF of the payload key" })?;
        Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrapped_key_must_be_exactly_sixteen_bytes() {
        assert!(FileKey::from_unwrapped(&[1; 16]).is_some());
        assert!(FileKey::from_unwrapped(&[1; 15]).is_none());
        assert!(FileKey::from_unwrapped(&[1; 17]).is_none());
    }

    #[test]
    fn payload_key_depends_on_the_nonce() {
        let file_key = FileKey::from_unwrapped(&[9; 16]).unwrap();
        let seal = |nonce: &[u8; 16]| {
            let key = file_key.payload_key(nonce).unwrap();
            let mut data = [0u8; 8];
            let tag = key.seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key([0; 12]),
                aead::Aad::empty(),
                &mut data,
            );
            tag.unwrap().as_ref().to_vec()
        };
        assert_eq!(seal(&[1; 16]), seal(&[1; 16]));
        assert_ne!(seal(&[1; 16]), seal(&[2; 16]));
    }
}
