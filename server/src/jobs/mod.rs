//! Background work that runs beside the API.

pub mod clock;
pub mod delivery;
pub mod mailer;
pub mod planner;
pub mod reencrypt;
pub mod templates;
