//! Reminder planning: the right reminders on the right local days, once, and cancelled when
//! their subject changes. Time is moved by hand (a manual clock), never waited for.

use chrono::Duration;
use dossier::jobs::clock::ManualClock;
use dossier::jobs::planner::plan_once;
use dossier_tests::{COMPLETE_FOLLOW_UP, RESCHEDULE_FOLLOW_UP, Tenant, TestApp, slug, spawn_app_with, utc};
use entity::reminder;
use serde_json::{Value, json};

/// No background planner: the tests plan by hand at the times they choose.
async fn app() -> TestApp {
    spawn_app_with(&[("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0")]).await
}

async fn tenant_in(app: &TestApp, prefix: &str, timezone: &str) -> Tenant {
    let t = app.signup(&slug(prefix)).await;
    app.update_tenant_settings(&t, json!({ "timezone": timezone })).await;
    t
}

/// A contract of `customer_id` ending on `end`.
async fn contract(app: &TestApp, t: &Tenant, customer_id: &Value, end: &str) -> Value {
    app.create_contract(&t.token, customer_id, json!({ "endDate": end }))
        .await
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
        let clock = ManualClock::new(utc("2026-12-01T00:00:00Z"));
        let before = app.reminder_rows().await.len();
        assert_eq!(app.plan_reminders(&clock).await, 0, "{zone}: nothing is due yet");
        for (local_midnight, offset) in days {
            clock.set(utc(local_midnight) - Duration::seconds(1));
            assert_eq!(
                app.plan_reminders(&clock).await,
                0,
                "{zone}: a second before the local day of {offset}"
            );
            clock.set(utc(local_midnight));
            assert_eq!(
                app.plan_reminders(&clock).await,
                1,
                "{zone}: the local day of {offset} has come"
            );
            assert_eq!(
                app.plan_reminders(&clock).await,
                0,
                "{zone}: planning again changes nothing"
            );
        }
        let mine: Vec<reminder::Model> = app
            .reminder_rows()
            .await
            .into_iter()
            .filter(|r| r.subject_id.to_string() == k["id"].as_str().unwrap())
            .collect();
        assert_eq!(mine.len(), 3);
        assert_eq!(app.reminder_rows().await.len(), before + 3);
        for (r, (local_midnight, offset)) in mine.iter().zip(days) {
            assert_eq!(r.offset_days, Some(offset), "{zone}");
            assert_eq!(
                r.due_at,
                utc(local_midnight),
                "{zone}: due at the start of the local day"
            );
            assert_eq!(r.occasion, format!("end:2027-03-22/offset:{offset}"));
            assert_eq!(r.recipient_user_id.map(|u| u.to_string()), Some(t.owner_id.clone()));
            assert_eq!(r.status, entity::enums::ReminderStatus::Pending);
        }
        clock.set(utc("2027-04-01T00:00:00Z"));
        assert_eq!(app.plan_reminders(&clock).await, 0, "{zone}: nothing after the end");
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
    let clock = ManualClock::new(utc("2027-01-04T16:00:00Z"));
    let stores = [app.store().await, app.store().await, app.store().await];
    let runs = stores.iter().map(|s| plan_once(s, &clock));
    let created: u64 = futures_util::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.expect("planning runs"))
        .sum();
    assert_eq!(created, 20, "one reminder per contract, whichever planner made it");
    let rows = app.reminder_rows().await;
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
    let clock = ManualClock::new(utc("2027-01-24T00:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 2);

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
    let statuses: Vec<String> = app
        .reminder_rows()
        .await
        .iter()
        .map(|r| format!("{:?}", r.status))
        .collect();
    assert_eq!(statuses, ["Cancelled", "Cancelled"]);
    assert_eq!(
        app.plan_reminders(&clock).await,
        0,
        "a terminated or renewed contract is not planned again"
    );

    // Follow-ups: announced an hour (the default lead) before they fall due.
    let due = "2027-02-01T10:00:00Z";
    let f = app.schedule_follow_up(&t.token, &c["id"], due, json!({})).await;
    clock.set(utc("2027-02-01T08:59:59Z"));
    assert_eq!(app.plan_reminders(&clock).await, 0);
    clock.set(utc("2027-02-01T09:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 1);
    let moved = app
        .ok(
            &t.token,
            RESCHEDULE_FOLLOW_UP,
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
        of_follow_up(&app.reminder_rows().await),
        [("due:2027-02-01T10:00:00Z".to_owned(), "Cancelled".to_owned())]
    );
    clock.set(utc("2027-02-03T09:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 1, "the new due time is announced");
    app.ok(
        &t.token,
        COMPLETE_FOLLOW_UP,
        json!({ "input": { "id": f["id"], "version": moved["rescheduleFollowUp"]["followUp"]["version"] } }),
    )
    .await;
    assert_eq!(
        of_follow_up(&app.reminder_rows().await),
        [
            ("due:2027-02-01T10:00:00Z".to_owned(), "Cancelled".to_owned()),
            ("due:2027-02-03T10:00:00Z".to_owned(), "Cancelled".to_owned())
        ],
        "completing it cancels its reminder"
    );
}
