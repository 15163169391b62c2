//! X25519 recipients (`age1…`) and identities (`AGE-SECRET-KEY-1…`), encoded
//! as Bech32 — BIP 173 Bech32, not Bech32m (age v1 §the X25519 recipient
//! type, §conventions).

use std::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32, ByteIterExt, Fe32IterExt, Hrp};
use ring::rand::{SecureRandom, SystemRandom};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::AgeError;

const RECIPIENT_HRP: &str = "age";
const IDENTITY_HRP: &str = "AGE-SECRET-KEY-";
const KEY_LEN: usize = 32;

/// An X25519 recipient: the public key files are encrypted to.
#[derive(Clone, PartialEq, Eq)]
pub struct Recipient([u8; KEY_LEN]);

impl Recipient {
    /// Parses `age1…`: lowercase Bech32 with HRP `age` and 32 bytes of data.
    pub fn parse(text: &str) -> Result<Self, AgeError> {
        let invalid = |reason| AgeError::InvalidRecipient { reason };
        if text.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(invalid("must be lowercase"));
        }
        let bytes = decode_key(text, RECIPIENT_HRP).map_err(invalid)?;
        Ok(Self(*bytes))
    }

    pub(super) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode_key(RECIPIENT_HRP, &self.0))
    }
}

impl fmt::Debug for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recipient({self})")
    }
}

/// An X25519 identity: the secret key that decrypts. Zeroized on drop (by
/// `StaticSecret`); `Debug` shows only the public recipient.
pub struct Identity(StaticSecret);

impl Identity {
    /// A fresh identity from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, AgeError> {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        SystemRandom::new().fill(bytes.as_mut()).map_err(|_| AgeError::Randomness)?;
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// Parses `AGE-SECRET-KEY-1…`: uppercase Bech32 with 32 bytes of data.
    pub fn parse(text: &str) -> Result<Self, AgeError> {
        let invalid = |reason| AgeError::InvalidIdentity { reason };
        if text.bytes().any(|b| b.is_ascii_lowercase()) {
            return Err(invalid("must be uppercase"));
        }
        let bytes = decode_key(text, IDENTITY_HRP).map_err(invalid)?;
        Ok(Self(StaticSecret::from(*bytes)))
    }

    /// The public key that files for this identity are encrypted to.
    pub fn recipient(&self) -> Recipient {
        Recipient(PublicKey::from(&self.0).to_bytes())
    }

    /// The `AGE-SECRET-KEY-1…` text, as `age-keygen` writes it.
    pub fn to_secret_string(&self) -> Zeroizing<String> {
        let bytes = Zeroizing::new(self.0.to_bytes());
        let mut text = encode_key(IDENTITY_HRP, &bytes);
        text.make_ascii_uppercase();
        text
    }

    pub(super) fn secret(&self) -> &StaticSecret {
        &self.0
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("recipient", &self.recipient().to_string()).finish_non_exhaustive()
    }
}

/// Parses an age identity file: one `AGE-SECRET-KEY-1…` per line; blank
/// lines and lines starting with `#` (such as `age-keygen`'s comments) are
/// skipped. A file without any identity is an error, as in `age`.
pub fn parse_identity_file(text: &str) -> Result<Vec<Identity>, AgeError> {
    let mut identities = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match Identity::parse(line) {
            Ok(identity) => identities.push(identity),
            Err(AgeError::InvalidIdentity { reason }) => {
                return Err(AgeError::IdentityFile { line: index + 1, reason })
            }
            Err(other) => return Err(other),
        }
    }
    if identities.is_empty() {
        return Err(AgeError::NoIdentitiesInFile);
    }
    Ok(identities)
}

/// Decodes a 32-byte key from Bech32 text with the given HRP. Only the
/// canonical encoding is accepted (the re-encoding must give the same text),
/// which also rules out non-zero padding bits.
fn decode_key(text: &str, hrp: &str) -> Result<Zeroizing<[u8; KEY_LEN]>, &'static str> {
    let checked = CheckedHrpstring::new::<Bech32>(text).map_err(|_| "not valid Bech32 (characters or checksum)")?;
    if !checked.hrp().as_str().eq_ignore_ascii_case(hrp) {
        return Err("wrong type (Bech32 human-readable part)");
    }
    let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
    let mut len = 0;
    for byte in checked.byte_iter() {
        *bytes.get_mut(len).ok_or("key is longer than 32 bytes")? = byte;
        len += 1;
    }
    if len != KEY_LEN {
        return Err("key is shorter than 32 bytes");
    }
    let canonical = encode_key(hrp, &bytes);
    if !canonical.eq_ignore_ascii_case(text) {
        return Err("not the canonical encoding");
    }
    Ok(bytes)
}

/// Bech32 text of a key (lowercase data part; the caller picks the case).
/// Returned zeroizing because identities pass through here too.
fn encode_key(hrp: &str, bytes: &[u8; KEY_LEN]) -> Zeroizing<String> {
    let hrp = Hrp::parse_unchecked(hrp);
    let mut text = Zeroizing::new(String::with_capacity(hrp.len() + 60));
    text.extend(bytes.iter().copied().bytes_to_fes().with_checksum::<Bech32>(&hrp).chars());
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    // age v1 §the X25519 recipient type: example identity and recipient.
    const SPEC_IDENTITY: &str = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX";
    const SPEC_RECIPIENT: &str = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj";

    #[test]
    fn spec_identity_derives_spec_recipient() {
        let identity = Identity::parse(SPEC_IDENTITY).unwrap();
        assert_eq!(identity.recipient(), Recipient::parse(SPEC_RECIPIENT).unwrap());
        assert_eq!(identity.recipient().to_string(), SPEC_RECIPIENT);
        assert_eq!(identity.to_secret_string().as_str(), SPEC_IDENTITY);
    }

    #[test]
    fn generated_identity_round_trips_through_text() {
        let identity = Identity::generate().unwrap();
        let text = identity.to_secret_string();
        assert!(text.starts_with("AGE-SECRET-KEY-1"), "{}", text.len());
        let parsed = Identity::parse(&text).unwrap();
        assert_eq!(parsed.recipient(), identity.recipient());
        let recipient = identity.recipient().to_string();
        assert!(recipient.starts_with("age1"));
        assert_eq!(Recipient::parse(&recipient).unwrap(), identity.recipient());
    }

    #[test]
    fn debug_of_identity_shows_no_secret() {
        let identity = Identity::parse(SPEC_IDENTITY).unwrap();
        let debug = format!("{identity:?}");
        assert!(debug.contains(SPEC_RECIPIENT), "{debug}");
        assert!(!debug.to_uppercase().contains("GFPYYSJZ"), "{debug}");
    }

    #[test]
    fn recipient_in_uppercase_or_mixed_case_is_rejected() {
        assert!(matches!(Recipient::parse(&SPEC_RECIPIENT.to_uppercase()), Err(AgeError::InvalidRecipient { .. })));
        let mixed = SPEC_RECIPIENT.replacen('z', "Z", 1);
        assert!(Recipient::parse(&mixed).is_err());
    }

    #[test]
    fn identity_in_lowercase_is_rejected() {
        let lower = SPEC_IDENTITY.to_lowercase();
        assert!(matches!(Identity::parse(&lower), Err(AgeError::InvalidIdentity { .. })));
    }

    #[test]
    fn key_with_bad_checksum_is_rejected() {
        let mut text = SPEC_RECIPIENT.to_string();
        text.pop();
        text.push('q');
        assert!(matches!(Recipient::parse(&text), Err(AgeError::InvalidRecipient { .. })));
    }

    #[test]
    fn key_of_other_type_is_rejected() {
        // An identity where a recipient is expected (after lowercasing) and
        // vice versa: right checksum, wrong HRP.
        assert!(Recipient::parse(&SPEC_IDENTITY.to_lowercase()).is_err());
        assert!(Identity::parse(&SPEC_RECIPIENT.to_uppercase()).is_err());
    }

    #[test]
    fn bech32m_encoding_is_rejected() {
        let hrp = Hrp::parse_unchecked(RECIPIENT_HRP);
        let bech32m: String =
            [7u8; 32].iter().copied().bytes_to_fes().with_checksum::<bech32::Bech32m>(&hrp).chars().collect();
        assert!(Recipient::parse(&bech32m).is_err());
    }

    #[test]
    fn key_of_wrong_length_is_rejected() {
        let hrp = Hrp::parse_unchecked(RECIPIENT_HRP);
        for len in [31, 33] {
            let text: String =
                vec![7u8; len].into_iter().bytes_to_fes().with_checksum::<Bech32>(&hrp).chars().collect();
            assert!(matches!(Recipient::parse(&text), Err(AgeError::InvalidRecipient { .. })), "{len}");
        }
    }

    #[test]
    fn identity_file_skips_comments_and_blank_lines() {
        let other = Identity::generate().unwrap();
        let file = format!(
            "# created: 2024-01-01T00:00:00Z\n# public key: {SPEC_RECIPIENT}\n{SPEC_IDENTITY}\n\n  \n{}\r\n",
            other.to_secret_string().as_str()
        );
        let identities = parse_identity_file(&file).unwrap();
        assert_eq!(identities.len(), 2);
        assert_eq!(identities[0].recipient().to_string(), SPEC_RECIPIENT);
        assert_eq!(identities[1].recipient(), other.recipient());
    }

    #[test]
    fn identity_file_error_names_the_line_but_not_the_key() {
        let file = format!("# comment\n{SPEC_IDENTITY}\nAGE-SECRET-KEY-1NOTAKEY\n");
        let error = parse_identity_file(&file).unwrap_err();
        assert!(matches!(error, AgeError::IdentityFile { line: 3, .. }), "{error}");
        assert!(!error.to_string().contains("NOTAKEY"), "{error}");
    }

    #[test]
    fn identity_file_without_keys_is_an_error() {
        assert!(matches!(parse_identity_file("# nothing\n\n"), Err(AgeError::NoIdentitiesInFile)));
    }
}
