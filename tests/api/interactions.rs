//! Interactions and follow-ups: logging a conversation opens its follow-up; follow-ups are
//! completed, rescheduled and listed as a worklist; access follows the customer.

use chrono::Duration;
use dossier_tests::{TestApp, error_code, error_field, fixtures, from_now, instant, mutation, pluck, slug, spawn_app};
use serde_json::{Value, json};

const FOLLOW_UP_FIELDS: &str = "id customerId interactionId assigneeId assignee { id name } dueAt note open overdue \
     completedAt completedBy outcome version";

fn log_interaction() -> String {
    mutation(
        "logInteraction",
        "LogInteractionInput",
        &format!(
            "interaction {{ id customerId channel occurredAt summary outcome createdBy followUp {{ id }} }} \
             followUp {{ {FOLLOW_UP_FIELDS} }}"
        ),
    )
}

fn follow_up_mutation(op: &str, input_type: &str) -> String {
    mutation(op, input_type, &format!("followUp {{ {FOLLOW_UP_FIELDS} }}"))
}

fn schedule() -> String {
    follow_up_mutation("scheduleFollowUp", "ScheduleFollowUpInput")
}

fn complete() -> String {
    follow_up_mutation("completeFollowUp", "CompleteFollowUpInput")
}

fn reschedule() -> String {
    follow_up_mutation("rescheduleFollowUp", "RescheduleFollowUpInput")
}

const REASSIGN: &str = "mutation($input: ReassignFollowUpInput!) { reassignFollowUp(input: $input) { followUp { id assigneeId version } } }";

const FOLLOW_UPS: &str =
    "query($filter: FollowUpFilter, $orderBy: FollowUpOrder = DUE_AT_ASC, $first: Int, $after: String) {
    followUps(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor }
        edges { node { id note open overdue customer { id name } } } } }";

const INTERACTIONS: &str = "query($filter: InteractionFilter, $orderBy: InteractionOrder = OCCURRED_AT_DESC) {
    interactions(filter: $filter, orderBy: $orderBy, first: 50) {
        totalCount edges { node { id summary channel customer { name } followUp { id assignee { name } } } } } }";

fn ids(data: &Value, list: &str) -> Vec<String> {
    pluck(&data[list], "/id")
}

fn interaction_input(customer_id: &Value, extra: Value) -> Value {
    json!({ "input": fixtures::interaction_input(customer_id, extra) })
}

/// Schedules a follow-up and returns it.
async fn scheduled(app: &TestApp, token: &str, input: Value) -> Value {
    app.ok(token, &schedule(), json!({ "input": input })).await["scheduleFollowUp"]["followUp"].clone()
}

async fn follow_ups(app: &TestApp, token: &str, filter: Value) -> Value {
    app.ok(token, FOLLOW_UPS, json!({ "filter": filter })).await
}

#[tokio::test]
async fn logging_an_interaction_with_a_next_follow_up_opens_one_assigned_to_the_customers_owner() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (alice_id, alice) = app.add_user(&t, "SALES", "alice").await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let customer = app.create_customer(&alice, "Zhang Wei", json!({})).await;
    let occurred = from_now(Duration::hours(-2));
    let due = from_now(Duration::days(3));

    let data = app
        .ok(
            &manager,
            &log_interaction(),
            interaction_input(
                &customer["id"],
                json!({
                    "channel": "WECHAT", "occurredAt": occurred, "summary": "  Asked for a quote  ",
                    "outcome": "Quote promised", "nextFollowUpAt": due, "followUpNote": "Send the quote",
                }),
            ),
        )
        .await;

    let logged = &data["logInteraction"];
    let interaction = &logged["interaction"];
    let follow_up = &logged["followUp"];
    assert_eq!(interaction["customerId"], customer["id"]);
    assert_eq!(interaction["channel"], "WECHAT");
    assert_eq!(interaction["summary"], "Asked for a quote", "trimmed");
    assert_eq!(interaction["outcome"], "Quote promised");
    assert_eq!(instant(&interaction["occurredAt"]), instant(&json!(occurred)));
    assert_eq!(interaction["followUp"]["id"], follow_up["id"]);
    assert_eq!(
        follow_up["assigneeId"],
        alice_id.as_str(),
        "the owner, not the manager who logged it"
    );
    assert_eq!(follow_up["assignee"]["name"], "alice");
    assert_eq!(follow_up["interactionId"], interaction["id"]);
    assert_eq!(instant(&follow_up["dueAt"]), instant(&json!(due)));
    assert_eq!(follow_up["note"], "Send the quote");
    assert_eq!(follow_up["open"], true);
    assert_eq!(follow_up["overdue"], false);
    assert_eq!(follow_up["completedAt"], Value::Null);
    assert_eq!(follow_up["version"], 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM follow_ups WHERE completed_at IS NULL AND note = 'Send the quote'")
            .await,
        1
    );
}

#[tokio::test]
async fn an_interaction_logged_without_a_next_follow_up_opens_none() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let customer = app.create_customer(&alice, "Zhang Wei", json!({})).await;

    let without = app
        .ok(
            &alice,
            &log_interaction(),
            interaction_input(&customer["id"], json!({})),
        )
        .await;
    assert_eq!(without["logInteraction"]["followUp"], Value::Null);
    assert_eq!(without["logInteraction"]["interaction"]["followUp"], Value::Null);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 1);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM follow_ups").await, 0);
}

#[tokio::test]
async fn a_named_assignee_gets_the_follow_up() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (bob_id, _) = app.add_user(&t, "SALES", "bob").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    let data = app
        .ok(
            &t.token,
            &log_interaction(),
            interaction_input(
                &customer["id"],
                json!({ "nextFollowUpAt": from_now(Duration::days(1)), "assigneeId": bob_id }),
            ),
        )
        .await;

    assert_eq!(data["logInteraction"]["followUp"]["assigneeId"], bob_id.as_str());
    assert_eq!(data["logInteraction"]["followUp"]["assignee"]["name"], "bob");
}

#[tokio::test]
async fn an_assignee_from_another_tenant_is_not_found_and_nothing_is_written() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let other = app.signup(&slug("rival")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    for stranger in [other.owner_id.clone(), uuid::Uuid::now_v7().to_string()] {
        let body = app
            .gql(
                Some(&t.token),
                &log_interaction(),
                interaction_input(
                    &customer["id"],
                    json!({ "nextFollowUpAt": from_now(Duration::days(1)), "assigneeId": stranger }),
                ),
            )
            .await;
        assert_eq!(error_code(&body), "NOT_FOUND");
        assert_eq!(body["errors"][0]["message"], "user not found");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 0);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM follow_ups").await, 0);
}

#[tokio::test]
async fn an_assignee_must_be_an_active_user_who_is_not_a_viewer() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (viewer_id, _) = app.add_user(&t, "VIEWER", "vic").await;
    let (gone_id, _) = app.add_user(&t, "SALES", "gone").await;
    app.raw_execute("UPDATE users SET active = false WHERE name = 'gone'")
        .await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    for assignee in [viewer_id, gone_id] {
        let body = app
            .gql(
                Some(&t.token),
                &schedule(),
                json!({ "input": { "customerId": customer["id"], "dueAt": from_now(Duration::days(1)), "assigneeId": assignee } }),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION");
        assert_eq!(error_field(&body), "assigneeId");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM follow_ups").await, 0);
}

#[tokio::test]
async fn an_assignee_or_note_without_a_next_follow_up_is_a_validation_error() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (bob_id, _) = app.add_user(&t, "SALES", "bob").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    let assignee = app
        .gql(
            Some(&t.token),
            &log_interaction(),
            interaction_input(&customer["id"], json!({ "assigneeId": bob_id })),
        )
        .await;
    let note = app
        .gql(
            Some(&t.token),
            &log_interaction(),
            interaction_input(&customer["id"], json!({ "followUpNote": "call back" })),
        )
        .await;

    assert_eq!(error_code(&assignee), "VALIDATION");
    assert_eq!(error_field(&assignee), "assigneeId");
    assert_eq!(error_code(&note), "VALIDATION");
    assert_eq!(error_field(&note), "followUpNote");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 0);
}

#[tokio::test]
async fn a_blank_or_card_bearing_summary_is_a_validation_error_naming_summary() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;

    for summary in ["   ", "paid with card 4111 1111 1111 1111", &"x".repeat(5001)] {
        let body = app
            .gql(
                Some(&t.token),
                &log_interaction(),
                interaction_input(&customer["id"], json!({ "summary": summary })),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{summary:.20}");
        assert_eq!(error_field(&body), "summary");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 0);
}

#[tokio::test]
async fn interactions_in_the_future_and_follow_ups_before_them_are_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let cases = [
        (json!({ "occurredAt": from_now(Duration::hours(1)) }), "occurredAt"),
        (
            json!({ "occurredAt": from_now(Duration::days(-3)), "nextFollowUpAt": from_now(Duration::days(-4)) }),
            "nextFollowUpAt",
        ),
        (
            json!({ "occurredAt": from_now(Duration::days(-3)), "nextFollowUpAt": from_now(Duration::days(-1)) }),
            "nextFollowUpAt",
        ),
    ];

    for (extra, field) in cases {
        let body = app
            .gql(
                Some(&t.token),
                &log_interaction(),
                interaction_input(&customer["id"], extra),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION");
        assert_eq!(error_field(&body), field);
    }
    let slightly_ahead = app
        .ok(
            &t.token,
            &log_interaction(),
            interaction_input(&customer["id"], json!({ "occurredAt": from_now(Duration::minutes(2)) })),
        )
        .await;
    assert!(slightly_ahead["logInteraction"]["interaction"]["id"].is_string());
}

#[tokio::test]
async fn an_archived_customer_takes_no_new_records_but_keeps_its_history() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    app.ok(
        &t.token,
        &log_interaction(),
        interaction_input(&customer["id"], json!({})),
    )
    .await;
    app.archive_customer(&t.token, &customer["id"]).await;

    let log = app
        .gql(
            Some(&t.token),
            &log_interaction(),
            interaction_input(&customer["id"], json!({})),
        )
        .await;
    let follow_up = app
        .gql(
            Some(&t.token),
            &schedule(),
            json!({ "input": { "customerId": customer["id"], "dueAt": from_now(Duration::days(1)) } }),
        )
        .await;

    assert_eq!(error_code(&log), "VALIDATION");
    assert_eq!(error_field(&log), "customerId");
    assert_eq!(error_code(&follow_up), "VALIDATION");
    assert_eq!(error_field(&follow_up), "customerId");
    let history = app
        .ok(
            &t.token,
            INTERACTIONS,
            json!({ "filter": { "customerId": customer["id"] } }),
        )
        .await;
    assert_eq!(history["interactions"]["totalCount"], 1);
}

#[tokio::test]
async fn completing_a_follow_up_closes_it_and_a_second_completion_is_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let open = scheduled(
        &app,
        &t.token,
        json!({ "customerId": customer["id"], "dueAt": from_now(Duration::days(1)) }),
    )
    .await;

    let done = app
        .ok(
            &t.token,
            &complete(),
            json!({ "input": { "id": open["id"], "outcome": "Signed the renewal" } }),
        )
        .await;
    let again = app
        .gql(
            Some(&t.token),
            &complete(),
            json!({ "input": { "id": open["id"], "outcome": "Twice" } }),
        )
        .await;

    let done = &done["completeFollowUp"]["followUp"];
    assert_eq!(done["open"], false);
    assert_eq!(done["overdue"], false);
    assert_eq!(done["outcome"], "Signed the renewal");
    assert_eq!(done["completedBy"], t.owner_id.as_str());
    assert!(done["completedAt"].is_string());
    assert_eq!(done["version"], 2);
    assert_eq!(error_code(&again), "VALIDATION");
    assert_eq!(error_field(&again), "id");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM follow_ups WHERE outcome = 'Signed the renewal' AND version = 2")
            .await,
        1,
        "the second completion changed nothing"
    );
}

#[tokio::test]
async fn rescheduling_moves_the_due_time_and_bumps_the_version_but_not_for_a_completed_one() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let open = scheduled(
        &app,
        &t.token,
        json!({ "customerId": customer["id"], "dueAt": from_now(Duration::days(1)), "note": "Call about pricing" }),
    )
    .await;
    let later = from_now(Duration::days(5));

    let moved = app
        .ok(
            &t.token,
            &reschedule(),
            json!({ "input": { "id": open["id"], "dueAt": later, "reason": "Customer travelling", "version": 1 } }),
        )
        .await;
    let stale = app
        .gql(
            Some(&t.token),
            &reschedule(),
            json!({ "input": { "id": open["id"], "dueAt": from_now(Duration::days(6)), "version": 1 } }),
        )
        .await;
    let into_the_past = app
        .gql(
            Some(&t.token),
            &reschedule(),
            json!({ "input": { "id": open["id"], "dueAt": from_now(Duration::days(-1)) } }),
        )
        .await;

    let moved = &moved["rescheduleFollowUp"]["followUp"];
    assert_eq!(instant(&moved["dueAt"]), instant(&json!(later)));
    assert_eq!(moved["version"], 2);
    let note = moved["note"].as_str().unwrap();
    assert!(note.starts_with("Call about pricing\nRescheduled from "), "{note}");
    assert!(note.ends_with(": Customer travelling"), "{note}");
    assert_eq!(error_code(&stale), "CONFLICT");
    assert_eq!(error_code(&into_the_past), "VALIDATION");
    assert_eq!(error_field(&into_the_past), "dueAt");

    app.ok(&t.token, &complete(), json!({ "input": { "id": open["id"] } }))
        .await;
    let done = app
        .gql(
            Some(&t.token),
            &reschedule(),
            json!({ "input": { "id": open["id"], "dueAt": from_now(Duration::days(9)) } }),
        )
        .await;
    assert_eq!(error_code(&done), "VALIDATION");
    assert_eq!(error_field(&done), "id");
    let stored = app.ok(&t.token, FOLLOW_UPS, json!({})).await;
    assert_eq!(stored["followUps"]["edges"][0]["node"]["open"], false);
}

#[tokio::test]
async fn a_follow_up_can_be_reassigned_to_an_active_colleague() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (bob_id, _) = app.add_user(&t, "SALES", "bob").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let open = scheduled(
        &app,
        &t.token,
        json!({ "customerId": customer["id"], "dueAt": from_now(Duration::days(1)) }),
    )
    .await;
    assert_eq!(open["assigneeId"], t.owner_id.as_str());

    let moved = app
        .ok(
            &t.token,
            REASSIGN,
            json!({ "input": { "id": open["id"], "assigneeId": bob_id } }),
        )
        .await;

    assert_eq!(moved["reassignFollowUp"]["followUp"]["assigneeId"], bob_id.as_str());
    assert_eq!(moved["reassignFollowUp"]["followUp"]["version"], 2);
    let mine = app
        .ok(&t.token, FOLLOW_UPS, json!({ "filter": { "assigneeId": bob_id } }))
        .await;
    assert_eq!(ids(&mine, "followUps"), [open["id"].as_str().unwrap()]);
}

#[tokio::test]
async fn follow_ups_filter_by_assignee_due_time_overdue_and_open() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (alice_id, _) = app.add_user(&t, "SALES", "alice").await;
    let (bob_id, _) = app.add_user(&t, "SALES", "bob").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let make = |assignee: &str, days: i64, note: &str| json!({ "customerId": customer["id"], "assigneeId": assignee, "dueAt": from_now(Duration::days(days)), "note": note });
    // A past due time records a promise already missed.
    let missed = scheduled(&app, &t.token, make(&alice_id, -2, "missed")).await;
    let done_late = scheduled(&app, &t.token, make(&bob_id, -1, "done late")).await;
    let upcoming = scheduled(&app, &t.token, make(&bob_id, 1, "upcoming")).await;
    let done_early = scheduled(&app, &t.token, make(&alice_id, 3, "done early")).await;
    for done in [&done_late, &done_early] {
        app.ok(&t.token, &complete(), json!({ "input": { "id": done["id"] } }))
            .await;
    }
    let id = |f: &Value| f["id"].as_str().unwrap().to_owned();
    let now = from_now(Duration::zero());

    let by_alice = follow_ups(&app, &t.token, json!({ "assigneeId": alice_id })).await;
    let due_before = follow_ups(&app, &t.token, json!({ "dueBefore": now })).await;
    let due_after = follow_ups(&app, &t.token, json!({ "dueAfter": now })).await;
    let overdue = follow_ups(&app, &t.token, json!({ "overdue": true })).await;
    let not_overdue = follow_ups(&app, &t.token, json!({ "overdue": false })).await;
    let open = follow_ups(&app, &t.token, json!({ "open": true })).await;
    let closed = follow_ups(&app, &t.token, json!({ "open": false })).await;
    let bobs_open = follow_ups(&app, &t.token, json!({ "assigneeId": bob_id, "open": true })).await;

    assert_eq!(ids(&by_alice, "followUps"), [id(&missed), id(&done_early)]);
    assert_eq!(by_alice["followUps"]["totalCount"], 2);
    assert_eq!(ids(&due_before, "followUps"), [id(&missed), id(&done_late)]);
    assert_eq!(ids(&due_after, "followUps"), [id(&upcoming), id(&done_early)]);
    assert_eq!(ids(&overdue, "followUps"), [id(&missed)]);
    assert_eq!(overdue["followUps"]["edges"][0]["node"]["overdue"], true);
    assert_eq!(overdue["followUps"]["totalCount"], 1);
    assert_eq!(
        ids(&not_overdue, "followUps"),
        [id(&done_late), id(&upcoming), id(&done_early)]
    );
    assert_eq!(not_overdue["followUps"]["totalCount"], 3);
    assert_eq!(ids(&open, "followUps"), [id(&missed), id(&upcoming)]);
    assert_eq!(ids(&closed, "followUps"), [id(&done_late), id(&done_early)]);
    assert_eq!(ids(&bobs_open, "followUps"), [id(&upcoming)]);

    let newest_first = app
        .ok(&t.token, FOLLOW_UPS, json!({ "orderBy": "DUE_AT_DESC", "first": 2 }))
        .await;
    assert_eq!(ids(&newest_first, "followUps"), [id(&done_early), id(&upcoming)]);
    let rest = app
        .ok(
            &t.token,
            FOLLOW_UPS,
            json!({ "orderBy": "DUE_AT_DESC", "first": 2, "after": newest_first["followUps"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(ids(&rest, "followUps"), [id(&done_late), id(&missed)]);
    assert_eq!(rest["followUps"]["pageInfo"]["hasNextPage"], false);
}

#[tokio::test]
async fn interactions_filter_by_customer_channel_and_time_window() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let li = app.create_customer(&t.token, "Li Na", json!({})).await;
    let wang = app.create_customer(&t.token, "Wang Fang", json!({})).await;
    let mut logged = Vec::new();
    for (customer, days, channel, summary) in [
        (&li, -10, "CALL", "first call"),
        (&li, -5, "VISIT", "site visit"),
        (&li, -1, "CALL", "follow-up call"),
        (&wang, -3, "EMAIL", "sent brochure"),
    ] {
        let data = app
            .ok(
                &t.token,
                &log_interaction(),
                interaction_input(
                    &customer["id"],
                    json!({ "occurredAt": from_now(Duration::days(days)), "channel": channel, "summary": summary }),
                ),
            )
            .await;
        logged.push(data["logInteraction"]["interaction"]["id"].as_str().unwrap().to_owned());
    }
    let summaries = |data: &Value| pluck(&data["interactions"], "/summary");

    let of_li = app
        .ok(&t.token, INTERACTIONS, json!({ "filter": { "customerId": li["id"] } }))
        .await;
    let window = app
        .ok(
            &t.token,
            INTERACTIONS,
            json!({ "filter": { "from": from_now(Duration::days(-6)), "to": from_now(Duration::days(-2)) } }),
        )
        .await;
    let calls_oldest_first = app
        .ok(
            &t.token,
            INTERACTIONS,
            json!({ "filter": { "customerId": li["id"], "channel": "CALL" }, "orderBy": "OCCURRED_AT_ASC" }),
        )
        .await;

    assert_eq!(
        summaries(&of_li),
        ["follow-up call", "site visit", "first call"],
        "newest first"
    );
    assert_eq!(of_li["interactions"]["totalCount"], 3);
    assert_eq!(of_li["interactions"]["edges"][0]["node"]["customer"]["name"], "Li Na");
    assert_eq!(summaries(&window), ["sent brochure", "site visit"]);
    assert_eq!(window["interactions"]["totalCount"], 2);
    assert_eq!(summaries(&calls_oldest_first), ["first call", "follow-up call"]);
    let one = app
        .ok(
            &t.token,
            "query($id: ID!) { interaction(id: $id) { summary customerId } }",
            json!({ "id": logged[3] }),
        )
        .await;
    assert_eq!(one["interaction"]["summary"], "sent brochure");
    assert_eq!(one["interaction"]["customerId"], wang["id"]);
}

#[tokio::test]
async fn sales_cannot_reach_a_colleagues_customers_records_nor_another_tenants() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let (_, bob) = app.add_user(&t, "SALES", "bob").await;
    let bobs = app.create_customer(&bob, "Bob's client", json!({})).await;
    let logged = app
        .ok(
            &bob,
            &log_interaction(),
            interaction_input(&bobs["id"], json!({ "nextFollowUpAt": from_now(Duration::days(1)) })),
        )
        .await;
    let follow_up_id = logged["logInteraction"]["followUp"]["id"].clone();
    let interaction_id = logged["logInteraction"]["interaction"]["id"].clone();
    let rival = app.signup(&slug("rival")).await;

    for token in [&alice, &rival.token] {
        let log = app
            .gql(
                Some(token),
                &log_interaction(),
                interaction_input(&bobs["id"], json!({})),
            )
            .await;
        let schedule = app
            .gql(
                Some(token),
                &schedule(),
                json!({ "input": { "customerId": bobs["id"], "dueAt": from_now(Duration::days(1)) } }),
            )
            .await;
        let complete = app
            .gql(Some(token), &complete(), json!({ "input": { "id": follow_up_id } }))
            .await;
        let reschedule = app
            .gql(
                Some(token),
                &reschedule(),
                json!({ "input": { "id": follow_up_id, "dueAt": from_now(Duration::days(2)) } }),
            )
            .await;
        let read = app
            .gql(
                Some(token),
                "query($id: ID!) { interaction(id: $id) { id } }",
                json!({ "id": interaction_id }),
            )
            .await;
        for body in [&log, &schedule, &complete, &reschedule, &read] {
            assert_eq!(error_code(body), "NOT_FOUND", "{body}");
        }
        let lists = app
            .ok(
                token,
                "{ interactions { totalCount } followUps { totalCount } }",
                json!({}),
            )
            .await;
        assert_eq!(lists["interactions"]["totalCount"], 0);
        assert_eq!(lists["followUps"]["totalCount"], 0);
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM interactions").await, 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM follow_ups WHERE completed_at IS NULL AND version = 1")
            .await,
        1
    );
}

#[tokio::test]
async fn a_sales_user_works_a_follow_up_assigned_to_them_on_a_colleagues_customer() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (alice_id, alice) = app.add_user(&t, "SALES", "alice").await;
    let (_, bob) = app.add_user(&t, "SALES", "bob").await;
    let (carol_id, _) = app.add_user(&t, "SALES", "carol").await;
    let bobs = app.create_customer(&bob, "Bob's client", json!({})).await;
    let delegated = scheduled(
        &app,
        &bob,
        json!({ "customerId": bobs["id"], "dueAt": from_now(Duration::days(1)), "assigneeId": alice_id, "note": "tech call" }),
    )
    .await;

    let worklist = app
        .ok(&alice, FOLLOW_UPS, json!({ "filter": { "assigneeId": alice_id } }))
        .await;
    let moved = app
        .ok(
            &alice,
            &reschedule(),
            json!({ "input": { "id": delegated["id"], "dueAt": from_now(Duration::days(2)) } }),
        )
        .await;
    let passed_on = app
        .gql(
            Some(&alice),
            REASSIGN,
            json!({ "input": { "id": delegated["id"], "assigneeId": carol_id } }),
        )
        .await;
    let done = app
        .ok(&alice, &complete(), json!({ "input": { "id": delegated["id"] } }))
        .await;

    assert_eq!(ids(&worklist, "followUps"), [delegated["id"].as_str().unwrap()]);
    assert_eq!(
        worklist["followUps"]["edges"][0]["node"]["customer"],
        Value::Null,
        "the colleague's customer itself stays hidden"
    );
    assert_eq!(moved["rescheduleFollowUp"]["followUp"]["version"], 2);
    assert_eq!(error_code(&passed_on), "NOT_FOUND");
    assert_eq!(done["completeFollowUp"]["followUp"]["open"], false);
    assert_eq!(done["completeFollowUp"]["followUp"]["completedBy"], alice_id.as_str());
}

#[tokio::test]
async fn viewers_read_interactions_and_follow_ups_but_change_nothing() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let logged = app
        .ok(
            &t.token,
            &log_interaction(),
            interaction_input(
                &customer["id"],
                json!({ "nextFollowUpAt": from_now(Duration::days(1)) }),
            ),
        )
        .await;
    let follow_up_id = logged["logInteraction"]["followUp"]["id"].clone();

    let attempts = [
        app.gql(
            Some(&viewer),
            &log_interaction(),
            interaction_input(&customer["id"], json!({})),
        )
        .await,
        app.gql(
            Some(&viewer),
            &schedule(),
            json!({ "input": { "customerId": customer["id"], "dueAt": from_now(Duration::days(1)) } }),
        )
        .await,
        app.gql(Some(&viewer), &complete(), json!({ "input": { "id": follow_up_id } }))
            .await,
        app.gql(
            Some(&viewer),
            &reschedule(),
            json!({ "input": { "id": follow_up_id, "dueAt": from_now(Duration::days(3)) } }),
        )
        .await,
        app.gql(
            Some(&viewer),
            REASSIGN,
            json!({ "input": { "id": follow_up_id, "assigneeId": t.owner_id } }),
        )
        .await,
    ];

    for body in &attempts {
        assert_eq!(error_code(body), "FORBIDDEN", "{body}");
    }
    let seen = app
        .ok(
            &viewer,
            "{ interactions { totalCount } followUps(filter: { open: true }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(seen["interactions"]["totalCount"], 1);
    assert_eq!(seen["followUps"]["totalCount"], 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM follow_ups WHERE version = 1").await,
        1
    );
}

#[tokio::test]
async fn every_change_to_interactions_and_follow_ups_is_audited_with_field_names_only() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crm")).await;
    let (bob_id, _) = app.add_user(&t, "SALES", "bob").await;
    let customer = app.create_customer(&t.token, "Li Na", json!({})).await;
    let logged = app
        .ok(
            &t.token,
            &log_interaction(),
            interaction_input(
                &customer["id"],
                json!({ "summary": "secret pricing talk", "nextFollowUpAt": from_now(Duration::days(1)) }),
            ),
        )
        .await;
    let interaction_id = logged["logInteraction"]["interaction"]["id"].clone();
    let follow_up_id = logged["logInteraction"]["followUp"]["id"].clone();
    app.ok(
        &t.token,
        &reschedule(),
        json!({ "input": { "id": follow_up_id, "dueAt": from_now(Duration::days(2)), "reason": "busy week" } }),
    )
    .await;
    app.ok(
        &t.token,
        REASSIGN,
        json!({ "input": { "id": follow_up_id, "assigneeId": bob_id } }),
    )
    .await;
    app.ok(
        &t.token,
        &complete(),
        json!({ "input": { "id": follow_up_id, "outcome": "agreed" } }),
    )
    .await;

    let of_interaction = app.audit_changes_of(&t.token, &interaction_id).await;
    let logged_by = app.audit_of(&t.token, &interaction_id).await[0]["actorId"].clone();
    let of_follow_up = app.audit_changes_of(&t.token, &follow_up_id).await;

    assert_eq!(
        of_interaction,
        [(
            "interaction.log".to_owned(),
            json!(["customerId", "channel", "occurredAt", "summary"])
        )]
    );
    assert_eq!(logged_by, t.owner_id.as_str());
    assert_eq!(
        of_follow_up,
        [
            ("follow_up.complete".to_owned(), json!(["completedAt", "outcome"])),
            ("follow_up.reassign".to_owned(), json!(["assigneeId"])),
            ("follow_up.reschedule".to_owned(), json!(["dueAt", "note"])),
            (
                "follow_up.schedule".to_owned(),
                json!(["customerId", "assigneeId", "dueAt", "interactionId"])
            ),
        ]
    );
    let leaked = app
        .raw_count(
            "SELECT COUNT(*) FROM audit_log WHERE CAST(changed_fields AS TEXT) LIKE '%secret%' \
             OR CAST(changed_fields AS TEXT) LIKE '%busy%' OR CAST(changed_fields AS TEXT) LIKE '%agreed%'",
        )
        .await;
    assert_eq!(leaked, 0);
}
