//! Tenant-defined tags ("key account", "high intent") and which customers carry them.

use std::collections::HashMap;

use entity::enums::Role;
use entity::{customer_tag, tag};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::error::is_unique_violation;
use super::{DomainError, DomainResult, Store, audit, now, scoped, validate};
use crate::tenancy::TenantScope;

pub async fn create(
    store: &Store,
    scope: &TenantScope,
    name: String,
    color: Option<String>,
) -> DomainResult<tag::Model> {
    if !scope.is_at_least(Role::Manager) {
        return Err(DomainError::Forbidden("only managers and admins may define tags"));
    }
    let name = validate::required_text("name", Some(name), 64)?;
    let color = validate::color("color", color.as_deref().unwrap_or("#808080"))?;
    let tx = store.begin_scoped(scope).await?;
    if let Some(existing) = scoped::<tag::Entity>(scope)
        .filter(tag::Column::Name.eq(&name))
        .one(&tx)
        .await?
    {
        return Err(DomainError::Duplicate {
            field: "name".into(),
            message: "a tag with this name already exists".into(),
            candidates: vec![existing.id],
        });
    }
    let created = tag::Entity::insert(tag::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id),
        name: Set(name),
        color: Set(color),
        created_at: Set(now()),
    })
    .exec_with_returning(&tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            DomainError::Duplicate {
                field: "name".into(),
                message: "a tag with this name already exists".into(),
                candidates: vec![],
            }
        } else {
            e.into()
        }
    })?;
    audit::record(&tx, scope, "tag.create", Some(created.id), &["name", "color"]).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn list(store: &Store, scope: &TenantScope) -> DomainResult<Vec<tag::Model>> {
    let tx = store.begin_scoped(scope).await?;
    let tags = scoped::<tag::Entity>(scope)
        .order_by_asc(tag::Column::Name)
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(tags)
}

/// Tags of many customers in two queries, whatever the number of customers.
pub async fn for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<tag::Model>>> {
    if customer_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let tx = store.begin_scoped(scope).await?;
    let out = for_customers_in(&tx, scope, customer_ids).await?;
    tx.commit().await?;
    Ok(out)
}

/// `for_customers` inside the caller's transaction.
pub(crate) async fn for_customers_in(
    tx: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<tag::Model>>> {
    let mut out: HashMap<Uuid, Vec<tag::Model>> = HashMap::new();
    let links = scoped::<customer_tag::Entity>(scope)
        .filter(customer_tag::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .all(tx)
        .await?;
    let tag_ids: Vec<Uuid> = links.iter().map(|l| l.tag_id).collect();
    let tags: HashMap<Uuid, tag::Model> = if tag_ids.is_empty() {
        HashMap::new()
    } else {
        scoped::<tag::Entity>(scope)
            .filter(tag::Column::Id.is_in(tag_ids))
            .all(tx)
            .await?
            .into_iter()
            .map(|t| (t.id, t))
            .collect()
    };
    for link in links {
        if let Some(t) = tags.get(&link.tag_id) {
            out.entry(link.customer_id).or_default().push(t.clone());
        }
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

/// Checks that every id names a tag of this tenant; unknown ids are a validation error on `field`.
pub(crate) async fn ensure_exist(
    tx: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    field: &str,
    ids: &[Uuid],
) -> DomainResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = scoped::<tag::Entity>(scope)
        .filter(tag::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?;
    if found.len() != ids.iter().collect::<std::collections::HashSet<_>>().len() {
        return Err(DomainError::validation(field, "contains an unknown tag"));
    }
    Ok(())
}
