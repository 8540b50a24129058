//! Reminder figures in the Prometheus text format, for `/metrics`: what this process planned,
//! sent, retried and failed since it started (counters), and the state of the outbox over
//! every tenant (gauges read from the database, so every replica reports the same).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::domain::Store;
use crate::domain::reminders::manage::installation_stats;

static PLANNED: AtomicU64 = AtomicU64::new(0);
static SENT: AtomicU64 = AtomicU64::new(0);
static RETRIED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

pub(crate) fn count_planned(n: u64) {
    PLANNED.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn count_round(sent: u64, retried: u64, failed: u64) {
    SENT.fetch_add(sent, Ordering::Relaxed);
    RETRIED.fetch_add(retried, Ordering::Relaxed);
    FAILED.fetch_add(failed, Ordering::Relaxed);
}

/// The exposition text. The gauges are left out (and the error logged) when the database
/// does not answer, so the counters still come through.
pub async fn render(store: &Store) -> String {
    let mut out = String::new();
    for (name, help, value) in [
        ("planned", "Reminders this process planned", &PLANNED),
        ("sent", "Reminder e-mails this process sent", &SENT),
        ("retried", "Reminder attempts this process will retry", &RETRIED),
        ("failed", "Reminders this process gave up on", &FAILED),
    ] {
        let _ = writeln!(
            out,
            "# HELP dossier_reminders_{name}_total {help}\n# TYPE dossier_reminders_{name}_total counter\ndossier_reminders_{name}_total {}",
            value.load(Ordering::Relaxed)
        );
    }
    match installation_stats(store).await {
        Ok(stats) => {
            let _ = writeln!(
                out,
                "# HELP dossier_reminders Reminders in the outbox by status, over all tenants\n# TYPE dossier_reminders gauge"
            );
            for (status, n) in [
                ("pending", stats.pending),
                ("sending", stats.sending),
                ("sent", stats.sent),
                ("failed", stats.failed),
                ("cancelled", stats.cancelled),
            ] {
                let _ = writeln!(out, "dossier_reminders{{status=\"{status}\"}} {n}");
            }
            let _ = writeln!(
                out,
                "# HELP dossier_reminders_oldest_due_age_seconds How long the oldest due, unsent reminder has waited\n# TYPE dossier_reminders_oldest_due_age_seconds gauge\ndossier_reminders_oldest_due_age_seconds {}",
                stats.oldest_due_age_seconds.unwrap_or(0)
            );
        }
        Err(e) => tracing::warn!(error = ?e, "metrics: could not read the reminder outbox"),
    }
    out
}
