use sea_orm::entity::prelude::*;

use crate::enums::FeedbackKind;

/// Praise, a suggestion or a complaint from the customer, with its resolution.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub customer_id: Uuid,
    pub kind: FeedbackKind,
    pub content: String,
    /// 1 (worst) to 5 (best).
    pub score: Option<i16>,
    pub received_at: DateTimeUtc,
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
    pub resolved_by: Option<Uuid>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
