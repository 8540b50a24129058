//! What people do with reminders: list them, see how delivery goes, send a failed one again,
//! cancel one. Admins and managers see every reminder of the tenant; others the ones addressed
//! to them.

use chrono::{DateTime, Utc};
use entity::enums::{ReminderKind, ReminderStatus};
use entity::reminder;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

use crate::domain::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use crate::domain::{DomainError, DomainResult, Scoped, ScopedTx, Store, audit, now};
use crate::tenancy::{Role, TenantScope};

#[derive(Debug, Clone, Default)]
pub struct ReminderFilter {
    pub status: Option<ReminderStatus>,
    pub kind: Option<ReminderKind>,
    /// Due at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Due strictly before this moment.
    pub to: Option<DateTime<Utc>>,
    pub contract_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReminderOrder {
    DueAtAsc,
    #[default]
    DueAtDesc,
}

impl ReminderOrder {
    fn key(self) -> &'static str {
        match self {
            ReminderOrder::DueAtAsc => "DUE_AT_ASC",
            ReminderOrder::DueAtDesc => "DUE_AT_DESC",
        }
    }
}

/// Managers and above see the whole tenant's reminders.
fn sees_all(scope: &TenantScope) -> bool {
    scope.is_at_least(Role::Manager)
}

fn visible(tx: &ScopedTx) -> Scoped<Select<reminder::Entity>> {
    let (select, scope) = (tx.select::<reminder::Entity>(), tx.scope());
    if sees_all(scope) {
        select
    } else {
        select.filter(reminder::Column::RecipientUserId.eq(scope.actor().user_id))
    }
}

fn filtered(tx: &ScopedTx, f: &ReminderFilter) -> DomainResult<Scoped<Select<reminder::Entity>>> {
    if let (Some(from), Some(to)) = (f.from, f.to)
        && to < from
    {
        return Err(DomainError::validation("filter.to", "must not be before filter.from"));
    }
    let mut select = visible(tx);
    if let Some(status) = f.status {
        select = select.filter(reminder::Column::Status.eq(status));
    }
    if let Some(kind) = f.kind {
        select = select.filter(reminder::Column::Kind.eq(kind));
    }
    if let Some(from) = f.from {
        select = select.filter(reminder::Column::DueAt.gte(from));
    }
    if let Some(to) = f.to {
        select = select.filter(reminder::Column::DueAt.lt(to));
    }
    if let Some(id) = f.contract_id {
        select = select
            .filter(reminder::Column::Kind.eq(ReminderKind::ContractExpiry))
            .filter(reminder::Column::SubjectId.eq(id));
    }
    if let Some(id) = f.customer_id {
        select = select.filter(reminder::Column::CustomerId.eq(id));
    }
    Ok(select)
}

pub async fn list(
    tx: &ScopedTx,
    filter: &ReminderFilter,
    order: ReminderOrder,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<reminder::Model>> {
    let request = PageRequest::new(args, order.key(), true, max_page_size)?;
    let rows = request
        .apply(
            filtered(tx, filter)?,
            reminder::Column::DueAt,
            reminder::Column::Id,
            order == ReminderOrder::DueAtDesc,
        )
        .all(tx)
        .await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: order.key().into(),
        value: SortValue::Time(row.due_at),
        id: row.id,
    }))
}

pub async fn count(tx: &ScopedTx, filter: &ReminderFilter) -> DomainResult<u64> {
    filtered(tx, filter)?.count(tx).await
}

pub async fn get(tx: &ScopedTx, id: Uuid) -> DomainResult<reminder::Model> {
    visible(tx)
        .filter(reminder::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("reminder"))
}

/// Puts a failed or cancelled reminder back in line to be sent now, with a fresh budget of
/// attempts; a pending one waiting out a backoff is moved up to now. Its Message-ID stays.
pub async fn retry(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<reminder::Model> {
    change_status(store, scope, id, Change::Retry, |r| match r.status {
        ReminderStatus::Failed | ReminderStatus::Cancelled | ReminderStatus::Pending => Ok(()),
        ReminderStatus::Sending => Err(DomainError::Conflict("the reminder is being sent right now".into())),
        ReminderStatus::Sent => Err(DomainError::Conflict("the reminder was sent already".into())),
    })
    .await
}

/// Withdraws a reminder that has not gone out: pending, or failed (so it is not retried).
pub async fn cancel(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<reminder::Model> {
    change_status(store, scope, id, Change::Cancel, |r| match r.status {
        ReminderStatus::Pending | ReminderStatus::Failed => Ok(()),
        ReminderStatus::Cancelled => Err(DomainError::Conflict("the reminder is cancelled already".into())),
        ReminderStatus::Sending => Err(DomainError::Conflict("the reminder is being sent right now".into())),
        ReminderStatus::Sent => Err(DomainError::Conflict("the reminder was sent already".into())),
    })
    .await
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Change {
    Retry,
    Cancel,
}

/// Moves one reminder to pending (retry) or cancelled, if `allowed` says its status permits;
/// the update is fenced by the status read, so a worker claiming it meanwhile wins (CONFLICT).
async fn change_status(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    change: Change,
    allowed: impl Fn(&reminder::Model) -> DomainResult<()>,
) -> DomainResult<reminder::Model> {
    if !scope.is_at_least(Role::Sales) {
        return Err(DomainError::Forbidden("viewers cannot change reminders"));
    }
    let tx = store.begin_scoped(scope).await?;
    let current = get(&tx, id).await?;
    allowed(&current)?;
    let stamp = now();
    let mut update = tx
        .update::<reminder::Entity>()
        .filter(reminder::Column::Id.eq(id))
        .filter(reminder::Column::Status.eq(current.status))
        .filter(reminder::Column::Attempts.eq(current.attempts))
        .col_expr(reminder::Column::UpdatedAt, Expr::value(stamp));
    update = if change == Change::Cancel {
        update.col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Cancelled))
    } else {
        let attempts = if current.status == ReminderStatus::Pending {
            current.attempts
        } else {
            0
        };
        update
            .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Pending))
            .col_expr(reminder::Column::Attempts, Expr::value(attempts))
            .col_expr(reminder::Column::NextAttemptAt, Expr::value(stamp))
    };
    if update.exec(&tx).await? != 1 {
        return Err(DomainError::Conflict(
            "the reminder changed meanwhile (a worker took it); read it again".into(),
        ));
    }
    let action = match change {
        Change::Retry => "reminder.retried",
        Change::Cancel => "reminder.cancelled",
    };
    audit::record(&tx, action, Some(id), &["status"]).await?;
    let row = get(&tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// How delivery is going, for a tenant or (with `None`) for the whole installation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReminderStats {
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Attempts beyond the first, over all reminders.
    pub retries: u64,
    /// How long the oldest reminder that is due and not yet sent has waited.
    pub oldest_due_age_seconds: Option<i64>,
}

impl ReminderStats {
    pub fn planned(&self) -> u64 {
        self.pending + self.sending + self.sent + self.failed + self.cancelled
    }
}

#[derive(FromQueryResult)]
struct StatusRow {
    status: ReminderStatus,
    n: i64,
    retries: Option<i64>,
    oldest_due: Option<DateTime<Utc>>,
}

/// The tenant's figures, for managers and above.
pub async fn stats(tx: &ScopedTx) -> DomainResult<ReminderStats> {
    if !sees_all(tx.scope()) {
        return Err(DomainError::Forbidden("only managers and admins see delivery figures"));
    }
    let rows = by_status(tx.select::<reminder::Entity>())
        .models::<StatusRow>(tx)
        .await?;
    Ok(tally(rows, now()))
}

/// Every tenant's figures together (for the metrics endpoint).
pub async fn installation_stats(store: &Store) -> DomainResult<ReminderStats> {
    // The reminder worker's handle sees the reminders of every tenant (see `claim`).
    let tx = store.begin_reminder_worker().await?;
    let rows = by_status(reminder::Entity::find())
        .into_model::<StatusRow>()
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(tally(rows, now()))
}

/// The figures of `select`'s reminders, one row per status.
fn by_status<S: QuerySelect>(select: S) -> S {
    select
        .select_only()
        .column(reminder::Column::Status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(
            Expr::cust("SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END)"),
            "retries",
        )
        .column_as(reminder::Column::DueAt.min(), "oldest_due")
        .group_by(reminder::Column::Status)
}

fn tally(rows: Vec<StatusRow>, at: DateTime<Utc>) -> ReminderStats {
    let mut stats = ReminderStats::default();
    for row in rows {
        let n = row.n.max(0) as u64;
        stats.retries += row.retries.unwrap_or_default().max(0) as u64;
        match row.status {
            ReminderStatus::Pending => stats.pending = n,
            ReminderStatus::Sending => stats.sending = n,
            ReminderStatus::Sent => stats.sent = n,
            ReminderStatus::Failed => stats.failed = n,
            ReminderStatus::Cancelled => stats.cancelled = n,
        }
        if matches!(row.status, ReminderStatus::Pending | ReminderStatus::Sending)
            && let Some(due) = row.oldest_due.filter(|d| *d <= at)
        {
            let age = (at - due).num_seconds();
            stats.oldest_due_age_seconds = Some(stats.oldest_due_age_seconds.map_or(age, |a| a.max(age)));
        }
    }
    stats
}
