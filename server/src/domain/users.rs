//! Users of a tenant and their roles.

use std::collections::HashMap;

use entity::enums::Role;
use entity::user;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::error::UniqueKey;
use super::{DomainError, DomainResult, ScopedTx, Store, audit, locks, now, validate};
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
    if let Some(existing) = tx
        .select::<user::Entity>()
        .filter(user::Column::Email.eq(&email))
        .one(&tx)
        .await?
    {
        return Err(duplicate_email(existing.id));
    }
    let at = now();
    let created = tx
        .insert(user::ActiveModel {
            id: Set(Uuid::now_v7()),
            email: Set(email),
            name: Set(name),
            role: Set(input.role),
            password_hash: Set(password_hash),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .await
        .on_unique(|| duplicate_email(Uuid::nil()))?;
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

/// Everyone in the tenant, by name.
pub async fn list(tx: &ScopedTx) -> DomainResult<Vec<user::Model>> {
    tx.select::<user::Entity>()
        .order_by_asc(user::Column::Name)
        .all(tx)
        .await
}

/// Users by id in one query (the owners of a page of customers), inside the caller's
/// transaction.
pub(crate) async fn by_ids_in(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, user::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let users = tx
        .select::<user::Entity>()
        .filter(user::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?;
    Ok(users.into_iter().map(|u| (u.id, u)).collect())
}

pub async fn get(tx: &ScopedTx, id: Uuid) -> DomainResult<user::Model> {
    by_ids_in(tx, &[id])
        .await?
        .remove(&id)
        .ok_or(DomainError::NotFound("user"))
}
