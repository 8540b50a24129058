//! Follow-ups: promised next contacts with a customer, each with one assignee, open until
//! someone completes it. They are the salesperson's worklist, so besides the customer-based
//! access every record has, a sales user also sees and works the follow-ups assigned to them
//! on a colleague's customer (without seeing that customer).

use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::enums::{ReminderKind, Role};
use entity::{follow_up, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, IntoActiveModel, QueryFilter, Select};
use uuid::Uuid;

use super::access::{self, require_writer};
use super::interactions::{CLOCK_TOLERANCE, OUTCOME_MAX, earliest};
use super::pagination::{SortKind, SortValue};
use super::records::{self, CustomerRecord, RecordOrder};
use super::{
    DomainError, DomainResult, Scoped, ScopedTx, Store, audit, now, record_writes, reminders, validate, versioned,
};
use crate::tenancy::TenantScope;

pub(crate) const NOTE_MAX: usize = 2000;
const REASON_MAX: usize = 500;
/// Reschedule reasons accumulate in the note; past this it is time for a fresh follow-up.
const NOTE_WITH_HISTORY_MAX: usize = 10_000;
/// Further ahead than this is a typo (2062 for 2026), not a plan.
const HORIZON_DAYS: i64 = 3660;

pub struct NewFollowUp {
    pub customer_id: Uuid,
    pub due_at: DateTime<Utc>,
    /// The customer's owner when absent.
    pub assignee_id: Option<Uuid>,
    pub note: Option<String>,
}

/// A validated follow-up about to be inserted.
pub(crate) struct Draft {
    pub customer_id: Uuid,
    pub interaction_id: Option<Uuid>,
    pub assignee_id: Uuid,
    pub due_at: DateTime<Utc>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FollowUpFilter {
    pub assignee_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// Due strictly before.
    pub due_before: Option<DateTime<Utc>>,
    /// Due at or after.
    pub due_after: Option<DateTime<Utc>>,
    /// `true`: open and due before `as_of`; `false`: done, or not yet due.
    pub overdue: Option<bool>,
    /// `true`: open; `false`: completed.
    pub open: Option<bool>,
    /// The moment `overdue` is judged at, so a page and its total agree; now when absent.
    pub as_of: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FollowUpOrder {
    #[default]
    DueAtAsc,
    DueAtDesc,
}

impl RecordOrder<follow_up::Entity> for FollowUpOrder {
    fn key(self) -> &'static str {
        match self {
            Self::DueAtAsc => "DUE_AT_ASC",
            Self::DueAtDesc => "DUE_AT_DESC",
        }
    }
    fn column(self) -> follow_up::Column {
        follow_up::Column::DueAt
    }
    fn kind(self) -> SortKind {
        SortKind::Time
    }
    fn descending(self) -> bool {
        self == Self::DueAtDesc
    }
    fn value(self, row: &follow_up::Model) -> SortValue {
        SortValue::Time(row.due_at)
    }
}

/// Whether a follow-up is open and its due time has passed at `at`.
pub fn is_overdue(f: &follow_up::Model, at: DateTime<Utc>) -> bool {
    f.completed_at.is_none() && f.due_at < at
}

/// A due time that is still ahead (give or take the clock tolerance).
pub(crate) fn upcoming(field: &str, due: DateTime<Utc>, now: DateTime<Utc>) -> DomainResult<()> {
    if due < now - CLOCK_TOLERANCE {
        return Err(DomainError::validation(field, "cannot be in the past"));
    }
    within_horizon(field, due, now)
}

fn within_horizon(field: &str, due: DateTime<Utc>, now: DateTime<Utc>) -> DomainResult<()> {
    if due > now + Duration::days(HORIZON_DAYS) {
        return Err(DomainError::validation(field, "must be within the next ten years"));
    }
    if due < earliest() {
        return Err(DomainError::validation(field, "must be after 1900-01-01"));
    }
    Ok(())
}

/// The assignee of a new follow-up: `requested`, or the customer's owner. It must be an
/// active user of the tenant who may work customers (not a viewer); a user the tenant does
/// not have is NOT_FOUND.
pub(crate) async fn assignee_for(
    tx: &ScopedTx,
    customer: &entity::customer::Model,
    requested: Option<Uuid>,
    field: &str,
) -> DomainResult<Uuid> {
    let id = requested.unwrap_or(customer.owner_id);
    let user = tx
        .select::<user::Entity>()
        .filter(user::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let whose = if requested.is_some() {
        "the assignee"
    } else {
        "the customer's owner"
    };
    if !user.active {
        return Err(DomainError::validation(
            field,
            format!("{whose} is no longer active; name another assignee"),
        ));
    }
    if user.role == Role::Viewer {
        return Err(DomainError::validation(
            field,
            format!("{whose} is a viewer and cannot work follow-ups; name another assignee"),
        ));
    }
    Ok(user.id)
}

/// After the tenant's lead time changed: open follow-ups whose reminder is still to be
/// planned are announced at their due time minus the new lead.
pub(crate) async fn follow_new_lead(tx: &ScopedTx, lead: i32) -> DomainResult<u64> {
    let waiting = tx
        .select::<follow_up::Entity>()
        .filter(follow_up::Column::RemindAt.is_not_null())
        .filter(follow_up::Column::CompletedAt.is_null())
        .all(tx)
        .await?;
    for f in &waiting {
        tx.update::<follow_up::Entity>()
            .filter(follow_up::Column::Id.eq(f.id))
            .col_expr(
                follow_up::Column::RemindAt,
                sea_orm::sea_query::Expr::value(Some(reminders::remind_at(f.due_at, lead))),
            )
            .exec(tx)
            .await?;
    }
    Ok(waiting.len() as u64)
}

/// Inserts and audits a follow-up inside the caller's transaction.
pub(crate) async fn insert(tx: &ScopedTx, draft: Draft, at: DateTime<Utc>) -> DomainResult<follow_up::Model> {
    let scope = tx.scope();
    let lead = tx.context().await?.follow_up_lead_minutes;
    let model = follow_up::Model {
        remind_at: Some(reminders::remind_at(draft.due_at.trunc_subsecs(6), lead)),
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        customer_id: draft.customer_id,
        interaction_id: draft.interaction_id,
        assignee_id: draft.assignee_id,
        due_at: draft.due_at.trunc_subsecs(6),
        note: draft.note,
        completed_at: None,
        completed_by: None,
        outcome: None,
        version: 1,
        created_by: scope.actor().user_id,
        created_at: at,
        updated_at: at,
    };
    let created = tx.insert(model.into_active_model().reset_all()).await?;
    let mut fields = vec!["customerId", "assigneeId", "dueAt"];
    if created.interaction_id.is_some() {
        fields.push("interactionId");
    }
    if created.note.is_some() {
        fields.push("note");
    }
    audit::record(tx, "follow_up.schedule", Some(created.id), &fields).await?;
    Ok(created)
}

/// Schedules a follow-up without an interaction. A due time in the past is accepted: it
/// records a promise already missed, which then shows as overdue.
pub async fn schedule(store: &Store, scope: &TenantScope, input: NewFollowUp) -> DomainResult<follow_up::Model> {
    require_writer(scope)?;
    let at = now();
    within_horizon("dueAt", input.due_at, at)?;
    let note = validate::optional_text("note", input.note, NOTE_MAX)?;
    let tx = store.begin_scoped(scope).await?;
    let customer = access::lock_writable(&tx, input.customer_id, "customerId").await?;
    let assignee_id = assignee_for(&tx, &customer, input.assignee_id, "assigneeId").await?;
    let draft = Draft {
        customer_id: customer.id,
        interaction_id: None,
        assignee_id,
        due_at: input.due_at,
        note,
    };
    let created = insert(&tx, draft, at).await?;
    tx.commit().await?;
    Ok(created)
}

/// Marks an open follow-up done. Completing it again is a VALIDATION error, so two people
/// closing the same follow-up learn that one of them was first.
pub async fn complete(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    outcome: Option<String>,
    version: Option<i32>,
) -> DomainResult<follow_up::Model> {
    require_writer(scope)?;
    let outcome = validate::optional_text("outcome", outcome, OUTCOME_MAX)?;
    let tx = store.begin_scoped(scope).await?;
    let current = records::get::<follow_up::Entity>(&tx, id).await?;
    let read_version = check_open(&current, version)?;
    let mut next = current;
    next.completed_at = Some(now());
    next.completed_by = Some(scope.actor().user_id);
    next.outcome = outcome;
    next.remind_at = None;
    reminders::cancel_pending(&tx, ReminderKind::FollowUp, id).await?;
    let mut fields = vec!["completedAt"];
    if next.outcome.is_some() {
        fields.push("outcome");
    }
    save_and_commit(tx, next, read_version, "follow_up.complete", &fields).await
}

/// Moves an open follow-up to a new due time, which must still lie ahead. The `reason` is
/// kept in the note together with the due time it replaced.
pub async fn reschedule(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    due_at: DateTime<Utc>,
    reason: Option<String>,
    version: Option<i32>,
) -> DomainResult<follow_up::Model> {
    require_writer(scope)?;
    let at = now();
    let due_at = due_at.trunc_subsecs(6);
    upcoming("dueAt", due_at, at)?;
    let reason = validate::optional_text("reason", reason, REASON_MAX)?;
    let tx = store.begin_scoped(scope).await?;
    let current = records::get::<follow_up::Entity>(&tx, id).await?;
    let read_version = check_open(&current, version)?;
    if current.due_at == due_at {
        tx.commit().await?;
        return Ok(current);
    }
    let mut next = current;
    let mut fields = vec!["dueAt"];
    if let Some(reason) = reason {
        let tz = tx.context().await?.timezone;
        let line = format!(
            "Rescheduled from {} ({}): {reason}",
            next.due_at.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            tz.name()
        );
        let note = match next.note.take() {
            Some(note) => format!("{note}\n{line}"),
            None => line,
        };
        if note.chars().count() > NOTE_WITH_HISTORY_MAX {
            return Err(DomainError::validation(
                "reason",
                "the follow-up's note is full; complete it and schedule a new one",
            ));
        }
        next.note = Some(note);
        fields.push("note");
    }
    next.due_at = due_at;
    // The reminder of the old due time goes; the new one is planned when its time comes.
    let lead = tx.context().await?.follow_up_lead_minutes;
    next.remind_at = Some(reminders::remind_at(due_at, lead));
    reminders::cancel_pending(&tx, ReminderKind::FollowUp, id).await?;
    save_and_commit(tx, next, read_version, "follow_up.reschedule", &fields).await
}

/// Hands an open follow-up to another user. Unlike completing or rescheduling, this needs
/// access to the customer: an assignee cannot pass a colleague's customer on.
pub async fn reassign(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    assignee_id: Uuid,
    version: Option<i32>,
) -> DomainResult<follow_up::Model> {
    require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    // Reassigning is the customer's owner's business: the assignee's own access is not enough.
    let current = access::records::<follow_up::Entity>(&tx, follow_up::Column::CustomerId)
        .filter(follow_up::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(DomainError::NotFound("follow-up"))?;
    let read_version = check_open(&current, version)?;
    let customer = access::find_customer(&tx, current.customer_id).await?;
    let assignee = assignee_for(&tx, &customer, Some(assignee_id), "assigneeId").await?;
    if assignee == current.assignee_id {
        tx.commit().await?;
        return Ok(current);
    }
    let mut next = current;
    next.assignee_id = assignee;
    save_and_commit(tx, next, read_version, "follow_up.reassign", &["assigneeId"]).await
}

/// The version to write against, if the follow-up is still open and `version` (when given)
/// is current.
fn check_open(current: &follow_up::Model, version: Option<i32>) -> DomainResult<i32> {
    if current.completed_at.is_some() {
        return Err(already_completed());
    }
    if let Some(v) = version
        && v != current.version
    {
        return Err(versioned::stale::<follow_up::Entity>(current));
    }
    Ok(current.version)
}

fn already_completed() -> DomainError {
    DomainError::validation("id", "the follow-up is already completed")
}

/// Writes `next` over `read_version` only (see `versioned`), audits it as `action` and commits;
/// if someone completed the follow-up in between, that is what the caller is told.
async fn save_and_commit(
    tx: ScopedTx,
    next: follow_up::Model,
    read_version: i32,
    action: &str,
    fields: &[&str],
) -> DomainResult<follow_up::Model> {
    let saved =
        versioned::save_if_version_or::<follow_up::Entity>(&tx, next, read_version, DomainError::from, |current| {
            if current.completed_at.is_some() {
                already_completed()
            } else {
                versioned::stale::<follow_up::Entity>(&current)
            }
        })
        .await?;
    audit::record(&tx, action, Some(saved.id), fields).await?;
    tx.commit().await?;
    Ok(saved)
}

impl CustomerRecord for follow_up::Entity {
    const NOUN: &'static str = "follow-up";
    type Filter = FollowUpFilter;
    type Order = FollowUpOrder;
    const CARRIES: Option<records::CarriedColumns<Self>> = None;

    records::record_keys!(follow_up);

    /// Those of the customers the caller may see and, for sales staff, also those assigned
    /// to them.
    fn visible(tx: &ScopedTx) -> Scoped<Select<Self>> {
        let select = tx.select::<follow_up::Entity>();
        let scope = tx.scope();
        if scope.sees_only_own_customers() {
            select.filter(
                Condition::any()
                    .add(follow_up::Column::CustomerId.in_subquery(access::customer_ids(tx)))
                    .add(follow_up::Column::AssigneeId.eq(scope.actor().user_id)),
            )
        } else {
            select
        }
    }

    async fn narrow(
        _tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        f: &FollowUpFilter,
    ) -> DomainResult<Scoped<Select<Self>>> {
        let mut select = select;
        if let Some(id) = f.assignee_id {
            select = select.filter(follow_up::Column::AssigneeId.eq(id));
        }
        if let Some(id) = f.customer_id {
            select = select.filter(follow_up::Column::CustomerId.eq(id));
        }
        if let Some(before) = f.due_before {
            select = select.filter(follow_up::Column::DueAt.lt(before));
        }
        if let Some(after) = f.due_after {
            select = select.filter(follow_up::Column::DueAt.gte(after));
        }
        match f.open {
            Some(true) => select = select.filter(follow_up::Column::CompletedAt.is_null()),
            Some(false) => select = select.filter(follow_up::Column::CompletedAt.is_not_null()),
            None => {}
        }
        let as_of = f.as_of.unwrap_or_else(now);
        match f.overdue {
            Some(true) => {
                select = select
                    .filter(follow_up::Column::CompletedAt.is_null())
                    .filter(follow_up::Column::DueAt.lt(as_of));
            }
            Some(false) => {
                select = select.filter(
                    Condition::any()
                        .add(follow_up::Column::CompletedAt.is_not_null())
                        .add(follow_up::Column::DueAt.gte(as_of)),
                );
            }
            None => {}
        }
        Ok(select)
    }

    /// A customer's file lists the follow-ups still open, of the customer's own (not those
    /// a sales user sees only as assignee on a colleague's customer).
    fn in_file(select: Scoped<Select<Self>>) -> Scoped<Select<Self>> {
        select.filter(follow_up::Column::CompletedAt.is_null())
    }

    fn file_filter(customer_id: Uuid) -> FollowUpFilter {
        FollowUpFilter {
            customer_id: Some(customer_id),
            open: Some(true),
            ..Default::default()
        }
    }
}

/// The follow-up each interaction opened, by interaction id.
pub async fn for_interactions(
    tx: &ScopedTx,
    interaction_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, follow_up::Model>> {
    let opener = |f: &follow_up::Model| f.interaction_id;
    record_writes::visible_keyed::<follow_up::Entity>(tx, follow_up::Column::InteractionId, interaction_ids, opener)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_planned_due_time_may_be_a_little_behind_our_clock_but_not_years_ahead() {
        let at = now();
        assert!(upcoming("dueAt", at - Duration::minutes(4), at).is_ok());
        assert!(upcoming("dueAt", at - Duration::minutes(6), at).is_err());
        assert!(upcoming("dueAt", at + Duration::days(365 * 9), at).is_ok());
        assert!(upcoming("dueAt", at + Duration::days(365 * 11), at).is_err());
    }
}
