//! The HTTP surface: health, readiness, request ids, body limit, GraphiQL, CORS, shutdown,
//! and what a browser may be made to send.

use dossier_tests::{error_code, slug, spawn_app, spawn_app_with};

#[tokio::test]
async fn health_and_ready_answer() {
    let app = spawn_app().await;
    let health = app.client.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(format!("{}/ready", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["database"], "up");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_a_sane_given_one_is_kept() {
    let app = spawn_app().await;
    let generated = app.client.get(format!("{}/health", app.base)).send().await.unwrap();
    let id = generated.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let kept = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.headers()["x-request-id"], "abc-123");
    let replaced = app
        .client
        .get(format!("{}/health", app.base))
        .header("x-request-id", "bad id\twith junk")
        .send()
        .await
        .unwrap();
    assert_ne!(replaced.headers()["x-request-id"], "bad id\twith junk");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let app = spawn_app_with(&[("DOSSIER_MAX_BODY_BYTES", "2048")]).await;
    let query = format!("{{ __typename }} # {}", "x".repeat(4096));
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&serde_json::json!({ "query": query }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
    let small = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&serde_json::json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
}

#[tokio::test]
async fn get_graphql_serves_graphiql_pinned_by_integrity_under_a_content_security_policy() {
    let app = spawn_app().await;
    let resp = app.client.get(format!("{}/graphql", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let policy = resp.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(policy.contains("script-src https://unpkg.com 'sha256-"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let page = resp.text().await.unwrap();
    assert!(page.contains("GraphiQL"));
    // Every script and style from the CDN names an exact version and its hash.
    let external = page.matches("https://unpkg.com/").count();
    assert_eq!(external, 4, "{page}");
    assert_eq!(page.matches("integrity=\"sha384-").count(), external, "{page}");
    assert!(
        !page.contains("@3/") && !page.contains("@18/"),
        "versions are pinned: {page}"
    );
}

#[tokio::test]
async fn graphiql_is_not_served_when_disabled() {
    let app = spawn_app_with(&[("DOSSIER_GRAPHIQL", "false")]).await;
    let resp = app.client.get(format!("{}/graphql", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert!(!resp.text().await.unwrap().contains("GraphiQL"));
}

#[tokio::test]
async fn graphiql_and_introspection_are_off_by_default_outside_embedded_mode() {
    let vars = [
        ("DOSSIER_DATABASE_URL", "postgres://u@h/db"),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET),
        ("DOSSIER_MASTER_KEYS", &dossier::crypto::MasterKeyRing::generate_spec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = dossier::Config::from_vars(&vars).unwrap();
    assert!(!config.graphiql);
    assert!(!config.graphql_introspection);
    let embedded = dossier::Config::from_vars(&Default::default()).unwrap();
    assert!(embedded.graphiql && embedded.graphql_introspection);
}

#[tokio::test]
async fn a_post_that_is_not_json_is_refused_with_415_and_runs_nothing() {
    let app = spawn_app().await;
    let wanted = slug("csrf");
    let mutation = format!(
        r#"{{"query":"mutation {{ createTenant(input: {{ name: \"X\", slug: \"{wanted}\", adminEmail: \"a@x.example.com\", adminPassword: \"change-me-please\" }}) {{ token }} }}"}}"#
    );
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let mut request = app.client.post(format!("{}/graphql", app.base)).body(mutation.clone());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 415, "{content_type:?}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), "VALIDATION");
    }
    let tenants = app
        .raw_count(&format!("SELECT COUNT(*) FROM tenants WHERE slug = '{wanted}'"))
        .await;
    assert_eq!(tenants, 0, "no tenant was created cross-site");
    let json = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(mutation)
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    let tenants = app
        .raw_count(&format!("SELECT COUNT(*) FROM tenants WHERE slug = '{wanted}'"))
        .await;
    assert_eq!(tenants, 1, "the JSON post ran");
}

#[tokio::test]
async fn graphql_answers_are_neither_sniffed_nor_cached() {
    let app = spawn_app().await;
    for body in [
        serde_json::json!({ "query": "{ __typename }" }),
        serde_json::json!({ "query": "{ nonsense" }),
    ] {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    let refused = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn without_introspection_the_schema_is_hidden_and_errors_suggest_no_names() {
    let app = spawn_app_with(&[("DOSSIER_GRAPHQL_INTROSPECTION", "false")]).await;
    let body = app
        .gql(None, "{ __schema { types { name } } }", serde_json::json!({}))
        .await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let body = app
        .gql(None, "{ customerz { totalCount } }", serde_json::json!({}))
        .await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let open = spawn_app().await;
    let body = open
        .gql(None, "{ customerz { totalCount } }", serde_json::json!({}))
        .await;
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("Did you mean"),
        "{body}"
    );
}

/// Three anonymous calls with a burst of two, each claiming to come from `forwarded`.
async fn anonymous_statuses(app: &dossier_tests::TestApp, forwarded: [&str; 3]) -> Vec<u16> {
    let mut statuses = Vec::new();
    for address in forwarded {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("x-forwarded-for", address)
            .json(&serde_json::json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
    }
    statuses
}

#[tokio::test]
async fn x_forwarded_for_is_believed_only_from_a_trusted_proxy() {
    let limits = [
        ("DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", "0.01"),
        ("DOSSIER_RATE_LIMIT_ACTOR_BURST", "2"),
    ];
    let direct = spawn_app_with(&limits).await;
    assert_eq!(
        anonymous_statuses(&direct, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]).await,
        [200, 200, 429],
        "a client cannot pick a fresh address per request"
    );
    let mut behind = limits.to_vec();
    behind.push(("DOSSIER_TRUSTED_PROXIES", "127.0.0.1"));
    let proxied = spawn_app_with(&behind).await;
    assert_eq!(
        anonymous_statuses(&proxied, ["203.0.113.1", "203.0.113.1", "203.0.113.1"]).await,
        [200, 200, 429]
    );
    assert_eq!(
        anonymous_statuses(&proxied, ["198.51.100.7, 203.0.113.2", "203.0.113.2", "203.0.113.9"]).await,
        [200, 200, 200],
        "the proxy's last hop names the client"
    );
}

#[tokio::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(&[("DOSSIER_CORS_ORIGINS", "https://app.example.com")]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let other = preflight("https://evil.example.com").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_server_stops_when_told_and_lets_the_serving_task_end() {
    let data_dir = std::env::temp_dir().join(format!("dossier-stop-{}", uuid::Uuid::new_v4().simple()));
    let vars = [
        ("DOSSIER_DATA_DIR", data_dir.display().to_string()),
        ("DOSSIER_LISTEN_ADDR", "127.0.0.1:0".to_owned()),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET.to_owned()),
        ("DOSSIER_SHUTDOWN_TIMEOUT_SECONDS", "5".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let app = dossier::Application::build(dossier::Config::from_vars(&vars).unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    assert_eq!(reqwest::get(format!("{base}/health")).await.unwrap().status(), 200);
    stop.send(()).unwrap();
    let finished = tokio::time::timeout(std::time::Duration::from_secs(10), server).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "server ended cleanly");
    assert!(
        reqwest::get(format!("{base}/health")).await.is_err(),
        "no longer accepting"
    );
    let _ = std::fs::remove_dir_all(data_dir);
}
