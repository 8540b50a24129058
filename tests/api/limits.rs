//! Rate limits (per tenant, per caller, on sign-in) and, with Redis, limits and cache
//! invalidations shared by replicas, surviving a Redis outage.

use std::time::Duration;

use dossier_tests::{RedisRelay, TestApp, error_code, redis_url, slug, spawn_another, spawn_app_with};
use serde_json::{Value, json};

const ME: &str = "{ me { role } }";

/// Sends `ME` and returns the HTTP status, the `retry-after` and `ratelimit-remaining` headers and the body.
async fn me(app: &TestApp, token: &str) -> (u16, Option<String>, Option<String>, Value) {
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    let header = |name: &str| resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (status, retry, remaining) = (
        resp.status().as_u16(),
        header("retry-after"),
        header("ratelimit-remaining"),
    );
    (status, retry, remaining, resp.json().await.unwrap())
}

fn unique_namespace() -> String {
    format!("dossier-test-{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_tenant_over_its_limit_gets_rate_limited_with_the_wait_and_passes_after_it() {
    // One request per two seconds on average, three at once: slow enough that the test's own
    // pace never refills the budget.
    let app = spawn_app_with(&[
        ("DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", "0.5"),
        ("DOSSIER_RATE_LIMIT_TENANT_BURST", "3"),
    ])
    .await;
    let busy = app.signup(&slug("busy")).await;
    let calm = app.signup(&slug("calm")).await;
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let (status, _, left, _) = me(&app, &busy.token).await;
        assert_eq!(status, 200);
        remaining.push(left.unwrap());
    }
    assert_eq!(remaining.last().unwrap(), "0", "{remaining:?}");
    let (status, retry_after, _, body) = me(&app, &busy.token).await;
    assert_eq!(status, 429);
    assert_eq!(error_code(&body), "RATE_LIMITED");
    let wait = body["errors"][0]["extensions"]["retryAfterMs"].as_u64().unwrap();
    assert!(wait > 0 && wait <= 2000, "{wait}");
    assert!(matches!(retry_after.as_deref(), Some("1" | "2")), "{retry_after:?}");

    // Another tenant has its own budget.
    assert_eq!(me(&app, &calm.token).await.0, 200);

    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    assert_eq!(me(&app, &busy.token).await.0, 200, "after the wait the request passes");
}

#[tokio::test]
async fn a_tenant_plan_raises_its_limit_above_the_default() {
    let app = spawn_app_with(&[
        ("DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", "1"),
        ("DOSSIER_RATE_LIMIT_TENANT_BURST", "2"),
    ])
    .await;
    let t = app.signup(&slug("premium")).await;
    let config = dossier::Config::from_vars(
        &[
            ("DOSSIER_DATABASE_URL", app.database_url.clone()),
            ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET.to_owned()),
            ("DOSSIER_MASTER_KEYS", app.master_keys.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    )
    .unwrap();
    let operator = dossier::domain::Store::connect(&config).await.unwrap();
    dossier::domain::tenants::set_limits(&operator, &t.slug, Some(100), Some(20))
        .await
        .unwrap();
    // The plan is read afresh within the cache lifetime at the latest; a new app instance reads it now.
    let fresh = spawn_another(
        &app,
        &[
            ("DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", "1"),
            ("DOSSIER_RATE_LIMIT_TENANT_BURST", "2"),
        ],
    )
    .await;
    for i in 0..10 {
        assert_eq!(
            me(&fresh, &t.token).await.0,
            200,
            "request {i} within the plan's burst of 20"
        );
    }
}

#[tokio::test]
async fn repeated_failed_sign_ins_are_slowed_per_account_and_per_address() {
    let app = spawn_app_with(&[
        ("DOSSIER_LOGIN_FAILURES_PER_MINUTE", "3"),
        ("DOSSIER_LOGIN_IP_FAILURES_PER_MINUTE", "5"),
    ])
    .await;
    let t = app.signup(&slug("guarded")).await;
    let login = |email: String, password: &'static str| {
        let app = &app;
        let slug = t.slug.clone();
        async move {
            app.gql(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { token } }",
                json!({ "input": { "tenantSlug": slug, "email": email, "password": password } }),
            )
            .await
        }
    };
    let owner = format!("owner@{}.example.com", t.slug);
    for _ in 0..3 {
        assert_eq!(
            error_code(&login(owner.clone(), "wrong-password").await),
            "UNAUTHENTICATED"
        );
    }
    let blocked = login(owner.clone(), "owner-password-1").await;
    assert_eq!(error_code(&blocked), "RATE_LIMITED", "even the right password waits");
    assert!(blocked["errors"][0]["extensions"]["retryAfterMs"].as_u64().unwrap() > 0);

    // Other accounts from the same address: four attempts so far, one more spends its budget of five.
    assert_eq!(
        error_code(&login("x@example.com".into(), "wrong-password").await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        error_code(&login("someone@example.com".into(), "wrong-password").await),
        "RATE_LIMITED"
    );
}

#[tokio::test]
async fn two_instances_sharing_redis_enforce_one_combined_limit_per_tenant() {
    let Some(redis) = redis_url() else { return };
    let namespace = unique_namespace();
    let settings = [
        ("DOSSIER_REDIS_URL", redis.as_str()),
        ("DOSSIER_REDIS_NAMESPACE", namespace.as_str()),
        ("DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", "0.2"),
        ("DOSSIER_RATE_LIMIT_TENANT_BURST", "10"),
    ];
    let a = spawn_app_with(&settings).await;
    let b = spawn_another(&a, &settings).await;
    let busy = a.signup(&slug("shared")).await;
    let calm = a.signup(&slug("other")).await;
    wait_for_redis(&[&a, &b], &calm.token).await;
    let mut allowed = 0;
    for i in 0..20 {
        let app = if i % 2 == 0 { &a } else { &b };
        if me(app, &busy.token).await.0 == 200 {
            allowed += 1;
        }
    }
    assert!(
        (9..=11).contains(&allowed),
        "one budget of 10 across both instances, got {allowed}"
    );
    for app in [&a, &b, &a, &b] {
        assert_eq!(me(app, &calm.token).await.0, 200, "another tenant is unaffected");
    }
}

async fn poll_until(mut check: impl AsyncFnMut() -> bool, within: Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[tokio::test]
async fn revoking_a_key_or_rotating_a_tenant_key_on_one_instance_takes_effect_on_the_other() {
    let Some(redis) = redis_url() else { return };
    let namespace = unique_namespace();
    let settings = [
        ("DOSSIER_REDIS_URL", redis.as_str()),
        ("DOSSIER_REDIS_NAMESPACE", namespace.as_str()),
    ];
    let a = spawn_app_with(&settings).await;
    let b = spawn_another(&a, &settings).await;
    let t = a.signup(&slug("replicas")).await;
    wait_for_redis(&[&a, &b], &t.token).await;
    let (key_id, secret) = a.create_api_key(&t.token, "MANAGER").await;
    assert_eq!(me(&b, &secret).await.0, 200, "B has now seen (and cached) the key");
    tokio::time::sleep(Duration::from_millis(200)).await; // B's subscription is up

    a.ok(
        &t.token,
        "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }",
        json!({ "id": key_id }),
    )
    .await;
    let refused = poll_until(
        async || error_code_of(&me(&b, &secret).await.3) == "UNAUTHENTICATED",
        Duration::from_secs(1),
    )
    .await;
    assert!(refused, "B refuses the revoked key within a second");

    // B encrypts under the tenant's newest key right after A rotated it.
    b.create_customer(
        &t.token,
        "Before",
        json!({ "contacts": [{ "email": "before@example.com" }] }),
    )
    .await;
    a.ok(&t.token, "mutation { rotateTenantKey { dataKeyVersion } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.create_customer(
        &t.token,
        "After",
        json!({ "contacts": [{ "email": "after@example.com" }] }),
    )
    .await;
    let newest = a
        .raw_texts("SELECT email FROM contacts WHERE name IS NULL ORDER BY created_at DESC")
        .await;
    assert!(
        newest[0].starts_with("v1.2."),
        "B used the rotated key: {}",
        &newest[0][..6]
    );
}

/// Waits until every instance has reached Redis (they connect in the background).
async fn wait_for_redis(apps: &[&TestApp], admin_token: &str) {
    for app in apps {
        let up = poll_until(
            async || redis_health(app, admin_token).await["redis"] == "up",
            Duration::from_secs(5),
        )
        .await;
        assert!(up, "instance reached Redis");
    }
}

fn error_code_of(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn redis_health(app: &TestApp, token: &str) -> Value {
    app.client
        .get(format!("{}/health/details", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn requests_keep_succeeding_while_redis_is_away_and_sharing_resumes_when_it_returns() {
    let Some(redis) = redis_url() else { return };
    let relay = RedisRelay::start(&redis).await;
    let relay_url = relay.url();
    let namespace = unique_namespace();
    let a = spawn_app_with(&[
        ("DOSSIER_REDIS_URL", relay_url.as_str()),
        ("DOSSIER_REDIS_NAMESPACE", namespace.as_str()),
    ])
    .await;
    let t = a.signup(&slug("outage")).await;
    assert!(
        poll_until(
            async || redis_health(&a, &t.token).await["redis"] == "up",
            Duration::from_secs(5)
        )
        .await
    );
    assert_eq!(redis_health(&a, &t.token).await["rateLimiter"], "shared");

    relay.cut();
    for i in 0..5 {
        assert_eq!(me(&a, &t.token).await.0, 200, "request {i} during the outage");
    }
    let details = redis_health(&a, &t.token).await;
    assert_eq!(details["redis"], "down");
    assert_eq!(details["rateLimiter"], "local (fallback)");
    assert!(details["redisFallbacks"].as_u64().unwrap() >= 1);
    let ready = a.client.get(format!("{}/ready", a.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200, "Redis is not needed to serve");

    relay.restore().await;
    let back = poll_until(
        async || {
            me(&a, &t.token).await;
            redis_health(&a, &t.token).await["redis"] == "up"
        },
        Duration::from_secs(10),
    )
    .await;
    assert!(back, "the shared limiter resumes without a restart");
    let forbidden = a.client.get(format!("{}/health/details", a.base)).send().await.unwrap();
    assert_eq!(forbidden.status(), 403, "details are for admins");
}
