//! The HTTP surface: health, readiness, request ids, body limit, GraphiQL, CORS, shutdown.

use dossier_tests::{spawn_app, spawn_app_with};

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
async fn get_graphql_serves_graphiql() {
    let app = spawn_app().await;
    let resp = app.client.get(format!("{}/graphql", app.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("GraphiQL"));
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
