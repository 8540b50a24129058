//! One customer's whole file in one query: nested lists, derived figures, book filters, and a
//! page of customers whose nested lists cost the same number of statements however long it is.

use chrono::Duration;
use dossier_tests::{TestApp, error_code, error_field, instant, iso, shanghai_day, slug, spawn_app};
use serde_json::{Value, json};

/// Logs a call at `at`, with a follow-up due at `follow_up` if given.
async fn talk(app: &TestApp, token: &str, customer: &Value, at: &str, follow_up: Option<&str>) -> Value {
    let call = json!({ "occurredAt": at, "summary": "Talked about the renewal", "nextFollowUpAt": follow_up });
    app.log_interaction(token, &customer["id"], call).await
}

/// Gives `customer` one of everything.
async fn fill_file(app: &TestApp, token: &str, customer: &Value, n: usize) {
    let now = chrono::Utc::now();
    let id = &customer["id"];
    app.buy(token, id, &iso(now - Duration::days(3)), "100.00", "CNY").await;
    app.buy(token, id, &iso(now - Duration::days(2)), "50.50", "CNY").await;
    let contract = json!({ "number": format!("HT-{n:03}"), "title": "Annual service", "value": "12000",
        "startDate": shanghai_day(-300), "endDate": shanghai_day(65) });
    app.create_contract(token, id, contract).await;
    talk(
        app,
        token,
        customer,
        &iso(now - Duration::hours(1)),
        Some(&iso(now + Duration::days(2))),
    )
    .await;
    let praise = json!({ "kind": "PRAISE", "content": "Quick answers", "score": 5 });
    app.record_feedback(token, id, praise).await;
}

const NESTED_PAGE: &str = "query($first: Int!) { customers(first: $first, orderBy: NAME_ASC) { nodes {
  name owner { id } tags { name } statusHistory { to } contacts { name }
  lifetimeValue { amount currency } lastInteractionAt nextFollowUpAt
  transactions(first: 5) { totalCount pageInfo { hasNextPage } nodes { amount { amount } } }
  contracts(first: 5) { totalCount nodes { number status } }
  interactions(first: 5) { totalCount nodes { summary } }
  openFollowUps(first: 5) { totalCount nodes { dueAt } }
  feedback(first: 5) { totalCount nodes { score } }
} } }";

#[tokio::test]
async fn a_page_of_fifty_customers_with_everything_nested_costs_as_many_statements_as_a_page_of_three() {
    let app = spawn_app().await;
    let t = app.signup(&slug("file")).await;
    let tag = app.create_tag(&t.token, "vip").await;
    for n in 0..50 {
        let c = app
            .create_customer(
                &t.token,
                &format!("Customer {n:02}"),
                json!({ "tagIds": [tag], "contacts": [{ "name": format!("Contact {n}") }] }),
            )
            .await;
        // Every fifth has a full file; the rest only a profile.
        if n % 5 == 0 {
            fill_file(&app, &t.token, &c, n).await;
        }
    }

    let (small, small_count) = app
        .ok_counting_statements(&t.token, NESTED_PAGE, json!({ "first": 3 }))
        .await;
    let (large, large_count) = app
        .ok_counting_statements(&t.token, NESTED_PAGE, json!({ "first": 50 }))
        .await;

    let nodes = large["customers"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert_eq!(small["customers"]["nodes"].as_array().unwrap().len(), 3);
    let full = &nodes[0];
    assert_eq!(full["name"], "Customer 00");
    assert_eq!(
        full["lifetimeValue"],
        json!([{ "amount": "150.50", "currency": "CNY" }])
    );
    assert_eq!(full["transactions"]["totalCount"], 2);
    assert_eq!(full["contracts"]["nodes"][0]["status"], "EXPIRING");
    assert_eq!(full["interactions"]["totalCount"], 1);
    assert_eq!(full["openFollowUps"]["totalCount"], 1);
    assert_eq!(full["feedback"]["nodes"][0]["score"], 5);
    assert_eq!(nodes[1]["transactions"]["totalCount"], 0);
    assert_eq!(nodes[1]["lifetimeValue"], json!([]));
    eprintln!("SQL statements for a nested page of 3 customers: {small_count}, of 50: {large_count}");
    assert_eq!(
        large_count, small_count,
        "nested lists must be loaded per page, not per customer"
    );
    // One read transaction for the whole request: on PostgreSQL one statement sets its tenant
    // and role; then the customers, their contacts, tags, owners, status histories and
    // history totals, and every nested list (rows and totals) in one statement together.
    assert!(large_count <= 8, "a nested page ran {large_count} statements");
}

#[tokio::test]
async fn nested_lists_asked_for_twice_through_aliases_and_fragments_each_show_their_own_rows() {
    let app = spawn_app().await;
    let t = app.signup(&slug("file")).await;
    let first = app.create_customer(&t.token, "A first", json!({})).await;
    let second = app.create_customer(&t.token, "B second", json!({})).await;
    let now = chrono::Utc::now();
    for days in 1..=4 {
        app.buy(&t.token, &first["id"], &iso(now - Duration::days(days)), "1.00", "CNY")
            .await;
    }
    app.buy(&t.token, &second["id"], &iso(now - Duration::days(9)), "2.00", "CNY")
        .await;
    let query = "query { customers(first: 10, orderBy: NAME_ASC) { nodes {
      name
      few: transactions(first: 1) { totalCount pageInfo { hasNextPage } nodes { amount { amount } } }
      ...More
      later: transactions(first: 2, after: null) { nodes { occurredAt } }
      contracts { totalCount }
    } } }
    fragment More on Customer { many: transactions(first: 3) { totalCount nodes { occurredAt } } }";
    let (data, statements) = app.ok_counting_statements(&t.token, query, json!({})).await;
    let nodes = data["customers"]["nodes"].as_array().unwrap();
    let a = &nodes[0];
    assert_eq!(a["name"], "A first");
    assert_eq!(a["few"]["totalCount"], 4);
    assert_eq!(a["few"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(a["few"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(a["many"]["totalCount"], 4);
    let many: Vec<&str> = a["many"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["occurredAt"].as_str().unwrap())
        .collect();
    assert_eq!(many.len(), 3);
    assert!(many.windows(2).all(|w| w[0] > w[1]), "newest first: {many:?}");
    assert_eq!(a["later"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(a["contracts"]["totalCount"], 0);
    let b = &nodes[1];
    assert_eq!(b["few"]["totalCount"], 1);
    assert_eq!(b["few"]["nodes"][0]["amount"]["amount"], "2.00");
    assert_eq!(b["few"]["pageInfo"]["hasNextPage"], false);
    assert_eq!(b["many"]["nodes"].as_array().unwrap().len(), 1);
    // The customers, then every list of every alias in one statement (and on PostgreSQL the
    // transaction's tenant setting before them).
    let expected = if app.is_postgres() { 3 } else { 2 };
    assert_eq!(statements, expected, "aliases of one list must not read it again");
}

#[tokio::test]
async fn a_customer_read_on_its_own_shows_its_nested_lists_with_their_totals() {
    let app = spawn_app().await;
    let t = app.signup(&slug("file")).await;
    let c = app.create_customer(&t.token, "Alone", json!({})).await;
    fill_file(&app, &t.token, &c, 1).await;
    let query = "query($id: ID!) { customer(id: $id) {
      transactions(first: 1) { totalCount pageInfo { hasNextPage } nodes { amount { amount } } }
      contracts { totalCount nodes { number } }
      interactions { totalCount } openFollowUps { totalCount } feedback { nodes { score } }
    } }";
    let data = app.ok(&t.token, query, json!({ "id": c["id"] })).await;
    let file = &data["customer"];
    assert_eq!(file["transactions"]["totalCount"], 2);
    assert_eq!(file["transactions"]["pageInfo"]["hasNextPage"], true);
    assert_eq!(file["transactions"]["nodes"][0]["amount"]["amount"], "50.50");
    assert_eq!(file["contracts"]["nodes"][0]["number"], "HT-001");
    assert_eq!(file["interactions"]["totalCount"], 1);
    assert_eq!(file["openFollowUps"]["totalCount"], 1);
    assert_eq!(file["feedback"]["nodes"][0]["score"], 5);
}

const FILE: &str = "query($id: ID!) { customer(id: $id) {
  lifetimeValue { amount currency } lastInteractionAt nextFollowUpAt
  transactions(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
} }";

#[tokio::test]
async fn a_customers_file_adds_up_its_history_and_pages_through_it() {
    let app = spawn_app().await;
    let t = app.signup(&slug("file")).await;
    let c = app.create_customer(&t.token, "Busy", json!({})).await;
    let mut bought = Vec::new();
    for (day, amount, currency) in [(1, "10.00", "CNY"), (2, "20.00", "CNY"), (3, "5", "JPY")] {
        let at = format!("2026-0{day}-01T12:00:00Z");
        bought.push(app.buy(&t.token, &c["id"], &at, amount, currency).await);
    }
    let voided = app
        .buy(&t.token, &c["id"], "2026-04-01T12:00:00Z", "1000.00", "CNY")
        .await;
    app.void_sale(&t.token, voided).await;
    let now = chrono::Utc::now();
    talk(&app, &t.token, &c, "2026-05-01T09:30:00Z", None).await;
    talk(
        &app,
        &t.token,
        &c,
        "2026-05-02T09:30:00Z",
        Some(&iso(now + Duration::days(9))),
    )
    .await;
    talk(
        &app,
        &t.token,
        &c,
        "2026-05-01T10:00:00Z",
        Some(&iso(now + Duration::days(3))),
    )
    .await;

    let data = app.ok(&t.token, FILE, json!({ "id": c["id"] })).await;
    let file = &data["customer"];

    assert_eq!(
        file["lifetimeValue"],
        json!([{ "amount": "30.00", "currency": "CNY" }, { "amount": "5", "currency": "JPY" }])
    );
    assert_eq!(file["lastInteractionAt"], "2026-05-02T09:30:00+00:00");
    let next = instant(&file["nextFollowUpAt"]);
    assert!((next - (now + Duration::days(3))).num_seconds().abs() <= 1);
    // Newest first; the voided one stays on file but is not one of the sales that count.
    assert_eq!(file["transactions"]["totalCount"], 3);
    assert_eq!(file["transactions"]["pageInfo"]["hasNextPage"], true);
    let first_page: Vec<&Value> = file["transactions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| &n["id"])
        .collect();
    assert_eq!(first_page, vec![&json!(bought[2]), &json!(bought[1])]);

    let cursor = file["transactions"]["pageInfo"]["endCursor"].clone();
    let rest = app
        .ok(
            &t.token,
            "query($id: ID!, $after: String) { customer(id: $id) { transactions(first: 5, after: $after) { pageInfo { hasNextPage } nodes { id } } } }",
            json!({ "id": c["id"], "after": cursor }),
        )
        .await;
    assert_eq!(rest["customer"]["transactions"]["nodes"], json!([{ "id": bought[0] }]));
    assert_eq!(rest["customer"]["transactions"]["pageInfo"]["hasNextPage"], false);
}

const IDS_BY_FILTER: &str = "query($filter: CustomerFilter) { customers(first: 100, filter: $filter, orderBy: NAME_ASC) { totalCount nodes { name } } }";

async fn names_matching(app: &TestApp, token: &str, filter: Value) -> Vec<String> {
    let data = app.ok(token, IDS_BY_FILTER, json!({ "filter": filter })).await;
    let nodes = data["customers"]["nodes"].as_array().unwrap();
    assert_eq!(data["customers"]["totalCount"], nodes.len(), "{filter}");
    nodes.iter().map(|n| n["name"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_book_filters_by_lifetime_value_staleness_and_open_follow_ups() {
    let app = spawn_app().await;
    let t = app.signup(&slug("book")).await;
    let big = app.create_customer(&t.token, "Big", json!({})).await;
    let small = app.create_customer(&t.token, "Small", json!({})).await;
    let usd = app.create_customer(&t.token, "Dollar", json!({})).await;
    app.create_customer(&t.token, "Nothing", json!({})).await;
    for (customer, at, amount, currency) in [
        (&big, "2026-01-01T00:00:00Z", "600.00", "CNY"),
        (&big, "2026-01-02T00:00:00Z", "400.00", "CNY"),
        (&small, "2026-01-01T00:00:00Z", "99.99", "CNY"),
        (&usd, "2026-01-01T00:00:00Z", "5000.00", "USD"),
    ] {
        app.buy(&t.token, &customer["id"], at, amount, currency).await;
    }
    let voided = app
        .buy(&t.token, &small["id"], "2026-01-03T00:00:00Z", "5000.00", "CNY")
        .await;
    app.void_sale(&t.token, voided).await;
    let now = chrono::Utc::now();
    talk(
        &app,
        &t.token,
        &big,
        &iso(now - Duration::days(2)),
        Some(&iso(now + Duration::days(1))),
    )
    .await;
    talk(&app, &t.token, &small, &iso(now - Duration::days(40)), None).await;

    let cny = |amount: &str| json!({ "amount": amount, "currency": "CNY" });
    assert_eq!(
        names_matching(&app, &t.token, json!({ "minLifetimeValue": cny("1000.00") })).await,
        vec!["Big"]
    );
    assert_eq!(
        names_matching(&app, &t.token, json!({ "minLifetimeValue": cny("1000.01") })).await,
        Vec::<String>::new()
    );
    assert_eq!(
        names_matching(&app, &t.token, json!({ "minLifetimeValue": cny("99.99") })).await,
        vec!["Big", "Small"]
    );
    assert_eq!(
        names_matching(&app, &t.token, json!({ "maxLifetimeValue": cny("99.99") })).await,
        vec!["Dollar", "Nothing", "Small"]
    );
    assert_eq!(
        names_matching(
            &app,
            &t.token,
            json!({ "minLifetimeValue": cny("50"), "maxLifetimeValue": cny("500") })
        )
        .await,
        vec!["Small"]
    );
    let stale_since = iso(now - Duration::days(30));
    assert_eq!(
        names_matching(&app, &t.token, json!({ "lastInteractionBefore": stale_since })).await,
        vec!["Dollar", "Nothing", "Small"]
    );
    assert_eq!(
        names_matching(&app, &t.token, json!({ "hasOpenFollowUp": true })).await,
        vec!["Big"]
    );
    assert_eq!(
        names_matching(&app, &t.token, json!({ "hasOpenFollowUp": false })).await,
        vec!["Dollar", "Nothing", "Small"]
    );

    let body = app
        .gql(
            Some(&t.token),
            IDS_BY_FILTER,
            json!({ "filter": { "minLifetimeValue": { "amount": "1.001", "currency": "CNY" } } }),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION");
    assert_eq!(error_field(&body), "filter.minLifetimeValue.amount");
}

#[tokio::test]
async fn merging_customers_brings_the_duplicates_whole_history_along() {
    let app = spawn_app().await;
    let t = app.signup(&slug("merge")).await;
    let primary = app.create_customer(&t.token, "Primary Co", json!({})).await;
    let dup = app
        .create_customer(&t.token, "Primary Co (old)", json!({ "allowDuplicate": true }))
        .await;
    fill_file(&app, &t.token, &dup, 1).await;

    app.merge_customers(&t.token, &primary["id"], &dup["id"]).await;

    let data = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { lifetimeValue { amount }
               transactions { totalCount } contracts { totalCount } interactions { totalCount }
               openFollowUps { totalCount } feedback { totalCount } } }",
            json!({ "id": primary["id"] }),
        )
        .await;
    let file = &data["customer"];
    assert_eq!(file["lifetimeValue"], json!([{ "amount": "150.50" }]));
    for list in ["contracts", "interactions", "openFollowUps", "feedback"] {
        assert_eq!(file[list]["totalCount"], 1, "{list}");
    }
    assert_eq!(file["transactions"]["totalCount"], 2);
}

#[tokio::test]
async fn erasing_a_customer_clears_the_free_text_of_its_history_but_keeps_the_figures() {
    let app = spawn_app().await;
    let t = app.signup(&slug("erase")).await;
    let c = app.create_customer(&t.token, "Wang Fang", json!({})).await;
    fill_file(&app, &t.token, &c, 7).await;

    app.erase_customer(&t.token, &c["id"]).await;

    assert_eq!(
        app.raw_texts("SELECT summary FROM interactions UNION ALL SELECT content FROM feedback")
            .await,
        vec!["(erased)", "(erased)"]
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM transactions WHERE amount_minor = 10000")
            .await,
        1
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM contracts WHERE value_minor = 1200000")
            .await,
        1
    );
}

const CALLS_WITH_CUSTOMERS: &str = "query($first: Int!) { interactions(first: $first) { nodes {
  customer { name tags { name } contacts { name } owner { id } statusHistory { to }
    lifetimeValue { amount } contracts { totalCount } }
} } }";

#[tokio::test]
async fn the_customers_of_a_list_of_interactions_load_their_files_once_for_all() {
    let app = spawn_app().await;
    let t = app.signup(&slug("file")).await;
    let tag = app.create_tag(&t.token, "vip").await;
    let now = chrono::Utc::now();
    for n in 0..10 {
        let c = app
            .create_customer(
                &t.token,
                &format!("Buyer {n}"),
                json!({ "tagIds": [tag], "contacts": [{ "name": format!("Contact {n}") }] }),
            )
            .await;
        app.buy(&t.token, &c["id"], &iso(now - Duration::days(n + 1)), "3.00", "CNY")
            .await;
        talk(&app, &t.token, &c, &iso(now - Duration::hours(n + 1)), None).await;
    }
    let (two, for_two) = app
        .ok_counting_statements(&t.token, CALLS_WITH_CUSTOMERS, json!({ "first": 2 }))
        .await;
    let (ten, for_ten) = app
        .ok_counting_statements(&t.token, CALLS_WITH_CUSTOMERS, json!({ "first": 10 }))
        .await;
    assert_eq!(two["interactions"]["nodes"].as_array().unwrap().len(), 2);
    let nodes = ten["interactions"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 10);
    let newest = &nodes[0]["customer"];
    assert_eq!(newest["name"], "Buyer 0");
    assert_eq!(newest["tags"], json!([{ "name": "vip" }]));
    assert_eq!(newest["contacts"], json!([{ "name": "Contact 0" }]));
    assert_eq!(newest["lifetimeValue"], json!([{ "amount": "3.00" }]));
    assert_eq!(newest["contracts"]["totalCount"], 0);
    assert_eq!(
        for_ten, for_two,
        "the customers' files must load once per list, not per interaction"
    );
}
