//! Customers (identity, profile, status, owner), tenant-defined tags and status history.

use sea_orm_migration::prelude::*;

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    TenantId,
    Code,
    Kind,
    Name,
    CompanyName,
    Source,
    FirstContactDate,
    OwnerId,
    Status,
    Gender,
    Birthday,
    AgeBand,
    Occupation,
    Position,
    Industry,
    CompanySize,
    Region,
    City,
    BudgetMinMinor,
    BudgetMaxMinor,
    BudgetCurrency,
    PreferredChannel,
    Hobbies,
    FamilyNotes,
    SpecialNeeds,
    Notes,
    ArchivedAt,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tags {
    Table,
    Id,
    TenantId,
    Name,
    Color,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CustomerTags {
    Table,
    TenantId,
    CustomerId,
    TagId,
}

#[derive(DeriveIden)]
enum CustomerStatusHistory {
    Table,
    Id,
    TenantId,
    CustomerId,
    FromStatus,
    ToStatus,
    ActorUserId,
    Note,
    ChangedAt,
}

fn text(col: Customers, len: u32) -> ColumnDef {
    ColumnDef::new(col).string_len(len).null().to_owned()
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
                    .table(Customers::Table)
                    .col(ColumnDef::new(Customers::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Customers::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Customers::Code).string_len(32).not_null())
                    .col(ColumnDef::new(Customers::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Customers::Name).string_len(200).not_null())
                    .col(text(Customers::CompanyName, 200))
                    .col(ColumnDef::new(Customers::Source).string_len(16).not_null())
                    .col(ColumnDef::new(Customers::FirstContactDate).date().not_null())
                    .col(ColumnDef::new(Customers::OwnerId).uuid().not_null())
                    .col(ColumnDef::new(Customers::Status).string_len(16).not_null())
                    .col(text(Customers::Gender, 16))
                    .col(ColumnDef::new(Customers::Birthday).date().null())
                    .col(text(Customers::AgeBand, 16))
                    .col(text(Customers::Occupation, 100))
                    .col(text(Customers::Position, 100))
                    .col(text(Customers::Industry, 100))
                    .col(text(Customers::CompanySize, 16))
                    .col(text(Customers::Region, 100))
                    .col(text(Customers::City, 100))
                    .col(ColumnDef::new(Customers::BudgetMinMinor).big_integer().null())
                    .col(ColumnDef::new(Customers::BudgetMaxMinor).big_integer().null())
                    .col(text(Customers::BudgetCurrency, 3))
                    .col(text(Customers::PreferredChannel, 16))
                    .col(ColumnDef::new(Customers::Hobbies).text().null())
                    .col(ColumnDef::new(Customers::FamilyNotes).text().null())
                    .col(ColumnDef::new(Customers::SpecialNeeds).text().null())
                    .col(ColumnDef::new(Customers::Notes).text().null())
                    .col(ColumnDef::new(Customers::ArchivedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Customers::Version).integer().not_null().default(1))
                    .col(ColumnDef::new(Customers::CreatedBy).uuid().not_null())
                    .col(
                        ColumnDef::new(Customers::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Customers::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Customers::Table, (Customers::TenantId, Customers::OwnerId))
                            .to(Users::Table, (Users::TenantId, Users::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "code"], true))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "id"], true))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "created_at", "id"], false))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "updated_at", "id"], false))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "name", "id"], false))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "owner_id"], false))
            .await?;
        manager
            .create_index(index("customers", &["tenant_id", "status"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Tags::Table)
                    .col(ColumnDef::new(Tags::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tags::TenantId).uuid().not_null())
                    .col(ColumnDef::new(Tags::Name).string_len(64).not_null())
                    .col(ColumnDef::new(Tags::Color).string_len(7).not_null())
                    .col(ColumnDef::new(Tags::CreatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("tags", &["tenant_id", "name"], true))
            .await?;
        manager.create_index(index("tags", &["tenant_id", "id"], true)).await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerTags::Table)
                    .col(ColumnDef::new(CustomerTags::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomerTags::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerTags::TagId).uuid().not_null())
                    .primary_key(
                        Index::create()
                            .col(CustomerTags::TenantId)
                            .col(CustomerTags::CustomerId)
                            .col(CustomerTags::TagId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerTags::Table, (CustomerTags::TenantId, CustomerTags::CustomerId))
                            .to(Customers::Table, (Customers::TenantId, Customers::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(CustomerTags::Table, (CustomerTags::TenantId, CustomerTags::TagId))
                            .to(Tags::Table, (Tags::TenantId, Tags::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("customer_tags", &["tenant_id", "tag_id"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomerStatusHistory::Table)
                    .col(
                        ColumnDef::new(CustomerStatusHistory::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(CustomerStatusHistory::TenantId).uuid().not_null())
                    .col(ColumnDef::new(CustomerStatusHistory::CustomerId).uuid().not_null())
                    .col(ColumnDef::new(CustomerStatusHistory::FromStatus).string_len(16).null())
                    .col(
                        ColumnDef::new(CustomerStatusHistory::ToStatus)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CustomerStatusHistory::ActorUserId).uuid().null())
                    .col(ColumnDef::new(CustomerStatusHistory::Note).string_len(1000).null())
                    .col(
                        ColumnDef::new(CustomerStatusHistory::ChangedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                CustomerStatusHistory::Table,
                                (CustomerStatusHistory::TenantId, CustomerStatusHistory::CustomerId),
                            )
                            .to(Customers::Table, (Customers::TenantId, Customers::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "customer_status_history",
                &["tenant_id", "customer_id", "changed_at"],
                false,
            ))
            .await?;
        Ok(())
    }
}
