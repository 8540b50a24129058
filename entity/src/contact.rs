use sea_orm::entity::prelude::*;

use crate::enums::ContactChannel;

/// A contact person of a customer. The reachable parts (e-mail, phone, WeChat, QQ, address)
/// are ciphertexts `v1.<key version>.<base64>`; the `_bidx` columns are blind indexes.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub name: Option<String>,
    pub title: Option<String>,
    pub is_decision_maker: bool,
    pub is_primary: bool,
    pub preferred_channel: Option<ContactChannel>,
    pub email: Option<String>,
    pub email_bidx: Option<String>,
    pub phone: Option<String>,
    pub phone_bidx: Option<String>,
    pub wechat: Option<String>,
    pub wechat_bidx: Option<String>,
    pub qq: Option<String>,
    pub qq_bidx: Option<String>,
    pub address: Option<String>,
    /// Data key version every encrypted field of this row uses.
    pub key_version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
