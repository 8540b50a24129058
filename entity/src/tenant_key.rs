use sea_orm::entity::prelude::*;

/// A tenant's key, wrapped (encrypted) by a master key; never stored in the clear.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenant_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// `data` (encrypts fields) or `index` (keys blind indexes).
    #[sea_orm(primary_key, auto_increment = false)]
    pub purpose: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub version: i32,
    pub wrapped: String,
    /// Version of the master key that wrapped it.
    pub master_version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
