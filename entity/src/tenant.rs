use sea_orm::entity::prelude::*;

use crate::enums::Locale;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    /// IANA time zone name, e.g. `Asia/Shanghai`.
    pub timezone: String,
    pub locale: Locale,
    /// ISO 3166 region used to read phone numbers written without a country code.
    pub phone_region: String,
    /// Plan: requests per second allowed to the tenant, when it differs from the server default.
    pub rate_limit_per_second: Option<i32>,
    pub rate_limit_burst: Option<i32>,
    /// Last number handed out for generated customer codes (`C-000123`).
    pub customer_seq: i64,
    /// Days before a contract's end date at which reminders go out, e.g. `[90, 30, 7]`;
    /// the largest one starts the contract's EXPIRING status.
    pub contract_reminder_offsets_days: Json,
    /// How long before a follow-up falls due its reminder goes out.
    pub follow_up_reminder_lead_minutes: i32,
    /// Local hour (0–23) at which a user's reminders go out together as one digest; `None`:
    /// each reminder goes out when due.
    pub daily_digest_hour: Option<i32>,
    /// Display name on reminder e-mails; the tenant's name when absent.
    pub reminder_sender_name: Option<String>,
    pub reminder_reply_to: Option<String>,
    /// An address that receives a copy of every reminder, besides the responsible users.
    pub reminder_extra_recipient: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
