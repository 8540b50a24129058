//! API keys for machines: a role, a name, shown once, stored only as a hash.

use entity::api_key;
use entity::enums::Role;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::{DomainError, DomainResult, ScopedTx, Store, audit, now, validate};
use crate::secret::Secret;
use crate::tenancy::TenantScope;
use crate::tenancy::auth::new_api_key;

/// Keys are managed by people: a leaked key must not be able to mint more keys that outlive it.
fn require_admin(scope: &TenantScope) -> DomainResult<()> {
    if scope.actor().api_key_id.is_some() {
        return Err(DomainError::Forbidden(
            "API keys cannot manage API keys; sign in as an admin",
        ));
    }
    if scope.is_at_least(Role::Admin) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only admins may manage API keys"))
    }
}

/// Returns the stored key and its secret, which is never available again.
pub async fn create(
    store: &Store,
    scope: &TenantScope,
    name: String,
    role: Role,
) -> DomainResult<(api_key::Model, Secret)> {
    require_admin(scope)?;
    if role > scope.role() {
        return Err(DomainError::Forbidden("cannot grant a role above your own"));
    }
    let name = validate::required_line("name", Some(name), 200)?;
    let key = new_api_key(scope.tenant_id());
    let tx = store.begin_scoped(scope).await?;
    let created = tx
        .insert(api_key::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            role: Set(role),
            prefix: Set(key.display_prefix),
            secret_hash: Set(key.secret_hash),
            created_by: Set(scope.actor().user_id),
            created_at: Set(now()),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        })
        .await?;
    audit::record(&tx, "api_key.create", Some(created.id), &["name", "role"]).await?;
    tx.commit().await?;
    Ok((created, key.secret))
}

pub async fn revoke(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<api_key::Model> {
    require_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let key = tx
        .select::<api_key::Entity>()
        .filter(api_key::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(DomainError::NotFound("API key"))?;
    if key.revoked_at.is_some() {
        tx.commit().await?;
        return Ok(key);
    }
    let revoked = tx
        .update::<api_key::Entity>()
        .filter(api_key::Column::Id.eq(id))
        .set(api_key::ActiveModel {
            revoked_at: Set(Some(now())),
            ..Default::default()
        })
        .exec_with_returning(&tx)
        .await?
        .pop()
        .ok_or(DomainError::NotFound("API key"))?;
    audit::record(&tx, "api_key.revoke", Some(id), &["revoked_at"]).await?;
    tx.commit().await?;
    store.invalidate(crate::cache::Invalidation::ApiKey(id)).await;
    Ok(revoked)
}

pub async fn list(tx: &ScopedTx) -> DomainResult<Vec<api_key::Model>> {
    require_admin(tx.scope())?;
    tx.select::<api_key::Entity>()
        .order_by_desc(api_key::Column::CreatedAt)
        .all(tx)
        .await
}
