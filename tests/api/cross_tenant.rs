//! Every operation that takes an id, found by introspection, called by one tenant with another
//! tenant's ids of each kind: each answers NOT_FOUND (or, for a filter, matches nothing) and
//! changes nothing of the other tenant. A new operation is covered without being listed here;
//! an id argument whose kind cannot be told from its name fails the test until it is named.

use std::collections::BTreeMap;

use dossier::jobs::clock::ManualClock;
use dossier_tests::{Tenant, TestApp, error_code, slug, spawn_app_with, utc};
use serde_json::{Map, Value, json};

const INTROSPECTION: &str = "{ __schema { queryType { name } mutationType { name } types { name kind \
    enumValues { name } \
    fields { name args { name type { ...Ref } } type { ...Ref } } \
    inputFields { name type { ...Ref } } } } } \
    fragment Ref on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }";

/// Ids of one tenant's records, by kind.
type Ids = BTreeMap<&'static str, String>;

/// The kinds of record an id can name, as words found in argument, input and operation names.
/// Longer words first, so that `customField` is not taken for `customer`.
const KINDS: &[(&str, &str)] = &[
    ("customfield", "customField"),
    ("apikey", "apiKey"),
    ("followup", "followUp"),
    ("feedback", "feedback"),
    ("interaction", "interaction"),
    ("transaction", "transaction"),
    ("contract", "contract"),
    ("contact", "contact"),
    ("reminder", "reminder"),
    ("tag", "tag"),
    ("user", "user"),
    ("customer", "customer"),
];

/// Id arguments named for their role rather than their kind.
const ROLE_NAMES: &[(&str, &str)] = &[
    ("ownerId", "user"),
    ("assigneeId", "user"),
    ("actorId", "user"),
    ("primaryId", "customer"),
    ("duplicateIds", "customer"),
    ("predecessorId", "contract"),
    ("entityId", "customer"),
];

fn kind_in(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    KINDS
        .iter()
        .find(|(word, _)| lower.contains(word))
        .map(|(_, kind)| *kind)
}

/// The kind of record an id slot names: from its own name, else from its input type's or
/// operation's name (`UpdateContractInput.id`, `customer(id:)`).
fn kind_of_slot(slot: &str, owner: &str, operation: &str) -> Option<&'static str> {
    if let Some((_, kind)) = ROLE_NAMES.iter().find(|(name, _)| *name == slot) {
        return Some(kind);
    }
    if slot != "id" && slot != "ids" {
        return kind_in(slot.trim_end_matches("Ids").trim_end_matches("Id"));
    }
    // `TagCustomersInput.ids` are customers; the operation's own noun decides elsewhere.
    match owner {
        "TagCustomersInput" => Some("customer"),
        _ => kind_in(owner).or_else(|| kind_in(operation)),
    }
}

struct Schema {
    types: BTreeMap<String, Value>,
}

impl Schema {
    fn ty(&self, name: &str) -> &Value {
        &self.types[name]
    }

    fn has_field(&self, type_name: &str, field: &str) -> bool {
        self.ty(type_name)["fields"]
            .as_array()
            .is_some_and(|fs| fs.iter().any(|f| f["name"] == field))
    }
}

/// `ID!`, `[ID!]!`, `CustomerFilter`… as written in a variable definition.
fn type_string(ty: &Value) -> String {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => format!("{}!", type_string(&ty["ofType"])),
        "LIST" => format!("[{}]", type_string(&ty["ofType"])),
        _ => ty["name"].as_str().unwrap().to_owned(),
    }
}

fn named(ty: &Value) -> &Value {
    if ty["ofType"].is_null() {
        ty
    } else {
        named(&ty["ofType"])
    }
}

fn is_list(ty: &Value) -> bool {
    match ty["kind"].as_str().unwrap() {
        "NON_NULL" => is_list(&ty["ofType"]),
        kind => kind == "LIST",
    }
}

/// A path to one id slot: argument, then input fields.
#[derive(Debug, Clone)]
struct Slot {
    path: Vec<String>,
    kind: &'static str,
}

fn find_slots(
    schema: &Schema,
    operation: &str,
    owner: &str,
    name: &str,
    ty: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<Slot>,
) {
    let inner = named(ty);
    path.push(name.to_owned());
    match (inner["kind"].as_str().unwrap(), inner["name"].as_str().unwrap()) {
        ("SCALAR", "ID") => {
            let kind = kind_of_slot(name, owner, operation).unwrap_or_else(|| {
                panic!(
                    "{operation}: cannot tell what kind of record `{}` names",
                    path.join(".")
                )
            });
            out.push(Slot {
                path: path.clone(),
                kind,
            });
        }
        ("INPUT_OBJECT", type_name) if path.len() < 4 => {
            for field in schema.ty(type_name)["inputFields"].as_array().unwrap() {
                find_slots(
                    schema,
                    operation,
                    type_name,
                    field["name"].as_str().unwrap(),
                    &field["type"],
                    path,
                    out,
                );
            }
        }
        _ => {}
    }
    path.pop();
}

/// A plausible value for a scalar or enum the operation requires.
fn sample(schema: &Schema, name: &str, ty: &Value) -> Value {
    let inner = named(ty);
    let value = match inner["name"].as_str().unwrap() {
        "String" => match name {
            n if n.to_ascii_lowercase().contains("email") || n == "to" => json!("someone@example.com"),
            n if n.to_ascii_lowercase().contains("password") => json!("a-long-enough-passphrase-42"),
            "currency" => json!("CNY"),
            "slug" => json!(slug("x")),
            "timezone" => json!("Asia/Shanghai"),
            "key" | "confirmKey" => json!("sample_key"),
            _ => json!("Sample text"),
        },
        "Int" => json!(1),
        "Float" => json!(1.0),
        "Boolean" => json!(false),
        // In the future, where schedules must be.
        "Date" => json!("2030-06-01"),
        "DateTime" if name == "occurredAt" => json!("2026-05-01T08:00:00Z"),
        "DateTime" => json!("2030-06-01T08:00:00Z"),
        "Decimal" => json!("10"),
        "JSON" => json!({}),
        enum_name => {
            let values = schema.ty(enum_name)["enumValues"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            match values.first() {
                Some(first) => first["name"].clone(),
                None => panic!("no sample for {enum_name}"),
            }
        }
    };
    if is_list(ty) { json!([value]) } else { value }
}

/// What goes into the id slots of one call: `foreign` at `target`, the caller's own ids elsewhere.
struct Fill<'a> {
    target: &'a [String],
    foreign: &'a str,
    own: &'a Ids,
}

/// The value of an argument: required parts filled in, ids as `fill` says.
fn build(
    schema: &Schema,
    operation: &str,
    owner: &str,
    name: &str,
    ty: &Value,
    path: &mut Vec<String>,
    fill: &Fill<'_>,
) -> Option<Value> {
    let (target, foreign, own) = (fill.target, fill.foreign, fill.own);
    path.push(name.to_owned());
    let on_target_path = target.starts_with(path);
    let required = ty["kind"] == "NON_NULL";
    let inner = named(ty);
    let value = if !required && !on_target_path {
        None
    } else {
        match (inner["kind"].as_str().unwrap(), inner["name"].as_str().unwrap()) {
            ("SCALAR", "ID") => {
                let id = if path.as_slice() == target {
                    foreign.to_owned()
                } else {
                    let kind = kind_of_slot(name, owner, operation).expect("kinds were checked");
                    own[kind].clone()
                };
                Some(if is_list(ty) { json!([id]) } else { json!(id) })
            }
            ("INPUT_OBJECT", type_name) => {
                let mut object = Map::new();
                for field in schema.ty(type_name)["inputFields"].as_array().unwrap() {
                    let field_name = field["name"].as_str().unwrap();
                    if let Some(v) = build(schema, operation, type_name, field_name, &field["type"], path, fill) {
                        object.insert(field_name.to_owned(), v);
                    }
                }
                let object = Value::Object(object);
                Some(if is_list(ty) { json!([object]) } else { object })
            }
            _ => Some(sample(schema, name, ty)),
        }
    };
    path.pop();
    value
}

/// One call of `field` with the slot at `target` set to `foreign`.
fn call(schema: &Schema, root: &str, field: &Value, target: &[String], foreign: &str, own: &Ids) -> (String, Value) {
    let operation = field["name"].as_str().unwrap();
    let mut definitions = Vec::new();
    let mut arguments = Vec::new();
    let mut variables = Map::new();
    for arg in field["args"].as_array().unwrap() {
        let name = arg["name"].as_str().unwrap();
        if let Some(value) = build(
            schema,
            operation,
            operation,
            name,
            &arg["type"],
            &mut Vec::new(),
            &Fill { target, foreign, own },
        ) {
            definitions.push(format!("${name}: {}", type_string(&arg["type"])));
            arguments.push(format!("{name}: ${name}"));
            variables.insert(name.to_owned(), value);
        }
    }
    let returned = named(&field["type"]);
    let selection = match returned["kind"].as_str().unwrap() {
        "OBJECT" | "INTERFACE" | "UNION" => {
            let type_name = returned["name"].as_str().unwrap();
            if schema.has_field(type_name, "totalCount") {
                "{ __typename totalCount }"
            } else {
                "{ __typename }"
            }
        }
        _ => "",
    };
    let keyword = if root == "mutation" { "mutation" } else { "query" };
    let query = format!(
        "{keyword}({}) {{ {operation}({}) {selection} }}",
        definitions.join(", "),
        arguments.join(", ")
    );
    (query, Value::Object(variables))
}

async fn fixture(app: &TestApp, tenant: &Tenant) -> Ids {
    let token = &tenant.token;
    let mut ids = Ids::new();
    ids.insert("user", tenant.owner_id.clone());
    let customer = |name: &str| {
        json!({ "input": { "kind": "COMPANY", "name": name, "source": "REFERRAL",
            "contacts": [{ "name": "Li Lei", "phone": "138 0013 8000", "email": format!("{}@example.com", uuid::Uuid::new_v4().simple()) }] } })
    };
    let create_customer =
        "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id contacts { id } } } }";
    let first = app.ok(token, create_customer, customer("Primary Ltd")).await;
    let c = &first["createCustomer"]["customer"];
    ids.insert("customer", c["id"].as_str().unwrap().to_owned());
    ids.insert("contact", c["contacts"][0]["id"].as_str().unwrap().to_owned());
    let customer_id = ids["customer"].clone();
    let sale = json!({ "occurredAt": "2026-05-01T08:00:00Z", "unitPrice": "100", "paymentMethod": "BANK_TRANSFER" });
    let sale = app.record_sale(token, &customer_id, sale).await;
    // Ends on 2027-01-31: its 7-day reminder is planned below.
    let contract = app
        .create_contract(token, &customer_id, json!({ "endDate": "2027-01-31" }))
        .await;
    let call = json!({ "occurredAt": "2026-05-02T08:00:00Z", "summary": "Called" });
    let logged = app.log_interaction(token, &customer_id, call).await;
    let follow_up = app
        .schedule_follow_up(token, &customer_id, "2027-03-01T08:00:00Z", json!({}))
        .await;
    let praise = json!({ "kind": "PRAISE", "content": "Good service" });
    let feedback = app.record_feedback(token, &customer_id, praise).await;
    let tag = app.create_tag(token, "Key account").await;
    let field = app
        .define_custom_field(token, "CUSTOMER", "district", "TEXT", json!({}))
        .await;
    for (kind, id) in [
        ("transaction", &sale["id"]),
        ("contract", &contract["id"]),
        ("interaction", &logged["interaction"]["id"]),
        ("followUp", &follow_up["id"]),
    ] {
        ids.insert(kind, id.as_str().expect("an id").to_owned());
    }
    ids.insert("feedback", feedback);
    ids.insert("tag", tag);
    ids.insert("customField", field);
    let (key_id, _) = app.create_api_key(token, "VIEWER").await;
    ids.insert("apiKey", key_id);
    let clock = ManualClock::new(utc("2027-01-24T12:00:00Z"));
    app.plan_reminders(&clock).await;
    let reminders = app.ok(token, "{ reminders { nodes { id } } }", json!({})).await;
    let reminder = reminders["reminders"]["nodes"][0]["id"]
        .as_str()
        .expect("a planned reminder");
    ids.insert("reminder", reminder.to_owned());
    ids
}

/// All of a tenant's data as its owner sees it, and how many audit entries it has.
async fn snapshot(app: &TestApp, tenant: &Tenant) -> Value {
    let everything = "{ active: customers(first: 100) { ...Book } archived: customers(first: 100, filter: { archived: true }) { ...Book } \
        tags { id name } users { id role active name } apiKeys { id name } \
        customFieldDefinitions(entity: CUSTOMER, includeArchived: true) { id version label archivedAt } \
        reminders { nodes { id status } } } \
        fragment Book on CustomerConnection { totalCount nodes { id version status name archived \
        mergedIntoId contacts { id name email phone } tags { id name } customFields \
        transactions(first: 50) { nodes { id amount { amount currency } voided } } contracts(first: 50) { nodes { id version status endDate } } \
        interactions(first: 50) { nodes { id summary } } openFollowUps(first: 50) { nodes { id dueAt assigneeId } } \
        feedback(first: 50) { nodes { id resolvedAt } } } }";
    app.ok(&tenant.token, everything, json!({})).await
}

/// Inputs that only reach their id check with a companion value set.
fn companion(operation: &str, variables: &mut Value) {
    if operation == "logInteraction" {
        variables["input"]["nextFollowUpAt"] = json!("2030-06-02T08:00:00Z");
    }
}

/// The error's code and field, and its message: what a caller learns from an answer.
fn what_it_tells(answer: &Value) -> Value {
    let error = &answer["errors"][0];
    json!([
        error["extensions"]["code"],
        error["extensions"]["field"],
        error["message"]
    ])
}

fn destructive(name: &str) -> bool {
    [
        "erase",
        "delete",
        "remove",
        "purge",
        "merge",
        "archive",
        "terminate",
        "revoke",
        "void",
        "renew",
    ]
    .iter()
    .any(|w| name.to_ascii_lowercase().starts_with(w))
}

#[tokio::test]
async fn every_operation_taking_an_id_answers_not_found_for_another_tenants_ids_and_changes_nothing() {
    let app = spawn_app_with(&[
        ("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", "0"),
        ("DOSSIER_GRAPHQL_MAX_COMPLEXITY", "100000"),
        ("DOSSIER_GRAPHQL_MAX_DEPTH", "20"),
    ])
    .await;
    let ours = app.signup(&slug("ours")).await;
    let theirs = app.signup(&slug("theirs")).await;
    let own = fixture(&app, &ours).await;
    let foreign = fixture(&app, &theirs).await;

    let body = app.ok(&ours.token, INTROSPECTION, json!({})).await;
    let types = body["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect();
    let schema = Schema { types };
    let mut operations = Vec::new();
    for (root, type_name) in [
        ("query", body["__schema"]["queryType"]["name"].as_str().unwrap()),
        ("mutation", body["__schema"]["mutationType"]["name"].as_str().unwrap()),
    ] {
        for field in schema.ty(type_name)["fields"].as_array().unwrap() {
            let mut slots = Vec::new();
            for arg in field["args"].as_array().unwrap() {
                find_slots(
                    &schema,
                    field["name"].as_str().unwrap(),
                    field["name"].as_str().unwrap(),
                    arg["name"].as_str().unwrap(),
                    &arg["type"],
                    &mut Vec::new(),
                    &mut slots,
                );
            }
            if !slots.is_empty() {
                operations.push((root, field.clone(), slots));
            }
        }
    }
    operations.sort_by_key(|(_, field, _)| destructive(field["name"].as_str().unwrap()));
    assert!(
        operations.len() >= 40,
        "found {} operations taking ids",
        operations.len()
    );

    let before = snapshot(&app, &theirs).await;
    let audit = |tenant: &Tenant| format!("SELECT COUNT(*) FROM audit_log WHERE tenant_id = '{}'", tenant.id);
    // The snapshot's own decrypt audit is written behind it: wait for it before counting.
    app.decrypt_audit_rows(&theirs.token).await;
    let audited = app.raw_count(&audit(&theirs)).await;
    let foreign_ids: Vec<&String> = foreign.values().collect();
    let mut failures = Vec::new();
    let (mut calls, mut not_found) = (0, 0);
    for (root, field, slots) in &operations {
        let operation = field["name"].as_str().unwrap();
        for slot in slots {
            let (query, mut variables) = call(&schema, root, field, &slot.path, &foreign[slot.kind], &own);
            companion(operation, &mut variables);
            let answer = app.gql(Some(&ours.token), &query, variables).await;
            calls += 1;
            let code = if answer.get("errors").is_some() {
                error_code(&answer)
            } else {
                String::new()
            };
            let data = answer["data"].to_string();
            let leaked = foreign_ids.iter().any(|id| data.contains(id.as_str()));
            let matched_nothing = code.is_empty()
                && answer["data"][operation]
                    .get("totalCount")
                    .is_none_or(|count| count == 0);
            let filtering = *root == "query" && slot.path.len() > 1;
            // An id the input refers to (an owner, a tag) may be refused as VALIDATION on
            // its field, provided a random id is refused in exactly the same words.
            let slot_field = slot.path.last().unwrap();
            let refused_as_unknown = code == "VALIDATION"
                && answer["errors"][0]["extensions"]["field"]
                    .as_str()
                    .is_some_and(|f| f.starts_with(slot_field.as_str()))
                && {
                    let nobody = uuid::Uuid::new_v4().to_string();
                    let (query, mut variables) = call(&schema, root, field, &slot.path, &nobody, &own);
                    companion(operation, &mut variables);
                    let random = app.gql(Some(&ours.token), &query, variables).await;
                    what_it_tells(&random) == what_it_tells(&answer)
                };
            let fine = !leaked && (code == "NOT_FOUND" || refused_as_unknown || (filtering && matched_nothing));
            not_found += usize::from(code == "NOT_FOUND");
            if !fine {
                failures.push(format!(
                    "{operation} with {}'s id at {}: {answer}",
                    slot.kind,
                    slot.path.join(".")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        not_found * 3 >= calls * 2,
        "most calls are refused outright: {not_found} of {calls}"
    );
    // Anything a foreign call revealed would be queued by now; wait for it to be written.
    app.decrypt_audit_rows(&theirs.token).await;
    assert_eq!(
        app.raw_count(&audit(&theirs)).await,
        audited,
        "nothing was audited in their tenant"
    );
    assert_eq!(snapshot(&app, &theirs).await, before, "their data is unchanged");
}
