//! Contracts: validation, unique numbers, the status derived from the tenant's today at each
//! boundary, reminder offsets, filters, renewal chains, termination, access and audit.
//!
//! Test tenants live in Asia/Shanghai (the signup default, UTC+8 all year), so "today" is
//! computed here the same way the server does.

use dossier_tests::{TestApp, error_code, error_field, fixtures, mutation, pluck, shanghai_day, slug, spawn_app, with};
use serde_json::{Value, json};

const FIELDS: &str = "id customerId number title value { amount currency } startDate endDate signedDate \
    autoRenew renewalState reminderOffsetsDays expiringFrom status daysUntilEnd terms terminatedAt \
    terminationReason predecessorId predecessor { id number status } successor { id number status } version";

fn contract_mutation(op: &str, input_type: &str) -> String {
    mutation(op, input_type, &format!("contract {{ {FIELDS} }}"))
}

fn create_mutation() -> String {
    contract_mutation("createContract", "CreateContractInput")
}

fn update_mutation() -> String {
    contract_mutation("updateContract", "UpdateContractInput")
}

fn terminate_mutation() -> String {
    contract_mutation("terminateContract", "TerminateContractInput")
}

fn renew_mutation() -> String {
    mutation(
        "renewContract",
        "RenewContractInput",
        &format!("contract {{ {FIELDS} }} predecessor {{ {FIELDS} }}"),
    )
}

fn get_query() -> String {
    format!("query($id: ID!) {{ contract(id: $id) {{ {FIELDS} }} }}")
}

const LIST: &str =
    "query($filter: ContractFilter, $orderBy: ContractOrder = END_DATE_ASC, $first: Int, $after: String) {
    contracts(filter: $filter, orderBy: $orderBy, first: $first, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { number status } } } }";

/// Today shifted by `days` where the test tenants are.
fn day(days: i64) -> String {
    shanghai_day(days)
}

/// An annual service contract running from 100 days ago to 265 days ahead, with `extra` over it.
fn contract_input(customer_id: &str, extra: Value) -> Value {
    let input = json!({ "title": "Annual service", "value": "12000.00", "startDate": day(-100), "endDate": day(265) });
    fixtures::contract_input(customer_id, with(input, extra))
}

async fn create(app: &TestApp, token: &str, customer_id: &str, extra: Value) -> Value {
    let data = app
        .ok(
            token,
            &create_mutation(),
            json!({ "input": contract_input(customer_id, extra) }),
        )
        .await;
    data["createContract"]["contract"].clone()
}

fn numbers(list: &Value) -> Vec<String> {
    pluck(&list["contracts"], "/number")
}

#[tokio::test]
async fn a_contract_is_created_with_what_was_given_and_a_generated_number() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;

    let made = create(
        &app,
        &t.token,
        &c,
        json!({ "number": "HT-2026-001", "value": "88000.5", "signedDate": day(-101), "autoRenew": true,
                "renewalState": "UPCOMING", "terms": "Net 30" }),
    )
    .await;
    assert_eq!(made["number"], "HT-2026-001");
    assert_eq!(made["value"], json!({ "amount": "88000.50", "currency": "CNY" }));
    assert_eq!(made["startDate"], day(-100));
    assert_eq!(made["endDate"], day(265));
    assert_eq!(made["signedDate"], day(-101));
    assert_eq!(made["autoRenew"], true);
    assert_eq!(made["renewalState"], "UPCOMING");
    assert_eq!(made["terms"], "Net 30");
    assert_eq!(made["status"], "ACTIVE");
    assert_eq!(made["daysUntilEnd"], 265);
    assert_eq!(made["reminderOffsetsDays"], json!([90, 30, 7]), "the tenant's default");
    assert_eq!(made["predecessor"], Value::Null);
    assert_eq!(made["successor"], Value::Null);
    assert_eq!(made["version"], 1);
    let stored = app
        .raw_count("SELECT COUNT(*) FROM contracts WHERE number = 'HT-2026-001' AND value_minor = 8800050 AND reminder_offsets_days IS NULL")
        .await;
    assert_eq!(stored, 1);

    let generated = create(&app, &t.token, &c, json!({})).await;
    assert_eq!(generated["number"], "CT-000002");
    let defaults = &generated;
    assert_eq!(defaults["autoRenew"], false);
    assert_eq!(defaults["renewalState"], "NONE");
}

#[tokio::test]
async fn a_contract_ending_before_it_starts_or_with_bad_values_is_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let cases = [
        (json!({ "startDate": "2026-05-10", "endDate": "2026-05-09" }), "endDate"),
        (json!({ "startDate": "2026-02-30" }), "startDate"),
        (json!({ "value": "-1" }), "value"),
        (json!({ "value": "1.001" }), "value"),
        (json!({ "currency": "XX" }), "currency"),
        (json!({ "title": "" }), "title"),
        (json!({ "number": "   " }), "number"),
        (json!({ "reminderOffsetsDays": [400] }), "reminderOffsetsDays"),
        (json!({ "reminderOffsetsDays": [-1] }), "reminderOffsetsDays"),
        (
            json!({ "reminderOffsetsDays": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11] }),
            "reminderOffsetsDays",
        ),
    ];
    for (extra, field) in cases {
        let body = app
            .gql(
                Some(&t.token),
                &create_mutation(),
                json!({ "input": contract_input(&c, extra.clone()) }),
            )
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{extra}");
        assert_eq!(error_field(&body), field, "{extra}");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contracts").await, 0);
    let one_day = create(
        &app,
        &t.token,
        &c,
        json!({ "startDate": "2026-05-10", "endDate": "2026-05-10" }),
    )
    .await;
    assert_eq!(one_day["endDate"], "2026-05-10", "a contract may run a single day");
}

#[tokio::test]
async fn a_taken_contract_number_is_a_duplicate_on_create_and_update() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let first = create(&app, &t.token, &c, json!({ "number": "HT-1" })).await;
    let second = create(&app, &t.token, &c, json!({ "number": "HT-2" })).await;

    let again = app
        .gql(
            Some(&t.token),
            &create_mutation(),
            json!({ "input": contract_input(&c, json!({ "number": "HT-1" })) }),
        )
        .await;
    assert_eq!(error_code(&again), "DUPLICATE");
    assert_eq!(error_field(&again), "number");
    assert_eq!(again["errors"][0]["extensions"]["candidates"], json!([first["id"]]));

    let renumber = app
        .gql(
            Some(&t.token),
            &update_mutation(),
            json!({ "input": { "id": second["id"], "version": 1, "number": "HT-1" } }),
        )
        .await;
    assert_eq!(error_code(&renumber), "DUPLICATE");
    assert_eq!(error_field(&renumber), "number");
    let renamed = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": second["id"], "version": 1, "number": "HT-3" } }),
        )
        .await;
    assert_eq!(renamed["updateContract"]["contract"]["number"], "HT-3");
    let kept = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": first["id"], "version": 1, "number": "HT-1" } }),
        )
        .await;
    assert_eq!(
        kept["updateContract"]["contract"]["version"], 1,
        "no change, no new version"
    );
}

#[tokio::test]
async fn the_status_follows_the_tenants_today_at_every_boundary() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    // The largest default offset is 90 days: a contract is EXPIRING from end − 90 on.
    let cases = [
        ("starts-tomorrow", day(1), day(400), "DRAFT", 400),
        ("starts-today", day(0), day(400), "ACTIVE", 400),
        ("expiring-tomorrow", day(-10), day(91), "ACTIVE", 91),
        ("expiring-today", day(-10), day(90), "EXPIRING", 90),
        ("ends-today", day(-10), day(0), "EXPIRING", 0),
        ("ended-yesterday", day(-10), day(-1), "EXPIRED", -1),
    ];
    for (number, start, end, status, days_left) in cases {
        let made = create(
            &app,
            &t.token,
            &c,
            json!({ "number": number, "startDate": start, "endDate": end }),
        )
        .await;
        assert_eq!(made["status"], status, "{number}");
        assert_eq!(made["daysUntilEnd"], days_left, "{number}");
        let read = app.ok(&t.token, &get_query(), json!({ "id": made["id"] })).await;
        assert_eq!(read["contract"]["status"], status, "{number} read back");
    }
    let expiring_today = create(&app, &t.token, &c, json!({ "startDate": day(-1), "endDate": day(90) })).await;
    assert_eq!(expiring_today["expiringFrom"], day(0));
}

#[tokio::test]
async fn a_contracts_own_reminder_offsets_decide_when_it_becomes_expiring() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(
        &app,
        &t.token,
        &c,
        json!({ "endDate": day(45), "reminderOffsetsDays": [7, 30, 7] }),
    )
    .await;
    assert_eq!(
        made["reminderOffsetsDays"],
        json!([30, 7]),
        "deduplicated, largest first"
    );
    assert_eq!(made["status"], "ACTIVE", "45 days left, reminders from 30");
    assert_eq!(made["expiringFrom"], day(15));
    let id = made["id"].clone();

    let widened = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "reminderOffsetsDays": [45] } }),
        )
        .await["updateContract"]["contract"]
        .clone();
    assert_eq!(widened["status"], "EXPIRING");
    assert_eq!(widened["expiringFrom"], day(0));
    let narrowed = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "reminderOffsetsDays": [44, 0] } }),
        )
        .await["updateContract"]["contract"]
        .clone();
    assert_eq!(narrowed["status"], "ACTIVE");
    let back_to_default = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 3, "reminderOffsetsDays": null } }),
        )
        .await["updateContract"]["contract"]
        .clone();
    assert_eq!(back_to_default["reminderOffsetsDays"], json!([90, 30, 7]));
    assert_eq!(back_to_default["status"], "EXPIRING");
    let moved_end = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": id, "version": 4, "endDate": day(91) } }),
        )
        .await["updateContract"]["contract"]
        .clone();
    assert_eq!(
        moved_end["status"], "ACTIVE",
        "a new end date moves the expiring window"
    );
    assert_eq!(moved_end["expiringFrom"], day(1));
    let status_filter = app
        .ok(&t.token, LIST, json!({ "filter": { "status": "ACTIVE" } }))
        .await;
    assert_eq!(status_filter["contracts"]["totalCount"], 1, "the stored window agrees");
}

#[tokio::test]
async fn the_expiring_and_status_filters_return_exactly_the_matching_contracts() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    for (number, start, end) in [
        ("expired", day(-100), day(-1)),
        ("ends-today", day(-100), day(0)),
        ("ends-in-30", day(-100), day(30)),
        ("ends-in-31", day(-100), day(31)),
        ("ends-in-200", day(-100), day(200)),
        ("draft", day(1), day(20)),
        ("terminated", day(-100), day(10)),
        ("renewed", day(-100), day(5)),
    ] {
        create(
            &app,
            &t.token,
            &c,
            json!({ "number": number, "startDate": start, "endDate": end }),
        )
        .await;
    }
    let id_of = |n: &str| {
        let (app, token, n) = (&app, t.token.clone(), n.to_owned());
        async move {
            let list = app
                .ok(
                    &token,
                    "{ contracts(first: 50) { edges { node { id number } } } }",
                    json!({}),
                )
                .await;
            list["contracts"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["node"]["number"] == n.as_str())
                .map(|e| e["node"]["id"].clone())
                .unwrap()
        }
    };
    app.ok(
        &t.token,
        &terminate_mutation(),
        json!({ "input": { "id": id_of("terminated").await } }),
    )
    .await;
    app.ok(
        &t.token,
        &renew_mutation(),
        json!({ "input": { "id": id_of("renewed").await, "newEndDate": day(400), "newNumber": "successor" } }),
    )
    .await;
    let list = |filter: Value| {
        let (app, token) = (&app, t.token.clone());
        async move { numbers(&app.ok(&token, LIST, json!({ "filter": filter, "first": 50 })).await) }
    };

    assert_eq!(
        list(json!({ "expiringWithinDays": 30 })).await,
        ["ends-today", "draft", "ends-in-30"],
        "ending today through today + 30, neither terminated nor renewed; by end date"
    );
    assert_eq!(list(json!({ "expiringWithinDays": 0 })).await, ["ends-today"]);
    assert_eq!(
        list(json!({ "status": "EXPIRING" })).await,
        ["ends-today", "ends-in-30", "ends-in-31"]
    );
    assert_eq!(list(json!({ "status": "ACTIVE" })).await, ["ends-in-200"]);
    assert_eq!(list(json!({ "status": "EXPIRED" })).await, ["expired"]);
    assert_eq!(list(json!({ "status": "DRAFT" })).await, ["draft", "successor"]);
    assert_eq!(list(json!({ "status": "TERMINATED" })).await, ["terminated"]);
    assert_eq!(list(json!({ "status": "RENEWED" })).await, ["renewed"]);
    assert_eq!(
        list(json!({ "status": "EXPIRING", "expiringWithinDays": 30 })).await,
        ["ends-today", "ends-in-30"]
    );
    let bad = app
        .gql(Some(&t.token), LIST, json!({ "filter": { "expiringWithinDays": -1 } }))
        .await;
    assert_eq!(error_field(&bad), "filter.expiringWithinDays");
}

/// A chain of renewals: HT-7 of 2025 renewed into 2026, and that renewal renewed into 2027
/// at a new value.
struct Chain {
    app: TestApp,
    token: String,
    customer: String,
    first: Value,
    /// The first renewal's answer: the new `contract` and its `predecessor`.
    renewed: Value,
    third: Value,
}

async fn renewal_chain() -> Chain {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let first = create(
        &app,
        &t.token,
        &c,
        json!({ "number": "HT-7", "startDate": "2025-01-01", "endDate": "2025-12-31", "autoRenew": true,
                "terms": "Net 30", "reminderOffsetsDays": [60] }),
    )
    .await;
    let renewed = app
        .ok(
            &t.token,
            &renew_mutation(),
            json!({ "input": { "id": first["id"], "newEndDate": "2026-12-31" } }),
        )
        .await["renewContract"]
        .clone();
    let third = app
        .ok(
            &t.token,
            &renew_mutation(),
            json!({ "input": { "id": renewed["contract"]["id"], "newEndDate": "2027-12-31", "newValue": "15000" } }),
        )
        .await["renewContract"]["contract"]
        .clone();
    Chain {
        app,
        token: t.token,
        customer: c,
        first,
        renewed,
        third,
    }
}

/// Nothing but the three contracts of the chain is stored.
async fn assert_only_the_chain(app: &TestApp) {
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contracts").await, 3);
}

#[tokio::test]
async fn renewals_form_a_numbered_chain_each_starting_the_day_after_its_predecessor() {
    let Chain {
        app,
        token,
        customer: c,
        first: a,
        renewed,
        third: c_contract,
    } = renewal_chain().await;
    assert_eq!(a["status"], "EXPIRED");
    let b = &renewed["contract"];
    assert_eq!(b["number"], "HT-7-R1");
    assert_eq!(b["startDate"], "2026-01-01", "the day after the predecessor's end");
    assert_eq!(b["endDate"], "2026-12-31");
    assert_eq!(b["value"], a["value"]);
    assert_eq!(b["title"], a["title"]);
    assert_eq!(b["terms"], "Net 30");
    assert_eq!(b["autoRenew"], true);
    assert_eq!(b["reminderOffsetsDays"], json!([60]));
    assert_eq!(b["customerId"], c.as_str());
    assert_eq!(b["predecessorId"], a["id"]);
    assert_eq!(b["predecessor"]["id"], a["id"]);
    assert_eq!(b["predecessor"]["status"], "RENEWED");
    assert_eq!(renewed["predecessor"]["id"], a["id"]);
    assert_eq!(renewed["predecessor"]["status"], "RENEWED");
    assert_eq!(renewed["predecessor"]["renewalState"], "RENEWED");
    assert_eq!(renewed["predecessor"]["successor"]["id"], b["id"]);

    assert_eq!(c_contract["number"], "HT-7-R2");
    assert_eq!(c_contract["value"]["amount"], "15000.00");
    assert_eq!(c_contract["startDate"], "2027-01-01");

    let a_now = app.ok(&token, &get_query(), json!({ "id": a["id"] })).await;
    assert_eq!(a_now["contract"]["successor"]["number"], "HT-7-R1");
    assert_only_the_chain(&app).await;
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM contracts WHERE renewal_state = 'renewed'")
            .await,
        2
    );
}

#[tokio::test]
async fn a_contract_is_renewed_once() {
    let chain = renewal_chain().await;
    let twice = chain
        .app
        .gql(
            Some(&chain.token),
            &renew_mutation(),
            json!({ "input": { "id": chain.first["id"], "newEndDate": "2028-12-31" } }),
        )
        .await;
    assert_eq!(error_code(&twice), "VALIDATION");
    assert_eq!(error_field(&twice), "id");
    assert_only_the_chain(&chain.app).await;
}

#[tokio::test]
async fn a_renewal_ending_on_its_first_day_or_under_a_taken_number_is_refused() {
    let chain = renewal_chain().await;
    let renew = |input: Value| {
        let chain = &chain;
        async move {
            chain
                .app
                .gql(Some(&chain.token), &renew_mutation(), json!({ "input": input }))
                .await
        }
    };
    let too_short = renew(json!({ "id": chain.third["id"], "newEndDate": "2028-01-01" })).await;
    assert_eq!(error_code(&too_short), "VALIDATION");
    assert_eq!(error_field(&too_short), "newEndDate");
    let taken = renew(json!({ "id": chain.third["id"], "newEndDate": "2028-12-31", "newNumber": "HT-7" })).await;
    assert_eq!(error_code(&taken), "DUPLICATE");
    assert_eq!(error_field(&taken), "newNumber");
    assert_only_the_chain(&chain.app).await;
}

#[tokio::test]
async fn a_renewed_contract_keeps_ending_the_day_before_its_successor_starts() {
    let chain = renewal_chain().await;
    let move_end = chain
        .app
        .gql(
            Some(&chain.token),
            &update_mutation(),
            json!({ "input": { "id": chain.renewed["contract"]["id"], "version": 2, "endDate": "2026-11-30" } }),
        )
        .await;
    assert_eq!(error_field(&move_end), "endDate", "the successor starts the day after");
}

#[tokio::test]
async fn a_terminated_contract_is_churned_and_final() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(&app, &t.token, &c, json!({ "renewalState": "NEGOTIATING" })).await;
    let id = made["id"].clone();

    let ended = app
        .ok(
            &t.token,
            &terminate_mutation(),
            json!({ "input": { "id": id, "reason": "Customer moved abroad" } }),
        )
        .await["terminateContract"]["contract"]
        .clone();
    assert_eq!(ended["status"], "TERMINATED");
    assert_eq!(ended["renewalState"], "CHURNED");
    assert_eq!(ended["terminationReason"], "Customer moved abroad");
    assert!(ended["terminatedAt"].is_string());

    let again = app
        .gql(Some(&t.token), &terminate_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&again), "VALIDATION");
    assert_eq!(error_field(&again), "id");
    let renew = app
        .gql(
            Some(&t.token),
            &renew_mutation(),
            json!({ "input": { "id": id, "newEndDate": day(800) } }),
        )
        .await;
    assert_eq!(error_code(&renew), "VALIDATION");
    let edit = app
        .gql(
            Some(&t.token),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 2, "title": "Revived" } }),
        )
        .await;
    assert_eq!(error_code(&edit), "VALIDATION");
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contracts").await, 1);
}

#[tokio::test]
async fn an_update_with_a_stale_version_is_a_conflict() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(&app, &t.token, &c, json!({})).await;
    let first = app
        .ok(
            &t.token,
            &update_mutation(),
            json!({ "input": { "id": made["id"], "version": 1, "title": "Renegotiated", "value": "13000", "renewalState": "NEGOTIATING" } }),
        )
        .await["updateContract"]["contract"]
        .clone();
    assert_eq!(first["version"], 2);
    assert_eq!(first["value"]["amount"], "13000.00");
    assert_eq!(first["renewalState"], "NEGOTIATING");
    let stale = app
        .gql(
            Some(&t.token),
            &update_mutation(),
            json!({ "input": { "id": made["id"], "version": 1, "title": "Lost update" } }),
        )
        .await;
    assert_eq!(error_code(&stale), "CONFLICT");
    let backwards = app
        .gql(
            Some(&t.token),
            &update_mutation(),
            json!({ "input": { "id": made["id"], "version": 2, "endDate": day(-200) } }),
        )
        .await;
    assert_eq!(error_field(&backwards), "endDate");
}

#[tokio::test]
async fn sales_staff_cannot_reach_the_contracts_of_a_colleagues_customer() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let (alice_id, alice) = app.add_user(&t, "SALES", "alice").await;
    let (bob_id, bob) = app.add_user(&t, "SALES", "bob").await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let bobs_customer = app.customer_id(&bob, "Bob's client").await;
    let alices_customer = app.customer_id(&alice, "Alice's client").await;
    let bobs = create(&app, &bob, &bobs_customer, json!({ "number": "BOB-1" })).await;
    let alices = create(&app, &alice, &alices_customer, json!({ "number": "ALICE-1" })).await;
    let id = bobs["id"].clone();

    let read = app.gql(Some(&alice), &get_query(), json!({ "id": id })).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    let update = app
        .gql(
            Some(&alice),
            &update_mutation(),
            json!({ "input": { "id": id, "version": 1, "title": "Mine" } }),
        )
        .await;
    assert_eq!(error_code(&update), "NOT_FOUND");
    let terminate = app
        .gql(Some(&alice), &terminate_mutation(), json!({ "input": { "id": id } }))
        .await;
    assert_eq!(error_code(&terminate), "NOT_FOUND");
    let renew = app
        .gql(
            Some(&alice),
            &renew_mutation(),
            json!({ "input": { "id": id, "newEndDate": day(900) } }),
        )
        .await;
    assert_eq!(error_code(&renew), "NOT_FOUND");
    let create_for_bob = app
        .gql(
            Some(&alice),
            &create_mutation(),
            json!({ "input": contract_input(&bobs_customer, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&create_for_bob), "NOT_FOUND");
    let taken = app
        .gql(
            Some(&alice),
            &create_mutation(),
            json!({ "input": contract_input(&alices_customer, json!({ "number": "BOB-1" })) }),
        )
        .await;
    assert_eq!(error_code(&taken), "DUPLICATE");
    assert_eq!(
        taken["errors"][0]["extensions"]["candidates"],
        json!([]),
        "no id of a contract she cannot see"
    );

    let list = |token: String, filter: Value| {
        let app = &app;
        async move { numbers(&app.ok(&token, LIST, json!({ "filter": filter })).await) }
    };
    assert_eq!(list(alice.clone(), json!({})).await, ["ALICE-1"]);
    assert_eq!(
        list(alice.clone(), json!({ "ownerId": bob_id })).await,
        Vec::<String>::new()
    );
    assert_eq!(list(manager.clone(), json!({ "ownerId": bob_id })).await, ["BOB-1"]);
    assert_eq!(list(manager.clone(), json!({ "ownerId": alice_id })).await, ["ALICE-1"]);
    assert_eq!(
        list(manager.clone(), json!({ "customerId": bobs_customer })).await,
        ["BOB-1"]
    );
    let all = app.ok(&manager, LIST, json!({})).await;
    assert_eq!(all["contracts"]["totalCount"], 2);

    let own = app
        .ok(
            &alice,
            &renew_mutation(),
            json!({ "input": { "id": alices["id"], "newEndDate": day(900) } }),
        )
        .await["renewContract"]["contract"]
        .clone();
    assert_eq!(own["number"], "ALICE-1-R1", "her own contracts she renews");
    let ended = app
        .ok(&alice, &terminate_mutation(), json!({ "input": { "id": own["id"] } }))
        .await;
    assert_eq!(ended["terminateContract"]["contract"]["status"], "TERMINATED");
}

#[tokio::test]
async fn another_tenants_contract_is_not_found_and_viewers_only_read() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let other = app.signup(&slug("other")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vera").await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(&app, &t.token, &c, json!({})).await;
    let id = made["id"].clone();

    for (query, input) in [
        (update_mutation(), json!({ "id": id, "version": 1, "title": "x" })),
        (terminate_mutation(), json!({ "id": id })),
        (renew_mutation(), json!({ "id": id, "newEndDate": day(900) })),
    ] {
        let body = app.gql(Some(&other.token), &query, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{query}");
        let body = app.gql(Some(&viewer), &query, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}");
    }
    let read = app.gql(Some(&other.token), &get_query(), json!({ "id": id })).await;
    assert_eq!(error_code(&read), "NOT_FOUND");
    assert_eq!(
        app.ok(&other.token, LIST, json!({})).await["contracts"]["totalCount"],
        0
    );
    let create_by_viewer = app
        .gql(
            Some(&viewer),
            &create_mutation(),
            json!({ "input": contract_input(&c, json!({})) }),
        )
        .await;
    assert_eq!(error_code(&create_by_viewer), "FORBIDDEN");
    let seen = app.ok(&viewer, &get_query(), json!({ "id": id })).await;
    assert_eq!(seen["contract"]["status"], "ACTIVE");
}

#[tokio::test]
async fn contract_pages_follow_end_date_cursors_and_refuse_another_orderings() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    for (number, end) in [("late", 300), ("early", 100), ("middle", 200), ("middle-too", 200)] {
        create(&app, &t.token, &c, json!({ "number": number, "endDate": day(end) })).await;
    }
    let first = app.ok(&t.token, LIST, json!({ "first": 2 })).await;
    assert_eq!(numbers(&first), ["early", "middle"]);
    assert_eq!(first["contracts"]["totalCount"], 4);
    let cursor = first["contracts"]["pageInfo"]["endCursor"].clone();
    let second = app.ok(&t.token, LIST, json!({ "first": 2, "after": cursor })).await;
    assert_eq!(
        numbers(&second),
        ["middle-too", "late"],
        "ties on the end date break by id"
    );
    assert_eq!(second["contracts"]["pageInfo"]["hasNextPage"], false);
    let descending = app.ok(&t.token, LIST, json!({ "orderBy": "END_DATE_DESC" })).await;
    assert_eq!(numbers(&descending), ["late", "middle-too", "middle", "early"]);
    let newest = app
        .ok(&t.token, LIST, json!({ "orderBy": "CREATED_AT_DESC", "first": 1 }))
        .await;
    assert_eq!(numbers(&newest), ["middle-too"]);
    for order in ["END_DATE_DESC", "CREATED_AT_DESC"] {
        let mixed = app
            .gql(
                Some(&t.token),
                LIST,
                json!({ "first": 2, "after": cursor, "orderBy": order }),
            )
            .await;
        assert_eq!(error_code(&mixed), "VALIDATION", "{order}");
        assert_eq!(error_field(&mixed), "after", "{order}");
    }
}

#[tokio::test]
async fn every_contract_change_is_audited_with_field_names() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(&app, &t.token, &c, json!({ "number": "AUD-1", "endDate": day(10) })).await;
    let id = made["id"].clone();
    app.ok(
        &t.token,
        &update_mutation(),
        json!({ "input": { "id": id, "version": 1, "title": "Retitled", "terms": "New" } }),
    )
    .await;
    let renewed = app
        .ok(
            &t.token,
            &renew_mutation(),
            json!({ "input": { "id": id, "newEndDate": day(400) } }),
        )
        .await;
    let successor = renewed["renewContract"]["contract"]["id"].clone();
    app.ok(
        &t.token,
        &terminate_mutation(),
        json!({ "input": { "id": successor, "reason": "Budget cut" } }),
    )
    .await;

    let original = app.audit_changes_of(&t.token, &id).await;
    assert_eq!(
        original,
        [
            ("contract.renew".to_owned(), json!(["renewalState"])),
            ("contract.update".to_owned(), json!(["title", "terms"])),
            (
                "contract.create".to_owned(),
                json!([
                    "customerId",
                    "number",
                    "title",
                    "value",
                    "currency",
                    "startDate",
                    "endDate"
                ])
            ),
        ]
    );
    let renewal = app.audit_changes_of(&t.token, &successor).await;
    assert_eq!(
        renewal[0],
        (
            "contract.terminate".to_owned(),
            json!(["terminatedAt", "terminationReason", "renewalState"])
        )
    );
    assert_eq!(renewal[1].0, "contract.create");
}

#[tokio::test]
async fn two_renewals_of_one_contract_at_once_make_one_successor() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let c = app.customer_id(&t.token, "Client").await;
    let made = create(&app, &t.token, &c, json!({ "number": "RACE-1" })).await;
    let renew = |n: u32| {
        let (app, token, id) = (&app, t.token.clone(), made["id"].clone());
        async move {
            app.gql(
                Some(&token),
                &renew_mutation(),
                json!({ "input": { "id": id, "newEndDate": day(900), "newNumber": format!("RACE-{n}") } }),
            )
            .await
        }
    };
    let (first, second) = tokio::join!(renew(2), renew(3));
    let outcomes = [&first, &second];
    let succeeded = outcomes.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(succeeded, 1, "{first} {second}");
    let refused = outcomes.iter().find(|b| b.get("errors").is_some()).unwrap();
    assert!(
        ["VALIDATION", "CONFLICT"].contains(&error_code(refused).as_str()),
        "{refused}"
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contracts").await, 2);
}

#[tokio::test]
async fn the_customer_page_loads_each_customers_contracts_at_once() {
    let app = spawn_app().await;
    let t = app.signup(&slug("deals")).await;
    let (_, alice) = app.add_user(&t, "SALES", "alice").await;
    let busy = app.customer_id(&alice, "Busy").await;
    let idle = app.customer_id(&alice, "Idle").await;
    let other = app.customer_id(&t.token, "Someone else's").await;
    for (number, end) in [("late", 300), ("soon", 10), ("mid", 100)] {
        create(&app, &alice, &busy, json!({ "number": number, "endDate": day(end) })).await;
    }
    create(&app, &t.token, &other, json!({ "number": "hidden" })).await;

    let hers = app.first_two_of_each_customer(&alice, "contracts", "number").await;
    let numbers_of = |id: &String| hers.get(id).cloned();
    assert_eq!(
        numbers_of(&busy),
        Some((vec!["soon".to_owned(), "mid".to_owned()], 3)),
        "by end date"
    );
    assert_eq!(numbers_of(&idle), Some((vec![], 0)));
    assert_eq!(numbers_of(&other), None, "not her customer");
    let all = app.first_two_of_each_customer(&t.token, "contracts", "number").await;
    assert_eq!(all.get(&other).cloned(), Some((vec!["hidden".to_owned()], 1)));
}
