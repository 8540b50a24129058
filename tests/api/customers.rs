//! The customer file: creating, changing with optimistic concurrency, status history,
//! archiving, filters and ordering.

use dossier_tests::{
    CREATE_CUSTOMER, CREATE_TAG, UPDATE_CUSTOMER, error_code, error_field, slug, spawn_another, spawn_app,
};
use serde_json::json;

#[tokio::test]
async fn a_created_customer_has_a_generated_code_and_what_was_given() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let first = app
        .create_customer(
            &t.token,
            "上海云图科技有限公司",
            json!({
                "kind": "COMPANY", "source": "REFERRAL", "firstContactDate": "2026-03-15", "region": "华东",
                "industry": "Software", "budget": { "min": "50000", "max": "200000.5", "currency": "cny" },
            }),
        )
        .await;
    assert_eq!(first["code"], "C-000001");
    assert_eq!(first["kind"], "COMPANY");
    assert_eq!(
        first["companyName"], "上海云图科技有限公司",
        "a company's name is its company name"
    );
    assert_eq!(first["firstContactDate"], "2026-03-15");
    assert_eq!(first["status"], "POTENTIAL");
    assert_eq!(first["ownerId"], t.owner_id.as_str());
    assert_eq!(first["version"], 1);
    assert_eq!(
        first["budget"],
        json!({ "min": "50000.00", "max": "200000.50", "currency": "CNY" })
    );
    assert_eq!(
        first["statusHistory"],
        json!([{ "from": null, "to": "POTENTIAL", "note": null }])
    );
    let second = app.create_customer(&t.token, "张伟", json!({})).await;
    assert_eq!(second["code"], "C-000002");
}

#[tokio::test]
async fn money_is_stored_exactly_in_minor_units() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app
        .create_customer(
            &t.token,
            "Budgeted",
            json!({ "budget": { "min": "0.10", "max": "1234567.89", "currency": "CNY" } }),
        )
        .await;
    let n = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM customers WHERE budget_min_minor = 10 AND budget_max_minor = 123456789 AND budget_currency = 'CNY' AND code = '{}'",
            c["code"].as_str().unwrap()
        ))
        .await;
    assert_eq!(n, 1);
}

#[tokio::test]
async fn a_given_code_is_kept_and_a_taken_one_is_a_duplicate() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Coded", json!({ "code": "VIP-7" })).await;
    assert_eq!(c["code"], "VIP-7");
    let again = app
        .gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "Other", "source": "ONLINE", "code": "VIP-7" } }),
        )
        .await;
    assert_eq!(error_code(&again), "DUPLICATE");
    assert_eq!(error_field(&again), "code");
    assert_eq!(again["errors"][0]["extensions"]["candidates"][0], c["id"]);
    // A hand-given code in the generated pattern is skipped by the generator.
    app.create_customer(&t.token, "Squatter", json!({ "code": "C-000001" }))
        .await;
    let generated = app.create_customer(&t.token, "Generated", json!({})).await;
    assert_eq!(generated["code"], "C-000002");
}

#[tokio::test]
async fn an_update_with_the_current_version_applies_and_bumps_it() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app
        .create_customer(
            &t.token,
            "Old Name",
            json!({ "notes": "to be cleared", "region": "North" }),
        )
        .await;
    let data = app
        .ok(
            &t.token,
            UPDATE_CUSTOMER,
            json!({ "input": { "id": c["id"], "version": 1, "name": "New Name", "notes": null } }),
        )
        .await;
    let updated = &data["updateCustomer"]["customer"];
    assert_eq!(updated["name"], "New Name");
    assert_eq!(updated["notes"], json!(null), "null clears");
    assert_eq!(updated["region"], "North", "absent fields stay");
    assert_eq!(updated["version"], 2);
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict_and_changes_nothing() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Shared", json!({})).await;
    app.ok(
        &t.token,
        UPDATE_CUSTOMER,
        json!({ "input": { "id": c["id"], "version": 1, "name": "First writer" } }),
    )
    .await;
    let late = app
        .gql(
            Some(&t.token),
            UPDATE_CUSTOMER,
            json!({ "input": { "id": c["id"], "version": 1, "name": "Second writer" } }),
        )
        .await;
    assert_eq!(error_code(&late), "CONFLICT");
    let now = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { name version } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(now["customer"], json!({ "name": "First writer", "version": 2 }));
}

#[tokio::test]
async fn an_update_that_changes_nothing_keeps_the_version() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Same", json!({})).await;
    let data = app
        .ok(
            &t.token,
            UPDATE_CUSTOMER,
            json!({ "input": { "id": c["id"], "version": 1, "name": " Same " } }),
        )
        .await;
    assert_eq!(data["updateCustomer"]["customer"]["version"], 1);
}

#[tokio::test]
async fn status_changes_are_recorded_in_order_with_their_note() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Lead", json!({})).await;
    let change = "mutation($input: ChangeCustomerStatusInput!) { changeCustomerStatus(input: $input) { customer { status version statusHistory { from to note actorId } } } }";
    app.ok(
        &t.token,
        change,
        json!({ "input": { "id": c["id"], "status": "INTENT", "note": "asked for a quote" } }),
    )
    .await;
    let data = app
        .ok(
            &t.token,
            change,
            json!({ "input": { "id": c["id"], "status": "CUSTOMER", "version": 2 } }),
        )
        .await;
    let customer = &data["changeCustomerStatus"]["customer"];
    assert_eq!(customer["status"], "CUSTOMER");
    assert_eq!(customer["version"], 3);
    assert_eq!(
        customer["statusHistory"],
        json!([
            { "from": null, "to": "POTENTIAL", "note": null, "actorId": t.owner_id },
            { "from": "POTENTIAL", "to": "INTENT", "note": "asked for a quote", "actorId": t.owner_id },
            { "from": "INTENT", "to": "CUSTOMER", "note": null, "actorId": t.owner_id },
        ])
    );
    let stale = app
        .gql(
            Some(&t.token),
            change,
            json!({ "input": { "id": c["id"], "status": "LOST", "version": 2 } }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let bad = app
        .gql(
            Some(&t.token),
            change,
            json!({ "input": { "id": c["id"], "status": "ARCHIVED" } }),
        )
        .await;
    assert_eq!(error_code(&bad), "VALIDATION", "status is a closed set");
}

#[tokio::test]
async fn archived_customers_leave_the_default_list_keep_their_data_and_come_back() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app
        .create_customer(&t.token, "Dormant", json!({ "notes": "history matters" }))
        .await;
    let archived = app
        .ok(
            &t.token,
            "mutation($id: ID!) { archiveCustomer(input: { id: $id }) { customer { archived version notes } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(
        archived["archiveCustomer"]["customer"],
        json!({ "archived": true, "version": 2, "notes": "history matters" })
    );
    let list = "query($archived: Boolean!) { customers(filter: { archived: $archived }) { totalCount } }";
    assert_eq!(
        app.ok(&t.token, list, json!({ "archived": false })).await["customers"]["totalCount"],
        0
    );
    assert_eq!(
        app.ok(&t.token, list, json!({ "archived": true })).await["customers"]["totalCount"],
        1
    );
    let blocked = app
        .gql(
            Some(&t.token),
            UPDATE_CUSTOMER,
            json!({ "input": { "id": c["id"], "version": 2, "name": "x" } }),
        )
        .await;
    assert_eq!(error_code(&blocked), "CONFLICT");
    let restored = app
        .ok(
            &t.token,
            "mutation($id: ID!) { restoreCustomer(input: { id: $id }) { customer { archived version } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(
        restored["restoreCustomer"]["customer"],
        json!({ "archived": false, "version": 3 })
    );
}

#[tokio::test]
async fn filters_narrow_the_list() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let (sales_id, sales) = app.add_user(&t, "SALES", "sam").await;
    let tag = app
        .ok(
            &t.token,
            CREATE_TAG,
            json!({ "input": { "name": "key account", "color": "#D4380D" } }),
        )
        .await;
    assert_eq!(tag["createTag"]["tag"]["color"], "#d4380d");
    let tag_id = tag["createTag"]["tag"]["id"].as_str().unwrap().to_owned();
    app.create_customer(&t.token, "Acme Robotics", json!({ "kind": "COMPANY", "source": "REFERRAL", "industry": "Robotics", "region": "East", "tagIds": [tag_id] })).await;
    app.create_customer(&t.token, "Zhang Wei", json!({ "status": "INTENT", "region": "North" }))
        .await;
    app.create_customer(
        &sales,
        "Wang Fang",
        json!({ "source": "ADVERTISING", "region": "East" }),
    )
    .await;

    let names = |data: &serde_json::Value| -> Vec<String> {
        data["customers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let query = "query($filter: CustomerFilter) { customers(filter: $filter, orderBy: NAME_ASC) { totalCount edges { node { name } } } }";
    for (filter, expected) in [
        (json!({ "status": "INTENT" }), vec!["Zhang Wei"]),
        (json!({ "kind": "COMPANY" }), vec!["Acme Robotics"]),
        (json!({ "source": "ADVERTISING" }), vec!["Wang Fang"]),
        (json!({ "ownerId": sales_id }), vec!["Wang Fang"]),
        (json!({ "tagId": tag_id }), vec!["Acme Robotics"]),
        (json!({ "industry": "Robotics" }), vec!["Acme Robotics"]),
        (json!({ "region": "East" }), vec!["Acme Robotics", "Wang Fang"]),
        (json!({ "search": "ACME" }), vec!["Acme Robotics"]),
        (json!({ "search": "c-000002" }), vec!["Zhang Wei"]),
        (json!({ "search": "%" }), vec![]),
        (
            json!({ "createdFrom": "2000-01-01T00:00:00Z", "createdTo": "2000-01-02T00:00:00Z" }),
            vec![],
        ),
        (json!({}), vec!["Acme Robotics", "Wang Fang", "Zhang Wei"]),
    ] {
        let data = app.ok(&t.token, query, json!({ "filter": filter })).await;
        assert_eq!(names(&data), expected, "filter {filter}");
        assert_eq!(data["customers"]["totalCount"], expected.len(), "count for {filter}");
    }
    let tagged = app
        .ok(
            &t.token,
            "{ customers(orderBy: NAME_ASC) { edges { node { tags { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        tagged["customers"]["edges"][0]["node"]["tags"],
        json!([{ "name": "key account" }])
    );
}

#[tokio::test]
async fn first_contact_date_defaults_to_today_where_the_tenant_is_and_the_future_is_refused() {
    let app = spawn_app().await;
    // UTC+14: the tenant's date is ahead of UTC for most of the day.
    let signup = app
        .gql(
            None,
            "mutation($input: CreateTenantInput!) { createTenant(input: $input) { token } }",
            json!({ "input": { "name": "Far East", "slug": slug("kiritimati"), "adminEmail": "a@kiri.example.com",
                               "adminPassword": "owner-password-1", "timezone": "Pacific/Kiritimati" } }),
        )
        .await;
    let token = signup["data"]["createTenant"]["token"].as_str().unwrap().to_owned();
    let today_there = (chrono::Utc::now() + chrono::Duration::hours(14)).date_naive();
    let defaulted = app.create_customer(&token, "Defaulted", json!({})).await;
    assert_eq!(
        defaulted["firstContactDate"],
        today_there.format("%Y-%m-%d").to_string()
    );
    let explicit = app
        .create_customer(
            &token,
            "Today",
            json!({ "firstContactDate": today_there.format("%Y-%m-%d").to_string() }),
        )
        .await;
    assert_eq!(explicit["firstContactDate"], today_there.format("%Y-%m-%d").to_string());
    let tomorrow = (today_there + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let body = app.gql(Some(&token), CREATE_CUSTOMER, json!({ "input": { "kind": "INDIVIDUAL", "name": "Later", "source": "ONLINE", "firstContactDate": tomorrow } })).await;
    assert_eq!(error_field(&body), "firstContactDate");
}

#[tokio::test]
async fn concurrent_creates_all_succeed_with_distinct_codes() {
    let app = spawn_app().await;
    let t = app.signup(&slug("busy")).await;
    let creates = (0..20).map(|i| {
        app.gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": format!("Parallel {i}"), "source": "ONLINE" } }),
        )
    });
    let bodies = futures_util::future::join_all(creates).await;
    let mut codes: Vec<String> = bodies
        .iter()
        .map(|b| {
            b["data"]["createCustomer"]["customer"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("failed: {b}"))
                .to_owned()
        })
        .collect();
    codes.sort();
    codes.dedup();
    assert_eq!(codes.len(), 20);
    assert_eq!(codes.first().unwrap(), "C-000001");
    assert_eq!(codes.last().unwrap(), "C-000020");
}

#[tokio::test]
async fn archiving_with_a_stale_version_is_a_conflict() {
    let app = spawn_app().await;
    let t = app.signup(&slug("acme")).await;
    let c = app.create_customer(&t.token, "Versioned", json!({})).await;
    app.ok(
        &t.token,
        UPDATE_CUSTOMER,
        json!({ "input": { "id": c["id"], "version": 1, "region": "South" } }),
    )
    .await;
    let stale = app
        .gql(
            Some(&t.token),
            "mutation($id: ID!) { archiveCustomer(input: { id: $id, version: 1 }) { customer { id } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    assert!(stale["errors"][0]["message"].as_str().unwrap().contains("version 2"));
}

#[tokio::test]
async fn a_customers_custom_fields_read_under_a_list_of_feedback_share_the_requests_one_transaction() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-nested")).await;
    app.define_custom_field(&t.token, "CUSTOMER", "club", "TEXT", json!({}))
        .await;
    let c = app
        .create_customer(&t.token, "Member", json!({ "customFields": { "club": "chess" } }))
        .await;
    app.record_feedback(&t.token, &c["id"], json!({})).await;

    // A second instance has no definitions cached: reading them must not take a second
    // transaction beside the one the list reads through (on SQLite it would wait for it).
    let fresh = spawn_another(&app, &[]).await;
    let data = fresh
        .ok(
            &t.token,
            "{ feedback(first: 5) { nodes { customer { name customFields } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["feedback"]["nodes"][0]["customer"],
        json!({ "name": "Member", "customFields": { "club": "chess" } })
    );
}
