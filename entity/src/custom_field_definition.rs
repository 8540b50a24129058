use sea_orm::entity::prelude::*;

use crate::enums::{CustomFieldEntity, CustomFieldType};

/// A field a tenant added to one kind of record. The key and type never change.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_field_definitions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub entity: CustomFieldEntity,
    pub key: String,
    pub label: String,
    pub field_type: CustomFieldType,
    pub required: bool,
    /// The allowed values of a select or multi-select field, in display order.
    pub options: Option<Json>,
    /// Applied on create when no value is given; stored as the field's value shape.
    pub default_value: Option<Json>,
    pub sensitive: bool,
    pub searchable: bool,
    pub is_unique: bool,
    pub position: i32,
    pub help_text: Option<String>,
    pub archived_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
