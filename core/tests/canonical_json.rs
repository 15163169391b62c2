//! RFC 8785 canonical JSON through the public API: the RFC's own vectors (as
//! files under `tests/vectors/jcs/`), an independent implementation (the PyPI
//! package `rfc8785`, run once over a batch of generated values) and
//! properties of the input that must not change the output.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use egocap_core::canonical_json::{canonicalize_str, to_canonical_bytes, CanonicalJsonError};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{Map, Number, Value};

/// ±(2^53 − 1): the integers a double holds exactly, and all that `rfc8785` accepts.
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/jcs")
}

fn canonical(json: &str) -> String {
    String::from_utf8(canonicalize_str(json).unwrap()).unwrap()
}

#[test]
fn rfc_8785_vector_files_canonicalise_to_their_expected_bytes() {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(vectors().join("input")).unwrap() {
        let input = entry.unwrap().path();
        let name = input.file_name().unwrap().to_owned();
        let expected = std::fs::read(vectors().join("output").join(&name)).unwrap();
        let actual = canonicalize_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
        assert_eq!(String::from_utf8_lossy(&actual), String::from_utf8_lossy(&expected), "{name:?}");
        names.push(name.into_string().unwrap());
    }
    names.sort();
    assert_eq!(
        names,
        ["arrays", "french", "rfc8785-sample", "rfc8785-sorting", "structures", "unicode", "values", "weird"]
            .map(|name| format!("{name}.json"))
    );
}

#[test]
fn rfc_8785_sample_output_is_the_utf8_of_section_3_2_4() {
    let hex = std::fs::read_to_string(vectors().join("outhex/rfc8785-sample.txt")).unwrap();
    let expected: Vec<u8> = hex.split_whitespace().map(|pair| u8::from_str_radix(pair, 16).unwrap()).collect();
    let input = std::fs::read_to_string(vectors().join("input/rfc8785-sample.json")).unwrap();
    assert_eq!(canonicalize_str(&input).unwrap(), expected);
}

#[test]
fn rfc_8785_appendix_b_doubles_serialise_as_ecmascript_numbers() {
    let table = std::fs::read_to_string(vectors().join("appendix-b-numbers.csv")).unwrap();
    let mut finite = 0;
    for line in table.lines().filter(|line| !line.starts_with('#')) {
        let (hex, expected) = line.split('#').next().unwrap().trim().split_once(',').unwrap();
        let double = f64::from_bits(u64::from_str_radix(hex, 16).unwrap());
        match Number::from_f64(double) {
            Some(number) => {
                let text = String::from_utf8(to_canonical_bytes(&Value::Number(number)).unwrap()).unwrap();
                assert_eq!(text, expected, "bits {hex}");
                // And the text reads back as the same double.
                assert_eq!(canonical(&text), expected, "bits {hex} reparsed");
                finite += 1;
            }
            // serde_json cannot hold NaN or Infinity; the RFC wants them refused.
            None => assert!(expected.is_empty(), "bits {hex} should serialise as {expected}"),
        }
    }
    assert_eq!(finite, 24);
}

#[test]
fn numbers_outside_the_double_range_are_rejected() {
    for json in ["1e400", "-1e400", "[1,2e999]"] {
        let error = canonicalize_str(json).unwrap_err();
        assert!(matches!(error, CanonicalJsonError::InvalidJson(_)), "{json}: {error}");
    }
}

#[test]
fn integers_are_read_as_doubles_rounding_to_nearest_even() {
    assert_eq!(canonical("9007199254740991"), "9007199254740991");
    assert_eq!(canonical("9007199254740993"), "9007199254740992");
    assert_eq!(canonical("-9007199254740995"), "-9007199254740996");
    assert_eq!(canonical("18446744073709551615"), "18446744073709552000");
    assert_eq!(canonical("-9223372036854775808"), "-9223372036854776000");
    assert_eq!(canonical("100000000000000000000000"), "1e+23");
    assert_eq!(canonical("[-0,-0.0,0e5,1.0,1e2]"), "[0,0,0,1,100]");
    assert_eq!(to_canonical_bytes(&Value::from(u64::MAX)).unwrap(), b"18446744073709552000");
}

#[test]
fn lone_surrogates_are_rejected_and_pairs_become_utf8() {
    for json in [r#""\ud800""#, r#""\udc00x""#, r#""\ud83d\u0041""#, r#"{"\ude00":1}"#] {
        let error = canonicalize_str(json).unwrap_err();
        assert!(matches!(error, CanonicalJsonError::InvalidJson(_)), "{json}: {error}");
    }
    assert_eq!(canonical(r#""\ud83d\ude00""#), "\"\u{1f600}\"");
}

#[test]
fn duplicate_member_names_are_rejected_at_any_depth() {
    for json in [r#"{"a":1,"a":2}"#, r#"[{"b":{"x":1,"y":2,"x":1}}]"#, r#"{"\u0061":1,"a":1}"#] {
        let error = canonicalize_str(json).unwrap_err();
        assert!(error.to_string().contains("duplicate member name"), "{json}: {error}");
    }
    assert_eq!(canonical(r#"{"a":{"a":1},"b":{"a":2}}"#), r#"{"a":{"a":1},"b":{"a":2}}"#);
}

#[test]
fn malformed_and_trailing_input_is_rejected() {
    for json in ["", "{", "[1,]", "{\"a\" 1}", "01", "1 2", "nul", "\"\u{1}\"", "NaN", "Infinity"] {
        assert!(canonicalize_str(json).is_err(), "{json:?}");
    }
    assert_eq!(canonical(" \n[ 1 , true ]\t"), "[1,true]");
}

#[test]
fn members_sort_by_utf16_code_units_not_by_code_points() {
    // U+E000 and U+FF61 sort after U+1F600 in UTF-16 (its first unit is 0xD83D),
    // before it in UTF-8 and by code point.
    let value = serde_json::json!({ "\u{ff61}": 1, "\u{1f600}": 2, "\u{e000}": 3, "z": 4 });
    assert_eq!(
        String::from_utf8(to_canonical_bytes(&value).unwrap()).unwrap(),
        "{\"z\":4,\"\u{1f600}\":2,\"\u{e000}\":3,\"\u{ff61}\":1}"
    );
}

// ---- generated values ----

/// Characters from every UTF-8 length and both sides of the surrogate gap,
/// weighted towards the ones canonicalisation treats specially.
fn any_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => proptest::char::range('\u{20}', '\u{7e}'),
        2 => proptest::char::range('\u{0}', '\u{1f}'),
        1 => Just('"'),
        1 => Just('\\'),
        1 => Just('\u{7f}'),
        1 => proptest::char::range('\u{80}', '\u{7ff}'),
        1 => proptest::char::range('\u{800}', '\u{d7ff}'),
        2 => proptest::char::range('\u{e000}', '\u{ffff}'),
        2 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

fn any_string(max_chars: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any_char(), 0..max_chars).prop_map(String::from_iter)
}

/// JSON values `rfc8785` (Python) accepts: no floats, integers within ±(2^53 − 1).
fn integer_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        Just(Value::from(MAX_SAFE_INTEGER)),
        Just(Value::from(-MAX_SAFE_INTEGER)),
        any_string(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(any_string(4), inner, 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Any finite-number JSON value, floats included (checked against ourselves only).
fn any_json() -> impl Strategy<Value = Value> {
    let float = any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(Value::Number);
    prop_oneof![3 => integer_json(), 1 => float]
        .prop_recursive(2, 32, 4, |inner| proptest::collection::vec(inner, 0..4).prop_map(Value::Array))
}

#[test]
fn matches_the_rfc8785_python_package_on_generated_values() {
    let mut runner = TestRunner::deterministic();
    let strategy = integer_json();
    let values: Vec<Value> = (0..400).map(|_| strategy.new_tree(&mut runner).unwrap().current()).collect();
    // One line of JSON per value (serde_json escapes newlines inside strings).
    let mut batch = String::new();
    for value in &values {
        batch.push_str(&serde_json::to_string(value).unwrap());
        batch.push('\n');
    }
    let theirs = rfc8785_python(batch.into_bytes());
    assert_eq!(theirs.len(), values.len());
    for (value, expected_hex) in values.iter().zip(&theirs) {
        let ours = hex::encode(to_canonical_bytes(value).unwrap());
        assert_eq!(&ours, expected_hex, "value {value}");
    }
}

/// Canonical bytes (hex, one line each) of the JSON lines in `batch`, from
/// PyPI `rfc8785` in one python3 process. Missing tools fail, never skip.
fn rfc8785_python(batch: Vec<u8>) -> Vec<String> {
    const SCRIPT: &str = "import sys, json, rfc8785\n\
        for line in sys.stdin.buffer:\n    \
            sys.stdout.write(rfc8785.dumps(json.loads(line)).hex() + '\\n')\n";
    const HINT: &str = "run scripts/install-test-deps.sh (it installs python3's rfc8785==0.1.4)";
    let mut child = Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run python3 ({error}); {HINT}"));
    let mut stdin = child.stdin.take().unwrap();
    // A writer thread, so a full stdout pipe cannot deadlock against stdin.
    let writer = std::thread::spawn(move || stdin.write_all(&batch));
    let output = child.wait_with_output().unwrap();
    // Checked after the exit status: a python3 that died early breaks the pipe.
    let written = writer.join().unwrap();
    assert!(
        output.status.success(),
        "python3 rfc8785 failed ({}); {HINT}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    written.unwrap();
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// JSON text for `value` with each object's members in the order `order`
/// picks, optional whitespace, and optionally every string character written
/// as a `\u` escape (astral characters as surrogate pairs).
fn render(value: &Value, order: &mut impl FnMut(usize) -> Vec<usize>, spaced: bool, escaped: bool) -> String {
    let gap = if spaced { " \n\t" } else { "" };
    let string = |text: &str| {
        if escaped {
            let units: String = text.encode_utf16().map(|unit| format!("\\u{unit:04X}")).collect();
            format!("\"{units}\"")
        } else {
            serde_json::to_string(text).unwrap()
        }
    };
    match value {
        Value::String(text) => string(text),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(|item| render(item, order, spaced, escaped)).collect();
            format!("[{gap}{}{gap}]", items.join(&format!("{gap},{gap}")))
        }
        Value::Object(members) => {
            let members: Vec<(&String, &Value)> = members.iter().collect();
            let rendered: Vec<String> = order(members.len())
                .into_iter()
                .map(|index| {
                    let (name, value) = members[index];
                    format!("{}{gap}:{gap}{}", string(name), render(value, order, spaced, escaped))
                })
                .collect();
            format!("{{{gap}{}{gap}}}", rendered.join(&format!("{gap},{gap}")))
        }
        scalar => serde_json::to_string(scalar).unwrap(),
    }
}

proptest! {
    #[test]
    fn member_order_in_the_input_does_not_change_the_output(value in any_json(), seed in any::<u64>()) {
        let sorted = canonicalize_str(&serde_json::to_string(&value).unwrap()).unwrap();
        // A seeded permutation per object: reversed, rotated or interleaved.
        let mut state = seed;
        let mut shuffle = |len: usize| {
            let mut order: Vec<usize> = (0..len).collect();
            for i in (1..len).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                order.swap(i, (state >> 33) as usize % (i + 1));
            }
            order
        };
        let shuffled = render(&value, &mut shuffle, false, false);
        prop_assert_eq!(canonicalize_str(&shuffled).unwrap(), sorted, "{}", shuffled);
    }

    #[test]
    fn whitespace_and_string_escapes_in_the_input_do_not_change_the_output(value in any_json()) {
        let plain = to_canonical_bytes(&value).unwrap();
        let escaped = render(&value, &mut |len| (0..len).rev().collect(), true, true);
        prop_assert_eq!(canonicalize_str(&escaped).unwrap(), plain, "{}", escaped);
    }

    #[test]
    fn canonical_output_is_its_own_canonical_form(value in any_json()) {
        let once = to_canonical_bytes(&value).unwrap();
        let twice = canonicalize_str(std::str::from_utf8(&once).unwrap()).unwrap();
        prop_assert_eq!(twice, once);
    }
}
