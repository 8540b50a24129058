//! Schema migrations, applied in order; a landed migration is never edited, only followed.

// async_trait cannot name the lifetime of `SchemaManager` in the trait methods.
#![allow(elided_lifetimes_in_paths)]

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_tenancy;
mod m20261125_000002_customers;
mod m20261125_000003_row_level_security;
mod m20261125_000004_contacts;
mod m20261125_000005_tenant_plans;
mod m20261125_000006_customer_file;
mod m20261125_000007_custom_fields;
mod m20261125_000008_tenant_reminder_settings;
mod m20261125_000009_reminders;
pub mod rls;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_tenancy::Migration),
            Box::new(m20261125_000002_customers::Migration),
            Box::new(m20261125_000003_row_level_security::Migration),
            Box::new(m20261125_000004_contacts::Migration),
            Box::new(m20261125_000005_tenant_plans::Migration),
            Box::new(m20261125_000006_customer_file::Migration),
            Box::new(m20261125_000007_custom_fields::Migration),
            Box::new(m20261125_000008_tenant_reminder_settings::Migration),
            Box::new(m20261125_000009_reminders::Migration),
        ]
    }
}

/// Builds an index whose name is derived from its table and columns.
pub(crate) fn index(table: &str, columns: &[&str], unique: bool) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(format!(
        "{}_{}_{}",
        if unique { "ux" } else { "ix" },
        table,
        columns.join("_")
    ))
    .table(Alias::new(table));
    for c in columns {
        stmt.col(Alias::new(*c));
    }
    if unique {
        stmt.unique();
    }
    stmt.to_owned()
}
