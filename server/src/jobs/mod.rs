//! Background work: beside the API in `dossier serve`, or on its own in `dossier worker`.

pub mod clock;
pub mod mailer;
pub mod planner;
pub mod reencrypt;
pub mod reminder_delivery;
pub mod templates;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::domain::Store;

/// The background tasks of a process: the writer of the reads' decrypt audit, re-encryption,
/// reminder planning and sending (each unless its interval is zero), and the
/// cache-invalidation subscriber when Redis is set.
pub struct Background {
    store: Store,
    reveals: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
    sender: Option<JoinHandle<()>>,
    stop_sending: Arc<AtomicBool>,
}

impl Background {
    pub fn start(store: &Store, config: &Config, delivery: reminder_delivery::Delivery) -> Self {
        let reveals = tokio::spawn(store.clone().write_reveals());
        let mut others = Vec::new();
        if !config.reencrypt_interval.is_zero() {
            others.push(tokio::spawn(reencrypt::run_forever(
                store.clone(),
                config.reencrypt_interval,
            )));
        }
        if !config.reminder_plan_interval.is_zero() {
            let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
            others.push(tokio::spawn(planner::run_forever(
                store.clone(),
                clock,
                config.reminder_plan_interval,
            )));
        }
        let shared = store.shared().clone();
        if shared.link.is_some() {
            others.push(tokio::spawn(shared.invalidations.clone().subscribe_forever()));
        }
        let stop_sending = delivery.stop_flag();
        let sender = (!config.reminder_send_interval.is_zero()).then(|| {
            let clock: Arc<dyn clock::Clock> = Arc::new(clock::SystemClock);
            tokio::spawn(delivery.run_forever(clock, config.reminder_send_interval))
        });
        Self {
            store: store.clone(),
            reveals,
            others,
            sender,
            stop_sending,
        }
    }

    /// The sender stops claiming, finishes the e-mail in hand and hands back the rest (within
    /// `timeout`; past it, the leases of what it holds expire and another worker takes over).
    /// The other tasks are stopped where they are: their work is safe to cut short.
    pub async fn stop(self, timeout: Duration) {
        self.stop_sending.store(true, Ordering::SeqCst);
        if let Some(sender) = self.sender
            && tokio::time::timeout(timeout, sender).await.is_err()
        {
            tracing::warn!("reminder sender did not stop in time; its leases will expire");
        }
        for task in self.others {
            task.abort();
        }
        // Last, after the requests that queue decrypt audit rows have ended.
        self.store.stop_reveal_writer();
        let mut reveals = self.reveals;
        if tokio::time::timeout(timeout, &mut reveals).await.is_err() {
            reveals.abort();
            tracing::error!(
                rows = self.store.reveals_waiting(),
                "the decrypt audit could not be written before the stop; these rows are lost"
            );
        }
    }
}
