//! The ciphertext parser and decryption never panic on stored text that is not what we wrote.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use dossier::crypto::cipher::{Aad, DataKeys, key_version};
use dossier::crypto::keyring::Key;
use libfuzzer_sys::fuzz_target;
use uuid::Uuid;

fn keys() -> &'static DataKeys {
    static KEYS: OnceLock<DataKeys> = OnceLock::new();
    KEYS.get_or_init(|| DataKeys {
        current_version: 1,
        keys: HashMap::from([(1, Arc::new(Key::generate())), (7, Arc::new(Key::generate()))]),
    })
}

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let aad = Aad {
        tenant_id: Uuid::nil(),
        table: "contacts",
        column: "email",
        row_id: Uuid::nil(),
    };
    let _ = key_version(text);
    assert!(keys().decrypt(aad, text).is_err(), "forged ciphertext decrypted: {text:?}");
    // A sealed value survives, and a changed body never opens.
    let sealed = keys().encrypt(aad, text);
    assert_eq!(keys().decrypt(aad, &sealed).map(|p| p.expose().to_owned()).ok().as_deref(), Some(text));
});
