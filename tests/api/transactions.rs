//! Sales history: exact amounts, corrections with optimistic concurrency, voiding, filters,
//! owner-based access and the audit trail.

use dossier_tests::{TestApp, error_code, error_field, mutation, pluck, sale_input, slug, spawn_app, with};
use serde_json::{Value, json};

const FIELDS: &str = "id customerId occurredAt product quantity unitPrice { amount currency } \
    amount { amount currency } paymentMethod afterSalesNotes voided voidedAt voidReason version";

fn transaction_mutation(op: &str, input_type: &str) -> String {
    mutation(op, input_type, &format!("transaction {{ {FIELDS} }}"))
}

fn record_mutation() -> String {
    transaction_mutation("recordTransaction", "RecordTransactionInput")
}

fn update_mutation() -> String {
    transaction_mutation("updateTransaction", "UpdateTransactionInput")
}

fn void_mutation() -> String {
    transaction_mutation("voidTransaction", "VoidTransactionInput")
}

const GET: &str = "query($id: ID!) { transaction(id: $id) { id product } }";

const LIST: &str =
    "query($filter: TransactionFilter, $orderBy: TransactionOrder = OCCURRED_AT_DESC, $first: Int, $after: String) {
    transactions(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { id product voided amount { amount currency } } } } }";

/// A cash sale of green tea on 2026-03-15 for `customer_id`, with `extra` fields over it.
fn sale(customer_id: &str, extra: Value) -> Value {
    let tea = json!({ "occurredAt": "2026-03-15T08:30:00Z", "product": "Green tea" });
    sale_input(customer_id, with(tea, extra))
}

async fn record(app: &TestApp, token: &str, customer_id: &str, extra: Value) -> Value {
    let data = app
        .ok(token, &record_mutation(), json!({ "input": sale(customer_id, extra) }))
        .await;
    data["recordTransaction"]["transaction"].clone()
}

fn products(list: &Value) -> Vec<String> {
    pluck(&list["transactions"], "/product")
}

#[tokio::test]
async fn a_sale_is_stored_with_its_amount_computed_and_rounded_half_up() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;

    let sold = record(
        &app,
        &t.token,
        &c,
        json!({ "product": "Oolong 500g", "quantity": "1.5", "unitPrice": "19.99", "currency": "cny",
                "paymentMethod": "WECHAT_PAY", "afterSalesNotes": "Deliver before noon" }),
    )
    .await;

    // 1.5 × 19.99 = 29.985, rounded half-up to the fen.
    assert_eq!(sold["amount"], json!({ "amount": "29.99", "currency": "CNY" }));
    assert_eq!(sold["unitPrice"], json!({ "amount": "19.99", "currency": "CNY" }));
    assert_eq!(sold["quantity"], "1.5");
    assert_eq!(sold["customerId"], c.as_str());
    assert_eq!(sold["paymentMethod"], "WECHAT_PAY");
    assert_eq!(sold["afterSalesNotes"], "Deliver before noon");
    assert_eq!(sold["occurredAt"], "2026-03-15T08:30:00+00:00");
    assert_eq!(sold["voided"], false);
    assert_eq!(sold["version"], 1);
    let stored = app
        .raw_count(
            "SELECT COUNT(*) FROM transactions WHERE quantity_milli = 1500 AND unit_price_minor = 1999 \
             AND amount_minor = 2999 AND currency = 'CNY' AND product = 'Oolong 500g'",
        )
        .await;
    assert_eq!(stored, 1, "minor units and thousandths, exactly");

    let whole = record(
        &app,
        &t.token,
        &c,
        json!({ "quantity": "2.000", "unitPrice": "1200", "currency": "JPY" }),
    )
    .await;
    assert_eq!(whole["quantity"], "2");
    assert_eq!(whole["amount"], json!({ "amount": "2400", "currency": "JPY" }));
}

#[tokio::test]
async fn a_given_amount_is_accepted_when_consistent_and_refused_otherwise() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;

    let consistent = record(
        &app,
        &t.token,
        &c,
        json!({ "quantity": "1.5", "unitPrice": "19.99", "amount": "29.99" }),
    )
    .await;
    assert_eq!(consistent["amount"]["amount"], "29.99");

    for wrong in ["29.98", "29.985", "30"] {
        let body = app
            .gql(
                Some(&t.token),
                &record_mutation(),
                json!({ "input": sale(&c, json!({ "quantity": "1.5", "unitPrice": "19.99", "amount": wrong })) }),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{wrong}");
        assert_eq!(error_field(&body), "amount", "{wrong}");
    }
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM transactions").await,
        1,
        "nothing written"
    );
}

#[tokio::test]
async fn malformed_input_is_refused_naming_the_field_and_nothing_is_written() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;
    let cases = [
        (json!({ "currency": "RMB1" }), "currency"),
        (json!({ "currency": "XX" }), "currency"),
        (json!({ "quantity": "0" }), "quantity"),
        (json!({ "quantity": "-1" }), "quantity"),
        (json!({ "quantity": "1.2345" }), "quantity"),
        (json!({ "unitPrice": "-0.01" }), "unitPrice"),
        (json!({ "unitPrice": "9.999" }), "unitPrice"),
        (json!({ "product": "  " }), "product"),
        (json!({ "occurredAt": "2999-01-01T00:00:00Z" }), "occurredAt"),
        // 9 000 000 000 000 × 99 999 999 999.00 does not fit in 64 bits: refused, never wrapped.
        (
            json!({ "quantity": "9000000000000", "unitPrice": "99999999999.00" }),
            "amount",
        ),
        (json!({ "quantity": "99999999999999999" }), "quantity"),
        (
            json!({ "afterSalesNotes": "card 4111 1111 1111 1111" }),
            "afterSalesNotes",
        ),
    ];
    for (extra, field) in cases {
        let body = app
            .gql(
                Some(&t.token),
                &record_mutation(),
                json!({ "input": sale(&c, extra.clone()) }),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{extra}");
        assert_eq!(error_field(&body), field, "{extra}");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM transactions").await, 0);
}

/// A sale of 1.5 × 19.99 whose quantity was corrected to 2 with a note (version 2);
/// returns the app, its owner's token, the sale's id and the correction's answer.
async fn corrected_sale() -> (TestApp, String, String, Value) {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;
    let sold = record(&app, &t.token, &c, json!({ "quantity": "1.5", "unitPrice": "19.99" })).await;
    let id = sold["id"].as_str().unwrap().to_owned();
    let updated = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "quantity": "2", "afterSalesNotes": "Swapped lid" } }),
        )
        .await["updateTransaction"]["transaction"]
        .clone();
    (app, t.token, id, updated)
}

/// How many stored sales of a quantity of 2 hold `amount_minor` at `version`.
async fn stored_pairs(app: &TestApp, amount_minor: i64, version: i64) -> i64 {
    app.raw_count(&format!(
        "SELECT COUNT(*) FROM transactions WHERE amount_minor = {amount_minor} AND quantity_milli = 2000 \
         AND version = {version}"
    ))
    .await
}

/// The correction of `corrected_sale` is all that is stored: a refused update changed nothing.
async fn assert_still_the_correction(app: &TestApp) {
    assert_eq!(stored_pairs(app, 3998, 2).await, 1);
}

#[tokio::test]
async fn an_update_recomputes_the_amount_and_bumps_the_version() {
    let (app, token, id, updated) = corrected_sale().await;
    assert_eq!(updated["quantity"], "2");
    assert_eq!(updated["amount"]["amount"], "39.98");
    assert_eq!(updated["afterSalesNotes"], "Swapped lid");
    assert_eq!(updated["version"], 2);

    let cleared = app
        .ok(
            &token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "afterSalesNotes": null, "unitPrice": "20" } }),
        )
        .await["updateTransaction"]["transaction"]
        .clone();
    assert_eq!(cleared["afterSalesNotes"], Value::Null);
    assert_eq!(cleared["amount"]["amount"], "40.00");
    assert_eq!(cleared["version"], 3);
    assert_eq!(stored_pairs(&app, 4000, 3).await, 1);
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict() {
    let (app, token, id, _) = corrected_sale().await;
    let stale = app
        .gql(
            Some(&token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "product": "Black tea" } }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    assert_still_the_correction(&app).await;
}

#[tokio::test]
async fn an_update_whose_given_amount_disagrees_with_quantity_and_price_is_refused_naming_amount() {
    let (app, token, id, _) = corrected_sale().await;
    let inconsistent = app
        .gql(
            Some(&token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "unitPrice": "20.00", "amount": "39.98" } }),
        )
        .await;
    assert_eq!(error_code(&inconsistent), "VALIDATION");
    assert_eq!(error_field(&inconsistent), "amount");
    assert_still_the_correction(&app).await;
}

#[tokio::test]
async fn a_currency_correction_is_refused_when_the_new_currency_cannot_hold_the_price() {
    let (app, token, id, _) = corrected_sale().await;
    // A currency correction keeps the figure when the new currency can hold it.
    let yen = app
        .gql(
            Some(&token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "currency": "JPY" } }),
        )
        .await;
    assert_eq!(error_field(&yen), "unitPrice", "19.99 has no yen form");
    assert_still_the_correction(&app).await;
}

#[tokio::test]
async fn a_voided_sale_stays_on_file_leaves_the_totals_and_is_final() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;
    let kept = record(&app, &t.token, &c, json!({ "product": "Kept" })).await;
    let mistaken = record(&app, &t.token, &c, json!({ "product": "Mistaken" })).await;
    let id = mistaken["id"].as_str().unwrap();

    let voided = app
        .ok(
            &t.token,
            &void_mutation(),
            json!({ "input": { "id": id, "reason": "Entered twice" } }),
        )
        .await["voidTransaction"]["transaction"]
        .clone();
    assert_eq!(voided["voided"], true);
    assert_eq!(voided["voidReason"], "Entered twice");
    assert!(voided["voidedAt"].is_string());

    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM transactions").await,
        2,
        "the row is kept"
    );
    let listed = app.ok(&t.token, LIST, json!({})).await;
    assert_eq!(listed["transactions"]["totalCount"], 1);
    assert_eq!(products(&listed), ["Kept"]);
    let all = app
        .ok(&t.token, LIST, json!({ "filter": { "includeVoided": true } }))
        .await;
    assert_eq!(all["transactions"]["totalCount"], 2);
    let by_amount = app
        .ok(
            &t.token,
            LIST,
            json!({ "filter": { "currency": "CNY", "minAmount": "0" } }),
        )
        .await;
    assert_eq!(
        by_amount["transactions"]["totalCount"], 1,
        "no total counts a voided sale"
    );

    let again = app
        .gql(Some(&t.token), &void_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&again), "VALIDATION");
    assert_eq!(error_field(&again), "id");
    let edit = app
        .gql(
            Some(&t.token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "product": "Revived" } }),
        )
        .await;
    assert_eq!(error_code(&edit), "VALIDATION");
    assert_eq!(kept["voided"], false);
}

#[tokio::test]
async fn sales_are_filtered_by_half_open_time_customer_and_exact_amount_bounds() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let a = app.customer_id(&t.token, "Alpha").await;
    let b = app.customer_id(&t.token, "Beta").await;
    let day = |d: u32| format!("2026-03-{d:02}T00:00:00Z");
    record(
        &app,
        &t.token,
        &a,
        json!({ "product": "a1", "occurredAt": day(1), "unitPrice": "10.00" }),
    )
    .await;
    record(
        &app,
        &t.token,
        &a,
        json!({ "product": "a2", "occurredAt": day(2), "unitPrice": "20.00" }),
    )
    .await;
    record(
        &app,
        &t.token,
        &b,
        json!({ "product": "b3", "occurredAt": day(3), "unitPrice": "30.00" }),
    )
    .await;
    record(
        &app,
        &t.token,
        &b,
        json!({ "product": "usd", "occurredAt": "2026-03-02T12:00:00Z", "unitPrice": "20.00", "currency": "USD" }),
    )
    .await;
    let list = |filter: Value| {
        let (app, token) = (&app, t.token.clone());
        async move { products(&app.ok(&token, LIST, json!({ "filter": filter })).await) }
    };

    assert_eq!(
        list(json!({ "from": day(1), "to": day(3) })).await,
        ["usd", "a2", "a1"],
        "from is included, to is not; newest first"
    );
    assert_eq!(list(json!({ "customerId": b })).await, ["b3", "usd"]);
    assert_eq!(
        list(json!({ "currency": "CNY", "minAmount": "20.00", "maxAmount": "30.00" })).await,
        ["b3", "a2"],
        "both bounds are inclusive"
    );
    assert_eq!(list(json!({ "currency": "CNY", "minAmount": "20.01" })).await, ["b3"]);
    assert_eq!(list(json!({ "currency": "CNY", "maxAmount": "19.99" })).await, ["a1"]);
    assert_eq!(list(json!({ "currency": "usd" })).await, ["usd"]);
    let ascending = app
        .ok(
            &t.token,
            LIST,
            json!({ "orderBy": "OCCURRED_AT_ASC", "filter": { "customerId": a } }),
        )
        .await;
    assert_eq!(products(&ascending), ["a1", "a2"]);

    let no_currency = app
        .gql(Some(&t.token), LIST, json!({ "filter": { "maxAmount": "10" } }))
        .await;
    assert_eq!(error_code(&no_currency), "VALIDATION");
    assert_eq!(error_field(&no_currency), "filter.currency");
    let too_precise = app
        .gql(
            Some(&t.token),
            LIST,
            json!({ "filter": { "currency": "CNY", "minAmount": "1.001" } }),
        )
        .await;
    assert_eq!(error_field(&too_precise), "filter.minAmount");
}

#[tokio::test]
async fn sales_pages_follow_their_cursors_and_refuse_another_orderings() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;
    for d in 1..=5u32 {
        record(
            &app,
            &t.token,
            &c,
            json!({ "product": format!("p{d}"), "occurredAt": format!("2026-04-0{d}T09:00:00Z") }),
        )
        .await;
    }
    let first = app.ok(&t.token, LIST, json!({ "first": 2 })).await;
    assert_eq!(products(&first), ["p5", "p4"]);
    assert_eq!(first["transactions"]["totalCount"], 5);
    let cursor = first["transactions"]["pageInfo"]["endCursor"].clone();
    let second = app.ok(&t.token, LIST, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(products(&second), ["p3", "p2"]);
    assert_eq!(second["transactions"]["pageInfo"]["hasNextPage"], true);
    let mixed = app
        .gql(
            Some(&t.token),
            LIST,
            json!({ "first": 2, "after": cursor, "orderBy": "OCCURRED_AT_ASC" }),
        )
        .await;
    assert_eq!(error_code(&mixed), "VALIDATION");
    assert_eq!(error_field(&mixed), "after");
}

#[tokio::test]
async fn sales_staff_cannot_reach_the_sales_of_a_colleagues_customer() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let (_, bob) = app.add_user(&t, "SALES", "bob").await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let bobs_customer = app.customer_id(&bob, "Bob's client").await;
    let alices_customer = app.customer_id(&alice, "Alice's client").await;
    let bobs = record(&app, &bob, &bobs_customer, json!({ "product": "Bob's sale" })).await;
    record(&app, &alice, &alices_customer, json!({ "product": "Alice's sale" })).await;
    let id = bobs["id"].as_str().unwrap();

    let read = app.gql(Some(&alice), GET, json!({ "id": id })).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let update = app
        .gql(
            Some(&alice),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "product": "Mine" } }),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND");
    let void = app
        .gql(Some(&alice), &void_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&void), "NOT_FOUND");
    let record_for_bobs = app
        .gql(
            Some(&alice),
            &record_mutation(),
            json!({ "input": sale(&bobs_customer, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&record_for_bobs), "NOT_FOUND");

    let alices_view = app.ok(&alice, LIST, json!({})).await;
    assert_eq!(products(&alices_view), ["Alice's sale"]);
    assert_eq!(alices_view["transactions"]["totalCount"], 1);
    let filtered = app
        .ok(&alice, LIST, json!({ "filter": { "customerId": bobs_customer } }))
        .await;
    assert_eq!(filtered["transactions"]["totalCount"], 0);
    let managers_view = app.ok(&manager, LIST, json!({})).await;
    assert_eq!(managers_view["transactions"]["totalCount"], 2);
    let unchanged = app.ok(&bob, GET, json!({ "id": id })).await;
    assert_eq!(unchanged["transaction"]["product"], "Bob's sale");
}

#[tokio::test]
async fn another_tenants_sale_is_not_found_and_viewers_only_read() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let other = app.signup(&slug("other")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vera").await;
    let c = app.customer_id(&t.token, "Buyer").await;
    let sold = record(&app, &t.token, &c, json!({})).await;
    let id = sold["id"].as_str().unwrap();

    let read = app.gql(Some(&other.token), GET, json!({ "id": id })).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let update = app
        .gql(
            Some(&other.token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "product": "x" } }),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND");
    let void = app
        .gql(Some(&other.token), &void_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&void), "NOT_FOUND");
    let foreign_customer = app
        .gql(
            Some(&other.token),
            &record_mutation(),
            json!({ "input": sale(&c, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&foreign_customer), "NOT_FOUND");
    assert_eq!(
        app.ok(&other.token, LIST, json!({})).await["transactions"]["totalCount"],
        0
    );

    let seen = app.ok(&viewer, GET, json!({ "id": id })).await;
    assert_eq!(seen["transaction"]["id"], id);
    let write = app
        .gql(
            Some(&viewer),
            &record_mutation(),
            json!({ "input": sale(&c, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&write), "FORBIDDEN");
    let void = app
        .gql(Some(&viewer), &void_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&void), "FORBIDDEN");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM transactions WHERE voided_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn an_archived_customer_takes_no_new_sales_but_keeps_its_history() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Leaving").await;
    let sold = record(&app, &t.token, &c, json!({ "product": "Before" })).await;
    app.archive_customer(&t.token, &c).await;

    let refused = app
        .gql(
            Some(&t.token),
            &record_mutation(),
            json!({ "input": sale(&c, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&refused), "VALIDATION");
    assert_eq!(error_field(&refused), "customerId");
    let history = app.ok(&t.token, LIST, json!({ "filter": { "customerId": c } })).await;
    assert_eq!(products(&history), ["Before"]);
    let read = app.ok(&t.token, GET, json!({ "id": sold["id"] })).await;
    assert_eq!(read["transaction"]["product"], "Before");
}

#[tokio::test]
async fn every_change_to_a_sale_is_audited_with_field_names() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;
    let sold = record(&app, &t.token, &c, json!({})).await;
    let id = sold["id"].as_str().unwrap();
    app.ok(
        &t.token,
        &update_mutation(),
        json!({ "input": { "id": id, "version": 1, "quantity": "3" } }),
    )
    .await;
    app.ok(
        &t.token,
        &void_mutation(),
        json!({ "input": { "id": id, "reason": "Returned" } }),
    )
    .await;

    let rows = app.audit_of(&t.token, id).await;
    let actions: Vec<&str> = rows.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["transaction.void", "transaction.update", "transaction.record"]
    );
    assert_eq!(rows[0]["changedFields"], json!(["voidedAt", "voidReason"]));
    assert_eq!(rows[1]["changedFields"], json!(["quantity", "amount"]));
    assert_eq!(
        rows[2]["changedFields"],
        json!([
            "customerId",
            "occurredAt",
            "product",
            "quantity",
            "unitPrice",
            "amount",
            "currency",
            "paymentMethod"
        ])
    );
    assert_eq!(rows[2]["entity"], "transaction");
    assert_eq!(rows[2]["actorId"], t.owner_id.as_str());
}

#[tokio::test]
async fn the_customer_page_loads_each_customers_latest_sales_at_once() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let busy = app.customer_id(&alice, "Busy").await;
    let quiet = app.customer_id(&alice, "Quiet").await;
    let idle = app.customer_id(&alice, "Idle").await;
    let other = app.customer_id(&t.token, "Someone else's").await;
    for d in 1..=3u32 {
        record(
            &app,
            &alice,
            &busy,
            json!({ "product": format!("busy{d}"), "occurredAt": format!("2026-05-0{d}T10:00:00Z") }),
        )
        .await;
    }
    let voided = record(
        &app,
        &alice,
        &busy,
        json!({ "product": "voided", "occurredAt": "2026-05-09T10:00:00Z" }),
    )
    .await;
    app.ok(&alice, &void_mutation(), json!({ "input": { "id": voided["id"] } }))
        .await;
    record(&app, &alice, &quiet, json!({ "product": "quiet1" })).await;
    record(&app, &t.token, &other, json!({ "product": "hidden" })).await;

    let hers = app.first_two_of_each_customer(&alice, "transactions", "product").await;
    let file_of = |id: &String| hers.get(id).cloned();
    assert_eq!(
        file_of(&busy),
        Some((vec!["busy3".to_owned(), "busy2".to_owned()], 3)),
        "newest first, voided left out"
    );
    assert_eq!(file_of(&quiet), Some((vec!["quiet1".to_owned()], 1)));
    assert_eq!(file_of(&idle), Some((vec![], 0)));
    assert_eq!(file_of(&other), None, "not her customer");
    let all = app
        .first_two_of_each_customer(&t.token, "transactions", "product")
        .await;
    assert_eq!(all.get(&other).cloned(), Some((vec!["hidden".to_owned()], 1)));
}

#[tokio::test]
async fn currencies_come_from_iso_4217_with_their_own_minor_units() {
    let app = spawn_app().await;
    let t = app.signup(&slug("sales")).await;
    let c = app.customer_id(&t.token, "Buyer").await;

    let mut refusals = Vec::new();
    for extra in [
        json!({ "currency": "XYZ" }),
        json!({ "currency": "XAU" }),
        json!({ "currency": "JPY", "unitPrice": "1.5" }),
        json!({ "currency": "KWD", "unitPrice": "1.0005" }),
    ] {
        let input = json!({ "input": sale(&c, extra) });
        let body = app.gql(Some(&t.token), &record_mutation(), input).await;
        refusals.push((error_code(&body), error_field(&body)));
    }
    let validation = |field: &str| ("VALIDATION".to_owned(), field.to_owned());
    assert_eq!(
        refusals,
        [
            validation("currency"),
            validation("currency"),
            validation("unitPrice"),
            validation("unitPrice")
        ]
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM transactions").await,
        0,
        "nothing stored"
    );

    let dinar = record(&app, &t.token, &c, json!({ "currency": "kwd", "unitPrice": "1.005" })).await;
    assert_eq!(dinar["unitPrice"], json!({ "amount": "1.005", "currency": "KWD" }));
    assert_eq!(dinar["amount"], json!({ "amount": "1.005", "currency": "KWD" }));
    let yen = record(&app, &t.token, &c, json!({ "currency": "JPY", "unitPrice": "1500" })).await;
    assert_eq!(yen["amount"], json!({ "amount": "1500", "currency": "JPY" }));
    assert_eq!(
        app.raw_count(
            "SELECT COUNT(*) FROM transactions WHERE (currency = 'KWD' AND unit_price_minor = 1005) \
             OR (currency = 'JPY' AND unit_price_minor = 1500)"
        )
        .await,
        2,
        "fils and yen are the minor units"
    );
}
