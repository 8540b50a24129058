//! Keys: the operator's master key ring, and the wrapping of per-tenant keys with it.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload, rand_core::RngCore};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::CryptoError;

/// A 256-bit key, wiped from memory when dropped and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key([u8; 32]);

impl Key {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(Self(array))
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

/// Versioned master keys from `DOSSIER_MASTER_KEYS` (`1:<base64>,2:<base64>`); the newest
/// wraps new tenant keys, older ones still unwrap what they wrapped.
#[derive(Clone)]
pub struct MasterKeyRing {
    keys: BTreeMap<u32, Key>,
    /// The largest version of `keys` and its key: a ring is never empty.
    newest: (u32, Key),
}

impl fmt::Debug for MasterKeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeyRing")
            .field("versions", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeyRing {
    /// Parses `version:base64` pairs separated by commas. Errors never echo key material.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut keys = BTreeMap::new();
        for (n, entry) in spec.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
            let (version, encoded) = entry
                .split_once(':')
                .ok_or_else(|| format!("master key {} is not version:base64", n + 1))?;
            let version: u32 = version
                .trim()
                .parse()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| format!("master key {} has no positive version number", n + 1))?;
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| format!("master key version {version} is not base64"))?;
            let key = Key::from_bytes(&bytes).map_err(|_| format!("master key version {version} is not 32 bytes"))?;
            if keys.insert(version, key).is_some() {
                return Err(format!("master key version {version} is given twice"));
            }
        }
        let newest = keys
            .last_key_value()
            .map(|(version, key)| (*version, key.clone()))
            .ok_or("no master key given")?;
        Ok(Self { keys, newest })
    }

    /// A freshly generated ring spec (`1:<base64>`), for embedded mode's first start.
    pub fn generate_spec() -> String {
        let key = Key::generate();
        format!("1:{}", STANDARD.encode(key.bytes()))
    }

    pub fn for_testing() -> Self {
        Self::parse(&Self::generate_spec()).expect("generated spec parses")
    }

    pub fn newest_version(&self) -> u32 {
        self.newest.0
    }

    /// Wraps a tenant key with the newest master key; returns (master version, wrapped form).
    pub fn wrap(&self, key: &Key, aad: &[u8]) -> (u32, String) {
        let (version, master) = &self.newest;
        (*version, seal(master, aad, key.bytes()))
    }

    pub fn unwrap(&self, master_version: u32, wrapped: &str, aad: &[u8]) -> Result<Key, CryptoError> {
        let master = self
            .keys
            .get(&master_version)
            .ok_or(CryptoError::UnknownKeyVersion(master_version))?;
        let mut bytes = open(master, aad, wrapped)?;
        let key = Key::from_bytes(&bytes);
        bytes.zeroize();
        key
    }
}

/// AES-256-GCM with a random 96-bit nonce: base64(nonce ‖ ciphertext ‖ tag). AES-GCM refuses
/// only inputs beyond 64 GiB, which no field or key comes near.
pub(crate) fn seal(key: &Key, aad: &[u8], plaintext: &[u8]) -> String {
    let cipher = Aes256Gcm::new(key.bytes().into());
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let sealed = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad })
        .expect("AES-GCM encryption of in-memory data cannot fail");
    let mut out = Vec::with_capacity(12 + sealed.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    STANDARD.encode(out)
}

pub(crate) fn open(key: &Key, aad: &[u8], encoded: &str) -> Result<Vec<u8>, CryptoError> {
    let raw = STANDARD.decode(encoded).map_err(|_| CryptoError::Malformed)?;
    if raw.len() < 12 + 16 {
        return Err(CryptoError::Malformed);
    }
    let (nonce, sealed) = raw.split_at(12);
    Aes256Gcm::new(key.bytes().into())
        .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad })
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_unwraps_only_with_its_master_and_aad() {
        let ring = MasterKeyRing::for_testing();
        let key = Key::generate();
        let (version, wrapped) = ring.wrap(&key, b"tenant-1|data|1");
        assert_eq!(version, 1);
        assert_eq!(
            ring.unwrap(version, &wrapped, b"tenant-1|data|1").unwrap().bytes(),
            key.bytes()
        );
        assert_eq!(
            ring.unwrap(version, &wrapped, b"tenant-2|data|1").unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(
            ring.unwrap(9, &wrapped, b"tenant-1|data|1").unwrap_err(),
            CryptoError::UnknownKeyVersion(9)
        );
        let other = MasterKeyRing::for_testing();
        assert_eq!(
            other.unwrap(1, &wrapped, b"tenant-1|data|1").unwrap_err(),
            CryptoError::Decrypt
        );
    }

    #[test]
    fn the_newest_master_key_wraps_and_older_ones_still_unwrap() {
        let old = MasterKeyRing::parse(&MasterKeyRing::generate_spec()).unwrap();
        let key = Key::generate();
        let (v1, wrapped) = old.wrap(&key, b"aad");
        let spec_new = MasterKeyRing::generate_spec().replacen("1:", "2:", 1);
        let old_spec = format!("1:{}", STANDARD.encode(old.keys[&1].bytes()));
        let both = MasterKeyRing::parse(&format!("{old_spec},{spec_new}")).unwrap();
        assert_eq!(both.newest_version(), 2);
        assert!(both.unwrap(v1, &wrapped, b"aad").is_ok());
        assert_eq!(both.wrap(&key, b"aad").0, 2);
    }

    #[test]
    fn bad_ring_specs_are_refused_without_echoing_key_material() {
        for bad in [
            "",
            "abc",
            "0:AAAA",
            "1:not-base64!",
            "1:AAAA",
            "1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=,1:QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=",
        ] {
            let err = MasterKeyRing::parse(bad).unwrap_err();
            assert!(!err.contains("QUFB"), "{err}");
        }
        assert!(format!("{:?}", MasterKeyRing::for_testing()).contains("versions"));
        assert_eq!(format!("{:?}", Key::generate()), "Key([redacted])");
    }
}
