//! The rest of the customer file: transactions, contracts, interactions with their
//! follow-ups, and feedback; the tenant's default contract reminder offsets.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::index;
use crate::rls::protect_table;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    ContractReminderOffsetsDays,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Id,
    TenantId,
}

#[derive(DeriveIden)]
enum Transactions {
    Table,
    Id,
    TenantId,
    CustomerId,
    OccurredAt,
    Product,
    QuantityMilli,
    UnitPriceMinor,
    AmountMinor,
    Currency,
    PaymentMethod,
    AfterSalesNotes,
    VoidedAt,
    VoidReason,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contracts {
    Table,
    Id,
    TenantId,
    CustomerId,
    Number,
    Title,
    ValueMinor,
    Currency,
    StartDate,
    EndDate,
    SignedDate,
    AutoRenew,
    RenewalState,
    ReminderOffsetsDays,
    ExpiringFrom,
    Terms,
    TerminatedAt,
    TerminationReason,
    PredecessorId,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Interactions {
    Table,
    Id,
    TenantId,
    CustomerId,
    Channel,
    OccurredAt,
    Summary,
    Outcome,
    CreatedBy,
    CreatedAt,
}

#[derive(DeriveIden)]
enum FollowUps {
    Table,
    Id,
    TenantId,
    CustomerId,
    InteractionId,
    AssigneeId,
    DueAt,
    Note,
    CompletedAt,
    CompletedBy,
    Outcome,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    TenantId,
    CustomerId,
    Kind,
    Content,
    Score,
    ReceivedAt,
    Resolution,
    ResolvedAt,
    ResolvedBy,
    CreatedBy,
    CreatedAt,
}

fn id<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().primary_key().to_owned()
}

fn uuid<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).uuid().not_null().to_owned()
}

fn time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().not_null().to_owned()
}

fn optional_time<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().null().to_owned()
}

fn text<T: IntoIden>(col: T) -> ColumnDef {
    ColumnDef::new(col).text().null().to_owned()
}

/// Rows of a customer go with the customer (erasure) and never point into another tenant.
fn of_customer<T: IntoIden + 'static>(table: T, tenant: T, customer: T) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, (tenant, customer))
        .to(Customers::Table, (Customers::TenantId, Customers::Id))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
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
                        ColumnDef::new(Tenants::ContractReminderOffsetsDays)
                            .json()
                            .not_null()
                            .default(Expr::cust("'[90,30,7]'")),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Transactions::Table)
                    .col(id(Transactions::Id))
                    .col(uuid(Transactions::TenantId))
                    .col(uuid(Transactions::CustomerId))
                    .col(time(Transactions::OccurredAt))
                    .col(ColumnDef::new(Transactions::Product).string_len(200).not_null())
                    .col(ColumnDef::new(Transactions::QuantityMilli).big_integer().not_null())
                    .col(ColumnDef::new(Transactions::UnitPriceMinor).big_integer().not_null())
                    .col(ColumnDef::new(Transactions::AmountMinor).big_integer().not_null())
                    .col(ColumnDef::new(Transactions::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Transactions::PaymentMethod).string_len(16).not_null())
                    .col(text(Transactions::AfterSalesNotes))
                    .col(optional_time(Transactions::VoidedAt))
                    .col(text(Transactions::VoidReason))
                    .col(ColumnDef::new(Transactions::Version).integer().not_null().default(1))
                    .col(uuid(Transactions::CreatedBy))
                    .col(time(Transactions::CreatedAt))
                    .col(time(Transactions::UpdatedAt))
                    .foreign_key(&mut of_customer(
                        Transactions::Table,
                        Transactions::TenantId,
                        Transactions::CustomerId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "transactions",
                &["tenant_id", "customer_id", "occurred_at"],
                false,
            ))
            .await?;
        manager
            .create_index(index("transactions", &["tenant_id", "occurred_at"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contracts::Table)
                    .col(id(Contracts::Id))
                    .col(uuid(Contracts::TenantId))
                    .col(uuid(Contracts::CustomerId))
                    .col(ColumnDef::new(Contracts::Number).string_len(64).not_null())
                    .col(ColumnDef::new(Contracts::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Contracts::ValueMinor).big_integer().not_null())
                    .col(ColumnDef::new(Contracts::Currency).string_len(3).not_null())
                    .col(ColumnDef::new(Contracts::StartDate).date().not_null())
                    .col(ColumnDef::new(Contracts::EndDate).date().not_null())
                    .col(ColumnDef::new(Contracts::SignedDate).date().null())
                    .col(ColumnDef::new(Contracts::AutoRenew).boolean().not_null().default(false))
                    .col(ColumnDef::new(Contracts::RenewalState).string_len(16).not_null())
                    .col(ColumnDef::new(Contracts::ReminderOffsetsDays).json().null())
                    .col(ColumnDef::new(Contracts::ExpiringFrom).date().not_null())
                    .col(text(Contracts::Terms))
                    .col(optional_time(Contracts::TerminatedAt))
                    .col(text(Contracts::TerminationReason))
                    .col(ColumnDef::new(Contracts::PredecessorId).uuid().null())
                    .col(ColumnDef::new(Contracts::Version).integer().not_null().default(1))
                    .col(uuid(Contracts::CreatedBy))
                    .col(time(Contracts::CreatedAt))
                    .col(time(Contracts::UpdatedAt))
                    .foreign_key(&mut of_customer(
                        Contracts::Table,
                        Contracts::TenantId,
                        Contracts::CustomerId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("contracts", &["tenant_id", "number"], true))
            .await?;
        manager
            .create_index(index("contracts", &["tenant_id", "customer_id", "end_date"], false))
            .await?;
        manager
            .create_index(index("contracts", &["tenant_id", "end_date"], false))
            .await?;
        // A contract is renewed once: at most one successor per predecessor.
        manager
            .create_index(index("contracts", &["tenant_id", "predecessor_id"], true))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Interactions::Table)
                    .col(id(Interactions::Id))
                    .col(uuid(Interactions::TenantId))
                    .col(uuid(Interactions::CustomerId))
                    .col(ColumnDef::new(Interactions::Channel).string_len(16).not_null())
                    .col(time(Interactions::OccurredAt))
                    .col(ColumnDef::new(Interactions::Summary).text().not_null())
                    .col(text(Interactions::Outcome))
                    .col(uuid(Interactions::CreatedBy))
                    .col(time(Interactions::CreatedAt))
                    .foreign_key(&mut of_customer(
                        Interactions::Table,
                        Interactions::TenantId,
                        Interactions::CustomerId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "interactions",
                &["tenant_id", "customer_id", "occurred_at"],
                false,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(FollowUps::Table)
                    .col(id(FollowUps::Id))
                    .col(uuid(FollowUps::TenantId))
                    .col(uuid(FollowUps::CustomerId))
                    .col(ColumnDef::new(FollowUps::InteractionId).uuid().null())
                    .col(uuid(FollowUps::AssigneeId))
                    .col(time(FollowUps::DueAt))
                    .col(text(FollowUps::Note))
                    .col(optional_time(FollowUps::CompletedAt))
                    .col(ColumnDef::new(FollowUps::CompletedBy).uuid().null())
                    .col(text(FollowUps::Outcome))
                    .col(ColumnDef::new(FollowUps::Version).integer().not_null().default(1))
                    .col(uuid(FollowUps::CreatedBy))
                    .col(time(FollowUps::CreatedAt))
                    .col(time(FollowUps::UpdatedAt))
                    .foreign_key(&mut of_customer(
                        FollowUps::Table,
                        FollowUps::TenantId,
                        FollowUps::CustomerId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("follow_ups", &["tenant_id", "customer_id", "due_at"], false))
            .await?;
        manager
            .create_index(index("follow_ups", &["tenant_id", "assignee_id", "due_at"], false))
            .await?;
        manager
            .create_index(index("follow_ups", &["tenant_id", "due_at"], false))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Feedback::Table)
                    .col(id(Feedback::Id))
                    .col(uuid(Feedback::TenantId))
                    .col(uuid(Feedback::CustomerId))
                    .col(ColumnDef::new(Feedback::Kind).string_len(16).not_null())
                    .col(ColumnDef::new(Feedback::Content).text().not_null())
                    .col(ColumnDef::new(Feedback::Score).small_integer().null())
                    .col(time(Feedback::ReceivedAt))
                    .col(text(Feedback::Resolution))
                    .col(optional_time(Feedback::ResolvedAt))
                    .col(ColumnDef::new(Feedback::ResolvedBy).uuid().null())
                    .col(uuid(Feedback::CreatedBy))
                    .col(time(Feedback::CreatedAt))
                    .foreign_key(&mut of_customer(
                        Feedback::Table,
                        Feedback::TenantId,
                        Feedback::CustomerId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index("feedback", &["tenant_id", "customer_id", "received_at"], false))
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            for table in ["transactions", "contracts", "interactions", "follow_ups", "feedback"] {
                protect_table(manager, table, "tenant_id").await?;
            }
        }
        Ok(())
    }
}
