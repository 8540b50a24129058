//! The benchmark's seed: a tenant whose customers look, through the API, like customers made
//! through it — contacts sealed and searchable, masked for a viewer, whole files nested.

use dossier_tests::spawn_app;
use serde_json::json;

const FILE: &str = "{ customers(first: 2, orderBy: NAME_ASC) { totalCount nodes { code name status
  contacts { name email phone } contracts { totalCount nodes { number value { amount currency } } }
  transactions { totalCount } interactions { totalCount } } } }";

#[tokio::test]
async fn a_seeded_book_reads_like_one_written_through_the_api() {
    let app = spawn_app().await;
    let seeded = dossier::seed::seed_bench(&app.store().await, "bench", 3)
        .await
        .expect("seeded");

    let data = app.ok(seeded.admin_key.expose(), FILE, json!({})).await;
    let page = &data["customers"];
    assert_eq!(page["totalCount"], 3);
    let first = &page["nodes"][0];
    assert_eq!(first["code"], "C-0000000");
    assert_eq!(first["status"], "CUSTOMER");
    assert_eq!(
        first["contacts"],
        json!([
            { "name": "Buyer 0", "email": "buyer0@bench.example.com", "phone": null },
            { "name": "Office 0", "email": null, "phone": "+8613000000000" },
        ])
    );
    assert_eq!(
        first["contracts"]["nodes"][0]["value"],
        json!({ "amount": "12000.00", "currency": "CNY" })
    );
    assert_eq!(first["transactions"]["totalCount"], 5);
    assert_eq!(first["interactions"]["totalCount"], 2);

    let found = app
        .ok(
            seeded.admin_key.expose(),
            "{ customers(filter: { phone: \"+8613000000002\" }) { nodes { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(found["customers"]["nodes"], json!([{ "name": "Customer 0000002" }]));

    let masked = app.ok(seeded.viewer_key.expose(), FILE, json!({})).await;
    assert_eq!(
        masked["customers"]["nodes"][0]["contacts"][0]["email"],
        "b***@bench.example.com"
    );
    let stored = app
        .raw_texts("SELECT email FROM contacts WHERE email IS NOT NULL")
        .await;
    assert_eq!(stored.len(), 3);
    assert!(stored.iter().all(|e| !e.contains("bench.example.com")), "{stored:?}");
}

#[tokio::test]
async fn seeding_a_tenant_twice_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let store = app.store().await;
    dossier::seed::seed_bench(&store, "bench", 2).await.expect("seeded");
    let again = dossier::seed::seed_bench(&store, "bench", 2).await;
    assert!(
        matches!(again, Err(dossier::domain::DomainError::Validation { .. })),
        "{:?}",
        again.err()
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM customers").await, 2);
}

#[tokio::test]
async fn a_growing_seed_leaves_the_planner_statistics_of_its_size() {
    let app = spawn_app().await;
    dossier::seed::seed_bench(&app.store().await, "bench", 1_250)
        .await
        .expect("seeded");
    // Refreshed once the book reached 1,000: the planner knows the tables are not empty.
    let known = if app.is_postgres() {
        app.raw_count("SELECT CAST(reltuples AS BIGINT) FROM pg_class WHERE relname = 'contacts'")
            .await
    } else {
        app.raw_count("SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'contacts'")
            .await
    };
    assert!(known > 0, "statistics of contacts: {known}");
}
