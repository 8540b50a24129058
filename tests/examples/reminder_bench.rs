//! Reminder throughput and planner cost, against the real server's code paths.
//!
//! `cargo run --release -p dossier-tests --example reminder_bench -- delivery [count]`
//!   sends `count` (default 2000) due reminders to an SMTP server on 127.0.0.1, first with one
//!   worker, then with three, and prints reminders per second.
//! `cargo run --release -p dossier-tests --example reminder_bench -- planner [contracts] [due]`
//!   (PostgreSQL only) plants `contracts` (default 1 000 000) contracts of which `due` (default
//!   1000) have a reminder due, then times a planner pass and an idle pass and prints the plan.
//!
//! The database is SQLite in a temporary directory, or a fresh PostgreSQL database when
//! `DOSSIER_TEST_DATABASE_URL` is set (as for the tests). Everything stops by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use dossier::jobs::clock::ManualClock;
use dossier::jobs::mailer::Mailer;
use dossier::jobs::planner::plan_once;
use dossier::jobs::reminder_delivery::Delivery;
use dossier_tests::smtp::SmtpSink;
use dossier_tests::{TestApp, slug, spawn_app_with};
use entity::enums::{ReminderKind, ReminderStatus};
use entity::reminder;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde_json::json;
use uuid::Uuid;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn quiet_app() -> TestApp {
    spawn_app_with(&[
        ("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "0"),
        ("DOSSIER_LOG", "warn"),
    ])
    .await
}

/// A tenant with one customer and one contract; returns (tenant id, customer id, contract id).
async fn one_contract(app: &TestApp, end: &str) -> (Uuid, Uuid, Uuid) {
    let t = app.signup(&slug("bench")).await;
    app.update_tenant_settings(&t, json!({ "timezone": "UTC" })).await;
    let customer = app.create_customer(&t.token, "Bench Customer", json!({})).await;
    let data = app
        .ok(
            &t.token,
            "mutation($input: CreateContractInput!) { createContract(input: $input) { contract { id } } }",
            json!({ "input": { "customerId": customer["id"], "title": "Bench", "value": "10.00", "currency": "CNY",
                "startDate": "2026-01-01", "endDate": end } }),
        )
        .await;
    let id = |v: &serde_json::Value| Uuid::parse_str(v.as_str().unwrap()).unwrap();
    (
        Uuid::parse_str(&t.id).unwrap(),
        id(&customer["id"]),
        id(&data["createContract"]["contract"]["id"]),
    )
}

async fn delivery_run(app: &TestApp, sink: &SmtpSink, count: usize, workers: usize) {
    let (tenant, customer, contract) = one_contract(app, "2027-01-31").await;
    let due = at("2027-01-24T00:00:00Z");
    let db = app.raw_db().await;
    let rows: Vec<reminder::ActiveModel> = (0..count)
        .map(|i| reminder::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant),
            kind: Set(ReminderKind::ContractExpiry),
            subject_id: Set(contract),
            customer_id: Set(customer),
            occasion: Set(format!("bench:{i}")),
            offset_days: Set(Some(7)),
            recipient_user_id: Set(None),
            due_at: Set(due),
            status: Set(ReminderStatus::Pending),
            attempts: Set(0),
            next_attempt_at: Set(due),
            lease_until: Set(None),
            last_error: Set(None),
            sent_at: Set(None),
            message_id: Set(None),
            created_at: Set(due),
            updated_at: Set(due),
        })
        .collect();
    for chunk in rows.chunks(500) {
        reminder::Entity::insert_many(chunk.to_vec()).exec(&db).await.unwrap();
    }
    let before = sink.received().len();
    let clock = Arc::new(ManualClock::new(due));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let worker = Delivery::with_mailer(
            app.store().await,
            Mailer::plain("127.0.0.1", sink.port, Duration::from_secs(10)),
            &app.config(),
        )
        .unwrap();
        let clock = clock.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let round = worker.deliver_once(clock.as_ref()).await.unwrap();
                sent += round.sent;
                if round.claimed == 0 {
                    return sent;
                }
            }
        }));
    }
    let mut sent = 0;
    for task in tasks {
        sent += task.await.unwrap();
    }
    let elapsed = started.elapsed();
    assert_eq!(sent as usize, count);
    assert_eq!(sink.received().len() - before, count);
    println!(
        "{workers} worker(s): {count} reminders in {:.2} s = {:.0} per second",
        elapsed.as_secs_f64(),
        count as f64 / elapsed.as_secs_f64()
    );
}

async fn planner_run(app: &TestApp, contracts: u64, due: u64) {
    assert!(
        app.is_postgres(),
        "the planner benchmark needs DOSSIER_TEST_DATABASE_URL"
    );
    let (tenant, _, template) = one_contract(app, "2027-01-31").await;
    let db = app.raw_db().await;
    let started = Instant::now();
    db.execute_unprepared(&format!(
        "INSERT INTO contracts (id, tenant_id, customer_id, number, title, value_minor, currency, start_date, end_date,
             auto_renew, renewal_state, expiring_from, version, created_by, created_at, updated_at, next_reminder_on)
         SELECT gen_random_uuid(), tenant_id, customer_id, 'BENCH-' || g, title, value_minor, currency, start_date,
             CASE WHEN g <= {due} THEN DATE '2027-01-31' ELSE DATE '2028-06-30' END,
             auto_renew, renewal_state, expiring_from, 1, created_by, created_at, updated_at,
             CASE WHEN g <= {due} THEN DATE '2027-01-24' ELSE DATE '2028-03-31' END
         FROM contracts, generate_series(1, {contracts}) g WHERE id = '{template}';
         UPDATE contracts SET next_reminder_on = DATE '2099-01-01' WHERE id = '{template}';
         ANALYZE contracts;"
    ))
    .await
    .unwrap();
    println!(
        "planted {contracts} contracts ({due} due) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let plan = app
        .raw_texts(&format!(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT * FROM contracts
             WHERE tenant_id = '{tenant}' AND next_reminder_on <= DATE '2027-01-24' LIMIT 1000"
        ))
        .await;
    println!("the planner's contract query:\n{}", plan.join("\n"));
    let store = app.store().await;
    let clock = ManualClock::new(at("2027-01-24T06:00:00Z"));
    for pass in ["with due contracts", "idle (nothing due)"] {
        let started = Instant::now();
        let planned = plan_once(&store, &clock).await.unwrap();
        println!(
            "planner pass {pass}: {planned} reminders planned in {:.1} ms",
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: u64| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let app = quiet_app().await;
    match args.first().map(String::as_str) {
        Some("delivery") => {
            let count = number(1, 2000) as usize;
            let sink = SmtpSink::start();
            for workers in [1, 3] {
                delivery_run(&app, &sink, count, workers).await;
            }
        }
        Some("planner") => planner_run(&app, number(1, 1_000_000), number(2, 1000)).await,
        _ => eprintln!("usage: reminder_bench delivery [count] | planner [contracts] [due]"),
    }
}
