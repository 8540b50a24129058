//! Test harness: starts the real application on 127.0.0.1:0 with a database of its own
//! (a fresh SQLite file, or a fresh PostgreSQL database when `DOSSIER_TEST_DATABASE_URL`
//! is set) and talks to it over HTTP like any client.

mod database;
pub mod fixtures;
mod redis;
pub mod smtp;
mod wait;

use database::fresh_database;
pub use database::postgres_base_url;
pub use database::{OwnedDatabase, empty_database};
pub use fixtures::*;
pub use redis::{RedisRelay, redis_url, wait_for_subscribers};
pub use wait::wait_until;

use std::collections::BTreeMap;
use std::path::PathBuf;

use dossier::{Application, Config};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

pub struct TestApp {
    pub base: String,
    /// Base URL of the metrics listener, when `DOSSIER_METRICS_LISTEN_ADDR` was set.
    pub metrics: Option<String>,
    pub client: reqwest::Client,
    pub database_url: String,
    /// The master key ring this app was started with (a fresh one per test).
    pub master_keys: String,
    data_dir: PathBuf,
    /// Another instance on the same database does not own (and so not remove) the data dir.
    owns_data_dir: bool,
    /// The configuration it was started with, for a store of its own (background jobs).
    vars: BTreeMap<String, String>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    /// The PostgreSQL database made for this app (not for another instance on it).
    database: Option<OwnedDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        drop(self.database.take());
        if self.owns_data_dir {
            let _ = std::fs::remove_dir_all(&self.data_dir);
        }
    }
}

/// An HTTP answer to a GraphQL request.
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("a text header").to_owned())
    }
}

/// A signed-up tenant: its id, its owner's id and the owner's token.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub owner_id: String,
    pub token: String,
}

/// Every log line of the test process, as JSON at debug level: tests read it to prove that
/// no contact value is ever logged.
static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct LogBuffer;

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        dossier::telemetry::init_with_writer("debug", dossier::config::LogFormat::Json, false, || LogBuffer);
    });
}

/// Everything logged so far by any test in this process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with extra `DOSSIER_*` settings on top of the test defaults.
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = std::env::temp_dir().join(format!("dossier-test-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&data_dir).expect("create test data dir");
    let (database_url, database) = fresh_database(&data_dir).await;
    let master_keys = dossier::crypto::MasterKeyRing::generate_spec();
    let mut app = start(data_dir, database_url, master_keys, overrides, true).await;
    app.database = database;
    app
}

/// Starts the app on a database of the test's choosing (a SQLite file in `data_dir`, or a
/// PostgreSQL server of the test's own), for tests that fault the database itself.
pub async fn spawn_app_at(data_dir: PathBuf, database_url: String, overrides: &[(&str, &str)]) -> TestApp {
    std::fs::create_dir_all(&data_dir).expect("create test data dir");
    let master_keys = dossier::crypto::MasterKeyRing::generate_spec();
    start(data_dir, database_url, master_keys, overrides, true).await
}

/// A second instance of the same app: same database, same keys (a restart, or a replica).
pub async fn spawn_another(app: &TestApp, overrides: &[(&str, &str)]) -> TestApp {
    start(
        app.data_dir.clone(),
        app.database_url.clone(),
        app.master_keys.clone(),
        overrides,
        false,
    )
    .await
}

async fn start(
    data_dir: PathBuf,
    database_url: String,
    master_keys: String,
    overrides: &[(&str, &str)],
    owns_data_dir: bool,
) -> TestApp {
    let mut vars: BTreeMap<String, String> = [
        ("DOSSIER_DATA_DIR", data_dir.display().to_string()),
        ("DOSSIER_DATABASE_URL", database_url.clone()),
        ("DOSSIER_LISTEN_ADDR", "127.0.0.1:0".into()),
        ("DOSSIER_JWT_SECRET", JWT_SECRET.into()),
        ("DOSSIER_ALLOW_SIGNUP", "true".into()),
        ("DOSSIER_DB_MAX_CONNECTIONS", "5".into()),
        ("DOSSIER_MASTER_KEYS", master_keys.clone()),
        // The embedded defaults, whichever database runs the suite; tests of the production
        // defaults set them off.
        ("DOSSIER_GRAPHQL_INTROSPECTION", "true".into()),
        ("DOSSIER_GRAPHIQL", "true".into()),
        // Generous limits, so that only the tests about limits meet them.
        ("DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", "10000".into()),
        ("DOSSIER_RATE_LIMIT_TENANT_BURST", "10000".into()),
        ("DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", "10000".into()),
        ("DOSSIER_RATE_LIMIT_ACTOR_BURST", "10000".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (k, v) in overrides {
        vars.insert((*k).to_owned(), (*v).to_owned());
    }
    capture_logs();
    let config = Config::from_vars(&vars).expect("test config is valid");
    let kept_vars = vars.clone();
    let app = Application::build(config).await.expect("application builds");
    let base = format!("http://{}", app.local_addr());
    let metrics = app.metrics_addr().map(|addr| format!("http://{addr}"));
    let server = tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        base,
        metrics,
        client: reqwest::Client::new(),
        database_url,
        master_keys,
        data_dir,
        owns_data_dir,
        vars: kept_vars,
        server,
        database: None,
    }
}

impl TestApp {
    /// A store on the app's database, as a background job in the app would have, so that a
    /// test can run a job by hand at a time of its choosing.
    pub async fn store(&self) -> dossier::domain::Store {
        let config = Config::from_vars(&self.vars).expect("test config is valid");
        dossier::domain::Store::connect(&config).await.expect("store connects")
    }

    /// The configuration the app was started with, as a background job in it would see it.
    pub fn config(&self) -> Config {
        Config::from_vars(&self.vars).expect("test config is valid")
    }

    /// Sends a GraphQL request and returns the whole response body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        self.gql_with_headers(token, query, variables, &[]).await
    }

    pub async fn gql_with_headers(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        headers: &[(&str, &str)],
    ) -> Value {
        let mut req = self.client.post(format!("{}/graphql", self.base)).json(&json!({
            "query": query,
            "variables": variables,
        }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("request sent");
        assert_eq!(resp.status(), 200, "GraphQL answers 200");
        resp.json().await.expect("JSON body")
    }

    /// Posts a GraphQL request as any HTTP client would and returns the whole answer, for
    /// tests about statuses and headers.
    pub async fn post_graphql(&self, token: Option<&str>, query: &str, variables: Value) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        let response = request.send().await.expect("request sent");
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.json().await.expect("JSON body");
        Answer { status, headers, body }
    }

    /// Runs a request that must succeed and returns its `data` with the number of SQL
    /// statements the server ran for it, read from the server's request log.
    pub async fn ok_counting_statements(&self, token: &str, query: &str, variables: Value) -> (Value, u64) {
        self.ok_counting(token, query, variables, "db_statements").await
    }

    /// Like `ok_counting_statements`, counting only the statements run after the request's
    /// first write had ended (its COMMIT): what the answer still needed the database for.
    pub async fn ok_counting_statements_after_commit(
        &self,
        token: &str,
        query: &str,
        variables: Value,
    ) -> (Value, u64) {
        self.ok_counting(token, query, variables, "db_statements_after_commit")
            .await
    }

    async fn ok_counting(&self, token: &str, query: &str, variables: Value, count: &str) -> (Value, u64) {
        let request_id = format!("count-{}", Uuid::new_v4().simple());
        let body = self
            .gql_with_headers(Some(token), query, variables, &[("x-request-id", &request_id)])
            .await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        let logs = captured_logs();
        let line = logs
            .lines()
            .filter(|l| l.contains(&request_id) && l.contains("request done"))
            .find_map(|l| serde_json::from_str::<Value>(l).ok())
            .expect("the request's log line");
        let count = line[count].as_u64().unwrap_or_else(|| panic!("no {count} in {line}"));
        (body["data"].clone(), count)
    }

    /// Like `gql`, but the request must succeed; returns `data`.
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    pub async fn signup(&self, slug: &str) -> Tenant {
        let body = self
            .gql(
                None,
                "mutation($input: CreateTenantInput!) { createTenant(input: $input) { token tenant { id slug } user { id } } }",
                json!({ "input": {
                    "name": format!("Tenant {slug}"),
                    "slug": slug,
                    "adminEmail": format!("owner@{slug}.example.com"),
                    "adminPassword": "owner-password-1",
                }}),
            )
            .await;
        let out = &body["data"]["createTenant"];
        assert!(out.is_object(), "signup failed: {body}");
        Tenant {
            id: out["tenant"]["id"].as_str().unwrap().to_owned(),
            slug: slug.to_owned(),
            owner_id: out["user"]["id"].as_str().unwrap().to_owned(),
            token: out["token"].as_str().unwrap().to_owned(),
        }
    }

    /// Changes the tenant's settings (`UpdateTenantSettingsInput`) as its owner.
    pub async fn update_tenant_settings(&self, tenant: &Tenant, input: Value) {
        self.ok(
            &tenant.token,
            "mutation($input: UpdateTenantSettingsInput!) { updateTenantSettings(input: $input) { tenant { id } } }",
            json!({ "input": input }),
        )
        .await;
    }

    /// Adds a user with `role` to the tenant and returns (user id, token).
    pub async fn add_user(&self, tenant: &Tenant, role: &str, name: &str) -> (String, String) {
        let email = format!("{name}@{}.example.com", tenant.slug);
        let data = self
            .ok(
                &tenant.token,
                CREATE_USER,
                json!({ "input": { "email": email, "name": name, "role": role, "password": "user-password-1" } }),
            )
            .await;
        let id = data["createUser"]["user"]["id"].as_str().unwrap().to_owned();
        let login = self
            .gql(
                None,
                "mutation($input: LoginInput!) { login(input: $input) { token } }",
                json!({ "input": { "tenantSlug": tenant.slug, "email": email, "password": "user-password-1" } }),
            )
            .await;
        let token = login["data"]["login"]["token"]
            .as_str()
            .expect("login works")
            .to_owned();
        (id, token)
    }

    /// Creates an API key with `role`; returns (key id, secret).
    pub async fn create_api_key(&self, token: &str, role: &str) -> (String, String) {
        let data = self
            .ok(
                token,
                "mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }",
                json!({ "input": { "name": format!("{role} key"), "role": role } }),
            )
            .await;
        let key = &data["createApiKey"];
        (
            key["apiKey"]["id"].as_str().unwrap().to_owned(),
            key["secret"].as_str().unwrap().to_owned(),
        )
    }

    /// Creates a customer with `extra` input fields; returns the customer object.
    pub async fn create_customer(&self, token: &str, name: &str, extra: Value) -> Value {
        let mut input = json!({ "kind": "INDIVIDUAL", "name": name, "source": "ONLINE" });
        if let (Some(target), Some(more)) = (input.as_object_mut(), extra.as_object()) {
            for (k, v) in more {
                target.insert(k.clone(), v.clone());
            }
        }
        let data = self.ok(token, CREATE_CUSTOMER, json!({ "input": input })).await;
        data["createCustomer"]["customer"].clone()
    }

    /// The decrypt audit rows stored once this app has written the ones it queued (reading
    /// the audit log, as the admin behind `admin_token`, waits for them).
    pub async fn decrypt_audit_rows(&self, admin_token: &str) -> i64 {
        self.ok(
            admin_token,
            "{ auditLog(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
        self.raw_count("SELECT COUNT(*) FROM audit_log WHERE action = 'contact.decrypt'")
            .await
    }

    /// A direct connection to the app's database, to look at raw rows.
    pub async fn raw_db(&self) -> DatabaseConnection {
        Database::connect(&self.database_url)
            .await
            .expect("raw database connection")
    }

    pub async fn raw_count(&self, sql: &str) -> i64 {
        let db = self.raw_db().await;
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
            .await
            .expect("raw query")
            .expect("one row");
        let n: i64 = row.try_get_by_index(0).expect("a count");
        db.close().await.ok();
        n
    }

    /// The first column of every row of `sql`, as text.
    pub async fn raw_texts(&self, sql: &str) -> Vec<String> {
        let db = self.raw_db().await;
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql.to_owned()))
            .await
            .expect("raw query");
        db.close().await.ok();
        rows.iter()
            .map(|r| {
                r.try_get_by_index::<Option<String>>(0)
                    .expect("text")
                    .unwrap_or_default()
            })
            .collect()
    }

    /// Runs a raw statement against the app's database, as an intruder or operator would.
    pub async fn raw_execute(&self, sql: &str) {
        let db = self.raw_db().await;
        db.execute_unprepared(sql).await.expect("raw statement");
        db.close().await.ok();
    }

    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }

    pub fn backend(&self) -> DbBackend {
        if self.is_postgres() {
            DbBackend::Postgres
        } else {
            DbBackend::Sqlite
        }
    }
}

/// The customer fields the tests read back.
#[macro_export]
macro_rules! customer_fields {
    () => {
        "id code kind name companyName source firstContactDate status ownerId version archived \
         region industry notes budget { min max currency } tags { id name } statusHistory { from to note }"
    };
}

pub const CUSTOMER_FIELDS: &str = customer_fields!();

pub const CREATE_CUSTOMER: &str = concat!(
    "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { ",
    customer_fields!(),
    " } } }"
);

pub const UPDATE_CUSTOMER: &str = concat!(
    "mutation($input: UpdateCustomerInput!) { updateCustomer(input: $input) { customer { ",
    customer_fields!(),
    " } } }"
);

/// `extensions.code` of the first error.
pub fn error_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {body}"))
        .to_owned()
}

/// `extensions.code` of the first error, if there is one.
pub fn error_code_if_any(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

/// `extensions.field` of the first error.
pub fn error_field(body: &Value) -> String {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("expected a field: {body}"))
        .to_owned()
}

/// A unique slug for a test tenant.
pub fn slug(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..8])
}
