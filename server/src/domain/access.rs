//! Who may see and change which customers. Sales staff reach only the customers they own and
//! those customers' history; everyone above sees the tenant's whole book; viewers change
//! nothing. A customer out of view is NOT_FOUND, never FORBIDDEN.

use entity::customer;
use sea_orm::sea_query::SelectStatement;
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use super::{DomainError, DomainResult, Scoped, ScopedTx, TenantEntity};
use crate::tenancy::{Role, TenantScope};

pub(crate) fn require_writer(scope: &TenantScope) -> DomainResult<()> {
    if scope.is_at_least(Role::Sales) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("viewers cannot change customers"))
    }
}

/// Customers the caller may see: the tenant's, and for sales staff only their own.
pub(crate) fn customers(tx: &ScopedTx) -> Scoped<Select<customer::Entity>> {
    let select = tx.select::<customer::Entity>();
    if tx.scope().sees_only_own_customers() {
        select.filter(customer::Column::OwnerId.eq(tx.scope().actor().user_id))
    } else {
        select
    }
}

/// `SELECT id FROM customers` the caller may see, for use as a subquery.
pub(crate) fn customer_ids(tx: &ScopedTx) -> SelectStatement {
    customers(tx).select_only().column(customer::Column::Id).into_subquery()
}

/// Rows of a customer's history (`E`, linked through `customer_column`) the caller may see:
/// the tenant's, and for sales staff only those of the customers they own.
pub(crate) fn records<E: TenantEntity>(tx: &ScopedTx, customer_column: E::Column) -> Scoped<Select<E>> {
    let select = tx.select::<E>();
    if tx.scope().sees_only_own_customers() {
        select.filter(customer_column.in_subquery(customer_ids(tx)))
    } else {
        select
    }
}

pub(crate) async fn find_customer(tx: &ScopedTx, id: Uuid) -> DomainResult<customer::Model> {
    customers(tx)
        .filter(customer::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("customer"))
}

/// Like `find_customer`, and holds the customer's row lock until the transaction ends (on
/// PostgreSQL; SQLite transactions are serialised anyway), so changes to its contacts, merges
/// and erasure of the same customer happen one after the other.
pub(crate) async fn lock_customer(tx: &ScopedTx, id: Uuid) -> DomainResult<customer::Model> {
    customers(tx)
        .filter(customer::Column::Id.eq(id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("customer"))
}

/// The customers of `ids` in the caller's view, locked like `lock_customer`.
pub(crate) async fn lock_customers(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<Vec<customer::Model>> {
    customers(tx)
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .order_by_asc(customer::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await
}

/// The customer whose history is being added to or changed, locked for the transaction. An
/// archived customer keeps its history readable but takes no changes, reported on `field`.
pub(crate) async fn lock_writable(tx: &ScopedTx, id: Uuid, field: &str) -> DomainResult<customer::Model> {
    let c = lock_customer(tx, id).await?;
    if c.archived_at.is_some() {
        return Err(DomainError::validation(
            field,
            "belongs to an archived customer; restore the customer first",
        ));
    }
    Ok(c)
}
