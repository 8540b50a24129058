//! Interactions with customers, and the per-page loading of what the records of a customer
//! file point at (customer, users, opened follow-up), shared with follow-ups and feedback.

use super::custom_fields::{self, CustomFieldFilter, CustomFieldOrder, CustomFieldValue};
use crate::domain::custom_fields::query::FieldOrder;
use crate::domain::custom_fields::values::FieldValue;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Lookahead, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{customer, follow_up, interaction, user};
use uuid::Uuid;

use super::customers::Customer;
use super::follow_ups::FollowUp;
use super::tenancy::User;
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::customers::{self, dedup};
use crate::domain::interactions::{self as service, InteractionFilter as DomainFilter, NewInteraction};
use crate::domain::pagination::PageArgs;
use crate::domain::{follow_ups, users};
use crate::tenancy::TenantScope;

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

/// Where the fields of a list's records are asked for: a connection has two places,
/// `edges.node` and `nodes`.
pub(crate) struct Selection<'a>(Vec<Lookahead<'a>>);

impl<'a> Selection<'a> {
    pub(crate) fn nodes(look: Lookahead<'a>) -> Self {
        Self(vec![look.field("edges").field("node"), look.field("nodes")])
    }

    pub(crate) fn field(&self, name: &str) -> Self {
        Self(self.0.iter().map(|l| l.field(name)).collect())
    }

    pub(crate) fn exists(&self) -> bool {
        self.0.iter().any(Lookahead::exists)
    }
}

/// Rows that a page of records points at, loaded once for the whole page so nested fields
/// cost a constant number of queries. A map left `None` was not asked for; the field then
/// loads for its own record.
#[derive(Default)]
pub struct Related {
    customers: Option<HashMap<Uuid, customer::Model>>,
    users: Option<HashMap<Uuid, user::Model>>,
    /// By the id of the interaction that opened them.
    follow_ups: Option<HashMap<Uuid, follow_up::Model>>,
}

impl Related {
    /// Loads what `node` asks for of a page whose records point at `customer_ids`, at users
    /// `user_ids` (through `assignee` or `recipient`) and are, for interactions, `interaction_ids`.
    pub(crate) async fn for_page(
        ctx: &Context<'_>,
        node: &Selection<'_>,
        customer_ids: Vec<Uuid>,
        mut user_ids: Vec<Uuid>,
        interaction_ids: Vec<Uuid>,
    ) -> Result<Arc<Self>> {
        let (store, scope) = (&api(ctx).store, scope(ctx)?);
        let mut related = Related::default();
        let mut wants_customers = node.field("customer").exists();
        let mut wants_users = node.field("assignee").exists() || node.field("recipient").exists();
        let opened = node.field("followUp");
        if opened.exists() && !interaction_ids.is_empty() {
            let found = follow_ups::for_interactions(store, scope, &interaction_ids).await?;
            wants_customers |= opened.field("customer").exists();
            if opened.field("assignee").exists() {
                wants_users = true;
                user_ids.extend(found.values().map(|f| f.assignee_id));
            }
            related.follow_ups = Some(found);
        }
        if wants_customers {
            related.customers = Some(customers::by_ids(store, scope, &dedup(&customer_ids)).await?);
        }
        if wants_users {
            related.users = Some(users::by_ids(store, scope, &dedup(&user_ids)).await?);
        }
        Ok(Arc::new(related))
    }

    /// The customer, if the caller may see it.
    pub(crate) async fn customer(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Customer>> {
        let found = match &self.customers {
            Some(map) => map.get(&id).cloned(),
            None => customers::by_ids(&api(ctx).store, scope(ctx)?, &[id])
                .await?
                .remove(&id),
        };
        Ok(found.map(Customer::single))
    }

    pub(crate) async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<User>> {
        let found = match &self.users {
            Some(map) => map.get(&id).cloned(),
            None => users::by_ids(&api(ctx).store, scope(ctx)?, &[id]).await?.remove(&id),
        };
        Ok(found.map(User))
    }

    async fn opened_by(&self, ctx: &Context<'_>, interaction_id: Uuid) -> Result<Option<follow_up::Model>> {
        Ok(match &self.follow_ups {
            Some(map) => map.get(&interaction_id).cloned(),
            None => follow_ups::for_interactions(&api(ctx).store, scope(ctx)?, &[interaction_id])
                .await?
                .remove(&interaction_id),
        })
    }
}

/// A call, e-mail, meeting, visit or message with a customer.
pub struct Interaction {
    model: interaction::Model,
    related: Arc<Related>,
    /// The custom field values its write read before COMMIT.
    answered_fields: Option<Vec<FieldValue>>,
}

impl Interaction {
    /// One of a page whose related rows `related` holds (see `Related::for_page`).
    pub fn new(model: interaction::Model, related: Arc<Related>) -> Self {
        Self {
            model,
            related,
            answered_fields: None,
        }
    }

    /// A lone interaction; its nested fields load on their own.
    pub fn from_model(model: interaction::Model) -> Self {
        Self::new(model, Arc::default())
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
        let opened = self.related.opened_by(ctx, self.model.id).await?;
        Ok(opened.map(|f| FollowUp::new(f, self.related.clone())))
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

/// Extra fields of an interaction list.
pub struct InteractionListInfo {
    scope: TenantScope,
    filter: DomainFilter,
    /// Known already when the list was loaded for a page of customers.
    known_total: Option<u64>,
}

#[Object]
impl InteractionListInfo {
    /// Interactions matching the filter, over all pages (counted only when asked).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        if let Some(n) = self.known_total {
            return Ok(n);
        }
        Ok(service::count(&api(ctx).store, &self.scope, &self.filter).await?)
    }
}

pub type InteractionConnection = Connection<String, Interaction, InteractionListInfo>;

#[derive(Default)]
pub struct InteractionQuery;

#[Object]
impl InteractionQuery {
    async fn interaction(&self, ctx: &Context<'_>, id: ID) -> Result<Interaction> {
        let id = parse_id("id", &id)?;
        Ok(Interaction::from_model(
            service::get(&api(ctx).store, scope(ctx)?, id).await?,
        ))
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
        let api = api(ctx);
        let scope = scope(ctx)?;
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs {
            first,
            after,
            last,
            before,
        };
        let by_custom_field = order_by_custom_field.map(FieldOrder::from);
        let page = service::list(
            &api.store,
            scope,
            &filter,
            order_by.into(),
            by_custom_field.as_ref(),
            &args,
            api.max_page_size,
        )
        .await?;
        let related = Related::for_page(
            ctx,
            &Selection::nodes(ctx.look_ahead()),
            page.items.iter().map(|(_, i)| i.customer_id).collect(),
            Vec::new(),
            page.items.iter().map(|(_, i)| i.id).collect(),
        )
        .await?;
        Ok(super::page_connection(
            page,
            InteractionListInfo {
                scope: scope.clone(),
                filter,
                known_total: None,
            },
            |model| Interaction::new(model, related.clone()),
        ))
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
        let related = Arc::new(Related {
            follow_ups: Some(opened.iter().map(|f| (created.record.id, f.clone())).collect()),
            ..Default::default()
        });
        Ok(LogInteractionPayload {
            follow_up: opened.map(|f| FollowUp::new(f, related.clone())),
            interaction: Interaction {
                answered_fields: Some(created.custom_fields),
                ..Interaction::new(created.record, related)
            },
        })
    }
}

/// One customer's first rows, loaded with the rest of a page of customers.
pub(crate) fn nested_connection(
    scope: &TenantScope,
    filter: DomainFilter,
    rows: Vec<interaction::Model>,
    first: usize,
    total: u64,
) -> Connection<String, Interaction, InteractionListInfo> {
    super::first_rows_connection(
        rows,
        first,
        InteractionListInfo {
            scope: scope.clone(),
            filter,
            known_total: Some(total),
        },
        |row| {
            crate::domain::pagination::Cursor {
                sort: "OCCURRED_AT_DESC".into(),
                value: crate::domain::pagination::SortValue::Time(row.occurred_at),
                id: row.id,
            }
            .encode()
        },
        Interaction::from_model,
    )
}
