//! The X25519 recipient stanza (age v1 §X25519 recipient stanza):
//!
//! ```text
//! -> X25519 <base64 ephemeral share>
//! <base64 ChaCha20-Poly1305(wrap key, zero nonce, file key)>
//! ```
//!
//! with wrap key = HKDF-SHA-256(ikm = shared secret, salt = ephemeral share
//! || recipient, info = "age-encryption.org/v1/X25519"). Wrapping uses
//! `ring`'s ephemeral agreement; unwrapping uses the identity's
//! `x25519-dalek` static secret.

use ring::rand::SecureRandom;
use ring::{aead, agreement, hkdf};
use x25519_dalek::PublicKey;
use zeroize::Zeroizing;

use super::file_key::{FileKey, FILE_KEY_LEN};
use super::header::{decode_base64, encode_base64, Stanza};
use super::keys::{Identity, Recipient};
use super::AgeError;

const STANZA_TYPE: &str = "X25519";
const WRAP_KEY_INFO: &[u8] = b"age-encryption.org/v1/X25519";
const SHARE_LEN: usize = 32;
/// The wrapped file key: 16 bytes of ciphertext and a 16-byte tag.
const BODY_LEN: usize = FILE_KEY_LEN + aead::MAX_TAG_LEN;

/// Wraps the file key for one recipient, with a fresh ephemeral key.
pub(super) fn wrap(file_key: &FileKey, recipient: &Recipient, rng: &dyn SecureRandom) -> Result<Stanza, AgeError> {
    let ephemeral = agreement::EphemeralPrivateKey::generate(&agreement::X25519, rng)
        .map_err(|_| AgeError::Internal { what: "X25519 ephemeral key generation" })?;
    let share =
        ephemeral.compute_public_key().map_err(|_| AgeError::Internal { what: "X25519 ephemeral public key" })?;
    let share: [u8; SHARE_LEN] =
        share.as_ref().try_into().map_err(|_| AgeError::Internal { what: "X25519 ephemeral public key" })?;
    let peer = agreement::UnparsedPublicKey::new(&agreement::X25519, recipient.as_bytes());
    // ring refuses an all-zero shared secret itself (RFC 7748 §6.1); the
    // explicit check states the age requirement where it applies.
    let wrap_key = agreement::agree_ephemeral(ephemeral, &peer, |shared| {
        if shared.iter().all(|&b| b == 0) {
            return Err(AgeError::ZeroSharedSecret);
        }
        wrap_key(shared, &share, recipient.as_bytes())
    })
    .map_err(|_| AgeError::ZeroSharedSecret)??;

    let mut body = Zeroizing::new([0u8; BODY_LEN]);
    let (key_part, tag_part) = body.split_at_mut(FILE_KEY_LEN);
    key_part.copy_from_slice(file_key.as_bytes());
    let tag = wrap_key
        .seal_in_place_separate_tag(zero_nonce(), aead::Aad::empty(), key_part)
        .map_err(|_| AgeError::Internal { what: "ChaCha20-Poly1305 seal of the file key" })?;
    tag_part.copy_from_slice(tag.as_ref());
    Ok(Stanza { args: vec![STANZA_TYPE.to_string(), encode_base64(&share)], body: body.to_vec() })
}

/// An X25519 stanza, validated: a 32-byte share and a 32-byte body.
pub(super) struct X25519Stanza {
    share: [u8; SHARE_LEN],
    body: [u8; BODY_LEN],
}

impl X25519Stanza {
    /// `Ok(None)` for stanzas of other types, which decryption ignores
    /// (other recipient types, plugins, random "grease" stanzas that
    /// implementations add to keep parsers honest); an error for an X25519
    /// stanza that breaks the rules of age v1 §X25519 recipient stanza.
    /// `position` is the stanza's 1-based place in the header, for errors.
    pub(super) fn from_stanza(stanza: &Stanza, position: usize) -> Result<Option<Self>, AgeError> {
        let malformed = |reason| AgeError::MalformedStanza { stanza: position, reason };
        let [kind, rest @ ..] = stanza.args.as_slice() else {
            return Err(malformed("a stanza has no arguments"));
        };
        if kind != STANZA_TYPE {
            return Ok(None);
        }
        let [share] = rest else {
            return Err(malformed("an X25519 stanza must have exactly one argument after its type"));
        };
        let share = decode_base64(share.as_bytes())
            .and_then(|share| <[u8; SHARE_LEN]>::try_from(share).ok())
            .ok_or(malformed("an X25519 ephemeral share is not 32 bytes of canonical base64"))?;
        // Checked before any decryption, against partitioning oracles.
        let body = <[u8; BODY_LEN]>::try_from(stanza.body.as_slice())
            .map_err(|_| malformed("an X25519 stanza body is not 32 bytes"))?;
        Ok(Some(Self { share, body }))
    }

    /// The file key if this stanza was made for `identity`, `None` if not.
    pub(super) fn unwrap(&self, identity: &Identity) -> Result<Option<FileKey>, AgeError> {
        let shared = identity.secret().diffie_hellman(&PublicKey::from(self.share));
        // All zero iff the share is a low-order point: abort (age v1).
        if !shared.was_contributory() {
            return Err(AgeError::ZeroSharedSecret);
        }
        let recipient = identity.recipient();
        let key = wrap_key(shared.as_bytes(), &self.share, recipient.as_bytes())?;
        let mut body = Zeroizing::new(self.body);
        match key.open_in_place(zero_nonce(), aead::Aad::empty(), body.as_mut()) {
            Ok(file_key) => Ok(FileKey::from_unwrapped(file_key)),
            Err(_) => Ok(None),
        }
    }
}

/// wrap key = HKDF-SHA-256(ikm = shared secret, salt = share || recipient,
/// info = "age-encryption.org/v1/X25519").
fn wrap_key(shared: &[u8], share: &[u8; SHARE_LEN], recipient: &[u8; 32]) -> Result<aead::LessSafeKey, AgeError> {
    let mut salt = [0u8; 2 * SHARE_LEN];
    salt[..SHARE_LEN].copy_from_slice(share);
    salt[SHARE_LEN..].copy_from_slice(recipient);
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, &salt).extract(shared);
    let okm = prk
        .expand(&[WRAP_KEY_INFO], &aead::CHACHA20_POLY1305)
        .map_err(|_| AgeError::Internal { what: "HKDF of the X25519 wrap key" })?;
    Ok(aead::LessSafeKey::new(aead::UnboundKey::from(okm)))
}

/// Each wrap key encrypts exactly one file key, so a fixed nonce is safe.
fn zero_nonce() -> aead::Nonce {
    aead::Nonce::assume_unique_for_key([0; aead::NONCE_LEN])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::age::header::set_spare_bits;
    use ring::rand::SystemRandom;

    fn file_key() -> FileKey {
        FileKey::from_unwrapped(&[42; 16]).unwrap()
    }

    fn stanza_for(identity: &Identity) -> Stanza {
        wrap(&file_key(), &identity.recipient(), &SystemRandom::new()).unwrap()
    }

    #[test]
    fn wrapped_file_key_unwraps_with_the_recipients_identity_only() {
        let identity = Identity::generate().unwrap();
        let stanza = stanza_for(&identity);
        assert_eq!(stanza.args[0], "X25519");
        assert_eq!(stanza.body.len(), 32);
        let parsed = X25519Stanza::from_stanza(&stanza, 2).unwrap().unwrap();
        let unwrapped = parsed.unwrap(&identity).unwrap().unwrap();
        assert_eq!(unwrapped.as_bytes(), file_key().as_bytes());
        let stranger = Identity::generate().unwrap();
        assert!(parsed.unwrap(&stranger).unwrap().is_none());
    }

    #[test]
    fn each_wrap_uses_a_fresh_ephemeral_share() {
        let identity = Identity::generate().unwrap();
        assert_ne!(stanza_for(&identity).args[1], stanza_for(&identity).args[1]);
    }

    #[test]
    fn stanzas_of_other_types_are_ignored() {
        for kind in ["x25519", "scrypt", "foo-grease"] {
            let stanza = Stanza { args: vec![kind.to_string(), "abc".to_string()], body: vec![1; 32] };
            assert!(X25519Stanza::from_stanza(&stanza, 2).unwrap().is_none(), "{kind}");
        }
    }

    #[test]
    fn malformed_x25519_stanzas_are_rejected() {
        let identity = Identity::generate().unwrap();
        let good = stanza_for(&identity);
        let share = good.args[1].clone();
        let cases = vec![
            Stanza { args: vec!["X25519".into()], ..good.clone() },
            Stanza { args: vec!["X25519".into(), share.clone(), "extra".into()], ..good.clone() },
            Stanza { body: vec![0; 33], ..good.clone() },
            Stanza { body: vec![0; 31], ..good.clone() },
            Stanza { args: vec!["X25519".into(), share[..42].to_string()], ..good.clone() },
            Stanza { args: vec!["X25519".into(), format!("{share}AA")], ..good.clone() },
            Stanza { args: vec!["X25519".into(), set_spare_bits(&share)], ..good.clone() },
        ];
        for case in cases {
            assert!(
                matches!(X25519Stanza::from_stanza(&case, 2), Err(AgeError::MalformedStanza { stanza: 2, .. })),
                "{case:?}"
            );
        }
    }

    #[test]
    fn low_order_share_aborts_with_zero_shared_secret() {
        let identity = Identity::generate().unwrap();
        // The identity point and the point of order 2 give all-zero X25519.
        let mut order_two = [0u8; 32];
        order_two[0] = 1;
        for share in [[0u8; 32], order_two] {
            let stanza = X25519Stanza { share, body: [0; BODY_LEN] };
            assert!(matches!(stanza.unwrap(&identity), Err(AgeError::ZeroSharedSecret)));
        }
    }

    #[test]
    fn wrapping_to_a_low_order_recipient_fails() {
        use bech32::{Bech32, ByteIterExt, Fe32IterExt, Hrp};
        let hrp = Hrp::parse_unchecked("age");
        let zero_point: String =
            [0u8; 32].iter().copied().bytes_to_fes().with_checksum::<Bech32>(&hrp).chars().collect();
        let recipient = Recipient::parse(&zero_point).unwrap();
        let result = wrap(&file_key(), &recipient, &SystemRandom::new());
        assert!(matches!(result, Err(AgeError::ZeroSharedSecret)), "{:?}", result.err());
    }
}
