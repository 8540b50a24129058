//! Follow-ups: promised next contacts with a customer, each with one assignee, open until
//! someone completes it. They are the salesperson's worklist, so besides the customer-based
//! access every record has, a sales user also sees and works the follow-ups assigned to them
//! on a colleague's customer (without seeing that customer).

use crate::domain::ScopedTx;
use std::collections::HashMap;

use chrono::{DateTime, Duration, SubsecRound, Utc};
use entity::enums::{ReminderKind, Role};
use entity::{follow_up, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, Order, PaginatorTrait, QueryFilter, Select,
};
use uuid::Uuid;

use super::batch::CustomerRecords;
use super::customers::{self, find_visible, require_writer};
use super::interactions::{CLOCK_TOLERANCE, OUTCOME_MAX, earliest};
use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use super::{DomainError, DomainResult, Store, audit, now, reminders, scoped, tenants, validate, versioned};
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

impl FollowUpOrder {
    fn key(self) -> &'static str {
        match self {
            Self::DueAtAsc => "DUE_AT_ASC",
            Self::DueAtDesc => "DUE_AT_DESC",
        }
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

/// Follow-ups the caller may see: those of visible customers and, for sales staff, also
/// those assigned to them.
fn visible(scope: &TenantScope) -> Select<follow_up::Entity> {
    let select = scoped::<follow_up::Entity>(scope);
    if scope.sees_only_own_customers() {
        select.filter(
            Condition::any()
                .add(follow_up::Column::CustomerId.in_subquery(customers::visible_ids(scope)))
                .add(follow_up::Column::AssigneeId.eq(scope.actor().user_id)),
        )
    } else {
        select
    }
}

async fn find(tx: &ScopedTx, select: Select<follow_up::Entity>, id: Uuid) -> DomainResult<follow_up::Model> {
    select
        .filter(follow_up::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("follow-up"))
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
    let scope = tx.scope();
    let id = requested.unwrap_or(customer.owner_id);
    let user = scoped::<user::Entity>(scope)
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
    let scope = tx.scope();
    let waiting = scoped::<follow_up::Entity>(scope)
        .filter(follow_up::Column::RemindAt.is_not_null())
        .filter(follow_up::Column::CompletedAt.is_null())
        .all(tx)
        .await?;
    for f in &waiting {
        super::scoped_update::<follow_up::Entity>(scope)
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
    let lead = tenants::calendar(tx).await?.follow_up_lead_minutes;
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
    let created = follow_up::Entity::insert(model.into_active_model().reset_all())
        .exec_with_returning(tx)
        .await?;
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
    let customer = customers::lock_writable(&tx, input.customer_id, "customerId").await?;
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
    let current = find(&tx, visible(scope), id).await?;
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
    let saved = save_if_version(&tx, next, read_version).await?;
    audit::record(&tx, "follow_up.complete", Some(id), &fields).await?;
    tx.commit().await?;
    Ok(saved)
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
    let current = find(&tx, visible(scope), id).await?;
    let read_version = check_open(&current, version)?;
    if current.due_at == due_at {
        tx.commit().await?;
        return Ok(current);
    }
    let mut next = current;
    let mut fields = vec!["dueAt"];
    if let Some(reason) = reason {
        let tz = tenants::calendar(&tx).await?.timezone;
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
    let lead = tenants::calendar(&tx).await?.follow_up_lead_minutes;
    next.remind_at = Some(reminders::remind_at(due_at, lead));
    reminders::cancel_pending(&tx, ReminderKind::FollowUp, id).await?;
    let saved = save_if_version(&tx, next, read_version).await?;
    audit::record(&tx, "follow_up.reschedule", Some(id), &fields).await?;
    tx.commit().await?;
    Ok(saved)
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
    let current = find(
        &tx,
        customers::records_visible::<follow_up::Entity>(scope, follow_up::Column::CustomerId),
        id,
    )
    .await?;
    let read_version = check_open(&current, version)?;
    let customer = find_visible(&tx, current.customer_id).await?;
    let assignee = assignee_for(&tx, &customer, Some(assignee_id), "assigneeId").await?;
    if assignee == current.assignee_id {
        tx.commit().await?;
        return Ok(current);
    }
    let mut next = current;
    next.assignee_id = assignee;
    let saved = save_if_version(&tx, next, read_version).await?;
    audit::record(&tx, "follow_up.reassign", Some(id), &["assigneeId"]).await?;
    tx.commit().await?;
    Ok(saved)
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

/// Writes `next` over `read_version` only (see `versioned`); if someone completed the
/// follow-up in between, that is what the caller is told.
async fn save_if_version(tx: &ScopedTx, next: follow_up::Model, read_version: i32) -> DomainResult<follow_up::Model> {
    let _scope = tx.scope();
    versioned::save_if_version_or::<follow_up::Entity>(tx, next, read_version, DomainError::from, |current| {
        if current.completed_at.is_some() {
            already_completed()
        } else {
            versioned::stale::<follow_up::Entity>(&current)
        }
    })
    .await
}

pub async fn get(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<follow_up::Model> {
    let tx = store.begin_scoped(scope).await?;
    let found = find(&tx, visible(scope), id).await;
    tx.commit().await?;
    found
}

fn filtered(scope: &TenantScope, f: &FollowUpFilter) -> Select<follow_up::Entity> {
    let mut select = visible(scope);
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
    select
}

pub async fn list(
    store: &Store,
    scope: &TenantScope,
    filter: &FollowUpFilter,
    order: FollowUpOrder,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<follow_up::Model>> {
    let request = PageRequest::new(args, order.key(), true, max_page_size)?;
    let select = request.apply(
        filtered(scope, filter),
        follow_up::Column::DueAt,
        follow_up::Column::Id,
        order == FollowUpOrder::DueAtDesc,
    );
    let tx = store.begin_scoped(scope).await?;
    let rows = select.all(&tx).await?;
    tx.commit().await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: order.key().into(),
        value: SortValue::Time(row.due_at),
        id: row.id,
    }))
}

pub async fn count(store: &Store, scope: &TenantScope, filter: &FollowUpFilter) -> DomainResult<u64> {
    let tx = store.begin_scoped(scope).await?;
    let n = filtered(scope, filter).count(&tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// The follow-up each interaction opened, by interaction id.
pub async fn for_interactions(
    store: &Store,
    scope: &TenantScope,
    interaction_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, follow_up::Model>> {
    if interaction_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let tx = store.begin_scoped(scope).await?;
    let rows = visible(scope)
        .filter(follow_up::Column::InteractionId.is_in(interaction_ids.iter().copied()))
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .filter_map(|f| f.interaction_id.map(|i| (i, f)))
        .collect())
}

/// This kind of record as the caller may see it, loaded for a page of customers at once.
fn open_of_customers(scope: &TenantScope) -> CustomerRecords<follow_up::Entity> {
    CustomerRecords {
        records: customers::records_visible::<follow_up::Entity>(scope, follow_up::Column::CustomerId)
            .filter(follow_up::Column::CompletedAt.is_null()),
        customer: follow_up::Column::CustomerId,
    }
}

/// Up to `per_customer` open follow-ups of each customer, soonest due first, in one statement.
pub async fn open_for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
    per_customer: u64,
) -> DomainResult<HashMap<Uuid, Vec<follow_up::Model>>> {
    open_of_customers(scope)
        .first(
            store,
            scope,
            customer_ids,
            &[
                (follow_up::Column::DueAt, Order::Asc),
                (follow_up::Column::Id, Order::Asc),
            ],
            per_customer,
            |row| row.customer_id,
        )
        .await
}

pub async fn count_open_for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, u64>> {
    open_of_customers(scope).count(store, scope, customer_ids).await
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
