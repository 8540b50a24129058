//! `/metrics` on its own listener: the names and labels a dashboard relies on, figures that
//! move with what the API did, no tenant data anywhere in it, and nothing on the API's port.

use dossier_tests::*;
use serde_json::json;
use uuid::Uuid;

/// Labels the exposition may use: none of them can carry a tenant's data.
const ALLOWED_LABELS: [&str; 8] = [
    "operation",
    "outcome",
    "code",
    "budget",
    "state",
    "status",
    "version",
    "le",
];

async fn app_with_metrics(extra: &[(&str, &str)]) -> TestApp {
    let namespace = format!("metrics-{}", Uuid::new_v4().simple());
    let mut vars = vec![("DOSSIER_METRICS_LISTEN_ADDR", "127.0.0.1:0")];
    let redis = redis_url();
    if let Some(url) = redis.as_deref() {
        vars.push(("DOSSIER_REDIS_URL", url));
        vars.push(("DOSSIER_REDIS_NAMESPACE", namespace.as_str()));
    }
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

async fn scrape(app: &TestApp) -> String {
    let base = app.metrics.as_deref().expect("the metrics listener is on");
    let response = app.client.get(format!("{base}/metrics")).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.expect("exposition text")
}

/// The value of the sample `name` whose labels include every one of `labels`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (m, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        let matches = metric == name
            && labels
                .iter()
                .all(|(k, v)| label_text.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
        matches.then(|| value.parse().expect("a number"))
    })
}

fn label_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('{'))
        .flat_map(|(_, rest)| {
            let labels = rest.rsplit_once('}').map_or("", |(labels, _)| labels);
            labels
                .split(',')
                .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn the_metrics_listener_reports_requests_errors_pool_dependencies_and_the_outbox_without_tenant_data() {
    let app = app_with_metrics(&[]).await;
    let t = app.signup(&slug("metrics")).await;
    let customer = app
        .create_customer(
            &t.token,
            "Zhang Wei Trading",
            json!({ "kind": "COMPANY", "contacts": [{ "email": "zhang.wei@example.com" }] }),
        )
        .await;
    for _ in 0..3 {
        app.ok(
            &t.token,
            "query ListCustomers { customers(first: 5) { totalCount } }",
            json!({}),
        )
        .await;
    }
    let missing = app
        .gql(
            Some(&t.token),
            "query FindCustomer($id: ID!) { customer(id: $id) { name } }",
            json!({ "id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&missing), "NOT_FOUND");
    let invalid = app
        .gql(Some(&t.token), "query Broken { customers { noSuchField } }", json!({}))
        .await;
    assert_eq!(error_code(&invalid), "VALIDATION");

    let text = scrape(&app).await;
    let ok = [("operation", "ListCustomers"), ("outcome", "OK")];
    assert!(
        sample(&text, "dossier_graphql_requests_total", &ok) >= Some(3.0),
        "{text}"
    );
    assert!(
        sample(&text, "dossier_graphql_request_duration_seconds_count", &ok) >= Some(3.0),
        "{text}"
    );
    let bucket = [("operation", "ListCustomers"), ("outcome", "OK"), ("le", "+Inf")];
    assert!(
        sample(&text, "dossier_graphql_request_duration_seconds_bucket", &bucket) >= Some(3.0),
        "{text}"
    );
    assert!(
        text.contains("# TYPE dossier_graphql_request_duration_seconds histogram"),
        "{text}"
    );
    let not_found = [("operation", "FindCustomer"), ("outcome", "NOT_FOUND")];
    assert!(
        sample(&text, "dossier_graphql_requests_total", &not_found) >= Some(1.0),
        "{text}"
    );
    let broken = [("operation", "Broken"), ("outcome", "VALIDATION")];
    assert!(
        sample(&text, "dossier_graphql_requests_total", &broken) >= Some(1.0),
        "{text}"
    );
    for code in ["NOT_FOUND", "VALIDATION"] {
        assert!(
            sample(&text, "dossier_graphql_errors_total", &[("code", code)]) >= Some(1.0),
            "{code}: {text}"
        );
    }
    // Anonymous operations (the test helpers' own) are counted without a name.
    assert!(
        sample(&text, "dossier_graphql_requests_total", &[("operation", "anonymous")]) >= Some(1.0),
        "{text}"
    );

    let max = sample(&text, "dossier_db_pool_max_connections", &[]).expect("pool size");
    assert_eq!(max, 5.0, "the harness's DOSSIER_DB_MAX_CONNECTIONS");
    let in_use = sample(&text, "dossier_db_pool_connections", &[("state", "in_use")]).expect("in use");
    let idle = sample(&text, "dossier_db_pool_connections", &[("state", "idle")]).expect("idle");
    assert!(in_use + idle <= max && idle >= 1.0, "in use {in_use}, idle {idle}");
    assert!(
        sample(&text, "dossier_db_pool_waiting", &[]).is_some_and(|w| w >= 0.0),
        "{text}"
    );
    assert_eq!(sample(&text, "dossier_database_up", &[]), Some(1.0));
    if redis_url().is_some() {
        assert_eq!(sample(&text, "dossier_redis_up", &[]), Some(1.0), "{text}");
        assert!(sample(&text, "dossier_redis_fallbacks_total", &[]).is_some(), "{text}");
    } else {
        assert_eq!(
            sample(&text, "dossier_redis_up", &[]),
            None,
            "no Redis configured: {text}"
        );
    }
    assert_eq!(sample(&text, "dossier_reminders", &[("status", "pending")]), Some(0.0));
    assert!(sample(&text, "dossier_reminders_oldest_due_age_seconds", &[]).is_some());
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(sample(&text, "dossier_build_info", &[("version", version)]), Some(1.0));

    for label in label_names(&text) {
        assert!(ALLOWED_LABELS.contains(&label.as_str()), "label {label}: {text}");
    }
    let customer_id = customer["id"].as_str().unwrap();
    for private in [
        t.id.as_str(),
        t.slug.as_str(),
        t.owner_id.as_str(),
        customer_id,
        "Zhang",
        "zhang.wei",
    ] {
        assert!(!text.contains(private), "{private} in the exposition");
    }

    // The API's own port does not serve them.
    let public = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(public.status(), 404);
    let health = app
        .client
        .get(format!("{}/health", app.metrics.as_deref().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn refusals_of_the_rate_limiter_are_counted_by_budget() {
    let app = app_with_metrics(&[
        ("DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", "1"),
        ("DOSSIER_RATE_LIMIT_ACTOR_BURST", "2"),
    ])
    .await;
    let t = app.signup(&slug("metrics-limit")).await;
    let before = sample(
        &scrape(&app).await,
        "dossier_rate_limit_refusals_total",
        &[("budget", "actor")],
    )
    .unwrap_or(0.0);
    let mut refused = 0;
    for _ in 0..6 {
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&t.token)
            .json(&json!({ "query": "query Spin { me { id } }" }))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            refused += 1;
        }
    }
    assert!(refused >= 3, "{refused} refused");
    let text = scrape(&app).await;
    let after = sample(&text, "dossier_rate_limit_refusals_total", &[("budget", "actor")]).unwrap_or(0.0);
    assert!(after - before >= f64::from(refused), "{before} → {after}: {text}");
    let limited = [("operation", "Spin"), ("outcome", "RATE_LIMITED")];
    assert!(sample(&text, "dossier_graphql_requests_total", &limited) >= Some(f64::from(refused)));
}

/// (How many distinct names are kept is bounded too; `monitoring`'s unit test shows it, since
/// the names are counted per process and this suite's tests share one.)
#[tokio::test]
async fn an_operation_name_that_is_not_a_plain_identifier_never_becomes_a_label() {
    let app = app_with_metrics(&[]).await;
    let t = app.signup(&slug("metrics-names")).await;
    let odd = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&t.token)
        .json(&json!({ "query": "query { me { id } }", "operationName": "name with spaces\"}" }))
        .send()
        .await
        .unwrap();
    assert_eq!(odd.status(), 200);
    let text = scrape(&app).await;
    assert!(!text.contains("with spaces"), "{text}");
    for label in label_names(&text) {
        assert!(ALLOWED_LABELS.contains(&label.as_str()), "label {label}: {text}");
    }
}

#[tokio::test]
async fn re_encryption_reports_the_rows_it_moved_and_what_is_left() {
    let app = app_with_metrics(&[("DOSSIER_REENCRYPT_INTERVAL_SECONDS", "0")]).await;
    let t = app.signup(&slug("metrics-keys")).await;
    for i in 0..3 {
        let contact = json!({ "email": format!("k{i}@example.com") });
        app.create_customer(
            &t.token,
            &format!("Key {i}"),
            json!({ "kind": "COMPANY", "contacts": [contact] }),
        )
        .await;
    }
    let before = sample(&scrape(&app).await, "dossier_reencrypted_rows_total", &[]).unwrap_or(0.0);
    assert_eq!(app.rotate_tenant_key(&t.token).await, 2);
    let moved = dossier::jobs::reencrypt::run_once(&app.store().await)
        .await
        .expect("a re-encryption round");
    assert!(moved >= 3, "{moved}");
    let text = scrape(&app).await;
    let after = sample(&text, "dossier_reencrypted_rows_total", &[]).expect("moved rows counted");
    assert!(after - before >= 3.0, "{before} → {after}");
    assert!(
        sample(&text, "dossier_reencryption_backlog_rows", &[]).is_some(),
        "{text}"
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM contacts WHERE key_version <> 2")
            .await,
        0
    );
}

#[tokio::test]
async fn a_metrics_address_already_taken_stops_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let data_dir = std::env::temp_dir().join(format!("dossier-test-{}", Uuid::new_v4().simple()));
    let vars = [
        ("DOSSIER_DATA_DIR", data_dir.display().to_string()),
        ("DOSSIER_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("DOSSIER_METRICS_LISTEN_ADDR", address.clone()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = dossier::Config::from_vars(&vars).expect("config");
    let error = match dossier::Application::build(config).await {
        Ok(_) => panic!("started beside a taken metrics port"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        error.contains("Failed to listen for metrics on") && error.contains(&address),
        "{error}"
    );
    let _ = std::fs::remove_dir_all(data_dir);

    let bad = [("DOSSIER_METRICS_LISTEN_ADDR".to_owned(), "not-an-address".to_owned())]
        .into_iter()
        .collect();
    let refused = match dossier::Config::from_vars(&bad) {
        Ok(_) => panic!("a bad metrics address was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(refused.contains("DOSSIER_METRICS_LISTEN_ADDR"), "{refused}");
}
