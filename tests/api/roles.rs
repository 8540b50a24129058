//! Owner-based access: sales see and change only their own customers; viewers only read.

use dossier_tests::{
    ARCHIVE_CUSTOMER, CHANGE_CUSTOMER_STATUS, CREATE_CUSTOMER, CREATE_TAG, UPDATE_CUSTOMER, error_code, slug, spawn_app,
};
use serde_json::json;

const GET: &str = "query($id: ID!) { customer(id: $id) { id name } }";
const LIST: &str = "{ customers(first: 50) { totalCount edges { node { id name } } } }";

#[tokio::test]
async fn sales_cannot_read_or_change_a_colleagues_customer() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, alice) = app.add_user(&tenant, "SALES", "alice").await;
    let (_, bob) = app.add_user(&tenant, "SALES", "bob").await;
    let bobs = app.create_customer(&bob, "Bob's client", json!({})).await;
    let id = bobs["id"].as_str().unwrap();

    let read = app.gql(Some(&alice), GET, json!({ "id": id })).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let update = app
        .gql(
            Some(&alice),
            UPDATE_CUSTOMER,
            json!({ "input": { "id": id, "version": 1, "name": "Mine now" } }),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND");
    let archive = app
        .gql(Some(&alice), ARCHIVE_CUSTOMER, json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&archive), "NOT_FOUND");
    let status = app
        .gql(
            Some(&alice),
            CHANGE_CUSTOMER_STATUS,
            json!({ "input": { "id": id, "status": "LOST" } }),
        )
        .await;
    assert_eq!(error_code(&status), "NOT_FOUND");

    let alices_view = app.ok(&alice, LIST, json!({})).await;
    assert_eq!(alices_view["customers"]["totalCount"], 0);
    let bobs_view = app.ok(&bob, LIST, json!({})).await;
    assert_eq!(bobs_view["customers"]["totalCount"], 1);
    let unchanged = app.ok(&bob, GET, json!({ "id": id })).await;
    assert_eq!(unchanged["customer"]["name"], "Bob's client");
}

#[tokio::test]
async fn sales_cannot_hand_a_customer_to_someone_else() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, alice) = app.add_user(&tenant, "SALES", "alice").await;
    let (bob_id, _) = app.add_user(&tenant, "SALES", "bob").await;
    let body = app
        .gql(
            Some(&alice),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE", "ownerId": bob_id } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test]
async fn managers_see_and_reassign_every_customer() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, manager) = app.add_user(&tenant, "MANAGER", "mia").await;
    let (alice_id, alice) = app.add_user(&tenant, "SALES", "alice").await;
    let (bob_id, _) = app.add_user(&tenant, "SALES", "bob").await;
    let customer = app.create_customer(&alice, "Alice's client", json!({})).await;
    let seen = app.ok(&manager, LIST, json!({})).await;
    assert_eq!(seen["customers"]["totalCount"], 1);
    assert_eq!(customer["ownerId"], alice_id.as_str());
    let moved = app
        .ok(
            &manager,
            UPDATE_CUSTOMER,
            json!({ "input": { "id": customer["id"], "version": 1, "ownerId": bob_id } }),
        )
        .await;
    assert_eq!(moved["updateCustomer"]["customer"]["ownerId"], bob_id.as_str());
    let gone = app.ok(&alice, LIST, json!({})).await;
    assert_eq!(
        gone["customers"]["totalCount"], 0,
        "alice no longer sees the customer she lost"
    );
}

#[tokio::test]
async fn viewers_read_everything_but_write_nothing() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, viewer) = app.add_user(&tenant, "VIEWER", "vic").await;
    let customer = app.create_customer(&tenant.token, "Visible Co", json!({})).await;
    let id = customer["id"].as_str().unwrap();
    let read = app.ok(&viewer, GET, json!({ "id": id })).await;
    assert_eq!(read["customer"]["name"], "Visible Co");

    let create = app
        .gql(
            Some(&viewer),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE" } }),
        )
        .await;
    assert_eq!(error_code(&create), "FORBIDDEN");
    let update = app
        .gql(
            Some(&viewer),
            UPDATE_CUSTOMER,
            json!({ "input": { "id": id, "version": 1, "name": "changed" } }),
        )
        .await;
    assert_eq!(error_code(&update), "FORBIDDEN");
    let archive = app
        .gql(Some(&viewer), ARCHIVE_CUSTOMER, json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&archive), "FORBIDDEN");
    let tag = app
        .gql(Some(&viewer), CREATE_TAG, json!({ "input": { "name": "vip" } }))
        .await;
    assert_eq!(error_code(&tag), "FORBIDDEN");
    let still = app.ok(&viewer, GET, json!({ "id": id })).await;
    assert_eq!(still["customer"]["name"], "Visible Co");
}

#[tokio::test]
async fn a_code_clash_does_not_reveal_a_colleagues_customer_to_sales() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, alice) = app.add_user(&tenant, "SALES", "alice").await;
    app.create_customer(&tenant.token, "Owner's", json!({ "code": "KEY-1" }))
        .await;
    let body = app
        .gql(
            Some(&alice),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE", "code": "KEY-1" } }),
        )
        .await;
    assert_eq!(error_code(&body), "DUPLICATE");
    assert_eq!(body["errors"][0]["extensions"]["candidates"], json!([]));
}
