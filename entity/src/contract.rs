use sea_orm::entity::prelude::*;

use crate::enums::RenewalState;

/// A contract with a customer. Its status (draft, active, expiring, …) is derived from the
/// dates and never stored, except `expiring_from`, which makes "expiring" an indexed range.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contracts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    /// Unique per tenant.
    pub number: String,
    pub title: String,
    pub value_minor: i64,
    /// ISO 4217.
    pub currency: String,
    pub start_date: Date,
    /// Last day the contract runs (inclusive).
    pub end_date: Date,
    pub signed_date: Option<Date>,
    pub auto_renew: bool,
    pub renewal_state: RenewalState,
    /// Overrides the tenant's reminder offsets when set (JSON array of days).
    pub reminder_offsets_days: Option<Json>,
    /// `end_date` minus the largest reminder offset in force: from this day on it is EXPIRING.
    pub expiring_from: Date,
    pub terms: Option<String>,
    pub terminated_at: Option<DateTimeUtc>,
    pub termination_reason: Option<String>,
    /// The contract this one renewed.
    pub predecessor_id: Option<Uuid>,
    pub version: i32,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The local day the next reminder falls due; `None` when none is to come.
    pub next_reminder_on: Option<Date>,
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
