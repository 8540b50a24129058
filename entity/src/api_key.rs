use sea_orm::entity::prelude::*;

use crate::enums::Role;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub role: Role,
    /// The first characters of the secret, to tell keys apart in lists.
    pub prefix: String,
    /// SHA-256 (hex) of the whole secret; the secret itself is never stored.
    pub secret_hash: String,
    /// The user who created the key; the key acts on that user's behalf for ownership.
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
