//! No query crosses tenants: another tenant's ids answer NOT_FOUND and its rows never appear.

use dossier_tests::{CHANGE_CUSTOMER_STATUS, UPDATE_CUSTOMER, error_code, fixtures, slug, spawn_app};
use serde_json::json;

#[tokio::test]
async fn tenant_a_cannot_reach_tenant_b_customers_by_any_id_or_filter() {
    let app = spawn_app().await;
    let a = app.signup(&slug("tenant-a")).await;
    let b = app.signup(&slug("tenant-b")).await;
    let tag_id = app.create_tag(&b.token, "vip").await;
    let secret = app
        .create_customer(
            &b.token,
            "Secret Customer B",
            json!({ "code": "B-1", "tagIds": [tag_id], "industry": "Mining" }),
        )
        .await;
    let id = secret["id"].as_str().unwrap();
    app.create_customer(&a.token, "Customer of A", json!({})).await;

    let read = app
        .gql(
            Some(&a.token),
            "query($id: ID!) { customer(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let update = app
        .gql(
            Some(&a.token),
            UPDATE_CUSTOMER,
            json!({ "input": { "id": id, "version": 1, "name": "Taken" } }),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND");
    for mutation in ["archiveCustomer", "restoreCustomer"] {
        let body = app
            .gql(
                Some(&a.token),
                &fixtures::mutation(mutation, "ArchiveCustomerInput", "customer { id }"),
                json!({ "input": { "id": id } }),
            )
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{mutation}");
    }
    let status = app
        .gql(
            Some(&a.token),
            CHANGE_CUSTOMER_STATUS,
            json!({ "input": { "id": id, "status": "LOST" } }),
        )
        .await;
    assert_eq!(error_code(&status), "NOT_FOUND");

    let list = "query($filter: CustomerFilter) { customers(first: 100, filter: $filter) { totalCount edges { node { id name } } } }";
    for filter in [
        json!(null),
        json!({ "search": "Secret" }),
        json!({ "search": "B-1" }),
        json!({ "ownerId": b.owner_id }),
        json!({ "tagId": tag_id }),
        json!({ "industry": "Mining" }),
        json!({ "archived": true }),
    ] {
        let data = app.ok(&a.token, list, json!({ "filter": filter })).await;
        let names: Vec<&str> = data["customers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap())
            .collect();
        assert!(
            !names.contains(&"Secret Customer B"),
            "filter {filter} leaked: {names:?}"
        );
        assert!(data["customers"]["totalCount"].as_u64().unwrap() <= 1);
    }
    let tagged = app
        .gql(
            Some(&a.token),
            dossier_tests::CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE", "tagIds": [tag_id] } }),
        )
        .await;
    assert_eq!(error_code(&tagged), "VALIDATION", "B's tag cannot be attached in A");
    let owned = app
        .gql(
            Some(&a.token),
            dossier_tests::CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE", "ownerId": b.owner_id } }),
        )
        .await;
    assert_eq!(error_code(&owned), "VALIDATION", "B's user cannot own A's customer");

    // B's customer is untouched.
    let intact = app
        .ok(
            &b.token,
            "query($id: ID!) { customer(id: $id) { name archived status version } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        intact["customer"],
        json!({ "name": "Secret Customer B", "archived": false, "status": "POTENTIAL", "version": 1 })
    );
}

#[tokio::test]
async fn customer_codes_are_unique_per_tenant_not_globally() {
    let app = spawn_app().await;
    let a = app.signup(&slug("tenant-a")).await;
    let b = app.signup(&slug("tenant-b")).await;
    let ca = app.create_customer(&a.token, "First of A", json!({})).await;
    let cb = app.create_customer(&b.token, "First of B", json!({})).await;
    assert_eq!(ca["code"], "C-000001");
    assert_eq!(cb["code"], "C-000001");
}

#[tokio::test]
async fn another_tenants_audit_rows_and_users_stay_invisible() {
    let app = spawn_app().await;
    let a = app.signup(&slug("tenant-a")).await;
    let b = app.signup(&slug("tenant-b")).await;
    let cb = app.create_customer(&b.token, "B's", json!({})).await;
    let audit = app
        .ok(
            &a.token,
            "query($id: ID) { auditLog(filter: { entityId: $id }) { edges { node { id } } } }",
            json!({ "id": cb["id"] }),
        )
        .await;
    assert_eq!(audit["auditLog"]["edges"], json!([]));
    let users = app.ok(&a.token, "{ users { id } }", json!({})).await;
    assert_eq!(users["users"], json!([{ "id": a.owner_id }]));
}
