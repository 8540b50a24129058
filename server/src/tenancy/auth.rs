//! Credentials: argon2id passwords, HS256 login tokens (JWT) and `dsk_` API keys.
//!
//! Tokens carry only who and which tenant; the role is read from the database on every
//! request so a demotion or deactivation takes effect at once.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::secret::{Secret, random_token};

pub fn sha256_hex(input: &str) -> String {
    Sha256::digest(input.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Each argon2 run takes ~19 MiB and a core; a burst of logins must queue, not exhaust memory.
fn hashing_permits() -> &'static tokio::sync::Semaphore {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    PERMITS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores * 2)
    })
}

/// argon2id with the crate's recommended parameters; CPU-heavy, so it runs off the async threads.
pub async fn hash_password(password: Secret) -> anyhow::Result<String> {
    let _permit = hashing_permits().acquire().await?;
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("Failed to hash password: {e}"))
    })
    .await?
}

pub async fn verify_password(password: Secret, phc: String) -> bool {
    let Ok(_permit) = hashing_permits().acquire().await else {
        return false;
    };
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that answer takes as long as a wrong password.
pub fn decoy_password_hash() -> &'static str {
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$R2RzJW9ot9I1WzU3Hj4Vj8vQEI0xgqr5cKkj1qwV5UQ"
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: Uuid,
    /// Tenant id.
    pub tid: Uuid,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("bad token signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
}

/// HS256 only: the algorithm is fixed here, never taken from the token's header, so `none`
/// and other algorithms (and an HMAC keyed with a public key) are refused before any check.
const ALGORITHM: Algorithm = Algorithm::HS256;

/// A signed login token. Signing fails only for an empty key, which the configuration
/// refuses; should it happen anyway the caller answers INTERNAL rather than the process
/// panicking. The error names the library's reason, never the key.
pub fn issue_token(secret: &Secret, claims: &Claims) -> anyhow::Result<String> {
    EncodingKey::from_secret(secret.expose().as_bytes())
        .and_then(|key| jsonwebtoken::encode(&Header::new(ALGORITHM), claims, &key))
        .map_err(|e| anyhow::anyhow!("Failed to sign a login token: {e}"))
}

/// The claims of a token this server signed with `secret`, unless it expired by `now` (Unix
/// seconds). The library's own expiry check reads the wall clock and allows leeway, so it is
/// off and `exp` is checked here against `now`, as the caller sees time.
pub fn verify_token(secret: &Secret, token: &str, now: i64) -> Result<Claims, TokenError> {
    let mut validation = Validation::new(ALGORITHM);
    validation.set_required_spec_claims(&["exp"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    // No token was signed with an empty key.
    let key = DecodingKey::from_secret(secret.expose().as_bytes()).map_err(|_| TokenError::BadSignature)?;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?
        .claims;
    if claims.exp <= now {
        return Err(TokenError::Expired);
    }
    Ok(claims)
}

pub const API_KEY_PREFIX: &str = "dsk_";

/// A freshly made API key: the full secret (shown once) and what is stored of it.
pub struct NewApiKey {
    pub secret: Secret,
    pub display_prefix: String,
    pub secret_hash: String,
}

/// `dsk_<tenant id, 32 hex>_<32 random bytes>`; the tenant part lets the key be checked
/// inside that tenant's scope, so the lookup itself is confined by row-level security.
pub fn new_api_key(tenant_id: Uuid) -> NewApiKey {
    let random = random_token(32);
    let secret = format!("{API_KEY_PREFIX}{}_{random}", tenant_id.simple());
    NewApiKey {
        display_prefix: format!("{API_KEY_PREFIX}…{}", &random[..6]),
        secret_hash: sha256_hex(&secret),
        secret: Secret::new(secret),
    }
}

/// The tenant an API key claims to belong to, if it has the right shape.
pub fn api_key_tenant(secret: &str) -> Option<Uuid> {
    let rest = secret.strip_prefix(API_KEY_PREFIX)?;
    let (tenant, random) = rest.split_once('_')?;
    if tenant.len() != 32 || random.len() < 32 {
        return None;
    }
    Uuid::try_parse(tenant).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn secret() -> Secret {
        Secret::new("0123456789abcdef0123456789abcdef")
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::now_v7(),
            tid: Uuid::now_v7(),
            iat: 0,
            exp,
        }
    }

    #[test]
    fn signing_with_an_empty_secret_is_an_error_not_a_panic() {
        let err = issue_token(&Secret::new(""), &claims(2_000)).unwrap_err();
        assert!(format!("{err:#}").contains("sign a login token"), "{err:#}");
    }

    #[test]
    fn a_token_verifies_with_its_secret_and_returns_its_claims() {
        let c = claims(2_000);
        let token = issue_token(&secret(), &c).unwrap();
        assert_eq!(verify_token(&secret(), &token, 1_000), Ok(c));
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = issue_token(&Secret::new("another-secret-another-secret-xx"), &claims(2_000)).unwrap();
        assert_eq!(verify_token(&secret(), &token, 1_000), Err(TokenError::BadSignature));
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = issue_token(&secret(), &claims(999)).unwrap();
        assert_eq!(verify_token(&secret(), &token, 1_000), Err(TokenError::Expired));
    }

    #[test]
    fn a_token_with_changed_claims_or_algorithm_is_refused() {
        let token = issue_token(&secret(), &claims(2_000)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged_body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(9_999)).unwrap());
        let forged = format!("{}.{}.{}", parts[0], forged_body, parts[2]);
        assert_eq!(verify_token(&secret(), &forged, 1_000), Err(TokenError::BadSignature));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{}.{}.", none_header, parts[1]);
        assert_eq!(verify_token(&secret(), &unsigned, 1_000), Err(TokenError::Malformed));
        assert_eq!(verify_token(&secret(), "a.b", 1_000), Err(TokenError::Malformed));
    }

    /// A token for `c` whose header names `alg` and whose signature is HMAC-SHA256 or -SHA512
    /// under the right secret, or empty.
    fn token_with_header(alg: &str, c: &Claims) -> String {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap());
        let signing_input = format!("{header}.{body}");
        let key = EncodingKey::from_secret(secret().expose().as_bytes()).unwrap();
        let signature = match alg {
            "HS256" => jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap(),
            "HS512" => jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS512).unwrap(),
            _ => String::new(),
        };
        format!("{signing_input}.{signature}")
    }

    #[test]
    fn only_hs256_is_accepted_whatever_the_header_claims() {
        let c = claims(2_000);
        assert_eq!(
            verify_token(&secret(), &token_with_header("HS256", &c), 1_000),
            Ok(c.clone())
        );
        for alg in ["none", "None", "HS512", "RS256", "ES256", "EdDSA"] {
            assert_eq!(
                verify_token(&secret(), &token_with_header(alg, &c), 1_000),
                Err(TokenError::Malformed),
                "{alg}"
            );
        }
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &c,
            &EncodingKey::from_secret(secret().expose().as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(verify_token(&secret(), &hs512, 1_000), Err(TokenError::Malformed));
    }

    #[test]
    fn expiry_is_checked_against_the_given_time_without_leeway() {
        let token = issue_token(&secret(), &claims(1_000)).unwrap();
        assert_eq!(verify_token(&secret(), &token, 1_000), Err(TokenError::Expired));
        assert!(verify_token(&secret(), &token, 999).is_ok());
        // Far past and far future for the wall clock alike: only `now` decides.
        let future = issue_token(&secret(), &claims(32_503_680_000)).unwrap();
        assert_eq!(
            verify_token(&secret(), &future, 32_503_680_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn a_token_without_exp_is_refused() {
        let body = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"{}","tid":"{}","iat":0}}"#,
            Uuid::now_v7(),
            Uuid::now_v7()
        ));
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
        let signing_input = format!("{header}.{body}");
        let key = EncodingKey::from_secret(secret().expose().as_bytes()).unwrap();
        let signature = jsonwebtoken::crypto::sign(signing_input.as_bytes(), &key, Algorithm::HS256).unwrap();
        let token = format!("{signing_input}.{signature}");
        assert_eq!(verify_token(&secret(), &token, 1_000), Err(TokenError::Malformed));
    }

    #[test]
    fn api_keys_name_their_tenant_and_are_stored_only_as_a_hash() {
        let tenant = Uuid::now_v7();
        let key = new_api_key(tenant);
        assert_eq!(api_key_tenant(key.secret.expose()), Some(tenant));
        assert_eq!(key.secret_hash, sha256_hex(key.secret.expose()));
        assert!(!key.secret_hash.contains(&key.secret.expose()[10..]));
        assert_eq!(api_key_tenant("dsk_nothex_abc"), None);
        assert_eq!(api_key_tenant("Bearer something"), None);
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password(Secret::new("correct horse battery")).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(Secret::new("correct horse battery"), hash.clone()).await);
        assert!(!verify_password(Secret::new("wrong horse battery"), hash).await);
        assert!(!verify_password(Secret::new("x"), decoy_password_hash().into()).await);
    }
}
