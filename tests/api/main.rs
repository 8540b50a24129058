//! Black-box tests of the running server, one module per capability.

mod audit;
mod auth;
mod contacts;
mod contracts;
mod customers;
mod http;
mod limits;
mod pagination;
mod roles;
mod row_level_security;
mod schema;
mod tenancy;
mod transactions;
mod validation;
