//! The cursor parser never panics, and a cursor it accepts carries a value of its ordering's
//! type without control characters.
#![no_main]

use dossier::domain::pagination::{Cursor, SortKind, SortValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    for kind in [SortKind::Text, SortKind::Time, SortKind::Date, SortKind::Field] {
        // Raw input, and the same bytes as a well-formed cursor encoding would carry them.
        let encoded = base64_url(input);
        for raw in [text, encoded.as_str()] {
            if let Ok(cursor) = Cursor::decode("after", raw, "NAME_ASC", kind) {
                assert_eq!(cursor.sort, "NAME_ASC");
                if let SortValue::Text(t) = &cursor.value {
                    assert!(!t.chars().any(char::is_control));
                }
                assert_eq!(Cursor::decode("after", &cursor.encode(), "NAME_ASC", kind).ok(), Some(cursor));
            }
        }
    }
});

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}
