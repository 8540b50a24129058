//! Reminder delivery to a real SMTP server on 127.0.0.1: sent once with a fixed Message-ID,
//! retried on 4xx and connection trouble, failed at once on 5xx, taken over after a crash.

use std::time::Duration;

use chrono::{DateTime, Utc};
use dossier::jobs::clock::{Clock, ManualClock};
use dossier::jobs::mailer::Mailer;
use dossier::jobs::planner::plan_once;
use dossier::jobs::reminder_delivery::{Delivery, Round};
use dossier_tests::smtp::SmtpSink;
use dossier_tests::{Tenant, TestApp, slug, spawn_app_with, utc, wait_until};
use entity::enums::ReminderStatus;
use serde_json::json;

const FRONTEND: &str = "https://app.dossier.test";

async fn app() -> TestApp {
    spawn_app_with(&[
        ("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", "0"),
        ("DOSSIER_FRONTEND_URL", FRONTEND),
        ("DOSSIER_REMINDER_LEASE_SECONDS", "60"),
    ])
    .await
}

async fn delivery(app: &TestApp, port: u16) -> Delivery {
    let mailer = Mailer::plain("127.0.0.1", port, Duration::from_secs(5));
    Delivery::with_mailer(app.store().await, mailer, &app.config()).expect("delivery builds")
}

/// A tenant in `locale` with one customer and a contract ending 2027-01-31, whose 7-day
/// reminder is planned and due at `2027-01-24` (UTC).
async fn one_due_reminder(app: &TestApp, locale: &str) -> (Tenant, serde_json::Value, ManualClock) {
    let t = app.signup(&slug("deliver")).await;
    app.update_tenant_settings(&t, json!({ "timezone": "UTC", "locale": locale }))
        .await;
    let customer = app.create_customer(&t.token, "Cloud Atlas Ltd", json!({})).await;
    app.create_contract(&t.token, &customer["id"], json!({ "endDate": "2027-01-31" }))
        .await;
    let clock = ManualClock::new(utc("2027-01-24T00:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 1);
    (t, customer, clock)
}

#[tokio::test]
async fn a_due_reminder_is_sent_once_to_the_owner_with_its_own_message_id_in_either_language() {
    let app = app().await;
    let sink = SmtpSink::start();
    let worker = delivery(&app, sink.port).await;
    for (locale, subject) in [
        ("EN", "Contract CT-000001 with Cloud Atlas Ltd ends in 7 days"),
        ("ZH_CN", "合同将于 7 天后到期：CT-000001 · Cloud Atlas Ltd"),
    ] {
        let (t, customer, clock) = one_due_reminder(&app, locale).await;
        let round = worker.deliver_once(&clock).await.unwrap();
        assert_eq!((round.claimed, round.sent), (1, 1), "{locale}");
        assert_eq!(
            worker.deliver_once(&clock).await.unwrap(),
            Round::default(),
            "sent once"
        );

        let mail = sink.received().last().cloned().unwrap();
        let row = app
            .reminder_rows()
            .await
            .into_iter()
            .find(|r| r.tenant_id.to_string() == t.id)
            .unwrap();
        assert_eq!(row.status, ReminderStatus::Sent);
        assert_eq!(row.attempts, 1);
        assert_eq!(mail.message_id(), format!("<reminder-{}@dossier.localhost>", row.id));
        assert_eq!(row.message_id.as_deref(), Some(mail.message_id().as_str()));
        assert_eq!(mail.header("Subject").unwrap(), subject);
        assert_eq!(mail.to.len(), 1, "the owner only, never the customer");
        assert!(mail.to[0].starts_with("owner@"), "{:?}", mail.to);
        let bodies = mail.bodies();
        assert!(
            bodies.contains("2027-01-31") && bodies.contains("CT-000001"),
            "{bodies}"
        );
        assert!(bodies.contains(&format!("{FRONTEND}/customers/{}", customer["id"].as_str().unwrap())));
        assert!(bodies.contains("<html>"), "an HTML part beside the text");
    }
    assert_eq!(sink.received().len(), 2);
}

#[tokio::test]
async fn a_server_answering_421_twice_then_250_gets_the_reminder_on_the_third_attempt() {
    let app = app().await;
    let sink = SmtpSink::start();
    sink.answer_next(&[421, 421]);
    let worker = delivery(&app, sink.port).await;
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    for expected in [(1, 0, 1), (1, 0, 1), (1, 1, 0)] {
        let round = worker.deliver_once(&clock).await.unwrap();
        assert_eq!((round.claimed, round.sent, round.retried), expected);
        let row = app.reminder_rows().await.pop().unwrap();
        if row.status == ReminderStatus::Pending {
            assert!(row.last_error.as_deref().unwrap_or_default().contains("421"), "{row:?}");
            assert!(row.next_attempt_at > clock.now(), "retried later, not at once");
            clock.set(row.next_attempt_at);
        }
    }
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!((row.status, row.attempts), (ReminderStatus::Sent, 3));
    assert_eq!(sink.received().len(), 1, "delivered once");
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_reminder_at_once_with_the_servers_words() {
    let app = app().await;
    let sink = SmtpSink::start();
    sink.answer_next(&[550]);
    let worker = delivery(&app, sink.port).await;
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    let round = worker.deliver_once(&clock).await.unwrap();
    assert_eq!((round.failed, round.retried), (1, 0));
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!((row.status, row.attempts), (ReminderStatus::Failed, 1));
    assert!(row.last_error.unwrap().contains("550"));
    clock.advance(chrono::Duration::days(1));
    assert_eq!(
        worker.deliver_once(&clock).await.unwrap().claimed,
        0,
        "a failed reminder stays failed"
    );
}

#[tokio::test]
async fn a_refused_reminder_keeps_the_reply_code_and_its_meaning_not_the_servers_text() {
    let app = app().await;
    let sink = SmtpSink::start();
    sink.answer_next(&[550, 421]);
    let worker = delivery(&app, sink.port).await;
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    worker.deliver_once(&clock).await.unwrap();
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!(row.status, ReminderStatus::Failed);
    assert_eq!(row.last_error.as_deref(), Some("smtp: 550 mailbox unavailable"));

    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    worker.deliver_once(&clock).await.unwrap();
    let pending = app
        .reminder_rows()
        .await
        .into_iter()
        .find(|r| r.status == ReminderStatus::Pending)
        .unwrap();
    assert_eq!(pending.last_error.as_deref(), Some("smtp: 421 service not available"));
}

#[tokio::test]
async fn a_reminder_whose_subject_cannot_be_read_keeps_a_short_reason_and_no_database_text() {
    let app = app().await;
    let sink = SmtpSink::start();
    let worker = delivery(&app, sink.port).await;
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    // Its letter reads the contract; the claim and the record of the outcome do not.
    app.raw_execute("ALTER TABLE contracts RENAME TO contracts_away").await;
    let round = worker.deliver_once(&clock).await.unwrap();
    assert_eq!((round.claimed, round.retried), (1, 1));
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!(row.status, ReminderStatus::Pending);
    assert_eq!(
        row.last_error.as_deref(),
        Some("cannot read the reminder's subject: database error")
    );

    app.raw_execute("ALTER TABLE contracts_away RENAME TO contracts").await;
    clock.set(row.next_attempt_at);
    assert_eq!(worker.deliver_once(&clock).await.unwrap().sent, 1);
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_reminder_of_a_tenant_whose_time_zone_no_longer_parses_is_not_sent_in_utc() {
    let app = app().await;
    let sink = SmtpSink::start();
    let worker = delivery(&app, sink.port).await;
    let (t, _, clock) = one_due_reminder(&app, "EN").await;
    app.raw_execute(&format!(
        "UPDATE tenants SET timezone = 'Mars/Olympus_Mons' WHERE slug = '{}'",
        t.slug
    ))
    .await;
    let round = worker.deliver_once(&clock).await.unwrap();
    assert_eq!((round.claimed, round.sent, round.retried), (1, 0, 1));
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!(row.status, ReminderStatus::Pending);
    assert_eq!(
        row.last_error.as_deref(),
        Some("cannot read the reminder's subject: internal error")
    );
    assert!(sink.received().is_empty(), "no e-mail with dates in the wrong zone");
}

#[tokio::test]
async fn reminders_wait_while_the_server_is_down_and_all_go_out_when_it_is_back() {
    let app = app().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener); // nothing listens there for now
    let worker = delivery(&app, port).await;
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    for _ in 0..3 {
        let round = worker.deliver_once(&clock).await.unwrap();
        assert_eq!(round.retried, 1, "connection refused is worth retrying");
        clock.set(app.reminder_rows().await.pop().unwrap().next_attempt_at);
    }
    let sink = SmtpSink::start_on(std::net::TcpListener::bind(("127.0.0.1", port)).unwrap());
    assert_eq!(worker.deliver_once(&clock).await.unwrap().sent, 1);
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!((row.status, row.attempts), (ReminderStatus::Sent, 4));
    assert_eq!(sink.received().len(), 1);
}

#[tokio::test]
async fn a_reminder_whose_worker_died_mid_send_is_taken_over_after_its_lease_and_keeps_its_message_id() {
    let app = app().await;
    let sink = SmtpSink::start();
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    // Worker A claims the reminder, sends it, and dies before recording it.
    let store = app.store().await;
    let claimed = dossier::domain::reminders::claim(&store, clock.now(), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let b = delivery(&app, sink.port).await;
    let first_id = b.message_id(claimed[0].id);
    assert_eq!(b.deliver_once(&clock).await.unwrap().claimed, 0, "leased to A");

    clock.advance(chrono::Duration::seconds(61));
    assert_eq!(
        b.deliver_once(&clock).await.unwrap().sent,
        1,
        "B takes over after the lease"
    );
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!((row.status, row.attempts), (ReminderStatus::Sent, 2));
    assert_eq!(
        sink.received()[0].message_id(),
        first_id,
        "a resend carries the same Message-ID"
    );
}

#[tokio::test]
async fn a_server_that_stops_answering_mid_message_is_given_up_on_in_time_and_tried_again() {
    let app = app().await;
    let sink = SmtpSink::start();
    sink.stall_next(Duration::from_secs(5), 1);
    let mailer = Mailer::plain("127.0.0.1", sink.port, Duration::from_millis(500));
    let worker = Delivery::with_mailer(app.store().await, mailer, &app.config()).unwrap();
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    let started = std::time::Instant::now();
    assert_eq!(worker.deliver_once(&clock).await.unwrap().retried, 1);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not held by the stalled server"
    );
    let row = app.reminder_rows().await.pop().unwrap();
    assert!(
        row.last_error.as_deref().unwrap_or_default().contains("did not finish"),
        "{row:?}"
    );
    clock.set(row.next_attempt_at);
    assert_eq!(worker.deliver_once(&clock).await.unwrap().sent, 1);
    assert_eq!(sink.received().len(), 1);
}

/// 250 contracts ending on 2027-01-31 and 250 follow-ups due on 2027-01-24 12:00 (UTC), over
/// two tenants: 500 reminders due at 2027-01-24 12:00.
async fn five_hundred_due(app: &TestApp) {
    use futures_util::StreamExt;
    for name in ["fleet-a", "fleet-b"] {
        let t = app.signup(&slug(name)).await;
        app.update_tenant_settings(&t, json!({ "timezone": "UTC" })).await;
        let customer = app.create_customer(&t.token, "Fleet Customer", json!({})).await;
        futures_util::stream::iter(0..250)
            .for_each_concurrent(8, |i| {
                let (token, customer) = (t.token.clone(), customer.clone());
                async move {
                    if i % 2 == 0 {
                        let contract =
                            json!({ "title": format!("Contract {i}"), "value": "10.00", "endDate": "2027-01-31" });
                        app.create_contract(&token, &customer["id"], contract).await;
                    } else {
                        let note = json!({ "note": format!("Call {i}") });
                        app.schedule_follow_up(&token, &customer["id"], "2027-01-24T12:00:00Z", note)
                            .await;
                    }
                }
            })
            .await;
    }
}

#[tokio::test]
async fn three_planners_and_three_workers_at_once_deliver_each_of_500_reminders_exactly_once() {
    let app = app().await;
    if !app.is_postgres() {
        // SQLite has one writer at a time: one claimer by design (see DESIGN.md §6).
        return;
    }
    let sink = SmtpSink::start();
    five_hundred_due(&app).await;
    let clock = std::sync::Arc::new(ManualClock::new(utc("2027-01-24T12:00:00Z")));
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let planning_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (mut planners, mut workers) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let (store, planner_clock) = (app.store().await, clock.clone());
        planners.push(tokio::spawn(async move {
            let mut planned = 0;
            for _ in 0..5 {
                planned += plan_once(&store, planner_clock.as_ref()).await.expect("planning works");
            }
            planned
        }));
        let (worker, worker_clock) = (delivery(&app, sink.port).await, clock.clone());
        let done = planning_done.clone();
        workers.push(tokio::spawn(async move {
            let mut sent = 0;
            // Until a round finds nothing after the planners are done.
            while std::time::Instant::now() < deadline {
                let planners_done = done.load(std::sync::atomic::Ordering::SeqCst);
                let round = worker
                    .deliver_once(worker_clock.as_ref())
                    .await
                    .expect("delivery works");
                assert_eq!(round.failed + round.retried, 0, "{round:?}");
                sent += round.sent;
                if round.claimed == 0 {
                    if planners_done {
                        break;
                    }
                    // A worker's pause between rounds that found nothing, as in the app: the
                    // loop is the worker, not a wait of the test's.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            sent
        }));
    }
    let mut planned = 0;
    for task in planners {
        planned += task.await.unwrap();
    }
    planning_done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut sent = 0;
    for task in workers {
        sent += task.await.unwrap();
    }
    assert_eq!(planned, 500, "each reminder planned once over all planners");
    assert_eq!(sent, 500, "each sent once over all workers");
    let received = sink.received();
    let mut ids: Vec<String> = received.iter().map(|m| m.message_id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((received.len(), ids.len()), (500, 500), "500 messages, no duplicate");
    let rows = app.reminder_rows().await;
    assert_eq!(rows.len(), 500);
    assert!(rows.iter().all(|r| r.status == ReminderStatus::Sent && r.attempts == 1));
}

#[tokio::test]
async fn a_stopping_worker_finishes_the_email_in_hand_and_hands_back_the_rest_untried() {
    let app = app().await;
    let sink = SmtpSink::start();
    let mut clock = None;
    for _ in 0..6 {
        clock = Some(one_due_reminder(&app, "EN").await.2);
    }
    let clock = clock.unwrap();
    // A worker has 4 e-mails in flight at once: these 4 are in hand when the stop comes.
    sink.stall_next(Duration::from_millis(800), 4);
    let worker = delivery(&app, sink.port).await;
    let stop = worker.stop_flag();
    let round = tokio::spawn(async move { worker.deliver_once(&clock).await.unwrap() });
    wait_until(Duration::from_secs(10), "4 e-mails in hand", async || {
        sink.data_started() >= 4
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst); // what SIGTERM does
    let round = round.await.unwrap();
    assert_eq!((round.claimed, round.sent, round.released), (6, 4, 2), "{round:?}");
    let rows = app.reminder_rows().await;
    let waiting: Vec<_> = rows.iter().filter(|r| r.status == ReminderStatus::Pending).collect();
    assert_eq!(waiting.len(), 2);
    assert!(
        waiting.iter().all(|r| r.attempts == 0 && r.lease_until.is_none()),
        "handed back as if never claimed: {waiting:?}"
    );
    assert_eq!(sink.received().len(), 4);
}

#[tokio::test]
async fn with_a_daily_digest_a_users_contract_reminders_of_the_day_go_out_together_at_the_digest_hour() {
    let app = app().await;
    let sink = SmtpSink::start();
    let t = app.signup(&slug("digest")).await;
    let settings = json!({ "timezone": "Asia/Shanghai", "locale": "ZH_CN", "dailyDigestHour": 9 });
    app.update_tenant_settings(&t, settings).await;
    let (_, sam) = app.add_user(&t, "SALES", "sam").await;
    let mut numbers = Vec::new();
    for (token, name) in [
        (&t.token, "云图"),
        (&t.token, "星河"),
        (&t.token, "山海"),
        (&sam, "Sam's"),
    ] {
        let customer = app.create_customer(token, name, json!({})).await;
        let contract = json!({ "title": "年度服务", "endDate": "2027-01-31" });
        let made = app.create_contract(token, &customer["id"], contract).await;
        numbers.push(made["number"].as_str().expect("a contract number").to_owned());
    }
    // Shanghai's 2027-01-24 begins at 16:00 UTC the day before; 09:00 there is 01:00 UTC.
    let clock = ManualClock::new(utc("2027-01-23T16:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 4);
    let rows = app.reminder_rows().await;
    assert!(rows.iter().all(|r| r.due_at == utc("2027-01-24T01:00:00Z")), "{rows:?}");
    let worker = delivery(&app, sink.port).await;
    assert_eq!(
        worker.deliver_once(&clock).await.unwrap().claimed,
        0,
        "not before the digest hour"
    );

    clock.set(utc("2027-01-24T01:00:00Z"));
    let round = worker.deliver_once(&clock).await.unwrap();
    assert_eq!((round.claimed, round.sent), (4, 4));
    let mut mails = sink.received();
    assert_eq!(mails.len(), 2, "one digest for the owner, one e-mail for sam");
    mails.sort_by_key(|m| m.to.clone());
    let (owner_mail, sam_mail) = (&mails[0], &mails[1]);
    assert!(owner_mail.to[0].starts_with("owner@") && sam_mail.to[0].starts_with("sam@"));
    assert_eq!(owner_mail.header("Subject").unwrap(), "3 份合同即将到期");
    let bodies = owner_mail.bodies();
    for (number, name) in numbers.iter().zip(["云图", "星河", "山海"]) {
        assert!(
            bodies.contains(number.as_str()) && bodies.contains(name),
            "{number} {name}: {bodies}"
        );
    }
    assert!(
        bodies.contains("2027-01-31") && bodies.contains("还有 7 天"),
        "{bodies}"
    );
    assert_eq!(
        sam_mail.header("Subject").unwrap(),
        format!("合同将于 7 天后到期：{} · Sam's", numbers[3])
    );
    let rows = app.reminder_rows().await;
    assert!(rows.iter().all(|r| r.status == ReminderStatus::Sent));
    let digest_ids: Vec<_> = rows
        .iter()
        .filter_map(|r| r.message_id.clone())
        .filter(|m| m.starts_with("<digest-"))
        .collect();
    assert_eq!(digest_ids.len(), 3, "the three share the digest's Message-ID");
    assert!(digest_ids.iter().all(|m| *m == owner_mail.message_id()));
}

#[tokio::test]
async fn when_the_responsible_user_is_gone_the_admins_get_the_reminder_and_the_extra_address_too() {
    let app = app().await;
    let sink = SmtpSink::start();
    let t = app.signup(&slug("gone")).await;
    let extra = format!("desk@{}.example.com", t.slug);
    app.update_tenant_settings(&t, json!({ "timezone": "UTC", "extraRecipient": extra }))
        .await;
    let (_, sam) = app.add_user(&t, "SALES", "sam").await;
    app.add_user(&t, "ADMIN", "ada").await;
    app.add_user(&t, "MANAGER", "max").await;
    let customer = app.create_customer(&sam, "Left Behind Ltd", json!({})).await;
    app.create_contract(&sam, &customer["id"], json!({ "endDate": "2027-01-31" }))
        .await;
    let clock = ManualClock::new(utc("2027-01-24T00:00:00Z"));
    assert_eq!(app.plan_reminders(&clock).await, 1);
    let sams_email = format!("sam@{}.example.com", t.slug);
    app.raw_execute(&format!("UPDATE users SET active = false WHERE email = '{sams_email}'"))
        .await;

    let worker = delivery(&app, sink.port).await;
    assert_eq!(worker.deliver_once(&clock).await.unwrap().sent, 1);
    let mut to = sink.received().pop().unwrap().to;
    to.sort();
    let domain = format!("{}.example.com", t.slug);
    assert_eq!(
        to,
        vec![format!("ada@{domain}"), extra.clone(), format!("owner@{domain}")],
        "admins and owner, the extra address; not the manager, not the gone user, never the customer"
    );
}

/// Time from `start` on at the wall clock's pace, so that leases run out while a slow server
/// takes its time.
struct RunningClock {
    start: DateTime<Utc>,
    since: std::time::Instant,
}

impl Clock for RunningClock {
    fn now(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::from_std(self.since.elapsed()).unwrap_or_default()
    }
}

#[tokio::test]
async fn three_workers_and_a_slow_server_deliver_each_reminder_once_though_a_batch_outlives_its_lease() {
    let app = spawn_app_with(&[
        ("DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", "0"),
        ("DOSSIER_REMINDER_LEASE_SECONDS", "4"),
        ("DOSSIER_SMTP_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let sink = SmtpSink::start();
    sink.slow_down(Duration::from_millis(500));
    let t = app.signup(&slug("slow")).await;
    app.update_tenant_settings(&t, json!({ "timezone": "UTC" })).await;
    let customer = app.create_customer(&t.token, "Slow Mail Ltd", json!({})).await;
    use futures_util::StreamExt;
    futures_util::stream::iter(0..60)
        .for_each_concurrent(8, |i| {
            let (token, customer) = (t.token.clone(), customer.clone());
            let app = &app;
            async move {
                let note = json!({ "note": format!("Call {i}") });
                app.schedule_follow_up(&token, &customer["id"], "2027-01-24T12:00:00Z", note)
                    .await;
            }
        })
        .await;
    let start = utc("2027-01-24T12:00:00Z");
    assert_eq!(app.plan_reminders(&ManualClock::new(start)).await, 60);

    // A whole exchange may take 3 s, the lease is 4 s, and the server takes 0.5 s a message:
    // a worker holding 50 of them (4 at a time) would still be sending after its lease.
    let clock = RunningClock {
        start,
        since: std::time::Instant::now(),
    };
    let mut workers = Vec::new();
    for _ in 0..3 {
        let mailer = Mailer::plain("127.0.0.1", sink.port, Duration::from_secs(1));
        workers.push(Delivery::with_mailer(app.store().await, mailer, &app.config()).expect("delivery builds"));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let unsettled = "SELECT COUNT(*) FROM reminders WHERE status IN ('pending', 'sending')";
    let sent: Vec<u64> = futures_util::future::join_all(workers.iter().map(|worker| {
        let (app, clock) = (&app, &clock);
        async move {
            let mut sent = 0;
            // Until nothing is left to send or to take over.
            while std::time::Instant::now() < deadline {
                let round = worker.deliver_once(clock).await.expect("delivery works");
                assert_eq!(round.failed, 0, "{round:?}");
                sent += round.sent;
                if round.claimed == 0 {
                    if app.raw_count(unsettled).await == 0 {
                        break;
                    }
                    // A worker's pause between rounds that found nothing, as in the app: what
                    // is left falls to it only once another worker's lease has run out.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
            sent
        }
    }))
    .await;

    let received = sink.received();
    let mut per_message_id: std::collections::BTreeMap<String, usize> = Default::default();
    for mail in &received {
        *per_message_id.entry(mail.message_id()).or_default() += 1;
    }
    let twice = per_message_id.values().filter(|n| **n > 1).count();
    assert!(
        twice == 0 && received.len() == 60,
        "{} e-mails for 60 reminders (workers counted {sent:?}); {twice} reminders sent more than once",
        received.len()
    );
    let rows = app.reminder_rows().await;
    assert_eq!(rows.len(), 60);
    for row in &rows {
        assert_eq!(row.status, ReminderStatus::Sent, "{row:?}");
        let id = row.message_id.clone().unwrap_or_default();
        assert_eq!(per_message_id.get(&id), Some(&1), "{row:?}");
    }
    assert_eq!(sent.iter().sum::<u64>(), 60, "each counted as sent once: {sent:?}");
}

#[tokio::test]
async fn a_lease_that_a_whole_smtp_exchange_could_outlast_is_refused_at_start() {
    let settings = |lease: &str, smtp_timeout: &str| {
        let vars = [
            ("DOSSIER_REMINDER_LEASE_SECONDS", lease),
            ("DOSSIER_SMTP_TIMEOUT_SECONDS", smtp_timeout),
        ];
        dossier::Config::from_vars(&vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    };
    // A message may take 3 × 10 s: a 30 s lease could run out while it is being sent.
    let refused = settings("30", "10").expect_err("a lease no longer than an exchange is refused");
    let words = format!("{refused:#}");
    assert!(
        words.contains("DOSSIER_REMINDER_LEASE_SECONDS") && words.contains("DOSSIER_SMTP_TIMEOUT_SECONDS"),
        "{words}"
    );
    assert!(words.contains("30 s"), "says how long an exchange may take: {words}");
    assert!(settings("31", "10").is_ok());
    assert!(settings("", "").is_ok(), "the defaults fit");

    // A worker given a slower mailer than its settings refuses too.
    let app = app().await;
    let config = app.config();
    let mailer = Mailer::plain("127.0.0.1", 25, config.reminder_lease);
    let refused = Delivery::with_mailer(app.store().await, mailer, &config)
        .err()
        .expect("a worker whose lease an exchange could outlast is refused");
    assert!(format!("{refused:#}").contains("lease"), "{refused:#}");
}

#[tokio::test]
async fn a_worker_whose_reminder_was_taken_over_after_its_lease_may_not_send_record_or_hand_it_back() {
    use dossier::domain::reminders::{Outcome, claim, release, renew, settle};
    let app = app().await;
    let sink = SmtpSink::start();
    let (_, _, clock) = one_due_reminder(&app, "EN").await;
    let store = app.store().await;
    let lease = Duration::from_secs(60);
    let claimed = claim(&store, clock.now(), lease, 10).await.unwrap();
    // While its lease holds, worker A may extend it, each time under the lease it last set.
    let renewed = renew(&store, &claimed, clock.now(), lease).await.unwrap();
    assert_eq!(renewed.len(), 1);
    clock.advance(chrono::Duration::seconds(30));
    let renewed = renew(&store, &renewed, clock.now(), lease).await.unwrap();
    assert_eq!(renewed.len(), 1, "extended again");
    assert!(renewed[0].lease_until > claimed[0].lease_until);
    assert!(
        renew(&store, &claimed, clock.now(), lease).await.unwrap().is_empty(),
        "the claim's first lease is no longer the one held"
    );

    // A stalls past its lease; worker B takes the reminder over and sends it.
    clock.advance(chrono::Duration::seconds(61));
    let b = delivery(&app, sink.port).await;
    let round = b.deliver_once(&clock).await.unwrap();
    assert_eq!((round.claimed, round.sent), (1, 1));

    assert!(
        renew(&store, &renewed, clock.now(), lease).await.unwrap().is_empty(),
        "A no longer holds it, so it must not send it"
    );
    let late = Outcome::Failed { error: "late".into() };
    assert!(
        !settle(&store, &renewed[0], late, clock.now()).await.unwrap(),
        "nor record an outcome"
    );
    assert_eq!(release(&store, &renewed).await.unwrap(), 0, "nor hand it back");
    let row = app.reminder_rows().await.pop().unwrap();
    assert_eq!((row.status, row.attempts), (ReminderStatus::Sent, 2));
    assert_eq!(sink.received().len(), 1);
}
