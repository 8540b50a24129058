//! A database of its own for every test app. On PostgreSQL it is cloned from a template that
//! is migrated once per set of migrations, because migrating each test's database from
//! scratch cost more than most tests themselves. Each test database is dropped when its app
//! is, by a thread of its own so that the test's end does not wait; the last app of the
//! moment waits until the queue is empty, so a run that ends leaves nothing behind. A run
//! that crashed leaves at most its own databases, which a later run drops once they are an
//! hour old (their names carry the time they were made).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use uuid::Uuid;

/// Changes whenever a migration does (see build.rs), so that a stale template is never used.
const TEMPLATE: &str = concat!("dossier_template_", env!("DOSSIER_MIGRATIONS_HASH"));

/// Serialises building the template across test processes on the same server.
const TEMPLATE_LOCK: i64 = 7_305_662;

/// Every test database is named `dossier_test_<Unix seconds when made>_<random>`.
const TEST_DATABASE_PREFIX: &str = "dossier_test_";

/// How long one drop may take before it is given up on (and left to a later run).
const DROP_WITHIN: Duration = Duration::from_secs(60);

/// A test database this much older is a leftover of a run that did not finish: no test runs
/// this long, so a run still going (here or in another checkout) never loses one.
const LEFTOVER_AFTER: Duration = Duration::from_secs(3600);

/// The server of `DOSSIER_TEST_DATABASE_URL`, when the suite runs on PostgreSQL.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("DOSSIER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database created for one test app, dropped with it.
pub struct OwnedDatabase {
    name: String,
}

/// A fresh database for one app: a SQLite file in `data_dir`, or a clone of the migrated
/// template on PostgreSQL.
pub(crate) async fn fresh_database(data_dir: &std::path::Path) -> (String, Option<OwnedDatabase>) {
    match postgres_base_url() {
        None => (sqlite_in(data_dir, "dossier.db"), None),
        Some(base) => {
            let template = migrated_template(&base).await;
            new_database(&base, &format!("TEMPLATE \"{template}\"")).await
        }
    }
}

/// A database with nothing in it, not even migrations: a SQLite file in `data_dir`, or a new
/// database on PostgreSQL (dropped with the returned guard).
pub async fn empty_database(data_dir: &std::path::Path) -> (String, Option<OwnedDatabase>) {
    match postgres_base_url() {
        None => (sqlite_in(data_dir, "empty.db"), None),
        Some(base) => new_database(&base, "").await,
    }
}

fn sqlite_in(data_dir: &std::path::Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join(file).display())
}

/// Creates a test database on the server of `base` (`CREATE DATABASE <name> <options>`),
/// dropped with the returned guard.
async fn new_database(base: &str, options: &str) -> (String, Option<OwnedDatabase>) {
    let name = format!("{TEST_DATABASE_PREFIX}{}_{}", unix_now(), Uuid::new_v4().simple());
    // Counted before it exists, so that no drop meanwhile takes itself for the last one.
    dropper(base).live.fetch_add(1, Ordering::SeqCst);
    let owned = OwnedDatabase { name: name.clone() };
    let admin = admin_connection(base).await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\" {options}"))
        .await
        .expect("create a test database");
    admin.close().await.ok();
    (with_database(base, &name), Some(owned))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The name of the template, created and migrated by the first test of the process that needs
/// it unless another process already did.
async fn migrated_template(base: &str) -> &'static str {
    static READY: OnceCell<()> = OnceCell::const_new();
    READY.get_or_init(|| build_template(base)).await;
    TEMPLATE
}

async fn build_template(base: &str) {
    // One connection, so that the session lock and the statements after it share it.
    let admin = admin_connection(base).await;
    admin
        .execute_unprepared(&format!("SELECT pg_advisory_lock({TEMPLATE_LOCK})"))
        .await
        .expect("take the template lock");
    if !database_exists(&admin, TEMPLATE).await {
        // Built under another name and renamed when complete, so that a run killed halfway
        // never leaves a half-migrated template; under the lock, a leftover is ours to drop.
        let building = format!("{TEMPLATE}_building");
        for statement in [
            format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
            format!("CREATE DATABASE \"{building}\""),
        ] {
            admin
                .execute_unprepared(&statement)
                .await
                .expect("create the template database");
        }
        let db = Database::connect(&with_database(base, &building))
            .await
            .expect("connect to the template database");
        Migrator::up(&db, None).await.expect("migrate the template database");
        db.close().await.ok();
        admin
            .execute_unprepared(&format!("ALTER DATABASE \"{building}\" RENAME TO \"{TEMPLATE}\""))
            .await
            .expect("publish the template database");
    }
    admin
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({TEMPLATE_LOCK})"))
        .await
        .expect("release the template lock");
    admin.close().await.ok();
}

async fn database_exists(admin: &DatabaseConnection, name: &str) -> bool {
    let row = admin
        .query_one_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT COUNT(*) FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await
        .expect("look for a database")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count") > 0
}

async fn admin_connection(url: &str) -> DatabaseConnection {
    try_admin_connection(url)
        .await
        .expect("connect to DOSSIER_TEST_DATABASE_URL")
}

async fn try_admin_connection(url: &str) -> Result<DatabaseConnection, sea_orm::DbErr> {
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    Database::connect(options).await
}

impl Drop for OwnedDatabase {
    /// Hands the database to the dropper and goes on; the last app of the moment waits (a
    /// bounded time) until everything handed over so far is gone.
    fn drop(&mut self) {
        let Some(dropper) = DROPPER.get() else { return };
        let ticket = dropper.hand_over(std::mem::take(&mut self.name));
        if dropper.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            dropper.wait_for(ticket, DROP_WITHIN + Duration::from_secs(5));
        }
    }
}

/// The process's one dropper of test databases: a thread with its own runtime and admin
/// connection, fed names through a queue and dropping whatever has piled up in one go.
struct Dropper {
    queue: UnboundedSender<(u64, String)>,
    /// Names handed over so far (a ticket is the count including one's own).
    handed_over: Mutex<u64>,
    /// Names dealt with so far, dropped or given up on, in the order handed over.
    done: Mutex<u64>,
    progress: Condvar,
    /// Test databases made and not yet handed over.
    live: AtomicUsize,
}

static DROPPER: OnceLock<Dropper> = OnceLock::new();

fn dropper(base: &str) -> &'static Dropper {
    DROPPER.get_or_init(|| {
        let (queue, names) = unbounded_channel();
        let base = base.to_owned();
        std::thread::Builder::new()
            .name("test-database-dropper".into())
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime to drop test databases on")
                    .block_on(drop_handed_over(base, names));
            })
            .expect("start the test database dropper");
        Dropper {
            queue,
            handed_over: Mutex::new(0),
            done: Mutex::new(0),
            progress: Condvar::new(),
            live: AtomicUsize::new(0),
        }
    })
}

impl Dropper {
    fn hand_over(&self, name: String) -> u64 {
        let mut handed_over = self.handed_over.lock().unwrap_or_else(|p| p.into_inner());
        *handed_over += 1;
        // Sent under the lock, so that tickets reach the queue in their order.
        if self.queue.send((*handed_over, name)).is_err() {
            self.finished(*handed_over);
        }
        *handed_over
    }

    fn finished(&self, ticket: u64) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        *done = (*done).max(ticket);
        self.progress.notify_all();
    }

    fn wait_for(&self, ticket: u64, within: Duration) {
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let (done, waited) = self
            .progress
            .wait_timeout_while(done, within, |done| *done < ticket)
            .unwrap_or_else(|p| p.into_inner());
        drop(done);
        if waited.timed_out() {
            eprintln!("test databases still being dropped after {within:?}; a later run drops what is left");
        }
    }
}

/// The dropper's loop: first the leftovers of runs that did not finish, then every name handed
/// over, whatever has piled up at once over one connection.
async fn drop_handed_over(base: String, mut names: UnboundedReceiver<(u64, String)>) {
    let mut admin: Option<DatabaseConnection> = None;
    let leftovers = match connected(&mut admin, &base).await {
        Ok(connection) => drop_leftovers(connection, unix_now()).await,
        Err(e) => Err(e),
    };
    match leftovers {
        Ok(dropped) if !dropped.is_empty() => eprintln!("dropped {} leftover test databases", dropped.len()),
        Ok(_) => {}
        Err(e) => eprintln!("leftover test databases not dropped: {e}"),
    }
    let mut batch = Vec::new();
    while names.recv_many(&mut batch, 64).await > 0 {
        for (ticket, name) in batch.drain(..) {
            let dropped = tokio::time::timeout(DROP_WITHIN, async {
                connected(&mut admin, &base)
                    .await?
                    .execute_unprepared(&drop_statement(&name))
                    .await
            })
            .await;
            let trouble = match dropped {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!("no answer within {DROP_WITHIN:?}")),
            };
            if let Some(trouble) = trouble {
                eprintln!("test database {name} not dropped: {trouble}");
                // Perhaps the connection broke: the next drop opens a new one.
                admin = None;
            }
            if let Some(dropper) = DROPPER.get() {
                dropper.finished(ticket);
            }
        }
    }
}

/// The dropper's admin connection, opened again when it was lost.
async fn connected<'a>(
    admin: &'a mut Option<DatabaseConnection>,
    base: &str,
) -> Result<&'a DatabaseConnection, sea_orm::DbErr> {
    if admin.is_none() {
        *admin = Some(try_admin_connection(base).await?);
    }
    Ok(admin.as_ref().expect("just connected"))
}

fn drop_statement(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Drops the test databases made more than [`LEFTOVER_AFTER`] before `now` (Unix seconds),
/// and returns their names. Names that do not carry a time are not ours to judge.
async fn drop_leftovers(admin: &DatabaseConnection, now: u64) -> Result<Vec<String>, sea_orm::DbErr> {
    let rows = admin
        .query_all_raw(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE starts_with(datname, $1)",
            [TEST_DATABASE_PREFIX.into()],
        ))
        .await?;
    let mut dropped = Vec::new();
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        if made_at(&name).is_some_and(|made| made.saturating_add(LEFTOVER_AFTER.as_secs()) < now) {
            admin.execute_unprepared(&drop_statement(&name)).await?;
            dropped.push(name);
        }
    }
    Ok(dropped)
}

/// When a test database was made, from its name.
fn made_at(name: &str) -> Option<u64> {
    let (seconds, _) = name.strip_prefix(TEST_DATABASE_PREFIX)?.split_once('_')?;
    seconds.parse().ok()
}

/// Swaps the database name of a PostgreSQL URL.
fn with_database(url: &str, database: &str) -> String {
    let (head, query) = url.split_once('?').map_or((url, None), |(h, q)| (h, Some(q)));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let base = match head[scheme_end..].find('/') {
        Some(slash) => &head[..scheme_end + slash],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_tells_when_it_was_made_and_other_names_tell_nothing() {
        assert_eq!(made_at("dossier_test_1764604416_0123abcd"), Some(1_764_604_416));
        assert_eq!(made_at("dossier_test_a13d4754fde00d76_0123abcd"), None);
        assert_eq!(made_at("dossier_template_1764604416_0123abcd"), None);
        assert_eq!(made_at("dossier_test_"), None);
    }

    #[tokio::test]
    async fn a_later_run_drops_test_databases_older_than_an_hour_and_keeps_younger_ones() {
        let Some(base) = postgres_base_url() else { return };
        let admin = admin_connection(&base).await;
        let now = unix_now();
        let name = |age: u64| format!("{TEST_DATABASE_PREFIX}{}_{}", now - age, Uuid::new_v4().simple());
        let (stale, young) = (name(LEFTOVER_AFTER.as_secs() + 60), name(60));
        for db in [&stale, &young] {
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{db}\""))
                .await
                .unwrap();
        }
        // The dropper of a test running beside this one may get to the stale one first.
        let dropped = drop_leftovers(&admin, now).await.unwrap();
        assert!(!dropped.contains(&young), "{dropped:?}");
        assert!(!database_exists(&admin, &stale).await);
        assert!(database_exists(&admin, &young).await);
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{young}\""))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn once_the_last_app_is_dropped_its_database_is_gone() {
        let Some(base) = postgres_base_url() else { return };
        let app = crate::spawn_app().await;
        let path = app.database_url.split('?').next().unwrap();
        let name = path.rsplit('/').next().unwrap().to_owned();
        let admin = admin_connection(&base).await;
        assert!(database_exists(&admin, &name).await);
        drop(app);
        assert!(!database_exists(&admin, &name).await);
    }
}
