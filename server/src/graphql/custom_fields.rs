//! Custom fields: definitions (admins), and the values every carrying record shows.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use uuid::Uuid;

use super::reads::reading;
use super::{api, parse_id, parse_ids, patch, scope};
use crate::domain::custom_fields::query::{FieldFilter, FieldOrder, FilterOp};
use crate::domain::custom_fields::values::{self, FieldValue};
use crate::domain::custom_fields::{self as service, Definition, FieldChanges, FieldSpec};

/// The kinds of record that carry custom fields.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::CustomFieldEntity")]
pub enum CustomFieldEntity {
    Customer,
    Contract,
    Transaction,
    Interaction,
}

/// What a field holds. Values are JSON: text-like fields, dates (`YYYY-MM-DD`), date-times
/// (RFC 3339, returned in UTC) and decimals (`"12.5"`) are strings; integers numbers;
/// booleans booleans; multi-selects lists of options; amounts `{"amount": "12.50", "currency": "CNY"}`.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::CustomFieldType")]
pub enum CustomFieldType {
    Text,
    LongText,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    Select,
    MultiSelect,
    Email,
    Phone,
    Url,
    CurrencyAmount,
}

pub struct CustomFieldDefinition(pub Definition);

#[Object]
impl CustomFieldDefinition {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn entity(&self) -> CustomFieldEntity {
        self.0.entity.into()
    }
    /// Immutable, snake_case: the name of the value in `customFields`.
    async fn key(&self) -> &str {
        &self.0.key
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    #[graphql(name = "type")]
    async fn field_type(&self) -> CustomFieldType {
        self.0.field_type.into()
    }
    async fn required(&self) -> bool {
        self.0.required
    }
    /// The choices of a select or multi-select field, in display order.
    async fn options(&self) -> Option<Vec<String>> {
        self.0
            .options
            .as_ref()
            .and_then(Json::as_array)
            .map(|list| list.iter().filter_map(Json::as_str).map(str::to_owned).collect())
    }
    /// Applied when a record is created without a value.
    async fn default(&self) -> Option<&Json> {
        self.0.default_value.as_ref()
    }
    /// Stored encrypted; masked for roles that may not read contact data.
    async fn sensitive(&self) -> bool {
        self.0.sensitive
    }
    /// For a sensitive field: exact-match filters work through a blind index.
    async fn searchable(&self) -> bool {
        self.0.searchable
    }
    /// No two records of the tenant hold the same value.
    async fn unique(&self) -> bool {
        self.0.is_unique
    }
    async fn position(&self) -> i32 {
        self.0.position
    }
    async fn help_text(&self) -> Option<&str> {
        self.0.help_text.as_deref()
    }
    async fn archived(&self) -> bool {
        self.0.archived_at.is_some()
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One field of a record with its definition, for clients that render forms.
pub struct CustomFieldValue(pub FieldValue);

#[Object]
impl CustomFieldValue {
    async fn definition(&self) -> CustomFieldDefinition {
        CustomFieldDefinition(self.0.definition.clone())
    }
    async fn key(&self) -> &str {
        &self.0.definition.key
    }
    /// Null when the record has no value.
    async fn value(&self) -> Option<&Json> {
        self.0.value.as_ref()
    }
    /// True when `value` is a masked form of a sensitive value.
    async fn masked(&self) -> bool {
        self.0.masked
    }
}

/// The `customFields` object of a record: key → value, for the tenant's active fields.
pub fn as_object(values: &[FieldValue]) -> Json {
    Json::Object(
        values
            .iter()
            .filter_map(|v| v.value.clone().map(|value| (v.definition.key.clone(), value)))
            .collect(),
    )
}

/// The values of one record as the caller may see them: from memory when the definitions
/// (and keys) are there, else through the request's read transaction.
pub async fn read(
    ctx: &Context<'_>,
    entity: service::FieldEntity,
    row_id: Uuid,
    stored: &Json,
    plaintext: bool,
) -> Result<Vec<FieldValue>> {
    if let Some(values) = values::read_cached(&api(ctx).store, scope(ctx)?, entity, row_id, stored, plaintext) {
        return Ok(values?);
    }
    Ok(reading!(ctx, |tx| values::read(&tx, entity, row_id, stored, plaintext).await?))
}

/// The values of a contract, transaction or interaction: those its write read before COMMIT
/// (`answered`), else read now.
pub async fn read_record<M: values::CarriesFields>(
    ctx: &Context<'_>,
    record: &M,
    answered: Option<&Vec<FieldValue>>,
) -> Result<Vec<FieldValue>> {
    if let Some(values) = answered {
        return Ok(values.clone());
    }
    let plaintext = values::record_plaintext(scope(ctx)?);
    read(ctx, M::ENTITY, record.row_id(), record.stored(), plaintext).await
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum CustomFieldOperator {
    /// Equal (for a multi-select: exactly these options). Sensitive fields: searchable ones only.
    Eq,
    /// Not equal; records without a value match too.
    Neq,
    /// Equal to one of a list (for a multi-select: has any of the options).
    In,
    /// Text: case-insensitive substring. Multi-select: has the option.
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    /// `value: true` (or no value) finds records without one; `false` those with one.
    IsEmpty,
}

/// A condition on a custom field; the value is written like the field's values.
#[derive(InputObject)]
pub struct CustomFieldFilter {
    pub key: String,
    pub op: CustomFieldOperator,
    pub value: Option<Json>,
}

impl From<CustomFieldFilter> for FieldFilter {
    fn from(f: CustomFieldFilter) -> Self {
        FieldFilter {
            key: f.key,
            op: match f.op {
                CustomFieldOperator::Eq => FilterOp::Eq,
                CustomFieldOperator::Neq => FilterOp::Neq,
                CustomFieldOperator::In => FilterOp::In,
                CustomFieldOperator::Contains => FilterOp::Contains,
                CustomFieldOperator::Gt => FilterOp::Gt,
                CustomFieldOperator::Gte => FilterOp::Gte,
                CustomFieldOperator::Lt => FilterOp::Lt,
                CustomFieldOperator::Lte => FilterOp::Lte,
                CustomFieldOperator::IsEmpty => FilterOp::IsEmpty,
            },
            value: f.value,
        }
    }
}

pub fn filters(list: Option<Vec<CustomFieldFilter>>) -> Vec<FieldFilter> {
    list.unwrap_or_default().into_iter().map(Into::into).collect()
}

/// Sorts by a custom field; records without a value come last either way.
#[derive(InputObject)]
pub struct CustomFieldOrder {
    pub key: String,
    #[graphql(default)]
    pub descending: bool,
}

impl From<CustomFieldOrder> for FieldOrder {
    fn from(o: CustomFieldOrder) -> Self {
        FieldOrder {
            key: o.key,
            descending: o.descending,
        }
    }
}

#[derive(Default)]
pub struct CustomFieldQuery;

#[Object]
impl CustomFieldQuery {
    /// The tenant's fields of one kind of record, in display order.
    async fn custom_field_definitions(
        &self,
        ctx: &Context<'_>,
        entity: CustomFieldEntity,
        #[graphql(desc = "Archived fields too (default false).")] include_archived: Option<bool>,
    ) -> Result<Vec<CustomFieldDefinition>> {
        let include_archived = include_archived.unwrap_or(false);
        let list = reading!(ctx, |tx| service::list(&tx, entity.into(), include_archived).await?);
        Ok(list.into_iter().map(CustomFieldDefinition).collect())
    }
}

#[derive(InputObject)]
pub struct DefineCustomFieldInput {
    pub entity: CustomFieldEntity,
    /// snake_case, at most 64 characters; never changes.
    pub key: String,
    pub label: String,
    #[graphql(name = "type")]
    pub field_type: CustomFieldType,
    #[graphql(default)]
    pub required: bool,
    /// For select and multi-select fields.
    pub options: Option<Vec<String>>,
    pub default: Option<Json>,
    #[graphql(default)]
    pub sensitive: bool,
    #[graphql(default)]
    pub searchable: bool,
    #[graphql(default)]
    pub unique: bool,
    /// After the existing fields when not given.
    pub position: Option<i32>,
    pub help_text: Option<String>,
}

/// Key and type never change; a different type is a new field.
#[derive(InputObject)]
pub struct UpdateCustomFieldInput {
    pub id: ID,
    pub version: i32,
    pub label: Option<String>,
    /// Replaces the list; values already stored stay readable.
    pub options: Option<Vec<String>>,
    /// Making a field required checks new records and changes of the field, not old records.
    pub required: Option<bool>,
    pub position: Option<i32>,
    pub help_text: MaybeUndefined<String>,
    pub default: MaybeUndefined<Json>,
}

#[derive(InputObject)]
pub struct ReorderCustomFieldsInput {
    pub entity: CustomFieldEntity,
    /// These fields first, in this order; the others follow in their current order.
    pub ids: Vec<ID>,
}

#[derive(InputObject)]
pub struct CustomFieldIdInput {
    pub id: ID,
}

#[derive(InputObject)]
pub struct PurgeCustomFieldInput {
    pub id: ID,
    /// The field's key, repeated to confirm that every stored value is deleted.
    pub confirm_key: String,
}

#[derive(SimpleObject)]
pub struct CustomFieldPayload {
    pub custom_field: CustomFieldDefinition,
}

#[derive(SimpleObject)]
pub struct ReorderCustomFieldsPayload {
    pub custom_fields: Vec<CustomFieldDefinition>,
}

#[derive(SimpleObject)]
pub struct PurgeCustomFieldPayload {
    pub purged_id: ID,
    /// How many records lost their value.
    pub values_deleted: u64,
}

#[derive(Default)]
pub struct CustomFieldMutation;

/// Admins and owners only.
#[Object]
impl CustomFieldMutation {
    async fn define_custom_field(
        &self,
        ctx: &Context<'_>,
        input: DefineCustomFieldInput,
    ) -> Result<CustomFieldPayload> {
        let spec = FieldSpec {
            entity: input.entity.into(),
            key: input.key,
            label: input.label,
            field_type: input.field_type.into(),
            required: input.required,
            options: input.options,
            default: input.default.filter(|v| !v.is_null()),
            sensitive: input.sensitive,
            searchable: input.searchable,
            unique: input.unique,
            position: input.position,
            help_text: input.help_text,
        };
        let saved = service::define(&api(ctx).store, scope(ctx)?, spec).await?;
        Ok(CustomFieldPayload {
            custom_field: CustomFieldDefinition(saved),
        })
    }

    async fn update_custom_field(
        &self,
        ctx: &Context<'_>,
        input: UpdateCustomFieldInput,
    ) -> Result<CustomFieldPayload> {
        let id = parse_id("id", &input.id)?;
        let changes = FieldChanges {
            label: input.label,
            options: input.options,
            required: input.required,
            position: input.position,
            help_text: patch(input.help_text),
            default: patch(input.default),
        };
        let saved = service::update(&api(ctx).store, scope(ctx)?, id, input.version, changes).await?;
        Ok(CustomFieldPayload {
            custom_field: CustomFieldDefinition(saved),
        })
    }

    async fn reorder_custom_fields(
        &self,
        ctx: &Context<'_>,
        input: ReorderCustomFieldsInput,
    ) -> Result<ReorderCustomFieldsPayload> {
        let ids = parse_ids("ids", &input.ids)?;
        let rows = service::reorder(&api(ctx).store, scope(ctx)?, input.entity.into(), &ids).await?;
        Ok(ReorderCustomFieldsPayload {
            custom_fields: rows.into_iter().map(CustomFieldDefinition).collect(),
        })
    }

    /// Hides the field from reads, writes and filters; stored values are kept.
    async fn archive_custom_field(&self, ctx: &Context<'_>, input: CustomFieldIdInput) -> Result<CustomFieldPayload> {
        let id = parse_id("id", &input.id)?;
        let saved = service::archive(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(CustomFieldPayload {
            custom_field: CustomFieldDefinition(saved),
        })
    }

    /// Brings an archived field back with its values.
    async fn restore_custom_field(&self, ctx: &Context<'_>, input: CustomFieldIdInput) -> Result<CustomFieldPayload> {
        let id = parse_id("id", &input.id)?;
        let saved = service::restore(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(CustomFieldPayload {
            custom_field: CustomFieldDefinition(saved),
        })
    }

    /// Deletes an archived field and all its values. Cannot be undone.
    async fn purge_custom_field(
        &self,
        ctx: &Context<'_>,
        input: PurgeCustomFieldInput,
    ) -> Result<PurgeCustomFieldPayload> {
        let id = parse_id("id", &input.id)?;
        let values_deleted = service::purge(&api(ctx).store, scope(ctx)?, id, &input.confirm_key).await?;
        Ok(PurgeCustomFieldPayload {
            purged_id: input.id,
            values_deleted,
        })
    }
}
