//! Signing in and recognising callers: passwords to tokens, tokens and API keys to scopes.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cache::{Invalidation, Limit, Limiter, TtlMap};

use chrono::Utc;
use entity::{api_key, user};
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter};

use super::{DomainError, DomainResult, Store, audit, now, tenants, validate};
use crate::secret::Secret;
use crate::tenancy::auth::{self, Claims};
use crate::tenancy::{Actor, TenantScope};

#[derive(Clone)]
pub struct Authenticator {
    secret: Secret,
    ttl: Duration,
    /// Recently resolved credentials (by SHA-256 of the credential), so most requests skip
    /// the database; revoking a key or changing a user drops them on every replica.
    recent: Arc<TtlMap<String, (Uuid, Actor)>>,
    limiter: Arc<Limiter>,
    login_limits: LoginLimits,
}

/// How many failed sign-ins are tolerated before sign-in is refused for a while.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    pub per_account: Limit,
    pub per_address: Limit,
}

impl LoginLimits {
    pub fn per_minute(account: u32, address: u32) -> Self {
        let limit = |n: u32| Limit {
            per_second: f64::from(n.max(1)) / 60.0,
            burst: n.max(1),
        };
        Self {
            per_account: limit(account),
            per_address: limit(address),
        }
    }
}

const CREDENTIAL_CACHE: Duration = Duration::from_secs(30);

const BAD_LOGIN: &str = "unknown tenant, e-mail or password";

impl Authenticator {
    pub fn new(secret: Secret, ttl: Duration, store: &Store, login_limits: LoginLimits) -> Self {
        let recent: Arc<TtlMap<String, (Uuid, Actor)>> = Arc::new(TtlMap::new(CREDENTIAL_CACHE));
        let cache = recent.clone();
        store.shared().invalidations.listen(move |change| match change {
            Invalidation::User(id) => cache.remove_where(|_, (_, actor)| actor.user_id == *id),
            Invalidation::ApiKey(id) => cache.remove_where(|_, (_, actor)| actor.api_key_id == Some(*id)),
            Invalidation::Tenant(id) => cache.remove_where(|_, (tenant, _)| tenant == id),
            Invalidation::All => cache.clear(),
            Invalidation::CustomFields(_) => {}
        });
        Self {
            secret,
            ttl,
            recent,
            limiter: store.shared().limiter.clone(),
            login_limits,
        }
    }

    pub fn issue(&self, user: &user::Model) -> DomainResult<String> {
        let iat = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            tid: user.tenant_id,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
        };
        auth::issue_token(&self.secret, &claims).map_err(DomainError::Internal)
    }

    /// Exchanges credentials for a token. Every failure reads the same and takes as long,
    /// so the answer tells nothing about which part was wrong.
    pub async fn login(
        &self,
        store: &Store,
        tenant_slug: &str,
        email: &str,
        password: Secret,
        client: Option<IpAddr>,
        request_id: Option<String>,
    ) -> DomainResult<(String, user::Model)> {
        // Junk is refused before it costs an attempt, reaches a query or is logged.
        validate::token("tenantSlug", tenant_slug, 64)?;
        validate::token("email", email, 254)?;
        validate::token("password", password.expose(), 256)?;
        // Attempts are counted per account and per client address before the password is
        // checked (so parallel guesses cannot all slip through); once either budget is spent,
        // even the right password waits, which makes guessing slow.
        let account_key = format!(
            "login:{}:{}",
            tenant_slug.trim().to_lowercase(),
            auth::sha256_hex(&email.trim().to_lowercase())
        );
        let address_key = client.map(|ip| format!("login-ip:{}", crate::cache::limiter::address_key(ip)));
        let mut waits = vec![self.limiter.check(&account_key, self.login_limits.per_account, 1).await];
        if let Some(key) = &address_key {
            waits.push(self.limiter.check(key, self.login_limits.per_address, 1).await);
        }
        if let Some(wait) = waits.iter().filter(|d| !d.allowed).map(|d| d.retry_after).max() {
            tracing::info!(tenant = tenant_slug, "sign-in refused: too many failed attempts");
            return Err(DomainError::RateLimited { retry_after: wait });
        }
        let tenant = tenants::find_by_slug(store, tenant_slug).await?;
        let user = match &tenant {
            Some(t) => {
                let tx = store.begin_tenant_job(t.id).await?;
                let found = tx
                    .select::<user::Entity>()
                    .filter(user::Column::Email.eq(email.trim().to_lowercase()))
                    .filter(user::Column::Active.eq(true))
                    .one(&tx)
                    .await?;
                tx.commit().await?;
                found
            }
            None => None,
        };
        let hash = user
            .as_ref()
            .map_or_else(|| auth::decoy_password_hash().to_owned(), |u| u.password_hash.clone());
        let password_ok = auth::verify_password(password, hash).await;
        let Some(user) = user.filter(|_| password_ok) else {
            tracing::info!(tenant = tenant_slug, "login refused");
            return Err(DomainError::Unauthenticated(BAD_LOGIN));
        };
        let scope = scope_for_user(&user, None, request_id);
        let tx = store.begin_scoped(&scope).await?;
        audit::record(&tx, "user.login", Some(user.id), &[]).await?;
        tx.commit().await?;
        Ok((self.issue(&user)?, user))
    }

    /// Resolves a bearer credential (login token or `dsk_` API key) to the caller's scope.
    pub async fn authenticate(
        &self,
        store: &Store,
        bearer: &str,
        request_id: Option<String>,
    ) -> DomainResult<TenantScope> {
        let is_api_key = bearer.starts_with(auth::API_KEY_PREFIX);
        // A login token's signature and expiry are checked every time; only the lookups are cached.
        let claims = if is_api_key {
            None
        } else {
            Some(
                auth::verify_token(&self.secret, bearer, Utc::now().timestamp()).map_err(|e| match e {
                    auth::TokenError::Expired => DomainError::Unauthenticated("token expired; sign in again"),
                    _ => DomainError::Unauthenticated("invalid token"),
                })?,
            )
        };
        let cache_key = auth::sha256_hex(bearer);
        // Read before the database, so that a revocation landing meanwhile keeps the result out of the cache.
        let generation = self.recent.generation();
        if let Some((tenant_id, actor)) = self.recent.get(&cache_key) {
            return Ok(TenantScope::new(tenant_id, actor, request_id));
        }
        let scope = match claims {
            None => authenticate_api_key(store, bearer, request_id).await?,
            Some(claims) => authenticate_user(store, &claims, request_id).await?,
        };
        self.recent
            .insert_unless_invalidated(generation, cache_key, (scope.tenant_id(), scope.actor().clone()));
        Ok(scope)
    }
}

async fn authenticate_user(store: &Store, claims: &Claims, request_id: Option<String>) -> DomainResult<TenantScope> {
    let tx = store.begin_tenant_job(claims.tid).await?;
    let user = tx
        .select::<user::Entity>()
        .filter(user::Column::Id.eq(claims.sub))
        .filter(user::Column::Active.eq(true))
        .one(&tx)
        .await?;
    tx.commit().await?;
    let user = user.ok_or(DomainError::Unauthenticated("user no longer active"))?;
    Ok(scope_for_user(&user, None, request_id))
}

fn scope_for_user(user: &user::Model, api_key_id: Option<uuid::Uuid>, request_id: Option<String>) -> TenantScope {
    scope_with_role(user, api_key_id, user.role, request_id)
}

fn scope_with_role(
    user: &user::Model,
    api_key_id: Option<uuid::Uuid>,
    role: entity::enums::Role,
    request_id: Option<String>,
) -> TenantScope {
    TenantScope::new(
        user.tenant_id,
        Actor {
            user_id: user.id,
            api_key_id,
            role,
        },
        request_id,
    )
}

async fn authenticate_api_key(store: &Store, secret: &str, request_id: Option<String>) -> DomainResult<TenantScope> {
    let invalid = DomainError::Unauthenticated("invalid API key");
    let tenant_id = auth::api_key_tenant(secret).ok_or(invalid)?;
    let tx = store.begin_tenant_job(tenant_id).await?;
    let key = tx
        .select::<api_key::Entity>()
        .filter(api_key::Column::SecretHash.eq(auth::sha256_hex(secret)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(&tx)
        .await?;
    let Some(key) = key else {
        return Err(DomainError::Unauthenticated("invalid API key"));
    };
    let creator = tx
        .select::<user::Entity>()
        .filter(user::Column::Id.eq(key.created_by))
        .filter(user::Column::Active.eq(true))
        .one(&tx)
        .await?
        .ok_or(DomainError::Unauthenticated(
            "the API key's creator is no longer active",
        ))?;
    // Note when a key was last used, at most once a minute per key.
    let at = now();
    if key.last_used_at.is_none_or(|t| at - t > chrono::Duration::minutes(1)) {
        tx.update::<api_key::Entity>()
            .filter(api_key::Column::Id.eq(key.id))
            .set(api_key::ActiveModel {
                last_used_at: Set(Some(at)),
                ..Default::default()
            })
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    // A key never acts above its creator's current role.
    Ok(scope_with_role(
        &creator,
        Some(key.id),
        key.role.min(creator.role),
        request_id,
    ))
}
