//! Every mutation leaves an audit row: who, what, which record, which fields, which request.

use dossier_tests::{CREATE_CUSTOMER, UPDATE_CUSTOMER, error_code, slug, spawn_app};
use serde_json::json;

const AUDIT: &str = "query($filter: AuditLogFilter) { auditLog(filter: $filter, first: 50) {
    edges { node { action entity entityId changedFields actorId apiKeyId requestId } } } }";

#[tokio::test]
async fn customer_mutations_are_audited_with_actor_fields_and_request_id() {
    let app = spawn_app().await;
    let t = app.signup(&slug("audit")).await;
    let created = app
        .gql_with_headers(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "Audited", "source": "ONLINE", "notes": "private words" } }),
            &[("x-request-id", "req-create-1")],
        )
        .await;
    let id = created["data"]["createCustomer"]["customer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(
        &t.token,
        UPDATE_CUSTOMER,
        json!({ "input": { "id": id, "version": 1, "name": "Audited Again", "region": "West" } }),
    )
    .await;
    app.change_customer_status(&t.token, &id, "INTENT").await;
    app.archive_customer(&t.token, &id).await;

    let data = app.ok(&t.token, AUDIT, json!({ "filter": { "entityId": id } })).await;
    let rows = data["auditLog"]["edges"].as_array().unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r["node"]["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "customer.archive",
            "customer.change_status",
            "customer.update",
            "customer.create"
        ],
        "newest first"
    );
    let update = &rows[2]["node"];
    assert_eq!(update["changedFields"], json!(["name", "region"]));
    assert_eq!(update["actorId"], t.owner_id.as_str());
    assert_eq!(update["entity"], "customer");
    let create = &rows[3]["node"];
    assert_eq!(create["requestId"], "req-create-1");
    assert!(create["changedFields"].as_array().unwrap().contains(&json!("notes")));

    // Field names only: the values never reach the audit table.
    let leaked = app
        .raw_count("SELECT COUNT(*) FROM audit_log WHERE CAST(changed_fields AS TEXT) LIKE '%private words%'")
        .await;
    assert_eq!(leaked, 0);
}

#[tokio::test]
async fn tenancy_mutations_are_audited_and_the_log_is_for_admins_only() {
    let app = spawn_app().await;
    let t = app.signup(&slug("audit")).await;
    let (manager_id, manager) = app.add_user(&t, "MANAGER", "mia").await;
    app.create_api_key(&t.token, "VIEWER").await;
    app.create_tag(&t.token, "vip").await;

    let data = app.ok(&t.token, AUDIT, json!({})).await;
    let actions: Vec<&str> = data["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"]["action"].as_str().unwrap())
        .collect();
    for expected in [
        "tenant.create",
        "user.create",
        "user.login",
        "api_key.create",
        "tag.create",
    ] {
        assert!(actions.contains(&expected), "{expected} missing from {actions:?}");
    }
    let logins = app
        .ok(&t.token, AUDIT, json!({ "filter": { "actorId": manager_id } }))
        .await;
    assert_eq!(logins["auditLog"]["edges"][0]["node"]["action"], "user.login");

    let refused = app.gql(Some(&manager), AUDIT, json!({})).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}
