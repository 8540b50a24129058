//! Rate limits (per tenant, per caller, on sign-in) and, with Redis, limits and cache
//! invalidations shared by replicas, surviving a Redis outage.

use std::time::Duration;

use dossier_tests::{
    RedisRelay, TestApp, error_code, error_code_if_any, redis_url, slug, spawn_another, spawn_app_with,
    wait_for_subscribers, wait_until,
};
use serde_json::{Value, json};

const ME: &str = "{ me { role } }";

/// Sends `ME` and returns the HTTP status, the `retry-after` and `ratelimit-remaining` headers and the body.
async fn me(app: &TestApp, token: &str) -> (u16, Option<String>, Option<String>, Value) {
    let answer = app.post_graphql(Some(token), ME, json!({})).await;
    let (retry, remaining) = (answer.header("retry-after"), answer.header("ratelimit-remaining"));
    (answer.status, retry, remaining, answer.body)
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

    // Time must pass here, and exactly as long as the server said: polling until the request
    // passes would accept a wait longer than the one advertised.
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
    let operator = app.store().await;
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
    wait_for_subscribers(&redis, &namespace, 2).await;

    a.ok(
        &t.token,
        "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { id } } }",
        json!({ "id": key_id }),
    )
    .await;
    wait_until(
        Duration::from_secs(1),
        "B refuses the revoked key within a second",
        async || error_code_if_any(&me(&b, &secret).await.3).as_deref() == Some("UNAUTHENTICATED"),
    )
    .await;

    // B encrypts under the tenant's newest key right after A rotated it (within the 300 ms
    // an invalidation may take to arrive).
    b.create_customer(
        &t.token,
        "Before",
        json!({ "contacts": [{ "email": "before@example.com" }] }),
    )
    .await;
    a.rotate_tenant_key(&t.token).await;
    let mut after = 0;
    wait_until(Duration::from_millis(300), "B uses the rotated key", async || {
        after += 1;
        let contact = json!({ "contacts": [{ "email": format!("after-{after}@example.com") }] });
        b.create_customer(&t.token, &format!("After {after}"), contact).await;
        let newest = a
            .raw_texts("SELECT email FROM contacts WHERE name IS NULL ORDER BY created_at DESC")
            .await;
        newest[0].starts_with("v1.2.")
    })
    .await;
}

/// Waits until every instance has reached Redis (they connect in the background).
async fn wait_for_redis(apps: &[&TestApp], admin_token: &str) {
    for app in apps {
        wait_until(Duration::from_secs(5), "instance reached Redis", async || {
            redis_health(app, admin_token).await["redis"] == "up"
        })
        .await;
    }
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
    wait_for_redis(&[&a], &t.token).await;
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
    wait_until(
        Duration::from_secs(10),
        "the shared limiter resumes without a restart",
        async || {
            me(&a, &t.token).await;
            redis_health(&a, &t.token).await["redis"] == "up"
        },
    )
    .await;
    let forbidden = a.client.get(format!("{}/health/details", a.base)).send().await.unwrap();
    assert_eq!(forbidden.status(), 403, "details are for admins");
}
