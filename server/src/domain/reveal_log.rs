//! The decrypt audit of reads, written behind them in batches.
//!
//! Every read that shows contact plaintext leaves a `contact.decrypt` row. Written inside the
//! read's transaction, each read paid for an insert and a WAL flush of its own. Instead a read
//! queues its rows here when it commits, and a writer task inserts everything queued, every
//! flush interval (`DOSSIER_DECRYPT_AUDIT_FLUSH_MS`, sooner once `FLUSH_AT` rows wait), in one
//! transaction per tenant.
//!
//! The promise, as the README states it:
//! - a row is queued before the answer carrying the plaintext is sent, and written within
//!   about the flush interval;
//! - while the database refuses the writes, rows stay queued and are retried; once
//!   `CAPACITY` rows wait, reads that would show plaintext are refused (UNAVAILABLE) rather
//!   than answered unaudited;
//! - a graceful stop writes what is queued before the process exits (within the shutdown
//!   timeout, logging what it could not write);
//! - the audit log, read on the same replica, first waits for the rows queued before it;
//! - a process killed outright (SIGKILL, out of memory, power) loses the rows it had not
//!   written: those of its last flush interval, and any the database was refusing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use entity::audit_log;
use tokio::sync::Notify;
use uuid::Uuid;

use super::{DomainError, DomainResult, Store};

/// Rows waiting that start a write before the interval is up.
const FLUSH_AT: usize = 256;
/// Rows that may wait at most; beyond, reads that reveal plaintext are refused.
pub(crate) const CAPACITY: usize = 20_000;
/// At most this many rows in one insert statement (well inside PostgreSQL's bound parameters).
const ROWS_PER_STATEMENT: usize = 500;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(crate) struct RevealLog {
    flush_interval: Duration,
    queue: Mutex<Vec<(Uuid, audit_log::ActiveModel)>>,
    /// Rows taken by the writer and not yet committed (they count against the capacity).
    in_flight: Mutex<usize>,
    /// Wakes the writer early (many rows waiting, a flush asked for, a stop).
    wake: Notify,
    /// Told after every write attempt.
    written: Notify,
    stopping: AtomicBool,
}

impl RevealLog {
    pub(super) fn new(flush_interval: Duration) -> Self {
        Self {
            flush_interval,
            queue: Mutex::default(),
            in_flight: Mutex::default(),
            wake: Notify::new(),
            written: Notify::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Queues a read's rows; refused (UNAVAILABLE) while the log is full.
    pub(super) fn push(&self, tenant_id: Uuid, rows: Vec<audit_log::ActiveModel>) -> DomainResult<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let waiting = {
            let mut queue = lock(&self.queue);
            if queue.len() + *lock(&self.in_flight) + rows.len() > CAPACITY {
                return Err(DomainError::Unavailable(anyhow::anyhow!(
                    "the decrypt audit is {CAPACITY} rows behind; plaintext is not shown until it is written"
                )));
            }
            queue.extend(rows.into_iter().map(|row| (tenant_id, row)));
            queue.len()
        };
        if waiting >= FLUSH_AT {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Returns once the rows queued before the call are written (or `timeout` passed).
    pub(super) async fn flushed(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let written = self.written.notified();
            tokio::pin!(written);
            written.as_mut().enable();
            if self.is_empty() {
                return true;
            }
            self.wake.notify_one();
            if tokio::time::timeout_at(deadline, written).await.is_err() {
                return self.is_empty();
            }
        }
    }

    fn is_empty(&self) -> bool {
        lock(&self.queue).is_empty() && *lock(&self.in_flight) == 0
    }

    /// The writer: runs until `stop`, then writes what is left.
    pub(super) async fn run(store: Store) {
        let log = store.reveal_log().clone();
        let mut backoff = log.flush_interval;
        loop {
            let _ = tokio::time::timeout(backoff, log.wake.notified()).await;
            // Read after the wait: a stop asked meanwhile is seen by this write, and one asked
            // during it leaves a wake-up that ends the next wait at once.
            let stopping = log.stopping.load(Ordering::SeqCst);
            let failed = log.write_queued(&store).await;
            log.written.notify_waiters();
            if failed {
                backoff = (backoff * 2).min(MAX_BACKOFF);
            } else {
                backoff = log.flush_interval;
                if stopping {
                    return;
                }
            }
        }
    }

    /// Asks the writer to write what is queued and end; it ends once that is written.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
    }

    /// Writes everything queued; whether some write failed (its rows are queued again).
    async fn write_queued(&self, store: &Store) -> bool {
        let batch = {
            let mut queue = lock(&self.queue);
            let batch = std::mem::take(&mut *queue);
            *lock(&self.in_flight) = batch.len();
            batch
        };
        let mut by_tenant: HashMap<Uuid, Vec<audit_log::ActiveModel>> = HashMap::new();
        for (tenant_id, row) in batch {
            by_tenant.entry(tenant_id).or_default().push(row);
        }
        let mut failed = false;
        for (tenant_id, rows) in by_tenant {
            if let Err(error) = write_rows(store, tenant_id, rows.clone()).await {
                tracing::error!(error = ?error, rows = rows.len(), "could not write the decrypt audit; retrying");
                failed = true;
                let mut queue = lock(&self.queue);
                queue.extend(rows.into_iter().map(|row| (tenant_id, row)));
            }
        }
        *lock(&self.in_flight) = 0;
        failed
    }

    /// Rows still queued (after a stop: rows that will not be written).
    pub(super) fn waiting(&self) -> usize {
        lock(&self.queue).len() + *lock(&self.in_flight)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn write_rows(store: &Store, tenant_id: Uuid, rows: Vec<audit_log::ActiveModel>) -> DomainResult<()> {
    let tx = store.begin_tenant_job(tenant_id).await?;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(ROWS_PER_STATEMENT).collect();
        tx.insert_many(chunk, None).await?;
    }
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize) -> Vec<audit_log::ActiveModel> {
        (0..n).map(|_| audit_log::ActiveModel::default()).collect()
    }

    #[test]
    fn a_full_log_refuses_more_rows_instead_of_dropping_any() {
        let log = RevealLog::new(Duration::from_millis(100));
        let tenant = Uuid::now_v7();
        log.push(tenant, rows(CAPACITY - 1)).expect("room for these");
        let refused = log.push(tenant, rows(2));
        assert!(matches!(refused, Err(DomainError::Unavailable(_))), "{refused:?}");
        assert_eq!(log.waiting(), CAPACITY - 1, "nothing queued was dropped");
        log.push(tenant, rows(1)).expect("the last place");
        assert_eq!(log.waiting(), CAPACITY);
    }
}
