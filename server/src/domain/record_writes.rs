//! What the writes of the kinds in a customer's file do alike: a record is changed only in a
//! customer's file the caller may write (the customer locked, as every write to the file
//! locks it first), over the version it was read at; its custom field values are checked
//! against the tenant's definitions and merged; and the write is audited and answered before
//! its COMMIT.

use std::collections::HashMap;

use sea_orm::{ActiveModelTrait, ColumnTrait, FromQueryResult, IntoActiveModel, QueryFilter};
use serde_json::Value as Json;
use uuid::Uuid;

use super::custom_fields::query::Carrying;
use super::custom_fields::values::{self, Prepared};
use super::records::{self, CustomerRecord};
use super::versioned::{self, Versioned};
use super::{DomainError, DomainResult, ScopedTx, Store, access, audit};
use crate::tenancy::TenantScope;

/// A kind whose rows carry custom field values, in the columns every carrying table names alike.
pub(crate) trait CarriedRecord: CustomerRecord + Carrying
where
    Self::Model: FromQueryResult + Clone + Send + Sync,
{
    fn index_of(row: &Self::Model) -> &Json;
    fn set_custom_fields(row: &mut Self::Model, prepared: &Prepared);
}

macro_rules! carried_record {
    ($($module:ident),*) => {$(
        impl CarriedRecord for entity::$module::Entity {
            fn index_of(row: &Self::Model) -> &Json {
                &row.custom_field_index
            }
            fn set_custom_fields(row: &mut Self::Model, prepared: &Prepared) {
                row.custom_fields = prepared.values.clone();
                row.custom_field_index = prepared.index.clone();
                row.custom_fields_key_version = prepared.key_version;
            }
        }
    )*};
}

carried_record!(transaction, contract, interaction);

/// Checks the custom field values `given` for `row` against the tenant's definitions and sets
/// them on it: on a new row defaults fill the fields not given and required ones must be
/// there; on a stored one they are merged into its own.
pub(crate) async fn set_custom_fields<K: CarriedRecord>(
    tx: &ScopedTx,
    row: &mut K::Model,
    new: bool,
    given: Option<&Json>,
) -> DomainResult<Prepared>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let stored = (!new).then(|| (K::values_of(row), K::index_of(row)));
    let id = <K as CustomerRecord>::id_of(row);
    let custom = values::prepare(tx, K::ENTITY, id, stored, given).await?;
    K::set_custom_fields(row, &custom);
    Ok(custom)
}

/// Inserts `draft` with the custom field values `given` (see `set_custom_fields`) and audits
/// it as `action`, naming `changed` and the custom fields set.
pub(crate) async fn insert_new<K: CarriedRecord>(
    tx: &ScopedTx,
    mut draft: K::Model,
    given: Option<&Json>,
    action: &str,
    changed: &[&str],
) -> DomainResult<K::Model>
where
    K::Model: FromQueryResult + Clone + Send + Sync + IntoActiveModel<K::ActiveModel>,
    K::ActiveModel: ActiveModelTrait<Entity = K> + Send,
{
    let custom = set_custom_fields::<K>(tx, &mut draft, true, given).await?;
    let created = tx.insert(draft.into_active_model().reset_all()).await?;
    audit::record(
        tx,
        action,
        Some(<K as CustomerRecord>::id_of(&created)),
        &custom.audit_fields(changed),
    )
    .await?;
    Ok(created)
}

/// The record `id` the caller may see, with its customer locked and writable.
pub(crate) async fn open_record<K: CustomerRecord>(tx: &ScopedTx, id: Uuid) -> DomainResult<K::Model>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let current = records::get::<K>(tx, id).await?;
    access::lock_writable(tx, K::customer_of(&current), "id").await?;
    Ok(current)
}

/// Opens the caller's change of record `id` read at `version`: a writer's transaction with
/// the record as `open_record` gives it, unless `closed` says why it can no longer change
/// (a VALIDATION error on `id`) or `version` is no longer current (CONFLICT).
pub(crate) async fn open_change<K: CustomerRecord + Versioned>(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: i32,
    closed: impl FnOnce(&K::Model) -> Option<&'static str>,
) -> DomainResult<(ScopedTx, K::Model)>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    access::require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = open_record::<K>(&tx, id).await?;
    if let Some(why) = closed(&current) {
        return Err(DomainError::validation("id", why));
    }
    if <K as Versioned>::version_of(&current) != version {
        return Err(versioned::stale::<K>(&current));
    }
    Ok((tx, current))
}

/// The visible records whose `column` is among `ids`, keyed by `key` (rows without one left out).
pub(crate) async fn visible_keyed<K: CustomerRecord>(
    tx: &ScopedTx,
    column: K::Column,
    ids: &[Uuid],
    key: impl Fn(&K::Model) -> Option<Uuid>,
) -> DomainResult<HashMap<Uuid, K::Model>>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = K::visible(tx).filter(column.is_in(ids.iter().copied())).all(tx).await?;
    Ok(rows.into_iter().filter_map(|row| key(&row).map(|k| (k, row))).collect())
}
