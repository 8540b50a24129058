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

/// Made only by authentication (and by the platform commands acting as a tenant's owner),
/// so domain code cannot point a scope at another tenant.
#[derive(Debug, Clone)]
pub struct TenantScope {
    tenant_id: Uuid,
    actor: Actor,
    request_id: Option<String>,
}

impl TenantScope {
    pub(crate) fn new(tenant_id: Uuid, actor: Actor, request_id: Option<String>) -> Self {
        Self {
            tenant_id,
            actor,
            request_id,
        }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The same caller, for a request with another id.
    pub fn with_request_id(mut self, request_id: Option<String>) -> Self {
        self.request_id = request_id;
        self
    }
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
