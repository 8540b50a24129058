//! Interactions: the calls, meetings, visits and messages of a customer file. Logging one may
//! open a follow-up in the same transaction, so a promise made in a conversation is never lost.
//!
//! Interactions, follow-ups and feedback are visible and writable when their customer is
//! (sales staff: their own customers only; `follow_ups` adds the assignee's own access);
//! anything else is NOT_FOUND. The helpers shared by those three record kinds live here.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::enums::InteractionChannel;
use entity::{follow_up, interaction};
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use super::access::require_writer;
use super::custom_fields::query::{self as custom_query, FieldFilter};
use super::custom_fields::values::{self, Written};
use super::records::{self, CustomerRecord};
use super::{DomainError, DomainResult, Scoped, ScopedTx, Store, access, follow_ups, now, record_writes, validate};
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

/// Interactions are listed by when they happened.
pub type InteractionOrder = records::OccurredAtOrder;

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
    let customer = access::lock_writable(&tx, input.customer_id, "customerId").await?;
    let draft = interaction::Model {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        customer_id: customer.id,
        channel: input.channel,
        occurred_at,
        outcome,
        summary,
        created_by: scope.actor().user_id,
        created_at: at,
        custom_fields: serde_json::json!({}),
        custom_field_index: serde_json::json!({}),
        custom_fields_key_version: None,
    };
    let mut fields = vec!["customerId", "channel", "occurredAt", "summary"];
    if draft.outcome.is_some() {
        fields.push("outcome");
    }
    let given = input.custom_fields.as_ref();
    let created =
        record_writes::insert_new::<interaction::Entity>(&tx, draft, given, "interaction.log", &fields).await?;
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
    Ok((values::commit_written(tx, created).await?, opened))
}

impl CustomerRecord for interaction::Entity {
    const NOUN: &'static str = "interaction";
    type Filter = InteractionFilter;
    type Order = InteractionOrder;
    const CARRIES: Option<records::CarriedColumns<Self>> = records::carried_columns!(interaction);

    records::record_keys!(interaction);

    async fn narrow(
        tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        f: &InteractionFilter,
    ) -> DomainResult<Scoped<Select<Self>>> {
        let mut select = select;
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
        custom_query::narrowed::<Self, _>(tx, select, &f.custom_fields).await
    }

    fn file_filter(customer_id: Uuid) -> InteractionFilter {
        InteractionFilter {
            customer_id: Some(customer_id),
            ..Default::default()
        }
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
