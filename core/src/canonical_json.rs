//! RFC 8785 JSON Canonicalization Scheme (JCS): the one byte form of a JSON
//! value that we hash and sign.
//!
//! Numbers. JCS reads every JSON number as an IEEE-754 double (RFC 8785
//! §3.2.2.3), so serde_json's integers are converted to `f64` first, rounding
//! to nearest-even as ECMAScript's `JSON.parse` does: 9007199254740993
//! canonicalises to 9007199254740992 and `-0` to `0`. Values that need exact
//! integers beyond ±(2^53 − 1) must travel as strings. Parsing relies on
//! serde_json's `float_roundtrip` feature (set in the workspace manifest):
//! without it serde_json may land one ULP off, and the canonical text changes.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use thiserror::Error;

/// Why a value or a JSON text has no RFC 8785 canonical form.
#[derive(Debug, Error)]
pub enum CanonicalJsonError {
    /// NaN and ±Infinity have no JSON form (RFC 8785 §3.2.2.3).
    #[error("number {number} is not finite and has no canonical JSON form (RFC 8785 §3.2.2.3)")]
    NonFiniteNumber { number: String },
    /// Not JSON (RFC 8259) or not I-JSON (RFC 7493), as RFC 8785 §3.1 requires:
    /// a lone surrogate in a `\u` escape, a duplicate member name, a number
    /// outside the double range, or a syntax error.
    #[error("input is not I-JSON: {0}")]
    InvalidJson(#[from] serde_json::Error),
}

/// The canonical UTF-8 bytes of `value` (RFC 8785 §3.2).
pub fn to_canonical_bytes(value: &Value) -> Result<Vec<u8>, CanonicalJsonError> {
    let mut out = Vec::new();
    write_value(value, &mut out)?;
    Ok(out)
}

/// Parses `json` as I-JSON, then canonicalises it. Unlike `serde_json::from_str`,
/// this rejects duplicate member names instead of keeping the last one: two
/// parsers that disagree on which duplicate wins would sign different data.
pub fn canonicalize_str(json: &str) -> Result<Vec<u8>, CanonicalJsonError> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let IJson(value) = IJson::deserialize(&mut deserializer)?;
    deserializer.end()?;
    to_canonical_bytes(&value)
}

fn write_value(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(number, out)?,
        Value::String(text) => write_string(text, out),
        Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(members, out)?,
    }
    Ok(())
}

/// RFC 8785 §3.2.3: members sorted by name compared as arrays of UTF-16 code
/// units. This differs from UTF-8 byte order (serde_json's `BTreeMap` order)
/// when a name holds both U+E000..U+FFFF and astral-plane characters.
fn write_object(members: &Map<String, Value>, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by_cached_key(|(name, _)| name.encode_utf16().collect::<Vec<u16>>());
    out.push(b'{');
    for (index, (name, value)) in sorted.into_iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        write_string(name, out);
        out.push(b':');
        write_value(value, out)?;
    }
    out.push(b'}');
    Ok(())
}

/// RFC 8785 §3.2.2.3: ECMAScript `Number.prototype.toString` of the double.
fn write_number(number: &Number, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    // `as_f64` is `None` only when serde_json's `arbitrary_precision` feature
    // holds a number too large for a double.
    let double = number.as_f64().ok_or_else(|| CanonicalJsonError::NonFiniteNumber { number: number.to_string() })?;
    write_double(double, out)
}

fn write_double(double: f64, out: &mut Vec<u8>) -> Result<(), CanonicalJsonError> {
    if !double.is_finite() {
        return Err(CanonicalJsonError::NonFiniteNumber { number: double.to_string() });
    }
    // ryu-js prints -0 as "0", as ECMAScript does.
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(double).as_bytes());
    Ok(())
}

/// RFC 8785 §3.2.2.2: only `"`, `\` and the C0 controls are escaped, with the
/// short forms where JSON has one and `\u00xx` (lowercase hex) otherwise;
/// everything else, U+007F and non-ASCII included, is written as UTF-8.
/// Working on bytes is safe: every byte of a multi-byte UTF-8 sequence is >= 0x80.
fn write_string(text: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &byte in text.as_bytes() {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            0x00..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xf)],
            ]),
            _ => out.push(byte),
        }
    }
    out.push(b'"');
}

/// A `Value` parsed under I-JSON's rule that member names are unique
/// (RFC 7493 §2.3), which RFC 8785 §3.1 requires of its input.
struct IJson(Value);

impl<'de> Deserialize<'de> for IJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IJsonVisitor).map(IJson)
    }
}

struct IJsonVisitor;

impl<'de> Visitor<'de> for IJsonVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("an I-JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Value, E> {
        Number::from_f64(value).map(Value::Number).ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(IJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(de::Error::custom(format_args!("duplicate member name {name:?} (RFC 7493 §2.3)")));
            }
            let IJson(value) = map.next_value()?;
            members.insert(name, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn double_text(double: f64) -> Result<String, CanonicalJsonError> {
        let mut out = Vec::new();
        write_double(double, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    /// The whole of RFC 8785 Appendix B, NaN and Infinity rows included, which
    /// cannot be built as a `serde_json::Value` and so only reach us here.
    #[test]
    fn appendix_b_doubles_print_as_ecmascript_and_non_finite_ones_are_refused() {
        let table = include_str!("../tests/vectors/jcs/appendix-b-numbers.csv");
        let mut rows = 0;
        for line in table.lines().filter(|line| !line.starts_with('#')) {
            let fields = line.split('#').next().unwrap().trim();
            let (hex, expected) = fields.split_once(',').unwrap();
            let double = f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
            match double_text(double) {
                Ok(text) => assert_eq!(text, expected, "bits {hex}"),
                Err(CanonicalJsonError::NonFiniteNumber { .. }) => assert!(expected.is_empty(), "bits {hex}"),
                Err(other) => panic!("bits {hex}: {other}"),
            }
            rows += 1;
        }
        assert_eq!(rows, 26);
        assert!(double_text(f64::NEG_INFINITY).is_err());
    }

    #[test]
    fn escapes_only_quote_backslash_and_c0_controls() {
        for byte in 0u8..0x80 {
            let mut out = Vec::new();
            write_string(char::from(byte).encode_utf8(&mut [0; 4]), &mut out);
            let body = &out[1..out.len() - 1];
            let expected: Vec<u8> = match byte {
                b'"' => b"\\\"".to_vec(),
                b'\\' => b"\\\\".to_vec(),
                0x08 => b"\\b".to_vec(),
                0x09 => b"\\t".to_vec(),
                0x0a => b"\\n".to_vec(),
                0x0c => b"\\f".to_vec(),
                0x0d => b"\\r".to_vec(),
                0x00..=0x1f => format!("\\u{byte:04x}").into_bytes(),
                _ => vec![byte],
            };
            assert_eq!(body, expected, "byte {byte:#04x}");
        }
    }

    #[test]
    fn parsing_is_correctly_rounded_so_float_roundtrip_is_enabled() {
        // Off by one ULP (…554) without serde_json's `float_roundtrip`.
        let value: Value = serde_json::from_str("333333333.33333329").unwrap();
        assert_eq!(value.as_f64().unwrap().to_bits(), 0x41b3_de43_5555_5555);
    }
}
