//! Bad input is refused with VALIDATION naming the field, and nothing is stored.

use dossier_tests::{CREATE_CUSTOMER, UPDATE_CUSTOMER, error_code, error_field, slug, spawn_app};
use serde_json::{Value, json};

fn input(extra: Value) -> Value {
    let mut base = json!({ "kind": "INDIVIDUAL", "name": "Valid Name", "source": "ONLINE" });
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    json!({ "input": base })
}

#[tokio::test]
async fn each_invalid_customer_field_is_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let cases = [
        (json!({ "name": "   " }), "name"),
        (json!({ "name": "x".repeat(201) }), "name"),
        (json!({ "firstContactDate": "2026-02-30" }), "firstContactDate"),
        (json!({ "firstContactDate": "15/03/2026" }), "firstContactDate"),
        (json!({ "firstContactDate": "2999-01-01" }), "firstContactDate"),
        (json!({ "birthday": "1990-13-01" }), "birthday"),
        (json!({ "code": "has space" }), "code"),
        (json!({ "code": "4111111111111111" }), "code"),
        (json!({ "notes": "身份证 11010519491231002X 已核实" }), "notes"),
        (json!({ "hobbies": "pays with 4111 1111 1111 1111" }), "hobbies"),
        (json!({ "familyNotes": "card 5555-5555-5555-4444" }), "familyNotes"),
        (json!({ "specialNeeds": "a".repeat(2001) }), "specialNeeds"),
        (
            json!({ "budget": { "min": "10", "max": "5", "currency": "CNY" } }),
            "budget.max",
        ),
        (json!({ "budget": { "min": "1.234", "currency": "CNY" } }), "budget.min"),
        (
            json!({ "budget": { "min": "10", "currency": "YUAN" } }),
            "budget.currency",
        ),
        (json!({ "ownerId": "00000000-0000-0000-0000-000000000000" }), "ownerId"),
        (json!({ "ownerId": "not-a-uuid" }), "ownerId"),
        (json!({ "tagIds": ["00000000-0000-0000-0000-000000000000"] }), "tagIds"),
    ];
    for (extra, field) in cases {
        let body = app.gql(Some(&t.token), CREATE_CUSTOMER, input(extra.clone())).await;
        assert_eq!(error_code(&body), "VALIDATION", "{extra}: {body}");
        assert_eq!(error_field(&body), field, "{extra}");
        assert!(body["data"].is_null() || body["data"]["createCustomer"].is_null());
    }
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM customers").await,
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn values_outside_a_closed_set_or_of_the_wrong_type_are_validation_errors() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    for extra in [
        json!({ "kind": "ALIEN" }),
        json!({ "source": "TV" }),
        json!({ "status": "HAPPY" }),
        json!({ "birthday": 19900101 }),
    ] {
        let body = app.gql(Some(&t.token), CREATE_CUSTOMER, input(extra.clone())).await;
        assert_eq!(error_code(&body), "VALIDATION", "{extra}: {body}");
    }
    let missing = app
        .gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "source": "ONLINE" } }),
        )
        .await;
    assert_eq!(error_code(&missing), "VALIDATION");
}

#[tokio::test]
async fn an_update_is_validated_too_and_a_required_field_cannot_be_cleared() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Keeper", json!({})).await;
    for (extra, field) in [
        (json!({ "name": null }), "name"),
        (json!({ "firstContactDate": null }), "firstContactDate"),
        (json!({ "notes": "ID 11010519491231002X" }), "notes"),
        (json!({ "birthday": "yesterday" }), "birthday"),
    ] {
        let mut payload = json!({ "id": c["id"], "version": 1 });
        for (k, v) in extra.as_object().unwrap() {
            payload[k] = v.clone();
        }
        let body = app
            .gql(Some(&t.token), UPDATE_CUSTOMER, json!({ "input": payload }))
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{extra}");
        assert_eq!(error_field(&body), field);
    }
    let still = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { name version } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(still["customer"], json!({ "name": "Keeper", "version": 1 }));
}

#[tokio::test]
async fn signup_input_is_validated_field_by_field() {
    let app = spawn_app().await;
    let query = "mutation($input: CreateTenantInput!) { createTenant(input: $input) { token } }";
    let good = json!({ "name": "Acme", "slug": slug("acme"), "adminEmail": "a@acme.example.com", "adminPassword": "long-enough-1" });
    for (key, value, field) in [
        ("slug", json!("-bad-"), "slug"),
        ("slug", json!("ab"), "slug"),
        ("adminEmail", json!("not-an-email"), "adminEmail"),
        ("adminPassword", json!("short"), "adminPassword"),
        ("timezone", json!("Mars/Olympus"), "timezone"),
        ("name", json!(" "), "name"),
    ] {
        let mut bad = good.clone();
        bad[key] = value;
        let body = app.gql(None, query, json!({ "input": bad })).await;
        assert_eq!(error_code(&body), "VALIDATION", "{key}");
        assert_eq!(error_field(&body), field);
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM tenants").await, 0);
}

#[tokio::test]
async fn oversized_pages_deep_queries_and_bad_cursors_are_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let big = app
        .gql(Some(&t.token), "{ customers(first: 101) { totalCount } }", json!({}))
        .await;
    assert_eq!(error_code(&big), "VALIDATION");
    assert_eq!(error_field(&big), "first");
    let cursor = app
        .gql(
            Some(&t.token),
            "{ customers(after: \"bm9wZQ\") { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_field(&cursor), "after");
    let deep =
        "{ customers { edges { node { owner { id } tags { id } statusHistory { from } } } pageInfo { hasNextPage } } }";
    assert!(app.gql(Some(&t.token), deep, json!({})).await.get("errors").is_none());
    let app_shallow = dossier_tests::spawn_app_with(&[("DOSSIER_GRAPHQL_MAX_DEPTH", "3")]).await;
    let t2 = app_shallow.signup(&slug("acme")).await;
    let too_deep = app_shallow.gql(Some(&t2.token), deep, json!({})).await;
    assert_eq!(error_code(&too_deep), "VALIDATION");
}

#[tokio::test]
async fn the_complexity_limit_counts_page_sizes_and_introspection_can_be_turned_off() {
    let app = dossier_tests::spawn_app_with(&[
        ("DOSSIER_GRAPHQL_MAX_COMPLEXITY", "50"),
        ("DOSSIER_GRAPHQL_INTROSPECTION", "false"),
    ])
    .await;
    let t = app.signup(&slug("acme")).await;
    let big = app
        .gql(
            Some(&t.token),
            "{ customers(first: 100) { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&big), "VALIDATION");
    let small = app
        .gql(
            Some(&t.token),
            "{ customers(first: 5) { edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert!(small.get("errors").is_none(), "{small}");
    let introspection = app
        .gql(Some(&t.token), "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        introspection.get("errors").is_some() || introspection["data"]["__schema"].is_null(),
        "{introspection}"
    );
}
