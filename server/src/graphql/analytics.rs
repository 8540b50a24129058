//! Analytics across the book, for managers and above.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use uuid::Uuid;

use super::customers::{Customer, CustomerStatus};
use super::scalars::{Date, Decimal, Money};
use super::tenancy::User;
use super::{api, scope};
use crate::domain::analytics::{self as service, AbcClass as DomainAbc, ValueTier as DomainTier};
use crate::domain::customers as customer_service;
use crate::domain::money;
use crate::domain::users;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::analytics::ValueTier")]
pub enum ValueTier {
    /// Recency + frequency + monetary scores of 12 or more.
    High,
    /// 8 to 11.
    Medium,
    /// 7 or less.
    Low,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::analytics::AbcClass")]
pub enum AbcClass {
    /// The top customers making the first 80 % of revenue.
    A,
    /// The next 15 %.
    B,
    /// The last 5 %.
    C,
}

pub struct CustomerValueScore {
    score: service::CustomerScore,
    customer: Option<entity::customer::Model>,
}

#[Object]
impl CustomerValueScore {
    async fn customer_id(&self) -> ID {
        ID(self.score.customer_id.to_string())
    }
    async fn customer(&self) -> Option<Customer> {
        self.customer.clone().map(Customer::single)
    }
    /// Days from the last purchase to the end of the window.
    async fn recency_days(&self) -> i64 {
        self.score.recency_days
    }
    /// Purchases in the window.
    async fn frequency(&self) -> u64 {
        self.score.frequency
    }
    async fn monetary(&self) -> Money {
        self.score.monetary.into()
    }
    /// 1–5, 5 for the most recent fifth.
    async fn recency_score(&self) -> u8 {
        self.score.r
    }
    async fn frequency_score(&self) -> u8 {
        self.score.f
    }
    async fn monetary_score(&self) -> u8 {
        self.score.m
    }
    async fn tier(&self) -> ValueTier {
        self.score.tier.into()
    }
    async fn abc_class(&self) -> AbcClass {
        self.score.abc.into()
    }
}

pub struct ValueTierGroup {
    tier: DomainTier,
    members: Vec<CustomerValueScore>,
}

#[Object]
impl ValueTierGroup {
    async fn tier(&self) -> ValueTier {
        self.tier.into()
    }
    async fn count(&self) -> usize {
        self.members.len()
    }
    /// Highest monetary value first.
    async fn customers(&self) -> &[CustomerValueScore] {
        &self.members
    }
}

pub struct AbcGroup {
    class: DomainAbc,
    members: Vec<CustomerValueScore>,
    revenue: money::Money,
    total: i64,
}

#[Object]
impl AbcGroup {
    async fn class(&self) -> AbcClass {
        self.class.into()
    }
    async fn count(&self) -> usize {
        self.members.len()
    }
    async fn revenue(&self) -> Money {
        self.revenue.into()
    }
    /// Share of the window's revenue in percent, two decimals (e.g. "80.00").
    async fn revenue_share_percent(&self) -> Decimal {
        Decimal(percent(self.revenue.minor, self.total))
    }
    /// Highest monetary value first.
    async fn customers(&self) -> &[CustomerValueScore] {
        &self.members
    }
}

/// `part / whole` in percent with two decimals, rounded half up, without floats.
fn percent(part: i64, whole: i64) -> String {
    if whole <= 0 {
        return "0.00".into();
    }
    let hundredths = (part as i128 * 10_000 * 2 + whole as i128) / (whole as i128 * 2);
    format!("{}.{:02}", hundredths / 100, hundredths % 100)
}

#[derive(SimpleObject)]
pub struct CustomerValueTiers {
    pub from: Date,
    pub to: Date,
    pub currency: String,
    /// Active customers with at least one purchase in the window and currency.
    pub customers_scored: usize,
    pub tiers: Vec<ValueTierGroup>,
    pub abc: Vec<AbcGroup>,
}

#[derive(SimpleObject)]
pub struct StatusCount {
    pub status: CustomerStatus,
    pub count: u64,
}

#[derive(SimpleObject)]
pub struct StatusConversion {
    pub from: CustomerStatus,
    pub to: CustomerStatus,
    /// Changes from `from` to `to` in the period.
    pub count: u64,
    /// Customers who were in `from` at some time during the period.
    pub exposed: u64,
    /// `count / exposed` in percent, two decimals.
    pub rate_percent: Decimal,
}

#[derive(SimpleObject)]
pub struct Pipeline {
    /// Active customers per status now.
    pub statuses: Vec<StatusCount>,
    pub conversions: Vec<StatusConversion>,
}

#[derive(SimpleObject)]
pub struct MonthRevenue {
    /// `YYYY-MM`, a calendar month in the tenant's time zone.
    pub month: String,
    pub revenue: Money,
    pub transactions: u64,
}

pub struct FollowUpDiscipline {
    row: service::Discipline,
    assignee: Option<entity::user::Model>,
}

#[Object]
impl FollowUpDiscipline {
    async fn assignee_id(&self) -> ID {
        ID(self.row.assignee_id.to_string())
    }
    async fn assignee(&self) -> Option<User> {
        self.assignee.clone().map(User)
    }
    async fn open(&self) -> u64 {
        self.row.open
    }
    /// Open and past their due time.
    async fn overdue(&self) -> u64 {
        self.row.overdue
    }
    async fn done_on_time(&self) -> u64 {
        self.row.done_on_time
    }
    async fn done_late(&self) -> u64 {
        self.row.done_late
    }
}

#[derive(Default)]
pub struct AnalyticsQuery;

#[Object]
impl AnalyticsQuery {
    /// RFM over the purchases in `currency` from `from` to `to` (whole days in the tenant's
    /// time zone, both included): recency, frequency and monetary scored 1–5 by quintile,
    /// tiered HIGH/MEDIUM/LOW, and the ABC split by revenue share (80/15/5).
    async fn customer_value_tiers(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        currency: String,
    ) -> Result<CustomerValueTiers> {
        let api = api(ctx);
        let scope = scope(ctx)?;
        let result = service::value_tiers(&api.store, scope, &from.0, &to.0, &currency).await?;
        let ids: Vec<Uuid> = result.scores.iter().map(|s| s.customer_id).collect();
        let customers = customer_service::by_ids(&api.store, scope, &ids).await?;
        let total: i64 = result.scores.iter().map(|s| s.monetary.minor).sum();
        let mut scores = result.scores;
        scores.sort_by(|a, b| {
            b.monetary
                .minor
                .cmp(&a.monetary.minor)
                .then(a.customer_id.cmp(&b.customer_id))
        });
        let member = |s: &service::CustomerScore| CustomerValueScore {
            score: s.clone(),
            customer: customers.get(&s.customer_id).cloned(),
        };
        let tiers = [DomainTier::High, DomainTier::Medium, DomainTier::Low]
            .into_iter()
            .map(|tier| ValueTierGroup {
                tier,
                members: scores.iter().filter(|s| s.tier == tier).map(member).collect(),
            })
            .collect();
        let abc = [DomainAbc::A, DomainAbc::B, DomainAbc::C]
            .into_iter()
            .map(|class| {
                let members: Vec<CustomerValueScore> = scores.iter().filter(|s| s.abc == class).map(member).collect();
                let revenue = members.iter().map(|m| m.score.monetary.minor).sum();
                AbcGroup {
                    class,
                    revenue: money::Money::from_minor(revenue, result.currency),
                    total,
                    members,
                }
            })
            .collect();
        Ok(CustomerValueTiers {
            from: result.from.into(),
            to: result.to.into(),
            currency: result.currency.code().to_owned(),
            customers_scored: scores.len(),
            tiers,
            abc,
        })
    }

    /// Active customers per status, and how customers moved between statuses from `from` to
    /// `to` (whole days in the tenant's time zone, both included).
    async fn pipeline(&self, ctx: &Context<'_>, from: Date, to: Date) -> Result<Pipeline> {
        let p = service::pipeline(&api(ctx).store, scope(ctx)?, &from.0, &to.0).await?;
        Ok(Pipeline {
            statuses: p
                .current
                .into_iter()
                .map(|(status, count)| StatusCount {
                    status: status.into(),
                    count,
                })
                .collect(),
            conversions: p
                .conversions
                .into_iter()
                .map(|c| StatusConversion {
                    from: c.from.into(),
                    to: c.to.into(),
                    count: c.count,
                    exposed: c.exposed,
                    rate_percent: Decimal(percent(c.count as i64, c.exposed as i64)),
                })
                .collect(),
        })
    }

    /// Revenue per calendar month (tenant's time zone) in one currency, voided sales
    /// excluded; every month from `from`'s to `to`'s is listed, at most 120.
    async fn revenue_by_month(
        &self,
        ctx: &Context<'_>,
        from: Date,
        to: Date,
        currency: String,
    ) -> Result<Vec<MonthRevenue>> {
        let months = service::revenue_by_month(&api(ctx).store, scope(ctx)?, &from.0, &to.0, &currency).await?;
        Ok(months
            .into_iter()
            .map(|m| MonthRevenue {
                month: m.month.format("%Y-%m").to_string(),
                revenue: m.revenue.into(),
                transactions: m.transactions,
            })
            .collect())
    }

    /// Per assignee: open, overdue, done on time and done late follow-ups; with a period,
    /// only those due in it. Most overdue first.
    async fn follow_up_discipline(
        &self,
        ctx: &Context<'_>,
        from: Option<Date>,
        to: Option<Date>,
    ) -> Result<Vec<FollowUpDiscipline>> {
        let api = api(ctx);
        let scope = scope(ctx)?;
        let period = match (&from, &to) {
            (Some(f), Some(t)) => Some((f.0.as_str(), t.0.as_str())),
            (None, None) => None,
            _ => {
                return Err(crate::domain::DomainError::validation(
                    if from.is_none() { "from" } else { "to" },
                    "give both ends of the period or neither",
                )
                .into());
            }
        };
        let rows = service::follow_up_discipline(&api.store, scope, period).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.assignee_id).collect();
        let mut people: HashMap<Uuid, entity::user::Model> = users::by_ids(&api.store, scope, &ids).await?;
        Ok(rows
            .into_iter()
            .map(|row| FollowUpDiscipline {
                assignee: people.remove(&row.assignee_id),
                row,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn percent_rounds_half_up_to_two_decimals() {
        assert_eq!(super::percent(1, 3), "33.33");
        assert_eq!(super::percent(2, 3), "66.67");
        assert_eq!(super::percent(800, 1000), "80.00");
        assert_eq!(super::percent(0, 0), "0.00");
    }
}
