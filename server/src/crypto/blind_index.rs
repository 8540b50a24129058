//! Blind indexes: HMAC-SHA256 of a normalised value under the tenant's index key, truncated
//! to 16 bytes. Equal values give equal indexes within a tenant, so exact search and
//! duplicate detection work without decrypting; across tenants the indexes differ.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::Key;

/// Hex of the first 16 bytes of HMAC-SHA256(index key, `field` ‖ 0 ‖ `normalised`).
/// The field name keeps an e-mail and a WeChat id that happen to be equal apart.
pub fn blind_index(index_key: &Key, field: &str, normalised: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(index_key.bytes()).expect("HMAC takes any key length");
    mac.update(field.as_bytes());
    mac.update(&[0]);
    mac.update(normalised.as_bytes());
    mac.finalize().into_bytes()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_match_within_a_key_and_differ_across_keys_and_fields() {
        let a = Key::generate();
        let b = Key::generate();
        let x = blind_index(&a, "phone", "+8613800138000");
        assert_eq!(x.len(), 32);
        assert_eq!(x, blind_index(&a, "phone", "+8613800138000"));
        assert_ne!(x, blind_index(&b, "phone", "+8613800138000"));
        assert_ne!(x, blind_index(&a, "wechat", "+8613800138000"));
        assert!(!x.contains("13800138000"));
    }
}
