//! Who is calling and on behalf of which tenant: credentials, roles and the request scope.

pub mod auth;
pub mod scope;

pub use entity::enums::Role;
pub use scope::{Actor, TenantScope};
