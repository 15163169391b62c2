//! Decryption of valid and invalid files, most of them built by hand to
//! break the rules the encryptor never breaks.

use ring::aead;
use ring::rand::SystemRandom;

use super::*;
use crate::age::header::{encode_base64, encode_header, Stanza};
use crate::age::stream::{CHUNK_LEN, TAG_LEN};
use crate::age::{x25519, Recipient, StreamEncryptor};

/// One identity, one file key, one payload nonce; files made of any
/// stanzas and any sequence of chunks with any final flags.
struct FileBuilder {
    identity: Identity,
    file_key: FileKey,
    nonce: [u8; PAYLOAD_NONCE_LEN],
}

impl FileBuilder {
    fn new() -> Self {
        Self {
            identity: Identity::generate().unwrap(),
            file_key: FileKey::from_unwrapped(&[3; 16]).unwrap(),
            nonce: [4; PAYLOAD_NONCE_LEN],
        }
    }

    fn x25519_stanza(&self) -> Stanza {
        x25519::wrap(&self.file_key, &self.identity.recipient(), &SystemRandom::new()).unwrap()
    }

    fn header(&self, stanzas: &[Stanza]) -> Vec<u8> {
        encode_header(stanzas, &self.file_key).unwrap()
    }

    /// A header with our X25519 stanza, then [`Self::payload`].
    fn file(&self, chunks: &[(&[u8], bool)]) -> Vec<u8> {
        let mut file = self.header(&[self.x25519_stanza()]);
        file.extend_from_slice(&self.payload(chunks));
        file
    }

    /// The nonce and `chunks` sealed with the given final flags. The nonce
    /// layout is written out again here (11-byte big-endian counter, final
    /// flag) as an independent check of the STREAM module.
    fn payload(&self, chunks: &[(&[u8], bool)]) -> Vec<u8> {
        let mut payload = self.nonce.to_vec();
        let key = self.file_key.payload_key(&self.nonce).unwrap();
        for (counter, (plaintext, last)) in chunks.iter().enumerate() {
            let mut nonce = [0u8; 12];
            nonce[3..11].copy_from_slice(&(counter as u64).to_be_bytes());
            nonce[11] = u8::from(*last);
            let mut sealed = plaintext.to_vec();
            let nonce = aead::Nonce::assume_unique_for_key(nonce);
            let tag = key.seal_in_place_separate_tag(nonce, aead::Aad::empty(), &mut sealed).unwrap();
            payload.extend_from_slice(&sealed);
            payload.extend_from_slice(tag.as_ref());
        }
        payload
    }

    fn decrypt(&self, file: &[u8]) -> Result<Vec<u8>, AgeError> {
        let mut plaintext = Vec::new();
        decrypt(file, std::slice::from_ref(&self.identity), &mut plaintext)?;
        Ok(plaintext)
    }
}

fn grease(args: &[&str], body: &[u8]) -> Stanza {
    Stanza { args: args.iter().map(|a| a.to_string()).collect(), body: body.to_vec() }
}

fn seal(recipients: &[Recipient], plaintext: &[u8]) -> Vec<u8> {
    let mut encryptor = StreamEncryptor::new(Vec::new(), recipients).unwrap();
    encryptor.write_all(plaintext).unwrap();
    encryptor.finish().unwrap()
}

const FULL: &[u8] = &[0x5a; CHUNK_LEN];

#[test]
fn hand_built_file_decrypts() {
    let builder = FileBuilder::new();
    let plaintext = builder.decrypt(&builder.file(&[(FULL, false), (&b"end"[..], true)])).unwrap();
    assert_eq!(plaintext.len(), CHUNK_LEN + 3);
    assert!(plaintext.ends_with(b"end"));
}

#[test]
fn full_final_chunk_is_valid() {
    let builder = FileBuilder::new();
    assert_eq!(builder.decrypt(&builder.file(&[(FULL, true)])).unwrap().len(), CHUNK_LEN);
    assert_eq!(builder.decrypt(&builder.file(&[(FULL, false), (FULL, true)])).unwrap().len(), 2 * CHUNK_LEN);
}

#[test]
fn empty_payload_is_one_empty_final_chunk() {
    let builder = FileBuilder::new();
    assert!(builder.decrypt(&builder.file(&[(&b""[..], true)])).unwrap().is_empty());
}

#[test]
fn empty_final_chunk_after_a_full_one_is_rejected() {
    let builder = FileBuilder::new();
    let result = builder.decrypt(&builder.file(&[(FULL, false), (&b""[..], true)]));
    assert!(matches!(result, Err(AgeError::EmptyFinalChunk { chunk: 1 })), "{:?}", result.err());
}

#[test]
fn missing_final_chunk_is_rejected() {
    let builder = FileBuilder::new();
    let result = builder.decrypt(&builder.file(&[(FULL, false)]));
    assert!(matches!(result, Err(AgeError::PayloadAuthentication { chunk: 0 })), "{:?}", result.err());
    let result = builder.decrypt(&builder.file(&[(FULL, false), (FULL, false)]));
    assert!(matches!(result, Err(AgeError::PayloadAuthentication { chunk: 1 })), "{:?}", result.err());
}

#[test]
fn data_after_the_final_chunk_is_rejected() {
    let builder = FileBuilder::new();
    let mut short_then_garbage = builder.file(&[(&b"short"[..], true)]);
    short_then_garbage.push(b'x');
    let mut full_then_garbage = builder.file(&[(FULL, true)]);
    full_then_garbage.push(b'x');
    let two_final_chunks = builder.file(&[(FULL, true), (&b"more"[..], true)]);
    for file in [short_then_garbage, full_then_garbage, two_final_chunks] {
        let result = builder.decrypt(&file);
        assert!(matches!(result, Err(AgeError::PayloadAuthentication { chunk: 0 })), "{:?}", result.err());
    }
}

#[test]
fn payload_without_chunks_or_nonce_is_truncated() {
    let builder = FileBuilder::new();
    let no_chunks = builder.file(&[]);
    let header_len = no_chunks.len() - PAYLOAD_NONCE_LEN;
    for file in [&no_chunks[..], &no_chunks[..header_len], &no_chunks[..header_len + 10]] {
        let result = builder.decrypt(file);
        assert!(matches!(result, Err(AgeError::PayloadTruncated { .. })), "{:?}", result.err());
    }
}

#[test]
fn final_chunk_shorter_than_a_tag_is_truncated() {
    let builder = FileBuilder::new();
    let mut file = builder.file(&[(FULL, false)]);
    file.extend_from_slice(&[0; TAG_LEN - 1]);
    let result = builder.decrypt(&file);
    assert!(matches!(result, Err(AgeError::PayloadTruncated { .. })), "{:?}", result.err());
}

#[test]
fn flipped_payload_bit_fails_that_chunk() {
    let builder = FileBuilder::new();
    let file = builder.file(&[(FULL, false), (FULL, false), (&b"tail"[..], true)]);
    let payload_start = file.len() - 2 * (CHUNK_LEN + TAG_LEN) - (4 + TAG_LEN);
    for (offset, chunk) in [(0, 0), (CHUNK_LEN + TAG_LEN + 7, 1), (2 * (CHUNK_LEN + TAG_LEN) + 2, 2)] {
        let mut tampered = file.clone();
        tampered[payload_start + offset] ^= 0x01;
        let result = builder.decrypt(&tampered);
        assert!(
            matches!(result, Err(AgeError::PayloadAuthentication { chunk: c }) if c == chunk),
            "offset {offset}: {:?}",
            result.err()
        );
    }
}

#[test]
fn unknown_stanzas_are_ignored() {
    let builder = FileBuilder::new();
    let stanzas = [
        grease(&["a-grease", "x", "$%^"], &[9; 70]),
        builder.x25519_stanza(),
        grease(&["scrypt", "c2FsdA", "18"], &[1; 32]),
        grease(&["empty"], &[]),
    ];
    let mut file = builder.header(&stanzas);
    file.extend_from_slice(&builder.payload(&[(&b"hi"[..], true)]));
    assert_eq!(builder.decrypt(&file).unwrap(), b"hi");
}

#[test]
fn changed_header_fails_the_mac() {
    let builder = FileBuilder::new();
    let mut file = builder.header(&[grease(&["a-grease", "abc"], &[]), builder.x25519_stanza()]);
    let position = file.windows(3).position(|w| w == b"abc").unwrap();
    file[position + 2] = b'd';
    file.extend_from_slice(&builder.nonce);
    let result = builder.decrypt(&file);
    assert!(matches!(result, Err(AgeError::HeaderMac)), "{:?}", result.err());
}

#[test]
fn malformed_x25519_stanza_fails_the_file_even_when_another_matches() {
    let builder = FileBuilder::new();
    let mut short_body = builder.x25519_stanza();
    short_body.body.pop();
    let file = builder.header(&[builder.x25519_stanza(), short_body]);
    let result = builder.decrypt(&file);
    assert!(matches!(result, Err(AgeError::MalformedStanza { stanza: 2, .. })), "{:?}", result.err());
}

#[test]
fn low_order_ephemeral_share_aborts() {
    let builder = FileBuilder::new();
    let low_order = grease(&["X25519", &encode_base64(&[0; 32])], &[0; 32]);
    let file = builder.header(&[low_order, builder.x25519_stanza()]);
    let result = builder.decrypt(&file);
    assert!(matches!(result, Err(AgeError::ZeroSharedSecret)), "{:?}", result.err());
}

#[test]
fn wrong_identity_is_reported_as_no_matching_identity() {
    let recipient = Identity::generate().unwrap().recipient();
    let file = seal(&[recipient], b"secret");
    let stranger = Identity::generate().unwrap();
    let result = decrypt(&file[..], &[stranger], Vec::new());
    assert!(matches!(result, Err(AgeError::NoMatchingIdentity)), "{:?}", result.err());
    assert!(matches!(decrypt(&file[..], &[], Vec::new()), Err(AgeError::NoIdentities)));
}

#[test]
fn any_of_several_identities_may_match() {
    let identity = Identity::generate().unwrap();
    let file = seal(&[identity.recipient()], b"for one of us");
    let identities = [Identity::generate().unwrap(), identity, Identity::generate().unwrap()];
    let mut plaintext = Vec::new();
    decrypt(&file[..], &identities, &mut plaintext).unwrap();
    assert_eq!(plaintext, b"for one of us");
}

#[test]
fn each_of_several_recipients_decrypts_alone() {
    let identities: Vec<Identity> = (0..3).map(|_| Identity::generate().unwrap()).collect();
    let recipients: Vec<Recipient> = identities.iter().map(Identity::recipient).collect();
    let file = seal(&recipients, b"shared");
    for identity in identities {
        let mut plaintext = Vec::new();
        decrypt(&file[..], &[identity], &mut plaintext).unwrap();
        assert_eq!(plaintext, b"shared");
    }
}

#[test]
fn read_impl_gives_the_plaintext_and_typed_errors() {
    let identity = Identity::generate().unwrap();
    let plaintext: Vec<u8> = (0..3 * CHUNK_LEN + 5).map(|i| (i % 251) as u8).collect();
    let file = seal(&[identity.recipient()], &plaintext);

    let mut decryptor = StreamDecryptor::new(&file[..], std::slice::from_ref(&identity)).unwrap();
    let mut read_back = Vec::new();
    let mut small = [0u8; 1000];
    loop {
        let n = decryptor.read(&mut small).unwrap();
        if n == 0 {
            break;
        }
        read_back.extend_from_slice(&small[..n]);
    }
    assert_eq!(read_back, plaintext);

    let truncated = &file[..file.len() - 1];
    let mut decryptor = StreamDecryptor::new(truncated, std::slice::from_ref(&identity)).unwrap();
    let error = io::copy(&mut decryptor, &mut io::sink()).unwrap_err();
    let inner = error.get_ref().and_then(|e| e.downcast_ref::<AgeError>());
    assert!(matches!(inner, Some(AgeError::PayloadAuthentication { chunk: 3 })), "{error:?}");
}

#[test]
fn decryptor_refuses_to_go_on_after_an_error() {
    let builder = FileBuilder::new();
    let mut file = builder.file(&[(FULL, false), (&b"x"[..], true)]);
    let last = file.len() - 1;
    file[last] ^= 1;
    let mut decryptor = StreamDecryptor::new(&file[..], std::slice::from_ref(&builder.identity)).unwrap();
    assert_eq!(decryptor.next_chunk().unwrap().unwrap().len(), CHUNK_LEN);
    assert!(matches!(decryptor.next_chunk(), Err(AgeError::PayloadAuthentication { chunk: 1 })));
    assert!(matches!(decryptor.next_chunk(), Err(AgeError::StreamBroken)));
}

#[test]
fn memory_stays_one_chunk_whatever_the_file_size() {
    let identity = Identity::generate().unwrap();
    let file = seal(&[identity.recipient()], &vec![1; 40 * CHUNK_LEN]);
    let mut decryptor = StreamDecryptor::new(&file[..], std::slice::from_ref(&identity)).unwrap();
    while decryptor.next_chunk().unwrap().is_some() {}
    assert_eq!(decryptor.buffer.capacity(), ENCRYPTED_CHUNK_LEN + 1);
}
