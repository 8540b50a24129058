//! Domain errors become GraphQL errors with a fixed `extensions.code`; internal causes are
//! logged with their chain and never shown to the client.

use async_graphql::{ErrorExtensions, Response};

use crate::domain::DomainError;
use crate::domain::error::UNAVAILABLE_RETRY_AFTER;

pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// Whether any error of the answer says the service is unavailable (HTTP 503, `Retry-After`).
pub fn is_unavailable(response: &Response) -> bool {
    response.errors.iter().any(|e| {
        e.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from(UNAVAILABLE))
    })
}

/// Every code an answer's error can carry.
const CODES: [&str; 10] = [
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "VALIDATION",
    "CONFLICT",
    "DUPLICATE",
    "RATE_LIMITED",
    UNAVAILABLE,
    "INTERNAL",
    "OTHER",
];

/// The code of each error of a finalized answer, from the closed set above (`OTHER` for
/// anything else), so that it can label a metric.
pub fn error_codes(response: &Response) -> Vec<&'static str> {
    response
        .errors
        .iter()
        .map(|e| {
            let code = e.extensions.as_ref().and_then(|ext| ext.get("code"));
            CODES
                .iter()
                .find(|known| code.is_some_and(|c| *c == async_graphql::Value::from(**known)))
                .copied()
                .unwrap_or("OTHER")
        })
        .collect()
}

impl From<DomainError> for async_graphql::Error {
    fn from(err: DomainError) -> Self {
        match err {
            DomainError::Unauthenticated(m) => coded(m, "UNAUTHENTICATED"),
            DomainError::Forbidden(m) => coded(m, "FORBIDDEN"),
            DomainError::NotFound(what) => coded(format!("{what} not found"), "NOT_FOUND"),
            DomainError::Validation { field, message } => async_graphql::Error::new(format!("{field} {message}"))
                .extend_with(|_, e| {
                    e.set("code", "VALIDATION");
                    e.set("field", field.clone());
                }),
            DomainError::Conflict(m) => coded(m, "CONFLICT"),
            DomainError::Duplicate {
                field,
                message,
                candidates,
            } => async_graphql::Error::new(message).extend_with(|_, e| {
                e.set("code", "DUPLICATE");
                e.set("field", field.clone());
                e.set(
                    "candidates",
                    candidates.iter().map(|id| id.to_string()).collect::<Vec<_>>(),
                );
            }),
            DomainError::RateLimited { retry_after } => async_graphql::Error::new("too many requests; slow down")
                .extend_with(|_, e| {
                    e.set("code", "RATE_LIMITED");
                    e.set("retryAfterMs", retry_after.as_millis() as u64);
                }),
            DomainError::Unavailable(cause) => {
                tracing::warn!(error = format!("{cause:#}"), "database unavailable");
                async_graphql::Error::new("the service is busy or its database is away; retry shortly").extend_with(
                    |_, e| {
                        e.set("code", UNAVAILABLE);
                        e.set("retryAfterMs", UNAVAILABLE_RETRY_AFTER.as_millis() as u64);
                    },
                )
            }
            DomainError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                coded("internal error", "INTERNAL")
            }
        }
    }
}

fn coded(message: impl Into<String>, code: &'static str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code))
}

/// Errors raised before any resolver ran (syntax, unknown fields, wrong types, depth or
/// complexity limits) carry no code yet: they are the client's to fix, so VALIDATION.
pub fn finalize(response: &mut Response) {
    for error in &mut response.errors {
        let has_code = error.extensions.as_ref().is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "VALIDATION");
        }
    }
}
