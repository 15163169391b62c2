//! The textual age header: version line, recipient stanzas, MAC (age v1
//! §header). Parsing is strict — canonical base64, no CR, no padding — and
//! bounded, since the header is read before anything is authenticated.

use std::io::{BufRead, Read};

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use ring::hmac;

use super::file_key::FileKey;
use super::AgeError;

const VERSION_PREFIX: &[u8] = b"age-encryption.org/";
const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";
const STANZA_PREFIX: &[u8] = b"-> ";
const MAC_PREFIX: &[u8] = b"---";
/// Stanza bodies are base64 wrapped at 64 columns (age v1 §recipient stanza).
const BODY_COLUMNS: usize = 64;
/// HMAC-SHA-256 output, 43 characters of unpadded base64.
const MAC_LEN: usize = 32;
const MAC_B64_LEN: usize = 43;

/// The spec sets no bound on the header, but every byte of it is read (and
/// every X25519 stanza costs a scalar multiplication per identity) before
/// the MAC can be checked. `age` writes one stanza per recipient plus one
/// grease stanza, so these limits are far above any file it makes.
pub(super) const MAX_HEADER_LEN: usize = 1 << 20;
pub(super) const MAX_STANZAS: usize = 1024;
/// Enough for any version line; an input without a newline early on is not
/// an age file, and we need not read a megabyte to say so.
const MAX_VERSION_LINE_LEN: usize = 256;

/// One recipient stanza: `-> arg…` and a binary body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stanza {
    pub(super) args: Vec<String>,
    pub(super) body: Vec<u8>,
}

impl Stanza {
    /// Appends `-> args…\n` and the body wrapped at 64 columns. The last body
    /// line is always shorter than 64, so a multiple of 64 ends with an
    /// empty line (age v1 §recipient stanza).
    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(STANZA_PREFIX);
        out.extend_from_slice(self.args.join(" ").as_bytes());
        out.push(b'\n');
        let body = encode_base64(&self.body);
        for line in body.as_bytes().chunks(BODY_COLUMNS) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        if body.len().is_multiple_of(BODY_COLUMNS) {
            out.push(b'\n');
        }
    }
}

/// Serializes a complete header: version line, stanzas, and the MAC line
/// with HMAC-SHA-256 over everything up to and including `---` (age v1
/// §header MAC).
pub(super) fn encode_header(stanzas: &[Stanza], file_key: &FileKey) -> Result<Vec<u8>, AgeError> {
    let mut header = Vec::with_capacity(VERSION_LINE.len() + 128 * stanzas.len() + 64);
    header.extend_from_slice(VERSION_LINE);
    for stanza in stanzas {
        stanza.write_to(&mut header);
    }
    header.extend_from_slice(MAC_PREFIX);
    let mac = hmac::sign(&file_key.header_mac_key()?, &header);
    header.push(b' ');
    header.extend_from_slice(encode_base64(mac.as_ref()).as_bytes());
    header.push(b'\n');
    Ok(header)
}

/// A parsed header whose MAC has not been checked yet: that needs the file
/// key, which needs an identity to unwrap one of the stanzas.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) stanzas: Vec<Stanza>,
    mac: [u8; MAC_LEN],
    /// The header bytes up to and including `---`, which the MAC covers.
    mac_input: Vec<u8>,
}

impl Header {
    /// Reads the header and nothing more: the reader is left at the first
    /// byte of the payload.
    pub(super) fn read<R: BufRead>(reader: &mut R) -> Result<Self, AgeError> {
        let mut lines = LineReader { reader, consumed: Vec::new(), line_number: 0 };
        lines.read_version_line()?;
        let mut stanzas = Vec::new();
        loop {
            let line = lines.next_line(MAX_HEADER_LEN)?;
            if let Some(args) = line.strip_prefix(STANZA_PREFIX) {
                if stanzas.len() == MAX_STANZAS {
                    return Err(AgeError::HeaderTooLarge { what: "recipient stanzas", limit: MAX_STANZAS });
                }
                let args = lines.parse_args(args)?;
                let body = lines.read_body()?;
                stanzas.push(Stanza { args, body });
            } else if let Some(mac_text) = line.strip_prefix(MAC_PREFIX) {
                if stanzas.is_empty() {
                    return Err(lines.malformed("the header has no recipient stanza"));
                }
                let mac = lines.parse_mac(mac_text)?;
                // The MAC covers `---` but not the space and MAC after it.
                let mac_covers = lines.consumed.len() - (line.len() - MAC_PREFIX.len());
                let mut mac_input = lines.consumed;
                mac_input.truncate(mac_covers);
                return Ok(Self { stanzas, mac, mac_input });
            } else {
                return Err(lines.malformed("expected a recipient stanza (\"-> \") or the MAC line (\"--- \")"));
            }
        }
    }

    pub(super) fn verify_mac(&self, file_key: &FileKey) -> Result<(), AgeError> {
        hmac::verify(&file_key.header_mac_key()?, &self.mac_input, &self.mac).map_err(|_| AgeError::HeaderMac)
    }
}

/// Reads the header line by line, keeping every byte read (the MAC input)
/// and enforcing [`MAX_HEADER_LEN`] over the whole header.
struct LineReader<'r, R> {
    reader: &'r mut R,
    consumed: Vec<u8>,
    line_number: usize,
}

impl<R: BufRead> LineReader<'_, R> {
    fn read_version_line(&mut self) -> Result<(), AgeError> {
        let line = self.next_line(MAX_VERSION_LINE_LEN).map_err(|error| match error {
            AgeError::MalformedHeader { .. } | AgeError::HeaderTooLarge { .. } => self.not_age_file_reason(),
            other => other,
        })?;
        if line == VERSION_LINE {
            return Ok(());
        }
        Err(self.not_age_file_reason())
    }

    /// Why the first bytes are not an age v1 version line.
    fn not_age_file_reason(&self) -> AgeError {
        let first = self.consumed.as_slice();
        if let Some(version) = first.strip_prefix(VERSION_PREFIX) {
            let version = version.strip_suffix(b"\n").unwrap_or(version);
            if version.iter().all(|&b| is_vchar(b)) && !version.is_empty() {
                return AgeError::UnsupportedVersion { version: String::from_utf8_lossy(version).into_owned() };
            }
            return AgeError::MalformedHeader { line: 1, reason: "the version line has characters outside VCHAR" };
        }
        if first.starts_with(ARMOR_BEGIN) {
            return AgeError::NotAgeFile { reason: "ASCII-armored (PEM) age files are not supported" };
        }
        AgeError::NotAgeFile { reason: "it does not start with the age-encryption.org version line" }
    }

    /// The next line, including its `\n`; also appended to `consumed`.
    fn next_line(&mut self, limit: usize) -> Result<Vec<u8>, AgeError> {
        self.line_number += 1;
        let start = self.consumed.len();
        let budget = limit.saturating_sub(start);
        let read = (&mut *self.reader).take(budget as u64).read_until(b'\n', &mut self.consumed)?;
        if !self.consumed[start..].ends_with(b"\n") {
            if read == budget {
                return Err(AgeError::HeaderTooLarge { what: "bytes", limit });
            }
            return Err(self.malformed("the file ends inside the header"));
        }
        Ok(self.consumed[start..].to_vec())
    }

    /// `argument *(SP argument) LF`, each argument `1*VCHAR`.
    fn parse_args(&self, text: &[u8]) -> Result<Vec<String>, AgeError> {
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        text.split(|&b| b == b' ')
            .map(|arg| {
                if arg.is_empty() || !arg.iter().all(|&b| is_vchar(b)) {
                    return Err(self.malformed("a stanza argument is empty or has characters outside VCHAR"));
                }
                String::from_utf8(arg.to_vec()).map_err(|_| self.malformed("a stanza argument is not ASCII"))
            })
            .collect()
    }

    /// `*full-line final-line`: 64-column lines, then one shorter (maybe
    /// empty) line, together one canonical base64 string.
    fn read_body(&mut self) -> Result<Vec<u8>, AgeError> {
        let mut text = Vec::new();
        loop {
            let line = self.next_line(MAX_HEADER_LEN)?;
            let line = &line[..line.len() - 1];
            if line.len() > BODY_COLUMNS {
                return Err(self.malformed("a stanza body line is longer than 64 columns"));
            }
            if !line.iter().all(|&b| is_base64_char(b)) {
                return Err(self.malformed("a stanza body line has characters outside base64"));
            }
            let is_final = line.len() < BODY_COLUMNS;
            text.extend_from_slice(line);
            if is_final {
                break;
            }
        }
        decode_base64(&text).ok_or_else(|| self.malformed("a stanza body is not canonical base64"))
    }

    /// `" " 43base64char LF` after `---`.
    fn parse_mac(&self, text: &[u8]) -> Result<[u8; MAC_LEN], AgeError> {
        let encoded = text
            .strip_prefix(b" ")
            .and_then(|rest| rest.strip_suffix(b"\n"))
            .filter(|mac| mac.len() == MAC_B64_LEN)
            .ok_or_else(|| self.malformed("the MAC line is not \"--- \" and 43 base64 characters"))?;
        decode_base64(encoded)
            .and_then(|mac| <[u8; MAC_LEN]>::try_from(mac).ok())
            .ok_or_else(|| self.malformed("the header MAC is not canonical base64"))
    }

    fn malformed(&self, reason: &'static str) -> AgeError {
        AgeError::MalformedHeader { line: self.line_number, reason }
    }
}

/// Unpadded standard base64 (age v1 §conventions).
pub(super) fn encode_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decodes unpadded standard base64, rejecting padding, other characters and
/// non-canonical encodings (non-zero trailing bits), as age v1 requires.
pub(super) fn decode_base64(text: &[u8]) -> Option<Vec<u8>> {
    // STANDARD_NO_PAD rejects `=` and non-zero trailing bits.
    STANDARD_NO_PAD.decode(text).ok()
}

/// RFC 5234 VCHAR: visible ASCII, `!` to `~`.
fn is_vchar(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte)
}

fn is_base64_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/'
}

/// Canonical base64 text whose length is not a multiple of 4, with the
/// spare low bits of its last character set: the same bytes, but no longer
/// the canonical encoding.
#[cfg(test)]
pub(super) fn set_spare_bits(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bytes = text.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        if let Some(index) = ALPHABET.iter().position(|c| c == last) {
            *last = ALPHABET[index | 1];
        }
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn file_key() -> FileKey {
        FileKey::from_unwrapped(&[7; 16]).unwrap()
    }

    fn stanza(args: &[&str], body: &[u8]) -> Stanza {
        Stanza { args: args.iter().map(|a| a.to_string()).collect(), body: body.to_vec() }
    }

    fn parse(bytes: &[u8]) -> Result<Header, AgeError> {
        Header::read(&mut &bytes[..])
    }

    /// A header from text lines, with a MAC that is well formed but wrong.
    fn header_text(lines: &str) -> Vec<u8> {
        format!("age-encryption.org/v1\n{lines}--- {}\n", "A".repeat(43)).into_bytes()
    }

    fn assert_malformed(bytes: &[u8], expected_line: usize) {
        match parse(bytes) {
            Err(AgeError::MalformedHeader { line, .. }) => assert_eq!(line, expected_line),
            other => panic!("expected a malformed header at line {expected_line}, got {other:?}"),
        }
    }

    #[test]
    fn header_round_trips_and_leaves_the_reader_at_the_payload() {
        let stanzas = vec![stanza(&["X25519", "abc"], &[1; 32]), stanza(&["other", "a", "b!~"], &[])];
        let mut bytes = encode_header(&stanzas, &file_key()).unwrap();
        bytes.extend_from_slice(b"PAYLOAD");
        let mut reader = &bytes[..];
        let header = Header::read(&mut reader).unwrap();
        assert_eq!(header.stanzas, stanzas);
        header.verify_mac(&file_key()).unwrap();
        assert_eq!(reader, b"PAYLOAD");
    }

    #[test]
    fn body_of_exactly_64_columns_ends_with_an_empty_line() {
        let mut out = Vec::new();
        stanza(&["t"], &[0xab; 48]).write_to(&mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.split_terminator('\n').collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert_eq!(lines[1].len(), 64);
        assert_eq!(lines[2], "");
        let mut empty = Vec::new();
        stanza(&["t"], &[]).write_to(&mut empty);
        assert_eq!(empty, b"-> t\n\n");
    }

    #[test]
    fn mac_does_not_verify_with_another_file_key_or_a_changed_header() {
        let bytes = encode_header(&[stanza(&["a"], b"body")], &file_key()).unwrap();
        let header = parse(&bytes).unwrap();
        let other = FileKey::from_unwrapped(&[8; 16]).unwrap();
        assert!(matches!(header.verify_mac(&other), Err(AgeError::HeaderMac)));
        let changed = String::from_utf8(bytes).unwrap().replace("-> a\n", "-> b\n");
        let header = parse(changed.as_bytes()).unwrap();
        assert!(matches!(header.verify_mac(&file_key()), Err(AgeError::HeaderMac)));
    }

    #[test]
    fn input_that_is_not_age_is_named_as_such() {
        assert!(matches!(parse(b""), Err(AgeError::NotAgeFile { .. })));
        assert!(matches!(parse(&[0u8; 4096]), Err(AgeError::NotAgeFile { .. })));
        assert!(matches!(parse(b"hello\n"), Err(AgeError::NotAgeFile { .. })));
        let armored = b"-----BEGIN AGE ENCRYPTED FILE-----\nYWdl\n-----END AGE ENCRYPTED FILE-----\n";
        assert!(matches!(parse(armored), Err(AgeError::NotAgeFile { .. })));
    }

    #[test]
    fn other_versions_are_unsupported() {
        match parse(b"age-encryption.org/v2\n-> X\n\n--- x\n") {
            Err(AgeError::UnsupportedVersion { version }) => assert_eq!(version, "v2"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn crlf_line_endings_are_rejected() {
        assert_malformed(b"age-encryption.org/v1\r\n-> a\r\n\r\n--- AAAA\r\n", 1);
        let text = String::from_utf8(header_text("-> a\n\n")).unwrap().replace("-> a\n", "-> a\r\n");
        assert_malformed(text.as_bytes(), 2);
        // A CR at the end of a body line is outside base64.
        assert_malformed(&header_text("-> a\nAAAA\r\n"), 3);
    }

    #[test]
    fn stanza_arguments_must_be_present_and_visible_ascii() {
        assert_malformed(&header_text("->\n\n"), 2);
        assert_malformed(&header_text("-> \n\n"), 2);
        assert_malformed(&header_text("-> a  b\n\n"), 2);
        assert_malformed(&header_text("-> a \n\n"), 2);
        assert_malformed(&header_text("-> a\tb\n\n"), 2);
        assert_malformed(&header_text("-> caf\u{e9}\n\n"), 2);
        let all_vchars: String = (0x21u8..=0x7e).map(char::from).collect();
        let header = parse(&header_text(&format!("-> {all_vchars}\n\n"))).unwrap();
        assert_eq!(header.stanzas[0].args, vec![all_vchars]);
    }

    #[test]
    fn stanza_body_must_end_with_a_short_line() {
        let full = "A".repeat(64);
        // A full line and then the MAC line: the body never ends.
        assert_malformed(&header_text(&format!("-> a\n{full}\n")), 4);
        // No body line at all: the MAC line is read as the body.
        assert_malformed(&header_text("-> a\n"), 3);
        // A full line then an empty one is fine.
        let header = parse(&header_text(&format!("-> a\n{full}\n\n"))).unwrap();
        assert_eq!(header.stanzas[0].body.len(), 48);
    }

    #[test]
    fn stanza_body_lines_longer_than_64_columns_are_rejected() {
        assert_malformed(&header_text(&format!("-> a\n{}\n", "A".repeat(68))), 3);
    }

    #[test]
    fn non_canonical_or_padded_base64_is_rejected() {
        // "AB" has non-zero trailing bits ("AA" is the canonical form).
        assert_malformed(&header_text("-> a\nAB\n"), 3);
        assert!(parse(&header_text("-> a\nAA\n")).is_ok());
        assert_malformed(&header_text("-> a\nAA==\n"), 3);
        assert_malformed(&header_text("-> a\nA\n"), 3);
    }

    #[test]
    fn header_without_stanzas_is_rejected() {
        assert_malformed(&header_text(""), 2);
    }

    #[test]
    fn mac_line_must_be_exactly_dashes_space_and_43_characters() {
        let good = String::from_utf8(encode_header(&[stanza(&["a"], b"x")], &file_key()).unwrap()).unwrap();
        let (start, mac_line) = good.rsplit_once("---").unwrap();
        let mac = mac_line.trim();
        for bad in [
            format!("---  {mac}\n"),
            format!("---{mac}\n"),
            format!("--- {mac} \n"),
            format!("--- {}\n", &mac[..42]),
            "---\n".to_string(),
            format!("--- {mac}\r\n"),
        ] {
            assert_malformed(format!("{start}{bad}").as_bytes(), 4);
        }
        // The last of 43 characters carries 2 spare bits; setting them is
        // not canonical.
        assert_malformed(format!("{start}--- {}\n", set_spare_bits(mac)).as_bytes(), 4);
    }

    #[test]
    fn file_ending_inside_the_header_is_malformed() {
        let bytes = encode_header(&[stanza(&["a"], b"x")], &file_key()).unwrap();
        for cut in VERSION_LINE.len()..bytes.len() {
            assert!(matches!(parse(&bytes[..cut]), Err(AgeError::MalformedHeader { .. })), "cut at {cut}");
        }
    }

    #[test]
    fn oversized_headers_are_refused_while_reading() {
        let many = "-> a\n\n".repeat(MAX_STANZAS + 1);
        assert!(matches!(parse(&header_text(&many)), Err(AgeError::HeaderTooLarge { what: "recipient stanzas", .. })));
        let long_arg = format!("-> {}\n\n", "a".repeat(MAX_HEADER_LEN));
        assert!(matches!(parse(&header_text(&long_arg)), Err(AgeError::HeaderTooLarge { what: "bytes", .. })));
    }

    fn arbitrary_stanza() -> impl Strategy<Value = Stanza> {
        let arg = proptest::collection::vec(0x21u8..=0x7e, 1..20).prop_map(|b| String::from_utf8(b).unwrap());
        (proptest::collection::vec(arg, 1..4), proptest::collection::vec(any::<u8>(), 0..200))
            .prop_map(|(args, body)| Stanza { args, body })
    }

    proptest! {
        #[test]
        fn any_stanzas_round_trip_through_the_header(stanzas in proptest::collection::vec(arbitrary_stanza(), 1..5)) {
            let bytes = encode_header(&stanzas, &file_key()).unwrap();
            let header = parse(&bytes).unwrap();
            prop_assert_eq!(&header.stanzas, &stanzas);
            prop_assert!(header.verify_mac(&file_key()).is_ok());
        }

        #[test]
        fn arbitrary_bytes_after_the_version_line_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut bytes = VERSION_LINE.to_vec();
            bytes.extend_from_slice(&tail);
            let _ = parse(&bytes);
        }
    }
}
