//! The card/ID guard never panics, and hiding a number it finds behind invisible
//! characters does not get it past.
#![no_main]

use dossier::domain::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let refused = validate::pii_guard("notes", text).is_err();
    let _ = validate::optional_text("notes", Some(text.to_owned()), 20_000);
    if refused {
        let hidden: String = text.chars().flat_map(|c| [c, '\u{200B}']).collect();
        assert!(validate::pii_guard("notes", &hidden).is_err(), "{text:?}");
    }
});
