//! The tenant wall's catalog: every table that holds a tenant's rows is known to the kernel
//! as a tenant table (so its queries are scoped), and on PostgreSQL it is also under forced
//! row-level security. A table added without either fails here.

use dossier_tests::spawn_app;

#[tokio::test]
async fn every_table_with_a_tenant_column_is_a_tenant_entity_and_under_forced_row_level_security() {
    let app = spawn_app().await;
    let mut with_tenant_column = if app.is_postgres() {
        app.raw_texts(
            "SELECT table_name::text FROM information_schema.columns \
             WHERE column_name = 'tenant_id' AND table_schema = current_schema()",
        )
        .await
    } else {
        app.raw_texts(
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c \
             WHERE m.type = 'table' AND c.name = 'tenant_id'",
        )
        .await
    };
    with_tenant_column.sort();
    let mut known = dossier::domain::kernel::tenant_tables();
    known.sort();
    assert!(!known.is_empty());
    assert_eq!(
        with_tenant_column, known,
        "tables with tenant_id vs TenantEntity implementations"
    );

    if app.is_postgres() {
        let mut unguarded = app
            .raw_texts(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE n.nspname = current_schema() AND c.relkind = 'r' \
                 AND c.relname IN (SELECT table_name FROM information_schema.columns \
                                   WHERE column_name = 'tenant_id' AND table_schema = current_schema()) \
                 AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
            )
            .await;
        unguarded.sort();
        assert!(
            unguarded.is_empty(),
            "tenant tables without forced row-level security: {unguarded:?}"
        );
    }
}
