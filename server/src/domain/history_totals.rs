//! What a customer's history adds up to: lifetime value, last interaction, next follow-up.
//! Computed from the rows themselves (never stored), for a whole page of customers at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{follow_up, interaction, transaction};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SelectStatement};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::money::{Currency, Money};
use super::{DomainResult, ScopedTx};

#[derive(Debug, Clone, Default)]
pub struct Activity {
    /// Sum of the customer's transactions that were not voided, one entry per currency.
    pub lifetime_value: Vec<Money>,
    pub last_interaction_at: Option<DateTime<Utc>>,
    /// Earliest due time among the customer's open follow-ups.
    pub next_follow_up_at: Option<DateTime<Utc>>,
}

/// The activity of each customer in `customer_ids`, in three grouped statements.
pub async fn for_customers(tx: &ScopedTx, customer_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Activity>> {
    let mut out: HashMap<Uuid, Activity> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(out);
    }
    let ids = || customer_ids.iter().copied();
    let totals: Vec<(Uuid, String, i64)> = tx
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::Currency)
        .column_as(total_minor(), "total")
        .filter(transaction::Column::CustomerId.is_in(ids()))
        .filter(transaction::Column::VoidedAt.is_null())
        .group_by(transaction::Column::CustomerId)
        .group_by(transaction::Column::Currency)
        .order_by_asc(transaction::Column::Currency)
        .tuples(tx)
        .await?;
    let last_interactions: Vec<(Uuid, Option<DateTime<Utc>>)> = tx
        .select::<interaction::Entity>()
        .select_only()
        .column(interaction::Column::CustomerId)
        .column_as(Expr::col(interaction::Column::OccurredAt).max(), "last")
        .filter(interaction::Column::CustomerId.is_in(ids()))
        .group_by(interaction::Column::CustomerId)
        .tuples(tx)
        .await?;
    let next_follow_ups: Vec<(Uuid, Option<DateTime<Utc>>)> = tx
        .select::<follow_up::Entity>()
        .select_only()
        .column(follow_up::Column::CustomerId)
        .column_as(Expr::col(follow_up::Column::DueAt).min(), "next")
        .filter(follow_up::Column::CustomerId.is_in(ids()))
        .filter(follow_up::Column::CompletedAt.is_null())
        .group_by(follow_up::Column::CustomerId)
        .tuples(tx)
        .await?;
    for (customer_id, currency, total) in totals {
        // Stored currencies were validated on the way in.
        if let Ok(currency) = Currency::parse("currency", &currency) {
            out.entry(customer_id)
                .or_default()
                .lifetime_value
                .push(Money::from_minor(total, currency));
        }
    }
    for (customer_id, at) in last_interactions {
        out.entry(customer_id).or_default().last_interaction_at = at;
    }
    for (customer_id, at) in next_follow_ups {
        out.entry(customer_id).or_default().next_follow_up_at = at;
    }
    Ok(out)
}

/// `SUM(amount_minor)` as a BIGINT (PostgreSQL widens a sum of BIGINTs to NUMERIC).
pub(crate) fn total_minor() -> Expr {
    Expr::col(transaction::Column::AmountMinor)
        .sum()
        .cast_as(Alias::new("BIGINT"))
}

/// Ids of the tenant's customers whose non-voided transactions in `currency` sum to more
/// than `above` (or at least `above` when `inclusive`), for customer filters.
pub(crate) fn customers_with_value(tx: &ScopedTx, currency: Currency, above: i64, inclusive: bool) -> SelectStatement {
    let total = total_minor();
    tx.select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .filter(transaction::Column::Currency.eq(currency.code()))
        .filter(transaction::Column::VoidedAt.is_null())
        .group_by(transaction::Column::CustomerId)
        .having(if inclusive { total.gte(above) } else { total.gt(above) })
        .into_subquery()
}

/// Ids of the tenant's customers with an interaction at or after `since`.
pub(crate) fn customers_contacted_since(tx: &ScopedTx, since: DateTime<Utc>) -> SelectStatement {
    tx.select::<interaction::Entity>()
        .select_only()
        .column(interaction::Column::CustomerId)
        .filter(interaction::Column::OccurredAt.gte(since))
        .into_subquery()
}

/// Ids of the tenant's customers with at least one open follow-up.
pub(crate) fn customers_with_open_follow_up(tx: &ScopedTx) -> SelectStatement {
    tx.select::<follow_up::Entity>()
        .select_only()
        .column(follow_up::Column::CustomerId)
        .filter(follow_up::Column::CompletedAt.is_null())
        .into_subquery()
}
