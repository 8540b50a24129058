//! Interactions: the calls, meetings, visits and messages of a customer file. Logging one may
//! open a follow-up in the same transaction, so a promise made in a conversation is never lost.
//!
//! Interactions, follow-ups and feedback are visible and writable when their customer is
//! (sales staff: their own customers only; `follow_ups` adds the assignee's own access);
//! anything else is NOT_FOUND. The helpers shared by those three record kinds live here.

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::enums::InteractionChannel;
use entity::{follow_up, interaction};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, Order, PaginatorTrait, QueryFilter, Select,
};
use uuid::Uuid;

use super::batch::CustomerRecords;
use super::custom_fields::query::{self as custom_query, FieldFilter, FieldOrder};
use super::custom_fields::values::Written;
use super::custom_fields::{FieldEntity, values};
use super::customers::{self, require_writer};
use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use super::{DomainError, DomainResult, Store, audit, follow_ups, now, validate};
use crate::tenancy::TenantScope;

/// Clocks of phones and laptops drift; a time this little ahead of ours still counts as "now".
pub(crate) const CLOCK_TOLERANCE: Duration = Duration::minutes(5);

const SUMMARY_MAX: usize = 5000;
pub(crate) const OUTCOME_MAX: usize = 2000;

pub struct NewInteraction {
    pub customer_id: Uuid,
    pub channel: InteractionChannel,
    pub occurred_at: DateTime<Utc>,
    pub summary: String,
    pub outcome: Option<String>,
    /// Opens a follow-up due then.
    pub next_follow_up_at: Option<DateTime<Utc>>,
    /// Who follows up; the customer's owner when absent. Only with `next_follow_up_at`.
    pub assignee_id: Option<Uuid>,
    pub follow_up_note: Option<String>,
    /// Custom field values (key → value), checked against the tenant's definitions.
    pub custom_fields: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    pub customer_id: Option<Uuid>,
    pub channel: Option<InteractionChannel>,
    /// Occurred at or after.
    pub from: Option<DateTime<Utc>>,
    /// Occurred before.
    pub to: Option<DateTime<Utc>>,
    /// Conditions on custom field values, all of which must hold.
    pub custom_fields: Vec<FieldFilter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InteractionOrder {
    #[default]
    OccurredAtDesc,
    OccurredAtAsc,
}

impl InteractionOrder {
    fn key(self) -> &'static str {
        match self {
            Self::OccurredAtDesc => "OCCURRED_AT_DESC",
            Self::OccurredAtAsc => "OCCURRED_AT_ASC",
        }
    }
}

/// A moment that has already happened (give or take the clock tolerance).
pub(crate) fn not_in_future(field: &str, at: DateTime<Utc>, now: DateTime<Utc>) -> DomainResult<()> {
    if at > now + CLOCK_TOLERANCE {
        return Err(DomainError::validation(field, "cannot be in the future"));
    }
    if at < earliest() {
        return Err(DomainError::validation(field, "must be after 1900-01-01"));
    }
    Ok(())
}

/// 1900-01-01, the earliest moment the file takes, as for dates.
pub(crate) fn earliest() -> DateTime<Utc> {
    DateTime::from_timestamp(-2_208_988_800, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Records an interaction and, with `next_follow_up_at`, opens its follow-up.
///
/// `next_follow_up_at` must come after the interaction and not lie in the past: it is the
/// plan made in that conversation. A promise that was already missed is recorded with
/// `follow_ups::schedule`, which accepts past due times.
pub async fn log(
    store: &Store,
    scope: &TenantScope,
    input: NewInteraction,
) -> DomainResult<(Written<interaction::Model>, Option<follow_up::Model>)> {
    require_writer(scope)?;
    let at = now();
    let occurred_at = input.occurred_at.trunc_subsecs(6);
    not_in_future("occurredAt", occurred_at, at)?;
    let summary = validate::required_text("summary", Some(input.summary), SUMMARY_MAX)?;
    let outcome = validate::optional_text("outcome", input.outcome, OUTCOME_MAX)?;
    let note = validate::optional_text("followUpNote", input.follow_up_note, follow_ups::NOTE_MAX)?;
    match input.next_follow_up_at {
        None => {
            if input.assignee_id.is_some() {
                return Err(DomainError::validation(
                    "assigneeId",
                    "is only allowed together with nextFollowUpAt",
                ));
            }
            if note.is_some() {
                return Err(DomainError::validation(
                    "followUpNote",
                    "is only allowed together with nextFollowUpAt",
                ));
            }
        }
        Some(due) => {
            if due <= occurred_at {
                return Err(DomainError::validation("nextFollowUpAt", "must be after occurredAt"));
            }
            follow_ups::upcoming("nextFollowUpAt", due, at)?;
        }
    }

    let tx = store.begin_scoped(scope).await?;
    let customer = customers::lock_writable(&tx, input.customer_id, "customerId").await?;
    let id = Uuid::now_v7();
    let custom = values::prepare(
        store,
        &tx,
        scope,
        FieldEntity::Interaction,
        id,
        None,
        input.custom_fields.as_ref(),
    )
    .await?;
    let draft = interaction::Model {
        id,
        tenant_id: scope.tenant_id(),
        customer_id: customer.id,
        channel: input.channel,
        occurred_at,
        summary,
        outcome,
        created_by: scope.actor().user_id,
        created_at: at,
        custom_fields: custom.values.clone(),
        custom_field_index: custom.index.clone(),
        custom_fields_key_version: custom.key_version,
    };
    let created = interaction::Entity::insert(draft.into_active_model().reset_all())
        .exec_with_returning(&tx)
        .await?;
    let mut fields = vec!["customerId", "channel", "occurredAt", "summary"];
    if created.outcome.is_some() {
        fields.push("outcome");
    }
    audit::record(&tx, "interaction.log", Some(created.id), &custom.audit_fields(&fields)).await?;
    let opened = match input.next_follow_up_at {
        Some(due) => {
            let assignee = follow_ups::assignee_for(&tx, &customer, input.assignee_id, "assigneeId").await?;
            let draft = follow_ups::Draft {
                customer_id: customer.id,
                interaction_id: Some(created.id),
                assignee_id: assignee,
                due_at: due,
                note,
            };
            Some(follow_ups::insert(&tx, draft, at).await?)
        }
        None => None,
    };
    Ok((values::commit_written(tx, store, scope, created).await?, opened))
}

pub async fn get(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<interaction::Model> {
    let tx = store.begin_scoped(scope).await?;
    let found = customers::records_visible::<interaction::Entity>(scope, interaction::Column::CustomerId)
        .filter(interaction::Column::Id.eq(id))
        .one(&tx)
        .await?;
    tx.commit().await?;
    found.ok_or(DomainError::NotFound("interaction"))
}

fn filtered(scope: &TenantScope, f: &InteractionFilter) -> Select<interaction::Entity> {
    let mut select = customers::records_visible::<interaction::Entity>(scope, interaction::Column::CustomerId);
    if let Some(id) = f.customer_id {
        select = select.filter(interaction::Column::CustomerId.eq(id));
    }
    if let Some(channel) = f.channel {
        select = select.filter(interaction::Column::Channel.eq(channel));
    }
    if let Some(from) = f.from {
        select = select.filter(interaction::Column::OccurredAt.gte(from));
    }
    if let Some(to) = f.to {
        select = select.filter(interaction::Column::OccurredAt.lt(to));
    }
    select
}

/// A page of interactions; `by_custom_field`, when given, sorts instead of `order`.
pub async fn list(
    store: &Store,
    scope: &TenantScope,
    filter: &InteractionFilter,
    order: InteractionOrder,
    by_custom_field: Option<&FieldOrder>,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<interaction::Model>> {
    let tx = store.begin_scoped(scope).await?;
    let select = custom_query::narrowed(store, &tx, scope, filtered(scope, filter), &filter.custom_fields).await?;
    if let Some(by) = by_custom_field {
        let page = custom_query::sorted_page(store, &tx, scope, select, by, args, max_page_size).await?;
        tx.commit().await?;
        return Ok(page);
    }
    let request = PageRequest::new(args, order.key(), true, max_page_size)?;
    let select = request.apply(
        select,
        interaction::Column::OccurredAt,
        interaction::Column::Id,
        order == InteractionOrder::OccurredAtDesc,
    );
    let rows = select.all(&tx).await?;
    tx.commit().await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: order.key().into(),
        value: SortValue::Time(row.occurred_at),
        id: row.id,
    }))
}

pub async fn count(store: &Store, scope: &TenantScope, filter: &InteractionFilter) -> DomainResult<u64> {
    let tx = store.begin_scoped(scope).await?;
    let select = custom_query::narrowed(store, &tx, scope, filtered(scope, filter), &filter.custom_fields).await?;
    let n = select.count(&tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// The latest `per_customer` interactions of each customer, newest first, in one statement.
pub async fn for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
    per_customer: u64,
) -> DomainResult<HashMap<Uuid, Vec<interaction::Model>>> {
    of_customers(scope)
        .first(
            store,
            scope,
            customer_ids,
            &[
                (interaction::Column::OccurredAt, Order::Desc),
                (interaction::Column::Id, Order::Desc),
            ],
            per_customer,
            |row| row.customer_id,
        )
        .await
}

pub async fn count_for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, u64>> {
    of_customers(scope).count(store, scope, customer_ids).await
}

/// This kind of record as the caller may see it, loaded for a page of customers at once.
fn of_customers(scope: &TenantScope) -> CustomerRecords<interaction::Entity> {
    CustomerRecords {
        records: customers::records_visible::<interaction::Entity>(scope, interaction::Column::CustomerId),
        customer: interaction::Column::CustomerId,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moment_a_little_ahead_of_our_clock_still_counts_as_now() {
        let at = now();
        assert!(not_in_future("occurredAt", at + Duration::minutes(4), at).is_ok());
        assert!(not_in_future("occurredAt", at + Duration::minutes(6), at).is_err());
        assert!(not_in_future("occurredAt", earliest() - Duration::seconds(1), at).is_err());
    }
}
