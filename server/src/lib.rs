//! Dossier: a multi-tenant customer-records backend. The binary in `main.rs` is a thin CLI
//! over this library, so tests build and run exactly the same application.

pub mod app;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod graphql;
pub mod jobs;
pub mod monitoring;
pub mod secret;
pub mod seed;
pub mod telemetry;
pub mod tenancy;

pub use app::Application;
pub use config::Config;
