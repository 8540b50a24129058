use sea_orm::entity::prelude::*;

use crate::enums::InteractionChannel;

/// One conversation with the customer: a call, a visit, a message.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub channel: InteractionChannel,
    pub occurred_at: DateTimeUtc,
    pub summary: String,
    pub outcome: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    /// Values of the tenant's custom fields (key → value; sensitive ones as ciphertext).
    #[sea_orm(column_type = "JsonBinary")]
    pub custom_fields: Json,
    /// Blind indexes of searchable sensitive custom field values (key → index).
    #[sea_orm(column_type = "JsonBinary")]
    pub custom_field_index: Json,
    /// The oldest data key version among the sealed custom values; `None` when there are none.
    pub custom_fields_key_version: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
