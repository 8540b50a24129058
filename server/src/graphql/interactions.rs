//! Interactions with customers in the API: logging one (with the follow-up it may open) and
//! listing them.

use super::custom_fields::{self, CustomFieldFilter, CustomFieldOrder, CustomFieldValue};
use crate::domain::custom_fields::values::FieldValue;
use serde_json::Value as Json;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::interaction;
use uuid::Uuid;

use super::customers::Customer;
use super::follow_ups::FollowUp;
use super::loading::Related;
use super::records::{self, list_info};
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::interactions::{self as service, InteractionFilter as DomainFilter, NewInteraction};
use crate::domain::pagination::PageArgs;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::InteractionChannel")]
pub enum InteractionChannel {
    Call,
    Email,
    Meeting,
    Visit,
    Wechat,
    Other,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::interactions::InteractionOrder")]
pub enum InteractionOrder {
    #[default]
    OccurredAtDesc,
    OccurredAtAsc,
}

pub(crate) fn gql_id(id: Uuid) -> ID {
    ID(id.to_string())
}

/// A call, e-mail, meeting, visit or message with a customer.
pub struct Interaction {
    model: interaction::Model,
    related: Arc<Related>,
    /// The custom field values its write read before COMMIT.
    answered_fields: Option<Vec<FieldValue>>,
}

impl Interaction {
    /// Interactions loaded together: what they point at loads once for all of them.
    pub fn batch(models: Vec<interaction::Model>) -> Vec<Self> {
        let related = Related::of(
            models.iter().map(|i| i.customer_id).collect(),
            Vec::new(),
            models.iter().map(|i| i.id).collect(),
        );
        models
            .into_iter()
            .map(|model| Self {
                model,
                related: related.clone(),
                answered_fields: None,
            })
            .collect()
    }
}

#[Object]
impl Interaction {
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
    async fn channel(&self) -> InteractionChannel {
        self.model.channel.into()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.model.occurred_at
    }
    async fn summary(&self) -> &str {
        &self.model.summary
    }
    async fn outcome(&self) -> Option<&str> {
        self.model.outcome.as_deref()
    }
    /// The tenant's custom fields of this kind of record, key → value.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json> {
        let values = custom_fields::read_record(ctx, &self.model, self.answered_fields.as_ref()).await?;
        Ok(custom_fields::as_object(&values))
    }
    /// Every active custom field with its definition and value, in display order.
    async fn custom_field_values(&self, ctx: &Context<'_>) -> Result<Vec<CustomFieldValue>> {
        let values = custom_fields::read_record(ctx, &self.model, self.answered_fields.as_ref()).await?;
        Ok(values.into_iter().map(CustomFieldValue).collect())
    }
    /// The user who logged it.
    async fn created_by(&self) -> ID {
        gql_id(self.model.created_by)
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// The follow-up this interaction opened, if any.
    async fn follow_up(&self, ctx: &Context<'_>) -> Result<Option<FollowUp>> {
        self.related.opened_by(ctx, self.model.id).await
    }
}

#[derive(InputObject, Default)]
pub struct InteractionFilter {
    pub customer_id: Option<ID>,
    pub channel: Option<InteractionChannel>,
    /// Occurred at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before this moment.
    pub to: Option<DateTime<Utc>>,
    /// Conditions on custom fields, all of which must hold.
    pub custom_fields: Option<Vec<CustomFieldFilter>>,
}

impl InteractionFilter {
    fn into_domain(self) -> Result<DomainFilter> {
        Ok(DomainFilter {
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
            channel: self.channel.map(Into::into),
            from: self.from,
            to: self.to,
            custom_fields: custom_fields::filters(self.custom_fields),
        })
    }
}

list_info!(
    InteractionListInfo,
    interaction::Entity,
    "Interactions matching the filter, over all pages (counted only when asked)."
);

pub type InteractionConnection = Connection<String, Interaction, InteractionListInfo>;

#[derive(Default)]
pub struct InteractionQuery;

#[Object]
impl InteractionQuery {
    async fn interaction(&self, ctx: &Context<'_>, id: ID) -> Result<Interaction> {
        let id = parse_id("id", &id)?;
        let found = records::get::<interaction::Entity>(ctx, id).await?;
        Ok(Interaction::batch(vec![found]).remove(0))
    }

    /// Interactions of the customers the caller may see; one customer's with `filter.customerId`.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn interactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<InteractionFilter>,
        #[graphql(default)] order_by: InteractionOrder,
        #[graphql(desc = "Sorts by a custom field instead of `orderBy`.")] order_by_custom_field: Option<
            CustomFieldOrder,
        >,
    ) -> Result<InteractionConnection> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        records::list_by::<interaction::Entity, _, _>(
            ctx,
            args,
            filter,
            order_by.into(),
            order_by_custom_field,
            Interaction::batch,
        )
        .await
    }
}

#[derive(InputObject)]
pub struct LogInteractionInput {
    pub customer_id: ID,
    pub channel: InteractionChannel,
    /// When it happened; at most a few minutes ahead of the server's clock.
    pub occurred_at: DateTime<Utc>,
    pub summary: String,
    pub outcome: Option<String>,
    /// Opens a follow-up due then: after `occurredAt` and not in the past.
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// Who follows up (an active user who is not a viewer); defaults to the customer's
    /// owner. Only together with `nextFollowUpAt`.
    pub assignee_id: Option<ID>,
    /// Only together with `nextFollowUpAt`.
    pub follow_up_note: Option<String>,
    /// Custom field values, key → value; defaults fill the fields not given.
    pub custom_fields: Option<Json>,
}

#[derive(SimpleObject)]
pub struct LogInteractionPayload {
    pub interaction: Interaction,
    /// The follow-up opened by `nextFollowUpAt`.
    pub follow_up: Option<FollowUp>,
}

#[derive(Default)]
pub struct InteractionMutation;

#[Object]
impl InteractionMutation {
    /// Records an interaction with a customer and, with `nextFollowUpAt`, opens its follow-up.
    async fn log_interaction(&self, ctx: &Context<'_>, input: LogInteractionInput) -> Result<LogInteractionPayload> {
        let new = NewInteraction {
            customer_id: parse_id("customerId", &input.customer_id)?,
            channel: input.channel.into(),
            occurred_at: input.occurred_at,
            summary: input.summary,
            outcome: input.outcome,
            next_follow_up_at: input.next_follow_up_at,
            assignee_id: parse_optional_id("assigneeId", &input.assignee_id)?,
            follow_up_note: input.follow_up_note,
            custom_fields: input.custom_fields,
        };
        let (created, opened) = service::log(&api(ctx).store, scope(ctx)?, new).await?;
        let related = Related::opened_known(opened.iter().map(|f| (created.record.id, f.clone())).collect());
        Ok(LogInteractionPayload {
            follow_up: opened.map(|f| FollowUp::batch(vec![f]).remove(0)),
            interaction: Interaction {
                model: created.record,
                related,
                answered_fields: Some(created.custom_fields),
            },
        })
    }
}
