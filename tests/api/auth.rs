use dossier_tests::{CREATE_USER, error_code, slug, spawn_app, spawn_app_with};
use serde_json::json;

const LOGIN: &str = "mutation($input: LoginInput!) { login(input: $input) { token user { email role } } }";
const ME: &str = "{ me { role apiKeyId user { id email } tenant { slug timezone locale } } }";

#[tokio::test]
async fn signup_returns_a_token_that_identifies_the_owner() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let me = app.ok(&tenant.token, ME, json!({})).await;
    assert_eq!(me["me"]["role"], "OWNER");
    assert_eq!(me["me"]["user"]["id"], tenant.owner_id.as_str());
    assert_eq!(me["me"]["tenant"]["slug"], tenant.slug.as_str());
    assert_eq!(me["me"]["tenant"]["timezone"], "Asia/Shanghai");
    assert_eq!(me["me"]["tenant"]["locale"], "ZH_CN");
}

#[tokio::test]
async fn who_the_caller_is_needs_no_database_read_once_the_credential_is_known() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("me-id")).await;
    // The first request checks the token against the user row; later ones use the cache.
    app.ok(&tenant.token, "{ me { role } }", json!({})).await;
    let (me, statements) = app
        .ok_counting_statements(&tenant.token, "{ me { id role apiKeyId } }", json!({}))
        .await;
    assert_eq!(me["me"]["id"], tenant.owner_id.as_str());
    assert_eq!(me["me"]["role"], "OWNER");
    assert_eq!(me["me"]["apiKeyId"], json!(null));
    assert_eq!(statements, 0);
    let (_, with_rows) = app.ok_counting_statements(&tenant.token, ME, json!({})).await;
    assert!(with_rows > 0, "user and tenant are read when asked for");
}

#[tokio::test]
async fn login_with_the_right_password_gives_a_working_token() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let body = app
        .gql(
            None,
            LOGIN,
            json!({ "input": { "tenantSlug": tenant.slug, "email": format!("OWNER@{}.example.com", tenant.slug), "password": "owner-password-1" } }),
        )
        .await;
    let token = body["data"]["login"]["token"].as_str().expect("token").to_owned();
    assert_eq!(body["data"]["login"]["user"]["role"], "OWNER");
    let me = app.ok(&token, ME, json!({})).await;
    assert_eq!(me["me"]["user"]["id"], tenant.owner_id.as_str());
}

#[tokio::test]
async fn wrong_password_and_unknown_tenant_are_refused_alike() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let wrong = app
        .gql(None, LOGIN, json!({ "input": { "tenantSlug": tenant.slug, "email": format!("owner@{}.example.com", tenant.slug), "password": "not-the-password" } }))
        .await;
    assert_eq!(error_code(&wrong), "UNAUTHENTICATED");
    assert!(wrong["data"].is_null());
    let unknown = app
        .gql(None, LOGIN, json!({ "input": { "tenantSlug": "no-such-tenant", "email": "x@y.example.com", "password": "whatever-123" } }))
        .await;
    assert_eq!(error_code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        wrong["errors"][0]["message"], unknown["errors"][0]["message"],
        "no hint which part was wrong"
    );
}

#[tokio::test]
async fn requests_without_or_with_a_bad_token_are_unauthenticated() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let anonymous = app.gql(None, ME, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    // Same signature, another user's claims.
    let parts: Vec<&str> = tenant.token.split('.').collect();
    let mut claims = parts[1].to_owned();
    let flipped = if claims.ends_with('J') { 'K' } else { 'J' };
    claims.replace_range(claims.len() - 1.., &flipped.to_string());
    let forged = format!("{}.{}.{}", parts[0], claims, parts[2]);
    let forged_body = app.gql(Some(&forged), ME, json!({})).await;
    assert_eq!(error_code(&forged_body), "UNAUTHENTICATED");
    let garbage = app.gql(Some("dsk_nothing"), ME, json!({})).await;
    assert_eq!(error_code(&garbage), "UNAUTHENTICATED");
}

#[tokio::test]
async fn passwords_are_stored_as_argon2id_hashes() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let n = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM users WHERE email = 'owner@{}.example.com' AND password_hash LIKE '$argon2id$%' \
             AND password_hash NOT LIKE '%owner-password-1%'",
            tenant.slug
        ))
        .await;
    assert_eq!(n, 1);
}

const CREATE_KEY: &str =
    "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id role prefix } } }";

#[tokio::test]
async fn an_api_key_acts_with_its_role_and_stops_working_when_revoked() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let key = app
        .ok(
            &tenant.token,
            CREATE_KEY,
            json!({ "input": { "name": "reporting", "role": "VIEWER" } }),
        )
        .await;
    let secret = key["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let key_id = key["createApiKey"]["apiKey"]["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("dsk_"));

    let me = app.ok(&secret, ME, json!({})).await;
    assert_eq!(me["me"]["role"], "VIEWER");
    assert_eq!(me["me"]["apiKeyId"], key_id.as_str());
    let write = app
        .gql(
            Some(&secret),
            dossier_tests::CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "x", "source": "ONLINE" } }),
        )
        .await;
    assert_eq!(error_code(&write), "FORBIDDEN");

    // Only a hash of the secret is stored.
    let stored_plain = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM api_keys WHERE secret_hash = '{secret}' OR prefix = '{secret}'"
        ))
        .await;
    assert_eq!(stored_plain, 0);

    app.ok(
        &tenant.token,
        "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { apiKey { revokedAt } } }",
        json!({ "id": key_id }),
    )
    .await;
    let after = app.gql(Some(&secret), ME, json!({})).await;
    assert_eq!(error_code(&after), "UNAUTHENTICATED");
}

#[tokio::test]
async fn an_admin_api_key_can_write_customers() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, secret) = app.create_api_key(&tenant.token, "ADMIN").await;
    let secret = secret.as_str();
    let customer = app
        .create_customer(secret, "Imported Ltd", json!({ "kind": "COMPANY" }))
        .await;
    assert_eq!(
        customer["ownerId"],
        tenant.owner_id.as_str(),
        "a key acts for the user who made it"
    );
}

#[tokio::test]
async fn nobody_grants_a_role_above_their_own() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, manager) = app.add_user(&tenant, "MANAGER", "mia").await;
    let (_, admin) = app.add_user(&tenant, "ADMIN", "ada").await;
    let user = |email: &str, role: &str| json!({ "input": { "email": email, "name": "x", "role": role, "password": "long-enough-1" } });
    let by_manager = app
        .gql(Some(&manager), CREATE_USER, user("x@x.example.com", "SALES"))
        .await;
    assert_eq!(error_code(&by_manager), "FORBIDDEN");
    let owner_by_admin = app
        .gql(Some(&admin), CREATE_USER, user("y@x.example.com", "OWNER"))
        .await;
    assert_eq!(error_code(&owner_by_admin), "FORBIDDEN");
    let key_by_admin = app
        .gql(
            Some(&admin),
            CREATE_KEY,
            json!({ "input": { "name": "k", "role": "OWNER" } }),
        )
        .await;
    assert_eq!(error_code(&key_by_admin), "FORBIDDEN");
}

#[tokio::test]
async fn a_second_user_with_the_same_email_is_a_duplicate() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (first_id, _) = app.add_user(&tenant, "SALES", "sam").await;
    let again = app
        .gql(
            Some(&tenant.token),
            CREATE_USER,
            json!({ "input": { "email": format!("SAM@{}.example.com", tenant.slug), "name": "Sam 2", "role": "SALES", "password": "user-password-2" } }),
        )
        .await;
    assert_eq!(error_code(&again), "DUPLICATE");
    assert_eq!(again["errors"][0]["extensions"]["candidates"][0], first_id.as_str());
}

#[tokio::test]
async fn closed_signup_needs_the_platform_key() {
    let app = spawn_app_with(&[
        ("DOSSIER_ALLOW_SIGNUP", "false"),
        ("DOSSIER_PLATFORM_KEY", "platform-key-for-tests"),
    ])
    .await;
    let query = "mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { slug } } }";
    let input = json!({ "input": { "name": "Closed", "slug": slug("closed"), "adminEmail": "a@closed.example.com", "adminPassword": "owner-password-1" } });
    let refused = app.gql(None, query, input.clone()).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
    let wrong_key = app
        .gql_with_headers(None, query, input.clone(), &[("x-dossier-platform-key", "guess")])
        .await;
    assert_eq!(error_code(&wrong_key), "FORBIDDEN");
    let allowed = app
        .gql_with_headers(
            None,
            query,
            input.clone(),
            &[("x-dossier-platform-key", "platform-key-for-tests")],
        )
        .await;
    assert_eq!(
        allowed["data"]["createTenant"]["tenant"]["slug"],
        input["input"]["slug"]
    );
}

#[tokio::test]
async fn a_taken_slug_is_refused() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let again = app
        .gql(
            None,
            "mutation($input: CreateTenantInput!) { createTenant(input: $input) { tenant { id } } }",
            json!({ "input": { "name": "Other", "slug": tenant.slug.to_uppercase(), "adminEmail": "b@b.example.com", "adminPassword": "owner-password-1" } }),
        )
        .await;
    assert_eq!(error_code(&again), "VALIDATION");
    assert_eq!(dossier_tests::error_field(&again), "slug");
}

#[tokio::test]
async fn an_api_key_cannot_mint_keys_or_users_that_would_outlive_it() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let (_, secret) = app.create_api_key(&tenant.token, "ADMIN").await;
    let secret = secret.as_str();
    let another = app
        .gql(
            Some(secret),
            CREATE_KEY,
            json!({ "input": { "name": "copy", "role": "ADMIN" } }),
        )
        .await;
    assert_eq!(error_code(&another), "FORBIDDEN");
    let admin = json!({ "email": "z@z.example.com", "name": "z", "role": "ADMIN", "password": "long-enough-1" });
    let user = app.gql(Some(secret), CREATE_USER, json!({ "input": admin })).await;
    assert_eq!(error_code(&user), "FORBIDDEN");
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    let tenant = app.signup(&slug("acme")).await;
    let resp: serde_json::Value = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("authorization", format!("bearer {}", tenant.token))
        .json(&json!({ "query": "{ me { role } }" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resp["data"]["me"]["role"], "OWNER");
}
