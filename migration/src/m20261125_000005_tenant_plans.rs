//! Per-tenant rate-limit plans, overriding the server's defaults when set.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    RateLimitPerSecond,
    RateLimitBurst,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Tenants::RateLimitPerSecond).integer().null().to_owned(),
            ColumnDef::new(Tenants::RateLimitBurst).integer().null().to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Tenants::Table).add_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
