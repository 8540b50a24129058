use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    /// `entity.verb`, e.g. `customer.update`.
    pub action: String,
    pub entity: String,
    pub entity_id: Option<Uuid>,
    /// JSON array of the names of the fields that changed; never their values.
    pub changed_fields: Json,
    pub request_id: Option<String>,
    /// Ids of the records an action concerned when there are several (e.g. a page of decrypted contacts).
    pub subject_ids: Option<Json>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
