//! Partial updates: which fields a change touches, and the list of fields it changed (for the
//! audit log and for answering "nothing changed" without a write).

use super::DomainError;

/// A change to one field: leave it, clear it, or set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

/// VALIDATION for a `Patch::Clear` of a field that must keep a value.
pub(crate) fn cannot_clear(field: &str) -> DomainError {
    DomainError::validation(field, "is required and cannot be cleared")
}

/// Sets `target` to `value` and notes `field` if it differs.
pub(crate) fn assign<T: PartialEq>(field: &'static str, target: &mut T, value: T, changed: &mut Vec<&'static str>) {
    if *target != value {
        *target = value;
        changed.push(field);
    }
}
