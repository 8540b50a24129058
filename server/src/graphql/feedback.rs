//! Feedback from customers: recording it, resolving it, and the list of it.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::feedback;

use super::customers::Customer;
use super::interactions::{Related, Selection, gql_id};
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::feedback::{self as service, FeedbackFilter as DomainFilter, NewFeedback};
use crate::domain::pagination::PageArgs;
use crate::tenancy::TenantScope;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::FeedbackKind")]
pub enum FeedbackKind {
    Praise,
    Suggestion,
    Complaint,
}

/// Praise, a suggestion or a complaint from a customer, and how it was resolved.
pub struct Feedback {
    model: feedback::Model,
    related: Arc<Related>,
}

impl Feedback {
    /// One of a page whose related rows `related` holds (see `Related::for_page`).
    pub fn new(model: feedback::Model, related: Arc<Related>) -> Self {
        Self { model, related }
    }

    /// A lone feedback entry; its nested fields load on their own.
    pub fn from_model(model: feedback::Model) -> Self {
        Self::new(model, Arc::default())
    }
}

#[Object]
impl Feedback {
    async fn id(&self) -> ID {
        gql_id(self.model.id)
    }
    async fn customer_id(&self) -> ID {
        gql_id(self.model.customer_id)
    }
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        self.related.customer(ctx, self.model.customer_id).await
    }
    async fn kind(&self) -> FeedbackKind {
        self.model.kind.into()
    }
    async fn content(&self) -> &str {
        &self.model.content
    }
    /// 1 (worst) to 5 (best).
    async fn score(&self) -> Option<i32> {
        self.model.score.map(i32::from)
    }
    async fn received_at(&self) -> DateTime<Utc> {
        self.model.received_at
    }
    async fn resolution(&self) -> Option<&str> {
        self.model.resolution.as_deref()
    }
    async fn resolved(&self) -> bool {
        self.model.resolved_at.is_some()
    }
    async fn resolved_at(&self) -> Option<DateTime<Utc>> {
        self.model.resolved_at
    }
    async fn resolved_by(&self) -> Option<ID> {
        self.model.resolved_by.map(gql_id)
    }
    /// The user who recorded it.
    async fn created_by(&self) -> ID {
        gql_id(self.model.created_by)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
}

#[derive(InputObject, Default)]
pub struct FeedbackFilter {
    pub customer_id: Option<ID>,
    pub kind: Option<FeedbackKind>,
    /// true: resolved; false: still open. Both when absent.
    pub resolved: Option<bool>,
}

impl FeedbackFilter {
    fn into_domain(self) -> Result<DomainFilter> {
        Ok(DomainFilter {
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
            kind: self.kind.map(Into::into),
            resolved: self.resolved,
        })
    }
}

/// Extra fields of a feedback list.
pub struct FeedbackListInfo {
    scope: TenantScope,
    filter: DomainFilter,
    /// Known already when the list was loaded for a page of customers.
    known_total: Option<u64>,
}

#[Object]
impl FeedbackListInfo {
    /// Feedback matching the filter, over all pages (counted only when asked).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        if let Some(n) = self.known_total {
            return Ok(n);
        }
        Ok(service::count(&api(ctx).store, &self.scope, &self.filter).await?)
    }
}

pub type FeedbackConnection = Connection<String, Feedback, FeedbackListInfo>;

#[derive(Default)]
pub struct FeedbackQuery;

#[Object]
impl FeedbackQuery {
    /// One feedback entry by id.
    async fn feedback_entry(&self, ctx: &Context<'_>, id: ID) -> Result<Feedback> {
        let id = parse_id("id", &id)?;
        Ok(Feedback::from_model(
            service::get(&api(ctx).store, scope(ctx)?, id).await?,
        ))
    }

    /// Feedback of the customers the caller may see, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    pub(crate) async fn feedback(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<FeedbackFilter>,
    ) -> Result<FeedbackConnection> {
        let api = api(ctx);
        let scope = scope(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let page = service::list(&api.store, scope, &filter, &args, api.max_page_size).await?;
        let related = Related::for_page(
            ctx,
            &Selection::nodes(ctx.look_ahead()),
            page.items.iter().map(|(_, f)| f.customer_id).collect(),
            Vec::new(),
            Vec::new(),
        )
        .await?;
        Ok(super::page_connection(
            page,
            FeedbackListInfo {
                scope: scope.clone(),
                filter,
                known_total: None,
            },
            |model| Feedback::new(model, related.clone()),
        ))
    }
}

#[derive(InputObject)]
pub struct RecordFeedbackInput {
    pub customer_id: ID,
    pub kind: FeedbackKind,
    pub content: String,
    /// 1 (worst) to 5 (best).
    pub score: Option<i32>,
    /// When the customer gave it; defaults to now.
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(InputObject)]
pub struct ResolveFeedbackInput {
    pub id: ID,
    /// What was done about it.
    pub resolution: String,
}

#[derive(SimpleObject)]
pub struct FeedbackPayload {
    pub feedback: Feedback,
}

#[derive(Default)]
pub struct FeedbackMutation;

#[Object]
impl FeedbackMutation {
    async fn record_feedback(&self, ctx: &Context<'_>, input: RecordFeedbackInput) -> Result<FeedbackPayload> {
        let new = NewFeedback {
            customer_id: parse_id("customerId", &input.customer_id)?,
            kind: input.kind.into(),
            content: input.content,
            score: input.score,
            received_at: input.received_at,
        };
        let created = service::record(&api(ctx).store, scope(ctx)?, new).await?;
        Ok(FeedbackPayload {
            feedback: Feedback::from_model(created),
        })
    }

    /// Records how the feedback was dealt with; it can be resolved once.
    async fn resolve_feedback(&self, ctx: &Context<'_>, input: ResolveFeedbackInput) -> Result<FeedbackPayload> {
        let id = parse_id("id", &input.id)?;
        let resolved = service::resolve(&api(ctx).store, scope(ctx)?, id, input.resolution).await?;
        Ok(FeedbackPayload {
            feedback: Feedback::from_model(resolved),
        })
    }
}

/// One customer's first rows, loaded with the rest of a page of customers.
pub(crate) fn nested_connection(
    scope: &TenantScope,
    filter: DomainFilter,
    rows: Vec<feedback::Model>,
    first: usize,
    total: u64,
) -> Connection<String, Feedback, FeedbackListInfo> {
    super::first_rows_connection(
        rows,
        first,
        FeedbackListInfo {
            scope: scope.clone(),
            filter,
            known_total: Some(total),
        },
        |row| {
            crate::domain::pagination::Cursor {
                sort: "RECEIVED_AT_DESC".into(),
                value: crate::domain::pagination::SortValue::Time(row.received_at),
                id: row.id,
            }
            .encode()
        },
        Feedback::from_model,
    )
}
