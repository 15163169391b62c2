//! Our age v1 implementation against the reference `age` CLI (1.1.1, from
//! Debian), both directions, through the public API.
//!
//! Needs `age` and `age-keygen` on PATH (`scripts/install-test-deps.sh`);
//! without them these tests fail, they are never skipped. Plaintext is only
//! ever on disk as the generated input of `age -e`; what `age -d` decrypts
//! is read from its stdout.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use egocap_core::age::{decrypt, parse_identity_file, AgeError, Identity, Recipient, StreamEncryptor};
use tempfile::TempDir;

const CHUNK: usize = 64 * 1024;
/// Around the 64 KiB STREAM chunk boundary, and a few chunks.
const SIZES: [usize; 6] = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK];

// ---- age CLI → us, us → age CLI ------------------------------------------

#[test]
fn age_cli_decrypts_our_files_byte_identically() {
    let dir = tempdir();
    let (identity_file, recipient) = age_keygen(&dir, "me");
    for size in SIZES {
        let plaintext = plaintext(size, 1);
        let sealed = write(&dir, "ours.age", &seal(&[Recipient::parse(&recipient).unwrap()], &plaintext));
        let decrypted = age_decrypt(&identity_file, &sealed);
        assert!(decrypted == plaintext, "size {size}: age -d gave {} bytes", decrypted.len());
    }
}

#[test]
fn we_decrypt_age_cli_files_byte_identically() {
    let dir = tempdir();
    let (identity_file, recipient) = age_keygen(&dir, "me");
    let identities = read_identities(&identity_file);
    for size in SIZES {
        let plaintext = plaintext(size, 2);
        let sealed = age_encrypt(&dir, &["-r", &recipient], &plaintext);
        let decrypted = open(&sealed, &identities).unwrap();
        assert!(decrypted == plaintext, "size {size}: we gave {} bytes", decrypted.len());
    }
}

#[test]
fn each_identity_alone_decrypts_an_age_cli_file_for_several_recipients() {
    let dir = tempdir();
    let keys: Vec<(PathBuf, String)> = (0..3).map(|i| age_keygen(&dir, &format!("key{i}"))).collect();
    let recipients_file = dir.path().join("recipients.txt");
    let listing: String = keys.iter().map(|(_, r)| format!("# a recipient\n{r}\n")).collect();
    fs::write(&recipients_file, listing).unwrap();
    for size in [0, CHUNK + 1] {
        let plaintext = plaintext(size, 3);
        let sealed = age_encrypt(&dir, &["-R", recipients_file.to_str().unwrap()], &plaintext);
        for (identity_file, _) in &keys {
            let decrypted = open(&sealed, &read_identities(identity_file)).unwrap();
            assert!(decrypted == plaintext, "size {size}, {}", identity_file.display());
        }
    }
}

#[test]
fn age_cli_decrypts_our_file_for_several_recipients_with_each_identity_alone() {
    let dir = tempdir();
    let keys: Vec<(PathBuf, String)> = (0..3).map(|i| age_keygen(&dir, &format!("key{i}"))).collect();
    let recipients: Vec<Recipient> = keys.iter().map(|(_, r)| Recipient::parse(r).unwrap()).collect();
    for size in [0, CHUNK + 1] {
        let plaintext = plaintext(size, 4);
        let sealed = write(&dir, "ours.age", &seal(&recipients, &plaintext));
        for (identity_file, _) in &keys {
            assert!(age_decrypt(identity_file, &sealed) == plaintext, "size {size}, {}", identity_file.display());
        }
    }
}

// ---- keys ----------------------------------------------------------------

#[test]
fn age_keygen_identities_parse_and_give_the_same_recipient() {
    let dir = tempdir();
    for i in 0..5 {
        let (identity_file, recipient) = age_keygen(&dir, &format!("key{i}"));
        let text = fs::read_to_string(&identity_file).unwrap();
        assert!(text.contains(&format!("# public key: {recipient}")), "age-keygen's comment lines are skipped");
        let identities = parse_identity_file(&text).unwrap();
        assert_eq!(identities.len(), 1);
        assert_eq!(identities[0].recipient().to_string(), recipient);
        assert_eq!(Recipient::parse(&recipient).unwrap(), identities[0].recipient());
        let secret_line = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-1")).unwrap();
        assert_eq!(identities[0].to_secret_string().as_str(), secret_line);
    }
}

#[test]
fn keys_we_generate_work_with_age_cli() {
    let dir = tempdir();
    let identity = Identity::generate().unwrap();
    let identity_file =
        write(&dir, "ours.key", format!("# ours\n{}\n", identity.to_secret_string().as_str()).as_bytes());
    let derived = run(Command::new("age-keygen").arg("-y").arg(&identity_file));
    assert_eq!(String::from_utf8(derived).unwrap().trim(), identity.recipient().to_string());

    let plaintext = plaintext(CHUNK + 1, 5);
    let by_age = age_encrypt(&dir, &["-r", &identity.recipient().to_string()], &plaintext);
    assert!(open(&by_age, std::slice::from_ref(&identity)).unwrap() == plaintext);
    let ours = write(&dir, "ours.age", &seal(&[identity.recipient()], &plaintext));
    assert!(age_decrypt(&identity_file, &ours) == plaintext);
}

// ---- wrong keys and damaged files ----------------------------------------

#[test]
fn wrong_identity_gives_the_typed_no_matching_identity_error() {
    let dir = tempdir();
    let (_, recipient) = age_keygen(&dir, "right");
    let stranger = Identity::generate().unwrap();
    let by_age = age_encrypt(&dir, &["-r", &recipient], b"not for you");
    let ours = seal(&[Recipient::parse(&recipient).unwrap()], b"not for you");
    for sealed in [by_age, ours] {
        let result = open(&sealed, std::slice::from_ref(&stranger));
        assert!(matches!(result, Err(AgeError::NoMatchingIdentity)), "{:?}", result.err());
    }
}

#[test]
fn age_cli_refuses_our_file_with_a_wrong_identity() {
    let dir = tempdir();
    let (_, recipient) = age_keygen(&dir, "right");
    let (wrong_identity_file, _) = age_keygen(&dir, "wrong");
    let sealed = write(&dir, "ours.age", &seal(&[Recipient::parse(&recipient).unwrap()], b"not for you"));
    let output = age_decrypt_output(&wrong_identity_file, &sealed);
    assert!(!output.status.success(), "age -d with the wrong identity succeeded");
    assert!(output.stdout.is_empty());
}

#[test]
fn flipped_header_byte_is_a_typed_header_error() {
    let dir = tempdir();
    let (identity_file, recipient) = age_keygen(&dir, "me");
    let identities = read_identities(&identity_file);
    let plaintext = plaintext(100, 6);
    let by_age = age_encrypt(&dir, &["-r", &recipient], &plaintext);
    let ours = seal(&[Recipient::parse(&recipient).unwrap()], &plaintext);
    for sealed in [by_age, ours] {
        let header_len = header_len(&sealed);
        for position in 0..header_len {
            let mut damaged = sealed.clone();
            damaged[position] ^= 0x01;
            match open(&damaged, &identities) {
                Err(
                    AgeError::NotAgeFile { .. }
                    | AgeError::UnsupportedVersion { .. }
                    | AgeError::MalformedHeader { .. }
                    | AgeError::MalformedStanza { .. }
                    | AgeError::HeaderMac
                    | AgeError::NoMatchingIdentity,
                ) => {}
                other => panic!("flipped header byte {position}: {:?}", other.map(|p| p.len())),
            }
        }
        // A different but well-formed MAC is a MAC failure as such.
        let mac_start = header_len - 1 - 43;
        let mut damaged = sealed.clone();
        damaged[mac_start] = if damaged[mac_start] == b'A' { b'B' } else { b'A' };
        assert!(matches!(open(&damaged, &identities), Err(AgeError::HeaderMac)));
    }
}

#[test]
fn flipped_payload_byte_is_a_payload_authentication_error_in_that_chunk() {
    let dir = tempdir();
    let (identity_file, recipient) = age_keygen(&dir, "me");
    let identities = read_identities(&identity_file);
    let plaintext = plaintext(3 * CHUNK, 7);
    let by_age = age_encrypt(&dir, &["-r", &recipient], &plaintext);
    let ours = seal(&[Recipient::parse(&recipient).unwrap()], &plaintext);
    for sealed in [by_age, ours] {
        let payload = header_len(&sealed);
        let chunk_start = |chunk: usize| payload + 16 + chunk * (CHUNK + 16);
        // The payload nonce changes the key, so chunk 0 is the first to fail.
        for (position, chunk) in
            [(payload + 3, 0), (chunk_start(0) + 5, 0), (chunk_start(1) + CHUNK + 15, 1), (chunk_start(2), 2)]
        {
            let mut damaged = sealed.clone();
            damaged[position] ^= 0x80;
            let result = open(&damaged, &identities);
            assert!(
                matches!(result, Err(AgeError::PayloadAuthentication { chunk: c }) if c == chunk),
                "byte {position}: {:?}",
                result.err()
            );
        }
    }
    let mut damaged = seal(&[Recipient::parse(&recipient).unwrap()], &plaintext);
    let middle = damaged.len() / 2;
    damaged[middle] ^= 0x80;
    assert!(!age_decrypt_output(&identity_file, &write(&dir, "damaged.age", &damaged)).status.success());
}

/// Whether an error is the one a case expects.
type ExpectedError = fn(&AgeError) -> bool;

#[test]
fn truncated_file_is_a_typed_error() {
    let dir = tempdir();
    let (identity_file, recipient) = age_keygen(&dir, "me");
    let identities = read_identities(&identity_file);
    let plaintext = plaintext(2 * CHUNK + 10, 8);
    let by_age = age_encrypt(&dir, &["-r", &recipient], &plaintext);
    let ours = seal(&[Recipient::parse(&recipient).unwrap()], &plaintext);
    for sealed in [by_age, ours] {
        let payload = header_len(&sealed);
        let after_chunk = |chunk: usize| payload + 16 + (chunk + 1) * (CHUNK + 16);
        let cases: [(usize, ExpectedError); 6] = [
            (payload - 10, |e| matches!(e, AgeError::MalformedHeader { .. })),
            (payload, |e| matches!(e, AgeError::PayloadTruncated { .. })),
            (payload + 16, |e| matches!(e, AgeError::PayloadTruncated { .. })),
            (after_chunk(0), |e| matches!(e, AgeError::PayloadAuthentication { chunk: 0 })),
            (after_chunk(1) - 100, |e| matches!(e, AgeError::PayloadAuthentication { chunk: 1 })),
            (sealed.len() - 1, |e| matches!(e, AgeError::PayloadAuthentication { chunk: 2 })),
        ];
        for (length, expected) in cases {
            let error = open(&sealed[..length], &identities).unwrap_err();
            assert!(expected(&error), "truncated to {length} of {}: {error:?}", sealed.len());
        }
    }
    let ours = seal(&[Recipient::parse(&recipient).unwrap()], &plaintext);
    let truncated = write(&dir, "truncated.age", &ours[..ours.len() - 1]);
    assert!(!age_decrypt_output(&identity_file, &truncated).status.success());
}

// ---- known answer ----------------------------------------------------------

#[test]
fn decrypts_the_known_answer_vector_made_by_age_cli() {
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/age");
    let identities = read_identities(&vectors.join("x25519_identity.txt"));
    let sealed = fs::read(vectors.join("age_cli_1.1.1_x25519.age")).unwrap();
    let line = b"egocap age interop vector\n";
    let expected: Vec<u8> = line.iter().copied().cycle().take(70_000).collect();
    assert!(open(&sealed, &identities).unwrap() == expected);
}

// ---- helpers ---------------------------------------------------------------

fn tempdir() -> TempDir {
    tempfile::tempdir().unwrap()
}

/// Deterministic, incompressible-looking bytes (xorshift64).
fn plaintext(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15 ^ seed;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn seal(recipients: &[Recipient], plaintext: &[u8]) -> Vec<u8> {
    let mut encryptor = StreamEncryptor::new(Vec::new(), recipients).unwrap();
    encryptor.write_all(plaintext).unwrap();
    encryptor.finish().unwrap()
}

fn open(sealed: &[u8], identities: &[Identity]) -> Result<Vec<u8>, AgeError> {
    let mut plaintext = Vec::new();
    let written = decrypt(sealed, identities, &mut plaintext)?;
    assert_eq!(written, plaintext.len() as u64);
    Ok(plaintext)
}

fn read_identities(path: &Path) -> Vec<Identity> {
    parse_identity_file(&fs::read_to_string(path).unwrap()).unwrap()
}

/// Bytes up to and including the MAC line: the payload starts there.
fn header_len(sealed: &[u8]) -> usize {
    let mac_line = sealed.windows(4).position(|w| w == b"\n---").unwrap() + 1;
    mac_line + sealed[mac_line..].iter().position(|&b| b == b'\n').unwrap() + 1
}

fn write(dir: &TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    fs::write(&path, bytes).unwrap();
    path
}

/// `age-keygen -o <dir>/<name>.key`; returns the file and its recipient.
fn age_keygen(dir: &TempDir, name: &str) -> (PathBuf, String) {
    let path = dir.path().join(format!("{name}.key"));
    run(Command::new(tool("age-keygen")).arg("-o").arg(&path));
    let recipient = run(Command::new(tool("age-keygen")).arg("-y").arg(&path));
    (path, String::from_utf8(recipient).unwrap().trim().to_string())
}

/// `age -e <recipient args> -o <out> <input>`; returns the sealed bytes.
fn age_encrypt(dir: &TempDir, recipient_args: &[&str], plaintext: &[u8]) -> Vec<u8> {
    let input = write(dir, "input.bin", plaintext);
    let output = dir.path().join("by-age.age");
    run(Command::new(tool("age")).arg("-e").args(recipient_args).arg("-o").arg(&output).arg(&input));
    fs::remove_file(&input).unwrap();
    fs::read(&output).unwrap()
}

/// `age -d -i <identity file> <file>`, plaintext read from its stdout.
fn age_decrypt(identity_file: &Path, sealed: &Path) -> Vec<u8> {
    run(Command::new(tool("age")).arg("-d").arg("-i").arg(identity_file).arg(sealed))
}

fn age_decrypt_output(identity_file: &Path, sealed: &Path) -> Output {
    Command::new(tool("age")).arg("-d").arg("-i").arg(identity_file).arg(sealed).output().unwrap()
}

/// The tool's name, after checking that it runs: a missing `age` fails the
/// test with the way to install it.
fn tool(name: &str) -> &str {
    let runs = Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(runs, "`{name}` is not installed or does not run: run scripts/install-test-deps.sh");
    name
}

fn run(command: &mut Command) -> Vec<u8> {
    let output = command.output().unwrap_or_else(|e| panic!("cannot run {command:?} ({e})"));
    assert!(output.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}
