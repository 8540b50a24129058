//! Per-tenant wrapped keys, contacts with encrypted fields and blind indexes, merge pointers.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::index;
use crate::rls::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    PhoneRegion,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    TenantId,
    MergedIntoId,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    SubjectIds,
}

#[derive(DeriveIden)]
enum TenantKeys {
    Table,
    TenantId,
    Purpose,
    Version,
    Wrapped,
    MasterVersion,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    Id,
    TenantId,
    CustomerId,
    Name,
    Title,
    IsDecisionMaker,
    IsPrimary,
    PreferredChannel,
    Email,
    EmailBidx,
    Phone,
    PhoneBidx,
    Wechat,
    WechatBidx,
    Qq,
    QqBidx,
    Address,
    KeyVersion,
    CreatedAt,
    UpdatedAt,
}

fn encrypted(col: Contacts) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

fn bidx(col: Contacts) -> ColumnDef {
    ColumnDef::new(col).string_len(32).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(
                        ColumnDef::new(Tenants::PhoneRegion)
                            .string_len(2)
                            .not_null()
                            .default("CN"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Customers::Table)
                    .add_column(ColumnDef::new(Customers::MergedIntoId).uuid().null())
                    .to_owned(),
            )
            .await?;

        // Reads of contact data concern many customers at once; their ids go here.
        manager
            .alter_table(
                Table::alter()
                    .table(AuditLog::Table)
                    .add_column(ColumnDef::new(AuditLog::SubjectIds).json().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TenantKeys::Table)
                    .col(ColumnDef::new(TenantKeys::TenantId).uuid().not_null())
                    .col(ColumnDef::new(TenantKeys::Purpose).string_len(8).not_null())
                    .col(ColumnDef::new(TenantKeys::Version).integer().not_null())
                    .col(ColumnDef::new(TenantKeys::Wrapped).text().not_null())
                    .col(ColumnDef::new(TenantKeys::MasterVersion).integer().not_null())
                    .col(
                        ColumnDef::new(TenantKeys::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .primary_key(
                        Index::create()
                            .col(TenantKeys::TenantId)
                            .col(TenantKeys::Purpose)
                            .col(TenantKeys::Version),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TenantKeys::Table, TenantKeys::TenantId)
                            .to(Tenants::Table, Tenants::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(ColumnDef::new(Contacts::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Contacts::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Contacts::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(Contacts::Name).string_len(200).null())
                    .col(ColumnDef::new(Contacts::Title).string_len(100).null())
                    .col(
                        ColumnDef::new(Contacts::IsDecisionMaker)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Contacts::IsPrimary).boolean().not_null().default(false))
                    .col(ColumnDef::new(Contacts::PreferredChannel).string_len(16).null())
                    .col(encrypted(Contacts::Email))
                    .col(bidx(Contacts::EmailBidx))
                    .col(encrypted(Contacts::Phone))
                    .col(bidx(Contacts::PhoneBidx))
                    .col(encrypted(Contacts::Wechat))
                    .col(bidx(Contacts::WechatBidx))
                    .col(encrypted(Contacts::Qq))
                    .col(bidx(Contacts::QqBidx))
                    .col(encrypted(Contacts::Address))
                    .col(ColumnDef::new(Contacts::KeyVersion).integer().not_null())
                    .col(
                        ColumnDef::new(Contacts::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Contacts::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Contacts::Table, (Contacts::TenantId, Contacts::CustomerId))
                            .to(Customers::Table, (Customers::TenantId, Customers::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("contacts", &["tenant_id", "customer_id"], false))
            .await?;
        for column in ["email_bidx", "phone_bidx", "wechat_bidx", "qq_bidx", "key_version"] {
            manager
                .create_index(index("contacts", &["tenant_id", column], false))
                .await?;
        }

        if manager.get_database_backend() == DbBackend::Postgres {
            protect_table(manager, "tenant_keys", "tenant_id").await?;
            protect_table(manager, "contacts", "tenant_id").await?;
        }
        Ok(())
    }
}
