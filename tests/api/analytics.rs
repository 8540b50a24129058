//! Analytics across the book, on fixtures whose right answers are worked out by hand here.
//! The tenants are in Asia/Shanghai (UTC+8, no daylight saving).

use dossier_tests::{error_code, error_field, pluck, shanghai_day, slug, spawn_app};
use serde_json::{Value, json};

const TIERS: &str = "query($from: Date!, $to: Date!, $currency: String!) {
  customerValueTiers(from: $from, to: $to, currency: $currency) {
    customersScored currency
    tiers { tier count customers { customer { name } recencyDays frequency monetary { amount currency }
            recencyScore frequencyScore monetaryScore abcClass } }
    abc { class count revenue { amount } revenueSharePercent customers { customer { name } } }
  }
}";

fn names(customers: &Value) -> Vec<String> {
    pluck(customers, "/customer/name")
}

#[tokio::test]
async fn value_tiers_score_recency_frequency_and_money_by_quintile_and_split_revenue_80_15_5() {
    let app = spawn_app().await;
    let t = app.signup(&slug("rfm")).await;
    let mut c = std::collections::HashMap::new();
    for name in ["A", "B", "C", "D", "E", "F"] {
        c.insert(name, app.create_customer(&t.token, name, json!({})).await);
    }
    // The window is 2026-01-01..2026-03-31 in Shanghai; it ends at 2026-03-31T16:00Z.
    for (who, at, amount) in [
        ("A", "2026-01-05T12:00:00Z", "2000.00"),
        ("A", "2026-02-05T12:00:00Z", "2000.00"),
        ("A", "2026-03-30T12:00:00Z", "3000.00"),
        ("B", "2026-02-20T12:00:00Z", "500.00"),
        ("B", "2026-03-20T12:00:00Z", "1000.00"),
        ("C", "2026-01-20T12:00:00Z", "600.00"),
        ("C", "2026-03-01T12:00:00Z", "400.00"),
        ("D", "2026-02-01T12:00:00Z", "300.00"),
        ("E", "2026-01-10T12:00:00Z", "200.00"),
        // Outside the window (Shanghai 2025-12-31 23:00), another currency, an archived customer.
        ("C", "2025-12-31T15:00:00Z", "5000.00"),
        ("F", "2026-02-01T12:00:00Z", "9000.00"),
    ] {
        app.buy(&t.token, &c[who]["id"], at, amount, "CNY").await;
    }
    app.buy(&t.token, &c["D"]["id"], "2026-02-02T12:00:00Z", "8000.00", "USD")
        .await;
    let voided = app
        .buy(&t.token, &c["E"]["id"], "2026-02-02T12:00:00Z", "99999.00", "CNY")
        .await;
    app.void_sale(&t.token, voided).await;
    app.archive_customer(&t.token, &c["F"]["id"]).await;

    let data = app
        .ok(
            &t.token,
            TIERS,
            json!({ "from": "2026-01-01", "to": "2026-03-31", "currency": "CNY" }),
        )
        .await;
    let tiers = &data["customerValueTiers"];

    // Recency days 1, 11, 30, 58, 80; frequency 3, 2, 2, 1, 1; money 7000, 1500, 1000, 300, 200.
    // R = 5 4 3 2 1, F = 5 3 3 1 1, M = 5 4 3 2 1 → sums 15, 11, 9, 5, 3 → HIGH, MEDIUM, MEDIUM, LOW, LOW.
    assert_eq!(tiers["customersScored"], 5);
    assert_eq!(tiers["tiers"][0]["tier"], "HIGH");
    assert_eq!(names(&tiers["tiers"][0]["customers"]), vec!["A"]);
    assert_eq!(names(&tiers["tiers"][1]["customers"]), vec!["B", "C"]);
    assert_eq!(names(&tiers["tiers"][2]["customers"]), vec!["D", "E"]);
    assert_eq!(
        tiers["tiers"][0]["customers"][0],
        json!({ "customer": { "name": "A" }, "recencyDays": 1, "frequency": 3,
                "monetary": { "amount": "7000.00", "currency": "CNY" },
                "recencyScore": 5, "frequencyScore": 5, "monetaryScore": 5, "abcClass": "A" })
    );
    let b = &tiers["tiers"][1]["customers"][0];
    assert_eq!(
        (
            &b["recencyDays"],
            &b["recencyScore"],
            &b["frequencyScore"],
            &b["monetaryScore"]
        ),
        (&json!(11), &json!(4), &json!(3), &json!(4))
    );
    // Revenue before each: A 0, B 7000 (70 %), C 8500 (85 %), D 9500 (95 %) → A A B C C.
    let abc = &tiers["abc"];
    assert_eq!(names(&abc[0]["customers"]), vec!["A", "B"]);
    assert_eq!(abc[0]["revenue"]["amount"], "8500.00");
    assert_eq!(abc[0]["revenueSharePercent"], "85.00");
    assert_eq!(names(&abc[1]["customers"]), vec!["C"]);
    assert_eq!(abc[1]["revenueSharePercent"], "10.00");
    assert_eq!(names(&abc[2]["customers"]), vec!["D", "E"]);
    assert_eq!(abc[2]["revenueSharePercent"], "5.00");
}

#[tokio::test]
async fn revenue_by_month_follows_the_tenants_calendar_across_a_year_boundary() {
    let app = spawn_app().await;
    let t = app.signup(&slug("rev")).await;
    let c = app.create_customer(&t.token, "Buyer", json!({})).await;
    for (at, amount) in [
        ("2025-11-30T15:59:59Z", "10.00"), // Shanghai 2025-11-30 23:59:59
        ("2025-11-30T16:00:00Z", "20.00"), // Shanghai 2025-12-01 00:00
        ("2025-12-31T15:00:00Z", "30.00"), // Shanghai 2025-12-31 23:00
        ("2025-12-31T17:00:00Z", "40.50"), // Shanghai 2026-01-01 01:00
        ("2026-03-05T12:00:00Z", "99.00"), // after the period
    ] {
        app.buy(&t.token, &c["id"], at, amount, "CNY").await;
    }
    app.buy(&t.token, &c["id"], "2025-12-10T12:00:00Z", "70.00", "USD")
        .await;

    let data = app
        .ok(
            &t.token,
            "query { revenueByMonth(from: \"2025-11-15\", to: \"2026-02-10\", currency: \"CNY\") { month revenue { amount currency } transactions } }",
            json!({}),
        )
        .await;

    assert_eq!(
        data["revenueByMonth"],
        json!([
            { "month": "2025-11", "revenue": { "amount": "10.00", "currency": "CNY" }, "transactions": 1 },
            { "month": "2025-12", "revenue": { "amount": "50.00", "currency": "CNY" }, "transactions": 2 },
            { "month": "2026-01", "revenue": { "amount": "40.50", "currency": "CNY" }, "transactions": 1 },
            { "month": "2026-02", "revenue": { "amount": "0.00", "currency": "CNY" }, "transactions": 0 },
        ])
    );
}

#[tokio::test]
async fn the_pipeline_counts_statuses_and_conversions_in_the_period() {
    let app = spawn_app().await;
    let t = app.signup(&slug("pipe")).await;
    let mut ids = Vec::new();
    for name in ["P1", "P2", "P3", "P4"] {
        ids.push(app.create_customer(&t.token, name, json!({})).await["id"].clone());
    }
    for (id, status) in [
        (&ids[0], "INTENT"),
        (&ids[1], "INTENT"),
        (&ids[1], "CUSTOMER"),
        (&ids[2], "LOST"),
    ] {
        app.change_customer_status(&t.token, id, status).await;
    }
    let today = shanghai_day(0);

    let data = app
        .ok(
            &t.token,
            "query($from: Date!, $to: Date!) { pipeline(from: $from, to: $to) {
               statuses { status count } conversions { from to count exposed ratePercent } } }",
            json!({ "from": today, "to": today }),
        )
        .await;

    assert_eq!(
        data["pipeline"]["statuses"],
        json!([
            { "status": "POTENTIAL", "count": 1 },
            { "status": "INTENT", "count": 1 },
            { "status": "CUSTOMER", "count": 1 },
            { "status": "LOST", "count": 1 },
        ])
    );
    assert_eq!(
        data["pipeline"]["conversions"],
        json!([
            { "from": "POTENTIAL", "to": "INTENT", "count": 2, "exposed": 4, "ratePercent": "50.00" },
            { "from": "POTENTIAL", "to": "LOST", "count": 1, "exposed": 4, "ratePercent": "25.00" },
            { "from": "INTENT", "to": "CUSTOMER", "count": 1, "exposed": 2, "ratePercent": "50.00" },
        ])
    );
    // A period before anything happened has no conversions.
    let data = app
        .ok(
            &t.token,
            "query { pipeline(from: \"2020-01-01\", to: \"2020-12-31\") { conversions { count } } }",
            json!({}),
        )
        .await;
    assert_eq!(data["pipeline"]["conversions"], json!([]));
}

#[tokio::test]
async fn analytics_are_for_managers_and_above() {
    let app = spawn_app().await;
    let t = app.signup(&slug("an")).await;
    let (_, sales) = app.add_user(&t, "SALES", "sam").await;
    let (_, manager) = app.add_user(&t, "MANAGER", "meg").await;

    for query in [
        "query { revenueByMonth(from: \"2026-01-01\", to: \"2026-02-01\", currency: \"CNY\") { month } }",
        "query { pipeline(from: \"2026-01-01\", to: \"2026-02-01\") { statuses { count } } }",
        "query { customerValueTiers(from: \"2026-01-01\", to: \"2026-02-01\", currency: \"CNY\") { customersScored } }",
        "query { followUpDiscipline { open } }",
    ] {
        let body = app.gql(Some(&sales), query, json!({})).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
        let body = app.gql(Some(&manager), query, json!({})).await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
    }
}

#[tokio::test]
async fn analytics_refuse_bad_periods_and_currencies_naming_the_argument() {
    let app = spawn_app().await;
    let t = app.signup(&slug("an")).await;
    let (_, manager) = app.add_user(&t, "MANAGER", "meg").await;

    for (query, field) in [
        (
            "query { revenueByMonth(from: \"2026-03-01\", to: \"2026-02-01\", currency: \"CNY\") { month } }",
            "to",
        ),
        (
            "query { revenueByMonth(from: \"2026-13-01\", to: \"2027-02-01\", currency: \"CNY\") { month } }",
            "from",
        ),
        (
            "query { revenueByMonth(from: \"2000-01-01\", to: \"2026-02-01\", currency: \"CNY\") { month } }",
            "to",
        ),
        (
            "query { revenueByMonth(from: \"2026-01-01\", to: \"2026-02-01\", currency: \"yuan\") { month } }",
            "currency",
        ),
        ("query { followUpDiscipline(from: \"2026-01-01\") { open } }", "to"),
    ] {
        let body = app.gql(Some(&manager), query, json!({})).await;
        assert_eq!(error_code(&body), "VALIDATION", "{query}");
        assert_eq!(error_field(&body), field, "{query}");
    }
}
