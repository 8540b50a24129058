//! The e-mail normaliser never panics, and what it accepts is lower-case, free of white
//! space and control characters, and accepted again unchanged.
#![no_main]

use dossier::domain::validate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    if let Ok(address) = validate::email("email", text) {
        assert!(address.len() <= 254);
        assert!(!address.chars().any(|c| c.is_whitespace() || c.is_control()));
        assert_eq!(validate::email("email", &address).ok().as_deref(), Some(address.as_str()));
    }
});
