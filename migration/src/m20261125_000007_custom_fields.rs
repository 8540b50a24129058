//! Custom fields: the tenant's own field definitions, and a JSON column of values (with the
//! blind indexes of searchable sensitive values beside it) on each entity that can carry them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

use crate::index;
use crate::rls::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomFieldDefinitions {
    Table,
    Id,
    TenantId,
    Entity,
    Key,
    Label,
    FieldType,
    Required,
    Options,
    DefaultValue,
    Sensitive,
    Searchable,
    IsUnique,
    Position,
    HelpText,
    ArchivedAt,
    Version,
    CreatedAt,
    UpdatedAt,
}

/// Columns every carrying table gains (their names are the schema's, hence the shared prefix).
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
enum Carrier {
    CustomFields,
    CustomFieldIndex,
    CustomFieldsKeyVersion,
}

const CARRIERS: [&str; 4] = ["customers", "contracts", "transactions", "interactions"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(CustomFieldDefinitions::Table)
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CustomFieldDefinitions::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Entity).string_len(16).not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Key).string_len(64).not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Label).string_len(200).not_null())
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::FieldType)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CustomFieldDefinitions::Required).boolean().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Options).json().null())
                    .col(ColumnDef::new(CustomFieldDefinitions::DefaultValue).json().null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Sensitive).boolean().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Searchable).boolean().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::IsUnique).boolean().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::Position).integer().not_null())
                    .col(ColumnDef::new(CustomFieldDefinitions::HelpText).text().null())
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::ArchivedAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::Version)
                            .integer()
                            .not_null()
                            .default(1),
                    )
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CustomFieldDefinitions::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("custom_field_definitions", &["tenant_id", "entity", "key"], true))
            .await?;

        for table in CARRIERS {
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(
                            ColumnDef::new(Carrier::CustomFields)
                                .json_binary()
                                .not_null()
                                .default(Expr::cust("'{}'")),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(
                            ColumnDef::new(Carrier::CustomFieldIndex)
                                .json_binary()
                                .not_null()
                                .default(Expr::cust("'{}'")),
                        )
                        .to_owned(),
                )
                .await?;
            // The oldest data key among the row's sensitive values, so re-encryption after a
            // key rotation finds the rows it has left with an indexed range.
            manager
                .alter_table(
                    Table::alter()
                        .table(Alias::new(table))
                        .add_column(ColumnDef::new(Carrier::CustomFieldsKeyVersion).integer().null())
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(index(table, &["tenant_id", "custom_fields_key_version"], false))
                .await?;
        }

        if manager.get_database_backend() == DbBackend::Postgres {
            protect_table(manager, "custom_field_definitions", "tenant_id").await?;
            // Equality filters are written as containment (`@>`), which these indexes serve
            // for any key; ranges and sorts read the page's rows through the tenant index.
            for table in CARRIERS {
                manager
                    .get_connection()
                    .execute_unprepared(&format!(
                        "CREATE INDEX ix_{table}_custom_fields ON {table} USING gin (custom_fields jsonb_path_ops);
                         CREATE INDEX ix_{table}_custom_field_index ON {table} USING gin (custom_field_index jsonb_path_ops);"
                    ))
                    .await?;
            }
        }
        Ok(())
    }
}
