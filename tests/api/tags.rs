//! Tenant-defined tags: renaming, deleting, and tagging many customers at once.

use dossier_tests::{CREATE_TAG, TestApp, error_code, error_field, pluck, slug, spawn_app};
use serde_json::{Value, json};

const RENAME_TAG: &str = "mutation($input: RenameTagInput!) { renameTag(input: $input) { tag { id name color } } }";
const DELETE_TAG: &str =
    "mutation($input: DeleteTagInput!) { deleteTag(input: $input) { deletedTagId untaggedCustomers } }";
const TAG_CUSTOMERS: &str =
    "mutation($input: TagCustomersInput!) { tagCustomers(input: $input) { changedCustomerIds } }";
const UNTAG_CUSTOMERS: &str =
    "mutation($input: TagCustomersInput!) { untagCustomers(input: $input) { changedCustomerIds } }";
const CUSTOMER_TAGS: &str = "query($id: ID!) { customer(id: $id) { version tags { name } } }";

async fn tag_names(app: &TestApp, token: &str, customer_id: &Value) -> Vec<String> {
    let data = app.ok(token, CUSTOMER_TAGS, json!({ "id": customer_id })).await;
    pluck(&data["customer"]["tags"], "/name")
}

#[tokio::test]
async fn a_renamed_tag_stays_on_its_customers_under_the_new_name() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let c = app
        .create_customer(&t.token, "Tagged", json!({ "tagIds": [vip] }))
        .await;

    let data = app
        .ok(
            &t.token,
            RENAME_TAG,
            json!({ "input": { "id": vip, "name": "key account", "color": "#00AA00" } }),
        )
        .await;

    assert_eq!(data["renameTag"]["tag"]["name"], "key account");
    assert_eq!(data["renameTag"]["tag"]["color"], "#00aa00");
    assert_eq!(tag_names(&app, &t.token, &c["id"]).await, vec!["key account"]);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'tag.update'")
            .await,
        1
    );
}

#[tokio::test]
async fn renaming_a_tag_to_a_taken_name_is_a_duplicate_and_changes_nothing() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let other = app.create_tag(&t.token, "hot lead").await;

    let body = app
        .gql(
            Some(&t.token),
            RENAME_TAG,
            json!({ "input": { "id": other, "name": "vip" } }),
        )
        .await;

    assert_eq!(error_code(&body), "DUPLICATE");
    assert_eq!(body["errors"][0]["extensions"]["candidates"], json!([vip]));
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM tags WHERE name = 'hot lead'").await,
        1
    );
}

#[tokio::test]
async fn deleting_a_tag_takes_it_off_every_customer() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let keep = app.create_tag(&t.token, "keep").await;
    let a = app
        .create_customer(&t.token, "A", json!({ "tagIds": [vip, keep] }))
        .await;
    app.create_customer(&t.token, "B", json!({ "tagIds": [vip] })).await;

    let data = app.ok(&t.token, DELETE_TAG, json!({ "input": { "id": vip } })).await;

    assert_eq!(data["deleteTag"]["untaggedCustomers"], 2);
    assert_eq!(tag_names(&app, &t.token, &a["id"]).await, vec!["keep"]);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM customer_tags").await, 1);
    let again = app
        .gql(Some(&t.token), DELETE_TAG, json!({ "input": { "id": vip } }))
        .await;
    assert_eq!(error_code(&again), "NOT_FOUND");
}

#[tokio::test]
async fn sales_staff_cannot_define_rename_or_delete_tags() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let (_, sales) = app.add_user(&t, "SALES", "sam").await;

    for (query, input) in [
        (CREATE_TAG, json!({ "name": "mine" })),
        (RENAME_TAG, json!({ "id": vip, "name": "mine" })),
        (DELETE_TAG, json!({ "id": vip })),
    ] {
        let body = app.gql(Some(&sales), query, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM tags WHERE name = 'vip'").await, 1);
}

#[tokio::test]
async fn tagging_many_customers_adds_the_tags_once_and_bumps_only_changed_versions() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let hot = app.create_tag(&t.token, "hot").await;
    let already = app
        .create_customer(&t.token, "Already", json!({ "tagIds": [vip, hot] }))
        .await;
    let fresh = app.create_customer(&t.token, "Fresh", json!({})).await;

    let data = app
        .ok(
            &t.token,
            TAG_CUSTOMERS,
            json!({ "input": { "tagIds": [vip, hot, vip], "customerIds": [already["id"], fresh["id"]] } }),
        )
        .await;

    assert_eq!(data["tagCustomers"]["changedCustomerIds"], json!([fresh["id"]]));
    assert_eq!(tag_names(&app, &t.token, &fresh["id"]).await, vec!["hot", "vip"]);
    let version = |data: Value| data["customer"]["version"].clone();
    let already_now = app.ok(&t.token, CUSTOMER_TAGS, json!({ "id": already["id"] })).await;
    let fresh_now = app.ok(&t.token, CUSTOMER_TAGS, json!({ "id": fresh["id"] })).await;
    assert_eq!(version(already_now), already["version"]);
    assert_eq!(version(fresh_now), json!(fresh["version"].as_i64().unwrap() + 1));
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.tag'")
            .await,
        1
    );
}

#[tokio::test]
async fn untagging_removes_only_the_named_tags() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let hot = app.create_tag(&t.token, "hot").await;
    let a = app
        .create_customer(&t.token, "A", json!({ "tagIds": [vip, hot] }))
        .await;
    let b = app.create_customer(&t.token, "B", json!({ "tagIds": [hot] })).await;

    let data = app
        .ok(
            &t.token,
            UNTAG_CUSTOMERS,
            json!({ "input": { "tagIds": [vip], "customerIds": [a["id"], b["id"]] } }),
        )
        .await;

    assert_eq!(data["untagCustomers"]["changedCustomerIds"], json!([a["id"]]));
    assert_eq!(tag_names(&app, &t.token, &a["id"]).await, vec!["hot"]);
    assert_eq!(tag_names(&app, &t.token, &b["id"]).await, vec!["hot"]);
}

#[tokio::test]
async fn bulk_tagging_a_colleagues_customer_is_not_found_and_tags_no_one() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let vip = app.create_tag(&t.token, "vip").await;
    let (sam_id, sam) = app.add_user(&t, "SALES", "sam").await;
    let (_, kim) = app.add_user(&t, "SALES", "kim").await;
    let own = app.create_customer(&sam, "Sam's", json!({})).await;
    let theirs = app.create_customer(&kim, "Kim's", json!({})).await;
    assert_eq!(own["ownerId"], sam_id.as_str());

    let body = app
        .gql(
            Some(&sam),
            TAG_CUSTOMERS,
            json!({ "input": { "tagIds": [vip], "customerIds": [own["id"], theirs["id"]] } }),
        )
        .await;

    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM customer_tags").await, 0);
    let ok = app
        .ok(
            &sam,
            TAG_CUSTOMERS,
            json!({ "input": { "tagIds": [vip], "customerIds": [own["id"]] } }),
        )
        .await;
    assert_eq!(ok["tagCustomers"]["changedCustomerIds"], json!([own["id"]]));
}

#[tokio::test]
async fn bulk_tagging_refuses_unknown_tags_and_empty_or_oversized_lists() {
    let app = spawn_app().await;
    let t = app.signup(&slug("tags")).await;
    let other = app.signup(&slug("other")).await;
    let foreign_tag = app.create_tag(&other.token, "theirs").await;
    let vip = app.create_tag(&t.token, "vip").await;
    let c = app.create_customer(&t.token, "C", json!({})).await;
    let too_many: Vec<Value> = (0..501).map(|_| c["id"].clone()).collect();
    let distinct_too_many: Vec<String> = (0..501).map(|_| uuid::Uuid::now_v7().to_string()).collect();

    for (input, field) in [
        (json!({ "tagIds": [foreign_tag], "customerIds": [c["id"]] }), "tagIds"),
        (json!({ "tagIds": [], "customerIds": [c["id"]] }), "tagIds"),
        (json!({ "tagIds": [vip], "customerIds": [] }), "customerIds"),
        (
            json!({ "tagIds": [vip], "customerIds": distinct_too_many }),
            "customerIds",
        ),
        (json!({ "tagIds": ["not-an-id"], "customerIds": [c["id"]] }), "tagIds"),
    ] {
        let body = app.gql(Some(&t.token), TAG_CUSTOMERS, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "VALIDATION", "{input}");
        assert_eq!(error_field(&body), field, "{input}");
    }
    // The same id many times is one customer.
    let data = app
        .ok(
            &t.token,
            TAG_CUSTOMERS,
            json!({ "input": { "tagIds": [vip], "customerIds": too_many } }),
        )
        .await;
    assert_eq!(data["tagCustomers"]["changedCustomerIds"], json!([c["id"]]));
}
