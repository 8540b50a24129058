//! Analytics across the book, for managers and above.

use std::collections::HashMap;

use async_graphql::{Context, Enum, ID, Object, Result, SimpleObject};
use uuid::Uuid;

use super::customers::{Customer, CustomerStatus};
use super::reads::read_tx;
use super::scalars::{Date, Decimal, Money};
use super::tenancy::User;
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
    share_percent: String,
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
        Decimal(self.share_percent.clone())
    }
    /// Highest monetary value first.
    async fn customers(&self) -> &[CustomerValueScore] {
        &self.members
    }
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
        let tx = read_tx(ctx).await?;
        let result = service::value_tiers(&tx, &from.0, &to.0, &currency).await?;
        let ids: Vec<Uuid> = result.scores.iter().map(|s| s.customer_id).collect();
        let customers = customer_service::by_ids(&tx, &ids).await?;
        tx.done().await?;
        let member = |s: &service::CustomerScore| CustomerValueScore {
            score: s.clone(),
            customer: customers.get(&s.customer_id).cloned(),
        };
        let tiers = [DomainTier::High, DomainTier::Medium, DomainTier::Low]
            .into_iter()
            .map(|tier| ValueTierGroup {
                tier,
                members: result.in_tier(tier).into_iter().map(member).collect(),
            })
            .collect();
        let abc = [DomainAbc::A, DomainAbc::B, DomainAbc::C]
            .into_iter()
            .map(|class| AbcGroup {
                class,
                members: result.in_class(class).into_iter().map(member).collect(),
                revenue: result.class_revenue(class),
                share_percent: result.class_share_percent(class),
            })
            .collect();
        Ok(CustomerValueTiers {
            from: result.from.into(),
            to: result.to.into(),
            currency: result.currency.code().to_owned(),
            customers_scored: result.scores.len(),
            tiers,
            abc,
        })
    }

    /// Active customers per status, and how customers moved between statuses from `from` to
    /// `to` (whole days in the tenant's time zone, both included).
    async fn pipeline(&self, ctx: &Context<'_>, from: Date, to: Date) -> Result<Pipeline> {
        let tx = read_tx(ctx).await?;
        let p = service::pipeline(&tx, &from.0, &to.0).await?;
        tx.done().await?;
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
                    rate_percent: Decimal(c.rate_percent()),
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
        let tx = read_tx(ctx).await?;
        let months = service::revenue_by_month(&tx, &from.0, &to.0, &currency).await?;
        tx.done().await?;
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
        let (from, to) = (from.as_ref().map(|d| d.0.as_str()), to.as_ref().map(|d| d.0.as_str()));
        let tx = read_tx(ctx).await?;
        let rows = service::follow_up_discipline(&tx, from, to).await?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.assignee_id).collect();
        let mut people: HashMap<Uuid, entity::user::Model> = users::by_ids_in(&tx, &ids).await?;
        tx.done().await?;
        Ok(rows
            .into_iter()
            .map(|row| FollowUpDiscipline {
                assignee: people.remove(&row.assignee_id),
                row,
            })
            .collect())
    }
}
