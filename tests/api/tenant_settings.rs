//! Tenant settings: time zone, locale and how reminders go out, changed by admins only.

use dossier_tests::{error_code, error_field, shanghai_day, slug, spawn_app};
use serde_json::{Value, json};

const UPDATE: &str = "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { tenant { \
    timezone locale contractReminderOffsetsDays followUpReminderLeadMinutes dailyDigestHour senderName replyTo \
    extraRecipient } } }";
const READ: &str = "{ me { tenant { timezone locale contractReminderOffsetsDays followUpReminderLeadMinutes \
    dailyDigestHour senderName replyTo extraRecipient } } }";

#[tokio::test]
async fn an_admin_changes_every_setting_and_reads_it_back() {
    let app = spawn_app().await;
    let t = app.signup(&slug("settings")).await;
    let defaults = app.ok(&t.token, READ, json!({})).await["me"]["tenant"].clone();
    assert_eq!(defaults["contractReminderOffsetsDays"], json!([90, 30, 7]));
    assert_eq!(defaults["followUpReminderLeadMinutes"], 60);
    assert_eq!(defaults["dailyDigestHour"], Value::Null);

    let input = json!({
        "timezone": "America/New_York", "locale": "EN", "contractReminderOffsetsDays": [7, 60, 30, 60],
        "followUpReminderLeadMinutes": 15, "dailyDigestHour": 8, "senderName": "Acme Reminders",
        "replyTo": "Sales@Acme.example.com", "extraRecipient": "crm-log@acme.example.com",
    });
    let saved = app.ok(&t.token, UPDATE, json!({ "input": input })).await;
    let expected = json!({
        "timezone": "America/New_York", "locale": "EN", "contractReminderOffsetsDays": [60, 30, 7],
        "followUpReminderLeadMinutes": 15, "dailyDigestHour": 8, "senderName": "Acme Reminders",
        "replyTo": "sales@acme.example.com", "extraRecipient": "crm-log@acme.example.com",
    });
    assert_eq!(saved["updateTenantSettings"]["tenant"], expected);
    assert_eq!(app.ok(&t.token, READ, json!({})).await["me"]["tenant"], expected);

    let cleared = app
        .ok(
            &t.token,
            UPDATE,
            json!({ "input": { "dailyDigestHour": null, "extraRecipient": null } }),
        )
        .await;
    assert_eq!(
        cleared["updateTenantSettings"]["tenant"]["dailyDigestHour"],
        Value::Null
    );
    assert_eq!(cleared["updateTenantSettings"]["tenant"]["extraRecipient"], Value::Null);
    assert_eq!(
        cleared["updateTenantSettings"]["tenant"]["senderName"],
        "Acme Reminders"
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.update_settings'")
            .await,
        2
    );
}

#[tokio::test]
async fn invalid_settings_are_refused_naming_the_field_and_change_nothing() {
    let app = spawn_app().await;
    let t = app.signup(&slug("settings-bad")).await;
    for (input, field) in [
        (json!({ "timezone": "Mars/Olympus" }), "timezone"),
        (
            json!({ "contractReminderOffsetsDays": [400] }),
            "contractReminderOffsetsDays",
        ),
        (
            json!({ "contractReminderOffsetsDays": [-1] }),
            "contractReminderOffsetsDays",
        ),
        (
            json!({ "contractReminderOffsetsDays": (1..=11).collect::<Vec<i32>>() }),
            "contractReminderOffsetsDays",
        ),
        (
            json!({ "contractReminderOffsetsDays": [] }),
            "contractReminderOffsetsDays",
        ),
        (
            json!({ "followUpReminderLeadMinutes": -5 }),
            "followUpReminderLeadMinutes",
        ),
        (
            json!({ "followUpReminderLeadMinutes": 20000 }),
            "followUpReminderLeadMinutes",
        ),
        (json!({ "dailyDigestHour": 24 }), "dailyDigestHour"),
        (json!({ "senderName": "Acme\r\nBcc: victim@example.com" }), "senderName"),
        (json!({ "replyTo": "not an address" }), "replyTo"),
        (json!({ "extraRecipient": "x@" }), "extraRecipient"),
    ] {
        let body = app.gql(Some(&t.token), UPDATE, json!({ "input": input })).await;
        assert_eq!(error_code(&body), "VALIDATION", "{input}: {body}");
        assert_eq!(error_field(&body), field, "{input}: {body}");
    }
    let unchanged = app.ok(&t.token, READ, json!({})).await["me"]["tenant"].clone();
    assert_eq!(unchanged["timezone"], "Asia/Shanghai");
    assert_eq!(unchanged["contractReminderOffsetsDays"], json!([90, 30, 7]));
}

#[tokio::test]
async fn only_admins_change_the_settings() {
    let app = spawn_app().await;
    let t = app.signup(&slug("settings-bad")).await;
    for role in ["MANAGER", "SALES", "VIEWER"] {
        let (_, token) = app.add_user(&t, role, &format!("u-{}", role.to_lowercase())).await;
        let body = app
            .gql(Some(&token), UPDATE, json!({ "input": { "timezone": "UTC" } }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{role}");
    }
}

#[tokio::test]
async fn new_default_offsets_move_the_expiring_start_of_contracts_that_follow_the_default() {
    let app = spawn_app().await;
    let t = app.signup(&slug("settings-offsets")).await;
    let customer = app.create_customer(&t.token, "Renewing", json!({})).await;
    let mut ids = Vec::new();
    for own in [Value::Null, json!([90])] {
        let dates = json!({ "startDate": shanghai_day(-100), "endDate": shanghai_day(60), "reminderOffsetsDays": own });
        ids.push(app.create_contract(&t.token, &customer["id"], dates).await["id"].clone());
    }
    let read = "query($id: ID!) { contract(id: $id) { status expiringFrom } }";
    for id in &ids {
        assert_eq!(
            app.ok(&t.token, read, json!({ "id": id })).await["contract"]["status"],
            "EXPIRING"
        );
    }

    app.ok(
        &t.token,
        UPDATE,
        json!({ "input": { "contractReminderOffsetsDays": [30, 7] } }),
    )
    .await;
    let following = app.ok(&t.token, read, json!({ "id": ids[0] })).await["contract"].clone();
    assert_eq!(
        following,
        json!({ "status": "ACTIVE", "expiringFrom": shanghai_day(30) })
    );
    let own = app.ok(&t.token, read, json!({ "id": ids[1] })).await["contract"].clone();
    assert_eq!(
        own,
        json!({ "status": "EXPIRING", "expiringFrom": shanghai_day(-30) }),
        "its own offsets stay"
    );
    let expiring = app
        .ok(
            &t.token,
            "{ contracts(filter: { status: EXPIRING }) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        expiring["contracts"]["nodes"],
        json!([{ "id": ids[1] }]),
        "the indexed filter agrees"
    );
}
