//! Tenants, their users, API keys and the audit log.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Slug,
    Timezone,
    Locale,
    CustomerSeq,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
    Email,
    Name,
    Role,
    PasswordHash,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    Name,
    Role,
    Prefix,
    SecretHash,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    TenantId,
    ActorUserId,
    ActorApiKeyId,
    Action,
    Entity,
    EntityId,
    ChangedFields,
    RequestId,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(ColumnDef::new(Tenants::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tenants::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Tenants::Slug).string_len(40).not_null().unique_key())
                    .col(ColumnDef::new(Tenants::Timezone).string_len(64).not_null())
                    .col(ColumnDef::new(Tenants::Locale).string_len(16).not_null())
                    .col(ColumnDef::new(Tenants::CustomerSeq).big_integer().not_null().default(0))
                    .col(ColumnDef::new(Tenants::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Tenants::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Users::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Users::Email).string_len(254).not_null())
                    .col(ColumnDef::new(Users::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                    .col(ColumnDef::new(Users::PasswordHash).string_len(255).not_null())
                    .col(ColumnDef::new(Users::Active).boolean().not_null().default(true))
                    .col(ColumnDef::new(Users::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Users::UpdatedAt).timestamp_with_time_zone().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("users", &["tenant_id", "email"], true))
            .await?;
        // Target of the composite foreign keys that keep owners inside their tenant.
        manager.create_index(index("users", &["tenant_id", "id"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(ColumnDef::new(ApiKeys::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(ApiKeys::TenantId).uuid().not_null())
                    .col(ColumnDef::new(ApiKeys::Name).string_len(200).not_null())
                    .col(ColumnDef::new(ApiKeys::Role).string_len(16).not_null())
                    .col(ColumnDef::new(ApiKeys::Prefix).string_len(32).not_null())
                    .col(ColumnDef::new(ApiKeys::SecretHash).string_len(64).not_null())
                    .col(ColumnDef::new(ApiKeys::CreatedBy).uuid().not_null())
                    .col(ColumnDef::new(ApiKeys::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(ApiKeys::LastUsedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(ApiKeys::RevokedAt).timestamp_with_time_zone().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiKeys::Table, (ApiKeys::TenantId, ApiKeys::CreatedBy))
                            .to(Users::Table, (Users::TenantId, Users::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("api_keys", &["tenant_id", "secret_hash"], true))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(ColumnDef::new(AuditLog::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(AuditLog::TenantId).uuid().not_null())
                    .col(ColumnDef::new(AuditLog::ActorUserId).uuid().null())
                    .col(ColumnDef::new(AuditLog::ActorApiKeyId).uuid().null())
                    .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::Entity).string_len(64).not_null())
                    .col(ColumnDef::new(AuditLog::EntityId).uuid().null())
                    .col(ColumnDef::new(AuditLog::ChangedFields).json().not_null())
                    .col(ColumnDef::new(AuditLog::RequestId).string_len(64).null())
                    .col(
                        ColumnDef::new(AuditLog::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(AuditLog::Table, AuditLog::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("audit_log", &["tenant_id", "created_at", "id"], false))
            .await?;
        manager
            .create_index(index("audit_log", &["tenant_id", "entity_id"], false))
            .await?;
        manager
            .create_index(index("audit_log", &["tenant_id", "actor_user_id"], false))
            .await?;
        Ok(())
    }
}
