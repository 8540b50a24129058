//! Reminder planning: the right reminders on the right local days, once, and cancelled when
//! their subject changes. Time is moved by hand (a manual clock), never waited for.

use chrono::{DateTime, Duration, Utc};
use dossier::jobs::clock::ManualClock;
use dossier::jobs::planner::plan_once;
use dossier_tests::{Tenant, TestApp, slug, spawn_app_with};
use entity::reminder;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{Value, json};

/// No background planner: the tests plan by hand at the times they choose.
async fn app() -> TestApp {
    spawn_app_with(&[("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0")]).await
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn tenant_in(app: &TestApp, prefix: &str, timezone: &str) -> Tenant {
    let t = app.signup(&slug(prefix)).await;
    app.ok(
        &t.token,
        "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { tenant { timezone } } }",
        json!({ "input": { "timezone": timezone } }),
    )
    .await;
    t
}

async fn contract(app: &TestApp, t: &Tenant, customer_id: &Value, end: &str) -> Value {
    let data = app
        .ok(
            &t.token,
            "mutation($input: CreateContractInput!) { createContract(input: $input) { contract { id version } } }",
            json!({ "input": { "customerId": customer_id, "title": "Support", "value": "100.00", "currency": "CNY",
                "startDate": "2026-01-01", "endDate": end } }),
        )
        .await;
    data["createContract"]["contract"].clone()
}

async fn reminders(app: &TestApp) -> Vec<reminder::Model> {
    let db = app.raw_db().await;
    let rows = reminder::Entity::find()
        .order_by_asc(reminder::Column::DueAt)
        .all(&db)
        .await
        .expect("reminders");
    db.close().await.ok();
    rows
}

async fn plan(app: &TestApp, clock: &ManualClock) -> u64 {
    plan_once(&app.store().await, clock).await.expect("planning runs")
}

#[tokio::test]
async fn contracts_are_reminded_90_30_and_7_days_before_their_end_on_the_local_day() {
    let app = app().await;
    // New York leaves standard time on 2027-03-14: the 7-day reminder falls after the change.
    for (zone, days) in [
        (
            "America/New_York",
            [
                ("2026-12-22T05:00:00Z", 90),
                ("2027-02-20T05:00:00Z", 30),
                ("2027-03-15T04:00:00Z", 7),
            ],
        ),
        (
            "Asia/Shanghai",
            [
                ("2026-12-21T16:00:00Z", 90),
                ("2027-02-19T16:00:00Z", 30),
                ("2027-03-14T16:00:00Z", 7),
            ],
        ),
    ] {
        let t = tenant_in(&app, "plan", zone).await;
        let c = app.create_customer(&t.token, "Expiring", json!({})).await;
        let k = contract(&app, &t, &c["id"], "2027-03-22").await;
        let clock = ManualClock::new(at("2026-12-01T00:00:00Z"));
        let before = reminders(&app).await.len();
        assert_eq!(plan(&app, &clock).await, 0, "{zone}: nothing is due yet");
        for (local_midnight, offset) in days {
            clock.set(at(local_midnight) - Duration::seconds(1));
            assert_eq!(
                plan(&app, &clock).await,
                0,
                "{zone}: a second before the local day of {offset}"
            );
            clock.set(at(local_midnight));
            assert_eq!(
                plan(&app, &clock).await,
                1,
                "{zone}: the local day of {offset} has come"
            );
            assert_eq!(plan(&app, &clock).await, 0, "{zone}: planning again changes nothing");
        }
        let mine: Vec<reminder::Model> = reminders(&app)
            .await
            .into_iter()
            .filter(|r| r.subject_id.to_string() == k["id"].as_str().unwrap())
            .collect();
        assert_eq!(mine.len(), 3);
        assert_eq!(reminders(&app).await.len(), before + 3);
        for (r, (local_midnight, offset)) in mine.iter().zip(days) {
            assert_eq!(r.offset_days, Some(offset), "{zone}");
            assert_eq!(
                r.due_at,
                at(local_midnight),
                "{zone}: due at the start of the local day"
            );
            assert_eq!(r.occasion, format!("end:2027-03-22/offset:{offset}"));
            assert_eq!(r.recipient_user_id.map(|u| u.to_string()), Some(t.owner_id.clone()));
            assert_eq!(r.status, entity::enums::ReminderStatus::Pending);
        }
        clock.set(at("2027-04-01T00:00:00Z"));
        assert_eq!(plan(&app, &clock).await, 0, "{zone}: nothing after the end");
    }
}

#[tokio::test]
async fn a_contract_found_late_gets_its_nearest_reminder_only_and_planners_racing_plan_it_once() {
    let app = app().await;
    let t = tenant_in(&app, "plan-late", "Asia/Shanghai").await;
    let c = app.create_customer(&t.token, "Late", json!({})).await;
    for i in 0..20 {
        contract(&app, &t, &c["id"], &format!("2027-01-{:02}", 8 + i % 5)).await;
    }
    // Planned first on 2027-01-05 (Shanghai): the 90- and 30-day days passed unplanned.
    let clock = ManualClock::new(at("2027-01-04T16:00:00Z"));
    let stores = [app.store().await, app.store().await, app.store().await];
    let runs = stores.iter().map(|s| plan_once(s, &clock));
    let created: u64 = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("planning runs"))
        .sum();
    assert_eq!(created, 20, "one reminder per contract, whichever planner made it");
    let rows = reminders(&app).await;
    assert_eq!(rows.len(), 20);
    assert!(rows.iter().all(|r| r.offset_days == Some(7)), "only the nearest offset");
}

#[tokio::test]
async fn changes_to_their_subject_cancel_waiting_reminders_and_rescheduling_plans_anew() {
    let app = app().await;
    let t = tenant_in(&app, "plan-cancel", "UTC").await;
    let c = app.create_customer(&t.token, "Changing", json!({})).await;
    let ended = contract(&app, &t, &c["id"], "2027-01-31").await;
    let renewed = contract(&app, &t, &c["id"], "2027-01-31").await;
    let clock = ManualClock::new(at("2027-01-24T00:00:00Z"));
    assert_eq!(plan(&app, &clock).await, 2);

    app.ok(
        &t.token,
        "mutation($input: TerminateContractInput!) { terminateContract(input: $input) { contract { id } } }",
        json!({ "input": { "id": ended["id"] } }),
    )
    .await;
    app.ok(
        &t.token,
        "mutation($input: RenewContractInput!) { renewContract(input: $input) { contract { id } } }",
        json!({ "input": { "id": renewed["id"], "newEndDate": "2028-01-31" } }),
    )
    .await;
    let statuses: Vec<String> = reminders(&app)
        .await
        .iter()
        .map(|r| format!("{:?}", r.status))
        .collect();
    assert_eq!(statuses, ["Cancelled", "Cancelled"]);
    assert_eq!(
        plan(&app, &clock).await,
        0,
        "a terminated or renewed contract is not planned again"
    );

    // Follow-ups: announced an hour (the default lead) before they fall due.
    let due = "2027-02-01T10:00:00Z";
    let schedule =
        "mutation($input: ScheduleFollowUpInput!) { scheduleFollowUp(input: $input) { followUp { id version } } }";
    let f = app
        .ok(
            &t.token,
            schedule,
            json!({ "input": { "customerId": c["id"], "dueAt": due } }),
        )
        .await["scheduleFollowUp"]["followUp"]
        .clone();
    clock.set(at("2027-02-01T08:59:59Z"));
    assert_eq!(plan(&app, &clock).await, 0);
    clock.set(at("2027-02-01T09:00:00Z"));
    assert_eq!(plan(&app, &clock).await, 1);
    let moved = app
        .ok(
            &t.token,
            "mutation($input: RescheduleFollowUpInput!) { rescheduleFollowUp(input: $input) { followUp { id version } } }",
            json!({ "input": { "id": f["id"], "dueAt": "2027-02-03T10:00:00Z" } }),
        )
        .await;
    let of_follow_up = |rows: &[reminder::Model]| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r.subject_id.to_string() == f["id"].as_str().unwrap())
            .map(|r| (r.occasion.clone(), format!("{:?}", r.status)))
            .collect()
    };
    assert_eq!(
        of_follow_up(&reminders(&app).await),
        [("due:2027-02-01T10:00:00Z".to_owned(), "Cancelled".to_owned())]
    );
    clock.set(at("2027-02-03T09:00:00Z"));
    assert_eq!(plan(&app, &clock).await, 1, "the new due time is announced");
    app.ok(
        &t.token,
        "mutation($input: CompleteFollowUpInput!) { completeFollowUp(input: $input) { followUp { id } } }",
        json!({ "input": { "id": f["id"], "version": moved["rescheduleFollowUp"]["followUp"]["version"] } }),
    )
    .await;
    assert_eq!(
        of_follow_up(&reminders(&app).await),
        [
            ("due:2027-02-01T10:00:00Z".to_owned(), "Cancelled".to_owned()),
            ("due:2027-02-03T10:00:00Z".to_owned(), "Cancelled".to_owned())
        ],
        "completing it cancels its reminder"
    );
}
