//! Tenant-defined tags ("key account", "high intent") and which customers carry them.

use std::collections::{HashMap, HashSet};

use entity::enums::Role;
use entity::{customer_tag, tag};
use sea_orm::sea_query::{Alias, Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DbErr, FromQueryResult, IntoActiveModel, QueryFilter, QueryOrder,
    QueryResult, QuerySelect,
};
use uuid::Uuid;

use super::customers::dedup;
use super::error::UniqueKey;
use super::{DomainError, DomainResult, ScopedTx, Store, access, audit, locks, now, validate};
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
    if let Some(existing) = named(&tx, &name).await? {
        return Err(name_taken(vec![existing.id]));
    }
    let created = tx
        .insert(tag::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tx.tenant_id()),
            name: Set(name),
            color: Set(color),
            created_at: Set(now()),
        })
        .await
        .on_unique(|| name_taken(vec![]))?;
    audit::record(&tx, "tag.create", Some(created.id), &["name", "color"]).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn list(tx: &ScopedTx) -> DomainResult<Vec<tag::Model>> {
    tx.select::<tag::Entity>().order_by_asc(tag::Column::Name).all(tx).await
}

/// Tags of many customers in two queries, whatever the number of customers.
pub async fn for_customers(tx: &ScopedTx, customer_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Vec<tag::Model>>> {
    let mut out: HashMap<Uuid, Vec<tag::Model>> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(out);
    }
    let mut tagged = tx.select::<tag::Entity>();
    QuerySelect::query(&mut tagged)
        .inner_join(
            customer_tag::Entity,
            Expr::col((customer_tag::Entity, customer_tag::Column::TagId)).equals((tag::Entity, tag::Column::Id)),
        )
        .expr_as(
            Expr::col((customer_tag::Entity, customer_tag::Column::CustomerId)),
            Alias::new(TAGGED_CUSTOMER),
        );
    let rows: Vec<TagOfCustomer> = tagged
        .filter(customer_tag::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .models(tx)
        .await?;
    for row in rows {
        out.entry(row.customer_id).or_default().push(row.tag);
    }
    for list in out.values_mut() {
        list.sort_by(|a, b| a.name.cmp(&b.name));
    }
    Ok(out)
}

const TAGGED_CUSTOMER: &str = "tagged_customer";

/// A tag with the customer it was read for.
struct TagOfCustomer {
    customer_id: Uuid,
    tag: tag::Model,
}

impl FromQueryResult for TagOfCustomer {
    fn from_query_result(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
        Ok(Self {
            customer_id: row.try_get(prefix, TAGGED_CUSTOMER)?,
            tag: tag::Model::from_query_result(row, prefix)?,
        })
    }
}

/// Checks that every id names a tag of this tenant; unknown ids are a validation error on `field`.
pub(crate) async fn ensure_exist(tx: &ScopedTx, field: &str, ids: &[Uuid]) -> DomainResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let found = tx
        .select::<tag::Entity>()
        .filter(tag::Column::Id.is_in(ids.iter().copied()))
        .count(tx)
        .await?;
    if found != ids.iter().collect::<HashSet<_>>().len() as u64 {
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

async fn named(tx: &ScopedTx, name: &str) -> DomainResult<Option<tag::Model>> {
    tx.select::<tag::Entity>()
        .filter(tag::Column::Name.eq(name))
        .one(tx)
        .await
}

async fn find(tx: &ScopedTx, id: Uuid) -> DomainResult<tag::Model> {
    tx.select::<tag::Entity>()
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
        if let Some(other) = named(&tx, &name).await? {
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
    let saved = tx
        .update::<tag::Entity>()
        .filter(tag::Column::Id.eq(id))
        .set(current.into_active_model().reset_all())
        .exec_with_returning(&tx)
        .await
        .on_unique(|| name_taken(vec![]))?
        .pop()
        .ok_or(DomainError::NotFound("tag"))?;
    audit::record(&tx, "tag.update", Some(id), &changed).await?;
    tx.commit().await?;
    Ok(saved)
}

/// Deletes a tag and takes it off every customer. Returns how many customers carried it.
pub async fn delete(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<u64> {
    require_tag_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    find(&tx, id).await?;
    let untagged = tx
        .delete::<customer_tag::Entity>()
        .filter(customer_tag::Column::TagId.eq(id))
        .exec(&tx)
        .await?;
    tx.delete::<tag::Entity>()
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
    access::require_writer(scope)?;
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
    let visible = access::lock_customers(&tx, &customer_ids).await?;
    if visible.len() != customer_ids.len() {
        return Err(DomainError::NotFound("customer"));
    }
    let existing: HashSet<(Uuid, Uuid)> = tx
        .select::<customer_tag::Entity>()
        .select_only()
        .column(customer_tag::Column::CustomerId)
        .column(customer_tag::Column::TagId)
        .filter(customer_tag::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .filter(customer_tag::Column::TagId.is_in(tag_ids.iter().copied()))
        .tuples::<(Uuid, Uuid)>(&tx)
        .await?
        .into_iter()
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
                    tenant_id: Set(tx.tenant_id()),
                    customer_id: Set(customer_id),
                    tag_id: Set(tag_id),
                }
            })
            .collect();
        tx.insert_many(missing, None).await?;
    } else {
        changed = dedup(&existing.iter().map(|(c, _)| *c).collect::<Vec<_>>());
        if !changed.is_empty() {
            tx.delete::<customer_tag::Entity>()
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
