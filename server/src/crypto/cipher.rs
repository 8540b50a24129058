//! The field cipher: `v1.<key version>.<base64(nonce ‖ ciphertext ‖ tag)>`, with the row's
//! identity as associated data so a value copied anywhere else fails to decrypt.

use std::collections::HashMap;
use std::sync::Arc;

use uuid::Uuid;

use super::Plaintext;
use super::keyring::{Key, open, seal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("ciphertext is malformed")]
    Malformed,
    #[error("no key of version {0}")]
    UnknownKeyVersion(u32),
    #[error("decryption failed: wrong key, wrong row or tampered data")]
    Decrypt,
}

/// Binds a ciphertext to its place: tenant, table, column and row.
#[derive(Debug, Clone, Copy)]
pub struct Aad<'a> {
    pub tenant_id: Uuid,
    pub table: &'a str,
    pub column: &'a str,
    pub row_id: Uuid,
}

impl Aad<'_> {
    fn bytes(&self) -> Vec<u8> {
        format!("{}|{}|{}|{}", self.tenant_id, self.table, self.column, self.row_id).into_bytes()
    }
}

/// A tenant's data keys by version; the newest encrypts.
#[derive(Clone, Debug)]
pub struct DataKeys {
    pub current_version: u32,
    pub keys: HashMap<u32, Arc<Key>>,
}

impl DataKeys {
    pub fn encrypt(&self, aad: Aad<'_>, plaintext: &str) -> String {
        let key = &self.keys[&self.current_version];
        format!(
            "v1.{}.{}",
            self.current_version,
            seal(key, &aad.bytes(), plaintext.as_bytes())
        )
    }

    pub fn decrypt(&self, aad: Aad<'_>, ciphertext: &str) -> Result<Plaintext, CryptoError> {
        let version = key_version(ciphertext)?;
        let key = self.keys.get(&version).ok_or(CryptoError::UnknownKeyVersion(version))?;
        let body = ciphertext.splitn(3, '.').nth(2).ok_or(CryptoError::Malformed)?;
        let bytes = open(key, &aad.bytes(), body)?;
        String::from_utf8(bytes)
            .map(Plaintext::new)
            .map_err(|_| CryptoError::Malformed)
    }
}

/// The key version a ciphertext was made with.
pub fn key_version(ciphertext: &str) -> Result<u32, CryptoError> {
    let mut parts = ciphertext.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(version), Some(_)) => version.parse().map_err(|_| CryptoError::Malformed),
        _ => Err(CryptoError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(versions: &[u32]) -> DataKeys {
        DataKeys {
            current_version: *versions.iter().max().unwrap(),
            keys: versions.iter().map(|v| (*v, Arc::new(Key::generate()))).collect(),
        }
    }

    fn aad(column: &str, row: Uuid) -> Aad<'_> {
        Aad {
            tenant_id: Uuid::nil(),
            table: "contacts",
            column,
            row_id: row,
        }
    }

    #[test]
    fn a_value_round_trips_in_the_documented_format() {
        let k = keys(&[1]);
        let row = Uuid::now_v7();
        let ct = k.encrypt(aad("email", row), "zhang@example.com");
        assert!(ct.starts_with("v1.1."));
        assert!(!ct.contains("zhang"));
        assert_eq!(k.decrypt(aad("email", row), &ct).unwrap().expose(), "zhang@example.com");
        assert_ne!(ct, k.encrypt(aad("email", row), "zhang@example.com"), "random nonce");
    }

    #[test]
    fn another_row_column_tenant_or_a_flipped_byte_fails_with_a_typed_error() {
        let k = keys(&[1]);
        let row = Uuid::now_v7();
        let ct = k.encrypt(aad("email", row), "zhang@example.com");
        assert_eq!(
            k.decrypt(aad("email", Uuid::now_v7()), &ct).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(k.decrypt(aad("phone", row), &ct).unwrap_err(), CryptoError::Decrypt);
        let other_tenant = Aad {
            tenant_id: Uuid::now_v7(),
            ..aad("email", row)
        };
        assert_eq!(k.decrypt(other_tenant, &ct).unwrap_err(), CryptoError::Decrypt);
        let mut tampered = ct.clone().into_bytes();
        let i = tampered.len() - 5;
        tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert!(k.decrypt(aad("email", row), &tampered).is_err());
        assert_eq!(
            k.decrypt(aad("email", row), "v1.7.AAAA").unwrap_err(),
            CryptoError::UnknownKeyVersion(7)
        );
        assert_eq!(
            k.decrypt(aad("email", row), "plain text").unwrap_err(),
            CryptoError::Malformed
        );
        assert_eq!(
            k.decrypt(aad("email", row), "v1.1.AAAA").unwrap_err(),
            CryptoError::Malformed
        );
    }

    #[test]
    fn old_versions_keep_decrypting_after_a_new_key_arrives() {
        let mut k = keys(&[1]);
        let row = Uuid::now_v7();
        let old = k.encrypt(aad("phone", row), "+8613800138000");
        k.keys.insert(2, Arc::new(Key::generate()));
        k.current_version = 2;
        let new = k.encrypt(aad("phone", row), "+8613800138000");
        assert_eq!(key_version(&new).unwrap(), 2);
        assert_eq!(k.decrypt(aad("phone", row), &old).unwrap().expose(), "+8613800138000");
    }
}
