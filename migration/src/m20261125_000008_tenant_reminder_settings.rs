//! What a tenant sets for its reminder e-mails: the follow-up lead time, an optional daily
//! digest hour, the sender's display name, a reply-to address and an extra recipient.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    FollowUpReminderLeadMinutes,
    DailyDigestHour,
    ReminderSenderName,
    ReminderReplyTo,
    ReminderExtraRecipient,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let columns = [
            ColumnDef::new(Tenants::FollowUpReminderLeadMinutes)
                .integer()
                .not_null()
                .default(60)
                .to_owned(),
            ColumnDef::new(Tenants::DailyDigestHour).integer().null().to_owned(),
            ColumnDef::new(Tenants::ReminderSenderName)
                .string_len(100)
                .null()
                .to_owned(),
            ColumnDef::new(Tenants::ReminderReplyTo)
                .string_len(254)
                .null()
                .to_owned(),
            ColumnDef::new(Tenants::ReminderExtraRecipient)
                .string_len(254)
                .null()
                .to_owned(),
        ];
        for mut column in columns {
            manager
                .alter_table(Table::alter().table(Tenants::Table).add_column(&mut column).to_owned())
                .await?;
        }
        Ok(())
    }
}
