//! Signing in and recognising callers: passwords to tokens, tokens and API keys to scopes.

use std::time::Duration;

use chrono::Utc;
use entity::{api_key, user};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::{DomainError, DomainResult, Store, audit, now, scoped_update, tenants};
use crate::config::Secret;
use crate::tenancy::auth::{self, Claims};
use crate::tenancy::{Actor, TenantScope};

#[derive(Clone)]
pub struct Authenticator {
    secret: Secret,
    ttl: Duration,
}

const BAD_LOGIN: &str = "unknown tenant, e-mail or password";

impl Authenticator {
    pub fn new(secret: Secret, ttl: Duration) -> Self {
        Self { secret, ttl }
    }

    pub fn issue(&self, user: &user::Model) -> String {
        let iat = Utc::now().timestamp();
        let claims = Claims {
            sub: user.id,
            tid: user.tenant_id,
            iat,
            exp: iat + self.ttl.as_secs() as i64,
        };
        auth::issue_token(&self.secret, &claims)
    }

    /// Exchanges credentials for a token. Every failure reads the same and takes as long,
    /// so the answer tells nothing about which part was wrong.
    pub async fn login(
        &self,
        store: &Store,
        tenant_slug: &str,
        email: &str,
        password: Secret,
        request_id: Option<String>,
    ) -> DomainResult<(String, user::Model)> {
        let tenant = tenants::find_by_slug(store, tenant_slug).await?;
        let user = match &tenant {
            Some(t) => {
                let tx = store.begin(t.id).await?;
                let found = user::Entity::find()
                    .filter(user::Column::TenantId.eq(t.id))
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
        audit::record(&tx, &scope, "user.login", Some(user.id), &[]).await?;
        tx.commit().await?;
        Ok((self.issue(&user), user))
    }

    /// Resolves a bearer credential (login token or `dsk_` API key) to the caller's scope.
    pub async fn authenticate(
        &self,
        store: &Store,
        bearer: &str,
        request_id: Option<String>,
    ) -> DomainResult<TenantScope> {
        if bearer.starts_with(auth::API_KEY_PREFIX) {
            return authenticate_api_key(store, bearer, request_id).await;
        }
        let claims = auth::verify_token(&self.secret, bearer, Utc::now().timestamp()).map_err(|e| match e {
            auth::TokenError::Expired => DomainError::Unauthenticated("token expired; sign in again"),
            _ => DomainError::Unauthenticated("invalid token"),
        })?;
        let tx = store.begin(claims.tid).await?;
        let user = user::Entity::find_by_id(claims.sub)
            .filter(user::Column::TenantId.eq(claims.tid))
            .filter(user::Column::Active.eq(true))
            .one(&tx)
            .await?;
        tx.commit().await?;
        let user = user.ok_or(DomainError::Unauthenticated("user no longer active"))?;
        Ok(scope_for_user(&user, None, request_id))
    }
}

fn scope_for_user(user: &user::Model, api_key_id: Option<uuid::Uuid>, request_id: Option<String>) -> TenantScope {
    TenantScope {
        tenant_id: user.tenant_id,
        actor: Actor {
            user_id: user.id,
            api_key_id,
            role: user.role,
        },
        request_id,
    }
}

async fn authenticate_api_key(store: &Store, secret: &str, request_id: Option<String>) -> DomainResult<TenantScope> {
    let invalid = DomainError::Unauthenticated("invalid API key");
    let tenant_id = auth::api_key_tenant(secret).ok_or(invalid)?;
    let tx = store.begin(tenant_id).await?;
    let key = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant_id))
        .filter(api_key::Column::SecretHash.eq(auth::sha256_hex(secret)))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(&tx)
        .await?;
    let Some(key) = key else {
        return Err(DomainError::Unauthenticated("invalid API key"));
    };
    let creator = user::Entity::find_by_id(key.created_by)
        .filter(user::Column::TenantId.eq(tenant_id))
        .filter(user::Column::Active.eq(true))
        .one(&tx)
        .await?
        .ok_or(DomainError::Unauthenticated(
            "the API key's creator is no longer active",
        ))?;
    // Note when a key was last used, at most once a minute per key.
    let at = now();
    if key.last_used_at.is_none_or(|t| at - t > chrono::Duration::minutes(1)) {
        let mut scope = scope_for_user(&creator, Some(key.id), None);
        scope.tenant_id = tenant_id;
        scoped_update::<api_key::Entity>(&scope)
            .filter(api_key::Column::Id.eq(key.id))
            .set(api_key::ActiveModel {
                last_used_at: Set(Some(at)),
                ..Default::default()
            })
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    let mut scope = scope_for_user(&creator, Some(key.id), request_id);
    // A key never acts above its creator's current role.
    scope.actor.role = key.role.min(creator.role);
    Ok(scope)
}
