//! Serialising check-then-insert work. A uniqueness check ("no other customer has this phone")
//! followed by an insert is only right if no one else checks the same value in between. On
//! PostgreSQL each such value is a key whose transaction-scoped advisory lock is held from
//! before the check until COMMIT or ROLLBACK; SQLite needs nothing, as its writers take the
//! database lock when their transaction begins.
//!
//! Keys are per tenant. One transaction takes all the keys of one check in a single call, in
//! the order of their lock ids, so two writers wanting overlapping sets never wait on each
//! other crosswise.

use sea_orm::DbBackend;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{DomainResult, TenantTx};

/// What a key guards: a namespace and a value within the tenant (an e-mail's blind index, a
/// customer code, a tag name, …). The value is hashed, never stored or logged.
pub(crate) struct Key<'a> {
    pub kind: &'static str,
    pub value: &'a str,
}

impl<'a> Key<'a> {
    pub fn new(kind: &'static str, value: &'a str) -> Self {
        Self { kind, value }
    }
}

/// Holds the keys of the transaction's tenant until the transaction ends, waiting for any
/// other holder (within the database's lock timeout). A no-op on SQLite.
pub(crate) async fn hold(tx: &TenantTx, keys: &[Key<'_>]) -> DomainResult<()> {
    if tx.backend() != DbBackend::Postgres || keys.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = keys.iter().map(|k| lock_id(tx.tenant_id(), k)).collect();
    ids.sort_unstable();
    ids.dedup();
    // One round trip; the calls run left to right, so in id order.
    let calls: Vec<String> = (1..=ids.len())
        .map(|n| format!("pg_advisory_xact_lock(${n})"))
        .collect();
    // Advisory locks name no rows: the tenant is already part of each id.
    tx.execute_raw(
        |_tenant| format!("SELECT {}", calls.join(", ")),
        ids.into_iter().map(Into::into).collect(),
    )
    .await
}

/// A 64-bit lock id for the key: the head of a SHA-256 over tenant, kind and value, each
/// length-prefixed so that no two different keys share an input.
fn lock_id(tenant_id: Uuid, key: &Key<'_>) -> i64 {
    let mut hash = Sha256::new();
    hash.update(tenant_id.as_bytes());
    for part in [key.kind, key.value] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_by_tenant_kind_and_value_and_repeat_for_the_same_key() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let id = |t, kind, value| lock_id(t, &Key::new(kind, value));
        assert_eq!(id(a, "tag", "x"), id(a, "tag", "x"));
        assert_ne!(id(a, "tag", "x"), id(b, "tag", "x"));
        assert_ne!(id(a, "tag", "x"), id(a, "user", "x"));
        assert_ne!(id(a, "tag", "x"), id(a, "tag", "y"));
        // The length prefix keeps the boundary between kind and value.
        assert_ne!(id(a, "ab", "c"), id(a, "a", "bc"));
    }
}
