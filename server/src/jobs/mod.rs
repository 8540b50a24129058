//! Background work that runs beside the API.

pub mod clock;
pub mod planner;
pub mod reencrypt;
