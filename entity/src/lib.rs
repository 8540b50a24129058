//! Table shapes of Dossier as SeaORM entities. Rules live in the server's domain layer;
//! this crate only says what a row looks like.

pub mod api_key;
pub mod audit_log;
pub mod contact;
pub mod contract;
pub mod custom_field_definition;
pub mod customer;
pub mod customer_status_history;
pub mod customer_tag;
pub mod enums;
pub mod feedback;
pub mod follow_up;
pub mod interaction;
pub mod reminder;
pub mod tag;
pub mod tenant;
pub mod tenant_key;
pub mod transaction;
pub mod user;
