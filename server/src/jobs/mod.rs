//! Background work that runs beside the API.

pub mod reencrypt;
