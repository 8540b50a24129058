//! The phone normaliser never panics, and what it accepts is E.164 that it accepts again
//! unchanged.
#![no_main]

use dossier::domain::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    for region in ["CN", "US", "GB"] {
        if let Ok(e164) = validate::phone("phone", text, region) {
            assert!(e164.starts_with('+') && e164[1..].bytes().all(|b| b.is_ascii_digit()), "{e164}");
            assert_eq!(validate::phone("phone", &e164, region).ok().as_deref(), Some(e164.as_str()));
        }
    }
});
