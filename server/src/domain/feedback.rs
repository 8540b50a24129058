//! Feedback: praise, suggestions and complaints a customer gave, with a 1–5 score and how
//! each was resolved. Access follows the customer, like every record of its file.

use chrono::{DateTime, SubsecRound, Utc};
use entity::enums::FeedbackKind;
use entity::feedback;
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, Select};
use uuid::Uuid;

use super::access::{self, require_writer};
use super::interactions::not_in_future;
use super::pagination::{SortKind, SortValue};
use super::records::{self, CustomerRecord, RecordOrder};
use super::{DomainError, DomainResult, Scoped, ScopedTx, Store, audit, now, validate};
use crate::tenancy::TenantScope;

const CONTENT_MAX: usize = 5000;
const RESOLUTION_MAX: usize = 2000;

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
    let customer = access::lock_writable(&tx, input.customer_id, "customerId").await?;
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
    let created = tx.insert(model.into_active_model().reset_all()).await?;
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
    let current = records::get::<feedback::Entity>(&tx, id).await?;
    if current.resolved_at.is_some() {
        return Err(already_resolved());
    }
    let mut next = current;
    next.resolution = Some(resolution);
    next.resolved_at = Some(now());
    next.resolved_by = Some(scope.actor().user_id);
    // Only an unresolved row is written, so of two concurrent resolutions exactly one lands.
    let saved = tx
        .update::<feedback::Entity>()
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

/// Feedback is listed newest first, by when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedbackOrder;

impl RecordOrder<feedback::Entity> for FeedbackOrder {
    fn key(self) -> &'static str {
        "RECEIVED_AT_DESC"
    }
    fn column(self) -> feedback::Column {
        feedback::Column::ReceivedAt
    }
    fn kind(self) -> SortKind {
        SortKind::Time
    }
    fn descending(self) -> bool {
        true
    }
    fn value(self, row: &feedback::Model) -> SortValue {
        SortValue::Time(row.received_at)
    }
}

impl CustomerRecord for feedback::Entity {
    const NOUN: &'static str = "feedback";
    type Filter = FeedbackFilter;
    type Order = FeedbackOrder;
    const CARRIES: Option<records::CarriedColumns<Self>> = None;

    records::record_keys!(feedback);

    async fn narrow(
        _tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        f: &FeedbackFilter,
    ) -> DomainResult<Scoped<Select<Self>>> {
        let mut select = select;
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
        Ok(select)
    }

    fn file_filter(customer_id: Uuid) -> FeedbackFilter {
        FeedbackFilter {
            customer_id: Some(customer_id),
            ..Default::default()
        }
    }
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
