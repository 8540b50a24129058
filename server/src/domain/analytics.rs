//! Book-wide figures for managers: who is worth most (RFM tiers and the ABC split), how
//! customers move through the statuses, revenue per month, and follow-up discipline.
//!
//! The scoring rules are pure functions below, so the tests can state the right answer by hand.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use entity::enums::{CustomerStatus, Role};
use entity::{customer, customer_status_history, follow_up, transaction};
use sea_orm::sea_query::{Alias, CaseStatement, Expr, ExprTrait};
use sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::money::{Currency, Money};
use super::{DomainError, DomainResult, ScopedTx, history_totals};
use crate::tenancy::TenantScope;

/// Longest period `revenue_by_month` reports on.
pub const MAX_MONTHS: usize = 120;

/// Counts come back as signed integers from SQL.
fn nonnegative(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn require_manager(scope: &TenantScope) -> DomainResult<()> {
    if scope.is_at_least(Role::Manager) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("analytics are for managers and above"))
    }
}

/// What one customer bought in the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Purchases {
    pub customer_id: Uuid,
    pub last_purchase_at: DateTime<Utc>,
    pub count: u64,
    pub total_minor: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueTier {
    High,
    Medium,
    Low,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AbcClass {
    A,
    B,
    C,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomerScore {
    pub customer_id: Uuid,
    /// Whole days between the last purchase and the end of the window.
    pub recency_days: i64,
    pub frequency: u64,
    pub monetary: Money,
    /// Quintile scores, 5 best.
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub tier: ValueTier,
    pub abc: AbcClass,
}

/// Quintile score of each value, 5 for the best fifth: 1 + ⌊5 × (number strictly worse) / n⌋,
/// so equal values always share a score.
fn quintiles<T: PartialOrd>(values: &[T], better: impl Fn(&T, &T) -> bool) -> Vec<u8> {
    let n = values.len();
    values
        .iter()
        .map(|v| {
            let worse = values.iter().filter(|w| better(v, w)).count();
            (1 + (5 * worse) / n.max(1)) as u8
        })
        .collect()
}

/// HIGH when R+F+M ≥ 12, MEDIUM when ≥ 8, else LOW.
fn tier(r: u8, f: u8, m: u8) -> ValueTier {
    match r + f + m {
        12.. => ValueTier::High,
        8.. => ValueTier::Medium,
        _ => ValueTier::Low,
    }
}

/// ABC by revenue share: ranked by revenue (ties by id), a customer is A while the revenue of
/// those ranked before it is under 80 % of the total, B while under 95 %, else C.
fn abc_classes(purchases: &[Purchases]) -> HashMap<Uuid, AbcClass> {
    let mut ranked: Vec<&Purchases> = purchases.iter().collect();
    ranked.sort_by(|a, b| {
        b.total_minor
            .cmp(&a.total_minor)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    let total: i128 = ranked.iter().map(|p| p.total_minor as i128).sum();
    let mut before: i128 = 0;
    let mut out = HashMap::new();
    for p in ranked {
        let class = if before * 100 < total * 80 {
            AbcClass::A
        } else if before * 100 < total * 95 {
            AbcClass::B
        } else {
            AbcClass::C
        };
        out.insert(p.customer_id, class);
        before += p.total_minor as i128;
    }
    out
}

/// Scores every purchasing customer; `as_of` is the end of the window.
pub fn score(purchases: &[Purchases], currency: Currency, as_of: DateTime<Utc>) -> Vec<CustomerScore> {
    let recency: Vec<i64> = purchases
        .iter()
        .map(|p| (as_of - p.last_purchase_at).num_days().clamp(0, i64::MAX))
        .collect();
    let r = quintiles(&recency, |a, b| a < b);
    let f = quintiles(&purchases.iter().map(|p| p.count).collect::<Vec<_>>(), |a, b| a > b);
    let m = quintiles(&purchases.iter().map(|p| p.total_minor).collect::<Vec<_>>(), |a, b| {
        a > b
    });
    let abc = abc_classes(purchases);
    purchases
        .iter()
        .enumerate()
        .map(|(i, p)| CustomerScore {
            customer_id: p.customer_id,
            recency_days: recency[i],
            frequency: p.count,
            monetary: Money::from_minor(p.total_minor, currency),
            r: r[i],
            f: f[i],
            m: m[i],
            tier: tier(r[i], f[i], m[i]),
            abc: abc[&p.customer_id],
        })
        .collect()
}

/// Midnight of `day` in `tz`, as an instant (the first valid instant if a DST gap skips it).
fn start_of_day(tz: Tz, day: NaiveDate) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            tz.from_local_datetime(&(midnight + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

fn parse_period(from: &str, to: &str) -> DomainResult<(NaiveDate, NaiveDate)> {
    let from_day = super::validate::date("from", from)?;
    let to_day = super::validate::date("to", to)?;
    if to_day < from_day {
        return Err(DomainError::validation("to", "must not be before from"));
    }
    Ok((from_day, to_day))
}

/// Active customers (not archived) of the tenant, as a subquery of ids.
fn active_customer_ids(tx: &ScopedTx) -> sea_orm::sea_query::SelectStatement {
    tx.select::<customer::Entity>()
        .select_only()
        .column(customer::Column::Id)
        .filter(customer::Column::ArchivedAt.is_null())
        .into_subquery()
}

/// The tenant's time zone: analytics count whole days and months there.
async fn timezone(tx: &ScopedTx) -> DomainResult<Tz> {
    Ok(tx.context().await?.timezone)
}

pub struct ValueTiers {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub currency: Currency,
    /// Highest monetary value first (ties by customer id).
    pub scores: Vec<CustomerScore>,
}

impl ValueTiers {
    pub fn in_tier(&self, tier: ValueTier) -> Vec<&CustomerScore> {
        self.scores.iter().filter(|s| s.tier == tier).collect()
    }

    pub fn in_class(&self, class: AbcClass) -> Vec<&CustomerScore> {
        self.scores.iter().filter(|s| s.abc == class).collect()
    }

    /// Revenue of the customers of `class`.
    pub fn class_revenue(&self, class: AbcClass) -> Money {
        let minor = self.in_class(class).iter().map(|s| s.monetary.minor).sum();
        Money::from_minor(minor, self.currency)
    }

    /// Share of the window's revenue held by `class`, in percent.
    pub fn class_share_percent(&self, class: AbcClass) -> String {
        let total = self.scores.iter().map(|s| s.monetary.minor).sum();
        percent(self.class_revenue(class).minor, total)
    }
}

/// `part / whole` in percent with two decimals, rounded half up, without floats.
pub fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "0.00".into();
    }
    let hundredths = (part as i128 * 10_000 * 2 + whole as i128) / (whole as i128 * 2);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

/// RFM and ABC over the non-voided transactions in `currency` between `from` and `to`
/// (whole days in the tenant's time zone, both included), for active customers.
pub async fn value_tiers(tx: &ScopedTx, from: &str, to: &str, currency: &str) -> DomainResult<ValueTiers> {
    require_manager(tx.scope())?;
    let (from_day, to_day) = parse_period(from, to)?;
    let currency = Currency::parse("currency", currency)?;
    let tz = timezone(tx).await?;
    let (start, end) = (
        start_of_day(tz, from_day),
        start_of_day(tz, to_day.succ_opt().unwrap_or(to_day)),
    );
    let rows: Vec<(Uuid, Option<DateTime<Utc>>, i64, i64)> = tx
        .select::<transaction::Entity>()
        .select_only()
        .column(transaction::Column::CustomerId)
        .column_as(Expr::col(transaction::Column::OccurredAt).max(), "last")
        .column_as(Expr::col(transaction::Column::Id).count(), "n")
        .column_as(history_totals::total_minor(), "total")
        .filter(transaction::Column::Currency.eq(currency.code()))
        .filter(transaction::Column::VoidedAt.is_null())
        .filter(transaction::Column::OccurredAt.gte(start))
        .filter(transaction::Column::OccurredAt.lt(end))
        .filter(transaction::Column::CustomerId.in_subquery(active_customer_ids(tx)))
        .group_by(transaction::Column::CustomerId)
        .tuples(tx)
        .await?;
    let purchases: Vec<Purchases> = rows
        .into_iter()
        .filter_map(|(customer_id, last, n, total)| {
            Some(Purchases {
                customer_id,
                last_purchase_at: last?,
                count: nonnegative(n),
                total_minor: total,
            })
        })
        .collect();
    let mut scores = score(&purchases, currency, end);
    scores.sort_by(|a, b| {
        b.monetary
            .minor
            .cmp(&a.monetary.minor)
            .then(a.customer_id.cmp(&b.customer_id))
    });
    Ok(ValueTiers {
        from: from_day,
        to: to_day,
        currency,
        scores,
    })
}

#[derive(Debug, Clone, PartialEq)]
pub struct MonthRevenue {
    /// First day of the month.
    pub month: NaiveDate,
    pub revenue: Money,
    pub transactions: u64,
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("every month has a first day")
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 {
        (d.year() + 1, 1)
    } else {
        (d.year(), d.month() + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month exists")
}

/// Revenue (non-voided transactions in `currency`) per calendar month of the tenant's time
/// zone, every month from `from`'s to `to`'s included, months without sales as zero.
pub async fn revenue_by_month(tx: &ScopedTx, from: &str, to: &str, currency: &str) -> DomainResult<Vec<MonthRevenue>> {
    require_manager(tx.scope())?;
    let (from_day, to_day) = parse_period(from, to)?;
    let currency = Currency::parse("currency", currency)?;
    let mut months = vec![first_of_month(from_day)];
    while next_month(months[months.len() - 1]) <= to_day {
        if months.len() == MAX_MONTHS {
            return Err(DomainError::validation(
                "to",
                format!("the period may span at most {MAX_MONTHS} months"),
            ));
        }
        months.push(next_month(months[months.len() - 1]));
    }
    let tz = timezone(tx).await?;
    let starts: Vec<DateTime<Utc>> = months.iter().map(|m| start_of_day(tz, *m)).collect();
    let end = start_of_day(tz, next_month(months[months.len() - 1]));
    // One statement: each transaction falls in the month whose local start it follows.
    let mut bucket = CaseStatement::new();
    for (i, start) in starts.iter().enumerate().skip(1).rev() {
        bucket = bucket.case(transaction::Column::OccurredAt.gte(*start), i as i64);
    }
    let bucket: Expr = bucket.finally(0i64).into();
    let rows: Vec<(i64, i64, i64)> = tx
        .select::<transaction::Entity>()
        .select_only()
        .column_as(bucket, "bucket")
        .column_as(history_totals::total_minor(), "total")
        .column_as(Expr::col(transaction::Column::Id).count(), "n")
        .filter(transaction::Column::Currency.eq(currency.code()))
        .filter(transaction::Column::VoidedAt.is_null())
        .filter(transaction::Column::OccurredAt.gte(starts[0]))
        .filter(transaction::Column::OccurredAt.lt(end))
        .group_by(Expr::col(Alias::new("bucket")))
        .tuples(tx)
        .await?;
    let by_bucket: HashMap<i64, (i64, i64)> = rows.into_iter().map(|(b, total, n)| (b, (total, n))).collect();
    Ok(months
        .into_iter()
        .enumerate()
        .map(|(i, month)| {
            let (total, n) = by_bucket.get(&(i as i64)).copied().unwrap_or((0, 0));
            MonthRevenue {
                month,
                revenue: Money::from_minor(total, currency),
                transactions: nonnegative(n),
            }
        })
        .collect())
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pipeline {
    /// Active customers per current status.
    pub current: Vec<(CustomerStatus, u64)>,
    /// Changes between statuses that happened in the period.
    pub conversions: Vec<Conversion>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub from: CustomerStatus,
    pub to: CustomerStatus,
    pub count: u64,
    /// Customers who were in `from` at some time during the period (at its start or by
    /// entering it); `count / exposed` is the conversion rate.
    pub exposed: u64,
}

impl Conversion {
    /// `count / exposed` in percent.
    pub fn rate_percent(&self) -> String {
        percent(self.count as i64, self.exposed as i64)
    }
}

const STATUSES: [CustomerStatus; 4] = [
    CustomerStatus::Potential,
    CustomerStatus::Intent,
    CustomerStatus::Customer,
    CustomerStatus::Lost,
];

/// Counts per status now, and the conversions between statuses from `from` to `to` (whole
/// days in the tenant's time zone, both included), for active customers.
pub async fn pipeline(tx: &ScopedTx, from: &str, to: &str) -> DomainResult<Pipeline> {
    require_manager(tx.scope())?;
    let (from_day, to_day) = parse_period(from, to)?;
    let tz = timezone(tx).await?;
    let (start, end) = (
        start_of_day(tz, from_day),
        start_of_day(tz, to_day.succ_opt().unwrap_or(to_day)),
    );
    let current: Vec<(CustomerStatus, i64)> = tx
        .select::<customer::Entity>()
        .select_only()
        .column(customer::Column::Status)
        .column_as(Expr::col(customer::Column::Id).count(), "n")
        .filter(customer::Column::ArchivedAt.is_null())
        .group_by(customer::Column::Status)
        .tuples(tx)
        .await?;
    let history = status_changes_until(tx, end).await?;
    let current: HashMap<CustomerStatus, u64> = current.into_iter().map(|(s, n)| (s, nonnegative(n))).collect();
    Ok(Pipeline {
        current: STATUSES
            .iter()
            .map(|s| (*s, current.get(s).copied().unwrap_or(0)))
            .collect(),
        conversions: conversions(&history, start),
    })
}

async fn status_changes_until(
    tx: &ScopedTx,
    end: DateTime<Utc>,
) -> DomainResult<Vec<(Uuid, Option<CustomerStatus>, CustomerStatus, DateTime<Utc>)>> {
    tx.select::<customer_status_history::Entity>()
        .select_only()
        .column(customer_status_history::Column::CustomerId)
        .column(customer_status_history::Column::FromStatus)
        .column(customer_status_history::Column::ToStatus)
        .column(customer_status_history::Column::ChangedAt)
        .filter(customer_status_history::Column::ChangedAt.lt(end))
        .filter(customer_status_history::Column::CustomerId.in_subquery(active_customer_ids(tx)))
        .order_by_asc(customer_status_history::Column::ChangedAt)
        .order_by_asc(customer_status_history::Column::Id)
        .tuples(tx)
        .await
}

/// Replays each customer's status changes (oldest first, all before the period's end).
fn conversions(
    history: &[(Uuid, Option<CustomerStatus>, CustomerStatus, DateTime<Utc>)],
    start: DateTime<Utc>,
) -> Vec<Conversion> {
    let mut exposed: HashMap<CustomerStatus, std::collections::HashSet<Uuid>> = HashMap::new();
    let mut moves: HashMap<(CustomerStatus, CustomerStatus), u64> = HashMap::new();
    let mut status_at_start: HashMap<Uuid, CustomerStatus> = HashMap::new();
    for (customer_id, from, to, at) in history {
        if *at < start {
            status_at_start.insert(*customer_id, *to);
            continue;
        }
        exposed.entry(*to).or_default().insert(*customer_id);
        if let Some(from) = from.filter(|f| f != to) {
            *moves.entry((from, *to)).or_default() += 1;
        }
    }
    for (customer_id, status) in status_at_start {
        exposed.entry(status).or_default().insert(customer_id);
    }
    let mut out: Vec<Conversion> = moves
        .into_iter()
        .map(|((from, to), count)| Conversion {
            from,
            to,
            count,
            exposed: exposed.get(&from).map_or(0, |s| s.len() as u64),
        })
        .collect();
    let rank = |s: CustomerStatus| STATUSES.iter().position(|x| *x == s).unwrap_or(0);
    out.sort_by_key(|c| (rank(c.from), rank(c.to)));
    out
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Discipline {
    pub assignee_id: Uuid,
    pub open: u64,
    pub overdue: u64,
    pub done_on_time: u64,
    pub done_late: u64,
}

/// Per assignee: follow-ups open, open and overdue, done by their due time, done late.
/// With a period (both ends or neither), only follow-ups due in it (whole days in the
/// tenant's time zone).
pub async fn follow_up_discipline(
    tx: &ScopedTx,
    from: Option<&str>,
    to: Option<&str>,
) -> DomainResult<Vec<Discipline>> {
    require_manager(tx.scope())?;
    let period = match (from, to) {
        (Some(from), Some(to)) => Some(parse_period(from, to)?),
        (None, None) => None,
        (None, Some(_)) => {
            return Err(DomainError::validation(
                "from",
                "give both ends of the period or neither",
            ));
        }
        (Some(_), None) => return Err(DomainError::validation("to", "give both ends of the period or neither")),
    };
    let tz = timezone(tx).await?;
    let now = super::now();
    let done = follow_up::Column::CompletedAt.is_not_null();
    let count_where = |condition: Expr| {
        let one_if: Expr = CaseStatement::new().case(condition, 1i64).finally(0i64).into();
        one_if.sum().cast_as(Alias::new("BIGINT"))
    };
    let mut select = tx
        .select::<follow_up::Entity>()
        .select_only()
        .column(follow_up::Column::AssigneeId)
        .column_as(count_where(follow_up::Column::CompletedAt.is_null()), "open")
        .column_as(
            count_where(
                follow_up::Column::CompletedAt
                    .is_null()
                    .and(follow_up::Column::DueAt.lt(now)),
            ),
            "overdue",
        )
        .column_as(
            count_where(
                done.clone()
                    .and(Expr::col(follow_up::Column::CompletedAt).lte(Expr::col(follow_up::Column::DueAt))),
            ),
            "on_time",
        )
        .column_as(
            count_where(done.and(Expr::col(follow_up::Column::CompletedAt).gt(Expr::col(follow_up::Column::DueAt)))),
            "late",
        )
        .filter(follow_up::Column::CustomerId.in_subquery(active_customer_ids(tx)))
        .group_by(follow_up::Column::AssigneeId);
    if let Some((from_day, to_day)) = period {
        select = select
            .filter(follow_up::Column::DueAt.gte(start_of_day(tz, from_day)))
            .filter(follow_up::Column::DueAt.lt(start_of_day(tz, to_day.succ_opt().unwrap_or(to_day))));
    }
    let rows: Vec<(Uuid, i64, i64, i64, i64)> = select.tuples(tx).await?;
    let count = |n: i64| nonnegative(n);
    let mut out: Vec<Discipline> = rows
        .into_iter()
        .map(|(assignee_id, open, overdue, on_time, late)| Discipline {
            assignee_id,
            open: count(open),
            overdue: count(overdue),
            done_on_time: count(on_time),
            done_late: count(late),
        })
        .collect();
    out.sort_by(|a, b| b.overdue.cmp(&a.overdue).then(a.assignee_id.cmp(&b.assignee_id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 12, 0, 0).unwrap()
    }

    fn buyer(n: u128, last_day: u32, count: u64, total: i64) -> Purchases {
        Purchases {
            customer_id: Uuid::from_u128(n),
            last_purchase_at: at(last_day),
            count,
            total_minor: total,
        }
    }

    #[test]
    fn quintiles_give_five_distinct_values_scores_one_to_five_and_ties_the_same_score() {
        assert_eq!(quintiles(&[10, 20, 30, 40, 50], |a, b| a > b), vec![1, 2, 3, 4, 5]);
        assert_eq!(quintiles(&[7, 7, 7], |a, b| a > b), vec![1, 1, 1]);
        assert_eq!(quintiles(&[1, 2, 2, 3], |a, b| a > b), vec![1, 2, 2, 4]);
    }

    #[test]
    fn abc_gives_a_until_eighty_percent_b_until_ninety_five_then_c() {
        // 700 + 150 + 100 + 30 + 20 = 1000.
        let p = [
            buyer(1, 1, 1, 700),
            buyer(2, 1, 1, 150),
            buyer(3, 1, 1, 100),
            buyer(4, 1, 1, 30),
            buyer(5, 1, 1, 20),
        ];
        let classes = abc_classes(&p);
        let class = |n: u128| classes[&Uuid::from_u128(n)];
        // Before #2: 700 (70 %) → A; before #3: 850 (85 %) → B; before #4: 950 (95 %) → C.
        assert_eq!(
            [class(1), class(2), class(3), class(4), class(5)],
            [AbcClass::A, AbcClass::A, AbcClass::B, AbcClass::C, AbcClass::C]
        );
    }

    #[test]
    fn tiers_follow_the_sum_of_the_three_scores() {
        assert_eq!(tier(5, 5, 2), ValueTier::High);
        assert_eq!(tier(4, 4, 3), ValueTier::Medium);
        assert_eq!(tier(3, 3, 2), ValueTier::Medium);
        assert_eq!(tier(3, 2, 2), ValueTier::Low);
    }

    #[test]
    fn conversions_count_moves_in_the_period_against_customers_exposed_to_the_status() {
        use CustomerStatus::*;
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let history = vec![
            (a, None, Potential, at(1)),
            (b, None, Potential, at(2)),
            (a, Some(Potential), Intent, at(10)),
            (c, None, Potential, at(11)),
            (a, Some(Intent), Customer, at(12)),
        ];
        let out = conversions(&history, at(5));
        assert_eq!(
            out,
            vec![
                Conversion {
                    from: Potential,
                    to: Intent,
                    count: 1,
                    exposed: 3
                },
                Conversion {
                    from: Intent,
                    to: Customer,
                    count: 1,
                    exposed: 1
                },
            ]
        );
    }

    #[test]
    fn percent_rounds_half_up_to_two_decimals() {
        assert_eq!(percent(1, 3), "33.33");
        assert_eq!(percent(2, 3), "66.67");
        assert_eq!(percent(800, 1000), "80.00");
        assert_eq!(percent(0, 0), "0.00");
    }

    #[test]
    fn months_run_across_a_year_boundary() {
        let d = NaiveDate::from_ymd_opt(2025, 12, 15).unwrap();
        assert_eq!(
            next_month(first_of_month(d)),
            NaiveDate::from_ymd_opt(2026, 1, 1).unwrap()
        );
    }
}
