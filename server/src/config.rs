//! One typed configuration, read from `DOSSIER_*` variables (and optionally a file of them).
//! With nothing set, Dossier runs embedded: SQLite in the data directory, signup open.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

pub use crate::secret::Secret;

/// A rate limit: tokens per second and the burst a bucket holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    pub per_second: f64,
    pub burst: u32,
}

/// Where and how much to export spans.
#[derive(Debug, Clone)]
pub struct TraceExport {
    pub endpoint: String,
    pub service_name: String,
    pub sample_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Compact,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// A database URL may carry a password, so it is a secret too.
    pub database_url: Secret,
    pub db_max_connections: u32,
    /// Longest wait to open a database connection, and for a free one from the pool.
    pub db_connect_timeout: Duration,
    pub db_acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` and `lock_timeout` of every connection (0: none).
    pub db_statement_timeout: Duration,
    pub db_lock_timeout: Duration,
    /// Longest a GraphQL request may take before it is answered UNAVAILABLE.
    pub request_timeout: Duration,
    pub listen_addr: SocketAddr,
    /// Where `/metrics` (and `/health`) are served, apart from the API; `None`: not at all.
    pub metrics_listen_addr: Option<SocketAddr>,
    pub jwt_secret: Option<Secret>,
    /// `1:<base64>,2:<base64>`; the newest wraps new tenant keys.
    pub master_keys: Option<Secret>,
    pub reencrypt_interval: Duration,
    /// How long the decrypt audit rows of queries may wait before they are written.
    pub decrypt_audit_flush: Duration,
    pub reminder_plan_interval: Duration,
    pub reminder_send_interval: Duration,
    pub reminder_max_attempts: i32,
    pub reminder_lease: Duration,
    pub reminder_retry_base: Duration,
    pub smtp_url: Option<Secret>,
    pub smtp_from: String,
    pub smtp_timeout: Duration,
    pub frontend_url: String,
    pub token_ttl: Duration,
    pub allow_signup: bool,
    pub platform_key: Option<Secret>,
    pub cors_origins: Vec<String>,
    pub max_body_bytes: usize,
    pub graphql_max_depth: usize,
    pub graphql_max_complexity: usize,
    pub graphql_introspection: bool,
    /// Bounds checked before an operation is validated or executed.
    pub graphql_max_query_bytes: usize,
    pub graphql_max_tokens: usize,
    pub graphql_max_fragments: usize,
    pub graphql_max_expanded_fields: usize,
    pub graphql_max_aliases: usize,
    pub graphql_max_root_fields: usize,
    /// Whether `GET /graphql` serves the GraphiQL page.
    pub graphiql: bool,
    /// Proxies whose `X-Forwarded-For` names the client address.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    pub max_page_size: u64,
    pub custom_fields_per_entity: u32,
    pub shutdown_timeout: Duration,
    pub migrate_on_start: bool,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Where spans are exported over OTLP/HTTP; `None`: nowhere.
    pub traces: Option<TraceExport>,
    pub redis_url: Option<Secret>,
    pub redis_namespace: String,
    pub redis_timeout: Duration,
    pub tenant_limit: Limit,
    pub actor_limit: Limit,
    /// Failed sign-ins allowed per account, and per client address, each minute.
    pub login_failures_per_minute: u32,
    pub login_ip_failures_per_minute: u32,
    /// `DOSSIER_*` variables that mean nothing to Dossier (likely typos), to warn about once logging runs.
    pub unknown_variables: Vec<String>,
}

/// A whole SMTP exchange (one message) may take this many times `DOSSIER_SMTP_TIMEOUT_SECONDS`.
pub const SMTP_EXCHANGE_TIMEOUTS: u32 = 3;

/// Every variable Dossier reads, with its default and meaning; the README's table mirrors it.
pub const VARIABLES: &[(&str, &str, &str)] = &[
    (
        "DOSSIER_CONFIG_FILE",
        "(none)",
        "File of `DOSSIER_X=value` lines; real environment variables win",
    ),
    (
        "DOSSIER_DATA_DIR",
        ".",
        "Directory of the embedded SQLite database and generated secrets",
    ),
    (
        "DOSSIER_DATABASE_URL",
        "sqlite://<data dir>/dossier.db?mode=rwc",
        "`postgres://…` for PostgreSQL",
    ),
    ("DOSSIER_DB_MAX_CONNECTIONS", "10", "Connection pool size"),
    (
        "DOSSIER_DB_CONNECT_TIMEOUT_MS",
        "3000",
        "Longest wait to open a database connection",
    ),
    (
        "DOSSIER_DB_ACQUIRE_TIMEOUT_MS",
        "3000",
        "Longest wait for a free pooled connection before answering UNAVAILABLE",
    ),
    (
        "DOSSIER_DB_STATEMENT_TIMEOUT_MS",
        "10000",
        "PostgreSQL `statement_timeout` of every connection (0: none)",
    ),
    (
        "DOSSIER_DB_LOCK_TIMEOUT_MS",
        "3000",
        "PostgreSQL `lock_timeout` of every connection (0: none)",
    ),
    (
        "DOSSIER_REQUEST_TIMEOUT_SECONDS",
        "30",
        "Longest a GraphQL request may run before it is answered UNAVAILABLE",
    ),
    ("DOSSIER_LISTEN_ADDR", "127.0.0.1:8080", "Address the HTTP server binds"),
    (
        "DOSSIER_METRICS_LISTEN_ADDR",
        "(none: no metrics)",
        "Address serving `/metrics` (Prometheus) and `/health`, apart from the API",
    ),
    (
        "DOSSIER_JWT_SECRET",
        "generated into <data dir>/dossier.jwt-secret in embedded mode",
        "HMAC key for login tokens; required with PostgreSQL",
    ),
    (
        "DOSSIER_MASTER_KEYS",
        "generated into <data dir>/dossier.master-key in embedded mode",
        "Versioned master keys `1:<base64 of 32 bytes>,2:…`; the newest wraps tenant keys; required with PostgreSQL",
    ),
    (
        "DOSSIER_DECRYPT_AUDIT_FLUSH_MS",
        "100",
        "How long a query's decrypt audit row may wait before the replica writes it (a replica killed outright loses at most this much)",
    ),
    (
        "DOSSIER_REENCRYPT_INTERVAL_SECONDS",
        "30",
        "How often a server looks for contact data still under an old tenant key (0: never)",
    ),
    (
        "DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS",
        "60",
        "How often a server plans the reminder e-mails that have fallen due (0: never)",
    ),
    (
        "DOSSIER_REMINDER_SEND_INTERVAL_SECONDS",
        "5",
        "How often a server looks for reminder e-mails to send (0: never)",
    ),
    (
        "DOSSIER_REMINDER_MAX_ATTEMPTS",
        "8",
        "Attempts before a reminder is marked failed",
    ),
    (
        "DOSSIER_REMINDER_LEASE_SECONDS",
        "300",
        "How long a claimed reminder is a worker's before another may take it over; must exceed 3 × DOSSIER_SMTP_TIMEOUT_SECONDS",
    ),
    (
        "DOSSIER_REMINDER_RETRY_BASE_SECONDS",
        "30",
        "First retry delay; doubled per attempt (at most an hour), with jitter",
    ),
    (
        "DOSSIER_SMTP_URL",
        "(none: e-mails are written to the log)",
        "`smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://…:465` (TLS), `smtp://host:25` (none)",
    ),
    (
        "DOSSIER_SMTP_FROM",
        "Dossier <reminders@dossier.localhost>",
        "Sender of reminder e-mails; its domain also names Message-IDs",
    ),
    (
        "DOSSIER_SMTP_TIMEOUT_SECONDS",
        "10",
        "Seconds to connect to the SMTP server; a whole message gets three times as long",
    ),
    (
        "DOSSIER_FRONTEND_URL",
        "http://localhost:3000",
        "Hosted frontend; reminder e-mails link to `<url>/customers/<id>`",
    ),
    ("DOSSIER_TOKEN_TTL_MINUTES", "720", "Lifetime of login tokens"),
    (
        "DOSSIER_ALLOW_SIGNUP",
        "true with SQLite, false otherwise",
        "Whether `createTenant` is open to anyone",
    ),
    (
        "DOSSIER_PLATFORM_KEY",
        "(none)",
        "Sent as `X-Dossier-Platform-Key`, allows `createTenant` when signup is closed",
    ),
    (
        "DOSSIER_CORS_ORIGINS",
        "(none)",
        "Comma-separated origins allowed to call the API from a browser",
    ),
    ("DOSSIER_MAX_BODY_BYTES", "1048576", "Largest request body accepted"),
    ("DOSSIER_GRAPHQL_MAX_DEPTH", "12", "Deepest query accepted"),
    (
        "DOSSIER_GRAPHQL_MAX_COMPLEXITY",
        "5000",
        "Most complex query accepted (lists count by page size)",
    ),
    (
        "DOSSIER_GRAPHQL_INTROSPECTION",
        "true with SQLite, false otherwise",
        "Whether the schema can be introspected (and errors suggest field names)",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_QUERY_BYTES",
        "65536",
        "Longest GraphQL document accepted",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_TOKENS",
        "10000",
        "Most lexical tokens in a GraphQL document",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_FRAGMENTS",
        "100",
        "Most fragment definitions in a GraphQL document",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_EXPANDED_FIELDS",
        "2000",
        "Most field selections of an operation with every fragment spread expanded",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_ALIASES",
        "50",
        "Most aliased fields in an operation",
    ),
    (
        "DOSSIER_GRAPHQL_MAX_ROOT_FIELDS",
        "50",
        "Most top-level fields in an operation",
    ),
    (
        "DOSSIER_GRAPHIQL",
        "true with SQLite, false otherwise",
        "Whether `GET /graphql` serves the GraphiQL page",
    ),
    (
        "DOSSIER_TRUSTED_PROXIES",
        "(none)",
        "Comma-separated proxy addresses whose `X-Forwarded-For` is believed",
    ),
    ("DOSSIER_MAX_PAGE_SIZE", "100", "Largest `first`/`last` of a connection"),
    (
        "DOSSIER_CUSTOM_FIELDS_PER_ENTITY",
        "100",
        "Most custom fields a tenant may define for one kind of record (archived ones count)",
    ),
    (
        "DOSSIER_SHUTDOWN_TIMEOUT_SECONDS",
        "30",
        "How long in-flight requests may finish after SIGTERM",
    ),
    (
        "DOSSIER_MIGRATE_ON_START",
        "true",
        "Whether `serve` applies migrations before listening",
    ),
    (
        "DOSSIER_REDIS_URL",
        "(none: in-process limits and caches)",
        "`redis://…`: shared rate limits and cache invalidation",
    ),
    (
        "DOSSIER_REDIS_NAMESPACE",
        "dossier",
        "Prefix of Redis keys and of the `<namespace>:invalidate` channel",
    ),
    (
        "DOSSIER_REDIS_TIMEOUT_MS",
        "200",
        "Longest wait for Redis before falling back to the local limiter",
    ),
    (
        "DOSSIER_RATE_LIMIT_TENANT_PER_SECOND",
        "50",
        "Cost per second per tenant (an operation costs 1 per root field, 2 per mutation field, more when complex); plans may override",
    ),
    (
        "DOSSIER_RATE_LIMIT_TENANT_BURST",
        "100",
        "Requests a tenant may make at once",
    ),
    (
        "DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND",
        "20",
        "Requests per second per user, API key or anonymous client address",
    ),
    (
        "DOSSIER_RATE_LIMIT_ACTOR_BURST",
        "40",
        "Requests a user, API key or anonymous client may make at once",
    ),
    (
        "DOSSIER_LOGIN_FAILURES_PER_MINUTE",
        "5",
        "Failed sign-ins per account per minute before sign-in is refused for a while",
    ),
    (
        "DOSSIER_LOGIN_IP_FAILURES_PER_MINUTE",
        "20",
        "Failed sign-ins per client address per minute",
    ),
    ("DOSSIER_LOG", "info", "Log filter (tracing EnvFilter syntax)"),
    ("DOSSIER_LOG_FORMAT", "compact", "`compact` or `json`"),
    (
        "DOSSIER_OTLP_ENDPOINT",
        "(none: no traces)",
        "OTLP/HTTP collector base URL (`http://collector:4318`); spans go to `<url>/v1/traces` as JSON",
    ),
    (
        "DOSSIER_OTLP_SERVICE_NAME",
        "dossier",
        "`service.name` of the exported spans",
    ),
    (
        "DOSSIER_TRACE_SAMPLE_RATIO",
        "1.0",
        "Share of new traces exported (0 to 1); a caller's sampled `traceparent` is always followed",
    ),
];

impl Config {
    /// Reads the process environment, after the optional `DOSSIER_CONFIG_FILE`.
    pub fn from_env() -> anyhow::Result<Self> {
        let mut vars: BTreeMap<String, String> = BTreeMap::new();
        if let Ok(path) = std::env::var("DOSSIER_CONFIG_FILE") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("Failed to read config file {path}"))?;
            vars.extend(parse_env_file(&text).with_context(|| format!("Failed to parse config file {path}"))?);
        }
        vars.extend(std::env::vars().filter(|(k, _)| k.starts_with("DOSSIER_")));
        Self::from_vars(&vars)
    }

    pub fn from_vars(vars: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let unknown_variables = vars.keys().filter(|k| is_unknown_variable(k)).cloned().collect();
        let get = |key: &str| vars.get(key).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let data_dir = PathBuf::from(get("DOSSIER_DATA_DIR").unwrap_or_else(|| ".".into()));
        let database_url = get("DOSSIER_DATABASE_URL").unwrap_or_else(|| default_sqlite_url(&data_dir));
        let embedded = database_url.starts_with("sqlite:");
        if !embedded && !database_url.starts_with("postgres://") && !database_url.starts_with("postgresql://") {
            bail!("DOSSIER_DATABASE_URL must start with sqlite: or postgres://");
        }
        let jwt_secret = get("DOSSIER_JWT_SECRET").map(Secret::new);
        if let Some(secret) = &jwt_secret
            && secret.expose().len() < 32
        {
            bail!("DOSSIER_JWT_SECRET must be at least 32 characters");
        }
        let db_max_connections = parse(&get, "DOSSIER_DB_MAX_CONNECTIONS", 10)?;
        if db_max_connections < 2 {
            // Migrations hold a lock on one connection while applying on another.
            bail!("DOSSIER_DB_MAX_CONNECTIONS must be at least 2");
        }
        if !embedded && jwt_secret.is_none() {
            bail!("DOSSIER_JWT_SECRET is required when DOSSIER_DATABASE_URL is not SQLite");
        }
        let master_keys = get("DOSSIER_MASTER_KEYS").map(Secret::new);
        if !embedded && master_keys.is_none() {
            bail!("DOSSIER_MASTER_KEYS is required when DOSSIER_DATABASE_URL is not SQLite");
        }
        let reminder_lease = Duration::from_secs(parse(&get, "DOSSIER_REMINDER_LEASE_SECONDS", 300)?);
        let smtp_timeout = Duration::from_secs(parse(&get, "DOSSIER_SMTP_TIMEOUT_SECONDS", 10)?);
        let smtp_exchange = smtp_timeout * SMTP_EXCHANGE_TIMEOUTS;
        if reminder_lease <= smtp_exchange {
            // The lease must outlast a whole send, or another worker may take a reminder over
            // while its e-mail is still going out and send it again.
            bail!(
                "DOSSIER_REMINDER_LEASE_SECONDS ({} s) must be longer than one SMTP exchange may take \
                 ({SMTP_EXCHANGE_TIMEOUTS} × DOSSIER_SMTP_TIMEOUT_SECONDS = {} s), or a reminder could be sent twice",
                reminder_lease.as_secs_f64(),
                smtp_exchange.as_secs_f64()
            );
        }
        Ok(Self {
            data_dir,
            database_url: Secret::new(database_url),
            db_max_connections,
            db_connect_timeout: Duration::from_millis(parse(&get, "DOSSIER_DB_CONNECT_TIMEOUT_MS", 3000)?),
            db_acquire_timeout: Duration::from_millis(parse(&get, "DOSSIER_DB_ACQUIRE_TIMEOUT_MS", 3000)?),
            db_statement_timeout: Duration::from_millis(parse(&get, "DOSSIER_DB_STATEMENT_TIMEOUT_MS", 10_000)?),
            db_lock_timeout: Duration::from_millis(parse(&get, "DOSSIER_DB_LOCK_TIMEOUT_MS", 3000)?),
            request_timeout: Duration::from_secs(parse(&get, "DOSSIER_REQUEST_TIMEOUT_SECONDS", 30)?),
            listen_addr: parse(&get, "DOSSIER_LISTEN_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            metrics_listen_addr: get("DOSSIER_METRICS_LISTEN_ADDR")
                .map(|raw| raw.parse())
                .transpose()
                .map_err(|_| anyhow::anyhow!("DOSSIER_METRICS_LISTEN_ADDR has an invalid value"))?,
            jwt_secret,
            master_keys,
            reencrypt_interval: Duration::from_secs(parse(&get, "DOSSIER_REENCRYPT_INTERVAL_SECONDS", 30)?),
            decrypt_audit_flush: Duration::from_millis(parse(&get, "DOSSIER_DECRYPT_AUDIT_FLUSH_MS", 100u64)?.max(1)),
            reminder_plan_interval: Duration::from_secs(parse(&get, "DOSSIER_REMINDER_PLAN_INTERVAL_SECONDS", 60)?),
            reminder_send_interval: Duration::from_secs(parse(&get, "DOSSIER_REMINDER_SEND_INTERVAL_SECONDS", 5)?),
            reminder_max_attempts: parse(&get, "DOSSIER_REMINDER_MAX_ATTEMPTS", 8)?,
            reminder_lease,
            reminder_retry_base: Duration::from_secs(parse(&get, "DOSSIER_REMINDER_RETRY_BASE_SECONDS", 30)?),
            smtp_url: get("DOSSIER_SMTP_URL").map(Secret::new),
            smtp_from: get("DOSSIER_SMTP_FROM").unwrap_or_else(|| "Dossier <reminders@dossier.localhost>".into()),
            smtp_timeout,
            frontend_url: get("DOSSIER_FRONTEND_URL")
                .unwrap_or_else(|| "http://localhost:3000".into())
                .trim_end_matches('/')
                .to_owned(),
            token_ttl: Duration::from_secs(60 * parse::<u64>(&get, "DOSSIER_TOKEN_TTL_MINUTES", 720)?),
            allow_signup: parse(&get, "DOSSIER_ALLOW_SIGNUP", embedded)?,
            platform_key: get("DOSSIER_PLATFORM_KEY").map(Secret::new),
            cors_origins: get("DOSSIER_CORS_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: parse(&get, "DOSSIER_MAX_BODY_BYTES", 1024 * 1024)?,
            graphql_max_depth: parse(&get, "DOSSIER_GRAPHQL_MAX_DEPTH", 12)?,
            graphql_max_complexity: parse(&get, "DOSSIER_GRAPHQL_MAX_COMPLEXITY", 5000)?,
            graphql_introspection: parse(&get, "DOSSIER_GRAPHQL_INTROSPECTION", embedded)?,
            graphql_max_query_bytes: parse(&get, "DOSSIER_GRAPHQL_MAX_QUERY_BYTES", 64 * 1024)?,
            graphql_max_tokens: parse(&get, "DOSSIER_GRAPHQL_MAX_TOKENS", 10_000)?,
            graphql_max_fragments: parse(&get, "DOSSIER_GRAPHQL_MAX_FRAGMENTS", 100)?,
            graphql_max_expanded_fields: parse(&get, "DOSSIER_GRAPHQL_MAX_EXPANDED_FIELDS", 2000)?,
            graphql_max_aliases: parse(&get, "DOSSIER_GRAPHQL_MAX_ALIASES", 50)?,
            graphql_max_root_fields: parse(&get, "DOSSIER_GRAPHQL_MAX_ROOT_FIELDS", 50)?,
            graphiql: parse(&get, "DOSSIER_GRAPHIQL", embedded)?,
            trusted_proxies: get("DOSSIER_TRUSTED_PROXIES")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(|a| {
                            a.parse()
                                .map_err(|_| anyhow::anyhow!("DOSSIER_TRUSTED_PROXIES: {a} is not an IP address"))
                        })
                        .collect::<anyhow::Result<Vec<_>>>()
                })
                .transpose()?
                .unwrap_or_default(),
            max_page_size: parse(&get, "DOSSIER_MAX_PAGE_SIZE", 100)?,
            custom_fields_per_entity: parse(&get, "DOSSIER_CUSTOM_FIELDS_PER_ENTITY", 100)?,
            shutdown_timeout: Duration::from_secs(parse(&get, "DOSSIER_SHUTDOWN_TIMEOUT_SECONDS", 30)?),
            migrate_on_start: parse(&get, "DOSSIER_MIGRATE_ON_START", true)?,
            log_filter: get("DOSSIER_LOG").unwrap_or_else(|| "info".into()),
            traces: trace_export(&get)?,
            log_format: match get("DOSSIER_LOG_FORMAT").as_deref() {
                None | Some("compact") => LogFormat::Compact,
                Some("json") => LogFormat::Json,
                Some(other) => bail!("DOSSIER_LOG_FORMAT must be compact or json, not {other}"),
            },
            unknown_variables,
            redis_url: get("DOSSIER_REDIS_URL").map(Secret::new),
            redis_namespace: get("DOSSIER_REDIS_NAMESPACE").unwrap_or_else(|| "dossier".into()),
            redis_timeout: Duration::from_millis(parse(&get, "DOSSIER_REDIS_TIMEOUT_MS", 200)?),
            tenant_limit: Limit {
                per_second: parse(&get, "DOSSIER_RATE_LIMIT_TENANT_PER_SECOND", 50.0)?,
                burst: parse(&get, "DOSSIER_RATE_LIMIT_TENANT_BURST", 100)?,
            },
            actor_limit: Limit {
                per_second: parse(&get, "DOSSIER_RATE_LIMIT_ACTOR_PER_SECOND", 20.0)?,
                burst: parse(&get, "DOSSIER_RATE_LIMIT_ACTOR_BURST", 40)?,
            },
            login_failures_per_minute: parse(&get, "DOSSIER_LOGIN_FAILURES_PER_MINUTE", 5)?,
            login_ip_failures_per_minute: parse(&get, "DOSSIER_LOGIN_IP_FAILURES_PER_MINUTE", 20)?,
        })
    }

    pub fn is_embedded(&self) -> bool {
        self.database_url.expose().starts_with("sqlite:")
    }

    /// The JWT key: configured, or (embedded mode only) generated once and kept in the data dir.
    pub fn jwt_secret_or_generate(&self) -> anyhow::Result<Secret> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.clone());
        }
        load_or_create_secret_file(&self.data_dir.join("dossier.jwt-secret"), || {
            crate::secret::random_token(32)
        })
    }

    /// The master keys as configured, or (embedded mode only) generated once with `generate`
    /// into the data dir. Losing that file loses every tenant's contact data.
    pub fn master_key_spec(&self, generate: impl FnOnce() -> String) -> anyhow::Result<Secret> {
        match &self.master_keys {
            Some(keys) => Ok(keys.clone()),
            None => load_or_create_secret_file(&self.data_dir.join("dossier.master-key"), generate),
        }
    }
}

/// Kubernetes injects `<SERVICE>_PORT…` and `<SERVICE>_SERVICE_…` for a Service named
/// `dossier`, and tests use `DOSSIER_TEST_…`; anything else unknown is probably a typo.
fn is_unknown_variable(key: &str) -> bool {
    let ours = VARIABLES.iter().any(|(name, _, _)| *name == key);
    let foreign = key.starts_with("DOSSIER_TEST_")
        || key == "DOSSIER_PORT"
        || key.starts_with("DOSSIER_PORT_")
        || key.starts_with("DOSSIER_SERVICE_");
    key.starts_with("DOSSIER_") && !ours && !foreign
}

fn default_sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("dossier.db").display())
}

fn trace_export(get: &impl Fn(&str) -> Option<String>) -> anyhow::Result<Option<TraceExport>> {
    let Some(endpoint) = get("DOSSIER_OTLP_ENDPOINT") else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        bail!("DOSSIER_OTLP_ENDPOINT must be an http:// or https:// URL");
    }
    let sample_ratio: f64 = parse(get, "DOSSIER_TRACE_SAMPLE_RATIO", 1.0)?;
    if !(0.0..=1.0).contains(&sample_ratio) {
        bail!("DOSSIER_TRACE_SAMPLE_RATIO must be between 0 and 1");
    }
    Ok(Some(TraceExport {
        endpoint,
        service_name: get("DOSSIER_OTLP_SERVICE_NAME").unwrap_or_else(|| "dossier".into()),
        sample_ratio,
    }))
}

fn parse<T: std::str::FromStr>(get: &impl Fn(&str) -> Option<String>, key: &str, default: T) -> anyhow::Result<T> {
    match get(key) {
        None => Ok(default),
        Some(raw) => raw.parse().map_err(|_| anyhow::anyhow!("{key} has an invalid value")),
    }
}

/// `KEY=value` lines; blank lines and `#` comments are ignored, values may be quoted.
fn parse_env_file(text: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("line {} is not KEY=value", n + 1);
        };
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        out.push((key.trim().to_owned(), value.to_owned()));
    }
    Ok(out)
}

fn load_or_create_secret_file(path: &Path, generate: impl FnOnce() -> String) -> anyhow::Result<Secret> {
    if let Ok(existing) = std::fs::read_to_string(path) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            return Ok(Secret::new(existing));
        }
        bail!("{} is too short to be a secret", path.display());
    }
    let secret = generate();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("Failed to create {}", dir.display()))?;
    }
    write_private_file(path, &secret).with_context(|| format!("Failed to write {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "generated a secret for embedded mode and stored it in this file (mode 0600); back it up, \
         and in production set DOSSIER_JWT_SECRET and DOSSIER_MASTER_KEYS instead"
    );
    Ok(Secret::new(secret))
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn no_variables_mean_embedded_mode_with_open_signup() {
        let config = Config::from_vars(&BTreeMap::new()).unwrap();
        assert!(config.is_embedded());
        assert!(config.allow_signup);
        assert_eq!(config.database_url.expose(), "sqlite://./dossier.db?mode=rwc");
        assert_eq!(config.max_page_size, 100);
    }

    #[test]
    fn postgres_closes_signup_and_needs_a_jwt_secret() {
        let err = Config::from_vars(&vars(&[("DOSSIER_DATABASE_URL", "postgres://u:pw@h/db")])).unwrap_err();
        assert!(err.to_string().contains("DOSSIER_JWT_SECRET"));
        let config = Config::from_vars(&vars(&[
            ("DOSSIER_DATABASE_URL", "postgres://u:pw@h/db"),
            ("DOSSIER_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
            // Only required here; the key ring parses it (its own tests cover the format).
            ("DOSSIER_MASTER_KEYS", "1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYzI="),
        ]))
        .unwrap();
        assert!(!config.allow_signup);
    }

    #[test]
    fn unknown_variables_are_reported_but_kubernetes_service_variables_are_not() {
        let config = Config::from_vars(&vars(&[
            ("DOSSIER_DATABSE_URL", "x"),
            ("DOSSIER_PORT", "tcp://10.0.0.1:80"),
            ("DOSSIER_PORT_80_TCP_ADDR", "10.0.0.1"),
            ("DOSSIER_SERVICE_HOST", "10.0.0.1"),
            ("DOSSIER_TEST_DATABASE_URL", "postgres://x"),
        ]))
        .unwrap();
        assert_eq!(config.unknown_variables, vec!["DOSSIER_DATABSE_URL".to_owned()]);
    }

    #[test]
    fn secrets_do_not_print() {
        let config = Config::from_vars(&vars(&[
            ("DOSSIER_DATABASE_URL", "postgres://u:hunter2@h/db"),
            ("DOSSIER_JWT_SECRET", "0123456789abcdef0123456789abcdef-top"),
            ("DOSSIER_MASTER_KEYS", "1:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYzI="),
        ]))
        .unwrap();
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("abcdef-top"));
        assert!(!shown.contains("c2VjcmV0"));
    }

    #[test]
    fn env_file_lines_parse_with_comments_and_quotes() {
        let parsed = parse_env_file("# c\nDOSSIER_LOG=\"debug\"\n\nDOSSIER_MAX_PAGE_SIZE = 50\n").unwrap();
        assert_eq!(
            parsed,
            vec![
                ("DOSSIER_LOG".into(), "debug".into()),
                ("DOSSIER_MAX_PAGE_SIZE".into(), "50".into())
            ]
        );
        assert!(parse_env_file("nonsense").is_err());
    }
}
