//! A tenant's people change: deactivation (records stay, sign-ins and keys stop on every
//! replica), reactivation, role changes, and the rules that keep an owner in charge.

use std::time::Duration;

use dossier_tests::*;
use serde_json::{Value, json};
use uuid::Uuid;

const DEACTIVATE: &str = "mutation($input: UserIdInput!) { deactivateUser(input: $input) { user { id active role } } }";
const REACTIVATE: &str = "mutation($input: UserIdInput!) { reactivateUser(input: $input) { user { id active role } } }";
const CHANGE_ROLE: &str =
    "mutation($input: ChangeUserRoleInput!) { changeUserRole(input: $input) { user { id active role } } }";
const UPDATE_PROFILE: &str =
    "mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { user { id name } } }";
const ME: &str = "{ me { id role } }";
const CUSTOMER_COUNT: &str = "{ customers { totalCount } }";

fn user_input(id: &str) -> Value {
    json!({ "input": { "userId": id } })
}

fn role_input(id: &str, role: &str) -> Value {
    json!({ "input": { "userId": id, "role": role } })
}

/// Two instances on one database; with Redis they share the invalidation bus, as replicas do.
async fn two_replicas() -> (TestApp, TestApp) {
    let namespace = format!("people-{}", Uuid::new_v4().simple());
    let redis = redis_url();
    let mut vars = Vec::new();
    if let Some(url) = redis.as_deref() {
        vars.push(("DOSSIER_REDIS_URL", url));
        vars.push(("DOSSIER_REDIS_NAMESPACE", namespace.as_str()));
    }
    let first = spawn_app_with(&vars).await;
    let second = spawn_another(&first, &vars).await;
    if redis.is_some() {
        wait_for_subscribers(redis.as_deref().unwrap(), &namespace, 2).await;
    }
    (first, second)
}

#[tokio::test]
async fn a_deactivated_user_is_refused_everywhere_at_once_and_their_records_stay() {
    let (app, replica) = two_replicas().await;
    let t = app.signup(&slug("people-off")).await;
    // An admin, so that they also made an API key.
    let (sales_id, sales_token) = app.add_user(&t, "ADMIN", "leaver").await;
    let (_, key) = app.create_api_key(&sales_token, "SALES").await;
    let customer = app.create_customer(&sales_token, "Kept Customer", json!({})).await;
    // Both replicas have the credentials cached.
    for instance in [&app, &replica] {
        instance.ok(&sales_token, ME, json!({})).await;
        instance.ok(&key, ME, json!({})).await;
    }

    let off = app.ok(&t.token, DEACTIVATE, user_input(&sales_id)).await;
    assert_eq!(off["deactivateUser"]["user"]["active"], false);
    for credential in [&sales_token, &key] {
        assert_eq!(
            error_code(&app.gql(Some(credential), ME, json!({})).await),
            "UNAUTHENTICATED"
        );
    }
    if redis_url().is_some() {
        wait_until(
            Duration::from_secs(1),
            "the other replica refuses the leaver",
            async || {
                error_code_if_any(&replica.gql(Some(&sales_token), ME, json!({})).await).as_deref()
                    == Some("UNAUTHENTICATED")
                    && error_code_if_any(&replica.gql(Some(&key), ME, json!({})).await).as_deref()
                        == Some("UNAUTHENTICATED")
            },
        )
        .await;
    }
    let login = app
        .gql(
            None,
            "mutation($input: LoginInput!) { login(input: $input) { token } }",
            json!({ "input": { "tenantSlug": t.slug, "email": format!("leaver@{}.example.com", t.slug), "password": "user-password-1" } }),
        )
        .await;
    assert_eq!(error_code(&login), "UNAUTHENTICATED", "{login}");

    // The records stay where they were, with their owner.
    let kept = app
        .ok(
            &t.token,
            "query($id: ID!) { customer(id: $id) { name owner { id active } } }",
            json!({ "id": customer["id"] }),
        )
        .await;
    assert_eq!(kept["customer"]["name"], "Kept Customer");
    assert_eq!(kept["customer"]["owner"]["id"], sales_id.as_str());
    assert_eq!(kept["customer"]["owner"]["active"], false);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'user.deactivate'")
            .await,
        1
    );

    // Reactivated, the same sign-in works again.
    let on = app.ok(&t.token, REACTIVATE, user_input(&sales_id)).await;
    assert_eq!(on["reactivateUser"]["user"]["active"], true);
    assert_eq!(app.ok(&sales_token, ME, json!({})).await["me"]["id"], sales_id.as_str());
}

#[tokio::test]
async fn a_new_role_applies_to_the_next_request_of_a_signed_in_user() {
    let app = spawn_app().await;
    let t = app.signup(&slug("people-role")).await;
    let (sales_id, sales_token) = app.add_user(&t, "SALES", "climber").await;
    app.create_customer(&t.token, "Owner's Customer", json!({})).await;
    assert_eq!(
        app.ok(&sales_token, CUSTOMER_COUNT, json!({})).await["customers"]["totalCount"],
        0
    );

    let promoted = app.ok(&t.token, CHANGE_ROLE, role_input(&sales_id, "MANAGER")).await;
    assert_eq!(promoted["changeUserRole"]["user"]["role"], "MANAGER");
    assert_eq!(app.ok(&sales_token, ME, json!({})).await["me"]["role"], "MANAGER");
    assert_eq!(
        app.ok(&sales_token, CUSTOMER_COUNT, json!({})).await["customers"]["totalCount"],
        1
    );

    let demoted = app.ok(&t.token, CHANGE_ROLE, role_input(&sales_id, "VIEWER")).await;
    assert_eq!(demoted["changeUserRole"]["user"]["role"], "VIEWER");
    let refused = app
        .gql(
            Some(&sales_token),
            CREATE_CUSTOMER,
            json!({ "input": { "kind": "INDIVIDUAL", "name": "No", "source": "ONLINE" } }),
        )
        .await;
    assert_eq!(error_code(&refused), "FORBIDDEN");
}

#[tokio::test]
async fn owners_stay_in_charge_and_nobody_acts_above_their_role() {
    let app = spawn_app().await;
    let t = app.signup(&slug("people-rules")).await;
    let (admin_id, admin_token) = app.add_user(&t, "ADMIN", "admin").await;
    let (sales_id, sales_token) = app.add_user(&t, "SALES", "seller").await;

    // An admin cannot touch the owner, nor make anyone an owner.
    for (query, input) in [
        (DEACTIVATE, user_input(&t.owner_id)),
        (CHANGE_ROLE, role_input(&t.owner_id, "ADMIN")),
        (CHANGE_ROLE, role_input(&sales_id, "OWNER")),
    ] {
        assert_eq!(
            error_code(&app.gql(Some(&admin_token), query, input).await),
            "FORBIDDEN"
        );
    }
    // Sales change nobody; nobody deactivates themselves.
    assert_eq!(
        error_code(&app.gql(Some(&sales_token), DEACTIVATE, user_input(&admin_id)).await),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.gql(Some(&admin_token), DEACTIVATE, user_input(&admin_id)).await),
        "FORBIDDEN"
    );
    // The last active owner can neither step down nor be deactivated.
    let last = app
        .gql(Some(&t.token), CHANGE_ROLE, role_input(&t.owner_id, "ADMIN"))
        .await;
    assert_eq!(error_code(&last), "CONFLICT", "{last}");
    // With a second owner, the first may step down.
    let promoted = app.ok(&t.token, CHANGE_ROLE, role_input(&admin_id, "OWNER")).await;
    assert_eq!(promoted["changeUserRole"]["user"]["role"], "OWNER");
    let stepped_down = app.ok(&t.token, CHANGE_ROLE, role_input(&t.owner_id, "ADMIN")).await;
    assert_eq!(stepped_down["changeUserRole"]["user"]["role"], "ADMIN");
    // The new owner is now the last one, and cannot step down either.
    let last = app
        .gql(Some(&admin_token), CHANGE_ROLE, role_input(&admin_id, "MANAGER"))
        .await;
    assert_eq!(error_code(&last), "CONFLICT", "{last}");
    let roles = app
        .raw_count("SELECT COUNT(*) FROM users WHERE role = 'owner' AND active")
        .await;
    assert_eq!(roles, 1);

    // API keys change nobody, even an admin's.
    let (_, key) = app.create_api_key(&admin_token, "ADMIN").await;
    assert_eq!(
        error_code(&app.gql(Some(&key), DEACTIVATE, user_input(&sales_id)).await),
        "FORBIDDEN"
    );

    // Another tenant's user, or no user at all, is not found; a malformed id is invalid.
    let other = app.signup(&slug("people-other")).await;
    for id in [other.owner_id.clone(), Uuid::new_v4().to_string()] {
        assert_eq!(
            error_code(&app.gql(Some(&admin_token), DEACTIVATE, user_input(&id)).await),
            "NOT_FOUND"
        );
    }
    assert_eq!(
        error_code(&app.gql(Some(&admin_token), DEACTIVATE, user_input("not-an-id")).await),
        "VALIDATION"
    );
    assert_eq!(
        app.ok(&other.token, ME, json!({})).await["me"]["id"],
        other.owner_id.as_str()
    );
}

#[tokio::test]
async fn a_user_renames_themselves_and_a_blank_name_is_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("people-name")).await;
    let (sales_id, sales_token) = app.add_user(&t, "SALES", "renamer").await;
    let renamed = app
        .ok(
            &sales_token,
            UPDATE_PROFILE,
            json!({ "input": { "name": "  Wang Fang  " } }),
        )
        .await;
    assert_eq!(renamed["updateProfile"]["user"]["id"], sales_id.as_str());
    assert_eq!(renamed["updateProfile"]["user"]["name"], "Wang Fang");
    let blank = app
        .gql(
            Some(&sales_token),
            UPDATE_PROFILE,
            json!({ "input": { "name": "   " } }),
        )
        .await;
    assert_eq!(error_code(&blank), "VALIDATION");
    let stored = app
        .raw_count("SELECT COUNT(*) FROM users WHERE name = 'Wang Fang'")
        .await;
    assert_eq!(stored, 1);
}
