//! Contact data: encrypted per field and bound to its row, searchable through blind
//! indexes, masked for viewers, never in plaintext at rest or in logs.

use std::time::Duration;

use dossier_tests::{
    CREATE_CUSTOMER, ERASE_CUSTOMER, ROTATE_TENANT_KEY, Tenant, TestApp, error_code, error_field, slug, spawn_another,
    spawn_app, spawn_app_with, wait_until,
};
use serde_json::{Value, json};

const EMAIL: &str = "Zhang.Wei@Example.com";
const EMAIL_NORMAL: &str = "zhang.wei@example.com";
const PHONE: &str = "+86 138-0013-8000";
const PHONE_E164: &str = "+8613800138000";
const PHONE_DIGITS: &str = "13800138000";
const WECHAT: &str = "wxid_zhangwei";
const QQ: &str = "31415926";
const ADDRESS: &str = "上海市浦东新区世纪大道1000号";

/// Every value of the fixture contact, in the forms a leak could take.
const SECRETS: [&str; 7] = [EMAIL, EMAIL_NORMAL, PHONE_E164, PHONE_DIGITS, WECHAT, QQ, ADDRESS];

const CONTACT_FIELDS: &str = "id name title isPrimary isDecisionMaker email phone wechat qq address masked";

fn full_contact() -> Value {
    json!({ "name": "张伟", "title": "采购经理", "isDecisionMaker": true,
            "email": EMAIL, "phone": PHONE, "wechat": WECHAT, "qq": QQ, "address": ADDRESS })
}

async fn customer_with_contact(app: &TestApp, token: &str, name: &str, contact: Value) -> Value {
    app.create_customer(token, name, json!({ "kind": "COMPANY", "contacts": [contact] }))
        .await
}

async fn contacts_of(app: &TestApp, token: &str, id: &Value) -> Value {
    let query = format!("query($id: ID!) {{ customer(id: $id) {{ contacts {{ {CONTACT_FIELDS} }} }} }}");
    app.gql(Some(token), &query, json!({ "id": id })).await
}

const RAW_CONTACTS: &str = "SELECT COALESCE(email,'') || '|' || COALESCE(email_bidx,'') || '|' || COALESCE(phone,'') || '|' || \
     COALESCE(phone_bidx,'') || '|' || COALESCE(wechat,'') || '|' || COALESCE(wechat_bidx,'') || '|' || \
     COALESCE(qq,'') || '|' || COALESCE(qq_bidx,'') || '|' || COALESCE(address,'') FROM contacts";

#[tokio::test]
async fn contact_values_are_normalised_and_read_back_in_plaintext_by_the_owner() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crypto")).await;
    let c = customer_with_contact(&app, &t.token, "云图科技", full_contact()).await;
    let body = contacts_of(&app, &t.token, &c["id"]).await;
    let contact = &body["data"]["customer"]["contacts"][0];
    assert_eq!(contact["email"], EMAIL_NORMAL);
    assert_eq!(contact["phone"], PHONE_E164);
    assert_eq!(contact["wechat"], WECHAT);
    assert_eq!(contact["qq"], QQ);
    assert_eq!(contact["address"], ADDRESS);
    assert_eq!(contact["isPrimary"], true);
    assert_eq!(contact["masked"], false);
}

#[tokio::test]
async fn raw_rows_hold_only_ciphertexts_and_blind_indexes() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crypto")).await;
    customer_with_contact(&app, &t.token, "云图科技", full_contact()).await;
    let rows = app.raw_texts(RAW_CONTACTS).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    for secret in SECRETS {
        assert!(!row.contains(secret), "{secret} stored in plaintext: {row}");
    }
    let parts: Vec<&str> = row.split('|').collect();
    for ciphertext in [parts[0], parts[2], parts[4], parts[6], parts[8]] {
        assert!(ciphertext.starts_with("v1.1."), "{ciphertext}");
    }
    for index in [parts[1], parts[3], parts[5], parts[7]] {
        assert_eq!(index.len(), 32, "16 bytes in hex: {index}");
    }
    // Field names and customer ids only in the audit log, never values.
    for text in app
        .raw_texts("SELECT CAST(changed_fields AS TEXT) || COALESCE(CAST(subject_ids AS TEXT), '') FROM audit_log")
        .await
    {
        for secret in SECRETS {
            assert!(!text.contains(secret));
        }
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_row_column_or_tenant_or_tampered_fails_to_decrypt() {
    let app = spawn_app().await;
    let a = app.signup(&slug("crypto-a")).await;
    let b = app.signup(&slug("crypto-b")).await;
    let first = customer_with_contact(
        &app,
        &a.token,
        "First",
        json!({ "name": "A1", "email": "first@example.com", "phone": "13900139000" }),
    )
    .await;
    let second = customer_with_contact(
        &app,
        &a.token,
        "Second",
        json!({ "name": "A2", "email": "second@example.com" }),
    )
    .await;
    let other = customer_with_contact(
        &app,
        &b.token,
        "Other",
        json!({ "name": "B1", "email": "other@example.com" }),
    )
    .await;

    // Another row of the same tenant (UUIDs are stored differently per database, so rows
    // are picked by their plaintext contact name).
    app.raw_execute("UPDATE contacts SET email = (SELECT email FROM contacts WHERE name = 'A1') WHERE name = 'A2'")
        .await;
    let moved = contacts_of(&app, &a.token, &second["id"]).await;
    assert_eq!(error_code(&moved), "INTERNAL");
    assert_eq!(moved["errors"][0]["message"], "internal error", "no detail leaks");
    assert!(!moved.to_string().contains("first@example.com"));

    // Another column of the same row.
    app.raw_execute("UPDATE contacts SET phone = email WHERE name = 'A1'")
        .await;
    assert_eq!(error_code(&contacts_of(&app, &a.token, &first["id"]).await), "INTERNAL");

    // Another tenant's row.
    app.raw_execute("UPDATE contacts SET email = (SELECT email FROM contacts WHERE name = 'A2') WHERE name = 'B1'")
        .await;
    assert_eq!(error_code(&contacts_of(&app, &b.token, &other["id"]).await), "INTERNAL");

    // The server keeps serving everything else.
    let me = app
        .ok(&a.token, "{ me { role } customers { totalCount } }", json!({}))
        .await;
    assert_eq!(me["customers"]["totalCount"], 2);
}

#[tokio::test]
async fn a_flipped_byte_fails_to_decrypt() {
    let app = spawn_app().await;
    let t = app.signup(&slug("crypto")).await;
    let c = customer_with_contact(&app, &t.token, "Tampered", json!({ "email": "tamper@example.com" })).await;
    let original = app.raw_texts("SELECT email FROM contacts").await.remove(0);
    let mut bytes = original.clone().into_bytes();
    let i = bytes.len() - 6;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    app.raw_execute(&format!("UPDATE contacts SET email = '{tampered}'"))
        .await;
    assert_eq!(error_code(&contacts_of(&app, &t.token, &c["id"]).await), "INTERNAL");
}

#[tokio::test]
async fn search_by_email_and_phone_finds_the_customer_in_any_format_and_only_in_its_tenant() {
    let app = spawn_app().await;
    let a = app.signup(&slug("search-a")).await;
    let b = app.signup(&slug("search-b")).await;
    let ours = customer_with_contact(&app, &a.token, "Ours", full_contact()).await;
    let theirs = customer_with_contact(&app, &b.token, "Theirs", json!({ "name": "B", "phone": PHONE_DIGITS })).await;
    let find = "query($filter: CustomerFilter) { customers(filter: $filter) { totalCount edges { node { id } } } }";
    let ids = |data: &Value| -> Vec<String> {
        data["customers"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for filter in [
        json!({ "phone": "+86 138-0013-8000" }),
        json!({ "phone": "13800138000" }),
        json!({ "phone": "138 0013 8000" }),
        json!({ "email": "ZHANG.WEI@example.COM" }),
        json!({ "email": " zhang.wei@example.com " }),
    ] {
        let data = app.ok(&a.token, find, json!({ "filter": filter })).await;
        assert_eq!(ids(&data), vec![ours["id"].as_str().unwrap().to_owned()], "{filter}");
    }
    let data = app.ok(&b.token, find, json!({ "filter": { "phone": PHONE } })).await;
    assert_eq!(
        ids(&data),
        vec![theirs["id"].as_str().unwrap().to_owned()],
        "B finds only its own"
    );
    let none = app
        .ok(&a.token, find, json!({ "filter": { "email": "nobody@example.com" } }))
        .await;
    assert_eq!(none["customers"]["totalCount"], 0);
    let bad = app
        .gql(Some(&a.token), find, json!({ "filter": { "phone": "not a phone" } }))
        .await;
    assert_eq!(error_field(&bad), "filter.phone");
}

#[tokio::test]
async fn viewers_see_masked_values_managers_and_owning_sales_plaintext_and_reads_are_audited() {
    let app = spawn_app().await;
    let t = app.signup(&slug("mask")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let (_, sales) = app.add_user(&t, "SALES", "sam").await;
    let c = customer_with_contact(&app, &sales, "Sam's client", full_contact()).await;

    let masked = contacts_of(&app, &viewer, &c["id"]).await;
    let contact = &masked["data"]["customer"]["contacts"][0];
    assert_eq!(contact["masked"], true);
    assert_eq!(contact["phone"], "138****8000");
    assert_eq!(contact["email"], "z***@example.com");
    assert_eq!(contact["wechat"], "wx***ei");
    assert!(!masked.to_string().contains(PHONE_E164));

    let search = app
        .gql(
            Some(&viewer),
            "{ customers(filter: { phone: \"13800138000\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&search), "FORBIDDEN", "no guessing against masked values");

    for token in [&manager, &sales] {
        let plain = contacts_of(&app, token, &c["id"]).await;
        assert_eq!(plain["data"]["customer"]["contacts"][0]["phone"], PHONE_E164);
        assert_eq!(plain["data"]["customer"]["contacts"][0]["masked"], false);
    }
    // One decrypt audit row per response that carried plaintext; none for the viewer.
    let audit = app
        .ok(
            &t.token,
            "{ auditLog(first: 100) { edges { node { action actorId changedFields } } } }",
            json!({}),
        )
        .await;
    let decrypts: Vec<&Value> = audit["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["node"])
        .filter(|n| n["action"] == "contact.decrypt")
        .collect();
    assert_eq!(decrypts.len(), 2, "{decrypts:?}");
    assert_eq!(
        decrypts[0]["changedFields"],
        json!(["email", "phone", "wechat", "qq", "address"])
    );
    let subjects = app
        .raw_texts("SELECT CAST(subject_ids AS TEXT) FROM audit_log WHERE action = 'contact.decrypt'")
        .await;
    assert!(subjects.iter().all(|s| s.contains(c["id"].as_str().unwrap())));
}

#[tokio::test]
async fn a_page_of_customers_decrypts_in_one_response_with_one_audit_row() {
    let app = spawn_app().await;
    let t = app.signup(&slug("page")).await;
    for i in 0..5 {
        customer_with_contact(
            &app,
            &t.token,
            &format!("Company {i}"),
            json!({ "email": format!("c{i}@example.com") }),
        )
        .await;
    }
    let before = app.decrypt_audit_rows(&t.token).await;
    let page = app
        .ok(
            &t.token,
            "{ customers(first: 10) { edges { node { contacts { email } } } } }",
            json!({}),
        )
        .await;
    let emails: Vec<&str> = page["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["contacts"][0]["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 5);
    assert!(emails.contains(&"c3@example.com"));
    let after = app.decrypt_audit_rows(&t.token).await;
    assert_eq!(after - before, 1);
    // Asking for no encrypted field decrypts (and audits) nothing.
    app.ok(
        &t.token,
        "{ customers(first: 10) { edges { node { contacts { name isPrimary } } } } }",
        json!({}),
    )
    .await;
    let unchanged = app.decrypt_audit_rows(&t.token).await;
    assert_eq!(unchanged, after);
}

#[tokio::test]
async fn invalid_contact_values_are_refused_naming_the_field() {
    let app = spawn_app().await;
    let t = app.signup(&slug("contact-validation")).await;
    for (contact, field) in [
        (json!({ "email": "not-an-email" }), "contacts.0.email"),
        (json!({ "phone": "12345" }), "contacts.0.phone"),
        (json!({ "wechat": "1abc" }), "contacts.0.wechat"),
        (json!({ "qq": "0123" }), "contacts.0.qq"),
        (json!({ "title": "Boss" }), "contacts.0.name"),
        (json!({ "name": "ID 11010519491231002X" }), "contacts.0.name"),
    ] {
        let body = app
            .gql(Some(&t.token), CREATE_CUSTOMER, json!({ "input": { "kind": "COMPANY", "name": "X", "source": "ONLINE", "contacts": [contact.clone()] } }))
            .await;
        assert_eq!(error_code(&body), "VALIDATION", "{contact}");
        assert_eq!(error_field(&body), field, "{contact}");
    }
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM customers").await, 0);
}

#[tokio::test]
async fn contacts_can_be_added_changed_and_removed_with_one_primary_kept() {
    let app = spawn_app().await;
    let t = app.signup(&slug("contacts")).await;
    let c = customer_with_contact(
        &app,
        &t.token,
        "Many People",
        json!({ "name": "First", "email": "first@example.com" }),
    )
    .await;
    let add = format!(
        "mutation($input: AddContactInput!) {{ addContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} }} }}"
    );
    let second = app.ok(&t.token, &add, json!({ "input": { "customerId": c["id"], "contact": { "name": "Second", "phone": "13900139000", "isPrimary": true } } })).await;
    let second = &second["addContact"]["contact"];
    assert_eq!(second["isPrimary"], true);
    let update = format!(
        "mutation($input: UpdateContactInput!) {{ updateContact(input: $input) {{ contact {{ {CONTACT_FIELDS} }} }} }}"
    );
    let changed = app
        .ok(
            &t.token,
            &update,
            json!({ "input": { "id": second["id"], "phone": null, "email": "Second@Example.com" } }),
        )
        .await;
    assert_eq!(changed["updateContact"]["contact"]["phone"], json!(null));
    assert_eq!(changed["updateContact"]["contact"]["email"], "second@example.com");
    let list = contacts_of(&app, &t.token, &c["id"]).await;
    let primaries: Vec<&Value> = list["data"]["customer"]["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["isPrimary"] == true)
        .collect();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0]["name"], "Second");
    app.ok(
        &t.token,
        "mutation($id: ID!) { removeContact(input: { id: $id }) { removedId } }",
        json!({ "id": second["id"] }),
    )
    .await;
    let left = contacts_of(&app, &t.token, &c["id"]).await;
    assert_eq!(left["data"]["customer"]["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(
        left["data"]["customer"]["contacts"][0]["isPrimary"], true,
        "the remaining one took over"
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contacts").await, 1);
}

#[tokio::test]
async fn a_duplicate_is_refused_with_candidates_unless_allowed_and_can_be_merged() {
    let app = spawn_app().await;
    let t = app.signup(&slug("dupes")).await;
    let tag_id = app.create_tag(&t.token, "vip").await;
    let first = app
        .create_customer(
            &t.token,
            "Zhang Wei",
            json!({ "contacts": [{ "phone": "13800138000" }], "region": "East" }),
        )
        .await;
    let input = json!({ "kind": "INDIVIDUAL", "name": "W. Zhang", "source": "REFERRAL", "notes": "met at fair",
                        "tagIds": [tag_id], "contacts": [{ "phone": PHONE, "email": "w.zhang@example.com" }] });
    let refused = app
        .gql(Some(&t.token), CREATE_CUSTOMER, json!({ "input": input }))
        .await;
    assert_eq!(error_code(&refused), "DUPLICATE");
    assert_eq!(refused["errors"][0]["extensions"]["candidates"], json!([first["id"]]));
    let by_name = app
        .gql(
            Some(&t.token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "zhang wei", "source": "ONLINE" } }),
        )
        .await;
    assert_eq!(error_code(&by_name), "DUPLICATE", "same name, no company");

    let mut allowed_input = input.clone();
    allowed_input["allowDuplicate"] = json!(true);
    let second = app
        .ok(&t.token, CREATE_CUSTOMER, json!({ "input": allowed_input }))
        .await["createCustomer"]["customer"]
        .clone();
    let candidates = app
        .ok(
            &t.token,
            "query($id: ID!) { duplicateCandidates(customerId: $id) { id } }",
            json!({ "id": second["id"] }),
        )
        .await;
    assert_eq!(candidates["duplicateCandidates"], json!([{ "id": first["id"] }]));

    let merge = "mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { dryRun mergedIds customer { id notes region version tags { name } contacts { email phone isPrimary } statusHistory { to } } } }";
    let decrypts_before = app.decrypt_audit_rows(&t.token).await;
    let dry = app
        .ok(
            &t.token,
            merge,
            json!({ "input": { "primaryId": first["id"], "duplicateIds": [second["id"]], "dryRun": true } }),
        )
        .await;
    let merged = &dry["mergeCustomers"]["customer"];
    assert_eq!(merged["notes"], "met at fair", "empty primary fields are filled");
    assert_eq!(merged["region"], "East", "the primary wins where it has a value");
    assert_eq!(merged["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(merged["tags"], json!([{ "name": "vip" }]));
    // The dry run wrote nothing but the record that it showed contact data.
    let decrypts_after = app.decrypt_audit_rows(&t.token).await;
    assert_eq!(decrypts_after, decrypts_before + 1);
    let untouched = contacts_of(&app, &t.token, &second["id"]).await;
    assert_eq!(untouched["data"]["customer"]["contacts"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM customers WHERE archived_at IS NULL")
            .await,
        2
    );

    let done = app
        .ok(
            &t.token,
            merge,
            json!({ "input": { "primaryId": first["id"], "duplicateIds": [second["id"]] } }),
        )
        .await;
    assert_eq!(done["mergeCustomers"]["mergedIds"], json!([second["id"]]));
    assert_eq!(
        done["mergeCustomers"]["customer"]["statusHistory"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "histories combined"
    );
    let archived = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { archived mergedIntoId contacts { id } } }",
            json!({ "id": second["id"] }),
        )
        .await;
    assert_eq!(
        archived["customer"],
        json!({ "archived": true, "mergedIntoId": first["id"], "contacts": [] })
    );
    let primary = contacts_of(&app, &t.token, &first["id"]).await;
    assert_eq!(primary["data"]["customer"]["contacts"].as_array().unwrap().len(), 2);
    let audit = app
        .raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'customer.merge'")
        .await;
    assert_eq!(audit, 1, "the dry run left no audit row, the merge one");
}

async fn encryption_status(app: &TestApp, t: &Tenant) -> Value {
    app.ok(
        &t.token,
        "{ me { tenant { encryptionStatus { dataKeyVersion contacts contactsOnOlderKeys complete } } } }",
        json!({}),
    )
    .await["me"]["tenant"]["encryptionStatus"]
        .clone()
}

#[tokio::test]
async fn after_a_key_rotation_and_a_restart_everything_is_re_encrypted_and_still_readable() {
    // The first instance never re-encrypts: as if its worker were killed at once.
    let app = spawn_app_with(&[("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "0")]).await;
    let t = app.signup(&slug("rotate")).await;
    let mut expected = Vec::new();
    for i in 0..3 {
        let email = format!("old{i}@example.com");
        let c = customer_with_contact(&app, &t.token, &format!("Old {i}"), json!({ "email": email })).await;
        expected.push((c["id"].clone(), email));
    }
    assert_eq!(app.rotate_tenant_key(&t.token).await, 2);
    let c = customer_with_contact(&app, &t.token, "New", json!({ "email": "new@example.com" })).await;
    expected.push((c["id"].clone(), "new@example.com".to_owned()));
    assert_eq!(
        encryption_status(&app, &t).await,
        json!({ "dataKeyVersion": 2, "contacts": 4, "contactsOnOlderKeys": 3, "complete": false })
    );
    for (id, email) in &expected {
        assert_eq!(
            contacts_of(&app, &t.token, id).await["data"]["customer"]["contacts"][0]["email"],
            email.as_str()
        );
    }

    // A restarted instance with its worker running finishes the job.
    let restarted = spawn_another(&app, &[("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "1")]).await;
    wait_until(Duration::from_secs(10), "re-encryption completes", async || {
        encryption_status(&restarted, &t).await["complete"] == true
    })
    .await;
    assert_eq!(
        encryption_status(&restarted, &t).await,
        json!({ "dataKeyVersion": 2, "contacts": 4, "contactsOnOlderKeys": 0, "complete": true })
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM contacts WHERE key_version <> 2")
            .await,
        0
    );
    assert!(
        app.raw_texts("SELECT email FROM contacts")
            .await
            .iter()
            .all(|ct| ct.starts_with("v1.2."))
    );
    for (id, email) in &expected {
        assert_eq!(
            contacts_of(&restarted, &t.token, id).await["data"]["customer"]["contacts"][0]["email"],
            email.as_str()
        );
    }
}

#[tokio::test]
async fn a_manager_cannot_rotate_the_tenant_key() {
    let app = spawn_app().await;
    let t = app.signup(&slug("rotate")).await;
    let manager_rotation = app
        .gql(
            Some(&app.add_user(&t, "MANAGER", "mia").await.1),
            ROTATE_TENANT_KEY,
            json!({}),
        )
        .await;
    assert_eq!(error_code(&manager_rotation), "FORBIDDEN");
}

#[tokio::test]
async fn a_new_master_key_rewraps_tenant_keys_and_the_old_one_can_then_go() {
    let app = spawn_app().await;
    let t = app.signup(&slug("master")).await;
    let c = customer_with_contact(&app, &t.token, "Kept", json!({ "email": "kept@example.com" })).await;
    let new_master = dossier::crypto::MasterKeyRing::generate_spec().replacen("1:", "2:", 1);
    let both = format!("{},{new_master}", app.master_keys);
    let vars = [
        ("DOSSIER_DATABASE_URL", app.database_url.clone()),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET.to_owned()),
        ("DOSSIER_MASTER_KEYS", both),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = dossier::Config::from_vars(&vars).unwrap();
    let store = dossier::domain::Store::connect(&config).await.unwrap();
    let rewrapped = dossier::domain::tenants::rewrap_all_keys(&store).await.unwrap();
    assert_eq!(rewrapped, 2, "the data and index key of the one tenant");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM tenant_keys WHERE master_version <> 2")
            .await,
        0
    );
    assert_eq!(
        dossier::domain::tenants::rewrap_all_keys(&store).await.unwrap(),
        0,
        "nothing left to do"
    );

    // A fresh instance on the same database with only the new master key.
    let only_new = spawn_another(&app, &[("DOSSIER_MASTER_KEYS", &new_master)]).await;
    let body = contacts_of(&only_new, &t.token, &c["id"]).await;
    assert_eq!(body["data"]["customer"]["contacts"][0]["email"], "kept@example.com");
}

#[tokio::test]
async fn erasing_a_customer_leaves_no_trace_of_its_contact_values_and_a_tombstone() {
    let app = spawn_app().await;
    let t = app.signup(&slug("erase")).await;
    let c = app
        .create_customer(&t.token, "To Forget", json!({ "contacts": [full_contact()] }))
        .await;
    app.ok(&t.token, "mutation($id: ID!) { updateCustomer(input: { id: $id, version: 1, notes: \"likes tea\" }) { customer { id } } }", json!({ "id": c["id"] })).await;
    // An older record of the same person, merged in: erasure must reach it too.
    let older = app
        .create_customer(
            &t.token,
            "T. Forget",
            json!({ "allowDuplicate": true, "hobbies": "golf", "contacts": [{ "qq": "27182818" }] }),
        )
        .await;
    app.merge_customers(&t.token, &c["id"], &older["id"]).await;
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    let refused = app
        .gql(Some(&manager), ERASE_CUSTOMER, json!({ "input": { "id": c["id"] } }))
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    app.erase_customer(&t.token, &c["id"]).await;

    assert_eq!(app.raw_count("SELECT COUNT(*) FROM contacts").await, 0);
    let customer_rows = app
        .raw_texts("SELECT name || '|' || COALESCE(notes, '') || '|' || COALESCE(company_name, '') FROM customers")
        .await;
    assert_eq!(customer_rows, vec!["(erased)||".to_owned(), "(erased)||".to_owned()]);
    let hobbies = app
        .raw_count("SELECT COUNT(*) FROM customers WHERE hobbies IS NOT NULL")
        .await;
    assert_eq!(hobbies, 0);
    let add = app
        .gql(
            Some(&t.token),
            "mutation($id: ID!) { addContact(input: { customerId: $id, contact: { phone: \"13800138000\" } }) { contact { id } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(
        error_code(&add),
        "CONFLICT",
        "an erased customer takes no new contact data"
    );
    let after = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { name archived notes contacts { id } } }",
            json!({ "id": c["id"] }),
        )
        .await;
    assert_eq!(
        after["customer"],
        json!({ "name": "(erased)", "archived": true, "notes": null, "contacts": [] })
    );
    let tombstones = app.audit_changes_of(&t.token, &c["id"]).await;
    assert_eq!(
        tombstones[0],
        (
            "customer.erase".to_owned(),
            json!(["contacts", "profile", "name", "history_text"])
        )
    );
}

#[tokio::test]
async fn the_debug_log_of_the_whole_run_never_holds_a_contact_value() {
    let app = spawn_app().await;
    let t = app.signup(&slug("logs")).await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let c = customer_with_contact(&app, &t.token, "Logged", full_contact()).await;
    contacts_of(&app, &t.token, &c["id"]).await;
    contacts_of(&app, &viewer, &c["id"]).await;
    app.gql(
        Some(&t.token),
        "query($p: String) { customers(filter: { phone: $p }) { totalCount } }",
        json!({ "p": PHONE }),
    )
    .await;
    app.gql(
        Some(&t.token),
        CREATE_CUSTOMER,
        json!({ "input": { "kind": "COMPANY", "name": "Dup", "source": "ONLINE", "contacts": [full_contact()] } }),
    )
    .await;
    app.gql(Some(&t.token), CREATE_CUSTOMER, json!({ "input": { "kind": "COMPANY", "name": "Bad", "source": "ONLINE", "contacts": [{ "email": "bad@@example.com" }] } })).await;
    // Provoke a decryption failure, which is logged as an internal error.
    app.raw_execute("UPDATE contacts SET phone = email").await;
    assert_eq!(error_code(&contacts_of(&app, &t.token, &c["id"]).await), "INTERNAL");

    let logs = dossier_tests::captured_logs();
    assert!(
        logs.contains("\"level\":\"DEBUG\"") || logs.contains("request done"),
        "the log was captured"
    );
    assert!(logs.contains("Failed to decrypt"), "the failure itself is logged");
    for secret in SECRETS.iter().chain(["bad@@example.com"].iter()) {
        assert!(!logs.contains(secret), "{secret} appears in the log");
    }
}
