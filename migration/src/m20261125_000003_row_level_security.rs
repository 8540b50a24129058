//! Row-level security on every tenant table (PostgreSQL only; SQLite relies on the scope filter).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::rls::{ensure_app_role, protect_table};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        ensure_app_role(manager).await?;
        protect_table(manager, "tenants", "id").await?;
        // Login and API-key checks must find a tenant by slug before any tenant is set;
        // only a transaction that asks for a lookup explicitly may read other tenants' rows.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE POLICY tenants_lookup ON tenants FOR SELECT
                     USING (current_setting('app.tenant_lookup', true) = 'on')",
            )
            .await?;
        for table in [
            "users",
            "api_keys",
            "audit_log",
            "customers",
            "tags",
            "customer_tags",
            "customer_status_history",
        ] {
            protect_table(manager, table, "tenant_id").await?;
        }
        Ok(())
    }
}
