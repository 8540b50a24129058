//! The audit trail: who did what to which record, and which fields changed — never their values.

use chrono::{DateTime, Utc};
use entity::audit_log;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use super::{DomainError, DomainResult, ScopedTx, now};
use crate::tenancy::Role;

/// Writes one audit row inside the caller's transaction, so it lands exactly when the change does.
pub async fn record(tx: &ScopedTx, action: &str, entity_id: Option<Uuid>, changed_fields: &[&str]) -> DomainResult<()> {
    record_with_subjects(tx, action, entity_id, changed_fields, &[]).await
}

/// Like `record`, for an action that concerned several records (`subject_ids`).
pub async fn record_with_subjects(
    tx: &ScopedTx,
    action: &str,
    entity_id: Option<Uuid>,
    changed_fields: &[&str],
    subject_ids: &[Uuid],
) -> DomainResult<()> {
    // Nothing reads the row back: it is written, not answered.
    tx.insert_many(vec![row(tx, action, entity_id, changed_fields, subject_ids)], None)
        .await
}

/// Records that an answer carries plaintext contact data (`fields`) of `subject_ids`. A read
/// queues the row when it commits, to be written behind it in a batch (see `reveal_log`); any
/// other transaction writes it inside, with its changes.
pub async fn record_reveal(
    tx: &ScopedTx,
    entity_id: Option<Uuid>,
    fields: &[&str],
    subject_ids: &[Uuid],
) -> DomainResult<()> {
    match tx.defer_reveal(row(tx, "contact.decrypt", entity_id, fields, subject_ids)) {
        None => Ok(()),
        Some(row) => tx.insert_many(vec![row], None).await,
    }
}

fn row(
    tx: &ScopedTx,
    action: &str,
    entity_id: Option<Uuid>,
    changed_fields: &[&str],
    subject_ids: &[Uuid],
) -> audit_log::ActiveModel {
    let scope = tx.scope();
    let entity = action.split('.').next().unwrap_or(action);
    audit_log::ActiveModel {
        id: Set(Uuid::now_v7()),
        actor_user_id: Set(Some(scope.actor().user_id)),
        actor_api_key_id: Set(scope.actor().api_key_id),
        action: Set(action.to_owned()),
        entity: Set(entity.to_owned()),
        entity_id: Set(entity_id),
        changed_fields: Set(serde_json::json!(changed_fields)),
        request_id: Set(scope.request_id().map(str::to_owned)),
        subject_ids: Set((!subject_ids.is_empty()).then(|| serde_json::json!(subject_ids))),
        created_at: Set(now()),
        ..Default::default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

const SORT: &str = "CREATED_AT_DESC";

/// Newest first; admins and owners only.
pub async fn list(
    tx: &ScopedTx,
    filter: AuditFilter,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<audit_log::Model>> {
    if !tx.scope().is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may read the audit log"));
    }
    let request = PageRequest::new(args, SORT, true, max_page_size)?;
    let mut select = tx.select::<audit_log::Entity>();
    if let Some(id) = filter.entity_id {
        select = select.filter(audit_log::Column::EntityId.eq(id));
    }
    if let Some(id) = filter.actor_id {
        select = select.filter(audit_log::Column::ActorUserId.eq(id));
    }
    if let Some(from) = filter.from {
        select = select.filter(audit_log::Column::CreatedAt.gte(from));
    }
    if let Some(to) = filter.to {
        select = select.filter(audit_log::Column::CreatedAt.lt(to));
    }
    let rows = request
        .apply(select, audit_log::Column::CreatedAt, audit_log::Column::Id, true)
        .all(tx)
        .await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: SORT.into(),
        value: SortValue::Time(row.created_at),
        id: row.id,
    }))
}
