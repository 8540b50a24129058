//! A database of its own for every test app. On PostgreSQL it is cloned from a template that
//! is migrated once per set of migrations, because migrating each test's database from
//! scratch cost more than most tests themselves; each test database is dropped again when
//! its app is.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, Statement};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Changes whenever a migration does (see build.rs), so that a stale template is never used.
const TEMPLATE: &str = concat!("dossier_template_", env!("DOSSIER_MIGRATIONS_HASH"));

/// Serialises building the template across test processes on the same server.
const TEMPLATE_LOCK: i64 = 7_305_662;

/// How long dropping a test database may hold up the end of its test.
const DROP_WITHIN: Duration = Duration::from_secs(60);

/// The server of `DOSSIER_TEST_DATABASE_URL`, when the suite runs on PostgreSQL.
pub fn postgres_base_url() -> Option<String> {
    std::env::var("DOSSIER_TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
}

/// A database created for one test app, dropped with it.
pub(crate) struct OwnedDatabase {
    admin_url: String,
    name: String,
}

/// A fresh database for one app: a SQLite file in `data_dir`, or a clone of the migrated
/// template on PostgreSQL.
pub(crate) async fn fresh_database(data_dir: &std::path::Path) -> (String, Option<OwnedDatabase>) {
    let Some(base) = postgres_base_url() else {
        return (
            format!("sqlite://{}?mode=rwc", data_dir.join("dossier.db").display()),
            None,
        );
    };
    let template = migrated_template(&base).await;
    // Named after the migrations too, so that a leftover says which run it came from.
    let name = format!(
        "dossier_test_{}_{}",
        env!("DOSSIER_MIGRATIONS_HASH"),
        Uuid::new_v4().simple()
    );
    let admin = admin_connection(&base).await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))
        .await
        .expect("clone the template into a test database");
    admin.close().await.ok();
    let url = with_database(&base, &name);
    (url, Some(OwnedDatabase { admin_url: base, name }))
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
        .expect("look for the template")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count") > 0
}

async fn admin_connection(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url);
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    Database::connect(options)
        .await
        .expect("connect to DOSSIER_TEST_DATABASE_URL")
}

impl Drop for OwnedDatabase {
    /// Drops the database on a thread and runtime of its own (a drop cannot await, and the
    /// test's runtime is busy dropping us), waiting a bounded time so that a stuck server
    /// cannot hang the test; FORCE ends the connections the app's pools still hold.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let (done, finished) = std::sync::mpsc::channel();
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime to drop the test database on");
            let dropped = runtime.block_on(async {
                tokio::time::timeout(DROP_WITHIN, async {
                    let admin = admin_connection(&admin_url).await;
                    let dropped = admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                    admin.close().await.ok();
                    dropped
                })
                .await
            });
            match dropped {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => eprintln!("test database {name} not dropped: {e}"),
                Err(_) => eprintln!("test database {name} not dropped within {DROP_WITHIN:?}"),
            }
            let _ = done.send(());
        });
        if finished.recv_timeout(DROP_WITHIN + Duration::from_secs(5)).is_ok() {
            let _ = dropper.join();
        }
    }
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
