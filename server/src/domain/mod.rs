//! Domain services: the rules of the customer file. Every function takes the caller's
//! `TenantScope` first and reaches the database only through the scoped helpers here.

pub mod activity;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub(crate) mod batch;
pub mod contacts;
pub mod contracts;
pub mod custom_fields;
pub mod customers;
pub mod email_address;
pub mod error;
pub mod feedback;
pub mod follow_ups;
pub mod interactions;
pub mod keys;
pub(crate) mod locks;
pub mod money;
pub mod pagination;
pub mod phone_number;
pub mod reminders;
pub mod sessions;
mod single_process;
pub mod tags;
pub mod tenants;
pub mod time_zone;
pub mod transactions;
pub mod users;
pub mod validate;
pub(crate) mod versioned;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DeleteMany, EntityTrait, QueryFilter, Select, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, UpdateMany,
};
use uuid::Uuid;

use crate::cache::{Invalidation, Limit, Shared, TtlMap};
pub use error::{DomainError, DomainResult};
use keys::KeyVault;

use crate::config::Config;
use crate::tenancy::TenantScope;

/// Database access for the domain layer; the connection never leaves this module's users.
/// It also holds the tenants' keys, which only the domain layer may use.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// The pool's settings without its timeouts: a migration may rightly take long.
    migration_options: ConnectOptions,
    connect_timeout: Duration,
    /// Held for as long as any store of this process uses the SQLite file.
    _process_lock: Option<Arc<single_process::DatabaseLock>>,
    vault: Arc<KeyVault>,
    /// Woken when a tenant's data key was rotated, so re-encryption starts at once.
    pub(crate) reencrypt_wanted: Arc<Notify>,
    shared: Arc<Shared>,
    /// Rate-limit plans of tenants, kept briefly (a plan change invalidates at once).
    tenant_limits: Arc<TtlMap<Uuid, Option<Limit>>>,
    /// Custom field definitions per tenant (a change on any replica drops them everywhere).
    pub(crate) custom_fields: Arc<TtlMap<Uuid, Arc<Vec<custom_fields::Definition>>>>,
    pub(crate) custom_fields_per_entity: u32,
}

/// How long a readiness check waits for the database before calling it down.
pub const READY_PING_TIMEOUT: Duration = Duration::from_secs(1);

impl Store {
    /// Opens the connection pool. Every pooled connection carries the configured PostgreSQL
    /// statement and lock timeouts; on SQLite this process first takes the database's lock
    /// (one process per file), and a connection that comes back inside a transaction is closed.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let process_lock = if config.is_embedded() {
            std::fs::create_dir_all(&config.data_dir)
                .with_context(|| format!("Failed to create data directory {}", config.data_dir.display()))?;
            sqlite_file(config.database_url.expose())?
                .map(|file| single_process::DatabaseLock::acquire(&file))
                .transpose()?
                .map(Arc::new)
        } else {
            None
        };
        let (statement_timeout, lock_timeout) = (config.db_statement_timeout, config.db_lock_timeout);
        let mut options = pool_options(config);
        options
            .map_sqlx_postgres_opts(move |opts| {
                // Session defaults: they hold after `SET LOCAL role` to the application role.
                opts.options([
                    ("statement_timeout", statement_timeout.as_millis().to_string()),
                    ("lock_timeout", lock_timeout.as_millis().to_string()),
                ])
            })
            // A connection whose COMMIT or ROLLBACK failed is closed, never lent out again.
            .map_sqlx_postgres_pool_opts(|pool| {
                pool.after_release(|conn, _| {
                    use sea_orm::sqlx::Connection;
                    let clean = !conn.is_in_transaction();
                    Box::pin(async move { Ok(clean) })
                })
            })
            .map_sqlx_sqlite_pool_opts(|pool| pool.after_release(|conn, _| Box::pin(sqlite_connection_is_clean(conn))));
        let mut db = connect_within(config.db_connect_timeout, options).await?;
        db.set_metric_callback(|info| statements::count_one(&info.statement.sql));
        let vault = Arc::new(KeyVault::new(config.master_key_ring()?));
        let shared = Arc::new(Shared::from_config(config)?);
        let tenant_limits = Arc::new(TtlMap::new(Duration::from_secs(30)));
        let custom_fields = Arc::new(TtlMap::new(Duration::from_secs(30)));
        {
            let (vault, tenant_limits, custom_fields) = (vault.clone(), tenant_limits.clone(), custom_fields.clone());
            shared.invalidations.listen(move |change| match change {
                Invalidation::Tenant(id) => {
                    vault.forget(*id);
                    tenant_limits.remove_where(|k, _| k == id);
                }
                Invalidation::CustomFields(id) => custom_fields.remove_where(|k, _| k == id),
                Invalidation::All => {
                    vault.forget_all();
                    tenant_limits.clear();
                    custom_fields.clear();
                }
                Invalidation::User(_) | Invalidation::ApiKey(_) => {}
            });
        }
        Ok(Self {
            db,
            migration_options: pool_options(config),
            connect_timeout: config.db_connect_timeout,
            _process_lock: process_lock,
            vault,
            reencrypt_wanted: Arc::new(Notify::new()),
            shared,
            tenant_limits,
            custom_fields,
            custom_fields_per_entity: config.custom_fields_per_entity,
        })
    }

    /// Redis link, limiter and invalidation bus of this process.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Tells this and every other replica that something cached changed.
    pub(crate) async fn invalidate(&self, change: Invalidation) -> bool {
        self.shared.invalidations.publish(change).await
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Applies pending migrations; on PostgreSQL an advisory lock keeps replicas from racing,
    /// and a pool of its own without the statement and lock timeouts lets a long one finish.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        if self.backend() == DbBackend::Postgres {
            let db = connect_within(self.connect_timeout, self.migration_options.clone()).await?;
            let migrated = async {
                let tx = db.begin().await.context("Failed to begin migration transaction")?;
                tx.execute_unprepared("SELECT pg_advisory_xact_lock(7305661)")
                    .await
                    .context("Failed to take the migration lock")?;
                Migrator::up(&db, None).await.context("Failed to apply migrations")?;
                tx.commit().await.context("Failed to release the migration lock")
            }
            .await;
            db.close().await.ok();
            migrated?;
        } else {
            Migrator::up(&self.db, None)
                .await
                .context("Failed to apply migrations")?;
        }
        Ok(())
    }

    /// Whether the database answers a trivial query within `READY_PING_TIMEOUT`.
    pub async fn ping(&self) -> anyhow::Result<()> {
        self.ping_within(READY_PING_TIMEOUT).await
    }

    /// Whether the database answers a trivial query within `limit` (waiting for a pooled
    /// connection included), so that a frozen database reads as down at once.
    pub async fn ping_within(&self, limit: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(limit, self.db.execute_unprepared("SELECT 1"))
            .await
            .map_err(|_| anyhow::anyhow!("Database did not answer within {} ms", limit.as_millis()))?
            .context("Database did not answer")?;
        Ok(())
    }

    /// A transaction confined to one tenant. On PostgreSQL it also drops to the
    /// unprivileged application role and sets the tenant for the row-level security policies.
    pub(crate) async fn begin(&self, tenant_id: Uuid) -> DomainResult<DatabaseTransaction> {
        let tx = self.begin_any().await?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)",
                [migration::rls::APP_ROLE.into(), tenant_id.to_string().into()],
            ))
            .await?;
        }
        Ok(tx)
    }

    /// On SQLite a transaction takes the write lock when it begins: a deferred one that reads
    /// and then writes fails at once (SQLITE_BUSY) if another connection wrote in between,
    /// while `BEGIN IMMEDIATE` waits its turn within the busy timeout.
    async fn begin_any(&self) -> DomainResult<DatabaseTransaction> {
        statements::transaction_begun();
        if self.backend() == DbBackend::Sqlite {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            return Ok(self.db.begin_with_options(options).await?);
        }
        Ok(self.db.begin().await?)
    }

    pub(crate) async fn begin_scoped(&self, scope: &TenantScope) -> DomainResult<DatabaseTransaction> {
        self.begin(scope.tenant_id).await
    }

    /// A transaction of a reminder delivery worker: it sees the reminders of every tenant
    /// (and, on PostgreSQL, nothing else of any tenant).
    pub(crate) async fn begin_reminder_worker(&self) -> DomainResult<DatabaseTransaction> {
        let tx = self.begin_any().await?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('role', $1, true), set_config('app.reminder_worker', 'on', true)",
                [migration::rls::APP_ROLE.into()],
            ))
            .await?;
        }
        Ok(tx)
    }

    /// A transaction that may find a tenant by slug before any tenant is known (login).
    pub(crate) async fn begin_tenant_lookup(&self) -> DomainResult<DatabaseTransaction> {
        let tx = self.begin_any().await?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('role', $1, true), set_config('app.tenant_lookup', 'on', true)",
                [migration::rls::APP_ROLE.into()],
            ))
            .await?;
        }
        Ok(tx)
    }
}

/// Pool settings shared by the request pool and the migration pool.
fn pool_options(config: &Config) -> ConnectOptions {
    let mut options = ConnectOptions::new(config.database_url.expose().to_owned());
    options
        .max_connections(config.db_max_connections)
        .min_connections(1)
        .acquire_timeout(config.db_acquire_timeout)
        // sqlx logs every statement at INFO otherwise.
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    options
}

async fn connect_within(limit: Duration, options: ConnectOptions) -> anyhow::Result<DatabaseConnection> {
    tokio::time::timeout(limit, Database::connect(options))
        .await
        .map_err(|_| anyhow::anyhow!("The database did not answer within {} ms", limit.as_millis()))?
        .context("Failed to connect to the database")
}

/// The file of a SQLite URL; None for an in-memory database.
fn sqlite_file(url: &str) -> anyhow::Result<Option<std::path::PathBuf>> {
    let options: sea_orm::sqlx::sqlite::SqliteConnectOptions = url.parse().context("Invalid SQLite database URL")?;
    let file = options.get_filename();
    let in_memory =
        file.as_os_str().is_empty() || file == std::path::Path::new(":memory:") || url.contains("mode=memory");
    Ok((!in_memory).then(|| file.to_owned()))
}

/// Whether a SQLite connection coming back to the pool is out of any transaction, as its
/// driver believes. SQLite rolls a whole transaction back by itself on some errors (a full
/// disk, an I/O error); the ROLLBACK that follows then fails, the driver still counts an open
/// transaction, and the connection's next "transaction" is a savepoint whose release commits
/// nothing. Such a connection is closed instead of reused.
async fn sqlite_connection_is_clean(
    conn: &mut sea_orm::sqlx::sqlite::SqliteConnection,
) -> Result<bool, sea_orm::sqlx::Error> {
    use sea_orm::sqlx::{Connection, Executor};
    // Runs after any rollback queued by a dropped transaction; BEGIN fails inside a transaction.
    if conn.execute("BEGIN").await.is_err() {
        tracing::warn!("closing a database connection left inside a transaction");
        return Ok(false);
    }
    conn.execute("ROLLBACK").await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection whose transaction state was lost");
        return Ok(false);
    }
    Ok(true)
}

/// Tables whose rows belong to a tenant.
pub trait TenantEntity: EntityTrait {
    fn tenant_column() -> Self::Column;
}

macro_rules! tenant_entities {
    ($($module:ident),* $(,)?) => {
        $(impl TenantEntity for entity::$module::Entity {
            fn tenant_column() -> Self::Column {
                entity::$module::Column::TenantId
            }
        })*
    };
}

tenant_entities!(
    user,
    api_key,
    audit_log,
    contact,
    customer,
    customer_status_history,
    customer_tag,
    tag,
    tenant_key,
    transaction,
    contract,
    interaction,
    follow_up,
    feedback,
    custom_field_definition,
    reminder,
);

/// `SELECT … WHERE tenant_id = scope.tenant`: the only way domain code reads tenant rows.
pub(crate) fn scoped<E: TenantEntity>(scope: &TenantScope) -> Select<E> {
    E::find().filter(E::tenant_column().eq(scope.tenant_id))
}

pub(crate) fn scoped_update<E: TenantEntity>(scope: &TenantScope) -> UpdateMany<E> {
    E::update_many().filter(E::tenant_column().eq(scope.tenant_id))
}

pub(crate) fn scoped_delete<E: TenantEntity>(scope: &TenantScope) -> DeleteMany<E> {
    E::delete_many().filter(E::tenant_column().eq(scope.tenant_id))
}

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
