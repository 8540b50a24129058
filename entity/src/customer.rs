use sea_orm::entity::prelude::*;

use crate::enums::{AgeBand, CompanySize, ContactChannel, CustomerKind, CustomerSource, CustomerStatus, Gender};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// 客户编号, unique per tenant.
    pub code: String,
    pub kind: CustomerKind,
    pub name: String,
    pub company_name: Option<String>,
    pub source: CustomerSource,
    /// Defaults to the day the customer was recorded, in the tenant's time zone.
    pub first_contact_date: Date,
    pub owner_id: Uuid,
    pub status: CustomerStatus,
    pub gender: Option<Gender>,
    pub birthday: Option<Date>,
    pub age_band: Option<AgeBand>,
    pub occupation: Option<String>,
    pub position: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<CompanySize>,
    pub region: Option<String>,
    pub city: Option<String>,
    /// Money is kept in minor units of `budget_currency` so both databases give exact values.
    pub budget_min_minor: Option<i64>,
    pub budget_max_minor: Option<i64>,
    pub budget_currency: Option<String>,
    pub preferred_channel: Option<ContactChannel>,
    pub hobbies: Option<String>,
    pub family_notes: Option<String>,
    pub special_needs: Option<String>,
    pub notes: Option<String>,
    pub archived_at: Option<DateTimeUtc>,
    /// Set when this customer was merged into another; the record stays, archived.
    pub merged_into_id: Option<Uuid>,
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
