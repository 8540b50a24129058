//! A write that committed answers from what its transaction read: no statement runs after
//! COMMIT for what the payload shows of the written record, so a database lost right after
//! the COMMIT cannot make the client believe a committed write failed.

use dossier_tests::{Tenant, TestApp, mutation, slug, spawn_app};
use serde_json::{Value, json};

/// What a client may select of a customer that the customer's own data answers.
const CUSTOMER_FILE: &str = "id version status \
    contacts { id name phone email masked isPrimary } tags { id name } \
    statusHistory { from to note } owner { id name role } \
    customFields customFieldValues { key value masked definition { key label } }";

/// Runs mutation `op` (taking an `input` of type `input_type`) that must succeed, selecting
/// `selection` of its payload; returns the payload after checking that the server ran no
/// statement for it once its write had committed.
async fn answered(app: &TestApp, t: &Tenant, op: &str, input_type: &str, selection: &str, input: Value) -> Value {
    let query = mutation(op, input_type, selection);
    let (data, after_commit) = app
        .ok_counting_statements_after_commit(&t.token, &query, json!({ "input": input }))
        .await;
    assert_eq!(after_commit, 0, "statements after COMMIT answering {query}: {data}");
    data[op].clone()
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned()
}

/// Defines a text field of `entity`.
async fn define_field(app: &TestApp, t: &Tenant, entity: &str, key: &str, sensitive: bool) {
    let settings = json!({ "sensitive": sensitive });
    app.define_custom_field(&t.token, entity, key, "TEXT", settings).await;
}

#[tokio::test]
async fn customer_writes_answer_their_file_without_reading_after_commit() {
    let app = spawn_app().await;
    let t = app.signup(&slug("answers")).await;
    define_field(&app, &t, "CUSTOMER", "wechat_group", true).await;
    let key_account = app.create_tag(&t.token, "key account").await;
    let file = format!("customer {{ {CUSTOMER_FILE} }}");

    let created = answered(
        &app,
        &t,
        "createCustomer",
        "CreateCustomerInput",
        &file,
        json!({
            "kind": "INDIVIDUAL", "name": "王芳", "source": "ONLINE", "tagIds": [key_account],
            "contacts": [{ "name": "王芳", "phone": "13800138000", "email": "Wang@Example.com" }],
            "customFields": { "wechat_group": "vip-7" },
        }),
    )
    .await["customer"]
        .clone();
    assert_eq!(created["contacts"][0]["phone"], "+8613800138000");
    assert_eq!(created["contacts"][0]["email"], "wang@example.com");
    assert_eq!(created["tags"], json!([{ "id": key_account, "name": "key account" }]));
    assert_eq!(
        created["statusHistory"],
        json!([{ "from": null, "to": "POTENTIAL", "note": null }])
    );
    assert_eq!(created["owner"]["id"], t.owner_id.as_str());
    assert_eq!(created["customFields"], json!({ "wechat_group": "vip-7" }));
    assert_eq!(created["customFieldValues"][0]["masked"], false);
    let customer = id(&created);

    let updated = answered(
        &app,
        &t,
        "updateCustomer",
        "UpdateCustomerInput",
        &file,
        json!({ "id": customer, "version": 1, "tagIds": [], "customFields": { "wechat_group": "vip-8" } }),
    )
    .await["customer"]
        .clone();
    assert_eq!(updated["tags"], json!([]));
    assert_eq!(updated["customFields"], json!({ "wechat_group": "vip-8" }));
    assert_eq!(updated["contacts"][0]["phone"], "+8613800138000");

    let changed = answered(
        &app,
        &t,
        "changeCustomerStatus",
        "ChangeCustomerStatusInput",
        &file,
        json!({ "id": customer, "status": "INTENT", "note": "asked for a quote" }),
    )
    .await["customer"]
        .clone();
    assert_eq!(
        changed["statusHistory"][1],
        json!({ "from": "POTENTIAL", "to": "INTENT", "note": "asked for a quote" })
    );

    for op in ["archiveCustomer", "restoreCustomer"] {
        let payload = answered(&app, &t, op, "ArchiveCustomerInput", &file, json!({ "id": customer })).await;
        assert_eq!(payload["customer"]["owner"]["id"], t.owner_id.as_str());
    }

    let duplicate = app
        .create_customer(
            &t.token,
            "王芳 (2)",
            json!({ "allowDuplicate": true, "contacts": [{ "email": "fang@example.com" }] }),
        )
        .await;
    let merged = answered(
        &app,
        &t,
        "mergeCustomers",
        "MergeCustomersInput",
        &file,
        json!({ "primaryId": customer, "duplicateIds": [id(&duplicate)] }),
    )
    .await["customer"]
        .clone();
    let emails: Vec<&str> = merged["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["email"].as_str())
        .collect();
    assert_eq!(emails, ["wang@example.com", "fang@example.com"]);
    assert_eq!(merged["customFields"], json!({ "wechat_group": "vip-8" }));
}

#[tokio::test]
async fn contract_writes_answer_their_status_and_fields_without_reading_after_commit() {
    let app = spawn_app().await;
    let t = app.signup(&slug("answers")).await;
    define_field(&app, &t, "CONTRACT", "po_number", true).await;
    let customer = id(&app.create_customer(&t.token, "Contracted", json!({})).await);
    let contract = "id status daysUntilEnd reminderOffsetsDays customFields customFieldValues { key value masked }";
    let payload = format!("contract {{ {contract} }}");

    let created = answered(
        &app,
        &t,
        "createContract",
        "CreateContractInput",
        &payload,
        json!({
            "customerId": customer, "title": "Support", "value": "1000", "currency": "CNY",
            "startDate": "2020-01-01", "endDate": "2099-12-31", "customFields": { "po_number": "PO-1" },
        }),
    )
    .await["contract"]
        .clone();
    assert_eq!(created["status"], "ACTIVE");
    assert_eq!(created["reminderOffsetsDays"], json!([90, 30, 7]));
    assert_eq!(created["customFields"], json!({ "po_number": "PO-1" }));
    let contract_id = id(&created);

    let updated = answered(
        &app,
        &t,
        "updateContract",
        "UpdateContractInput",
        &payload,
        json!({ "id": contract_id, "version": 1, "reminderOffsetsDays": [14] }),
    )
    .await["contract"]
        .clone();
    assert_eq!(updated["reminderOffsetsDays"], json!([14]));
    assert_eq!(updated["customFields"], json!({ "po_number": "PO-1" }));

    let renewed = answered(
        &app,
        &t,
        "renewContract",
        "RenewContractInput",
        &format!(
            "contract {{ {contract} predecessor {{ id status }} }} predecessor {{ {contract} successor {{ id }} }}"
        ),
        json!({ "id": contract_id, "newEndDate": "2100-12-31" }),
    )
    .await;
    assert_eq!(renewed["predecessor"]["status"], "RENEWED");
    assert_eq!(renewed["contract"]["predecessor"]["id"], contract_id.as_str());
    assert_eq!(renewed["predecessor"]["successor"]["id"], renewed["contract"]["id"]);
    assert_eq!(renewed["contract"]["status"], "DRAFT");

    let terminated = answered(
        &app,
        &t,
        "terminateContract",
        "TerminateContractInput",
        &payload,
        json!({ "id": id(&renewed["contract"]), "reason": "moved away" }),
    )
    .await;
    assert_eq!(terminated["contract"]["status"], "TERMINATED");
}

#[tokio::test]
async fn sales_and_interactions_answer_their_fields_without_reading_after_commit() {
    let app = spawn_app().await;
    let t = app.signup(&slug("answers")).await;
    define_field(&app, &t, "TRANSACTION", "invoice", true).await;
    define_field(&app, &t, "INTERACTION", "topic", false).await;
    let customer = id(&app.create_customer(&t.token, "Buyer", json!({})).await);
    let sale = "transaction { id version voided customFields customFieldValues { key value masked } }";

    let recorded = answered(
        &app,
        &t,
        "recordTransaction",
        "RecordTransactionInput",
        sale,
        json!({
            "customerId": customer, "occurredAt": "2026-01-05T10:00:00Z", "product": "Plan", "quantity": "1",
            "unitPrice": "99", "currency": "CNY", "paymentMethod": "CASH", "customFields": { "invoice": "INV-9" },
        }),
    )
    .await["transaction"]
        .clone();
    assert_eq!(recorded["customFields"], json!({ "invoice": "INV-9" }));
    let sale_id = id(&recorded);
    let updated = answered(
        &app,
        &t,
        "updateTransaction",
        "UpdateTransactionInput",
        sale,
        json!({ "id": sale_id, "version": 1, "product": "Plan+" }),
    )
    .await;
    assert_eq!(updated["transaction"]["customFields"], json!({ "invoice": "INV-9" }));
    let voided = answered(
        &app,
        &t,
        "voidTransaction",
        "VoidTransactionInput",
        sale,
        json!({ "id": sale_id }),
    )
    .await;
    assert_eq!(voided["transaction"]["voided"], true);
    assert_eq!(voided["transaction"]["customFieldValues"][0]["value"], "INV-9");

    let logged = answered(
        &app,
        &t,
        "logInteraction",
        "LogInteractionInput",
        "interaction { id customFields customFieldValues { key value } followUp { id assigneeId open } } \
         followUp { id assigneeId open dueAt }",
        json!({
            "customerId": customer, "channel": "CALL", "occurredAt": "2026-01-05T10:00:00Z", "summary": "Called",
            "nextFollowUpAt": "2030-01-01T09:00:00Z", "customFields": { "topic": "pricing" },
        }),
    )
    .await;
    assert_eq!(logged["interaction"]["customFields"], json!({ "topic": "pricing" }));
    assert_eq!(logged["interaction"]["followUp"]["id"], logged["followUp"]["id"]);
    assert_eq!(logged["followUp"]["assigneeId"], t.owner_id.as_str());
}

#[tokio::test]
async fn every_other_record_kind_answers_without_reading_after_commit() {
    let app = spawn_app().await;
    let t = app.signup(&slug("answers")).await;
    let customer = id(&app.create_customer(&t.token, "Followed", json!({})).await);

    let contact = answered(
        &app,
        &t,
        "addContact",
        "AddContactInput",
        "contact { id phone masked isPrimary }",
        json!({ "customerId": customer, "contact": { "name": "Li", "phone": "13900139000" } }),
    )
    .await["contact"]
        .clone();
    assert_eq!(contact["phone"], "+8613900139000");

    let follow_up = "followUp { id version open dueAt assigneeId note outcome }";
    let scheduled = answered(
        &app,
        &t,
        "scheduleFollowUp",
        "ScheduleFollowUpInput",
        follow_up,
        json!({ "customerId": customer, "dueAt": "2030-01-01T09:00:00Z", "note": "call back" }),
    )
    .await;
    let follow_up_id = id(&scheduled["followUp"]);
    let recorded = answered(
        &app,
        &t,
        "recordFeedback",
        "RecordFeedbackInput",
        "feedback { id kind content score resolved }",
        json!({ "customerId": customer, "kind": "PRAISE", "content": "Great", "score": 5 }),
    )
    .await;
    let created_tag = answered(
        &app,
        &t,
        "createTag",
        "CreateTagInput",
        "tag { id name color createdAt }",
        json!({ "name": "vip" }),
    )
    .await;
    let key = answered(
        &app,
        &t,
        "createApiKey",
        "CreateApiKeyInput",
        "secret apiKey { id name role prefix }",
        json!({ "name": "import", "role": "MANAGER" }),
    )
    .await;

    // Each write below answers only from the row it wrote.
    for (op, input_type, selection, input) in [
        (
            "updateContact",
            "UpdateContactInput",
            "contact { id email }",
            json!({ "id": id(&contact), "email": "li@example.com" }),
        ),
        (
            "rescheduleFollowUp",
            "RescheduleFollowUpInput",
            follow_up,
            json!({ "id": follow_up_id, "dueAt": "2030-02-01T09:00:00Z" }),
        ),
        (
            "reassignFollowUp",
            "ReassignFollowUpInput",
            follow_up,
            json!({ "id": follow_up_id, "assigneeId": t.owner_id }),
        ),
        (
            "completeFollowUp",
            "CompleteFollowUpInput",
            follow_up,
            json!({ "id": follow_up_id, "outcome": "done" }),
        ),
        (
            "resolveFeedback",
            "ResolveFeedbackInput",
            "feedback { id resolved resolution }",
            json!({ "id": id(&recorded["feedback"]), "resolution": "thanked" }),
        ),
        (
            "renameTag",
            "RenameTagInput",
            "tag { id name color }",
            json!({ "id": id(&created_tag["tag"]), "name": "VIP" }),
        ),
        (
            "defineCustomField",
            "DefineCustomFieldInput",
            "customField { id key version }",
            json!({ "entity": "CUSTOMER", "key": "segment", "label": "Segment", "type": "TEXT" }),
        ),
        (
            "createUser",
            "CreateUserInput",
            "user { id email name role active }",
            json!({ "email": "sales@example.com", "name": "Sales", "role": "SALES", "password": "sales-password-1" }),
        ),
        (
            "revokeApiKey",
            "RevokeApiKeyInput",
            "apiKey { id revokedAt }",
            json!({ "id": id(&key["apiKey"]) }),
        ),
    ] {
        answered(&app, &t, op, input_type, selection, input).await;
    }
}
