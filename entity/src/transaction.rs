use sea_orm::entity::prelude::*;

use crate::enums::PaymentMethod;

/// One sale of the customer's history. Money in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub occurred_at: DateTimeUtc,
    /// Product or service sold.
    pub product: String,
    /// Quantity in thousandths (1.5 units = 1500), exact on both databases.
    pub quantity_milli: i64,
    pub unit_price_minor: i64,
    pub amount_minor: i64,
    /// ISO 4217.
    pub currency: String,
    pub payment_method: PaymentMethod,
    pub after_sales_notes: Option<String>,
    /// A voided transaction stays on file, flagged, and counts in no total.
    pub voided_at: Option<DateTimeUtc>,
    pub void_reason: Option<String>,
    pub version: i32,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
