//! Upgrades: what is pending is reported (`dossier migrate --check`), and replicas migrating
//! one database at once apply each migration once.

use dossier::domain::Store;
use dossier_tests::{empty_database, postgres_base_url};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, Statement};

fn data_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dossier-migrations-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

async fn store_over(database_url: &str) -> Store {
    let vars = [
        ("DOSSIER_DATABASE_URL", database_url.to_owned()),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET.to_owned()),
        ("DOSSIER_MASTER_KEYS", dossier::crypto::MasterKeyRing::generate_spec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = dossier::Config::from_vars(&vars).expect("valid settings");
    Store::connect(&config).await.expect("store connects")
}

fn every_migration() -> Vec<String> {
    Migrator::migrations().iter().map(|m| m.name().to_owned()).collect()
}

#[tokio::test]
async fn pending_migrations_are_listed_until_they_are_applied() {
    let dir = data_dir();
    let (url, _database) = empty_database(&dir).await;
    let store = store_over(&url).await;

    let pending = store.pending_migrations().await.expect("pending migrations");
    assert!(!pending.is_empty());
    assert_eq!(pending, every_migration(), "an empty database lacks every migration");

    store.migrate().await.expect("migrated");
    assert_eq!(
        store.pending_migrations().await.expect("pending migrations"),
        Vec::<String>::new()
    );
    // Migrating again changes nothing.
    store.migrate().await.expect("migrated again");
    assert_eq!(
        store.pending_migrations().await.expect("pending migrations"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn replicas_migrating_one_database_at_once_apply_each_migration_once() {
    // SQLite admits one Dossier process per database file; replicas share PostgreSQL only.
    if postgres_base_url().is_none() {
        return;
    }
    let dir = data_dir();
    let (url, _database) = empty_database(&dir).await;
    let replicas = [store_over(&url).await, store_over(&url).await, store_over(&url).await];

    let outcomes = futures_util::future::join_all(replicas.iter().map(|store| store.migrate())).await;
    for outcome in outcomes {
        outcome.expect("every replica's migrate succeeds");
    }

    let db = Database::connect(&url).await.expect("raw connection");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, COUNT(*) FROM seaql_migrations GROUP BY version ORDER BY version",
        ))
        .await
        .expect("applied migrations");
    let applied: Vec<(String, i64)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).expect("version"),
                row.try_get_by_index::<i64>(1).expect("count"),
            )
        })
        .collect();
    let once: Vec<(String, i64)> = every_migration().into_iter().map(|name| (name, 1)).collect();
    assert_eq!(applied, once, "each migration recorded exactly once");
    for store in &replicas {
        assert!(store.pending_migrations().await.expect("pending").is_empty());
    }
}
