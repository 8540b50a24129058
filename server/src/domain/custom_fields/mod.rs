//! Custom fields: the fields each tenant adds to its customers, contracts, transactions and
//! interactions without a deploy. Definitions live in their own table and are cached per
//! tenant (every replica drops its copy when one changes); values live in a JSON column of
//! the record, written only through `values`, which checks them against the definitions.

pub mod query;
pub mod values;

use std::sync::Arc;

use entity::custom_field_definition as definition;
pub use entity::enums::{CustomFieldEntity as FieldEntity, CustomFieldType as FieldType};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, FromQueryResult, IntoActiveModel, QueryFilter, QueryOrder};
use serde_json::Value as Json;
use uuid::Uuid;

use super::error::UniqueKey;
use super::patch::Patch;
use super::{DomainError, DomainResult, ScopedTx, Store, TenantTx, audit, now, versioned};
use crate::cache::Invalidation;
use crate::tenancy::{Role, TenantScope};

pub type Definition = definition::Model;

const LABEL_MAX: usize = 200;
const HELP_MAX: usize = 1000;
const OPTION_MAX: usize = 100;
const OPTIONS_MAX: usize = 200;

/// Where an entity's values live and how messages name it.
pub trait Carrier {
    fn table(self) -> &'static str;
    fn noun(self) -> &'static str;
}

impl Carrier for FieldEntity {
    /// The table whose `custom_fields` column holds this entity's values.
    fn table(self) -> &'static str {
        match self {
            FieldEntity::Customer => "customers",
            FieldEntity::Contract => "contracts",
            FieldEntity::Transaction => "transactions",
            FieldEntity::Interaction => "interactions",
        }
    }

    fn noun(self) -> &'static str {
        match self {
            FieldEntity::Customer => "customers",
            FieldEntity::Contract => "contracts",
            FieldEntity::Transaction => "transactions",
            FieldEntity::Interaction => "interactions",
        }
    }
}

trait TypeRules {
    fn has_options(self) -> bool;
    fn may_be_sensitive(self) -> bool;
    fn may_be_unique(self) -> bool;
}

impl TypeRules for FieldType {
    fn has_options(self) -> bool {
        matches!(self, FieldType::Select | FieldType::MultiSelect)
    }

    /// Options and yes/no carry nothing worth hiding; everything else may be sensitive.
    fn may_be_sensitive(self) -> bool {
        !matches!(self, FieldType::Boolean | FieldType::Select | FieldType::MultiSelect)
    }

    /// Uniqueness makes sense for identifiers, not for flags, choices or prose.
    fn may_be_unique(self) -> bool {
        !matches!(
            self,
            FieldType::Boolean | FieldType::Select | FieldType::MultiSelect | FieldType::LongText
        )
    }
}

/// A new field as an admin describes it.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub entity: FieldEntity,
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    pub options: Option<Vec<String>>,
    pub default: Option<Json>,
    pub sensitive: bool,
    pub searchable: bool,
    pub unique: bool,
    pub position: Option<i32>,
    pub help_text: Option<String>,
}

/// What may change of a field; the key and type never do (a new type is a new field).
#[derive(Debug, Clone, Default)]
pub struct FieldChanges {
    pub label: Option<String>,
    pub options: Option<Vec<String>>,
    pub required: Option<bool>,
    pub position: Option<i32>,
    pub help_text: Patch<String>,
    pub default: Patch<Json>,
}

fn require_admin(scope: &TenantScope) -> DomainResult<()> {
    if scope.is_at_least(Role::Admin) {
        Ok(())
    } else {
        Err(DomainError::Forbidden("only admins may define custom fields"))
    }
}

/// `snake_case`, starting with a letter, at most 64 characters: safe inside JSON paths.
fn key(value: &str) -> DomainResult<String> {
    let valid = value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(value.to_owned())
    } else {
        Err(DomainError::validation(
            "key",
            "must be snake_case: a lowercase letter, then lowercase letters, digits or _, at most 64",
        ))
    }
}

fn label(value: &str) -> DomainResult<String> {
    super::validate::required_line("label", Some(value.to_owned()), LABEL_MAX)
}

fn options(field_type: FieldType, options: Option<Vec<String>>) -> DomainResult<Option<Json>> {
    match (field_type.has_options(), options) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(DomainError::validation("options", "only select fields have options")),
        (true, None) => Err(DomainError::validation("options", "a select field needs its options")),
        (true, Some(list)) => {
            if list.is_empty() || list.len() > OPTIONS_MAX {
                return Err(DomainError::validation(
                    "options",
                    format!("needs between 1 and {OPTIONS_MAX} options"),
                ));
            }
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::with_capacity(list.len());
            for (i, option) in list.into_iter().enumerate() {
                let option = super::validate::required_line(&format!("options.{i}"), Some(option), OPTION_MAX)?;
                if !seen.insert(option.clone()) {
                    return Err(DomainError::validation(format!("options.{i}"), "is listed twice"));
                }
                out.push(Json::String(option));
            }
            Ok(Some(Json::Array(out)))
        }
    }
}

fn help_text(value: Option<String>) -> DomainResult<Option<String>> {
    super::validate::optional_text("helpText", value, HELP_MAX)
}

/// The tenant's definitions of every entity, archived ones included, in display order.
/// Cached per tenant; a change on any replica drops the cached copy on all of them. When not
/// cached they are read through the caller's transaction, never one of their own.
pub(crate) async fn definitions(tx: &TenantTx) -> DomainResult<Arc<Vec<Definition>>> {
    let cache = &tx.store().custom_fields;
    if let Some(found) = cache.get(&tx.tenant_id()) {
        return Ok(found);
    }
    let generation = cache.generation();
    let rows = Arc::new(
        tx.select::<definition::Entity>()
            .order_by_asc(definition::Column::Entity)
            .order_by_asc(definition::Column::Position)
            .order_by_asc(definition::Column::CreatedAt)
            .all(tx)
            .await?,
    );
    cache.insert_unless_invalidated(generation, tx.tenant_id(), rows.clone());
    Ok(rows)
}

/// The definitions of one entity if this process has them at hand (no statement).
pub(crate) fn cached_definitions(store: &Store, tenant_id: Uuid) -> Option<Arc<Vec<Definition>>> {
    store.custom_fields.get(&tenant_id)
}

/// Definitions of one entity; archived ones only when asked for.
pub async fn list(tx: &ScopedTx, entity: FieldEntity, include_archived: bool) -> DomainResult<Vec<Definition>> {
    let all = definitions(tx).await?;
    Ok(all
        .iter()
        .filter(|d| d.entity == entity && (include_archived || d.archived_at.is_none()))
        .cloned()
        .collect())
}

async fn changed(store: &Store, scope: &TenantScope) {
    store
        .custom_fields
        .remove_where(|tenant, _| *tenant == scope.tenant_id());
    store.invalidate(Invalidation::CustomFields(scope.tenant_id())).await;
}

pub async fn define(store: &Store, scope: &TenantScope, spec: FieldSpec) -> DomainResult<Definition> {
    require_admin(scope)?;
    let key = key(spec.key.trim())?;
    let label = label(&spec.label)?;
    let options = options(spec.field_type, spec.options)?;
    let help_text = help_text(spec.help_text)?;
    if spec.sensitive && !spec.field_type.may_be_sensitive() {
        return Err(DomainError::validation(
            "sensitive",
            "boolean and select fields cannot be sensitive",
        ));
    }
    if spec.unique && !spec.field_type.may_be_unique() {
        return Err(DomainError::validation(
            "unique",
            "boolean, select, multi-select and long text fields cannot be unique",
        ));
    }
    if spec.unique && spec.sensitive && !spec.searchable {
        return Err(DomainError::validation(
            "searchable",
            "a unique sensitive field must be searchable: uniqueness is checked through its blind index",
        ));
    }
    let tx = store.begin_scoped(scope).await?;
    let existing = tx
        .select::<definition::Entity>()
        .filter(definition::Column::Entity.eq(spec.entity))
        .all(&tx)
        .await?;
    if existing.iter().any(|d| d.key == key) {
        return Err(DomainError::Duplicate {
            field: "key".into(),
            message: format!(
                "{} already have a field `{key}` (archived ones keep their key)",
                spec.entity.noun()
            ),
            candidates: existing.iter().filter(|d| d.key == key).map(|d| d.id).collect(),
        });
    }
    let limit = store.custom_fields_per_entity as usize;
    if existing.len() >= limit {
        return Err(DomainError::validation(
            "key",
            format!(
                "{} already have {limit} custom fields, the most allowed; purge an unused one first",
                spec.entity.noun()
            ),
        ));
    }
    let at = now();
    let mut row = Definition {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        entity: spec.entity,
        key,
        label,
        field_type: spec.field_type,
        required: spec.required,
        options,
        default_value: None,
        sensitive: spec.sensitive,
        searchable: spec.searchable,
        is_unique: spec.unique,
        position: spec
            .position
            .unwrap_or_else(|| existing.iter().map(|d| d.position + 1).max().unwrap_or(0)),
        help_text,
        archived_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
    };
    if let Some(default) = spec.default {
        row.default_value = Some(values::default_of(&row, &default)?);
    }
    let key = row.key.clone();
    let saved = tx
        .insert(row.into_active_model().reset_all())
        .await
        // A concurrent definition of the same key won the race.
        .on_unique(|| DomainError::duplicate("key", format!("{} already have a field `{key}`", spec.entity.noun())))?;
    audit::record(&tx, "custom_field.define", Some(saved.id), &[saved.key.as_str()]).await?;
    tx.commit().await?;
    changed(store, scope).await;
    Ok(saved)
}

async fn find(tx: &ScopedTx, id: Uuid) -> DomainResult<Definition> {
    tx.select::<definition::Entity>()
        .filter(definition::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("custom field"))
}

pub async fn update(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: i32,
    changes: FieldChanges,
) -> DomainResult<Definition> {
    require_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = find(&tx, id).await?;
    if current.version != version {
        return Err(versioned::stale::<definition::Entity>(&current));
    }
    let mut next = current.clone();
    let mut touched: Vec<&str> = Vec::new();
    if let Some(v) = changes.label {
        next.label = label(&v)?;
        touched.push("label");
    }
    if let Some(v) = changes.options {
        next.options = options(current.field_type, Some(v))?;
        touched.push("options");
    }
    if let Some(v) = changes.required {
        next.required = v;
        touched.push("required");
    }
    if let Some(v) = changes.position {
        next.position = v;
        touched.push("position");
    }
    match changes.help_text {
        Patch::Keep => {}
        Patch::Clear => {
            next.help_text = None;
            touched.push("helpText");
        }
        Patch::Set(v) => {
            next.help_text = help_text(Some(v))?;
            touched.push("helpText");
        }
    }
    match changes.default {
        Patch::Keep => {}
        Patch::Clear => {
            next.default_value = None;
            touched.push("default");
        }
        Patch::Set(v) => {
            next.default_value = Some(values::default_of(&next, &v)?);
            touched.push("default");
        }
    }
    if let Some(default) = &next.default_value {
        // Options may have changed under an existing default.
        values::default_of(&next, default)?;
    }
    if next == current {
        tx.commit().await?;
        return Ok(current);
    }
    let saved = versioned::save_if_version::<definition::Entity>(&tx, next, version, DomainError::from).await?;
    audit::record(&tx, "custom_field.update", Some(id), &touched).await?;
    tx.commit().await?;
    changed(store, scope).await;
    Ok(saved)
}

/// Puts the given fields first, in the given order; the others follow in their current order.
pub async fn reorder(
    store: &Store,
    scope: &TenantScope,
    entity: FieldEntity,
    ids: &[Uuid],
) -> DomainResult<Vec<Definition>> {
    require_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let mut rows = tx
        .select::<definition::Entity>()
        .filter(definition::Column::Entity.eq(entity))
        .order_by_asc(definition::Column::Position)
        .order_by_asc(definition::Column::CreatedAt)
        .all(&tx)
        .await?;
    let mut seen = std::collections::HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(*id) {
            return Err(DomainError::validation(format!("ids.{i}"), "is listed twice"));
        }
        if !rows.iter().any(|r| r.id == *id) {
            return Err(DomainError::validation(
                format!("ids.{i}"),
                format!("is not a custom field of {}", entity.noun()),
            ));
        }
    }
    rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id).unwrap_or(usize::MAX));
    let at = now();
    for (position, row) in rows.iter_mut().enumerate() {
        if row.position != position as i32 {
            row.position = position as i32;
            row.version += 1;
            row.updated_at = at;
            let mut active = row.clone().into_active_model().reset_all();
            active.id = sea_orm::ActiveValue::Unchanged(row.id);
            tx.update::<definition::Entity>()
                .filter(definition::Column::Id.eq(row.id))
                .set(active)
                .exec(&tx)
                .await?;
        }
    }
    audit::record_with_subjects(&tx, "custom_field.reorder", None, &["position"], ids).await?;
    tx.commit().await?;
    changed(store, scope).await;
    Ok(rows)
}

/// Hides a field from reads, writes and filters; its values stay stored.
pub async fn archive(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<Definition> {
    set_archived(store, scope, id, true).await
}

/// Brings an archived field back with the values it had.
pub async fn restore(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<Definition> {
    set_archived(store, scope, id, false).await
}

async fn set_archived(store: &Store, scope: &TenantScope, id: Uuid, archived: bool) -> DomainResult<Definition> {
    require_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = find(&tx, id).await?;
    if current.archived_at.is_some() == archived {
        tx.commit().await?;
        return Ok(current);
    }
    let mut next = current.clone();
    next.archived_at = archived.then(now);
    let saved = versioned::save_if_version::<definition::Entity>(&tx, next, current.version, DomainError::from).await?;
    let action = if archived {
        "custom_field.archive"
    } else {
        "custom_field.restore"
    };
    audit::record(&tx, action, Some(id), &["archivedAt"]).await?;
    tx.commit().await?;
    changed(store, scope).await;
    Ok(saved)
}

/// Deletes an archived field and its value in every record. `confirm_key` must repeat the key.
/// Returns how many records lost a value.
pub async fn purge(store: &Store, scope: &TenantScope, id: Uuid, confirm_key: &str) -> DomainResult<u64> {
    require_admin(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = find(&tx, id).await?;
    if confirm_key != current.key {
        return Err(DomainError::validation(
            "confirmKey",
            "must repeat the field's key to confirm that its values are deleted",
        ));
    }
    if current.archived_at.is_none() {
        return Err(DomainError::validation("id", "archive the field before purging it"));
    }
    let table = current.entity.table();
    let backend = tx.backend();
    let holders = query::has_value(backend, table, &current.key);
    let counted: Vec<Count> = query::query_raw(&tx, |tenant| {
        Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from(Alias::new(table))
            .and_where(Expr::cust(tenant.to_owned()))
            .and_where(holders.clone())
            .to_owned()
    })
    .await?;
    let n = counted.first().map_or(0, |c| c.n);
    query::execute_raw(&tx, |tenant| {
        Query::update()
            .table(Alias::new(table))
            .value(
                Alias::new("custom_fields"),
                query::without_key(backend, "custom_fields", &current.key),
            )
            .value(
                Alias::new("custom_field_index"),
                query::without_key(backend, "custom_field_index", &current.key),
            )
            .and_where(Expr::cust(tenant.to_owned()))
            .and_where(holders.clone())
            .to_owned()
    })
    .await?;
    tx.delete::<definition::Entity>()
        .filter(definition::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    audit::record(&tx, "custom_field.purge", Some(id), &[current.key.as_str()]).await?;
    tx.commit().await?;
    changed(store, scope).await;
    Ok(n.max(0) as u64)
}

#[derive(FromQueryResult)]
struct Count {
    n: i64,
}
