//! Black-box tests of the running server, one module per capability.

mod analytics;
mod audit;
mod auth;
mod contacts;
mod contracts;
mod custom_fields;
mod customer_file;
mod customers;
mod feedback;
mod hostile_input;
mod http;
mod interactions;
mod limits;
mod pagination;
mod reminder_api;
mod reminder_delivery;
mod reminders;
mod roles;
mod row_level_security;
mod schema;
mod tags;
mod tenancy;
mod tenant_settings;
mod transactions;
mod validation;
