//! The one error type at the service boundary. The GraphQL layer maps it to a fixed set of
//! client codes; `Internal` carries the cause for the log and shows the client nothing of it.
//!
//! Policy: domain code returns the client-facing kinds (VALIDATION, NOT_FOUND, …) itself.
//! Database errors become a `DomainError` only here, in `From<DbErr>`: a database that is
//! away, busy, out of time or out of disk is `Unavailable` (retry later), a deadlock or a
//! serialisation failure is `Conflict` (the loser retries), everything else is `Internal`.

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
    /// The database (or its disk) is away or too busy; nothing was changed, retry later.
    Unavailable(anyhow::Error),
    Internal(anyhow::Error),
}

/// How long a client is told to wait before retrying an `Unavailable` answer.
pub const UNAVAILABLE_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

impl From<anyhow::Error> for DomainError {
    fn from(err: anyhow::Error) -> Self {
        let kind = err
            .chain()
            .find_map(|cause| cause.downcast_ref::<sea_orm::DbErr>())
            .map_or(DbFailure::Other, classify);
        match kind {
            DbFailure::Unavailable => Self::Unavailable(err),
            DbFailure::Contended => Self::Conflict(CONTENDED.into()),
            DbFailure::Other => Self::Internal(err),
        }
    }
}

const CONTENDED: &str = "a concurrent change got in the way; retry";

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
        match classify(&err) {
            DbFailure::Unavailable => Self::Unavailable(anyhow::Error::new(err).context("Database unavailable")),
            DbFailure::Contended => Self::Conflict(CONTENDED.into()),
            DbFailure::Other => Self::Internal(anyhow::Error::new(err).context("Database operation failed")),
        }
    }
}

/// What a database error means for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFailure {
    /// Away, busy, timed out or out of disk: nothing changed, retry later.
    Unavailable,
    /// A deadlock or serialisation failure: the transaction lost a race and was rolled back.
    Contended,
    Other,
}

pub fn classify(err: &sea_orm::DbErr) -> DbFailure {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => DbFailure::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => classify_sqlx(e),
        _ => DbFailure::Other,
    }
}

fn classify_sqlx(err: &sea_orm::sqlx::Error) -> DbFailure {
    use sea_orm::sqlx::Error;
    match err {
        Error::Io(_)
        | Error::Tls(_)
        | Error::PoolTimedOut
        | Error::PoolClosed
        | Error::WorkerCrashed
        | Error::Protocol(_) => DbFailure::Unavailable,
        Error::Database(db) => classify_code(db.code().as_deref().unwrap_or_default()),
        _ => DbFailure::Other,
    }
}

/// PostgreSQL SQLSTATEs and SQLite result codes (extended codes carry the primary one in the low byte).
fn classify_code(code: &str) -> DbFailure {
    match code {
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => DbFailure::Contended,
        // query_canceled (statement_timeout), lock_not_available (lock_timeout),
        // idle_in_transaction_session_timeout, transaction_timeout
        "57014" | "55P03" | "25P03" | "25P04" => DbFailure::Unavailable,
        // insufficient_resources (disk_full, out_of_memory, too_many_connections), operator intervention
        // (admin_shutdown, crash_shutdown, cannot_connect_now), connection exceptions
        c if c.starts_with("53") || c.starts_with("57P") || c.starts_with("08") => DbFailure::Unavailable,
        c => match c.parse::<i32>().map(|n| n & 0xff) {
            // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_PROTOCOL
            Ok(5 | 6 | 10 | 13 | 14 | 15) => DbFailure::Unavailable,
            _ => DbFailure::Other,
        },
    }
}

/// True when the error is a unique-key violation (a race lost to a concurrent insert).
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

pub type DomainResult<T> = Result<T, DomainError>;
