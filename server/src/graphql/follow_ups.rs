//! Follow-ups: the worklist of promised next contacts, and the changes to one.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::follow_up;

use super::customers::Customer;
use super::interactions::gql_id;
use super::loading::Related;
use super::records::{self, list_info};
use super::tenancy::User;
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::follow_ups::{self as service, FollowUpFilter as DomainFilter, NewFollowUp};
use crate::domain::now;
use crate::domain::pagination::PageArgs;

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::follow_ups::FollowUpOrder")]
pub enum FollowUpOrder {
    #[default]
    DueAtAsc,
    DueAtDesc,
}

/// A promised next contact with a customer; open until someone completes it.
pub struct FollowUp {
    model: follow_up::Model,
    related: Arc<Related>,
}

impl FollowUp {
    /// One of a batch whose related rows `related` loads.
    pub(crate) fn new(model: follow_up::Model, related: Arc<Related>) -> Self {
        Self { model, related }
    }

    /// Follow-ups loaded together: their customers and assignees load once for all of them.
    pub fn batch(models: Vec<follow_up::Model>) -> Vec<Self> {
        let related = Related::of(
            models.iter().map(|f| f.customer_id).collect(),
            models.iter().map(|f| f.assignee_id).collect(),
            Vec::new(),
        );
        models.into_iter().map(|m| Self::new(m, related.clone())).collect()
    }
}

#[Object]
impl FollowUp {
    async fn id(&self) -> ID {
        gql_id(self.model.id)
    }
    async fn customer_id(&self) -> ID {
        gql_id(self.model.customer_id)
    }
    /// Null when the caller may not see the customer (a sales colleague's customer whose
    /// follow-up was assigned to the caller).
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        self.related.customer(ctx, self.model.customer_id).await
    }
    /// The interaction that opened it, if any.
    async fn interaction_id(&self) -> Option<ID> {
        self.model.interaction_id.map(gql_id)
    }
    async fn assignee_id(&self) -> ID {
        gql_id(self.model.assignee_id)
    }
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        self.related.user(ctx, self.model.assignee_id).await
    }
    async fn due_at(&self) -> DateTime<Utc> {
        self.model.due_at
    }
    async fn note(&self) -> Option<&str> {
        self.model.note.as_deref()
    }
    async fn open(&self) -> bool {
        self.model.completed_at.is_none()
    }
    /// Open and due before now.
    async fn overdue(&self) -> bool {
        service::is_overdue(&self.model, now())
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.model.completed_at
    }
    async fn completed_by(&self) -> Option<ID> {
        self.model.completed_by.map(gql_id)
    }
    /// What came of it, as recorded on completion.
    async fn outcome(&self) -> Option<&str> {
        self.model.outcome.as_deref()
    }
    /// Send this back with a change to be told (CONFLICT) if someone changed it meanwhile.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_by(&self) -> ID {
        gql_id(self.model.created_by)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

#[derive(InputObject, Default)]
pub struct FollowUpFilter {
    pub assignee_id: Option<ID>,
    pub customer_id: Option<ID>,
    /// Due strictly before this moment.
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after this moment.
    pub due_after: Option<DateTime<Utc>>,
    /// true: open and due before now; false: done or not yet due.
    pub overdue: Option<bool>,
    /// true: open; false: completed. Both when absent.
    pub open: Option<bool>,
}

impl FollowUpFilter {
    fn into_domain(self) -> Result<DomainFilter> {
        Ok(DomainFilter {
            assignee_id: parse_optional_id("filter.assigneeId", &self.assignee_id)?,
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
            due_before: self.due_before,
            due_after: self.due_after,
            overdue: self.overdue,
            open: self.open,
            as_of: Some(now()),
        })
    }
}

list_info!(
    FollowUpListInfo,
    follow_up::Entity,
    "Follow-ups matching the filter, over all pages (counted only when asked)."
);

pub type FollowUpConnection = Connection<String, FollowUp, FollowUpListInfo>;

#[derive(Default)]
pub struct FollowUpQuery;

#[Object]
impl FollowUpQuery {
    async fn follow_up(&self, ctx: &Context<'_>, id: ID) -> Result<FollowUp> {
        let id = parse_id("id", &id)?;
        Ok(FollowUp::batch(vec![records::get::<follow_up::Entity>(ctx, id).await?]).remove(0))
    }

    /// Follow-ups of the customers the caller may see, and for sales staff also those
    /// assigned to them; soonest due first unless `orderBy` says otherwise.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn follow_ups(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<FollowUpFilter>,
        #[graphql(default)] order_by: FollowUpOrder,
    ) -> Result<FollowUpConnection> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        records::list::<follow_up::Entity, _, _>(ctx, args, filter, order_by.into(), FollowUp::batch).await
    }
}

#[derive(InputObject)]
pub struct ScheduleFollowUpInput {
    pub customer_id: ID,
    /// May lie in the past, to record a promise already missed (it is overdue at once).
    pub due_at: DateTime<Utc>,
    /// An active user who is not a viewer; defaults to the customer's owner.
    pub assignee_id: Option<ID>,
    pub note: Option<String>,
}

#[derive(InputObject)]
pub struct CompleteFollowUpInput {
    pub id: ID,
    /// What came of it.
    pub outcome: Option<String>,
    /// When given, refused with CONFLICT if the follow-up changed since.
    pub version: Option<i32>,
}

#[derive(InputObject)]
pub struct RescheduleFollowUpInput {
    pub id: ID,
    /// The new due time; not in the past.
    pub due_at: DateTime<Utc>,
    /// Added to the note together with the due time it replaces.
    pub reason: Option<String>,
    /// When given, refused with CONFLICT if the follow-up changed since.
    pub version: Option<i32>,
}

#[derive(InputObject)]
pub struct ReassignFollowUpInput {
    pub id: ID,
    /// An active user who is not a viewer.
    pub assignee_id: ID,
    /// When given, refused with CONFLICT if the follow-up changed since.
    pub version: Option<i32>,
}

#[derive(SimpleObject)]
pub struct FollowUpPayload {
    pub follow_up: FollowUp,
}

fn payload(model: follow_up::Model) -> FollowUpPayload {
    FollowUpPayload {
        follow_up: FollowUp::batch(vec![model]).remove(0),
    }
}

#[derive(Default)]
pub struct FollowUpMutation;

#[Object]
impl FollowUpMutation {
    /// Schedules a follow-up that no interaction opened.
    async fn schedule_follow_up(&self, ctx: &Context<'_>, input: ScheduleFollowUpInput) -> Result<FollowUpPayload> {
        let new = NewFollowUp {
            customer_id: parse_id("customerId", &input.customer_id)?,
            due_at: input.due_at,
            assignee_id: parse_optional_id("assigneeId", &input.assignee_id)?,
            note: input.note,
        };
        Ok(payload(service::schedule(&api(ctx).store, scope(ctx)?, new).await?))
    }

    /// Marks an open follow-up done. Its assignee may do so even on a colleague's customer.
    async fn complete_follow_up(&self, ctx: &Context<'_>, input: CompleteFollowUpInput) -> Result<FollowUpPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::complete(&api(ctx).store, scope(ctx)?, id, input.outcome, input.version).await?,
        ))
    }

    /// Moves an open follow-up to a new due time. Its assignee may do so even on a
    /// colleague's customer.
    async fn reschedule_follow_up(&self, ctx: &Context<'_>, input: RescheduleFollowUpInput) -> Result<FollowUpPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::reschedule(
                &api(ctx).store,
                scope(ctx)?,
                id,
                input.due_at,
                input.reason,
                input.version,
            )
            .await?,
        ))
    }

    /// Hands an open follow-up to another user; needs access to its customer.
    async fn reassign_follow_up(&self, ctx: &Context<'_>, input: ReassignFollowUpInput) -> Result<FollowUpPayload> {
        let id = parse_id("id", &input.id)?;
        let assignee = parse_id("assigneeId", &input.assignee_id)?;
        Ok(payload(
            service::reassign(&api(ctx).store, scope(ctx)?, id, assignee, input.version).await?,
        ))
    }
}
