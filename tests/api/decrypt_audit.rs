//! The decrypt audit of reads is written behind them (the reveal log): not inside the read's
//! transaction, never lost while the database refuses it, written before a graceful stop,
//! and visible to the audit log at once.

use std::time::Duration;

use dossier_tests::{Tenant, TestApp, slug, spawn_app, spawn_app_with};
use serde_json::{Value, json};

const PAGE: &str = "{ customers(first: 10) { nodes { id contacts { email phone } } } }";
const DECRYPTS: &str = "SELECT COUNT(*) FROM audit_log WHERE action = 'contact.decrypt'";

async fn book_of_three(app: &TestApp, t: &Tenant) {
    for i in 0..3 {
        app.create_customer(
            &t.token,
            &format!("Client {i}"),
            json!({ "contacts": [{ "email": format!("c{i}@example.com"), "phone": format!("+861380013800{i}") }] }),
        )
        .await;
    }
}

/// The audit log waits for the rows this replica queued before it.
async fn decrypts_in_audit_log(app: &TestApp, t: &Tenant) -> Vec<Value> {
    let log = app
        .ok(
            &t.token,
            "{ auditLog(first: 100) { edges { node { action changedFields } } } }",
            json!({}),
        )
        .await;
    log["auditLog"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .filter(|n| n["action"] == "contact.decrypt")
        .collect()
}

#[tokio::test]
async fn a_read_that_decrypts_runs_as_many_statements_as_one_that_does_not() {
    let app = spawn_app().await;
    let t = app.signup(&slug("reveal-statements")).await;
    book_of_three(&app, &t).await;
    let (plain, decrypting) = app.ok_counting_statements(&t.token, PAGE, json!({})).await;
    let without_contact_data = "{ customers(first: 10) { nodes { id contacts { id } } } }";
    let (_, not_decrypting) = app
        .ok_counting_statements(&t.token, without_contact_data, json!({}))
        .await;
    assert!(plain.to_string().contains("c1@example.com"));
    // The audit row is not inserted by the read's own transaction.
    assert_eq!(decrypting, not_decrypting);
    let decrypts = decrypts_in_audit_log(&app, &t).await;
    assert_eq!(decrypts.len(), 1, "{decrypts:?}");
    assert_eq!(decrypts[0]["changedFields"], json!(["email", "phone"]));
}

#[tokio::test]
async fn the_audit_log_shows_the_rows_its_replica_still_holds() {
    let app = spawn_app_with(&[("DOSSIER_DECRYPT_AUDIT_FLUSH_MS", "3600000")]).await;
    let t = app.signup(&slug("reveal-wait")).await;
    book_of_three(&app, &t).await;
    app.ok(&t.token, PAGE, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.raw_count(DECRYPTS).await, 0, "held for the flush interval");
    assert_eq!(decrypts_in_audit_log(&app, &t).await.len(), 1);
    assert_eq!(app.raw_count(DECRYPTS).await, 1);
}

#[tokio::test]
async fn concurrent_reads_each_leave_their_audit_row() {
    let app = spawn_app().await;
    let t = app.signup(&slug("reveal-concurrent")).await;
    book_of_three(&app, &t).await;
    let reads = (0..12).map(|_| app.ok(&t.token, PAGE, json!({})));
    for page in futures_util::future::join_all(reads).await {
        assert_eq!(page["customers"]["nodes"].as_array().map(Vec::len), Some(3));
    }
    assert_eq!(decrypts_in_audit_log(&app, &t).await.len(), 12);
    assert_eq!(app.raw_count(DECRYPTS).await, 12);
}

#[tokio::test]
async fn rows_the_database_refuses_are_kept_and_written_once_it_accepts_them() {
    let app = spawn_app().await;
    let t = app.signup(&slug("reveal-refused")).await;
    book_of_three(&app, &t).await;
    refuse_decrypt_audit_rows(&app, true).await;
    for _ in 0..3 {
        let page = app.ok(&t.token, PAGE, json!({})).await;
        assert!(page.to_string().contains("c2@example.com"));
    }
    // Retried behind the reads, refused each time.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.raw_count(DECRYPTS).await, 0);
    refuse_decrypt_audit_rows(&app, false).await;
    let mut written = 0;
    for _ in 0..100 {
        written = app.raw_count(DECRYPTS).await;
        if written == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(written, 3, "every refused row is written once the database takes it");
}

/// A trigger refusing decrypt audit rows, as a full or failing disk would.
async fn refuse_decrypt_audit_rows(app: &TestApp, refuse: bool) {
    let statements: &[&str] = match (app.is_postgres(), refuse) {
        (true, true) => &[
            "CREATE FUNCTION refuse_decrypt_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$",
            "CREATE TRIGGER refuse_decrypt_audit BEFORE INSERT ON audit_log FOR EACH ROW \
             WHEN (NEW.action = 'contact.decrypt') EXECUTE FUNCTION refuse_decrypt_audit()",
        ],
        (true, false) => &["DROP TRIGGER refuse_decrypt_audit ON audit_log"],
        (false, true) => &["CREATE TRIGGER refuse_decrypt_audit BEFORE INSERT ON audit_log \
             WHEN NEW.action = 'contact.decrypt' BEGIN SELECT RAISE(ABORT, 'refused'); END"],
        (false, false) => &["DROP TRIGGER refuse_decrypt_audit"],
    };
    for sql in statements {
        app.raw_execute(sql).await;
    }
}

#[tokio::test]
async fn a_graceful_stop_writes_the_rows_still_queued() {
    let app = spawn_app().await;
    let t = app.signup(&slug("reveal-stop")).await;
    book_of_three(&app, &t).await;
    let before = app.raw_count(DECRYPTS).await;
    // A replica of its own that would hold its rows for an hour, stopped after its read.
    let mut config = app.config();
    config.decrypt_audit_flush = Duration::from_secs(3600);
    let replica = dossier::Application::build(config).await.expect("replica builds");
    let base = format!("http://{}", replica.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(replica.run_until(async {
        let _ = stopped.await;
    }));
    let answer: Value = reqwest::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&t.token)
        .json(&json!({ "query": PAGE }))
        .send()
        .await
        .expect("replica answers")
        .json()
        .await
        .expect("json");
    assert!(answer.to_string().contains("c0@example.com"), "{answer}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.raw_count(DECRYPTS).await, before, "queued, not yet written");
    stop.send(()).expect("replica runs");
    let ended = tokio::time::timeout(Duration::from_secs(10), server).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "replica stopped cleanly");
    assert_eq!(app.raw_count(DECRYPTS).await, before + 1);
}
