use sea_orm::entity::prelude::*;

use crate::enums::CustomerStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_status_history")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    /// `None` for the status a customer was created with.
    pub from_status: Option<CustomerStatus>,
    pub to_status: CustomerStatus,
    pub actor_user_id: Option<Uuid>,
    pub note: Option<String>,
    pub changed_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
