//! Loading related rows for a whole page of parents at once, so a page of 50 customers with
//! their nested lists costs a constant number of statements instead of one per customer.

use std::collections::HashMap;
use std::hash::Hash;

use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, IdenStatic, Order, QueryFilter, QuerySelect,
    QueryTrait, Select,
};

use uuid::Uuid;

use super::{DomainResult, Store};
use crate::tenancy::TenantScope;

/// One kind of record in customers' files (sales, contracts, interactions…), as the caller may
/// see it, for loading the records of a whole page of customers at once.
pub(crate) struct CustomerRecords<E: EntityTrait> {
    /// The rows wanted, already confined to the tenant and to the caller's view.
    pub records: Select<E>,
    /// The column naming the customer a row belongs to.
    pub customer: E::Column,
}

impl<E> CustomerRecords<E>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    /// The first `per_customer` rows of each customer in `order`, in one statement.
    pub async fn first(
        self,
        store: &Store,
        scope: &TenantScope,
        customer_ids: &[Uuid],
        order: &[(E::Column, Order)],
        per_customer: u64,
        customer_of: impl Fn(&E::Model) -> Uuid,
    ) -> DomainResult<HashMap<Uuid, Vec<E::Model>>> {
        if customer_ids.is_empty() || per_customer == 0 {
            return Ok(HashMap::new());
        }
        let records = self.records.filter(self.customer.is_in(customer_ids.iter().copied()));
        let tx = store.begin_scoped(scope).await?;
        let out = first_per_parent(&tx, records, self.customer, order, per_customer, customer_of).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// How many rows each customer has, in one statement.
    pub async fn count(
        self,
        store: &Store,
        scope: &TenantScope,
        customer_ids: &[Uuid],
    ) -> DomainResult<HashMap<Uuid, u64>> {
        if customer_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let records = self.records.filter(self.customer.is_in(customer_ids.iter().copied()));
        let tx = store.begin_scoped(scope).await?;
        let out = count_per_parent(&tx, records, self.customer).await?;
        tx.commit().await?;
        Ok(out)
    }
}

/// Up to `per_parent` rows of each parent in one statement (`ROW_NUMBER() OVER (PARTITION BY
/// parent ORDER BY …)`, which SQLite and PostgreSQL both run), grouped by `key`.
///
/// `select` must already be confined to the tenant and the parents wanted; `order` must end
/// with a unique column so the cut between rows is stable.
async fn first_per_parent<E, K>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    parent: E::Column,
    order: &[(E::Column, Order)],
    per_parent: u64,
    key: impl Fn(&E::Model) -> K,
) -> DomainResult<HashMap<K, Vec<E::Model>>>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
    K: Eq + Hash,
{
    let window_order = order
        .iter()
        .map(|(column, direction)| {
            let direction = if matches!(direction, Order::Desc) {
                "DESC"
            } else {
                "ASC"
            };
            format!("\"{}\" {direction}", column.as_str())
        })
        .collect::<Vec<_>>()
        .join(", ");
    let mut ranked = select.into_query();
    ranked.expr_as(
        Expr::cust(format!(
            "ROW_NUMBER() OVER (PARTITION BY \"{}\" ORDER BY {window_order})",
            parent.as_str()
        )),
        Alias::new("row_in_parent"),
    );
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(ranked, Alias::new("ranked"))
        .and_where(Expr::col(Alias::new("row_in_parent")).lte(per_parent as i64))
        .order_by(Alias::new("row_in_parent"), Order::Asc)
        .to_owned();
    let statement = db.get_database_backend().build(&outer);
    let rows = E::find().from_raw_sql(statement).all(db).await?;
    let mut grouped: HashMap<K, Vec<E::Model>> = HashMap::new();
    for row in rows {
        grouped.entry(key(&row)).or_default().push(row);
    }
    Ok(grouped)
}

/// How many rows each parent has, in one `GROUP BY` statement.
async fn count_per_parent<E>(
    db: &impl ConnectionTrait,
    select: Select<E>,
    parent: E::Column,
) -> DomainResult<HashMap<uuid::Uuid, u64>>
where
    E: EntityTrait,
{
    let rows: Vec<(uuid::Uuid, i64)> = select
        .select_only()
        .column(parent)
        .column_as(Expr::col(parent).count(), "n")
        .group_by(parent)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, u64::try_from(n).unwrap_or(0)))
        .collect())
}
