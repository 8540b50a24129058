//! Feedback: praise, suggestions and complaints a customer gave, with a 1–5 score and how
//! each was resolved. Access follows the customer, like every record of its file.

use std::collections::HashMap;

use chrono::{DateTime, SubsecRound, Utc};
use entity::enums::FeedbackKind;
use entity::feedback;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, Order, PaginatorTrait, QueryFilter, Select,
};
use uuid::Uuid;

use super::batch::CustomerRecords;
use super::customers::{self, require_writer};
use super::interactions::not_in_future;
use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use super::{DomainError, DomainResult, Store, audit, now, scoped_update, validate};
use crate::tenancy::TenantScope;

const CONTENT_MAX: usize = 5000;
const RESOLUTION_MAX: usize = 2000;
const SORT: &str = "RECEIVED_AT_DESC";

pub struct NewFeedback {
    pub customer_id: Uuid,
    pub kind: FeedbackKind,
    pub content: String,
    /// 1 (worst) to 5 (best).
    pub score: Option<i32>,
    /// Now when absent.
    pub received_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default)]
pub struct FeedbackFilter {
    pub customer_id: Option<Uuid>,
    pub kind: Option<FeedbackKind>,
    pub resolved: Option<bool>,
}

fn score(value: Option<i32>) -> DomainResult<Option<i16>> {
    match value {
        None => Ok(None),
        Some(n @ 1..=5) => Ok(Some(n as i16)),
        Some(_) => Err(DomainError::validation("score", "must be between 1 and 5")),
    }
}

pub async fn record(store: &Store, scope: &TenantScope, input: NewFeedback) -> DomainResult<feedback::Model> {
    require_writer(scope)?;
    let at = now();
    let received_at = input.received_at.map_or(at, |r| r.trunc_subsecs(6));
    not_in_future("receivedAt", received_at, at)?;
    let content = validate::required_text("content", Some(input.content), CONTENT_MAX)?;
    let score = score(input.score)?;
    let tx = store.begin_scoped(scope).await?;
    let customer = customers::lock_writable(&tx, input.customer_id, "customerId").await?;
    let model = feedback::Model {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        customer_id: customer.id,
        kind: input.kind,
        content,
        score,
        received_at,
        resolution: None,
        resolved_at: None,
        resolved_by: None,
        created_by: scope.actor().user_id,
        created_at: at,
    };
    let created = feedback::Entity::insert(model.into_active_model().reset_all())
        .exec_with_returning(&tx)
        .await?;
    let mut fields = vec!["customerId", "kind", "content", "receivedAt"];
    if created.score.is_some() {
        fields.push("score");
    }
    audit::record(&tx, "feedback.record", Some(created.id), &fields).await?;
    tx.commit().await?;
    Ok(created)
}

/// Records how feedback was dealt with. Resolving it again is a VALIDATION error: the first
/// resolution stands.
pub async fn resolve(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    resolution: String,
) -> DomainResult<feedback::Model> {
    require_writer(scope)?;
    let resolution = validate::required_text("resolution", Some(resolution), RESOLUTION_MAX)?;
    let tx = store.begin_scoped(scope).await?;
    let current = customers::records_visible::<feedback::Entity>(scope, feedback::Column::CustomerId)
        .filter(feedback::Column::Id.eq(id))
        .one(&tx)
        .await?
        .ok_or(DomainError::NotFound("feedback"))?;
    if current.resolved_at.is_some() {
        return Err(already_resolved());
    }
    let mut next = current;
    next.resolution = Some(resolution);
    next.resolved_at = Some(now());
    next.resolved_by = Some(scope.actor().user_id);
    // Only an unresolved row is written, so of two concurrent resolutions exactly one lands.
    let saved = scoped_update::<feedback::Entity>(scope)
        .filter(feedback::Column::Id.eq(id))
        .filter(feedback::Column::ResolvedAt.is_null())
        .set(next.into_active_model().reset_all())
        .exec_with_returning(&tx)
        .await?
        .into_iter()
        .next()
        .ok_or_else(already_resolved)?;
    audit::record(&tx, "feedback.resolve", Some(id), &["resolution", "resolvedAt"]).await?;
    tx.commit().await?;
    Ok(saved)
}

fn already_resolved() -> DomainError {
    DomainError::validation("id", "the feedback is already resolved")
}

pub async fn get(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<feedback::Model> {
    let tx = store.begin_scoped(scope).await?;
    let found = customers::records_visible::<feedback::Entity>(scope, feedback::Column::CustomerId)
        .filter(feedback::Column::Id.eq(id))
        .one(&tx)
        .await?;
    tx.commit().await?;
    found.ok_or(DomainError::NotFound("feedback"))
}

fn filtered(scope: &TenantScope, f: &FeedbackFilter) -> Select<feedback::Entity> {
    let mut select = customers::records_visible::<feedback::Entity>(scope, feedback::Column::CustomerId);
    if let Some(id) = f.customer_id {
        select = select.filter(feedback::Column::CustomerId.eq(id));
    }
    if let Some(kind) = f.kind {
        select = select.filter(feedback::Column::Kind.eq(kind));
    }
    match f.resolved {
        Some(true) => select = select.filter(feedback::Column::ResolvedAt.is_not_null()),
        Some(false) => select = select.filter(feedback::Column::ResolvedAt.is_null()),
        None => {}
    }
    select
}

/// Newest first (by when the feedback was received).
pub async fn list(
    store: &Store,
    scope: &TenantScope,
    filter: &FeedbackFilter,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<feedback::Model>> {
    let request = PageRequest::new(args, SORT, true, max_page_size)?;
    let select = request.apply(
        filtered(scope, filter),
        feedback::Column::ReceivedAt,
        feedback::Column::Id,
        true,
    );
    let tx = store.begin_scoped(scope).await?;
    let rows = select.all(&tx).await?;
    tx.commit().await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: SORT.into(),
        value: SortValue::Time(row.received_at),
        id: row.id,
    }))
}

pub async fn count(store: &Store, scope: &TenantScope, filter: &FeedbackFilter) -> DomainResult<u64> {
    let tx = store.begin_scoped(scope).await?;
    let n = filtered(scope, filter).count(&tx).await?;
    tx.commit().await?;
    Ok(n)
}

/// This kind of record as the caller may see it, loaded for a page of customers at once.
fn of_customers(scope: &TenantScope) -> CustomerRecords<feedback::Entity> {
    CustomerRecords {
        records: customers::records_visible::<feedback::Entity>(scope, feedback::Column::CustomerId),
        customer: feedback::Column::CustomerId,
    }
}

/// The latest `per_customer` feedback of each customer, newest first, in one statement.
pub async fn for_customers(
    store: &Store,
    scope: &TenantScope,
    customer_ids: &[Uuid],
    per_customer: u64,
) -> DomainResult<HashMap<Uuid, Vec<feedback::Model>>> {
    of_customers(scope)
        .first(
            store,
            scope,
            customer_ids,
            &[
                (feedback::Column::ReceivedAt, Order::Desc),
                (feedback::Column::Id, Order::Desc),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_run_from_one_to_five() {
        assert_eq!(score(Some(1)).unwrap(), Some(1));
        assert_eq!(score(Some(5)).unwrap(), Some(5));
        assert_eq!(score(None).unwrap(), None);
        for bad in [0, 6, -1, 70_000] {
            assert!(score(Some(bad)).is_err(), "{bad} should be refused");
        }
    }
}
