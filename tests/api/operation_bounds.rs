//! Cost before work: oversized operations are refused before validation, and the rate limit
//! charges what an operation asks for, not one unit per HTTP request.

use std::time::{Duration, Instant};

use dossier_tests::{TestApp, error_code, slug, spawn_app, spawn_app_with};
use serde_json::{Value, json};

/// A document whose fragments each spread the one below twice: `levels` levels ask for
/// 2^levels selections once expanded.
fn fan_out(levels: usize) -> String {
    let mut query = format!("query {{ ...L{levels} }}\nfragment L0 on QueryRoot {{ __typename }}\n");
    for n in 1..=levels {
        query.push_str(&format!(
            "fragment L{n} on QueryRoot {{ ...L{m} ...L{m} }}\n",
            m = n - 1
        ));
    }
    query
}

async fn post(app: &TestApp, token: Option<&str>, query: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let answer = app.post_graphql(token, query, json!({})).await;
    (answer.status, answer.headers, answer.body)
}

#[tokio::test]
async fn a_thirty_level_fragment_fan_out_is_refused_at_once_while_health_keeps_answering() {
    let app = spawn_app().await;
    let query = fan_out(30);
    assert!(query.len() < 2048, "a small document: {} bytes", query.len());

    let started = Instant::now();
    let attack = async {
        let answer = tokio::time::timeout(Duration::from_secs(10), post(&app, None, &query))
            .await
            .expect("the fan-out is answered, not worked through");
        (answer, started.elapsed())
    };
    let health = async {
        // Sent a moment after the attack, so that it arrives while the attack is in flight:
        // a matter of order, which no condition to poll for could give.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let sent = Instant::now();
        let status = app
            .client
            .get(format!("{}/health", app.base))
            .send()
            .await
            .expect("health answers")
            .status();
        (status, sent.elapsed())
    };
    let (((status, _, body), refused_after), (health_status, health_took)) = tokio::join!(attack, health);

    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "VALIDATION", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("1073741824 fields"), "{message}");
    assert!(
        refused_after < Duration::from_millis(100),
        "refused after {refused_after:?}"
    );
    assert_eq!(health_status, 200);
    assert!(health_took < Duration::from_millis(100), "health took {health_took:?}");
}

#[tokio::test]
async fn a_small_fan_out_within_the_bound_still_runs() {
    let app = spawn_app().await;
    let (_, _, body) = post(&app, None, &fan_out(3)).await;
    assert_eq!(body["data"]["__typename"], "QueryRoot", "{body}");
}

#[tokio::test]
async fn fragment_cycles_oversized_documents_and_deep_nesting_are_refused_as_validation() {
    let app = spawn_app_with(&[("DOSSIER_GRAPHQL_MAX_QUERY_BYTES", "4096")]).await;
    let cycle = "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }";
    let long = format!("{{ __typename }} # {}", "x".repeat(5000));
    let nested = format!("{{ me {}{} }}", "{ user ".repeat(70), "}".repeat(70));
    let fragments: String = (0..101)
        .map(|n| format!("fragment F{n} on QueryRoot {{ __typename }}\n"))
        .collect();
    let many_fragments = format!("{{ ...F0 }}\n{fragments}");
    for (name, query) in [
        ("cycle", cycle.to_owned()),
        ("long", long),
        ("nested", nested),
        ("fragments", many_fragments),
    ] {
        let (status, _, body) = post(&app, None, &query).await;
        assert_eq!(status, 200, "{name}");
        assert_eq!(error_code(&body), "VALIDATION", "{name}: {body}");
        assert!(body["data"].is_null(), "{name}: {body}");
    }
}

#[tokio::test]
async fn a_thousand_aliases_are_refused_and_the_allowed_ones_are_charged_each() {
    let app = spawn_app_with(&[
        ("DOSSIER_GRAPHQL_MAX_TOKENS", "20000"),
        ("DOSSIER_GRAPHQL_MAX_ROOT_FIELDS", "20"),
        ("DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", "0.01"),
        ("DOSSIER_RATE_LIMIT_ACTOR_BURST", "70"),
    ])
    .await;
    let tenant = app.signup(&slug("aliases")).await;
    let aliases = |n: usize| -> String {
        let fields: String = (0..n).map(|i| format!("m{i}: me {{ role user {{ id }} }} ")).collect();
        format!("{{ {fields} }}")
    };

    let (_, _, body) = post(&app, Some(&tenant.token), &aliases(1000)).await;
    assert_eq!(error_code(&body), "VALIDATION", "{body}");
    assert!(
        body["errors"][0]["message"].as_str().unwrap().contains("1000 aliases"),
        "{body}"
    );

    let (status, _, body) = post(&app, Some(&tenant.token), "{ a: me { role } b: me { role } c: me { role } d: me { role } e: me { role } f: me { role } g: me { role } h: me { role } i: me { role } j: me { role } k: me { role } l: me { role } m: me { role } n: me { role } o: me { role } p: me { role } q: me { role } r: me { role } s: me { role } t: me { role } u: me { role } }").await;
    assert_eq!(status, 200);
    assert_eq!(error_code(&body), "VALIDATION", "21 root fields: {body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("21 root fields"),
        "{body}"
    );

    // 20 root fields cost 20 units of the caller's budget of 70 (the refusals above cost none).
    let twenty = aliases(20);
    let (status, headers, body) = post(&app, Some(&tenant.token), &twenty).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["m19"]["role"], "OWNER");
    assert_eq!(headers["ratelimit-remaining"], "50");
    let (_, headers, _) = post(&app, Some(&tenant.token), &twenty).await;
    assert_eq!(headers["ratelimit-remaining"], "30");
    let (_, headers, _) = post(&app, Some(&tenant.token), &twenty).await;
    assert_eq!(headers["ratelimit-remaining"], "10");
    let (status, _, body) = post(&app, Some(&tenant.token), &twenty).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(error_code(&body), "RATE_LIMITED");
}

#[tokio::test]
async fn me_and_the_user_list_are_read_once_however_many_fields_ask() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("facts")).await;
    let one = "{ me { role user { id } tenant { id } } users { id } }";
    let many: String = (0..10)
        .map(|i| format!("m{i}: me {{ role user {{ id }} tenant {{ id }} }} u{i}: users {{ id name }} "))
        .collect();
    // The first request also reads the caller's credentials, which are then cached.
    app.ok(&tenant.token, one, json!({})).await;
    let (_, single) = app.ok_counting_statements(&tenant.token, one, json!({})).await;
    let (data, repeated) = app
        .ok_counting_statements(&tenant.token, &format!("{{ {many} }}"), json!({}))
        .await;
    assert_eq!(data["m9"]["user"]["id"], json!(tenant.owner_id));
    assert_eq!(data["u9"].as_array().unwrap().len(), 1);
    assert_eq!(repeated, single, "ten of each run what one of each runs");
}

#[tokio::test]
async fn an_operation_dearer_than_the_whole_burst_passes_on_a_full_budget_and_spends_it_all() {
    let app = spawn_app_with(&[
        ("DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", "0.01"),
        ("DOSSIER_RATE_LIMIT_ACTOR_BURST", "10"),
    ])
    .await;
    let tenant = app.signup(&slug("dear")).await;
    let fields: String = (0..30).map(|i| format!("m{i}: me {{ role }} ")).collect();
    let dear = format!("{{ {fields} }}");
    let (status, headers, body) = post(&app, Some(&tenant.token), &dear).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["m29"]["role"], "OWNER");
    assert_eq!(headers["ratelimit-remaining"], "0");
    let (status, _, body) = post(&app, Some(&tenant.token), "{ me { role } }").await;
    assert_eq!(status, 429, "{body}");
}
