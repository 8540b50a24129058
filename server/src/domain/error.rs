//! The one error type at the service boundary, and the policy for what a client learns.
//!
//! # Who owns which error
//! - The domain layer decides every answer a client can act on: UNAUTHENTICATED, FORBIDDEN,
//!   NOT_FOUND (also for another tenant's row, so that nothing tells which ids exist),
//!   VALIDATION naming the input field, CONFLICT (a stale `version`, a lost race), DUPLICATE
//!   (the field, and candidate ids only the caller may see), RATE_LIMITED. Their messages are
//!   fixed text and the caller's own input, nothing else.
//! - Database errors become a `DomainError` here and nowhere else, in `From<DbErr>`: a database
//!   that is away, busy, out of time or out of disk is `Unavailable` (retry later), a deadlock
//!   or serialisation failure is `Conflict` (the loser retries), everything else `Internal`.
//! - A unique key the caller's input can hit is named where the write is made, with
//!   [`DomainError::on_unique`] (or [`UniqueKey::on_unique`] on a result): it turns the
//!   violation into the DUPLICATE, CONFLICT or VALIDATION that call site means, on its field.
//!   Call sites never look into the driver's error. A violation no call site named is a bug,
//!   and stays INTERNAL.
//! - INTERNAL is everything else: broken rows, failed decryption, a poisoned lock, bugs. Its
//!   cause is for the log (`graphql::errors` logs the chain); the client reads "internal
//!   error" and nothing more. UNAVAILABLE tells only to retry shortly.
//! - The GraphQL layer owns the mapping to `extensions.code` (`graphql::errors`) and the
//!   errors raised before any resolver ran. Background jobs log the cause and keep only a short,
//!   fixed reason where people can read it (a reminder's `lastError`).

use uuid::Uuid;

/// The error of every domain function.
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
/// Call sites name what a violation means with `on_unique` instead of testing this.
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(err.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

impl DomainError {
    /// DUPLICATE on `field`, without candidates (the holder is not known, or not the caller's to see).
    pub fn duplicate(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Duplicate {
            field: field.into(),
            message: message.into(),
            candidates: Vec::new(),
        }
    }

    /// What a unique-key violation means where this error came from: `taken()` (a DUPLICATE
    /// or CONFLICT on the field the key guards). Every other error stays as it is.
    pub fn on_unique(self, taken: impl FnOnce() -> DomainError) -> DomainError {
        if self.db_err().is_some_and(is_unique_violation) {
            taken()
        } else {
            self
        }
    }

    /// The database error an `Internal` one was made from.
    pub(crate) fn db_err(&self) -> Option<&sea_orm::DbErr> {
        match self {
            Self::Internal(cause) => cause.chain().find_map(|c| c.downcast_ref::<sea_orm::DbErr>()),
            _ => None,
        }
    }

    /// The database error back out of an `Internal` error made from one, for code that maps
    /// a raw `DbErr` itself; every other error as it is.
    pub(crate) fn into_db_err(self) -> Result<sea_orm::DbErr, DomainError> {
        match self {
            Self::Internal(cause) if cause.is::<sea_orm::DbErr>() => cause.downcast().map_err(Self::Internal),
            other => Err(other),
        }
    }
}

/// `on_unique` on a result: `write.await.on_unique(|| DomainError::duplicate("key", "…"))`.
pub trait UniqueKey<T> {
    fn on_unique(self, taken: impl FnOnce() -> DomainError) -> DomainResult<T>;
}

impl<T> UniqueKey<T> for DomainResult<T> {
    fn on_unique(self, taken: impl FnOnce() -> DomainError) -> DomainResult<T> {
        self.map_err(|e| e.on_unique(taken))
    }
}

impl<T> UniqueKey<T> for Result<T, sea_orm::DbErr> {
    fn on_unique(self, taken: impl FnOnce() -> DomainError) -> DomainResult<T> {
        self.map_err(|e| DomainError::from(e).on_unique(taken))
    }
}

/// For APIs that hand over the raw `DbErr` (`versioned::save_if_version`): a unique
/// violation is `taken()`, anything else the usual mapping.
pub fn unique_or(taken: impl FnOnce() -> DomainError) -> impl FnOnce(sea_orm::DbErr) -> DomainError {
    move |err| DomainError::from(err).on_unique(taken)
}

pub type DomainResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database};

    use super::*;

    async fn clash() -> (sea_orm::DatabaseConnection, Result<(), sea_orm::DbErr>) {
        let db = Database::connect("sqlite::memory:").await.expect("in-memory database");
        db.execute_unprepared("CREATE TABLE t (k TEXT UNIQUE); INSERT INTO t VALUES ('a');")
            .await
            .expect("table");
        let second = db.execute_unprepared("INSERT INTO t VALUES ('a')").await.map(|_| ());
        (db, second)
    }

    #[tokio::test]
    async fn a_unique_violation_becomes_what_the_call_site_names_on_its_field() {
        let (_db, second) = clash().await;
        let err = second
            .on_unique(|| DomainError::duplicate("key", "is taken"))
            .expect_err("the key is taken");
        assert!(
            matches!(&err, DomainError::Duplicate { field, .. } if field == "key"),
            "{err:?}"
        );
    }

    #[tokio::test]
    async fn an_unnamed_unique_violation_stays_internal_and_keeps_its_cause() {
        let (_db, second) = clash().await;
        let err = DomainError::from(second.expect_err("the key is taken"));
        assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
        let db_err = err.into_db_err().expect("the database error is kept");
        assert!(is_unique_violation(&db_err));
    }

    #[tokio::test]
    async fn other_database_errors_pass_on_unique_untouched() {
        let db = Database::connect("sqlite::memory:").await.expect("in-memory database");
        let broken = db
            .execute_unprepared("INSERT INTO missing VALUES (1)")
            .await
            .map(|_| ());
        let err = broken
            .on_unique(|| DomainError::duplicate("key", "is taken"))
            .expect_err("no such table");
        assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
        let away = DomainError::Unavailable(anyhow::anyhow!("pool timed out"));
        assert!(matches!(
            away.on_unique(|| DomainError::duplicate("key", "x")),
            DomainError::Unavailable(_)
        ));
    }
}
