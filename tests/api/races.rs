//! Check-then-insert under concurrency: many writers of one value at once leave exactly one
//! record, and every other writer gets the same answer a late comer would (DUPLICATE with
//! the winner as candidate, or VALIDATION). Overlapping merges never deadlock into INTERNAL
//! and lose nothing. PostgreSQL is where these race; SQLite serialises writers.

use dossier_tests::{
    CREATE_CONTRACT, CREATE_CUSTOMER, CREATE_TAG, CREATE_USER, TestApp, error_code, error_code_if_any, error_field,
    fixtures, slug, spawn_app_with,
};
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};

/// Enough connections for every parallel writer to be inside its transaction at once.
async fn app() -> TestApp {
    spawn_app_with(&[("DOSSIER_DB_MAX_CONNECTIONS", "24")]).await
}

/// One Chinese mobile number written twenty ways.
fn phone_formats() -> Vec<String> {
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "138.0013.8000",
        "138 00138000",
        " 13800138000 ",
        "138  0013  8000",
        "138-0013 8000",
        "138 0013-8000",
        "+8613800138000",
        "+86 13800138000",
        "+86-13800138000",
        "+86 138 0013 8000",
        "+86-138-0013-8000",
        "+86 138-0013-8000",
        "+86 138.0013.8000",
        "+86 138 00138000",
        "+86 138 0013-8000",
        "+86-138 0013 8000",
        "+86  138 0013 8000",
    ]
    .map(String::from)
    .to_vec()
}

/// Splits answers into the successes' payloads of `mutation` and the failures' bodies.
fn split<'a>(bodies: &'a [Value], mutation: &str) -> (Vec<&'a Value>, Vec<&'a Value>) {
    let (ok, failed): (Vec<_>, Vec<_>) = bodies.iter().partition(|b| b.get("errors").is_none());
    (ok.into_iter().map(|b| &b["data"][mutation]).collect(), failed)
}

/// Every failure is DUPLICATE on `field` naming exactly `winner`.
fn assert_duplicates_of(failed: &[&Value], field: &str, winner: &Value) {
    for body in failed {
        assert_eq!(error_code(body), "DUPLICATE", "{body}");
        assert_eq!(error_field(body), field, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["candidates"],
            json!([winner]),
            "a loser of the race learns the winner as a late comer would: {body}"
        );
    }
}

/// Rows of `table` matching `condition` (each test has a database of its own).
async fn count(app: &TestApp, table: &str, condition: &str) -> i64 {
    app.raw_count(&format!("SELECT COUNT(*) FROM {table} WHERE {condition}"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_creates_with_one_phone_in_twenty_formats_make_one_customer() {
    let app = app().await;
    let t = app.signup(&slug("race-phone")).await;
    let formats = phone_formats();
    let creates = formats.iter().enumerate().map(|(i, phone)| {
        app.gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": format!("Caller {i}"), "source": "ONLINE",
                "contacts": [{ "name": format!("Caller {i}"), "phone": phone }] } }),
        )
    });
    let bodies = join_all(creates).await;
    for (phone, body) in formats.iter().zip(&bodies) {
        assert_ne!(
            error_code_if_any(body).as_deref(),
            Some("VALIDATION"),
            "{phone} is a valid number: {body}"
        );
    }
    let (created, failed) = split(&bodies, "createCustomer");
    assert_eq!(created.len(), 1, "exactly one customer is created: {bodies:?}");
    assert_eq!(failed.len(), 19);
    let winner = &created[0]["customer"]["id"];
    for body in &failed {
        assert_eq!(error_code(body), "DUPLICATE", "{body}");
        assert_eq!(error_field(body), "contacts", "{body}");
        assert_eq!(body["errors"][0]["extensions"]["candidates"], json!([winner]), "{body}");
    }
    assert_eq!(count(&app, "customers", "1 = 1").await, 1);
    assert_eq!(count(&app, "contacts", "1 = 1").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_creates_with_one_name_and_company_make_one_customer() {
    let app = app().await;
    let t = app.signup(&slug("race-name")).await;
    let creates = (0..20).map(|i| {
        // Letter case differs; the duplicate check ignores it.
        let name = if i % 2 == 0 { "Wang Fang" } else { "WANG FANG" };
        app.gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": name, "companyName": "Yuntu", "source": "ONLINE" } }),
        )
    });
    let bodies = join_all(creates).await;
    let (created, failed) = split(&bodies, "createCustomer");
    assert_eq!(created.len(), 1, "{bodies:?}");
    assert_duplicates_of(&failed, "name", &created[0]["customer"]["id"]);
    assert_eq!(count(&app, "customers", "1 = 1").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_creates_with_one_given_code_make_one_customer_and_generated_codes_never_clash() {
    let app = app().await;
    let t = app.signup(&slug("race-code")).await;
    // Half give the code the generator would draw next; the other half let it draw.
    let creates = (0..20).map(|i| {
        let mut input = json!({ "kind": "INDIVIDUAL", "name": format!("Coded {i}"), "source": "ONLINE" });
        if i % 2 == 0 {
            input["code"] = json!("C-000001");
        }
        app.gql(Some(&t.token), CREATE_CUSTOMER, json!({ "input": input }))
    });
    let bodies = join_all(creates).await;
    let holder = one_holder(&bodies, "createCustomer", "customer", "code", "C-000001");
    assert_given_lost_to(&bodies, "code", &holder);
    assert_eq!(count(&app, "customers", "1 = 1").await, 20 - losers(&bodies) as i64);
    assert_eq!(count(&app, "customers", "code = 'C-000001'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_tag_creates_with_one_name_make_one_tag() {
    let app = app().await;
    let t = app.signup(&slug("race-tag")).await;
    let creates = (0..20).map(|_| {
        app.gql(
            Some(&t.token),
            CREATE_TAG,
            json!({ "input": { "name": "Key account" } }),
        )
    });
    let bodies = join_all(creates).await;
    let (created, failed) = split(&bodies, "createTag");
    assert_eq!(created.len(), 1, "{bodies:?}");
    assert_duplicates_of(&failed, "name", &created[0]["tag"]["id"]);
    assert_eq!(count(&app, "tags", "1 = 1").await, 1);
}

/// Of writers where the even ones give `value` and the odd ones let it be generated, the one
/// record that holds `value` (given, or drawn by the generator first). A generated value
/// never clashes.
fn one_holder(bodies: &[Value], mutation: &str, object: &str, field: &str, value: &str) -> Value {
    for (i, body) in bodies.iter().enumerate() {
        if i % 2 == 1 {
            assert!(
                body.get("errors").is_none(),
                "a generated {field} never clashes: {body}"
            );
        }
    }
    let holders: Vec<&Value> = bodies
        .iter()
        .filter(|b| b["data"][mutation][object][field] == value)
        .collect();
    assert_eq!(holders.len(), 1, "one record holds {value}: {bodies:?}");
    holders[0]["data"][mutation][object]["id"].clone()
}

/// Every writer refused lost to `holder`, and is told so as a late comer would be.
fn assert_given_lost_to(bodies: &[Value], field: &str, holder: &Value) {
    let failed: Vec<&Value> = bodies.iter().filter(|b| b.get("errors").is_some()).collect();
    assert_duplicates_of(&failed, field, holder);
}

fn losers(bodies: &[Value]) -> usize {
    bodies.iter().filter(|b| b.get("errors").is_some()).count()
}

fn contract_input(customer_id: &Value, number: Option<&str>) -> Value {
    let number = number.map_or(json!({}), |n| json!({ "number": n }));
    json!({ "input": fixtures::contract_input(customer_id, number) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_contract_creates_with_one_number_make_one_contract() {
    let app = app().await;
    let t = app.signup(&slug("race-contract")).await;
    // One customer each, so the customer's row lock does not line them up.
    let mut customers = Vec::new();
    for i in 0..20 {
        let c = app
            .create_customer(&t.token, &format!("Buyer {i}"), json!({ "allowDuplicate": true }))
            .await;
        customers.push(c["id"].clone());
    }
    let creates = customers.iter().enumerate().map(|(i, id)| {
        // Half give the number the generator would draw next; the other half let it draw.
        let number = (i % 2 == 0).then_some("CT-000001");
        app.gql(Some(&t.token), CREATE_CONTRACT, contract_input(id, number))
    });
    let bodies = join_all(creates).await;
    let holder = one_holder(&bodies, "createContract", "contract", "number", "CT-000001");
    assert_given_lost_to(&bodies, "number", &holder);
    assert_eq!(count(&app, "contracts", "1 = 1").await, 20 - losers(&bodies) as i64);
    assert_eq!(count(&app, "contracts", "number = 'CT-000001'").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_writes_of_one_unique_custom_value_keep_it_unique() {
    let app = app().await;
    let t = app.signup(&slug("race-field")).await;
    for (key, sensitive) in [("member_no", false), ("passport", true)] {
        let settings = json!({ "unique": true, "sensitive": sensitive, "searchable": sensitive });
        app.define_custom_field(&t.token, "CUSTOMER", key, "TEXT", settings)
            .await;
    }
    // Each writer sets both fields, in either order, to the same values.
    let creates = (0..20).map(|i| {
        let fields = if i % 2 == 0 {
            json!({ "member_no": "M-1", "passport": "E1234567" })
        } else {
            json!({ "passport": "E1234567", "member_no": "M-1" })
        };
        app.gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": format!("Member {i}"), "source": "ONLINE",
                "allowDuplicate": true, "customFields": fields } }),
        )
    });
    let bodies = join_all(creates).await;
    let (created, failed) = split(&bodies, "createCustomer");
    assert_eq!(created.len(), 1, "{bodies:?}");
    for body in &failed {
        assert_eq!(error_code(body), "VALIDATION", "{body}");
        assert!(
            ["customFields.member_no", "customFields.passport"].contains(&error_field(body).as_str()),
            "{body}"
        );
    }
    assert_eq!(count(&app, "customers", "1 = 1").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_user_creates_with_one_email_make_one_user() {
    let app = app().await;
    let t = app.signup(&slug("race-user")).await;
    let creates = (0..20).map(|i| {
        // Letter case differs; e-mails are compared lower-cased.
        let email = if i % 2 == 0 {
            "li.na@example.com"
        } else {
            "Li.Na@Example.com"
        };
        app.gql(
            Some(&t.token),
            CREATE_USER,
            json!({ "input": { "email": email, "name": format!("Li Na {i}"), "role": "SALES", "password": "user-password-1" } }),
        )
    });
    let bodies = join_all(creates).await;
    let (created, failed) = split(&bodies, "createUser");
    assert_eq!(created.len(), 1, "{bodies:?}");
    assert_duplicates_of(&failed, "email", &created[0]["user"]["id"]);
    assert_eq!(count(&app, "users", "email = 'li.na@example.com'").await, 1);
}

const MERGE: &str = "mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { \
    mergedIds customer { id contacts { name } } } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_merges_in_both_directions_let_one_win_and_lose_nothing() {
    let app = app().await;
    let t = app.signup(&slug("race-merge")).await;
    for round in 0..5 {
        let a = app
            .create_customer(
                &t.token,
                &format!("A{round}"),
                json!({ "contacts": [{ "name": format!("a{round}") }] }),
            )
            .await;
        let b = app
            .create_customer(
                &t.token,
                &format!("B{round}"),
                json!({ "contacts": [{ "name": format!("b{round}") }] }),
            )
            .await;
        let (a_id, b_id) = (a["id"].clone(), b["id"].clone());
        let bodies = join_all([
            app.gql(
                Some(&t.token),
                MERGE,
                json!({ "input": { "primaryId": a_id, "duplicateIds": [b_id] } }),
            ),
            app.gql(
                Some(&t.token),
                MERGE,
                json!({ "input": { "primaryId": b_id, "duplicateIds": [a_id] } }),
            ),
        ])
        .await;
        let (merged, failed) = split(&bodies, "mergeCustomers");
        assert_eq!(merged.len(), 1, "round {round}: one merge wins: {bodies:?}");
        // The loser waited for the winner instead of deadlocking with it, and so is told what a
        // merge sent after the winner's would be told: its primary is archived now.
        assert_eq!(error_code(failed[0]), "VALIDATION", "round {round}: {bodies:?}");
        assert_eq!(error_field(failed[0]), "primaryId", "round {round}: {bodies:?}");
        let winner = merged[0]["customer"]["id"].as_str().unwrap().to_owned();
        let loser = if winner == a_id { b_id.as_str() } else { a_id.as_str() }.unwrap();
        let mut names: Vec<String> = merged[0]["customer"]["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect();
        names.sort();
        assert_eq!(names, [format!("a{round}"), format!("b{round}")], "round {round}");
        // The stored state is the winner's merge, whole.
        let stored = app
            .ok(
                &t.token,
                "query($w: ID!, $l: ID!) { w: customer(id: $w) { archived mergedIntoId contacts { name } } \
                 l: customer(id: $l) { archived mergedIntoId contacts { name } } }",
                json!({ "w": winner, "l": loser }),
            )
            .await;
        assert_eq!(stored["w"]["archived"], false, "round {round}");
        assert_eq!(stored["w"]["mergedIntoId"], json!(null), "round {round}");
        assert_eq!(stored["w"]["contacts"].as_array().unwrap().len(), 2, "round {round}");
        assert_eq!(stored["l"]["archived"], true, "round {round}");
        assert_eq!(stored["l"]["mergedIntoId"], json!(winner), "round {round}");
        assert_eq!(stored["l"]["contacts"], json!([]), "round {round}");
    }
}

#[tokio::test]
async fn a_create_holds_the_tenants_code_sequence_only_while_it_takes_its_number() {
    if dossier_tests::postgres_base_url().is_none() {
        eprintln!("skipped: row locks are PostgreSQL's, covered by the PostgreSQL run");
        return;
    }
    let app = app().await;
    let t = app.signup(&slug("code-seq")).await;
    app.create_customer(&t.token, "First", json!({})).await;
    // Stops the next create at its contact insert, halfway through its transaction.
    let raw = app.raw_db().await;
    let holder = raw.begin().await.expect("raw transaction");
    holder
        .execute_unprepared("LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("table locked");
    let input = json!({ "input": { "kind": "INDIVIDUAL", "name": "Halfway", "source": "ONLINE",
        "allowDuplicate": true, "contacts": [{ "email": "halfway@example.com" }] } });
    let create = app.gql(Some(&t.token), CREATE_CUSTOMER, input);
    let probe = async {
        let mut waiting = 0;
        for _ in 0..50 {
            waiting = app
                .raw_count("SELECT COUNT(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE NOT l.granted AND c.relname = 'contacts'")
                .await;
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(waiting, 1, "the create waits at its contact insert");
        // Another create of the tenant could take the next number now.
        let other = app.raw_db().await;
        let free = other
            .execute_unprepared(&format!(
                "SELECT 1 FROM tenants WHERE id = '{}' FOR UPDATE NOWAIT",
                t.id
            ))
            .await;
        other.close().await.ok();
        holder.rollback().await.expect("lock released");
        free
    };
    let (created, free) = tokio::join!(create, probe);
    assert!(
        free.is_ok(),
        "the sequence row stays locked by a create in flight: {free:?}"
    );
    assert_eq!(
        created["data"]["createCustomer"]["customer"]["code"], "C-000002",
        "{created}"
    );
    raw.close().await.ok();
}
