//! Reminders through the API: who sees which, delivery state and errors, retry and cancel,
//! the tenant's figures, `/metrics`, and an admin's test e-mail to a real SMTP server.

use dossier::jobs::clock::ManualClock;
use dossier::jobs::mailer::Mailer;
use dossier::jobs::reminder_delivery::Delivery;
use dossier_tests::smtp::SmtpSink;
use dossier_tests::{TestApp, error_code, slug, spawn_app_with, utc};
use serde_json::{Value, json};

const REMINDER_FIELDS: &str = "id kind status contractId followUpId customerId customer { name } offsetDays \
    recipient { id } dueAt attempts nextAttemptAt lastError sentAt messageId";

async fn app(sink: &SmtpSink) -> TestApp {
    spawn_app_with(&[
        ("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", "0"),
        ("DOSSIER_SMTP_URL", &format!("smtp://127.0.0.1:{}", sink.port)),
        ("DOSSIER_SMTP_FROM", "Reminders <reminders@crm.example.com>"),
        ("DOSSIER_METRICS_LISTEN_ADDR", "127.0.0.1:0"),
    ])
    .await
}

/// A contract of `customer` ending on 2027-01-31; returns its id.
async fn contract(app: &TestApp, token: &str, customer: &Value) -> String {
    let contract = app
        .create_contract(token, &customer["id"], json!({ "endDate": "2027-01-31" }))
        .await;
    contract["id"].as_str().expect("a contract id").to_owned()
}

async fn list(app: &TestApp, token: &str, filter: Value) -> Value {
    let query = format!(
        "query($filter: ReminderFilter) {{ reminders(filter: $filter, first: 50) {{ totalCount nodes {{ {REMINDER_FIELDS} }} }} }}"
    );
    app.ok(token, &query, json!({ "filter": filter })).await["reminders"].clone()
}

#[tokio::test]
async fn people_see_their_reminders_with_delivery_state_and_can_retry_or_cancel_them() {
    let sink = SmtpSink::start();
    let app = app(&sink).await;
    let t = app.signup(&slug("rapi")).await;
    app.update_tenant_settings(&t, json!({ "timezone": "UTC" })).await;
    let (sam_id, sam) = app.add_user(&t, "SALES", "sam").await;
    let (_, viewer) = app.add_user(&t, "VIEWER", "vic").await;
    let sams_customer = app.create_customer(&sam, "Sam's Client", json!({})).await;
    let sams_contract = contract(&app, &sam, &sams_customer).await;
    let house_customer = app.create_customer(&t.token, "House Account", json!({})).await;
    let house_contract = contract(&app, &t.token, &house_customer).await;
    let clock = ManualClock::new(utc("2027-01-24T00:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 2);

    // Sales see the reminders addressed to them; the owner sees all.
    let mine = list(&app, &sam, json!(null)).await;
    assert_eq!(mine["totalCount"], 1);
    let sams = mine["nodes"][0].clone();
    assert_eq!(sams["contractId"], sams_contract.as_str());
    assert_eq!(sams["followUpId"], Value::Null);
    assert_eq!(sams["customer"]["name"], "Sam's Client");
    assert_eq!(sams["recipient"]["id"], sam_id.as_str());
    assert_eq!(
        (sams["kind"].as_str(), sams["status"].as_str()),
        (Some("CONTRACT_EXPIRY"), Some("PENDING"))
    );
    assert_eq!(sams["offsetDays"], 7);
    assert_eq!(list(&app, &t.token, json!(null)).await["totalCount"], 2);
    // Customers and recipients come in one read per page, whatever its length.
    let page = format!("{{ reminders(first: 50) {{ nodes {{ {REMINDER_FIELDS} }} }} }}");
    let (two, for_two) = app.ok_counting_statements(&t.token, &page, json!({})).await;
    let (one, for_one) = app.ok_counting_statements(&sam, &page, json!({})).await;
    assert_eq!(
        (
            two["reminders"]["nodes"].as_array().unwrap().len(),
            one["reminders"]["nodes"].as_array().unwrap().len()
        ),
        (2, 1)
    );
    assert_eq!(for_two, for_one, "no statement per reminder");
    let by_contract = list(&app, &t.token, json!({ "contractId": house_contract })).await;
    assert_eq!(by_contract["totalCount"], 1);
    assert_eq!(by_contract["nodes"][0]["customerId"], house_customer["id"]);
    let by_customer = list(&app, &t.token, json!({ "customerId": sams_customer["id"] })).await;
    assert_eq!(by_customer["nodes"][0]["id"], sams["id"]);
    let in_window = json!({ "from": "2027-01-23T00:00:00Z", "to": "2027-01-25T00:00:00Z", "kind": "CONTRACT_EXPIRY" });
    assert_eq!(list(&app, &t.token, in_window).await["totalCount"], 2);
    let before = json!({ "to": "2027-01-23T00:00:00Z" });
    assert_eq!(list(&app, &t.token, before).await["totalCount"], 0);
    let backwards = app
        .gql(
            Some(&t.token),
            "{ reminders(filter: { from: \"2027-02-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\" }) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&backwards), "VALIDATION");
    let hidden = app
        .gql(
            Some(&sam),
            "query($id: ID!) { reminder(id: $id) { id } }",
            json!({ "id": by_contract["nodes"][0]["id"] }),
        )
        .await;
    assert_eq!(
        error_code(&hidden),
        "NOT_FOUND",
        "another's reminder is not there for sales"
    );

    // The first goes through the real server refused with 550: failed, with its words.
    sink.answer_next(&[550]);
    let worker = Delivery::with_mailer(
        app.store().await,
        Mailer::plain("127.0.0.1", sink.port, std::time::Duration::from_secs(5)),
        &app.config(),
    )
    .unwrap();
    let round = worker.deliver_once(&clock).await.unwrap();
    assert_eq!((round.sent, round.failed), (1, 1));
    let failed = list(&app, &t.token, json!({ "status": "FAILED" })).await["nodes"][0].clone();
    assert!(failed["lastError"].as_str().unwrap().contains("550"), "{failed}");
    assert_eq!(failed["attempts"], 1);
    let sent = list(&app, &t.token, json!({ "status": "SENT" })).await["nodes"][0].clone();
    assert_eq!(
        sent["messageId"].as_str().unwrap(),
        format!("<reminder-{}@crm.example.com>", sent["id"].as_str().unwrap())
    );
    assert!(sent["sentAt"].is_string() && sent["nextAttemptAt"].is_null());

    let stats_query = "{ reminderStats { planned pending sending sent failed cancelled retries oldestDueAgeSeconds } }";
    let stats = app.ok(&t.token, stats_query, json!({})).await["reminderStats"].clone();
    assert_eq!(
        stats,
        json!({ "planned": 2, "pending": 0, "sending": 0, "sent": 1, "failed": 1, "cancelled": 0,
            "retries": 0, "oldestDueAgeSeconds": null })
    );
    assert_eq!(
        error_code(&app.gql(Some(&sam), stats_query, json!({})).await),
        "FORBIDDEN"
    );

    // Whoever it is addressed to may send it again; the Message-ID stays the reminder's own.
    let retry =
        "mutation($id: ID!) { retryReminder(id: $id) { reminder { status attempts nextAttemptAt lastError } } }";
    let cancel = "mutation($id: ID!) { cancelReminder(id: $id) { reminder { status } } }";
    let failed_id = json!({ "id": failed["id"] });
    assert_eq!(
        error_code(&app.gql(Some(&viewer), retry, failed_id.clone()).await),
        "FORBIDDEN"
    );
    let retried = app
        .ok(
            if failed["recipient"]["id"] == sam_id.as_str() {
                &sam
            } else {
                &t.token
            },
            retry,
            failed_id.clone(),
        )
        .await;
    let retried = &retried["retryReminder"]["reminder"];
    assert_eq!(
        (retried["status"].as_str(), retried["attempts"].as_i64()),
        (Some("PENDING"), Some(0))
    );
    assert!(
        retried["lastError"].as_str().unwrap().contains("550"),
        "kept until it goes through"
    );
    let later = ManualClock::new(chrono::Utc::now() + chrono::Duration::seconds(1));
    assert_eq!(worker.deliver_once(&later).await.unwrap().sent, 1);
    let now_sent = app
        .ok(
            &t.token,
            &format!("query($id: ID!) {{ reminder(id: $id) {{ {REMINDER_FIELDS} }} }}"),
            failed_id.clone(),
        )
        .await["reminder"]
        .clone();
    assert_eq!(
        (now_sent["status"].as_str(), now_sent["attempts"].as_i64()),
        (Some("SENT"), Some(1))
    );
    assert_eq!(now_sent["lastError"], Value::Null);
    let ids: Vec<String> = sink.received().iter().map(|m| m.message_id()).collect();
    assert!(
        ids.contains(&now_sent["messageId"].as_str().unwrap().to_owned()),
        "{ids:?}"
    );

    // Sent is final.
    assert_eq!(
        error_code(&app.gql(Some(&t.token), retry, failed_id.clone()).await),
        "CONFLICT"
    );
    assert_eq!(
        error_code(&app.gql(Some(&t.token), cancel, failed_id.clone()).await),
        "CONFLICT"
    );

    // A new occasion (the contract moved) is cancelled before it goes out, and stays so.
    app.ok(
        &sam,
        "mutation($input: UpdateContractInput!) { updateContract(input: $input) { contract { id } } }",
        json!({ "input": { "id": sams_contract, "endDate": "2027-01-30", "version": 1 } }),
    )
    .await;
    let moved = ManualClock::new(utc("2027-01-25T00:00:00Z"));
    assert_eq!(app.plan_reminders(&moved).await, 1);
    let pending = list(&app, &sam, json!({ "status": "PENDING" })).await["nodes"][0].clone();
    let cancelled = app.ok(&sam, cancel, json!({ "id": pending["id"] })).await;
    assert_eq!(cancelled["cancelReminder"]["reminder"]["status"], "CANCELLED");
    assert_eq!(worker.deliver_once(&moved).await.unwrap().claimed, 0);
    assert_eq!(
        error_code(&app.gql(Some(&sam), cancel, json!({ "id": pending["id"] })).await),
        "CONFLICT"
    );

    let stats = app.ok(&t.token, stats_query, json!({})).await["reminderStats"].clone();
    assert_eq!(
        (
            stats["planned"].as_u64(),
            stats["sent"].as_u64(),
            stats["cancelled"].as_u64()
        ),
        (Some(3), Some(2), Some(1))
    );

    // Figures over the installation for Prometheus: no tenant's data in them.
    let metrics_base = app.metrics.as_deref().expect("metrics listener");
    let metrics = app.client.get(format!("{metrics_base}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("dossier_reminders{status=\"sent\"} 2"), "{text}");
    assert!(text.contains("dossier_reminders{status=\"cancelled\"} 1"), "{text}");
    assert!(text.contains("# TYPE dossier_reminders_sent_total counter"), "{text}");
    assert!(!text.contains(&t.id) && !text.contains("Client"), "{text}");

    // Tenant isolation: another tenant sees none of these.
    let other = app.signup(&slug("rapi-other")).await;
    assert_eq!(list(&app, &other.token, json!(null)).await["totalCount"], 0);
    let foreign = app.gql(Some(&other.token), cancel, failed_id).await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
}

#[tokio::test]
async fn an_admin_sends_a_test_email_through_the_configured_server_and_sees_why_it_failed() {
    let sink = SmtpSink::start();
    let app = app(&sink).await;
    let t = app.signup(&slug("testmail")).await;
    let settings = json!({ "locale": "ZH_CN", "senderName": "云图客服", "replyTo": "help@yuntu.example.com" });
    app.update_tenant_settings(&t, settings).await;
    let send = "mutation($to: String!) { sendTestEmail(to: $to) { delivered viaSmtp messageId error } }";
    let sent = app.ok(&t.token, send, json!({ "to": "ops@yuntu.example.com" })).await["sendTestEmail"].clone();
    assert_eq!(
        (sent["delivered"].as_bool(), sent["viaSmtp"].as_bool()),
        (Some(true), Some(true))
    );
    let mail = sink.received().pop().expect("the sink got it");
    assert_eq!(mail.to, vec!["ops@yuntu.example.com".to_owned()]);
    assert_eq!(mail.message_id(), sent["messageId"].as_str().unwrap());
    assert!(
        mail.header("Subject").unwrap().starts_with("测试邮件"),
        "{:?}",
        mail.header("Subject")
    );
    assert!(
        mail.header("From").unwrap().contains("云图客服"),
        "{:?}",
        mail.header("From")
    );
    assert!(mail.header("From").unwrap().contains("reminders@crm.example.com"));
    assert_eq!(mail.header("Reply-To").as_deref(), Some("help@yuntu.example.com"));

    sink.answer_next(&[554]);
    let refused = app.ok(&t.token, send, json!({ "to": "ops@yuntu.example.com" })).await["sendTestEmail"].clone();
    assert_eq!(refused["delivered"], false);
    assert!(refused["error"].as_str().unwrap().contains("554"), "{refused}");

    let bad = app.gql(Some(&t.token), send, json!({ "to": "not an address" })).await;
    assert_eq!(error_code(&bad), "VALIDATION");
    let (_, manager) = app.add_user(&t, "MANAGER", "mia").await;
    assert_eq!(
        error_code(&app.gql(Some(&manager), send, json!({ "to": "a@b.example.com" })).await),
        "FORBIDDEN"
    );
    // A few per minute: the fifth went through above (2 sent, 1 invalid), the next ones are refused.
    let mut codes = Vec::new();
    for _ in 0..4 {
        let body = app
            .gql(Some(&t.token), send, json!({ "to": "ops@yuntu.example.com" }))
            .await;
        codes.push(
            body["errors"][0]["extensions"]["code"]
                .as_str()
                .unwrap_or("OK")
                .to_owned(),
        );
    }
    assert_eq!(codes.iter().filter(|c| *c == "OK").count(), 3, "{codes:?}");
    assert_eq!(codes.last().map(String::as_str), Some("RATE_LIMITED"), "{codes:?}");
    let audited = app
        .raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'tenant.test_email_sent'")
        .await;
    assert_eq!(audited, 5);
    let addresses = app
        .raw_count("SELECT COUNT(*) FROM audit_log WHERE CAST(changed_fields AS TEXT) LIKE '%ops@%'")
        .await;
    assert_eq!(addresses, 0, "the audit names no address");
}
