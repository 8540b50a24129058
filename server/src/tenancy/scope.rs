//! The request context every domain function takes first: which tenant, who, with what role.

use uuid::Uuid;

use super::Role;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user acting, or for an API key the user who created it (used for ownership).
    pub user_id: Uuid,
    pub api_key_id: Option<Uuid>,
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct TenantScope {
    pub tenant_id: Uuid,
    pub actor: Actor,
    pub request_id: Option<String>,
}

impl TenantScope {
    pub fn role(&self) -> Role {
        self.actor.role
    }

    pub fn is_at_least(&self, role: Role) -> bool {
        self.actor.role >= role
    }

    /// Sales staff see only the customers they own; everyone above sees the whole book.
    pub fn sees_only_own_customers(&self) -> bool {
        self.actor.role == Role::Sales
    }
}
