//! The one error type at the service boundary. The GraphQL layer maps it to a fixed set of
//! client codes; `Internal` carries the cause for the log and shows the client nothing of it.

use uuid::Uuid;

///
/// It deliberately has no `Display`: every way out to a client goes through the explicit
/// mapping in `graphql::errors`, never through a generic "to string".
#[derive(Debug)]
pub enum DomainError {
    Unauthenticated(&'static str),
    Forbidden(&'static str),
    NotFound(&'static str),
    Validation {
        field: String,
        message: String,
    },
    Conflict(String),
    Duplicate {
        field: String,
        message: String,
        candidates: Vec<Uuid>,
    },
    /// Too many attempts; try again after this long.
    RateLimited {
        retry_after: std::time::Duration,
    },
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for DomainError {
    fn from(err: anyhow::Error) -> Self {
        Self::Internal(err)
    }
}

impl DomainError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(anyhow::Error::new(err).context("Database operation failed"))
    }
}

/// True when the error is a unique-key violation (a race lost to a concurrent insert).
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

pub type DomainResult<T> = Result<T, DomainError>;
