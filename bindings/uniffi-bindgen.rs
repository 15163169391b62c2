//! The `uniffi-bindgen` command line, built from the same UniFFI version as
//! the library so generated code and scaffolding always match.
//! `bindings/generate.sh` runs it as `generate --library`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
