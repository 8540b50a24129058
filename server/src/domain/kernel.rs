//! The tenant wall. Domain code reaches a tenant's rows only through a `TenantTx` (or the
//! `ScopedTx` of a caller, which is one): it does not hand out its connection, so a query
//! without the tenant condition does not compile, and inserts are stamped with the tenant.
//!
//! ```compile_fail
//! # async fn unscoped(tx: &dossier::domain::ScopedTx) {
//! use sea_orm::EntityTrait;
//! // A ScopedTx is no connection: an unscoped find has nothing to run on.
//! let _ = entity::customer::Entity::find().all(tx).await;
//! # }
//! ```
//!
//! ```compile_fail
//! # fn private(scope: &dossier::tenancy::TenantScope) {
//! // Nor can a scope be made up, or its tenant changed, outside the tenancy layer.
//! let _ = dossier::tenancy::TenantScope { tenant_id: uuid::Uuid::nil(), actor: todo!(), request_id: None };
//! # }
//! ```
//!
//! Work that must cross tenants has its own named handle here (the reminder worker's, the
//! tenant lookup before login); nothing else gets a connection.

use std::ops::Deref;
use std::sync::Arc;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SelectStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, DeleteMany, EntityTrait,
    FromQueryResult, IdenStatic, IntoActiveModel, Iterable, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select, Statement, TryGetableMany, UpdateMany, Value,
};
use uuid::Uuid;

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::Notify;

use super::keys::KeyVault;
use super::rows::ReadRow;
use super::tenant_context::TenantContext;
use super::{DomainResult, custom_fields, single_process, statements};
use crate::cache::{Invalidation, Shared, TtlMap};
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
    /// The decrypt audit rows of reads, written behind them in batches.
    reveal_log: Arc<super::reveal_log::RevealLog>,
    /// Woken when a tenant's data key was rotated, so re-encryption starts at once.
    pub(crate) reencrypt_wanted: Arc<Notify>,
    shared: Arc<Shared>,
    /// Settings and plans of tenants, kept briefly (a change invalidates them at once).
    tenant_contexts: Arc<TtlMap<Uuid, Arc<TenantContext>>>,
    /// Custom field definitions per tenant (a change on any replica drops them everywhere).
    pub(crate) custom_fields: Arc<TtlMap<Uuid, Arc<Vec<custom_fields::Definition>>>>,
    pub(crate) custom_fields_per_entity: u32,
}

/// Connections of the pool: lent out, idle, and the most it may open.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    pub in_use: u32,
    pub idle: u32,
    pub max: u32,
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
        let vault = Arc::new(KeyVault::new(crate::crypto::MasterKeyRing::from_config(config)?));
        let shared = Arc::new(Shared::from_config(config)?);
        let tenant_contexts = Arc::new(TtlMap::new(Duration::from_secs(30)));
        let custom_fields = Arc::new(TtlMap::new(Duration::from_secs(30)));
        {
            let (vault, tenant_contexts, custom_fields) =
                (vault.clone(), tenant_contexts.clone(), custom_fields.clone());
            shared.invalidations.listen(move |change| match change {
                Invalidation::Tenant(id) => {
                    vault.forget(*id);
                    tenant_contexts.remove_where(|k, _| k == id);
                }
                Invalidation::CustomFields(id) => custom_fields.remove_where(|k, _| k == id),
                Invalidation::All => {
                    vault.forget_all();
                    tenant_contexts.clear();
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
            reveal_log: Arc::new(super::reveal_log::RevealLog::new(config.decrypt_audit_flush)),
            reencrypt_wanted: Arc::new(Notify::new()),
            shared,
            tenant_contexts,
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

    /// How the connection pool is used right now.
    pub fn pool_stats(&self) -> PoolStats {
        let (size, idle, max) = match self.backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
            _ => {
                let pool = self.db.get_sqlite_connection_pool();
                (pool.size(), pool.num_idle(), pool.options().get_max_connections())
            }
        };
        let idle = std::cmp::min(u32::try_from(idle).unwrap_or(u32::MAX), size);
        PoolStats {
            in_use: size - idle,
            idle,
            max,
        }
    }

    /// The names of the migrations not applied yet, oldest first.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        let pending = Migrator::get_pending_migrations(&self.db)
            .await
            .context("Failed to read which migrations are applied")?;
        Ok(pending.iter().map(|m| m.name().to_owned()).collect())
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

    /// A transaction of the caller's tenant, for the caller's work.
    pub async fn begin_scoped(&self, scope: &TenantScope) -> DomainResult<ScopedTx> {
        Ok(ScopedTx::new(
            self.begin_tenant_job(scope.tenant_id()).await?,
            scope.clone(),
        ))
    }

    /// The transaction one GraphQL query reads through. Its decrypt audit rows go to the
    /// reveal log when it commits (written behind it, in batches); on SQLite it still takes
    /// the write lock like every other.
    pub async fn begin_read(&self, scope: &TenantScope) -> DomainResult<ScopedTx> {
        let mut tx = self.begin_scoped(scope).await?;
        tx.reveals = Some(std::sync::Mutex::default());
        Ok(tx)
    }

    /// A transaction of one tenant for work no caller asked for (planning its reminders,
    /// re-encrypting its rows, checking a login before there is a caller).
    pub async fn begin_tenant_job(&self, tenant_id: Uuid) -> DomainResult<TenantTx> {
        let conn = self.begin_any().await?;
        if conn.get_database_backend() == DbBackend::Postgres {
            conn.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT set_config('role', $1, true), set_config('app.tenant_id', $2, true)",
                [migration::rls::APP_ROLE.into(), tenant_id.to_string().into()],
            ))
            .await?;
        }
        Ok(TenantTx::new(conn, tenant_id, self.clone()))
    }

    /// On SQLite a transaction takes the write lock when it begins: a deferred one that reads
    /// and then writes fails at once (SQLITE_BUSY) if another connection wrote in between,
    /// while `BEGIN IMMEDIATE` waits its turn within the busy timeout.
    async fn begin_any(&self) -> DomainResult<DatabaseTransaction> {
        statements::transaction_begun();
        let _waiting = crate::monitoring::WaitingForConnection::start();
        if self.backend() == DbBackend::Sqlite {
            let options = TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            };
            return Ok(self.db.begin_with_options(options).await?);
        }
        Ok(self.db.begin().await?)
    }

    /// A transaction of a reminder delivery worker: it sees the reminders of every tenant
    /// (and, on PostgreSQL, nothing else of any tenant).
    pub async fn begin_reminder_worker(&self) -> DomainResult<ReminderWorkerTx> {
        Ok(ReminderWorkerTx(self.begin_cross_tenant("app.reminder_worker").await?))
    }

    /// A transaction that may find a tenant by slug before any tenant is known (login).
    pub async fn begin_tenant_lookup(&self) -> DomainResult<TenantLookupTx> {
        Ok(TenantLookupTx(self.begin_cross_tenant("app.tenant_lookup").await?))
    }

    async fn begin_cross_tenant(&self, setting: &str) -> DomainResult<DatabaseTransaction> {
        let tx = self.begin_any().await?;
        if tx.get_database_backend() == DbBackend::Postgres {
            tx.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                format!("SELECT set_config('role', $1, true), set_config('{setting}', 'on', true)"),
                [migration::rls::APP_ROLE.into()],
            ))
            .await?;
        }
        Ok(tx)
    }

    /// Refreshes the planner's statistics of every table the connecting role may analyze
    /// (`ANALYZE`). A bulk load calls it as the tables grow: plans made while a table looked
    /// empty (a sequential scan where an index serves) otherwise last until autovacuum
    /// analyzes it, and each write gets slower than the one before.
    pub async fn refresh_statistics(&self) {
        if let Err(error) = self.db.execute_unprepared("ANALYZE").await {
            tracing::warn!(error = ?error, "could not refresh the planner's statistics");
        }
    }

    /// The decrypt audit of reads, written behind them (see `reveal_log`).
    pub(crate) fn reveal_log(&self) -> &Arc<super::reveal_log::RevealLog> {
        &self.reveal_log
    }

    /// Waits until the decrypt audit rows this process queued so far are written, up to
    /// `timeout`; whether they are.
    pub async fn reveals_written(&self, timeout: Duration) -> bool {
        self.reveal_log.flushed(timeout).await
    }

    /// Writes the decrypt audit of reads until `stop_reveal_writer`, then what is left.
    pub(crate) async fn write_reveals(self) {
        super::reveal_log::RevealLog::run(self).await
    }

    pub(crate) fn stop_reveal_writer(&self) {
        self.reveal_log.stop();
    }

    /// Decrypt audit rows queued and not yet written.
    pub(crate) fn reveals_waiting(&self) -> usize {
        self.reveal_log.waiting()
    }

    /// The tenants' data keys.
    pub(crate) fn vault(&self) -> &KeyVault {
        &self.vault
    }

    /// A tenant's context if this process has it at hand (no statement).
    pub fn cached_context(&self, tenant_id: Uuid) -> Option<Arc<TenantContext>> {
        self.tenant_contexts.get(&tenant_id)
    }

    pub(super) fn tenant_contexts(&self) -> &TtlMap<Uuid, Arc<TenantContext>> {
        &self.tenant_contexts
    }
}

/// The reminder worker's handle: the reminders of every tenant, for claiming and recording
/// deliveries. Row-level security lets it see nothing else on PostgreSQL.
pub struct ReminderWorkerTx(DatabaseTransaction);

/// The handle of a login before any tenant is known: it may find a tenant by its slug.
pub struct TenantLookupTx(DatabaseTransaction);

macro_rules! cross_tenant_handle {
    ($($handle:ident),*) => {$(
        impl $handle {
            pub async fn commit(self) -> DomainResult<()> {
                Ok(self.0.commit().await?)
            }
        }
    )*};
}

cross_tenant_handle!(ReminderWorkerTx, TenantLookupTx);

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

/// Tables whose rows belong to a tenant. The catalog test checks that every table with a
/// `tenant_id` column is listed here (and forced under row-level security on PostgreSQL).
/// Their rows are read through `ReadRow` (`domain/rows.rs`).
pub trait TenantEntity: EntityTrait<Model: ReadRow> {
    fn tenant_column() -> Self::Column;
}

macro_rules! tenant_entities {
    ($($module:ident),* $(,)?) => {
        $(impl TenantEntity for entity::$module::Entity {
            fn tenant_column() -> Self::Column {
                entity::$module::Column::TenantId
            }
        })*
        /// The tables of every `TenantEntity`, for the catalog test.
        pub fn tenant_tables() -> Vec<String> {
            use sea_orm::EntityName;
            vec![$(entity::$module::Entity.table_name().to_owned()),*]
        }
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

/// A transaction confined to one tenant: on PostgreSQL it runs as the unprivileged
/// application role with the tenant set for the row-level security policies, and every
/// statement built through it carries `tenant_id = …`.
pub struct TenantTx {
    conn: DatabaseTransaction,
    tenant_id: Uuid,
    store: Store,
    context: tokio::sync::OnceCell<Arc<TenantContext>>,
}

/// A tenant transaction on behalf of a caller: what request work gets.
pub struct ScopedTx {
    tx: TenantTx,
    scope: TenantScope,
    /// A read's decrypt audit rows, written once it commits (`None`: written inside it).
    reveals: Option<std::sync::Mutex<Vec<entity::audit_log::ActiveModel>>>,
}

impl Deref for ScopedTx {
    type Target = TenantTx;
    fn deref(&self) -> &TenantTx {
        &self.tx
    }
}

impl ScopedTx {
    pub(super) fn new(tx: TenantTx, scope: TenantScope) -> Self {
        Self {
            tx,
            scope,
            reveals: None,
        }
    }

    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }

    /// Keeps a decrypt audit row of a read for when it commits; gives it back to a
    /// transaction that writes its audit inline (so that it lands with its writes).
    pub(super) fn defer_reveal(&self, row: entity::audit_log::ActiveModel) -> Option<entity::audit_log::ActiveModel> {
        let Some(reveals) = &self.reveals else {
            return Some(row);
        };
        reveals
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(row);
        None
    }

    /// Commits; a read's decrypt audit rows are queued for the reveal log when this returns `Ok`.
    pub async fn commit(self) -> DomainResult<()> {
        let reveals = self
            .reveals
            .map(|r| r.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner()))
            .unwrap_or_default();
        let (tenant_id, store) = (self.tx.tenant_id, self.tx.store.clone());
        self.tx.commit().await?;
        store.reveal_log.push(tenant_id, reveals)
    }

    pub async fn rollback(self) -> DomainResult<()> {
        self.tx.rollback().await
    }
}

impl TenantTx {
    pub(super) fn new(conn: DatabaseTransaction, tenant_id: Uuid, store: Store) -> Self {
        Self {
            conn,
            tenant_id,
            store,
            context: tokio::sync::OnceCell::new(),
        }
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// `SELECT … WHERE tenant_id = <this tenant>`: the start of every read of tenant rows.
    pub fn select<E: TenantEntity>(&self) -> Scoped<Select<E>> {
        Scoped(E::find().filter(E::tenant_column().eq(self.tenant_id)))
    }

    pub fn update<E: TenantEntity>(&self) -> Scoped<UpdateMany<E>> {
        Scoped(E::update_many().filter(E::tenant_column().eq(self.tenant_id)))
    }

    pub fn delete<E: TenantEntity>(&self) -> Scoped<DeleteMany<E>> {
        Scoped(E::delete_many().filter(E::tenant_column().eq(self.tenant_id)))
    }

    /// Inserts `row` as this tenant's, whatever its `tenant_id` said, and reads it back.
    pub async fn insert<A>(&self, row: A) -> DomainResult<<A::Entity as EntityTrait>::Model>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        Ok(self.try_insert(row).await?)
    }

    /// Like `insert`, with the database's own error, for a caller that tells a unique
    /// violation apart.
    pub async fn try_insert<A>(&self, row: A) -> Result<<A::Entity as EntityTrait>::Model, sea_orm::DbErr>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantEntity,
        <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
    {
        <A::Entity as EntityTrait>::insert(self.stamped(row))
            .exec_with_returning(&self.conn)
            .await
    }

    /// Inserts `rows` as this tenant's; with `on_conflict`, rows that clash are handled by it.
    pub async fn insert_many<A>(&self, rows: Vec<A>, on_conflict: Option<OnConflict>) -> DomainResult<()>
    where
        A: ActiveModelTrait + Send,
        A::Entity: TenantEntity,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = <A::Entity as EntityTrait>::insert_many(rows.into_iter().map(|row| self.stamped(row)));
        if let Some(on_conflict) = on_conflict {
            insert = insert.on_conflict(on_conflict);
        }
        insert.exec_without_returning(&self.conn).await?;
        Ok(())
    }

    fn stamped<A>(&self, mut row: A) -> A
    where
        A: ActiveModelTrait,
        A::Entity: TenantEntity,
    {
        row.set(<A::Entity as TenantEntity>::tenant_column(), self.tenant_id.into());
        row
    }

    /// Raw SQL for what the query builder cannot say. `sql` is given this tenant's predicate
    /// (`"tenant_id" = <tenant>` on `table`) to put in its WHERE clause, and binds `values`.
    pub async fn query_raw<M: FromQueryResult>(
        &self,
        sql: impl FnOnce(&str) -> String,
        values: Vec<Value>,
    ) -> DomainResult<Vec<M>> {
        let statement = Statement::from_sql_and_values(self.backend(), sql(&self.tenant_predicate()), values);
        Ok(M::find_by_statement(statement).all(&self.conn).await?)
    }

    /// Raw SQL run for its effect (locks), bound to this tenant as `query_raw` is.
    pub async fn execute_raw(&self, sql: impl FnOnce(&str) -> String, values: Vec<Value>) -> DomainResult<()> {
        let statement = Statement::from_sql_and_values(self.backend(), sql(&self.tenant_predicate()), values);
        self.conn.execute_raw(statement).await?;
        Ok(())
    }

    fn tenant_predicate(&self) -> String {
        // A UUID's text has no quote to escape. SQLite keeps UUIDs as 16-byte blobs.
        match self.backend() {
            DbBackend::Sqlite => format!("\"tenant_id\" = X'{}'", self.tenant_id.simple()),
            _ => format!("\"tenant_id\" = '{}'", self.tenant_id),
        }
    }

    /// This tenant's own row.
    pub async fn tenant(&self) -> DomainResult<entity::tenant::Model> {
        entity::tenant::Entity::find_by_id(self.tenant_id)
            .one(&self.conn)
            .await?
            .ok_or(super::DomainError::NotFound("tenant"))
    }

    /// Inserts this tenant's own row (signup), under this transaction's tenant id whatever
    /// `row` said, and reads it back.
    pub async fn insert_tenant(&self, mut row: entity::tenant::ActiveModel) -> DomainResult<entity::tenant::Model> {
        row.id = sea_orm::ActiveValue::Set(self.tenant_id);
        Ok(entity::tenant::Entity::insert(row)
            .exec_with_returning(&self.conn)
            .await?)
    }

    /// An update of this tenant's own row (its settings, its counters).
    pub fn update_tenant(&self) -> Scoped<UpdateMany<entity::tenant::Entity>> {
        Scoped(entity::tenant::Entity::update_many().filter(entity::tenant::Column::Id.eq(self.tenant_id)))
    }

    /// The tenant's settings, keys and calendar, read once per transaction (and cached
    /// between requests until a change invalidates them).
    pub async fn context(&self) -> DomainResult<&Arc<TenantContext>> {
        self.context
            .get_or_try_init(|| TenantContext::load(&self.store, self))
            .await
    }

    pub async fn commit(self) -> DomainResult<()> {
        Ok(self.conn.commit().await?)
    }

    pub async fn rollback(self) -> DomainResult<()> {
        Ok(self.conn.rollback().await?)
    }
}

/// A query already confined to one tenant. Conditions, order, joins and limits narrow it
/// further (`QueryFilter`, `QueryOrder`, `QuerySelect`); it runs only on a `TenantTx`.
#[must_use]
pub struct Scoped<Q>(Q);

impl<E: EntityTrait> QueryFilter for Scoped<Select<E>> {
    type QueryStatement = SelectStatement;
    fn query(&mut self) -> &mut SelectStatement {
        QueryFilter::query(&mut self.0)
    }
}

impl<E: EntityTrait> QueryOrder for Scoped<Select<E>> {
    type QueryStatement = SelectStatement;
    fn query(&mut self) -> &mut SelectStatement {
        QueryOrder::query(&mut self.0)
    }
}

impl<E: EntityTrait> QuerySelect for Scoped<Select<E>> {
    type QueryStatement = SelectStatement;
    fn query(&mut self) -> &mut SelectStatement {
        QuerySelect::query(&mut self.0)
    }
}

impl<E: EntityTrait> QueryFilter for Scoped<UpdateMany<E>> {
    type QueryStatement = sea_orm::sea_query::UpdateStatement;
    fn query(&mut self) -> &mut Self::QueryStatement {
        QueryFilter::query(&mut self.0)
    }
}

impl<E: EntityTrait> QueryFilter for Scoped<DeleteMany<E>> {
    type QueryStatement = sea_orm::sea_query::DeleteStatement;
    fn query(&mut self) -> &mut Self::QueryStatement {
        QueryFilter::query(&mut self.0)
    }
}

/// A model read through its `ReadRow`, for SeaORM's selectors.
struct Read<M>(M);

impl<M: ReadRow> FromQueryResult for Read<M> {
    fn from_query_result(row: &sea_orm::QueryResult, prefix: &str) -> Result<Self, sea_orm::DbErr> {
        M::read_row(row, prefix).map(Read)
    }
}

impl<E: EntityTrait> Scoped<Select<E>>
where
    E::Model: ReadRow,
{
    pub async fn all(self, tx: &TenantTx) -> DomainResult<Vec<E::Model>> {
        let rows = self.0.into_model::<Read<E::Model>>().all(&tx.conn).await?;
        Ok(rows.into_iter().map(|Read(model)| model).collect())
    }

    pub async fn one(self, tx: &TenantTx) -> DomainResult<Option<E::Model>> {
        let row = self.0.into_model::<Read<E::Model>>().one(&tx.conn).await?;
        Ok(row.map(|Read(model)| model))
    }
}

impl<E: EntityTrait> Scoped<Select<E>> {
    pub async fn count(self, tx: &TenantTx) -> DomainResult<u64>
    where
        E::Model: Sync,
    {
        Ok(self.0.count(&tx.conn).await?)
    }

    /// The selected columns of every row, as tuples (after `select_only().column(…)`).
    pub async fn tuples<T: TryGetableMany>(self, tx: &TenantTx) -> DomainResult<Vec<T>> {
        Ok(self.0.into_tuple::<T>().all(&tx.conn).await?)
    }

    /// Every row as `M` (a partial or joined model).
    pub async fn models<M: FromQueryResult>(self, tx: &TenantTx) -> DomainResult<Vec<M>> {
        Ok(self.0.into_model::<M>().all(&tx.conn).await?)
    }

    /// The query as a subquery (`column IN (…)`), still confined to the tenant.
    pub fn into_subquery(self) -> SelectStatement {
        self.0.into_query()
    }
}

impl<E: EntityTrait> Scoped<Select<E>>
where
    E::Model: ReadRow + Send + 'static,
{
    /// Up to `per_parent` rows of each parent in `order`, each with how many rows its parent
    /// has in all (`ROW_NUMBER()` and `COUNT(*)` over `PARTITION BY parent`, which SQLite and
    /// PostgreSQL both run), to be read with others in one statement by
    /// `TenantTx::first_per_parent`. `order` must end with a unique column so the cut between
    /// rows is stable.
    pub fn ranked(self, parent: E::Column, order: &[(E::Column, Order)], per_parent: u64) -> Ranked {
        let window_order = order
            .iter()
            .map(|(column, direction)| {
                let direction = if matches!(direction, Order::Desc) {
                    "DESC"
                } else {
                    "ASC"
                };
                format!("\"{}\" {direction}", column.as_str())
            })
            .collect::<Vec<_>>()
            .join(", ");
        let partition = format!("PARTITION BY \"{}\"", parent.as_str());
        let mut ranked = self.0.into_query();
        ranked
            .expr_as(
                Expr::cust(format!("ROW_NUMBER() OVER ({partition} ORDER BY {window_order})")),
                Alias::new(ROW_IN_PARENT),
            )
            .expr_as(
                Expr::cust(format!("COUNT(*) OVER ({partition})")),
                Alias::new(ROWS_OF_PARENT),
            );
        Ranked {
            ranked,
            per_parent,
            columns: E::Column::iter()
                .map(|c| (c.as_str().to_owned(), typed_null(c.def().get_column_type())))
                .collect(),
            decode: |row, prefix| Ok(Box::new(E::Model::read_row(row, prefix)?)),
        }
    }
}

const ROW_IN_PARENT: &str = "row_in_parent";
const ROWS_OF_PARENT: &str = "rows_of_parent";
const BRANCH: &str = "branch";

/// The first rows per parent of one scoped select (see `Scoped::ranked`).
pub struct Ranked {
    ranked: SelectStatement,
    per_parent: u64,
    /// The entity's columns, each with a NULL of its type for the other branches' rows.
    columns: Vec<(String, Expr)>,
    decode: DecodeRow,
}

/// Reads one branch's model from a row of the union, by its columns' prefix.
type DecodeRow = fn(&sea_orm::QueryResult, &str) -> Result<Box<dyn std::any::Any + Send>, sea_orm::DbErr>;

/// A NULL that PostgreSQL reads as a value of `column_type`, so that the branches of a union
/// agree on every column's type.
fn typed_null(column_type: &sea_orm::ColumnType) -> Expr {
    use sea_orm::ColumnType as T;
    // A bound JSON value has one type for both; a union does not convert `json` and `jsonb`.
    match column_type {
        T::Json => return Expr::val(Value::Json(None)).cast_as(Alias::new("json")),
        T::JsonBinary => return Expr::val(Value::Json(None)).cast_as(Alias::new("jsonb")),
        _ => {}
    }
    Expr::val(match column_type {
        T::Uuid => Value::Uuid(None),
        T::TimestampWithTimeZone => Value::ChronoDateTimeUtc(None),
        T::Timestamp | T::DateTime => Value::ChronoDateTime(None),
        T::Date => Value::ChronoDate(None),
        T::BigInteger => Value::BigInt(None),
        T::Integer => Value::Int(None),
        T::SmallInteger => Value::SmallInt(None),
        T::Boolean => Value::Bool(None),
        T::Binary(_) | T::VarBinary(_) | T::Blob => Value::Bytes(None),
        _ => Value::String(None),
    })
}

/// One row read by `TenantTx::first_per_parent`: the model of its branch (to downcast) and
/// how many rows its parent has in all.
pub struct RankedRow {
    pub model: Box<dyn std::any::Any + Send>,
    pub rows_of_parent: u64,
}

impl TenantTx {
    /// The rows of every branch, in one statement (a `UNION ALL` whose rows carry every
    /// branch's columns, NULL but for their own), each branch's in its order per parent.
    pub async fn first_per_parent(&self, branches: Vec<Ranked>) -> DomainResult<Vec<Vec<RankedRow>>> {
        // The first branch's columns keep their names: decoding a prefixed column formats its
        // name for every value, and most reads (a page asking for one kind) have one branch.
        let prefix = |branch: usize| {
            if branch == 0 {
                String::new()
            } else {
                format!("b{branch}_")
            }
        };
        let mut union: Option<SelectStatement> = None;
        for (n, branch) in branches.iter().enumerate() {
            let mut select = Query::select();
            select
                .expr_as(Expr::val(n as i32), Alias::new(BRANCH))
                .column(Alias::new(ROW_IN_PARENT))
                .column(Alias::new(ROWS_OF_PARENT));
            for (m, other) in branches.iter().enumerate() {
                for (column, null) in &other.columns {
                    let alias = Alias::new(format!("{}{column}", prefix(m)));
                    if m == n {
                        select.expr_as(Expr::col(Alias::new(column.as_str())), alias);
                    } else {
                        select.expr_as(null.clone(), alias);
                    }
                }
            }
            select
                .from_subquery(branch.ranked.clone(), Alias::new(format!("ranked_{n}")))
                .and_where(Expr::col(Alias::new(ROW_IN_PARENT)).lte(branch.per_parent as i64));
            match &mut union {
                None => union = Some(select.to_owned()),
                Some(union) => {
                    union.union(sea_orm::sea_query::UnionType::All, select.to_owned());
                }
            }
        }
        let mut read: Vec<Vec<(i64, RankedRow)>> = branches.iter().map(|_| Vec::new()).collect();
        let Some(union) = union else {
            return Ok(Vec::new());
        };
        for row in self.conn.query_all_raw(self.backend().build(&union)).await? {
            let n: i32 = row.try_get("", BRANCH)?;
            let (Some(branch), Some(rows)) = (branches.get(n as usize), read.get_mut(n as usize)) else {
                continue;
            };
            let total: i64 = row.try_get("", ROWS_OF_PARENT)?;
            rows.push((
                row.try_get("", ROW_IN_PARENT)?,
                RankedRow {
                    model: (branch.decode)(&row, &prefix(n as usize))?,
                    rows_of_parent: u64::try_from(total).unwrap_or(0),
                },
            ));
        }
        Ok(read
            .into_iter()
            .map(|mut rows| {
                // In rank order, each parent's rows stand in its own order once grouped by parent.
                rows.sort_by_key(|(rank, _)| *rank);
                rows.into_iter().map(|(_, row)| row).collect()
            })
            .collect())
    }
}

impl<E: EntityTrait> Scoped<UpdateMany<E>> {
    pub fn set(self, values: E::ActiveModel) -> Self
    where
        E::ActiveModel: ActiveModelTrait<Entity = E>,
    {
        Self(self.0.set(values))
    }

    pub fn col_expr(self, column: E::Column, expr: impl Into<sea_orm::sea_query::SimpleExpr>) -> Self {
        Self(self.0.col_expr(column, expr.into()))
    }

    /// Runs the update; how many rows it changed.
    pub async fn exec(self, tx: &TenantTx) -> DomainResult<u64> {
        Ok(self.0.exec(&tx.conn).await?.rows_affected)
    }

    /// Runs the update and reads back the rows it changed.
    pub async fn exec_with_returning(self, tx: &TenantTx) -> DomainResult<Vec<E::Model>>
    where
        E::Model: FromQueryResult,
    {
        Ok(self.0.exec_with_returning(&tx.conn).await?)
    }
}

impl<E: EntityTrait> Scoped<DeleteMany<E>> {
    /// Runs the delete; how many rows it removed.
    pub async fn exec(self, tx: &TenantTx) -> DomainResult<u64> {
        Ok(self.0.exec(&tx.conn).await?.rows_affected)
    }
}

// The cross-tenant handles are connections on purpose: their work (claiming every tenant's
// due reminders, finding a tenant by slug) has no tenant to scope by. Row-level security
// confines them on PostgreSQL to just that work.
macro_rules! cross_tenant_connection {
    ($($handle:ty => |$this:ident| $conn:expr),*) => {$(
        impl ConnectionTrait for $handle {
            fn get_database_backend(&self) -> DbBackend {
                let $this = self;
                $conn.get_database_backend()
            }
            fn execute_raw<'a, 'b>(
                &'a self,
                stmt: Statement,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<sea_orm::ExecResult, sea_orm::DbErr>> + Send + 'b>>
            where
                'a: 'b,
                Self: 'b,
            {
                let $this = self;
                $conn.execute_raw(stmt)
            }
            fn execute_unprepared<'a, 'c, 'b>(
                &'a self,
                sql: &'c str,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<sea_orm::ExecResult, sea_orm::DbErr>> + Send + 'b>>
            where
                'a: 'b,
                'c: 'b,
                Self: 'b,
            {
                let $this = self;
                $conn.execute_unprepared(sql)
            }
            fn query_one_raw<'a, 'b>(
                &'a self,
                stmt: Statement,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Option<sea_orm::QueryResult>, sea_orm::DbErr>> + Send + 'b>>
            where
                'a: 'b,
                Self: 'b,
            {
                let $this = self;
                $conn.query_one_raw(stmt)
            }
            fn query_all_raw<'a, 'b>(
                &'a self,
                stmt: Statement,
            ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr>> + Send + 'b>>
            where
                'a: 'b,
                Self: 'b,
            {
                let $this = self;
                $conn.query_all_raw(stmt)
            }
        }
    )*};
}

cross_tenant_connection!(ReminderWorkerTx => |t| t.0, TenantLookupTx => |t| t.0);
