//! Feedback: recording praise, suggestions and complaints with a 1–5 score, resolving them
//! once, listing them newest first; access follows the customer.

use chrono::Duration;
use dossier_tests::{error_code, error_field, feedback_input, from_now, instant, pluck, slug, spawn_app};
use serde_json::{Value, json};

const RECORD: &str = "mutation($input: RecordFeedbackInput!) { recordFeedback(input: $input) { feedback {
    id customerId kind content score receivedAt resolution resolved resolvedAt resolvedBy createdAt } } }";

const RESOLVE: &str = "mutation($input: ResolveFeedbackInput!) { resolveFeedback(input: $input) { feedback {
    id resolution resolved resolvedAt resolvedBy } } }";

const LIST: &str = "query($filter: FeedbackFilter) { feedback(filter: $filter, first: 50) {
    totalCount edges { node { id content customer { name } } } } }";

fn input(customer_id: &Value, extra: Value) -> Value {
    json!({ "input": feedback_input(customer_id, extra) })
}

fn contents(data: &Value) -> Vec<String> {
    pluck(&data["feedback"], "/content")
}

#[tokio::test]
async fn recorded_feedback_keeps_what_was_given_and_defaults_to_now() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let received = from_now(Duration::days(-2));

    let given = app
        .ok(
            &t.token,
            RECORD,
            input(
                &customer["id"],
                json!({ "kind": "PRAISE", "content": " Great service ", "score": 5, "receivedAt": received }),
            ),
        )
        .await;
    let defaulted = app.ok(&t.token, RECORD, input(&customer["id"], json!({}))).await;

    let given = &given["recordFeedback"]["feedback"];
    assert_eq!(given["customerId"], customer["id"]);
    assert_eq!(given["kind"], "PRAISE");
    assert_eq!(given["content"], "Great service");
    assert_eq!(given["score"], 5);
    assert_eq!(instant(&given["receivedAt"]), instant(&json!(received)));
    assert_eq!(given["resolved"], false);
    assert_eq!(given["resolution"], Value::Null);
    let defaulted = &defaulted["recordFeedback"]["feedback"];
    assert_eq!(defaulted["score"], Value::Null);
    assert_eq!(defaulted["receivedAt"], defaulted["createdAt"]);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM feedback WHERE score = 5 AND kind = 'praise'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_score_outside_one_to_five_is_refused_naming_score() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    for bad in [0, 6] {
        let body = app
            .gql(Some(&t.token), RECORD, input(&customer["id"], json!({ "score": bad })))
            .await;
        assert_eq!(error_code(&body), "VALIDATION");
        assert_eq!(error_field(&body), "score");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM feedback").await, 0);
    for good in [1, 5] {
        let data = app
            .ok(&t.token, RECORD, input(&customer["id"], json!({ "score": good })))
            .await;
        assert_eq!(data["recordFeedback"]["feedback"]["score"], good);
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM feedback").await, 2);
}

#[tokio::test]
async fn blank_content_and_future_receipt_are_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    let blank = app
        .gql(
            Some(&t.token),
            RECORD,
            input(&customer["id"], json!({ "content": "  " })),
        )
        .await;
    let card = app
        .gql(
            Some(&t.token),
            RECORD,
            input(&customer["id"], json!({ "content": "refund to 5555-5555-5555-4444" })),
        )
        .await;
    let future = app
        .gql(
            Some(&t.token),
            RECORD,
            input(&customer["id"], json!({ "receivedAt": from_now(Duration::days(1)) })),
        )
        .await;

    assert_eq!(
        (error_code(&blank), error_field(&blank)),
        ("VALIDATION".into(), "content".into())
    );
    assert_eq!(
        (error_code(&card), error_field(&card)),
        ("VALIDATION".into(), "content".into())
    );
    assert_eq!(
        (error_code(&future), error_field(&future)),
        ("VALIDATION".into(), "receivedAt".into())
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM feedback").await, 0);
}

#[tokio::test]
async fn resolving_feedback_records_who_and_when_and_a_second_resolution_is_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let recorded = app.ok(&t.token, RECORD, input(&customer["id"], json!({}))).await;
    let id = recorded["recordFeedback"]["feedback"]["id"].clone();

    let resolved = app
        .ok(
            &t.token,
            RESOLVE,
            json!({ "input": { "id": id, "resolution": "Refunded shipping" } }),
        )
        .await;
    let again = app
        .gql(
            Some(&manager),
            RESOLVE,
            json!({ "input": { "id": id, "resolution": "Something else" } }),
        )
        .await;
    let blank = app
        .gql(
            Some(&t.token),
            RESOLVE,
            json!({ "input": { "id": id, "resolution": " " } }),
        )
        .await;

    let resolved = &resolved["resolveFeedback"]["feedback"];
    assert_eq!(resolved["resolved"], true);
    assert_eq!(resolved["resolution"], "Refunded shipping");
    assert_eq!(resolved["resolvedBy"], t.owner_id.as_str());
    assert!(resolved["resolvedAt"].is_string());
    assert_eq!(
        (error_code(&again), error_field(&again)),
        ("VALIDATION".into(), "id".into())
    );
    assert_eq!(error_field(&blank), "resolution");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM feedback WHERE resolution = 'Refunded shipping'")
            .await,
        1,
        "the first resolution stands"
    );
}

#[tokio::test]
async fn feedback_is_listed_newest_first_and_filters_by_customer_kind_and_resolution() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let li = app.create_customer(&t.token, "Li Na", json!({})).await;
    let wang = app.create_customer(&t.token, "Wang Fang", json!({})).await;
    let mut ids = Vec::new();
    for (customer, days, kind, content) in [
        (&li, -3, "COMPLAINT", "late delivery"),
        (&li, -1, "PRAISE", "friendly staff"),
        (&wang, -2, "SUGGESTION", "add WeChat Pay"),
        (&wang, -4, "COMPLAINT", "wrong invoice"),
    ] {
        let data = app
            .ok(
                &t.token,
                RECORD,
                input(
                    &customer["id"],
                    json!({ "kind": kind, "content": content, "receivedAt": from_now(Duration::days(days)) }),
                ),
            )
            .await;
        ids.push(data["recordFeedback"]["feedback"]["id"].clone());
    }
    app.ok(
        &t.token,
        RESOLVE,
        json!({ "input": { "id": ids[0], "resolution": "apologised" } }),
    )
    .await;

    let all = app.ok(&t.token, LIST, json!({})).await;
    let of_li = app
        .ok(&t.token, LIST, json!({ "filter": { "customerId": li["id"] } }))
        .await;
    let complaints = app
        .ok(&t.token, LIST, json!({ "filter": { "kind": "COMPLAINT" } }))
        .await;
    let open = app.ok(&t.token, LIST, json!({ "filter": { "resolved": false } })).await;
    let resolved = app.ok(&t.token, LIST, json!({ "filter": { "resolved": true } })).await;

    assert_eq!(
        contents(&all),
        ["friendly staff", "add WeChat Pay", "late delivery", "wrong invoice"]
    );
    assert_eq!(all["feedback"]["totalCount"], 4);
    assert_eq!(all["feedback"]["edges"][0]["node"]["customer"]["name"], "Li Na");
    assert_eq!(contents(&of_li), ["friendly staff", "late delivery"]);
    assert_eq!(contents(&complaints), ["late delivery", "wrong invoice"]);
    assert_eq!(contents(&open), ["friendly staff", "add WeChat Pay", "wrong invoice"]);
    assert_eq!(open["feedback"]["totalCount"], 3);
    assert_eq!(contents(&resolved), ["late delivery"]);
    let one = app
        .ok(
            &t.token,
            "query($id: ID!) { feedbackEntry(id: $id) { content resolved } }",
            json!({ "id": ids[2] }),
        )
        .await;
    assert_eq!(
        one["feedbackEntry"],
        json!({ "content": "add WeChat Pay", "resolved": false })
    );
}

#[tokio::test]
async fn sales_cannot_reach_a_colleagues_customers_feedback_nor_another_tenants() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let (_, bob) = app.add_user(&t, "SALES", "bob").await;
    let bobs = app.create_customer(&bob, "Bob's client", json!({})).await;
    let recorded = app.ok(&bob, RECORD, input(&bobs["id"], json!({}))).await;
    let id = recorded["recordFeedback"]["feedback"]["id"].clone();
    let rival = app.signup(&slug("rival")).await;

    for token in [&alice, &rival.token] {
        let record = app.gql(Some(token), RECORD, input(&bobs["id"], json!({}))).await;
        let resolve = app
            .gql(
                Some(token),
                RESOLVE,
                json!({ "input": { "id": id, "resolution": "mine" } }),
            )
            .await;
        let read = app
            .gql(
                Some(token),
                "query($id: ID!) { feedbackEntry(id: $id) { id } }",
                json!({ "id": id }),
            )
            .await;
        for body in [&record, &resolve, &read] {
            assert_eq!(error_code(body), "NOT_FOUND", "{body}");
        }
        let listed = app.ok(token, LIST, json!({})).await;
        assert_eq!(listed["feedback"]["totalCount"], 0);
    }
    let bobs_view = app.ok(&bob, LIST, json!({})).await;
    assert_eq!(bobs_view["feedback"]["totalCount"], 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM feedback").await, 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM feedback WHERE resolved_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn viewers_read_feedback_but_cannot_record_or_resolve_it() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let recorded = app.ok(&t.token, RECORD, input(&customer["id"], json!({}))).await;
    let id = recorded["recordFeedback"]["feedback"]["id"].clone();

    let record = app.gql(Some(&viewer), RECORD, input(&customer["id"], json!({}))).await;
    let resolve = app
        .gql(
            Some(&viewer),
            RESOLVE,
            json!({ "input": { "id": id, "resolution": "done" } }),
        )
        .await;

    assert_eq!(error_code(&record), "FORBIDDEN");
    assert_eq!(error_code(&resolve), "FORBIDDEN");
    let seen = app.ok(&viewer, LIST, json!({})).await;
    assert_eq!(seen["feedback"]["totalCount"], 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM feedback WHERE resolved_at IS NULL")
            .await,
        1
    );
}

#[tokio::test]
async fn recording_and_resolving_feedback_is_audited_with_field_names_only() {
    let app = spawn_app().await;
    let t = app.signup(&slug("fb")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let recorded = app
        .ok(
            &t.token,
            RECORD,
            input(&customer["id"], json!({ "content": "rude driver", "score": 1 })),
        )
        .await;
    let id = recorded["recordFeedback"]["feedback"]["id"].clone();
    app.ok(
        &t.token,
        RESOLVE,
        json!({ "input": { "id": id, "resolution": "driver retrained" } }),
    )
    .await;

    let rows = app.audit_of(&t.token, &id).await;

    assert_eq!(
        rows,
        [
            json!({ "action": "feedback.resolve", "entity": "feedback",
                    "changedFields": ["resolution", "resolvedAt"], "actorId": t.owner_id }),
            json!({ "action": "feedback.record", "entity": "feedback",
                    "changedFields": ["customerId", "kind", "content", "receivedAt", "score"], "actorId": t.owner_id }),
        ]
    );
    let leaked = app
        .raw_count(
            "SELECT COUNT(*) FROM audit_log WHERE CAST(changed_fields AS TEXT) LIKE '%rude%' \
             OR CAST(changed_fields AS TEXT) LIKE '%retrained%'",
        )
        .await;
    assert_eq!(leaked, 0);
}
