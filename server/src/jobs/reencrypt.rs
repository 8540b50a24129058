//! Moves contact data and sensitive custom field values to each tenant's newest data key
//! after a rotation, in small batches.
//! It keeps no state of its own: what is left is whatever rows still carry an older key
//! version, so a killed or restarted worker simply carries on, and several may run at once.

use std::future::Future;
use std::time::Duration;

use uuid::Uuid;

use crate::domain::contacts::ReencryptBatch;
use crate::domain::custom_fields::values as custom_values;
use crate::domain::{DomainResult, Store, contacts, tenants};

const BATCH: u64 = 100;

/// Re-encrypts everything pending for every tenant; returns how many rows moved. A tenant
/// that fails is logged and skipped, so one bad tenant never holds up the others. The rows a
/// round found on an older key and could not move are reported as the backlog.
pub async fn run_once(store: &Store) -> anyhow::Result<u64> {
    let mut round = Drained::default();
    let tenants = tenants::all_ids(store)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to list tenants: {e:?}"))?;
    for tenant_id in tenants {
        round.add(drain(tenant_id, || contacts::reencrypt_batch(store, tenant_id, BATCH)).await);
        round.add(drain(tenant_id, || custom_values::reencrypt_batches(store, tenant_id, BATCH)).await);
    }
    crate::monitoring::record_reencryption_round(round.moved, round.left);
    Ok(round.moved)
}

/// Rows moved, and rows seen on an older key but left there.
#[derive(Debug, Default, Clone, Copy)]
struct Drained {
    moved: u64,
    left: u64,
}

impl Drained {
    fn add(&mut self, other: Drained) {
        self.moved += other.moved;
        self.left += other.left;
    }
}

/// Runs batches until one is the last or makes no progress (rows that cannot be decrypted,
/// or that are being edited right now, wait for the next round).
async fn drain<F, Fut>(tenant_id: Uuid, mut batch: F) -> Drained
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DomainResult<ReencryptBatch>>,
{
    let mut drained = Drained::default();
    loop {
        match batch().await {
            Ok(done) => {
                drained.moved += done.moved;
                if done.selected < BATCH || done.moved == 0 {
                    drained.left = done.selected - done.moved.min(done.selected);
                    return drained;
                }
            }
            Err(e) => {
                tracing::error!(%tenant_id, error = ?e, "re-encryption failed for a tenant; will retry");
                return drained;
            }
        }
    }
}

/// Runs `run_once` every `interval`, and at once when a rotation asks for it. Failures are
/// logged and retried on the next round; they never stop the server.
pub async fn run_forever(store: Store, interval: Duration) {
    loop {
        match run_once(&store).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "re-encrypted contact data under the newest tenant keys"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "re-encryption round failed; will retry"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = store.reencrypt_wanted.notified() => {}
        }
    }
}
