//! Tenant-defined tags ("key account", "high intent") and which customers carry them.

use crate::domain::ScopedTx;
use std::collections::{HashMap, HashSet};

use entity::enums::Role;
use entity::{customer_tag, tag};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use uuid::Uuid;

use super::customers::dedup;
use super::error::is_unique_violation;
use super::{DomainError, DomainResult, Store, audit, locks, now, scoped, scoped_delete, validate};
use crate::tenancy::TenantScope;

pub async fn create(
    store: &Store,
    scope: &TenantScope,
    name: String,
    color: Option<String>,
) -> DomainResult<tag::Model> {
    require_tag_admin(scope)?;
    let name = validate::required_line("name", Some(name), 64)?;
    let color = validate::color("color", color.as_deref().unwrap_or("#808080"))?;
    let tx = store.begin_scoped(scope).await?;
    hold_name(&tx, &name).await?;
    if let Some(existing) = scoped::<tag::Entity>(scope)
        .filter(tag::Column::Name.eq(&name))
        .one(&tx)
        .await?
    {
        return Err(name_taken(vec![existing.id]));
    }
    let created = tag::Entity::insert(tag::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        name: Set(name),
        color: Set(color),
        created_at: Set(now()),
    })
    .exec_with_returning(&tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(vec![])
        } else {
            e.into()
        }
    })?;
    audit::record(&tx, "tag.create", Some(created.id), &["name", "color"]).await?;
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
    let out = for_customers_in(&tx, customer_ids).await?;
    tx.commit().await?;
    Ok(out)
}

/// `for_customers` inside the caller's transaction.
pub(crate) async fn for_customers_in(
    tx: &ScopedTx,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<tag::Model>>> {
    let scope = tx.scope();
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
pub(crate) async fn ensure_exist(tx: &ScopedTx, field: &str, ids: &[Uuid]) -> DomainResult<()> {
    let scope = tx.scope();
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

fn require_tag_admin(scope: &TenantScope) -> DomainResult<()> {
    if scope.is_at_least(Role::Manager) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only managers and admins may define tags"))
    }
}

/// Holds a tag name until COMMIT, so that a name checked as free stays free.
async fn hold_name(tx: &ScopedTx, name: &str) -> DomainResult<()> {
    locks::hold(tx, &[locks::Key::new("tag-name", name)]).await
}

fn name_taken(candidates: Vec<Uuid>) -> DomainError {
    DomainError::Duplicate {
        field: "name".into(),
        message: "a tag with this name already exists".into(),
        candidates,
    }
}

async fn find(tx: &ScopedTx, id: Uuid) -> DomainResult<tag::Model> {
    let scope = tx.scope();
    scoped::<tag::Entity>(scope)
        .filter(tag::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("tag"))
}

/// Renames or recolours a tag; the customers carrying it keep it.
pub async fn rename(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    name: Option<String>,
    color: Option<String>,
) -> DomainResult<tag::Model> {
    require_tag_admin(scope)?;
    let name = name.map(|n| validate::required_line("name", Some(n), 64)).transpose()?;
    let color = color.map(|c| validate::color("color", &c)).transpose()?;
    let tx = store.begin_scoped(scope).await?;
    let mut current = find(&tx, id).await?;
    let mut changed = Vec::new();
    if let Some(name) = name.filter(|n| *n != current.name) {
        hold_name(&tx, &name).await?;
        if let Some(other) = scoped::<tag::Entity>(scope)
            .filter(tag::Column::Name.eq(&name))
            .one(&tx)
            .await?
        {
            return Err(name_taken(vec![other.id]));
        }
        current.name = name;
        changed.push("name");
    }
    if let Some(color) = color.filter(|c| *c != current.color) {
        current.color = color;
        changed.push("color");
    }
    if changed.is_empty() {
        tx.commit().await?;
        return Ok(current);
    }
    let saved = current.into_active_model().reset_all().update(&tx).await.map_err(|e| {
        if is_unique_violation(&e) {
            name_taken(vec![])
        } else {
            e.into()
        }
    })?;
    audit::record(&tx, "tag.update", Some(id), &changed).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Deletes a tag and takes it off every customer. Returns how many customers carried it.
pub async fn delete(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<u64> {
    require_tag_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    find(&tx, id).await?;
    let untagged = scoped_delete::<customer_tag::Entity>(scope)
        .filter(customer_tag::Column::TagId.eq(id))
        .exec(&tx)
        .await?
        .rows_affected;
    scoped_delete::<tag::Entity>(scope)
        .filter(tag::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    audit::record(&tx, "tag.delete", Some(id), &["name"]).await?;
    tx.commit().await?;
    Ok(untagged)
}

/// Most customers one bulk tagging may touch.
pub const MAX_BULK_CUSTOMERS: usize = 500;

/// Adds (`attach`) or removes tags on many customers at once. Every customer must be in the
/// caller's view (else NOT_FOUND and nothing changes). Customers whose tags changed get a new
/// version, so a concurrent edit made from an older read is refused instead of undoing this.
/// Returns the ids of the customers that changed.
pub async fn retag(
    store: &Store,
    scope: &TenantScope,
    tag_ids: &[Uuid],
    customer_ids: &[Uuid],
    attach: bool,
) -> DomainResult<Vec<Uuid>> {
    super::customers::require_writer(scope)?;
    let tag_ids = dedup(tag_ids);
    let customer_ids = dedup(customer_ids);
    if tag_ids.is_empty() {
        return Err(DomainError::validation("tagIds", "must name at least one tag"));
    }
    if customer_ids.is_empty() {
        return Err(DomainError::validation(
            "customerIds",
            "must name at least one customer",
        ));
    }
    if customer_ids.len() > MAX_BULK_CUSTOMERS {
        return Err(DomainError::validation(
            "customerIds",
            format!("may name at most {MAX_BULK_CUSTOMERS} customers at once"),
        ));
    }
    let tx = store.begin_scoped(scope).await?;
    ensure_exist(&tx, "tagIds", &tag_ids).await?;
    let visible = super::customers::lock_all_visible(&tx, &customer_ids).await?;
    if visible.len() != customer_ids.len() {
        return Err(DomainError::NotFound("customer"));
    }
    let existing: HashSet<(Uuid, Uuid)> = scoped::<customer_tag::Entity>(scope)
        .filter(customer_tag::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(customer_tag::Column::TagId.is_in(tag_ids.iter().copied()))
        .all(&tx)
        .await?
        .into_iter()
        .map(|l| (l.customer_id, l.tag_id))
        .collect();
    let mut changed: Vec<Uuid> = Vec::new();
    if attach {
        let missing: Vec<customer_tag::ActiveModel> = customer_ids
            .iter()
            .flat_map(|c| tag_ids.iter().map(move |t| (*c, *t)))
            .filter(|pair| !existing.contains(pair))
            .map(|(customer_id, tag_id)| {
                if changed.last() != Some(&customer_id) {
                    changed.push(customer_id);
                }
                customer_tag::ActiveModel {
                    tenant_id: Set(scope.tenant_id()),
                    customer_id: Set(customer_id),
                    tag_id: Set(tag_id),
                }
            })
            .collect();
        if !missing.is_empty() {
            customer_tag::Entity::insert_many(missing)
                .exec_without_returning(&tx)
                .await?;
        }
    } else {
        changed = dedup(&existing.iter().map(|(c, _)| *c).collect::<Vec<_>>());
        if !changed.is_empty() {
            scoped_delete::<customer_tag::Entity>(scope)
                .filter(customer_tag::Column::CustomerId.is_in(changed.iter().copied()))
                .filter(customer_tag::Column::TagId.is_in(tag_ids.iter().copied()))
                .exec(&tx)
                .await?;
        }
    }
    if !changed.is_empty() {
        super::customers::bump_versions(&tx, &changed).await?;
        let action = if attach { "customer.tag" } else { "customer.untag" };
        audit::record_with_subjects(&tx, action, None, &["tags"], &changed).await?;
    }
    tx.commit().await?;
    Ok(changed)
}
