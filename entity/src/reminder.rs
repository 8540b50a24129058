use sea_orm::entity::prelude::*;

use crate::enums::{ReminderKind, ReminderStatus};

/// One reminder e-mail to send: planned once per occasion, claimed, sent, retried.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reminders")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: ReminderKind,
    /// The contract or follow-up.
    pub subject_id: Uuid,
    pub customer_id: Uuid,
    /// What the reminder is for, unique per subject (`end:2026-12-31/offset:30`, `due:…`).
    pub occasion: String,
    pub offset_days: Option<i32>,
    /// The responsible user when planned; the tenant's admins receive it when they are gone.
    pub recipient_user_id: Option<Uuid>,
    pub due_at: DateTimeUtc,
    pub status: ReminderStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTimeUtc,
    /// While `sending`: when another worker may take it over.
    pub lease_until: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub message_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
