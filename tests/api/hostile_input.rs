//! Hostile strings in any argument (control characters, NUL, huge search terms, forged
//! cursors) and identity/card numbers disguised with invisible characters are refused with
//! VALIDATION naming the field, and nothing is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dossier_tests::{
    CHANGE_CUSTOMER_STATUS, COMPLETE_FOLLOW_UP, CREATE_CONTRACT, CREATE_TAG, CREATE_USER, DEFINE_CUSTOM_FIELD,
    LOG_INTERACTION, RECORD_FEEDBACK, RECORD_SALE, RESCHEDULE_FOLLOW_UP, SCHEDULE_FOLLOW_UP, TestApp, VOID_SALE,
    error_code, error_field, fixtures, slug, spawn_app, with,
};
use serde_json::{Value, json};

/// What a string argument is, which decides what it may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Multi-line free text: line breaks and tabs are allowed, other control characters not.
    Text,
    /// One line: a name, a title, a label, a key, an address of a mailbox.
    Line,
    /// A search or filter term: one line, and short.
    Term,
}

/// The records a test can aim at, made before the hostile calls.
struct Fixture {
    token: String,
    slug: String,
    owner_email: String,
    customer: String,
    contact: String,
    tag: String,
    contract: String,
    transaction: String,
    follow_up: String,
    feedback: String,
    field: String,
}

type Vars = fn(&Fixture, Value) -> Value;

struct Case {
    query: &'static str,
    vars: Vars,
    field: &'static str,
    kind: Kind,
    /// Sent without a token.
    anonymous: bool,
}

const fn case(query: &'static str, vars: Vars, field: &'static str, kind: Kind) -> Case {
    Case {
        query,
        vars,
        field,
        kind,
        anonymous: false,
    }
}

const CREATE_CUSTOMER: &str =
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } } }";
const UPDATE_CUSTOMER: &str =
    "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { id } } }";
const CUSTOMERS: &str = "query($filter: CustomerFilter, $after: String, $order: CustomFieldOrder) { \
    customers(filter: $filter, after: $after, orderByCustomField: $order) { totalCount } }";
const ADD_CONTACT: &str = "mutation($input: AddContactInput!) { addContact(input: $input) { contact { id } } }";
const UPDATE_CONTACT: &str =
    "mutation($input: UpdateContactInput!) { updateContact(input: $input) { contact { id } } }";
const RENAME_TAG: &str = "mutation($input: RenameTagInput!) { renameTag(input: $input) { tag { id } } }";
const RESOLVE_FEEDBACK: &str =
    "mutation($input: ResolveFeedbackInput!) { resolveFeedback(input: $input) { feedback { id } } }";
const UPDATE_SALE: &str =
    "mutation($input: UpdateTransactionInput!) { updateTransaction(input: $input) { transaction { id } } }";
const UPDATE_CONTRACT: &str =
    "mutation($input: UpdateContractInput!) { updateContract(input: $input) { contract { id } } }";
const TERMINATE: &str =
    "mutation($input: TerminateContractInput!) { terminateContract(input: $input) { contract { id } } }";
const UPDATE_FIELD: &str =
    "mutation($input: UpdateCustomFieldInput!) { updateCustomField(input: $input) { customField { id } } }";
const CREATE_KEY: &str = "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret } }";
const SETTINGS: &str =
    "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { tenant { id } } }";
const SIGNUP: &str = "mutation($input: CreateTenantInput!) { createTenant(input: $input) { token } }";
const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { token } }";
const SALES: &str = "query($filter: TransactionFilter) { transactions(filter: $filter) { totalCount } }";
const CONTRACTS: &str = "query($filter: ContractFilter) { contracts(filter: $filter) { totalCount } }";
const REVENUE: &str = "query($currency: String!) { revenueByMonth(from: \"2026-01-01\", to: \"2026-12-31\", currency: $currency) { month } }";

fn customer_input(extra: Value) -> Value {
    let input = json!({ "kind": "INDIVIDUAL", "name": "Valid Name", "source": "ONLINE", "allowDuplicate": true });
    json!({ "input": with(input, extra) })
}

fn customer_update(f: &Fixture, extra: Value) -> Value {
    json!({ "input": with(json!({ "id": f.customer, "version": 1 }), extra) })
}

fn sale_input(f: &Fixture, extra: Value) -> Value {
    json!({ "input": fixtures::sale_input(&f.customer, extra) })
}

fn contract_input(f: &Fixture, extra: Value) -> Value {
    json!({ "input": fixtures::contract_input(&f.customer, extra) })
}

fn signup_input(extra: Value) -> Value {
    let input = json!({ "name": "Acme", "slug": slug("hostile"), "adminEmail": "a@acme.example.com",
        "adminPassword": "long-enough-1" });
    json!({ "input": with(input, extra) })
}

fn login_input(f: &Fixture, extra: Value) -> Value {
    let input = json!({ "tenantSlug": f.slug, "email": f.owner_email, "password": "owner-password-1" });
    json!({ "input": with(input, extra) })
}

/// Every kind of string argument, with the field its error must name.
fn cases() -> Vec<Case> {
    use Kind::{Line, Term, Text};
    let mut all = vec![
        // Customers.
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "name": v })),
            "name",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "companyName": v })),
            "companyName",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "code": v })),
            "code",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "occupation": v })),
            "occupation",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "position": v })),
            "position",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "industry": v })),
            "industry",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "region": v })),
            "region",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "city": v })),
            "city",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "hobbies": v })),
            "hobbies",
            Text,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "familyNotes": v })),
            "familyNotes",
            Text,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "specialNeeds": v })),
            "specialNeeds",
            Text,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "notes": v })),
            "notes",
            Text,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "budget": { "min": "1", "currency": v } })),
            "budget.currency",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "contacts": [{ "name": v }] })),
            "contacts.0.name",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "contacts": [{ "name": "Li", "address": v }] })),
            "contacts.0.address",
            Text,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "customFields": { "nickname": v } })),
            "customFields.nickname",
            Line,
        ),
        case(
            CREATE_CUSTOMER,
            |_, v| customer_input(json!({ "customFields": { "story": v } })),
            "customFields.story",
            Text,
        ),
        case(
            UPDATE_CUSTOMER,
            |f, v| customer_update(f, json!({ "name": v })),
            "name",
            Line,
        ),
        case(
            UPDATE_CUSTOMER,
            |f, v| customer_update(f, json!({ "notes": v })),
            "notes",
            Text,
        ),
        case(
            UPDATE_CUSTOMER,
            |f, v| customer_update(f, json!({ "city": v })),
            "city",
            Line,
        ),
        case(
            CHANGE_CUSTOMER_STATUS,
            |f, v| json!({ "input": { "id": f.customer, "status": "INTENT", "note": v } }),
            "note",
            Text,
        ),
        // Customer lists: search and filter terms, custom-field filters.
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "search": v } }),
            "filter.search",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "industry": v } }),
            "filter.industry",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "region": v } }),
            "filter.region",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "email": v } }),
            "filter.email",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "phone": v } }),
            "filter.phone",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "customFields": [{ "key": "nickname", "op": "CONTAINS", "value": v }] } }),
            "filter.customFields.nickname",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "customFields": [{ "key": "nickname", "op": "EQ", "value": v }] } }),
            "filter.customFields.nickname",
            Line,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "filter": { "customFields": [{ "key": v, "op": "IS_EMPTY" }] } }),
            "filter.customFields.key",
            Term,
        ),
        case(
            CUSTOMERS,
            |_, v| json!({ "order": { "key": v } }),
            "orderByCustomField.key",
            Term,
        ),
        case(CUSTOMERS, |_, v| json!({ "after": v }), "after", Term),
        // Contacts.
        case(
            ADD_CONTACT,
            |f, v| json!({ "input": { "customerId": f.customer, "contact": { "name": v } } }),
            "name",
            Line,
        ),
        case(
            ADD_CONTACT,
            |f, v| json!({ "input": { "customerId": f.customer, "contact": { "title": v } } }),
            "title",
            Line,
        ),
        case(
            ADD_CONTACT,
            |f, v| json!({ "input": { "customerId": f.customer, "contact": { "email": v } } }),
            "email",
            Line,
        ),
        case(
            UPDATE_CONTACT,
            |f, v| json!({ "input": { "id": f.contact, "name": v } }),
            "name",
            Line,
        ),
        case(
            UPDATE_CONTACT,
            |f, v| json!({ "input": { "id": f.contact, "address": v } }),
            "address",
            Text,
        ),
        // Tags.
        case(CREATE_TAG, |_, v| json!({ "input": { "name": v } }), "name", Line),
        case(
            RENAME_TAG,
            |f, v| json!({ "input": { "id": f.tag, "name": v } }),
            "name",
            Line,
        ),
        // Interactions and follow-ups.
        case(
            LOG_INTERACTION,
            |f, v| json!({ "input": { "customerId": f.customer, "channel": "CALL", "occurredAt": "2026-01-05T10:00:00Z", "summary": v } }),
            "summary",
            Text,
        ),
        case(
            LOG_INTERACTION,
            |f, v| json!({ "input": { "customerId": f.customer, "channel": "CALL", "occurredAt": "2026-01-05T10:00:00Z", "summary": "Call", "outcome": v } }),
            "outcome",
            Text,
        ),
        case(
            SCHEDULE_FOLLOW_UP,
            |f, v| json!({ "input": { "customerId": f.customer, "dueAt": "2030-01-05T10:00:00Z", "note": v } }),
            "note",
            Text,
        ),
        case(
            COMPLETE_FOLLOW_UP,
            |f, v| json!({ "input": { "id": f.follow_up, "outcome": v } }),
            "outcome",
            Text,
        ),
        case(
            RESCHEDULE_FOLLOW_UP,
            |f, v| json!({ "input": { "id": f.follow_up, "dueAt": "2031-01-05T10:00:00Z", "reason": v } }),
            "reason",
            Text,
        ),
        // Feedback.
        case(
            RECORD_FEEDBACK,
            |f, v| json!({ "input": { "customerId": f.customer, "kind": "PRAISE", "content": v } }),
            "content",
            Text,
        ),
        case(
            RESOLVE_FEEDBACK,
            |f, v| json!({ "input": { "id": f.feedback, "resolution": v } }),
            "resolution",
            Text,
        ),
        // Transactions.
        case(
            RECORD_SALE,
            |f, v| sale_input(f, json!({ "product": v })),
            "product",
            Line,
        ),
        case(
            RECORD_SALE,
            |f, v| sale_input(f, json!({ "afterSalesNotes": v })),
            "afterSalesNotes",
            Text,
        ),
        case(
            RECORD_SALE,
            |f, v| sale_input(f, json!({ "currency": v })),
            "currency",
            Line,
        ),
        case(
            UPDATE_SALE,
            |f, v| json!({ "input": { "id": f.transaction, "version": 1, "afterSalesNotes": v } }),
            "afterSalesNotes",
            Text,
        ),
        case(
            VOID_SALE,
            |f, v| json!({ "input": { "id": f.transaction, "reason": v } }),
            "reason",
            Text,
        ),
        case(
            SALES,
            |_, v| json!({ "filter": { "currency": v } }),
            "filter.currency",
            Term,
        ),
        case(REVENUE, |_, v| json!({ "currency": v }), "currency", Term),
        // Contracts.
        case(
            CREATE_CONTRACT,
            |f, v| contract_input(f, json!({ "title": v })),
            "title",
            Line,
        ),
        case(
            CREATE_CONTRACT,
            |f, v| contract_input(f, json!({ "number": v })),
            "number",
            Line,
        ),
        case(
            CREATE_CONTRACT,
            |f, v| contract_input(f, json!({ "terms": v })),
            "terms",
            Text,
        ),
        case(
            UPDATE_CONTRACT,
            |f, v| json!({ "input": { "id": f.contract, "version": 1, "terms": v } }),
            "terms",
            Text,
        ),
        case(
            TERMINATE,
            |f, v| json!({ "input": { "id": f.contract, "reason": v } }),
            "reason",
            Text,
        ),
        case(
            CONTRACTS,
            |_, v| json!({ "filter": { "customFields": [{ "key": v, "op": "IS_EMPTY" }] } }),
            "filter.customFields.key",
            Term,
        ),
        // Custom-field definitions.
        case(
            DEFINE_CUSTOM_FIELD,
            |_, v| json!({ "input": { "entity": "CUSTOMER", "key": "extra", "label": v, "type": "TEXT" } }),
            "label",
            Line,
        ),
        case(
            DEFINE_CUSTOM_FIELD,
            |_, v| json!({ "input": { "entity": "CUSTOMER", "key": v, "label": "Extra", "type": "TEXT" } }),
            "key",
            Line,
        ),
        case(
            DEFINE_CUSTOM_FIELD,
            |_, v| json!({ "input": { "entity": "CUSTOMER", "key": "extra", "label": "Extra", "type": "SELECT", "options": ["a", v] } }),
            "options.1",
            Line,
        ),
        case(
            DEFINE_CUSTOM_FIELD,
            |_, v| json!({ "input": { "entity": "CUSTOMER", "key": "extra", "label": "Extra", "type": "TEXT", "helpText": v } }),
            "helpText",
            Text,
        ),
        case(
            UPDATE_FIELD,
            |f, v| json!({ "input": { "id": f.field, "version": 1, "label": v } }),
            "label",
            Line,
        ),
        case(
            "mutation($input: PurgeCustomFieldInput!) { purgeCustomField(input: $input) { valuesDeleted } }",
            |f, v| json!({ "input": { "id": f.field, "confirmKey": v } }),
            "confirmKey",
            Line,
        ),
        // Users, keys, settings.
        case(
            CREATE_USER,
            |_, v| json!({ "input": { "email": "new@example.com", "name": v, "role": "SALES", "password": "user-password-1" } }),
            "name",
            Line,
        ),
        case(
            CREATE_USER,
            |_, v| json!({ "input": { "email": v, "name": "New", "role": "SALES", "password": "user-password-1" } }),
            "email",
            Line,
        ),
        case(
            CREATE_USER,
            |_, v| json!({ "input": { "email": "new@example.com", "name": "New", "role": "SALES", "password": format!("long-enough-{}", v.as_str().unwrap()) } }),
            "password",
            Line,
        ),
        case(
            DEFINE_CUSTOM_FIELD,
            |_, v| json!({ "input": { "entity": "CUSTOMER", "key": "extra", "label": "Extra", "type": "TEXT", "default": v } }),
            "default",
            Line,
        ),
        case(
            SETTINGS,
            |_, v| json!({ "input": { "extraRecipient": v } }),
            "extraRecipient",
            Line,
        ),
        case(
            CREATE_KEY,
            |_, v| json!({ "input": { "name": v, "role": "VIEWER" } }),
            "name",
            Line,
        ),
        case(
            SETTINGS,
            |_, v| json!({ "input": { "senderName": v } }),
            "senderName",
            Line,
        ),
        case(SETTINGS, |_, v| json!({ "input": { "replyTo": v } }), "replyTo", Line),
        case(SETTINGS, |_, v| json!({ "input": { "timezone": v } }), "timezone", Line),
        case(
            "mutation($to: String!) { sendTestEmail(to: $to) { delivered } }",
            |_, v| json!({ "to": v }),
            "to",
            Line,
        ),
    ];
    let anonymous = [
        (SIGNUP, (|_, v| signup_input(json!({ "name": v }))) as Vars, "name"),
        (SIGNUP, |_, v| signup_input(json!({ "adminName": v })), "adminName"),
        (SIGNUP, |_, v| signup_input(json!({ "adminEmail": v })), "adminEmail"),
        (SIGNUP, |_, v| signup_input(json!({ "slug": v })), "slug"),
        (SIGNUP, |_, v| signup_input(json!({ "phoneRegion": v })), "phoneRegion"),
        (SIGNUP, |_, v| signup_input(json!({ "timezone": v })), "timezone"),
        (LOGIN, |f, v| login_input(f, json!({ "tenantSlug": v })), "tenantSlug"),
        (LOGIN, |f, v| login_input(f, json!({ "email": v })), "email"),
        (LOGIN, |f, v| login_input(f, json!({ "password": v })), "password"),
    ];
    all.extend(anonymous.into_iter().map(|(query, vars, field)| Case {
        query,
        vars,
        field,
        kind: Line,
        anonymous: true,
    }));
    all
}

/// The strings every argument must refuse, and those refused only by some kinds.
fn hostile_values(kind: Kind) -> Vec<String> {
    let mut values: Vec<String> = [
        "\u{0}",
        "before\u{0}after",
        "escape\u{1b}[2J",
        "bell\u{7}",
        "delete\u{7f}",
        "c1\u{9b}31m",
    ]
    .map(String::from)
    .to_vec();
    if kind != Kind::Text {
        values.extend(["two\nlines", "tab\tbed", "carriage\rreturn"].map(String::from));
    }
    if kind == Kind::Term {
        values.push("x".repeat(201));
        values.push("y".repeat(50_001));
    }
    values
}

async fn fixture(app: &TestApp) -> Fixture {
    let t = app.signup(&slug("hostile")).await;
    let token = t.token.clone();
    for (key, kind) in [("nickname", "TEXT"), ("story", "LONG_TEXT"), ("score", "INTEGER")] {
        app.define_custom_field(&token, "CUSTOMER", key, kind, json!({})).await;
    }
    let field = app
        .define_custom_field(&token, "CONTRACT", "region_code", "TEXT", json!({}))
        .await;
    let contact = json!({ "contacts": [{ "name": "Li", "email": "li@fixture.example.com" }] });
    let id = |v: &Value| v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_owned();
    let customer = id(&app.create_customer(&token, "Fixture", contact).await);
    let contacts = app
        .ok(
            &token,
            "query($id: ID!) { customer(id: $id) { contacts { id } } }",
            json!({ "id": customer }),
        )
        .await;
    let contract = app.create_contract(&token, &customer, json!({})).await;
    let transaction = app.record_sale(&token, &customer, json!({})).await;
    let follow_up = app
        .schedule_follow_up(&token, &customer, "2030-01-05T10:00:00Z", json!({}))
        .await;
    let praise = json!({ "kind": "PRAISE", "content": "Great" });
    Fixture {
        slug: t.slug.clone(),
        owner_email: format!("owner@{}.example.com", t.slug),
        contact: id(&contacts["customer"]["contacts"][0]),
        tag: app.create_tag(&token, "vip").await,
        contract: id(&contract),
        transaction: id(&transaction),
        follow_up: id(&follow_up),
        feedback: app.record_feedback(&token, &customer, praise).await,
        customer,
        field,
        token,
    }
}

/// What the database holds, as far as any of the calls could have changed it.
async fn stored(app: &TestApp) -> Vec<String> {
    let mut out = Vec::new();
    for table in [
        "tenants",
        "users",
        "api_keys",
        "customers",
        "contacts",
        "tags",
        "customer_tags",
        "interactions",
        "follow_ups",
        "feedback",
        "transactions",
        "contracts",
        "custom_field_definitions",
        "customer_status_history",
    ] {
        out.push(format!(
            "{table}: {}",
            app.raw_count(&format!("SELECT COUNT(*) FROM {table}")).await
        ));
    }
    for table in [
        "customers",
        "contracts",
        "transactions",
        "follow_ups",
        "custom_field_definitions",
    ] {
        let sum = app
            .raw_count(&format!(
                "SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM {table}"
            ))
            .await;
        out.push(format!("{table} versions: {sum}"));
    }
    for sql in [
        "SELECT name FROM tags",
        "SELECT resolution FROM feedback",
        "SELECT reminder_sender_name FROM tenants",
        "SELECT name FROM contacts",
        "SELECT address FROM contacts",
        "SELECT timezone FROM tenants",
    ] {
        out.push(format!("{sql}: {:?}", app.raw_texts(sql).await));
    }
    out
}

#[tokio::test]
async fn every_string_argument_refuses_control_characters_and_oversized_terms_naming_the_field() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let before = stored(&app).await;
    let mut failures = Vec::new();
    for case in cases() {
        for value in hostile_values(case.kind) {
            let vars = (case.vars)(&f, json!(value));
            let token = (!case.anonymous).then_some(f.token.as_str());
            let body = app.gql(token, case.query, vars).await;
            let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none");
            let field = body["errors"][0]["extensions"]["field"].as_str().unwrap_or("none");
            if code != "VALIDATION" || field != case.field {
                let shown: String = value.chars().take(20).collect();
                failures.push(format!(
                    "{} [{:?}] {shown:?}: {code} {field} {}",
                    case.field, case.kind, body["errors"][0]["message"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} refused wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(stored(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn line_breaks_and_tabs_stay_allowed_in_multi_line_text() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let notes = "first line\nsecond line\r\n\tindented";
    let data = app
        .ok(
            &f.token,
            "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { notes } } }",
            customer_update(&f, json!({ "notes": notes })),
        )
        .await;
    assert_eq!(data["updateCustomer"]["customer"]["notes"], notes);
}

/// A cursor as the server makes them, with any value.
fn forged_cursor(sort: &str, value: Value) -> String {
    let cursor = json!({ "sort": sort, "value": value, "id": "0190a0d6-0000-7000-8000-000000000000" });
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap())
}

#[tokio::test]
async fn a_forged_cursor_whose_value_does_not_fit_its_ordering_is_refused() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    app.ok(
        &f.token,
        UPDATE_CUSTOMER,
        customer_update(&f, json!({ "customFields": { "score": 7 } })),
    )
    .await;
    let by_score = json!({ "key": "score" });
    let by_nickname = json!({ "key": "nickname" });
    let cases = [
        (
            &by_score,
            "CUSTOM_FIELD_SCORE_ASC",
            json!({ "t": "Field", "v": "not a number" }),
        ),
        (
            &by_score,
            "CUSTOM_FIELD_SCORE_ASC",
            json!({ "t": "Field", "v": { "a": 1 } }),
        ),
        (
            &by_score,
            "CUSTOM_FIELD_SCORE_ASC",
            json!({ "t": "Field", "v": [1, 2] }),
        ),
        (&by_score, "CUSTOM_FIELD_SCORE_ASC", json!({ "t": "Field", "v": true })),
        (
            &by_score,
            "CUSTOM_FIELD_SCORE_ASC",
            json!({ "t": "Field", "v": "1e999999" }),
        ),
        (
            &by_nickname,
            "CUSTOM_FIELD_NICKNAME_ASC",
            json!({ "t": "Field", "v": 12 }),
        ),
        (
            &by_nickname,
            "CUSTOM_FIELD_NICKNAME_ASC",
            json!({ "t": "Field", "v": "a\u{0}b" }),
        ),
    ];
    for (order, sort, value) in cases {
        for arg in ["after", "before"] {
            let query = format!(
                "query($order: CustomFieldOrder, $cursor: String) {{ customers({arg}: $cursor, orderByCustomField: $order) {{ totalCount edges {{ cursor }} }} }}"
            );
            let body = app
                .gql(
                    Some(&f.token),
                    &query,
                    json!({ "order": order, "cursor": forged_cursor(sort, value.clone()) }),
                )
                .await;
            assert_eq!(error_code(&body), "VALIDATION", "{sort} {value} as {arg}: {body}");
            assert_eq!(error_field(&body), arg, "{sort} {value}");
        }
    }
    // A built-in text ordering refuses a NUL in its cursor too.
    let body = app
        .gql(
            Some(&f.token),
            "query($cursor: String) { customers(after: $cursor, orderBy: NAME_ASC) { totalCount } }",
            json!({ "cursor": forged_cursor("NAME_ASC", json!({ "t": "Text", "v": "a\u{0}b" })) }),
        )
        .await;
    assert_eq!(error_code(&body), "VALIDATION", "{body}");
    assert_eq!(error_field(&body), "after");
    // Cursors the server made still page.
    let first = app
        .ok(
            &f.token,
            "query($order: CustomFieldOrder) { customers(first: 1, orderByCustomField: $order) { edges { cursor } } }",
            json!({ "order": by_score }),
        )
        .await;
    let cursor = first["customers"]["edges"][0]["cursor"].as_str().unwrap().to_owned();
    app.ok(
        &f.token,
        "query($order: CustomFieldOrder, $after: String) { customers(after: $after, orderByCustomField: $order) { totalCount } }",
        json!({ "order": by_score, "after": cursor }),
    )
    .await;
}

/// Ways to hide a number from a naive scan: the separators people type and the invisible
/// characters a paste carries.
const SPLITTERS: [(&str, &str); 9] = [
    ("zero-width space", "\u{200B}"),
    ("word joiner", "\u{2060}"),
    ("byte-order mark", "\u{FEFF}"),
    ("soft hyphen", "\u{00AD}"),
    ("no-break space", "\u{00A0}"),
    ("narrow no-break space", "\u{202F}"),
    ("line break", "\n"),
    ("ideographic space", "\u{3000}"),
    ("zero-width joiner", "\u{200D}"),
];

/// `number` with `splitter` after every `every` characters.
fn split(number: &str, splitter: &str, every: usize) -> String {
    let chars: Vec<char> = number.chars().collect();
    chars
        .chunks(every)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(splitter)
}

#[tokio::test]
async fn identity_and_card_numbers_split_by_invisible_characters_are_refused_in_every_free_text_field() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    let before = stored(&app).await;
    let free_text: Vec<Case> = cases()
        .into_iter()
        .filter(|c| {
            matches!(c.kind, Kind::Text | Kind::Line)
                && !c.anonymous
                && ![
                    "code",
                    "budget.currency",
                    "currency",
                    "number",
                    "key",
                    "email",
                    "email",
                    "replyTo",
                    "timezone",
                    "to",
                    "confirmKey",
                    "color",
                    "password",
                    "extraRecipient",
                ]
                .contains(&c.field)
        })
        .chain([
            Case {
                query: SIGNUP,
                vars: |_, v| signup_input(json!({ "name": v })),
                field: "name",
                kind: Kind::Line,
                anonymous: true,
            },
            Case {
                query: SIGNUP,
                vars: |_, v| signup_input(json!({ "adminName": v })),
                field: "adminName",
                kind: Kind::Line,
                anonymous: true,
            },
        ])
        .collect();
    let mut failures = Vec::new();
    for case in &free_text {
        for (trick, splitter) in SPLITTERS {
            if splitter == "\n" && case.kind != Kind::Text {
                continue; // one-line fields refuse the line break itself
            }
            for number in ["11010519491231002X", "4111111111111111"] {
                let hidden = format!("ref {}", split(number, splitter, 4));
                let vars = (case.vars)(&f, json!(hidden));
                let token = (!case.anonymous).then_some(f.token.as_str());
                let body = app.gql(token, case.query, vars).await;
                let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or("none");
                let field = body["errors"][0]["extensions"]["field"].as_str().unwrap_or("none");
                let message = body["errors"][0]["message"].as_str().unwrap_or("");
                let named = message.contains("identity-card") || message.contains("bank-card");
                if code != "VALIDATION" || field != case.field || !named {
                    failures.push(format!("{} {trick} {number}: {code} {field} {message}", case.field));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} slipped through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(stored(&app).await, before, "nothing stored");
}

#[tokio::test]
async fn text_with_invisible_characters_but_no_number_is_kept_as_written() {
    let app = spawn_app().await;
    let f = fixture(&app).await;
    // A zero-width joiner is part of emoji sequences; ordinary numbers stay allowed.
    let notes = "family 👨\u{200D}👩\u{200D}👧, call 138\u{00A0}0013\u{00A0}8000";
    let data = app
        .ok(
            &f.token,
            "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { notes } } }",
            customer_update(&f, json!({ "notes": notes })),
        )
        .await;
    assert_eq!(data["updateCustomer"]["customer"]["notes"], notes);
}
