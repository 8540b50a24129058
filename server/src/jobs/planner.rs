//! Plans reminder e-mails: every interval, for every tenant, turns what has fallen due into
//! rows of the `reminders` outbox. Any number of replicas may run it at once: the unique
//! occasion key makes a second planning of the same reminder a no-op.

use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use crate::domain::{Store, reminders, tenants};

/// One pass over every tenant at the clock's time; returns how many reminders it created.
/// A tenant that fails is logged and skipped, so one bad tenant never holds up the others.
pub async fn plan_once(store: &Store, clock: &dyn Clock) -> anyhow::Result<u64> {
    let at = clock.now();
    let tenants = tenants::all_ids(store)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to list tenants: {e:?}"))?;
    let mut created = 0;
    for tenant_id in tenants {
        match reminders::plan_tenant(store, tenant_id, at).await {
            Ok(n) => {
                created += n;
                crate::monitoring::record_reminders_planned(n);
            }
            Err(e) => tracing::error!(%tenant_id, error = ?e, "planning reminders failed for a tenant; will retry"),
        }
    }
    Ok(created)
}

/// Runs `plan_once` every `interval` until the task is dropped.
pub async fn run_forever(store: Store, clock: Arc<dyn Clock>, interval: Duration) {
    loop {
        match plan_once(&store, clock.as_ref()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(reminders = n, "planned reminders"),
            Err(e) => tracing::error!(error = format!("{e:#}"), "planning reminders failed; will retry"),
        }
        tokio::time::sleep(interval).await;
    }
}
