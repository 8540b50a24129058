//! PostgreSQL only: the row-level security policies stop a query that forgot its tenant
//! filter, as the application role sees it. On SQLite there is no such second wall, so the
//! test has nothing to prove there and returns at once.

use dossier_tests::{slug, spawn_app};
use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

/// A transaction as the application role, with `tenant` as the current tenant (or none).
async fn as_app(db: &sea_orm::DatabaseConnection, tenant: Option<&str>) -> sea_orm::DatabaseTransaction {
    let tx = db.begin().await.unwrap();
    tx.execute_unprepared("SET LOCAL ROLE dossier_app").await.unwrap();
    if let Some(t) = tenant {
        tx.execute_unprepared(&format!("SELECT set_config('app.tenant_id', '{t}', true)"))
            .await
            .unwrap();
    }
    tx
}

async fn count(conn: &impl ConnectionTrait, table: &str) -> i64 {
    let sql = Statement::from_string(conn.get_database_backend(), format!("SELECT COUNT(*) FROM {table}"));
    conn.query_one_raw(sql)
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}

async fn count_as_app(db: &sea_orm::DatabaseConnection, tenant: Option<&str>) -> i64 {
    count_table_as_app(db, tenant, "customers").await
}

async fn count_table_as_app(db: &sea_orm::DatabaseConnection, tenant: Option<&str>, table: &str) -> i64 {
    let tx = as_app(db, tenant).await;
    let n = count(&tx, table).await;
    tx.rollback().await.unwrap();
    n
}

#[tokio::test]
async fn the_policy_alone_confines_an_unfiltered_query_to_the_current_tenant() {
    let app = spawn_app().await;
    if !app.is_postgres() {
        return;
    }
    let a = app.signup(&slug("rls-a")).await;
    let b = app.signup(&slug("rls-b")).await;
    for i in 0..2 {
        app.create_customer(
            &a.token,
            &format!("A{i}"),
            json!({ "contacts": [{ "name": format!("A{i}") }] }),
        )
        .await;
    }
    for i in 0..3 {
        app.create_customer(
            &b.token,
            &format!("B{i}"),
            json!({ "contacts": [{ "name": format!("B{i}") }] }),
        )
        .await;
    }
    let db = app.raw_db().await;
    assert_eq!(count_as_app(&db, Some(&a.id)).await, 2);
    assert_eq!(count_as_app(&db, Some(&b.id)).await, 3);
    assert_eq!(count_as_app(&db, None).await, 0, "no tenant set: no rows");

    // Writing a row of another tenant is refused by the WITH CHECK clause.
    let tx = as_app(&db, Some(&a.id)).await;
    let moved = tx
        .execute_unprepared(&format!("UPDATE customers SET tenant_id = '{}'", b.id))
        .await;
    assert!(moved.is_err(), "moving rows to another tenant must fail");
    tx.rollback().await.unwrap();

    // The superuser connection sees everything, proving the rows are really there.
    assert_eq!(count(&db, "customers").await, 5);

    // The same wall stands around contacts and the tenants' wrapped keys.
    for table in ["contacts", "tenant_keys", "users", "audit_log"] {
        assert_eq!(
            count_table_as_app(&db, None, table).await,
            0,
            "{table} without a tenant"
        );
        assert!(
            count_table_as_app(&db, Some(&a.id), table).await < count(&db, table).await,
            "{table} for one tenant"
        );
    }
}
