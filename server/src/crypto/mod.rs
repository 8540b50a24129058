//! Field encryption for contact data: the master key ring, per-tenant keys, the AES-256-GCM
//! field cipher, blind indexes for exact search, and masking for roles without plaintext rights.
//!
//! Nothing here touches the database; `domain::keys` stores and loads the wrapped keys.

pub mod blind_index;
pub mod cipher;
pub mod keyring;
pub mod mask;

pub use cipher::{Aad, CryptoError};
pub use keyring::{Key, MasterKeyRing};

use std::fmt;

/// Decrypted contact data. Never printed: Debug and Display show a placeholder.
#[derive(Clone, PartialEq, Eq, zeroize::Zeroize, zeroize::ZeroizeOnDrop)]
pub struct Plaintext(String);

impl Plaintext {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Plaintext([redacted])")
    }
}

impl fmt::Display for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl MasterKeyRing {
    /// The ring the configuration names (or, embedded, the one generated into the data dir).
    pub fn from_config(config: &crate::config::Config) -> anyhow::Result<Self> {
        let spec = config.master_key_spec(Self::generate_spec)?;
        let source = if config.master_keys.is_some() {
            "DOSSIER_MASTER_KEYS"
        } else {
            "master key file"
        };
        Self::parse(spec.expose()).map_err(|e| anyhow::anyhow!("{source}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::config::Config;

    fn production_config(master_keys: &str) -> Config {
        let vars: BTreeMap<String, String> = [
            ("DOSSIER_DATABASE_URL", "postgres://u:pw@h/db"),
            ("DOSSIER_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            ("DOSSIER_MASTER_KEYS", master_keys),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Config::from_vars(&vars).unwrap()
    }

    #[test]
    fn the_configured_master_keys_make_the_ring_and_a_bad_spec_is_named_by_its_variable() {
        let spec = MasterKeyRing::generate_spec().replacen("1:", "3:", 1);
        let ring = MasterKeyRing::from_config(&production_config(&spec)).unwrap();
        assert_eq!(ring.newest_version(), 3);
        let err = MasterKeyRing::from_config(&production_config("1:QUFBQQ==")).unwrap_err();
        assert!(err.to_string().starts_with("DOSSIER_MASTER_KEYS: "), "{err}");
        assert!(!err.to_string().contains("QUFBQQ"), "{err}");
    }
}
