//! Feedback from customers: recording it, resolving it, and the list of it.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::feedback;

use super::customers::Customer;
use super::interactions::gql_id;
use super::loading::Related;
use super::records::{self, list_info};
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::feedback::{self as service, FeedbackFilter as DomainFilter, NewFeedback};
use crate::domain::pagination::PageArgs;

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
    /// Feedback loaded together: their customers load once for all of them.
    pub fn batch(models: Vec<feedback::Model>) -> Vec<Self> {
        let related = Related::of(models.iter().map(|f| f.customer_id).collect(), Vec::new(), Vec::new());
        models
            .into_iter()
            .map(|model| Self {
                model,
                related: related.clone(),
            })
            .collect()
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

list_info!(
    FeedbackListInfo,
    feedback::Entity,
    "Feedback matching the filter, over all pages (counted only when asked)."
);

pub type FeedbackConnection = Connection<String, Feedback, FeedbackListInfo>;

#[derive(Default)]
pub struct FeedbackQuery;

#[Object]
impl FeedbackQuery {
    /// One feedback entry by id.
    async fn feedback_entry(&self, ctx: &Context<'_>, id: ID) -> Result<Feedback> {
        let id = parse_id("id", &id)?;
        Ok(Feedback::batch(vec![records::get::<feedback::Entity>(ctx, id).await?]).remove(0))
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
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        records::list::<feedback::Entity, _, _>(ctx, args, filter, Default::default(), Feedback::batch).await
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
            feedback: Feedback::batch(vec![created]).remove(0),
        })
    }

    /// Records how the feedback was dealt with; it can be resolved once.
    async fn resolve_feedback(&self, ctx: &Context<'_>, input: ResolveFeedbackInput) -> Result<FeedbackPayload> {
        let id = parse_id("id", &input.id)?;
        let resolved = service::resolve(&api(ctx).store, scope(ctx)?, id, input.resolution).await?;
        Ok(FeedbackPayload {
            feedback: Feedback::batch(vec![resolved]).remove(0),
        })
    }
}
