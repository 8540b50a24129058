//! PostgreSQL row-level security: the second wall behind the tenant filter of every query.
//!
//! Requests run as the role `dossier_app` (switched to with `SET LOCAL ROLE` inside each
//! transaction), which owns nothing and is not a superuser, so the policies apply to it.
//! The tenant of a transaction is `app.tenant_id`, set with `set_config(.., true)`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub const APP_ROLE: &str = "dossier_app";

/// Creates the application role if it is missing and lets the migrating user switch to it.
pub async fn ensure_app_role(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                    BEGIN
                        CREATE ROLE {APP_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                    END;
                END IF;
             END $$;
             DO $$ BEGIN
                IF NOT pg_has_role(current_user, '{APP_ROLE}', 'MEMBER') THEN
                    EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
                END IF;
                -- Since PostgreSQL 16 a role's creator gets ADMIN on it but not SET:
                -- without SET the per-transaction switch to the role would be refused.
                IF current_setting('server_version_num')::int >= 160000 THEN
                    IF NOT pg_has_role(current_user, '{APP_ROLE}', 'SET') THEN
                        EXECUTE format('GRANT {APP_ROLE} TO %I WITH SET TRUE', current_user);
                    END IF;
                END IF;
             END $$;
             GRANT USAGE ON SCHEMA public TO {APP_ROLE};"
        ))
        .await?;
    Ok(())
}

/// Grants the application role row access to `table` and confines it to the current tenant.
/// `tenant_column` is `id` for the tenants table itself.
///
/// `FORCE` binds the table owner too, so a later migration that moves data must set
/// `app.tenant_id` per tenant (or run as a superuser), or it will see no rows.
pub async fn protect_table(manager: &SchemaManager<'_>, table: &str, tenant_column: &str) -> Result<(), DbErr> {
    let policy = format!("{table}_tenant_isolation");
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE};
             ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             DROP POLICY IF EXISTS {policy} ON {table};
             CREATE POLICY {policy} ON {table}
                 USING ({tenant_column} = NULLIF(current_setting('app.tenant_id', true), '')::uuid)
                 WITH CHECK ({tenant_column} = NULLIF(current_setting('app.tenant_id', true), '')::uuid);"
        ))
        .await?;
    Ok(())
}
