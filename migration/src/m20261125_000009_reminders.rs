//! Reminder e-mails: one row per reminder to send (an outbox), and on contracts and
//! follow-ups the moment their next reminder falls due, so that planning reads only what is due.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::index;
use crate::rls::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Reminders {
    Table,
    Id,
    TenantId,
    Kind,
    SubjectId,
    CustomerId,
    Occasion,
    OffsetDays,
    RecipientUserId,
    DueAt,
    Status,
    Attempts,
    NextAttemptAt,
    LeaseUntil,
    LastError,
    SentAt,
    MessageId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contracts {
    Table,
    NextReminderOn,
}

#[derive(DeriveIden)]
enum FollowUps {
    Table,
    RemindAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let time = |c: Reminders| ColumnDef::new(c).timestamp_with_time_zone().not_null().to_owned();
        let optional_time = |c: Reminders| ColumnDef::new(c).timestamp_with_time_zone().null().to_owned();
        manager
            .create_table(
                Table::create()
                    .table(Reminders::Table)
                    .col(ColumnDef::new(Reminders::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Reminders::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Reminders::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Reminders::SubjectId).uuid().not_null())
                    .col(ColumnDef::new(Reminders::CustomerId).uuid().not_null())
                    // What the reminder is for, unique per subject: `end:2026-12-31/offset:30`
                    // for a contract, `due:2026-11-25T09:00:00Z` for a follow-up.
                    .col(ColumnDef::new(Reminders::Occasion).string_len(64).not_null())
                    .col(ColumnDef::new(Reminders::OffsetDays).integer().null())
                    .col(ColumnDef::new(Reminders::RecipientUserId).uuid().null())
                    .col(time(Reminders::DueAt))
                    .col(ColumnDef::new(Reminders::Status).string_len(16).not_null())
                    .col(ColumnDef::new(Reminders::Attempts).integer().not_null().default(0))
                    .col(time(Reminders::NextAttemptAt))
                    .col(optional_time(Reminders::LeaseUntil))
                    .col(ColumnDef::new(Reminders::LastError).text().null())
                    .col(optional_time(Reminders::SentAt))
                    .col(ColumnDef::new(Reminders::MessageId).string_len(200).null())
                    .col(time(Reminders::CreatedAt))
                    .col(time(Reminders::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "reminders",
                &["tenant_id", "kind", "subject_id", "occasion"],
                true,
            ))
            .await?;
        manager
            .create_index(index("reminders", &["tenant_id", "customer_id", "due_at"], false))
            .await?;
        manager
            .create_index(index("reminders", &["tenant_id", "status", "due_at"], false))
            .await?;
        // Workers claim across tenants: the due pending rows, oldest first.
        manager
            .create_index(index("reminders", &["status", "next_attempt_at"], false))
            .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(Contracts::Table)
                    .add_column(ColumnDef::new(Contracts::NextReminderOn).date().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("contracts", &["tenant_id", "next_reminder_on"], false))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(FollowUps::Table)
                    .add_column(ColumnDef::new(FollowUps::RemindAt).timestamp_with_time_zone().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("follow_ups", &["tenant_id", "remind_at"], false))
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            protect_table(manager, "reminders", "tenant_id").await?;
            // Delivery workers claim due reminders of every tenant; only transactions that
            // declare themselves a reminder worker see them all.
            manager
                .get_connection()
                .execute_unprepared(
                    "DROP POLICY IF EXISTS reminders_worker ON reminders;
                     CREATE POLICY reminders_worker ON reminders
                         USING (current_setting('app.reminder_worker', true) = 'on')
                         WITH CHECK (current_setting('app.reminder_worker', true) = 'on');",
                )
                .await?;
        }
        Ok(())
    }
}
