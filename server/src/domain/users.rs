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

/// What an admin changes about another user.
pub enum Change {
    Deactivate,
    Reactivate,
    Role(Role),
}

/// Deactivates, reactivates or re-roles a user of the tenant (admins). Nobody acts on a user
/// above their own role or grants one, nobody deactivates themselves, and the tenant always
/// keeps an active owner. A deactivated user's records stay; their login tokens and the API
/// keys they made stop working on every replica as soon as the change is published.
pub async fn change(store: &Store, scope: &TenantScope, user_id: Uuid, change: Change) -> DomainResult<user::Model> {
    if !scope.is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may change users"));
    }
    if scope.actor().api_key_id.is_some() {
        return Err(DomainError::Forbidden(
            "API keys cannot change users; sign in as an admin",
        ));
    }
    let tx = store.begin_scoped(scope).await?;
    // Changes that could remove an owner wait for each other, so two of them cannot each
    // believe the other owner remains.
    let tenant = scope.tenant_id().to_string();
    locks::hold(&tx, &[locks::Key::new("tenant-owners", &tenant)]).await?;
    let current = get(&tx, user_id).await?;
    if current.role > scope.role() {
        return Err(DomainError::Forbidden("cannot change a user above your own role"));
    }
    let (active, role, action, fields): (bool, Role, &str, &[&str]) = match change {
        Change::Deactivate if user_id == scope.actor().user_id => {
            return Err(DomainError::Forbidden(
                "you cannot deactivate yourself; ask another admin",
            ));
        }
        Change::Deactivate => (false, current.role, "user.deactivate", &["active"]),
        Change::Reactivate => (true, current.role, "user.reactivate", &["active"]),
        Change::Role(role) if role > scope.role() => {
            return Err(DomainError::Forbidden("cannot grant a role above your own"));
        }
        Change::Role(role) => (current.active, role, "user.change_role", &["role"]),
    };
    let loses_an_owner = current.role == Role::Owner && current.active && (!active || role != Role::Owner);
    if loses_an_owner {
        let owners = tx
            .select::<user::Entity>()
            .filter(user::Column::Role.eq(Role::Owner))
            .filter(user::Column::Active.eq(true))
            .count(&tx)
            .await?;
        if owners <= 1 {
            return Err(DomainError::Conflict(
                "the tenant's last active owner cannot be deactivated or demoted; make another owner first".into(),
            ));
        }
    }
    if current.active == active && current.role == role {
        tx.commit().await?;
        return Ok(current);
    }
    tx.update::<user::Entity>()
        .filter(user::Column::Id.eq(user_id))
        .set(user::ActiveModel {
            active: Set(active),
            role: Set(role),
            updated_at: Set(now()),
            ..Default::default()
        })
        .exec(&tx)
        .await?;
    audit::record(&tx, action, Some(user_id), fields).await?;
    let changed = get(&tx, user_id).await?;
    tx.commit().await?;
    store.invalidate(crate::cache::Invalidation::User(user_id)).await;
    Ok(changed)
}

/// The caller changes their own name.
pub async fn update_profile(store: &Store, scope: &TenantScope, name: String) -> DomainResult<user::Model> {
    if scope.actor().api_key_id.is_some() {
        return Err(DomainError::Forbidden("an API key has no profile; sign in"));
    }
    let name = validate::required_line("name", Some(name), 200)?;
    let tx = store.begin_scoped(scope).await?;
    let user_id = scope.actor().user_id;
    tx.update::<user::Entity>()
        .filter(user::Column::Id.eq(user_id))
        .set(user::ActiveModel {
            name: Set(name),
            updated_at: Set(now()),
            ..Default::default()
        })
        .exec(&tx)
        .await?;
    audit::record(&tx, "user.update_profile", Some(user_id), &["name"]).await?;
    let updated = get(&tx, user_id).await?;
    tx.commit().await?;
    Ok(updated)
}
