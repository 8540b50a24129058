//! Custom fields: typed definitions per tenant, values validated on every write, sensitive
//! values encrypted and masked, filters and sorts, safe changes of definitions.

use std::collections::BTreeSet;
use std::time::Duration;

use dossier_tests::{
    CREATE_CONTRACT, LOG_INTERACTION, TestApp, contract_input, custom_field_input, error_code, error_code_if_any,
    error_field, interaction_input, redis_url, slug, spawn_another, spawn_app, spawn_app_with, wait_for_subscribers,
    wait_until,
};
use serde_json::{Value, json};

const DEFINE: &str = "mutation($input: DefineCustomFieldInput!) { defineCustomField(input: $input) { \
    customField { id key label type required options default sensitive searchable unique position archived version } } }";
const UPDATE_FIELD: &str = "mutation($input: UpdateCustomFieldInput!) { updateCustomField(input: $input) { \
    customField { id label required options version } } }";
const ARCHIVE: &str =
    "mutation($input: CustomFieldIdInput!) { archiveCustomField(input: $input) { customField { archived } } }";
const RESTORE: &str =
    "mutation($input: CustomFieldIdInput!) { restoreCustomField(input: $input) { customField { archived } } }";
const PURGE: &str =
    "mutation($input: PurgeCustomFieldInput!) { purgeCustomField(input: $input) { purgedId valuesDeleted } }";
const DEFINITIONS: &str = "query($entity: CustomFieldEntity!, $all: Boolean) { \
    customFieldDefinitions(entity: $entity, includeArchived: $all) { key label archived position } }";
const CREATE: &str = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { \
    customer { id version customFields } } }";
const UPDATE: &str = "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { \
    customer { id version customFields } } }";
const READ: &str = "query($id: ID!) { customer(id: $id) { customFields \
    customFieldValues { key value masked definition { label type } } } }";

/// Defines a field of `entity` (CUSTOMER unless `extra` says otherwise); returns its id.
async fn define(app: &TestApp, token: &str, key: &str, field_type: &str, extra: Value) -> String {
    let body = define_raw(app, token, key, field_type, extra).await;
    assert!(body["errors"].is_null(), "defining {key}: {body}");
    body["data"]["defineCustomField"]["customField"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn define_raw(app: &TestApp, token: &str, key: &str, field_type: &str, extra: Value) -> Value {
    let input = custom_field_input("CUSTOMER", key, field_type, extra);
    app.gql(Some(token), DEFINE, json!({ "input": input })).await
}

fn customer_input(name: &str, fields: Value) -> Value {
    json!({ "kind": "INDIVIDUAL", "name": name, "source": "ONLINE", "allowDuplicate": true, "customFields": fields })
}

async fn create_raw(app: &TestApp, token: &str, name: &str, fields: Value) -> Value {
    app.gql(Some(token), CREATE, json!({ "input": customer_input(name, fields) }))
        .await
}

async fn create(app: &TestApp, token: &str, name: &str, fields: Value) -> Value {
    let body = create_raw(app, token, name, fields).await;
    assert!(body["errors"].is_null(), "creating {name}: {body}");
    body["data"]["createCustomer"]["customer"].clone()
}

async fn update_raw(app: &TestApp, token: &str, customer: &Value, fields: Value) -> Value {
    app.gql(
        Some(token),
        UPDATE,
        json!({ "input": { "id": customer["id"], "version": customer["version"], "customFields": fields } }),
    )
    .await
}

async fn read(app: &TestApp, token: &str, id: &Value) -> Value {
    app.ok(token, READ, json!({ "id": id })).await["customer"].clone()
}

/// VALIDATION naming `customFields.<key>`.
fn assert_invalid(body: &Value, key: &str, what: &str) {
    assert_eq!(error_code(body), "VALIDATION", "{what}: {body}");
    assert_eq!(error_field(body), format!("customFields.{key}"), "{what}: {body}");
}

async fn one_field_of_each_type(app: &TestApp, token: &str) {
    for (key, field_type, extra) in [
        ("nickname", "TEXT", json!({})),
        ("story", "LONG_TEXT", json!({})),
        ("children", "INTEGER", json!({})),
        ("score", "DECIMAL", json!({})),
        ("vip", "BOOLEAN", json!({})),
        ("anniversary", "DATE", json!({})),
        ("met_at", "DATETIME", json!({})),
        ("district", "SELECT", json!({ "options": ["north", "south"] })),
        (
            "interests",
            "MULTI_SELECT",
            json!({ "options": ["golf", "tea", "wine"] }),
        ),
        ("work_email", "EMAIL", json!({})),
        ("fax", "PHONE", json!({})),
        ("homepage", "URL", json!({})),
        ("budget", "CURRENCY_AMOUNT", json!({})),
    ] {
        define(app, token, key, field_type, extra).await;
    }
}

#[tokio::test]
async fn every_type_stores_its_valid_values_in_one_normal_form() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-types")).await;
    one_field_of_each_type(&app, &t.token).await;

    let c = create(
        &app,
        &t.token,
        "Typed",
        json!({
            "nickname": "  Lao Wang ",
            "story": "First met at the fair.\nBought twice since.",
            "children": 2,
            "score": "012.50",
            "vip": true,
            "anniversary": "2020-05-20",
            "met_at": "2026-11-25T09:30:00+08:00",
            "district": "south",
            "interests": ["wine", "golf", "wine"],
            "work_email": "Wang@Example.COM",
            "fax": "010 6552 9988",
            "homepage": "https://example.com/wang",
            "budget": { "amount": "1500.5", "currency": "CNY" },
        }),
    )
    .await;

    let expected = json!({
        "nickname": "Lao Wang",
        "story": "First met at the fair.\nBought twice since.",
        "children": 2,
        "score": "12.5",
        "vip": true,
        "anniversary": "2020-05-20",
        "met_at": "2026-11-25T01:30:00Z",
        "district": "south",
        "interests": ["golf", "wine"],
        "work_email": "wang@example.com",
        "fax": "+861065529988",
        "homepage": "https://example.com/wang",
        "budget": { "amount": "1500.50", "currency": "CNY" },
    });
    assert_eq!(c["customFields"], expected);
    let read_back = read(&app, &t.token, &c["id"]).await;
    assert_eq!(read_back["customFields"], expected);
    let values = read_back["customFieldValues"].as_array().unwrap();
    assert_eq!(values.len(), 13, "one entry per active field, in display order");
    assert_eq!(values[0]["key"], "nickname");
    assert_eq!(values[12]["definition"]["type"], "CURRENCY_AMOUNT");
}

#[tokio::test]
async fn each_kind_of_invalid_value_is_refused_naming_the_key_and_nothing_is_stored() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-invalid")).await;
    one_field_of_each_type(&app, &t.token).await;

    let cases = [
        ("nickname", json!(42), "a number for text"),
        ("nickname", json!("x".repeat(501)), "text too long"),
        ("nickname", json!("two\nlines"), "a line break in one-line text"),
        (
            "nickname",
            json!("身份证 11010519491231002X"),
            "an identity-card number in free text",
        ),
        ("story", json!("y".repeat(10_001)), "long text too long"),
        ("children", json!(2.5), "a fraction for an integer"),
        ("children", json!("2"), "a string for an integer"),
        ("score", json!("12,5"), "a comma decimal"),
        ("score", json!(true), "a boolean for a decimal"),
        ("vip", json!("yes"), "a string for a boolean"),
        ("anniversary", json!("2020-02-30"), "an impossible date"),
        ("anniversary", json!("20/05/2020"), "a date in another format"),
        ("met_at", json!("2026-11-25 09:30"), "a time without offset"),
        ("district", json!("east"), "an option not in the set"),
        ("interests", json!("golf"), "a single string for a multi-select"),
        ("interests", json!(["golf", "chess"]), "an option not in the set"),
        ("work_email", json!("not-an-email"), "a malformed e-mail"),
        ("fax", json!("12"), "a malformed phone number"),
        ("homepage", json!("example.com"), "a web address without scheme"),
        (
            "budget",
            json!({ "amount": "1.234", "currency": "CNY" }),
            "more places than the currency has",
        ),
        (
            "budget",
            json!({ "amount": "10", "currency": "yuan" }),
            "an unknown currency",
        ),
        ("budget", json!("10 CNY"), "an amount as a string"),
        ("unknown_key", json!("x"), "a key that is not defined"),
    ];
    for (key, value, what) in cases {
        let body = create_raw(&app, &t.token, what, json!({ key: value })).await;
        if key == "budget" && what.contains("currency has") {
            assert_eq!(error_code(&body), "VALIDATION", "{what}: {body}");
            assert_eq!(error_field(&body), "customFields.budget.amount", "{what}: {body}");
        } else if key == "budget" && what.contains("unknown currency") {
            assert_eq!(error_field(&body), "customFields.budget.currency", "{what}: {body}");
        } else {
            assert_invalid(&body, key, what);
        }
    }
    let not_an_object = create_raw(&app, &t.token, "list", json!(["nickname"])).await;
    assert_eq!(error_field(&not_an_object), "customFields");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM customers").await,
        0,
        "no refused write left a customer behind"
    );
}

#[tokio::test]
async fn required_fields_defaults_and_fields_made_required_later() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-required")).await;
    let level = define(
        &app,
        &t.token,
        "level",
        "SELECT",
        json!({ "options": ["A", "B"], "default": "B" }),
    )
    .await;
    define(&app, &t.token, "contract_no", "TEXT", json!({ "required": true })).await;
    let later = define(&app, &t.token, "region_code", "TEXT", json!({})).await;

    let missing = create_raw(&app, &t.token, "Missing", json!({})).await;
    assert_invalid(&missing, "contract_no", "required on create");
    assert!(
        missing["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("is required"),
        "{missing}"
    );
    let c = create(&app, &t.token, "Defaulted", json!({ "contract_no": "K-1" })).await;
    assert_eq!(
        c["customFields"],
        json!({ "level": "B", "contract_no": "K-1" }),
        "default applied"
    );

    let cleared = update_raw(&app, &t.token, &c, json!({ "contract_no": null })).await;
    assert_invalid(&cleared, "contract_no", "clearing a required field");

    // region_code becomes required: the old record stays readable and changeable elsewhere.
    let made_required = app
        .ok(
            &t.token,
            UPDATE_FIELD,
            json!({ "input": { "id": later, "version": 1, "required": true } }),
        )
        .await;
    assert_eq!(made_required["updateCustomField"]["customField"]["required"], true);
    assert_eq!(
        read(&app, &t.token, &c["id"]).await["customFields"]["contract_no"],
        "K-1"
    );
    let other_change = update_raw(&app, &t.token, &c, json!({ "level": "A" })).await;
    assert!(other_change["errors"].is_null(), "{other_change}");
    let touched = other_change["data"]["updateCustomer"]["customer"].clone();
    let clearing_it = update_raw(&app, &t.token, &touched, json!({ "region_code": "" })).await;
    assert_invalid(&clearing_it, "region_code", "touching a field made required");
    let new_one = create_raw(&app, &t.token, "New", json!({ "contract_no": "K-2" })).await;
    assert_invalid(&new_one, "region_code", "new records need it");

    // Options shrink: a stored value stays readable, new writes must pick from the new set.
    app.ok(
        &t.token,
        UPDATE_FIELD,
        json!({ "input": { "id": level, "version": 1, "options": ["B", "C"] } }),
    )
    .await;
    assert_eq!(read(&app, &t.token, &c["id"]).await["customFields"]["level"], "A");
    let old_option = create_raw(
        &app,
        &t.token,
        "Old option",
        json!({ "contract_no": "K-3", "region_code": "R1", "level": "A" }),
    )
    .await;
    assert_invalid(&old_option, "level", "an option no longer offered");
    let default_dropped = app
        .gql(
            Some(&t.token),
            UPDATE_FIELD,
            json!({ "input": { "id": level, "version": 2, "options": ["C"] } }),
        )
        .await;
    assert_eq!(
        error_field(&default_dropped),
        "default",
        "the default must stay one of the options"
    );
}

#[tokio::test]
async fn unique_fields_refuse_a_second_record_with_the_same_value() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-unique")).await;
    define(&app, &t.token, "member_no", "TEXT", json!({ "unique": true })).await;
    define(
        &app,
        &t.token,
        "passport",
        "TEXT",
        json!({ "unique": true, "sensitive": true, "searchable": true }),
    )
    .await;
    let first = create(
        &app,
        &t.token,
        "First",
        json!({ "member_no": "M-1", "passport": "E1234567" }),
    )
    .await;

    let same_member = create_raw(&app, &t.token, "Second", json!({ "member_no": "M-1" })).await;
    assert_invalid(&same_member, "member_no", "same plain value");
    let same_passport = create_raw(&app, &t.token, "Third", json!({ "passport": "E1234567" })).await;
    assert_invalid(
        &same_passport,
        "passport",
        "same sensitive value, found through its blind index",
    );
    create(
        &app,
        &t.token,
        "Fourth",
        json!({ "member_no": "M-2", "passport": "E7654321" }),
    )
    .await;
    let own_value_again = update_raw(
        &app,
        &t.token,
        &first,
        json!({ "member_no": "M-1", "passport": "E1234567" }),
    )
    .await;
    assert!(
        own_value_again["errors"].is_null(),
        "a record does not clash with itself: {own_value_again}"
    );
    let unique_sensitive_unsearchable = define_raw(
        &app,
        &t.token,
        "tax_id",
        "TEXT",
        json!({ "unique": true, "sensitive": true }),
    )
    .await;
    assert_eq!(error_field(&unique_sensitive_unsearchable), "searchable");
}

#[tokio::test]
async fn one_tenants_fields_do_not_exist_for_another_and_only_admins_define_them() {
    let app = spawn_app().await;
    let a = app.signup(&slug("cf-a")).await;
    let b = app.signup(&slug("cf-b")).await;
    define(&app, &b.token, "b_only", "TEXT", json!({})).await;

    let crossed = create_raw(&app, &a.token, "Crossed", json!({ "b_only": "x" })).await;
    assert_invalid(&crossed, "b_only", "another tenant's key");
    let listed = app
        .ok(&a.token, DEFINITIONS, json!({ "entity": "CUSTOMER", "all": true }))
        .await;
    assert_eq!(listed["customFieldDefinitions"], json!([]));

    for role in ["MANAGER", "SALES", "VIEWER"] {
        let (_, token) = app.add_user(&a, role, &format!("u-{}", role.to_lowercase())).await;
        let refused = define_raw(&app, &token, "mine", "TEXT", json!({})).await;
        assert_eq!(error_code(&refused), "FORBIDDEN", "{role}: {refused}");
    }
    let (_, admin) = app.add_user(&a, "ADMIN", "adm").await;
    define(&app, &admin, "mine", "TEXT", json!({})).await;
    let taken = define_raw(&app, &admin, "mine", "INTEGER", json!({})).await;
    assert_eq!(
        error_code(&taken),
        "DUPLICATE",
        "a key is taken once per entity: {taken}"
    );
    let bad_key = define_raw(&app, &admin, "Bad Key", "TEXT", json!({})).await;
    assert_eq!(error_field(&bad_key), "key");
    let no_options = define_raw(&app, &admin, "pick", "SELECT", json!({})).await;
    assert_eq!(error_field(&no_options), "options");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'custom_field.define'")
            .await,
        2,
        "each definition is audited"
    );
}

#[tokio::test]
async fn a_sensitive_field_is_ciphertext_at_rest_masked_for_viewers_and_searchable_exactly() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-sensitive")).await;
    define(
        &app,
        &t.token,
        "private_phone",
        "PHONE",
        json!({ "sensitive": true, "searchable": true }),
    )
    .await;
    define(&app, &t.token, "salary", "INTEGER", json!({ "sensitive": true })).await;
    let c = create(
        &app,
        &t.token,
        "Secretive",
        json!({ "private_phone": "13800138000", "salary": 23000 }),
    )
    .await;
    assert_eq!(
        c["customFields"],
        json!({ "private_phone": "+8613800138000", "salary": 23000 })
    );

    let raw = app
        .raw_texts("SELECT CAST(custom_fields AS TEXT) FROM customers")
        .await
        .join(" ");
    assert!(raw.contains("v1."), "stored as ciphertext: {raw}");
    for plain in ["13800138000", "23000"] {
        assert!(!raw.contains(plain), "no plaintext {plain} at rest: {raw}");
    }
    let audit = app
        .raw_texts("SELECT CAST(changed_fields AS TEXT) FROM audit_log")
        .await
        .join(" ");
    assert!(audit.contains("customFields.salary"), "the key is audited: {audit}");
    assert!(!audit.contains("23000") && !audit.contains("13800138000"), "{audit}");

    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let seen = read(&app, &viewer, &c["id"]).await;
    assert_eq!(seen["customFields"]["private_phone"], "138****8000");
    assert_ne!(seen["customFields"]["salary"], json!(23000));
    assert!(
        seen["customFieldValues"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["masked"] == true)
    );

    let by_phone = "query($f: [CustomFieldFilter!]) { customers(filter: { customFields: $f }) { nodes { name } } }";
    let found = app
        .ok(
            &t.token,
            by_phone,
            json!({ "f": [{ "key": "private_phone", "op": "EQ", "value": "138 0013 8000" }] }),
        )
        .await;
    assert_eq!(found["customers"]["nodes"], json!([{ "name": "Secretive" }]));
    let refused = app
        .gql(
            Some(&viewer),
            by_phone,
            json!({ "f": [{ "key": "private_phone", "op": "EQ", "value": "13800138000" }] }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let not_searchable = app
        .gql(
            Some(&t.token),
            by_phone,
            json!({ "f": [{ "key": "salary", "op": "GT", "value": 1 }] }),
        )
        .await;
    assert_eq!(error_field(&not_searchable), "filter.customFields.salary");
}

#[tokio::test]
async fn archiving_hides_a_field_restoring_brings_it_back_and_purging_deletes_its_values() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-archive")).await;
    let id = define(&app, &t.token, "hobby_club", "TEXT", json!({})).await;
    let c = create(&app, &t.token, "Member", json!({ "hobby_club": "chess" })).await;

    let relabelled = app
        .ok(
            &t.token,
            UPDATE_FIELD,
            json!({ "input": { "id": id, "version": 1, "label": "Club" } }),
        )
        .await;
    assert_eq!(relabelled["updateCustomField"]["customField"]["label"], "Club");
    let stale = app
        .gql(
            Some(&t.token),
            UPDATE_FIELD,
            json!({ "input": { "id": id, "version": 1, "label": "Again" } }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    assert_eq!(
        read(&app, &t.token, &c["id"]).await["customFields"],
        json!({ "hobby_club": "chess" })
    );

    app.ok(&t.token, ARCHIVE, json!({ "input": { "id": id } })).await;
    assert_eq!(read(&app, &t.token, &c["id"]).await["customFields"], json!({}));
    let write = update_raw(&app, &t.token, &c, json!({ "hobby_club": "go" })).await;
    assert_invalid(&write, "hobby_club", "writing an archived field");
    let filter = "query { customers(filter: { customFields: [{ key: \"hobby_club\", op: IS_EMPTY, value: false }] }) { totalCount } }";
    assert_eq!(
        error_field(&app.gql(Some(&t.token), filter, json!({})).await),
        "filter.customFields.hobby_club"
    );
    let listed = app.ok(&t.token, DEFINITIONS, json!({ "entity": "CUSTOMER" })).await;
    assert_eq!(listed["customFieldDefinitions"], json!([]));
    let listed = app
        .ok(&t.token, DEFINITIONS, json!({ "entity": "CUSTOMER", "all": true }))
        .await;
    assert_eq!(listed["customFieldDefinitions"][0]["archived"], true);
    assert!(
        app.raw_texts("SELECT CAST(custom_fields AS TEXT) FROM customers").await[0].contains("chess"),
        "archived data is kept"
    );

    app.ok(&t.token, RESTORE, json!({ "input": { "id": id } })).await;
    assert_eq!(
        read(&app, &t.token, &c["id"]).await["customFields"],
        json!({ "hobby_club": "chess" })
    );
    assert_eq!(app.ok(&t.token, filter, json!({})).await["customers"]["totalCount"], 1);

    let active_purge = app
        .gql(
            Some(&t.token),
            PURGE,
            json!({ "input": { "id": id, "confirmKey": "hobby_club" } }),
        )
        .await;
    assert_eq!(
        error_code(&active_purge),
        "VALIDATION",
        "only archived fields are purged"
    );
    app.ok(&t.token, ARCHIVE, json!({ "input": { "id": id } })).await;
    let wrong_key = app
        .gql(
            Some(&t.token),
            PURGE,
            json!({ "input": { "id": id, "confirmKey": "hobby" } }),
        )
        .await;
    assert_eq!(error_field(&wrong_key), "confirmKey");
    let purged = app
        .ok(
            &t.token,
            PURGE,
            json!({ "input": { "id": id, "confirmKey": "hobby_club" } }),
        )
        .await;
    assert_eq!(purged["purgeCustomField"]["valuesDeleted"], 1);
    assert!(!app.raw_texts("SELECT CAST(custom_fields AS TEXT) FROM customers").await[0].contains("chess"));
    define(&app, &t.token, "hobby_club", "INTEGER", json!({})).await;
    assert_eq!(
        read(&app, &t.token, &c["id"]).await["customFields"],
        json!({}),
        "a new field of the key starts empty"
    );
}

#[tokio::test]
async fn a_tenant_may_define_at_most_a_hundred_fields_per_kind_of_record() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-limit")).await;
    for i in 0..100 {
        define(&app, &t.token, &format!("field_{i}"), "TEXT", json!({})).await;
    }
    let over = define_raw(&app, &t.token, "field_100", "TEXT", json!({})).await;
    assert_eq!(error_code(&over), "VALIDATION");
    assert!(over["errors"][0]["message"].as_str().unwrap().contains("100"), "{over}");
    define(&app, &t.token, "field_100", "TEXT", json!({ "entity": "CONTRACT" })).await;
}

/// A tenant with the fields `fields` of (key, type, settings), and a customer.
async fn customer_with_fields(fields: &[(&str, &str, Value)]) -> (TestApp, String, Value) {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-records")).await;
    for (key, field_type, settings) in fields {
        define(&app, &t.token, key, field_type, settings.clone()).await;
    }
    let c = create(&app, &t.token, "Buyer", json!({})).await;
    (app, t.token, c)
}

#[tokio::test]
async fn contracts_carry_their_own_fields_and_are_filtered_and_sorted_by_them() {
    let (app, token, c) = customer_with_fields(&[
        ("po_number", "TEXT", json!({ "entity": "CONTRACT", "required": true })),
        ("nickname", "TEXT", json!({})),
    ])
    .await;

    let input = |fields: Value| json!({ "input": contract_input(&c["id"], json!({ "customFields": fields })) });
    assert_invalid(
        &app.gql(Some(&token), CREATE_CONTRACT, input(json!({}))).await,
        "po_number",
        "required",
    );
    let wrong_entity = app
        .gql(
            Some(&token),
            CREATE_CONTRACT,
            input(json!({ "po_number": "P1", "nickname": "x" })),
        )
        .await;
    assert_invalid(&wrong_entity, "nickname", "a customer field on a contract");
    let made = app
        .create_contract(&token, &c["id"], json!({ "customFields": { "po_number": "PO-7" } }))
        .await;
    assert_eq!(made["customFields"], json!({ "po_number": "PO-7" }));

    for po in ["PO-3", "PO-9"] {
        app.create_contract(&token, &c["id"], json!({ "customFields": { "po_number": po } }))
            .await;
    }
    let contracts = app
        .ok(
            &token,
            "{ contracts(orderByCustomField: { key: \"po_number\", descending: true }, \
               filter: { customFields: [{ key: \"po_number\", op: NEQ, value: \"PO-3\" }] }) \
               { totalCount nodes { customFields } } }",
            json!({}),
        )
        .await;
    assert_eq!(contracts["contracts"]["totalCount"], 2);
    assert_eq!(
        contracts["contracts"]["nodes"],
        json!([{ "customFields": { "po_number": "PO-9" } }, { "customFields": { "po_number": "PO-7" } }])
    );
}

#[tokio::test]
async fn sales_carry_their_own_fields_and_are_filtered_by_them() {
    let (app, token, c) =
        customer_with_fields(&[("channel_partner", "TEXT", json!({ "entity": "TRANSACTION" }))]).await;

    let sale = json!({ "product": "Tea", "customFields": { "channel_partner": "Shop 3" } });
    let sold = app.record_sale(&token, &c["id"], sale).await;
    assert_eq!(sold["customFields"], json!({ "channel_partner": "Shop 3" }));

    let sales = app
        .ok(
            &token,
            "{ transactions(filter: { customFields: [{ key: \"channel_partner\", op: CONTAINS, value: \"shop\" }] }) \
               { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(sales["transactions"]["totalCount"], 1);
}

#[tokio::test]
async fn interactions_carry_their_own_fields_and_their_filters_refuse_another_kinds_field() {
    let (app, token, c) = customer_with_fields(&[
        (
            "mood",
            "SELECT",
            json!({ "entity": "INTERACTION", "options": ["good", "bad"] }),
        ),
        ("po_number", "TEXT", json!({ "entity": "CONTRACT", "required": true })),
    ])
    .await;

    let call = |summary: &str, mood: &str| {
        interaction_input(
            &c["id"],
            json!({ "occurredAt": "2026-01-02T10:00:00Z", "summary": summary, "customFields": { "mood": mood } }),
        )
    };
    let bad = app
        .gql(Some(&token), LOG_INTERACTION, json!({ "input": call("Called", "meh") }))
        .await;
    assert_invalid(&bad, "mood", "an option not in the set");
    for (mood, summary) in [
        ("good", "Happy call"),
        ("bad", "Angry call"),
        ("good", "Second happy call"),
    ] {
        app.ok(&token, LOG_INTERACTION, json!({ "input": call(summary, mood) }))
            .await;
    }

    let moods = app
        .ok(
            &token,
            "{ interactions(filter: { customFields: [{ key: \"mood\", op: EQ, value: \"good\" }] }, \
               orderByCustomField: { key: \"mood\" }) { totalCount nodes { summary } } }",
            json!({}),
        )
        .await;
    assert_eq!(moods["interactions"]["totalCount"], 2);
    let wrong_entity = app
        .gql(
            Some(&token),
            "{ interactions(filter: { customFields: [{ key: \"po_number\", op: IS_EMPTY }] }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(
        error_field(&wrong_entity),
        "filter.customFields.po_number",
        "a contract field on interactions"
    );
}

#[tokio::test]
async fn a_definition_change_on_one_instance_is_seen_by_another_at_once() {
    let Some(redis) = redis_url() else { return };
    let namespace = format!("dossier-test-{}", uuid::Uuid::new_v4().simple());
    let settings = [
        ("DOSSIER_REDIS_URL", redis.as_str()),
        ("DOSSIER_REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = spawn_app_with(&settings).await;
    let b = spawn_another(&a, &settings).await;
    let t = a.signup(&slug("cf-replicas")).await;
    let id = define(&a, &t.token, "shared_field", "TEXT", json!({})).await;
    create(&b, &t.token, "On B", json!({ "shared_field": "one" })).await;
    wait_for_subscribers(&redis, &namespace, 2).await;

    a.ok(&t.token, ARCHIVE, json!({ "input": { "id": id } })).await;
    wait_until(
        Duration::from_secs(1),
        "B dropped its cached definitions within a second",
        async || {
            let body = create_raw(&b, &t.token, "Probe", json!({ "shared_field": "two" })).await;
            error_code_if_any(&body).as_deref() == Some("VALIDATION")
        },
    )
    .await;
}

/// The fixture row `i` of the filter test: what each field holds (None: no value).
struct Row {
    budget: Option<i64>,
    score: String,
    vip: bool,
    district: &'static str,
    interests: Vec<&'static str>,
    since: String,
    nickname: Option<String>,
    deal: (i64, &'static str),
}

fn row(i: usize) -> Row {
    let interests: Vec<&'static str> = [(2, "golf"), (3, "tea"), (5, "wine")]
        .into_iter()
        .filter(|(n, _)| i.is_multiple_of(*n))
        .map(|(_, o)| o)
        .collect();
    Row {
        budget: (!i.is_multiple_of(10)).then_some((i as i64 * 37) % 101),
        score: format!("{}.{}", i / 4, (i % 4) * 25)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned(),
        vip: i.is_multiple_of(3),
        district: ["north", "south", "east", "west"][i % 4],
        interests,
        since: (chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(i as u64))
            .format("%Y-%m-%d")
            .to_string(),
        nickname: (!i.is_multiple_of(7)).then(|| format!("Nick_{i:03}")),
        deal: (i as i64 * 3, if i.is_multiple_of(2) { "CNY" } else { "USD" }),
    }
}

fn row_fields(r: &Row) -> Value {
    let mut v = json!({
        "score": r.score, "vip": r.vip, "district": r.district, "since": r.since,
        "deal": { "amount": r.deal.0.to_string(), "currency": r.deal.1 },
    });
    if let Some(b) = r.budget {
        v["budget"] = json!(b);
    }
    if !r.interests.is_empty() {
        v["interests"] = json!(r.interests);
    }
    if let Some(n) = &r.nickname {
        v["nickname"] = json!(n);
    }
    v
}

const PAGE: &str = "query($f: [CustomFieldFilter!], $o: CustomFieldOrder, $after: String) { \
    customers(first: 100, after: $after, filter: { customFields: $f }, orderByCustomField: $o) { \
    totalCount pageInfo { hasNextPage endCursor } nodes { id name } } }";

/// Every customer the filter and order give, page after page: (id, name) in order.
async fn all_pages(app: &TestApp, token: &str, filter: Value, order: Value) -> (Vec<(String, String)>, u64) {
    let mut out = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .gql(Some(token), PAGE, json!({ "f": filter, "o": order, "after": after }))
            .await;
        assert!(body["errors"].is_null(), "{filter} {order}: {body}");
        let list = &body["data"]["customers"];
        for n in list["nodes"].as_array().unwrap() {
            out.push((
                n["id"].as_str().unwrap().to_owned(),
                n["name"].as_str().unwrap().to_owned(),
            ));
        }
        if list["pageInfo"]["hasNextPage"] != true {
            return (out, list["totalCount"].as_u64().unwrap());
        }
        after = list["pageInfo"]["endCursor"].clone();
    }
}

#[tokio::test]
async fn every_filter_operator_and_sort_returns_exactly_the_expected_customers_of_two_hundred() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-filters")).await;
    define(&app, &t.token, "budget", "INTEGER", json!({})).await;
    define(&app, &t.token, "score", "DECIMAL", json!({})).await;
    define(&app, &t.token, "vip", "BOOLEAN", json!({})).await;
    define(
        &app,
        &t.token,
        "district",
        "SELECT",
        json!({ "options": ["north", "south", "east", "west"] }),
    )
    .await;
    define(
        &app,
        &t.token,
        "interests",
        "MULTI_SELECT",
        json!({ "options": ["golf", "tea", "wine"] }),
    )
    .await;
    define(&app, &t.token, "since", "DATE", json!({})).await;
    define(&app, &t.token, "nickname", "TEXT", json!({})).await;
    define(&app, &t.token, "deal", "CURRENCY_AMOUNT", json!({})).await;
    const N: usize = 200;
    let rows: Vec<Row> = (0..N).map(row).collect();
    for chunk in (0..N).collect::<Vec<_>>().chunks(25) {
        // 25 creations per request, run in order (mutation fields execute one after another).
        let vars: Vec<String> = chunk.iter().map(|i| format!("$i{i}: CreateCustomerInput!")).collect();
        let mut doc = format!("mutation({}) {{", vars.join(", "));
        for i in chunk {
            doc.push_str(&format!(" m{i}: createCustomer(input: $i{i}) {{ customer {{ id }} }}"));
        }
        doc.push_str(" }");
        let values: serde_json::Map<String, Value> = chunk
            .iter()
            .map(|i| {
                (
                    format!("i{i}"),
                    customer_input(&format!("c{i:03}"), row_fields(&rows[*i])),
                )
            })
            .collect();
        app.ok(&t.token, &doc, Value::Object(values)).await;
    }

    let expect = |keep: &dyn Fn(&Row) -> bool| -> BTreeSet<String> {
        (0..N).filter(|i| keep(&rows[*i])).map(|i| format!("c{i:03}")).collect()
    };
    let cases: Vec<(Value, BTreeSet<String>)> = vec![
        (
            json!({ "key": "budget", "op": "EQ", "value": 37 }),
            expect(&|r| r.budget == Some(37)),
        ),
        (
            json!({ "key": "budget", "op": "NEQ", "value": 37 }),
            expect(&|r| r.budget != Some(37)),
        ),
        (
            json!({ "key": "budget", "op": "IN", "value": [1, 2, 3, 74] }),
            expect(&|r| matches!(r.budget, Some(1 | 2 | 3 | 74))),
        ),
        (
            json!({ "key": "budget", "op": "GT", "value": 90 }),
            expect(&|r| r.budget.is_some_and(|b| b > 90)),
        ),
        (
            json!({ "key": "budget", "op": "GTE", "value": 90 }),
            expect(&|r| r.budget.is_some_and(|b| b >= 90)),
        ),
        (
            json!({ "key": "budget", "op": "LT", "value": 10 }),
            expect(&|r| r.budget.is_some_and(|b| b < 10)),
        ),
        (
            json!({ "key": "budget", "op": "LTE", "value": 10 }),
            expect(&|r| r.budget.is_some_and(|b| b <= 10)),
        ),
        (
            json!({ "key": "budget", "op": "IS_EMPTY" }),
            expect(&|r| r.budget.is_none()),
        ),
        (
            json!({ "key": "budget", "op": "IS_EMPTY", "value": false }),
            expect(&|r| r.budget.is_some()),
        ),
        (
            json!({ "key": "score", "op": "GT", "value": "9.5" }),
            expect(&|r| r.score.parse::<f64>().unwrap() > 9.5),
        ),
        (
            json!({ "key": "score", "op": "EQ", "value": "12.50" }),
            expect(&|r| r.score == "12.5"),
        ),
        (json!({ "key": "vip", "op": "EQ", "value": true }), expect(&|r| r.vip)),
        (json!({ "key": "vip", "op": "NEQ", "value": true }), expect(&|r| !r.vip)),
        (
            json!({ "key": "district", "op": "EQ", "value": "east" }),
            expect(&|r| r.district == "east"),
        ),
        (
            json!({ "key": "district", "op": "IN", "value": ["north", "west"] }),
            expect(&|r| matches!(r.district, "north" | "west")),
        ),
        (
            json!({ "key": "interests", "op": "CONTAINS", "value": "tea" }),
            expect(&|r| r.interests.contains(&"tea")),
        ),
        (
            json!({ "key": "interests", "op": "EQ", "value": ["wine", "golf"] }),
            expect(&|r| r.interests == ["golf", "wine"]),
        ),
        (
            json!({ "key": "interests", "op": "IN", "value": ["tea", "wine"] }),
            expect(&|r| r.interests.iter().any(|o| *o == "tea" || *o == "wine")),
        ),
        (
            json!({ "key": "interests", "op": "IS_EMPTY" }),
            expect(&|r| r.interests.is_empty()),
        ),
        (
            json!({ "key": "since", "op": "GTE", "value": "2026-07-01" }),
            expect(&|r| r.since.as_str() >= "2026-07-01"),
        ),
        (
            json!({ "key": "since", "op": "LT", "value": "2026-01-15" }),
            expect(&|r| r.since.as_str() < "2026-01-15"),
        ),
        (
            json!({ "key": "nickname", "op": "CONTAINS", "value": "ick_1" }),
            expect(&|r| r.nickname.as_deref().is_some_and(|n| n.contains("ick_1"))),
        ),
        (
            json!({ "key": "nickname", "op": "EQ", "value": "Nick_050" }),
            expect(&|r| r.nickname.as_deref() == Some("Nick_050")),
        ),
        (
            json!({ "key": "nickname", "op": "IS_EMPTY" }),
            expect(&|r| r.nickname.is_none()),
        ),
        (
            json!({ "key": "deal", "op": "GT", "value": { "amount": "500", "currency": "CNY" } }),
            expect(&|r| r.deal.1 == "CNY" && r.deal.0 > 500),
        ),
        (
            json!({ "key": "deal", "op": "LTE", "value": { "amount": "30", "currency": "USD" } }),
            expect(&|r| r.deal.1 == "USD" && r.deal.0 <= 30),
        ),
    ];
    for (filter, expected) in cases {
        assert!(
            !expected.is_empty() && expected.len() < N,
            "the fixture makes {filter} selective"
        );
        let (found, total) = all_pages(&app, &t.token, json!([filter]), Value::Null).await;
        let found: BTreeSet<String> = found.into_iter().map(|(_, n)| n).collect();
        assert_eq!(found, expected, "{filter}");
        assert_eq!(total as usize, expected.len(), "totalCount of {filter}");
    }
    let both =
        json!([{ "key": "vip", "op": "EQ", "value": true }, { "key": "district", "op": "EQ", "value": "north" }]);
    let (found, _) = all_pages(&app, &t.token, both, Value::Null).await;
    let found: BTreeSet<String> = found.into_iter().map(|(_, n)| n).collect();
    assert_eq!(
        found,
        expect(&|r| r.vip && r.district == "north"),
        "conditions combine with AND"
    );

    let wrong_op = app
        .gql(
            Some(&t.token),
            PAGE,
            json!({ "f": [{ "key": "vip", "op": "GT", "value": true }] }),
        )
        .await;
    assert_eq!(error_field(&wrong_op), "filter.customFields.vip");
    let wrong_value = app
        .gql(
            Some(&t.token),
            PAGE,
            json!({ "f": [{ "key": "budget", "op": "EQ", "value": "many" }] }),
        )
        .await;
    assert_eq!(error_field(&wrong_value), "filter.customFields.budget");

    // Sorting, through pages of 100: values in order, records without a value last.
    let (all, _) = all_pages(&app, &t.token, Value::Null, Value::Null).await;
    let id_of: std::collections::HashMap<String, String> = all.iter().map(|(id, n)| (n.clone(), id.clone())).collect();
    for (key, descending) in [
        ("budget", false),
        ("budget", true),
        ("nickname", false),
        ("score", true),
        ("since", false),
        ("deal", false),
    ] {
        let (sorted, _) = all_pages(
            &app,
            &t.token,
            Value::Null,
            json!({ "key": key, "descending": descending }),
        )
        .await;
        let mut expected: Vec<(Option<String>, String, String)> = (0..N)
            .map(|i| {
                let r = &rows[i];
                let name = format!("c{i:03}");
                let value = match key {
                    "budget" => r.budget.map(|b| format!("{b:012}")),
                    "nickname" => r.nickname.clone(),
                    "score" => Some(format!("{:015.3}", r.score.parse::<f64>().unwrap())),
                    "since" => Some(r.since.clone()),
                    _ => Some(format!("{:012}", r.deal.0)),
                };
                (value, id_of[&name].clone(), name)
            })
            .collect();
        expected.sort_by(|a, b| {
            let by_value = match (&a.0, &b.0) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) => {
                    if descending {
                        y.cmp(x)
                    } else {
                        x.cmp(y)
                    }
                }
            };
            let by_id = if descending { b.1.cmp(&a.1) } else { a.1.cmp(&b.1) };
            by_value.then(by_id)
        });
        let expected: Vec<String> = expected.into_iter().map(|(_, _, n)| n).collect();
        let got: Vec<String> = sorted.into_iter().map(|(_, n)| n).collect();
        assert_eq!(got, expected, "sorted by {key} descending={descending}");
    }
    let multi = app
        .gql(Some(&t.token), PAGE, json!({ "o": { "key": "interests" } }))
        .await;
    assert_eq!(error_field(&multi), "orderByCustomField.key");
}

#[tokio::test]
async fn a_page_reads_custom_values_including_sensitive_ones_in_the_same_statements_at_any_size() {
    let app = spawn_app().await;
    let t = app.signup(&slug("cf-page")).await;
    define(&app, &t.token, "district", "TEXT", json!({})).await;
    define(&app, &t.token, "salary", "INTEGER", json!({ "sensitive": true })).await;
    for i in 0..20 {
        create(
            &app,
            &t.token,
            &format!("p{i:02}"),
            json!({ "district": "north", "salary": 1000 + i }),
        )
        .await;
    }
    let page =
        "query($n: Int) { customers(first: $n) { nodes { name customFields customFieldValues { key value } } } }";
    app.ok(&t.token, page, json!({ "n": 1 })).await; // definitions and keys are now in memory
    let (small, small_count) = app.ok_counting_statements(&t.token, page, json!({ "n": 3 })).await;
    let (large, large_count) = app.ok_counting_statements(&t.token, page, json!({ "n": 20 })).await;
    assert_eq!(small["customers"]["nodes"].as_array().unwrap().len(), 3);
    assert_eq!(large["customers"]["nodes"][19]["customFields"]["district"], "north");
    assert!(large["customers"]["nodes"][0]["customFields"]["salary"].is_i64());
    assert_eq!(small_count, large_count, "no statement per customer");
}

#[tokio::test]
async fn a_key_rotation_moves_sensitive_custom_values_to_the_new_key_in_the_background() {
    // No worker here: the values wait on the old key until another instance's worker runs.
    let app = spawn_app_with(&[("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "0")]).await;
    let t = app.signup(&slug("cf-rotate")).await;
    define(
        &app,
        &t.token,
        "passport",
        "TEXT",
        json!({ "sensitive": true, "searchable": true }),
    )
    .await;
    define(
        &app,
        &t.token,
        "po_ref",
        "TEXT",
        json!({ "entity": "CONTRACT", "sensitive": true }),
    )
    .await;
    let mut expected = Vec::new();
    for i in 0..3 {
        let c = create(
            &app,
            &t.token,
            &format!("Old {i}"),
            json!({ "passport": format!("E00{i}") }),
        )
        .await;
        expected.push((c["id"].clone(), format!("E00{i}")));
    }
    let sealed = json!({ "title": "Support", "value": "1.00", "customFields": { "po_ref": "PO-secret" } });
    app.create_contract(&t.token, &expected[0].0, sealed).await;
    app.rotate_tenant_key(&t.token).await;
    let newer = create(&app, &t.token, "New", json!({ "passport": "E777" })).await;
    expected.push((newer["id"].clone(), "E777".into()));
    let pending = "SELECT (SELECT COUNT(*) FROM customers WHERE custom_fields_key_version = 1) \
                   + (SELECT COUNT(*) FROM contracts WHERE custom_fields_key_version = 1)";
    assert_eq!(
        app.raw_count(pending).await,
        4,
        "three customers and a contract wait for the new key"
    );

    let status = "{ me { tenant { encryptionStatus { customFieldRecordsOnOlderKeys complete } } } }";
    assert_eq!(
        app.ok(&t.token, status, json!({})).await["me"]["tenant"]["encryptionStatus"],
        json!({ "customFieldRecordsOnOlderKeys": 4, "complete": false })
    );
    let restarted = spawn_another(&app, &[("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "1")]).await;
    wait_until(Duration::from_secs(10), "every sealed value moved", async || {
        app.raw_count(pending).await == 0
    })
    .await;
    assert_eq!(
        app.ok(&t.token, status, json!({})).await["me"]["tenant"]["encryptionStatus"],
        json!({ "customFieldRecordsOnOlderKeys": 0, "complete": true })
    );
    let stored = app
        .raw_texts("SELECT CAST(custom_fields AS TEXT) FROM customers")
        .await
        .join(" ");
    assert!(stored.contains("v1.2.") && !stored.contains("v1.1."), "{stored}");
    for (id, passport) in &expected {
        assert_eq!(
            read(&restarted, &t.token, id).await["customFields"]["passport"],
            passport.as_str()
        );
    }
    let by_passport =
        "{ customers(filter: { customFields: [{ key: \"passport\", op: EQ, value: \"E001\" }] }) { nodes { name } } }";
    assert_eq!(
        restarted.ok(&t.token, by_passport, json!({})).await["customers"]["nodes"],
        json!([{ "name": "Old 1" }]),
        "blind indexes do not depend on the data key"
    );
}
