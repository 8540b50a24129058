//! Partial updates: which fields a change touches, and the list of fields it changed (for the
//! audit log and for answering "nothing changed" without a write).

use super::{DomainError, DomainResult};

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

/// Applies `patch` to a field that must keep a value: kept, or set to `check(value)` (noted in
/// `changed` when it differs); clearing it is VALIDATION.
pub(crate) fn patch_required<T, U: PartialEq>(
    field: &'static str,
    patch: Patch<T>,
    target: &mut U,
    check: impl FnOnce(T) -> DomainResult<U>,
    changed: &mut Vec<&'static str>,
) -> DomainResult<()> {
    match patch {
        Patch::Keep => {}
        Patch::Clear => return Err(cannot_clear(field)),
        Patch::Set(value) => assign(field, target, check(value)?, changed),
    }
    Ok(())
}

/// Applies `patch` to an optional field: kept, cleared, or set to `check(value)`, noted in
/// `changed` when it differs.
pub(crate) fn patch_optional<T, U: PartialEq>(
    field: &'static str,
    patch: Patch<T>,
    target: &mut Option<U>,
    check: impl FnOnce(T) -> DomainResult<Option<U>>,
    changed: &mut Vec<&'static str>,
) -> DomainResult<()> {
    match patch {
        Patch::Keep => {}
        Patch::Clear => assign(field, target, None, changed),
        Patch::Set(value) => assign(field, target, check(value)?, changed),
    }
    Ok(())
}
