//! Users of a tenant and their roles.

use crate::domain::ScopedTx;
use std::collections::HashMap;

use entity::enums::Role;
use entity::user;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::error::is_unique_violation;
use super::{DomainError, DomainResult, Store, audit, locks, now, scoped, validate};
use crate::secret::Secret;
use crate::tenancy::TenantScope;
use crate::tenancy::auth::hash_password;

pub struct NewUser {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: Secret,
}

/// Admins add users; nobody grants a role above their own, and only owners make owners.
pub async fn create(store: &Store, scope: &TenantScope, input: NewUser) -> DomainResult<user::Model> {
    if !scope.is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may add users"));
    }
    if scope.actor().api_key_id.is_some() {
        // A leaked key must not be able to create password holders that outlive its revocation.
        return Err(DomainError::Forbidden("API keys cannot add users; sign in as an admin"));
    }
    if input.role > scope.role() {
        return Err(DomainError::Forbidden("cannot grant a role above your own"));
    }
    let email = validate::email("email", &input.email)?;
    let name = validate::required_line("name", Some(input.name), 200)?;
    validate::password("password", input.password.expose())?;
    let password_hash = hash_password(input.password).await?;

    let tx = store.begin_scoped(scope).await?;
    // Held until COMMIT, so that an e-mail checked as free stays free.
    locks::hold(&tx, &[locks::Key::new("user-email", &email)]).await?;
    if let Some(existing) = scoped::<user::Entity>(scope)
        .filter(user::Column::Email.eq(&email))
        .one(&tx)
        .await?
    {
        return Err(duplicate_email(existing.id));
    }
    let at = now();
    let inserted = user::Entity::insert(user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        email: Set(email),
        name: Set(name),
        role: Set(input.role),
        password_hash: Set(password_hash),
        active: Set(true),
        created_at: Set(at),
        updated_at: Set(at),
    })
    .exec_with_returning(&tx)
    .await;
    let created = match inserted {
        Ok(u) => u,
        Err(e) if is_unique_violation(&e) => return Err(duplicate_email(Uuid::nil())),
        Err(e) => return Err(e.into()),
    };
    audit::record(&tx, "user.create", Some(created.id), &["email", "name", "role"]).await?;
    tx.commit().await?;
    Ok(created)
}

fn duplicate_email(existing: Uuid) -> DomainError {
    DomainError::Duplicate {
        field: "email".into(),
        message: "a user with this e-mail already exists".into(),
        candidates: if existing.is_nil() { vec![] } else { vec![existing] },
    }
}

pub async fn list(store: &Store, scope: &TenantScope) -> DomainResult<Vec<user::Model>> {
    let tx = store.begin_scoped(scope).await?;
    let users = scoped::<user::Entity>(scope)
        .order_by_asc(user::Column::Name)
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(users)
}

/// Users by id in one query (for owners of a page of customers).
pub async fn by_ids(store: &Store, scope: &TenantScope, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, user::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let tx = store.begin_scoped(scope).await?;
    let users = by_ids_in(&tx, ids).await?;
    tx.commit().await?;
    Ok(users)
}

/// `by_ids` inside the caller's transaction.
pub(crate) async fn by_ids_in(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, user::Model>> {
    let scope = tx.scope();
    let users = scoped::<user::Entity>(scope)
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}

pub async fn get(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<user::Model> {
    by_ids(store, scope, &[id])
        .await?
        .remove(&id)
        .ok_or(DomainError::NotFound("user"))
}
