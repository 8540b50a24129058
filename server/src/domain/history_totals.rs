//! What a customer's history adds up to: lifetime value, last interaction, next follow-up.
//! Computed from the rows themselves (never stored), for a whole page of customers at once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{follow_up, interaction, transaction};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, SelectStatement, UnionType};
use sea_orm::{ColumnTrait, QueryFilter, QuerySelect, Value};
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

/// The activity of each customer in `customer_ids`, in one statement: the union of three
/// grouped selects, told apart by their first column.
pub async fn for_customers(tx: &ScopedTx, customer_ids: &[Uuid]) -> DomainResult<HashMap<Uuid, Activity>> {
    let mut out: HashMap<Uuid, Activity> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(out);
    }
    let ids = || customer_ids.iter().copied();
    // NULLs typed as the other branches' values, so PostgreSQL's union agrees on each column.
    let no_currency = || Expr::val(Value::String(None));
    let no_total = || Expr::val(Value::BigInt(None));
    let no_time = || Expr::val(Value::ChronoDateTimeUtc(None));
    let mut totals = tx
        .select::<transaction::Entity>()
        .select_only()
        .column_as(Expr::val(LIFETIME_VALUE), "measure")
        .column(transaction::Column::CustomerId)
        .column(transaction::Column::Currency)
        .column_as(total_minor(), "total")
        .column_as(no_time(), "at")
        .filter(transaction::Column::CustomerId.is_in(ids()))
        .filter(transaction::Column::VoidedAt.is_null())
        .group_by(transaction::Column::CustomerId)
        .group_by(transaction::Column::Currency);
    let last_interactions = tx
        .select::<interaction::Entity>()
        .select_only()
        .column_as(Expr::val(LAST_INTERACTION), "measure")
        .column(interaction::Column::CustomerId)
        .column_as(no_currency(), "currency")
        .column_as(no_total(), "total")
        .column_as(Expr::col(interaction::Column::OccurredAt).max(), "at")
        .filter(interaction::Column::CustomerId.is_in(ids()))
        .group_by(interaction::Column::CustomerId);
    let next_follow_ups = tx
        .select::<follow_up::Entity>()
        .select_only()
        .column_as(Expr::val(NEXT_FOLLOW_UP), "measure")
        .column(follow_up::Column::CustomerId)
        .column_as(no_currency(), "currency")
        .column_as(no_total(), "total")
        .column_as(Expr::col(follow_up::Column::DueAt).min(), "at")
        .filter(follow_up::Column::CustomerId.is_in(ids()))
        .filter(follow_up::Column::CompletedAt.is_null())
        .group_by(follow_up::Column::CustomerId);
    QuerySelect::query(&mut totals)
        .union(UnionType::All, last_interactions.into_subquery())
        .union(UnionType::All, next_follow_ups.into_subquery());
    type Measured = (i32, Uuid, Option<String>, Option<i64>, Option<DateTime<Utc>>);
    for (measure, customer_id, currency, total, at) in totals.tuples::<Measured>(tx).await? {
        let activity = out.entry(customer_id).or_default();
        match measure {
            LIFETIME_VALUE => {
                // Stored currencies were validated on the way in.
                if let (Some(total), Some(Ok(currency))) = (total, currency.map(|c| Currency::parse("currency", &c))) {
                    activity.lifetime_value.push(Money::from_minor(total, currency));
                }
            }
            LAST_INTERACTION => activity.last_interaction_at = at,
            _ => activity.next_follow_up_at = at,
        }
    }
    for activity in out.values_mut() {
        activity
            .lifetime_value
            .sort_by(|a, b| a.currency.code().cmp(b.currency.code()));
    }
    Ok(out)
}

const LIFETIME_VALUE: i32 = 0;
const LAST_INTERACTION: i32 = 1;
const NEXT_FOLLOW_UP: i32 = 2;

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
