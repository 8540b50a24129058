//! Optimistic concurrency: a change is written only over the version it was read at, so two
//! people editing the same record cannot silently undo each other.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, DbErr, FromQueryResult, IntoActiveModel, QueryFilter};
use uuid::Uuid;

use super::{DomainError, DomainResult, TenantEntity, TenantTx, now};

/// Tables whose rows carry a `version` bumped by every change.
pub(crate) trait Versioned: TenantEntity {
    /// How errors name a row of this kind, e.g. "contract".
    const NOUN: &'static str;
    fn id_column() -> Self::Column;
    fn version_column() -> Self::Column;
    fn id_of(row: &Self::Model) -> Uuid;
    fn version_of(row: &Self::Model) -> i32;
    /// Stamps the version and time of a change.
    fn stamp(row: &mut Self::Model, version: i32, at: DateTime<Utc>);
}

macro_rules! versioned {
    ($($module:ident => $noun:literal),* $(,)?) => {
        $(impl Versioned for entity::$module::Entity {
            const NOUN: &'static str = $noun;
            fn id_column() -> Self::Column {
                entity::$module::Column::Id
            }
            fn version_column() -> Self::Column {
                entity::$module::Column::Version
            }
            fn id_of(row: &Self::Model) -> Uuid {
                row.id
            }
            fn version_of(row: &Self::Model) -> i32 {
                row.version
            }
            fn stamp(row: &mut Self::Model, version: i32, at: DateTime<Utc>) {
                row.version = version;
                row.updated_at = at;
            }
        })*
    };
}

versioned!(
    customer => "customer",
    transaction => "transaction",
    contract => "contract",
    follow_up => "follow-up",
    custom_field_definition => "custom field",
);

/// CONFLICT for a change read at an older version than `current`'s.
pub(crate) fn stale<E: Versioned>(current: &E::Model) -> DomainError {
    DomainError::Conflict(format!(
        "the {} changed since you read it (now version {}); reload and retry",
        E::NOUN,
        E::version_of(current)
    ))
}

/// Writes `next` with the version after `read_version`, only if the row still has
/// `read_version`. A failed write (a unique key, say) goes through `write_error` (see
/// `error::unique_or`); when someone saved in between, the answer is CONFLICT naming the
/// version they left.
pub(crate) async fn save_if_version<E>(
    tx: &TenantTx,
    next: E::Model,
    read_version: i32,
    write_error: impl FnOnce(DbErr) -> DomainError,
) -> DomainResult<E::Model>
where
    E: Versioned,
    E::Model: IntoActiveModel<E::ActiveModel> + FromQueryResult,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    save_if_version_or::<E>(tx, next, read_version, write_error, |current| stale::<E>(&current)).await
}

/// `save_if_version`, with `explain` saying what the row someone else saved means.
pub(crate) async fn save_if_version_or<E>(
    tx: &TenantTx,
    mut next: E::Model,
    read_version: i32,
    write_error: impl FnOnce(DbErr) -> DomainError,
    explain: impl FnOnce(E::Model) -> DomainError,
) -> DomainResult<E::Model>
where
    E: Versioned,
    E::Model: IntoActiveModel<E::ActiveModel> + FromQueryResult,
    E::ActiveModel: ActiveModelTrait<Entity = E> + Send,
{
    E::stamp(&mut next, read_version + 1, now());
    let id = E::id_of(&next);
    let saved = tx
        .update::<E>()
        .filter(E::id_column().eq(id))
        .filter(E::version_column().eq(read_version))
        .set(next.into_active_model().reset_all())
        .exec_with_returning(tx)
        .await
        .map_err(|e| e.into_db_err().map_or_else(|other| other, write_error))?;
    if let Some(row) = saved.into_iter().next() {
        return Ok(row);
    }
    let current = tx.select::<E>().filter(E::id_column().eq(id)).one(tx).await?;
    Err(current.map_or(DomainError::NotFound(E::NOUN), explain))
}
