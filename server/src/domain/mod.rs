//! Domain services: the rules of the customer file. Every function works through the
//! caller's `ScopedTx` (or, for a write, opens one from the caller's `TenantScope`); the
//! kernel is the only module that holds a connection.

pub(crate) mod access;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod authentication;
pub mod contacts;
pub mod contracts;
pub mod custom_fields;
pub mod customers;
pub mod email_address;
pub mod error;
pub mod feedback;
pub mod follow_ups;
pub mod history_totals;
pub mod interactions;
pub mod kernel;
pub mod keys;
pub(crate) mod locks;
pub mod money;
pub mod pagination;
pub mod patch;
pub mod phone_number;
pub(crate) mod record_writes;
pub mod records;
pub mod reminders;
mod reveal_log;
pub mod rows;
mod single_process;
pub mod tags;
pub mod tenant_context;
pub mod tenants;
pub mod time_zone;
pub mod transactions;
pub mod users;
pub mod validate;
pub(crate) mod versioned;

use chrono::{DateTime, SubsecRound, Utc};

pub use error::{DomainError, DomainResult};
pub use kernel::{PoolStats, READY_PING_TIMEOUT, Scoped, ScopedTx, Store, TenantEntity, TenantTx};

pub mod statements {
    //! Counting the SQL statements a piece of work runs (a request, in the request log), so
    //! N+1 query patterns show in the logs and can be tested.
    //!
    //! Also counts the statements run after the request's first write ended (its COMMIT):
    //! an answer that needs the database again after a write committed can fail and tell
    //! the client that a committed write failed. A request's transactions run one after
    //! another, so a write's transaction has ended once the next one begins.
    use std::future::Future;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    tokio::task_local! {
        static STATEMENTS: Arc<Counts>;
    }

    #[derive(Default)]
    struct Counts {
        total: AtomicU64,
        after_commit: AtomicU64,
        /// The transaction running now has written.
        writing: AtomicBool,
        /// A transaction that wrote has ended.
        committed: AtomicBool,
    }

    /// The statements a piece of work sent to the database.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Counted {
        pub total: u64,
        /// Of those, how many ran after its first write had ended.
        pub after_commit: u64,
    }

    /// Runs `work`, counting the statements it sends to the database.
    pub async fn counted<T>(work: impl Future<Output = T>) -> (T, Counted) {
        let counts = Arc::new(Counts::default());
        let out = STATEMENTS.scope(counts.clone(), work).await;
        let counted = Counted {
            total: counts.total.load(Ordering::Relaxed),
            after_commit: counts.after_commit.load(Ordering::Relaxed),
        };
        (out, counted)
    }

    /// A transaction begins: the one before it, if it wrote, has ended.
    pub(super) fn transaction_begun() {
        let _ = STATEMENTS.try_with(|n| {
            if n.writing.swap(false, Ordering::Relaxed) {
                n.committed.store(true, Ordering::Relaxed);
            }
        });
    }

    /// The transaction that just ended wrote only bookkeeping that a request failing later
    /// may leave behind (a sequence number taken): what runs after it answers for no write.
    pub(super) fn bookkeeping_ended() {
        let _ = STATEMENTS.try_with(|n| n.writing.store(false, Ordering::Relaxed));
    }

    pub(super) fn count_one(sql: &str) {
        // Outside `counted` (background jobs, startup) there is nothing to count into.
        let _ = STATEMENTS.try_with(|n| {
            n.total.fetch_add(1, Ordering::Relaxed);
            if n.committed.load(Ordering::Relaxed) {
                n.after_commit.fetch_add(1, Ordering::Relaxed);
            }
            if writes(sql) {
                n.writing.store(true, Ordering::Relaxed);
            }
        });
    }

    /// Whether a statement changes rows (locks and reads do not).
    fn writes(sql: &str) -> bool {
        let verb = sql
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()
            .unwrap_or("");
        ["INSERT", "UPDATE", "DELETE"]
            .iter()
            .any(|w| verb.eq_ignore_ascii_case(w))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_row_changes_count_as_writes() {
            assert!(writes("INSERT INTO \"customer\" VALUES (1)"));
            assert!(writes("  update customer SET name = 'x'"));
            assert!(writes("DELETE FROM tag"));
            assert!(!writes("SELECT * FROM customer FOR UPDATE"));
            assert!(!writes("SELECT pg_advisory_xact_lock(1)"));
        }

        #[tokio::test]
        async fn statements_after_the_first_write_ended_are_told_apart() {
            let ((), counted) = counted(async {
                transaction_begun();
                count_one("SELECT 1");
                count_one("INSERT INTO t VALUES (1)");
                count_one("SELECT 2");
                transaction_begun();
                count_one("SELECT 3");
                count_one("SELECT 4");
            })
            .await;
            assert_eq!(
                counted,
                Counted {
                    total: 5,
                    after_commit: 2
                }
            );
        }
    }
}

/// Current time at the precision both databases keep (microseconds), so values read back compare equal.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
