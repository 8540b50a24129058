//! Builds the application from a `Config` and serves it: `/graphql`, `/health`, `/ready`.
//! Tests start the same thing on port 0.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_graphql::parser::types::DocumentOperations;
use async_graphql_poem::{GraphQLRequest, GraphQLResponse};
use poem::http::{HeaderValue, StatusCode};
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::{Cors, SizeLimit};
use poem::web::{Data, Html, Json};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};
use tracing::Instrument;

use crate::cache::{Decision, Limit};
use crate::config::Config;
use crate::domain::Store;
use crate::domain::authentication::{Authenticator, LoginLimits};
use crate::domain::reminders::test_email::TestEmails;
use crate::domain::tenants;
use crate::domain::tenants::SignupPolicy;
use crate::graphql::{self, ApiContext, DossierSchema, Limits, RequestContext};
use crate::monitoring::{self, MetricsListener};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const PLATFORM_KEY_HEADER: &str = "x-dossier-platform-key";

struct AppState {
    schema: DossierSchema,
    store: Store,
    authenticator: Authenticator,
    tenant_limit: Limit,
    actor_limit: Limit,
    bounds: graphql::cost::Bounds,
    trusted_proxies: Vec<IpAddr>,
    request_timeout: Duration,
}

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    metrics: Option<MetricsListener>,
    state: Arc<AppState>,
    config: Config,
    delivery: crate::jobs::reminder_delivery::Delivery,
}

impl Application {
    /// Connects to the database, applies migrations (unless disabled) and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config).await?;
        if config.migrate_on_start {
            store.migrate().await?;
        }
        let login_limits =
            LoginLimits::per_minute(config.login_failures_per_minute, config.login_ip_failures_per_minute);
        let authenticator =
            Authenticator::new(config.jwt_secret_or_generate()?, config.token_ttl, &store, login_limits);
        // Built now so that a bad SMTP URL or sender stops the start, not the first reminder.
        let delivery = crate::jobs::reminder_delivery::Delivery::from_config(store.clone(), &config)?;
        let api = ApiContext {
            store: store.clone(),
            authenticator: authenticator.clone(),
            signup: SignupPolicy {
                open: config.allow_signup,
                platform_key: config.platform_key.clone(),
            },
            max_page_size: config.max_page_size,
            test_emails: TestEmails::new(Arc::new(delivery.postbox())),
        };
        let limits = Limits {
            max_depth: config.graphql_max_depth,
            max_complexity: config.graphql_max_complexity,
            introspection: config.graphql_introspection,
        };
        let schema = graphql::build_schema(Some(api), limits);
        let (acceptor, local_addr) = bind(config.listen_addr, "Failed to listen on").await?;
        let metrics = MetricsListener::from_config(&config).await?;
        let state = AppState {
            schema,
            store,
            authenticator,
            tenant_limit: config.tenant_limit,
            actor_limit: config.actor_limit,
            bounds: graphql::cost::Bounds::from_config(&config),
            trusted_proxies: config.trusted_proxies.clone(),
            request_timeout: config.request_timeout,
        };
        Ok(Self {
            acceptor,
            local_addr,
            metrics,
            state: Arc::new(state),
            config,
            delivery,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsListener::local_addr)
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal("shutting down: finishing in-flight requests"))
            .await
    }

    /// Serves until `signal` resolves, then lets in-flight requests finish (up to the configured timeout).
    /// Background re-encryption and reminder planning run beside it unless their interval is zero.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        let timeout = self.config.shutdown_timeout;
        let background = crate::jobs::Background::start(&self.state.store, &self.config, self.delivery);
        // The metrics stay up while the API drains, so the last of its figures can be scraped.
        let metrics = self.metrics.map(|listener| listener.spawn(self.state.store.clone()));
        let app = routes(self.state, &self.config);
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, signal, Some(timeout))
            .await;
        background.stop(timeout).await;
        if let Some(metrics) = metrics {
            metrics.stop().await;
        }
        served
    }
}

/// Binds `addr` now, so that a taken port stops the start; `failure` opens the error.
pub(crate) async fn bind(addr: SocketAddr, failure: &str) -> anyhow::Result<(TcpAcceptor, SocketAddr)> {
    let acceptor = TcpListener::bind(addr)
        .into_acceptor()
        .await
        .with_context(|| format!("{failure} {addr}"))?;
    let local_addr = acceptor
        .local_addr()
        .first()
        .and_then(|a| a.as_socket_addr().copied())
        .context("Listener has no socket address")?;
    Ok((acceptor, local_addr))
}

fn routes(state: Arc<AppState>, config: &Config) -> impl Endpoint + 'static {
    let post = graphql_handler
        .with(SizeLimit::new(config.max_body_bytes))
        .around(json_only)
        .around(api_headers);
    let graphql = if config.graphiql {
        get(graphiql).post(post)
    } else {
        poem::post(post)
    };
    let route = Route::new()
        .at("/graphql", graphql)
        .at("/health", get(crate::monitoring::health))
        .at("/ready", get(ready))
        .at("/health/details", get(health_details))
        .data(state);
    let cors = (!config.cors_origins.is_empty()).then(|| Cors::new().allow_origins(config.cors_origins.clone()));
    route
        .with_if(cors.is_some(), cors.unwrap_or_default())
        .around(with_request_id)
}

/// Gives every request an id (the caller's `x-request-id` if it is sane), logs it on every
/// line of the request's span, and returns it in the response header.
async fn with_request_id<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let span =
        tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.uri().path());
    crate::telemetry::continue_trace(&span, req.headers());
    let traceparent = crate::telemetry::traceparent(&span);
    async move {
        let started = Instant::now();
        let (response, db_statements) = crate::domain::statements::counted(ep.call(req)).await;
        let mut response = match response {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        if let Some(value) = traceparent.and_then(|t| HeaderValue::from_str(&t).ok()) {
            response.headers_mut().insert("traceresponse", value);
        }
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            db_statements = db_statements.total,
            db_statements_after_commit = db_statements.after_commit,
            "request done"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

#[derive(Clone)]
struct RequestId(String);

/// Only JSON bodies are GraphQL requests: a form or `text/plain` post is what a browser sends
/// cross-site without asking, so executing it would let any page run anonymous mutations.
async fn json_only<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let is_json = req
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .is_some_and(|media| {
            matches!(
                media.as_str(),
                "application/json" | "application/graphql-response+json" | "application/graphql+json"
            )
        });
    if !is_json {
        let body = serde_json::json!({
            "data": null,
            "errors": [{
                "message": "send GraphQL requests as application/json",
                "extensions": { "code": "VALIDATION", "field": "content-type" }
            }]
        });
        return Ok(Json(body)
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE)
            .into_response());
    }
    Ok(ep.call(req).await?.into_response())
}

/// API answers are data for one caller: never sniffed as another type, never cached.
async fn api_headers<E: Endpoint>(ep: Arc<E>, req: Request) -> poem::Result<Response> {
    let mut response = match ep.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => e.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The caller's address: the peer's, or, when the peer is a trusted proxy, the last address
/// in `X-Forwarded-For` that is not itself a trusted proxy.
fn client_address(req: &Request, trusted: &[IpAddr]) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|a| a.ip())?;
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in forwarded.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !trusted.contains(&ip) {
                    break;
                }
            }
            // A hop we cannot read ends what we can believe.
            Err(_) => break,
        }
    }
    Some(client)
}

/// A refusal before execution, as a GraphQL answer.
fn refused(message: String) -> Response {
    let body = serde_json::json!({
        "data": null,
        "errors": [{ "message": message, "extensions": { "code": "VALIDATION" } }]
    });
    Json(body).into_response()
}

/// Bounds the operation (linear work, memoised per fragment) and hands the parsed document
/// on, so that it is parsed once. Also gives the operation's name: the request's, or that of
/// the document's only operation.
fn check_operation(
    request: &mut async_graphql::Request,
    bounds: &graphql::cost::Bounds,
) -> Result<(graphql::cost::Cost, Option<String>), String> {
    let checked =
        graphql::cost::check(&request.query, request.operation_name.as_deref(), bounds).map_err(|refusal| refusal.0)?;
    let mut name = request.operation_name.clone();
    if let Some(document) = checked.document {
        if let (None, DocumentOperations::Multiple(operations)) = (&name, &document.operations)
            && operations.len() == 1
        {
            name = operations.keys().next().map(ToString::to_string);
        }
        request.set_parsed_query(document);
    }
    Ok((checked.cost, name))
}

#[handler]
async fn graphql_handler(req: &Request, state: Data<&Arc<AppState>>, gql: GraphQLRequest) -> Response {
    let started = Instant::now();
    let mut gql = gql.0;
    let (cost, operation) = match check_operation(&mut gql, &state.bounds) {
        Ok((cost, name)) => (cost, monitoring::operation_label(name.as_deref())),
        Err(message) => {
            let operation = monitoring::operation_label(gql.operation_name.as_deref());
            monitoring::record_request(&operation, "VALIDATION", &["VALIDATION"], started.elapsed());
            return refused(message);
        }
    };
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let auth = match bearer_token(req) {
        None => Ok(None),
        Some(token) => state
            .authenticator
            .authenticate(&state.store, &token, Some(request_id.clone()))
            .await
            .map(Some)
            .map_err(async_graphql::Error::from),
    };
    let client_ip = client_address(req, &state.trusted_proxies);
    let decision = match check_limits(
        &state,
        auth.as_ref().ok().and_then(Option::as_ref),
        client_ip,
        cost.units(),
    )
    .await
    {
        Ok(decision) => decision,
        Err(refused) => {
            monitoring::record_request(&operation, "RATE_LIMITED", &["RATE_LIMITED"], started.elapsed());
            return too_many_requests(refused);
        }
    };
    let platform_key = req
        .headers()
        .get(PLATFORM_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let reads = graphql::reads::Reads::for_operation(cost.mutation);
    let context = RequestContext {
        request_id,
        auth,
        platform_key,
        client_ip,
        facts: Default::default(),
        reads: reads.clone(),
    };
    let execution = state.schema.execute(gql.data(context));
    // A read is cut off at the deadline; a mutation is not, since it may be committing: each of
    // its statements is bounded by the database timeouts instead, and its answer tells the truth.
    let mut timed_out = false;
    let mut response = if cost.mutation {
        execution.await
    } else {
        match tokio::time::timeout(state.request_timeout, execution).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!("request exceeded its deadline");
                timed_out = true;
                async_graphql::Response::from_errors(vec![
                    async_graphql::Error::from(crate::domain::DomainError::Unavailable(anyhow::anyhow!(
                        "request deadline exceeded"
                    )))
                    .into_server_error(async_graphql::Pos::default()),
                ])
            }
        }
    };
    // A read cut off may have left a statement running on the shared transaction: committing
    // it would wait for that statement. Nothing of it is sent, so it is dropped (rolled back).
    if timed_out {
        drop(reads);
    } else if let Err(failed) = reads.finish().await {
        // What was read may not be sent: its audit of decrypted data did not commit.
        response = async_graphql::Response::from_errors(vec![
            async_graphql::Error::from(failed).into_server_error(async_graphql::Pos::default()),
        ]);
    }
    graphql::errors::finalize(&mut response);
    let codes = graphql::errors::error_codes(&response);
    monitoring::record_request(
        &operation,
        codes.first().copied().unwrap_or("OK"),
        &codes,
        started.elapsed(),
    );
    let unavailable = graphql::errors::is_unavailable(&response);
    let mut http = GraphQLResponse(response).into_response();
    if unavailable {
        http.set_status(StatusCode::SERVICE_UNAVAILABLE);
        let wait = crate::domain::error::UNAVAILABLE_RETRY_AFTER.as_secs().max(1);
        http.headers_mut().insert("retry-after", HeaderValue::from(wait));
    }
    rate_limit_headers(&mut http, &decision);
    http
}

/// The credential of `Authorization: Bearer …` (the scheme in any case; a bare token is accepted too).
fn bearer_token(req: &Request) -> Option<String> {
    let value = req.headers().get("authorization")?.to_str().ok()?;
    Some(match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_owned(),
        _ => value.trim().to_owned(),
    })
}

/// Spends `cost` from the tenant's and the caller's budgets (or the client address's, for
/// anonymous calls). `Err` carries the refusal with the longest wait.
async fn check_limits(
    state: &AppState,
    scope: Option<&crate::tenancy::TenantScope>,
    client_ip: Option<IpAddr>,
    cost: u32,
) -> Result<Decision, Decision> {
    let limiter = &state.store.shared().limiter;
    // An operation dearer than a whole burst costs the whole burst: refusing it forever would
    // make the largest allowed operations impossible rather than merely slow.
    let charge = |limit: Limit| cost.min(limit.burst.max(1));
    let decisions = match scope {
        Some(scope) => {
            let plan = tenants::limit_override(&state.store, scope.tenant_id())
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = ?e, "could not read the tenant's plan; using the default limit");
                    None
                });
            let plan = plan.unwrap_or(state.tenant_limit);
            let tenant = limiter
                .check(&format!("tenant:{}", scope.tenant_id()), plan, charge(plan))
                .await;
            let who = scope.actor().api_key_id.unwrap_or(scope.actor().user_id);
            let actor = limiter
                .check(&format!("actor:{who}"), state.actor_limit, charge(state.actor_limit))
                .await;
            vec![("tenant", tenant), ("actor", actor)]
        }
        None => {
            let address = client_ip.map_or_else(|| "unknown".to_owned(), crate::cache::limiter::address_key);
            let anonymous = limiter
                .check(
                    &format!("anonymous:{address}"),
                    state.actor_limit,
                    charge(state.actor_limit),
                )
                .await;
            vec![("anonymous", anonymous)]
        }
    };
    for (budget, decision) in &decisions {
        if !decision.allowed {
            monitoring::record_rate_limit_refusal(budget);
        }
    }
    let (refusals, allowed): (Vec<Decision>, Vec<Decision>) =
        decisions.into_iter().map(|(_, d)| d).partition(|d| !d.allowed);
    match refusals.into_iter().max_by_key(|d| d.retry_after) {
        Some(refused) => Err(refused),
        // Report the tightest budget (there is always at least one).
        None => Ok(allowed.into_iter().min_by_key(|d| d.remaining).unwrap_or(Decision {
            allowed: true,
            retry_after: Duration::ZERO,
            remaining: u32::MAX,
            reset: Duration::ZERO,
        })),
    }
}

fn rate_limit_headers(response: &mut Response, decision: &Decision) {
    let headers = response.headers_mut();
    let seconds = |d: std::time::Duration| HeaderValue::from(d.as_secs_f64().ceil() as u64);
    headers.insert("ratelimit-remaining", HeaderValue::from(decision.remaining));
    headers.insert("ratelimit-reset", seconds(decision.reset));
}

fn too_many_requests(refused: Decision) -> Response {
    let retry_ms = refused.retry_after.as_millis() as u64;
    let body = serde_json::json!({
        "data": null,
        "errors": [{
            "message": "too many requests; slow down",
            "extensions": { "code": "RATE_LIMITED", "retryAfterMs": retry_ms }
        }]
    });
    let mut response = Json(body).with_status(StatusCode::TOO_MANY_REQUESTS).into_response();
    rate_limit_headers(&mut response, &refused);
    response.headers_mut().insert(
        "retry-after",
        HeaderValue::from(refused.retry_after.as_secs_f64().ceil().max(1.0) as u64),
    );
    response
}

#[handler]
fn graphiql() -> Response {
    let mut response = Html(graphiql_page()).into_response();
    if let Ok(policy) = HeaderValue::from_str(&graphiql_policy()) {
        response.headers_mut().insert("content-security-policy", policy);
    }
    response
        .headers_mut()
        .insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

fn redis_state(store: &Store) -> &'static str {
    match &store.shared().link {
        None => "disabled",
        Some(link) if link.is_up() => "up",
        Some(_) => "down",
    }
}

/// The process can serve: the database answers within a second (`Store::ping`). Redis is
/// reported but not required, since without it limits and caches fall back to this process.
#[handler]
async fn ready(state: Data<&Arc<AppState>>) -> Response {
    let redis = redis_state(&state.store);
    let ping = state.store.ping().await;
    match ping {
        Ok(()) => Json(serde_json::json!({ "status": "ready", "database": "up", "redis": redis })).into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness check failed");
            Json(serde_json::json!({ "status": "unavailable", "database": "down", "redis": redis }))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}

/// For admins: the state of each dependency and of the fallbacks.
#[handler]
async fn health_details(req: &Request, state: Data<&Arc<AppState>>) -> Response {
    let scope = match bearer_token(req) {
        Some(token) => state.authenticator.authenticate(&state.store, &token, None).await.ok(),
        None => None,
    };
    if !scope.is_some_and(|s| s.is_at_least(crate::tenancy::Role::Admin)) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let shared = state.store.shared();
    let database = if state.store.ping().await.is_ok() { "up" } else { "down" };
    let fallbacks = shared
        .link
        .as_ref()
        .map_or(0, |l| l.fallbacks.load(std::sync::atomic::Ordering::Relaxed));
    let limiter = match (&shared.link, redis_state(&state.store)) {
        (None, _) => "local",
        (Some(_), "up") => "shared",
        (Some(_), _) => "local (fallback)",
    };
    Json(serde_json::json!({
        "database": database,
        "redis": redis_state(&state.store),
        "rateLimiter": limiter,
        "redisFallbacks": fallbacks,
    }))
    .into_response()
}

/// Resolves on SIGTERM or Ctrl-C, after logging `farewell`.
pub async fn shutdown_signal(farewell: &str) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("{farewell}");
}

/// The inline script that starts GraphiQL; the content-security policy allows it by hash.
const GRAPHIQL_START: &str = "const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true })
);";

/// GraphiQL from a CDN, each file pinned by version and by its subresource-integrity hash,
/// so that a changed file on the CDN is refused by the browser rather than run.
fn graphiql_page() -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dossier GraphiQL</title>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3.9.0/graphiql.min.css"
        integrity="sha384-QMux00XgRtwRLSYIY3kw2rj1ovk5AuuliAchk+HSQbqdbGFnz9GYuqIlOqxhwCE2" crossorigin="anonymous">
</head>
<body style="margin: 0; height: 100vh">
  <div id="graphiql" style="height: 100vh">Loading GraphiQL…</div>
  <script src="https://unpkg.com/react@18.3.1/umd/react.production.min.js"
          integrity="sha384-DGyLxAyjq0f9SPpVevD6IgztCFlnMF6oW/XQGmfe+IsZ8TqEiDrcHkMLKI6fiB/Z" crossorigin="anonymous"></script>
  <script src="https://unpkg.com/react-dom@18.3.1/umd/react-dom.production.min.js"
          integrity="sha384-gTGxhz21lVGYNMcdJOyq01Edg0jhn/c22nsx0kyqP0TxaV5WVdsSH1fSDUf5YJj1" crossorigin="anonymous"></script>
  <script src="https://unpkg.com/graphiql@3.9.0/graphiql.min.js"
          integrity="sha384-8NGfVj4CVlqHajlZj+bPJT4thxPMHMJYn7DWK2CvtopLd02E7qsPHazniBYvVjOO" crossorigin="anonymous"></script>
  <script>{GRAPHIQL_START}</script>
</body>
</html>
"#
    )
}

/// Scripts only from the pinned CDN files and the one inline start script; requests only to
/// this origin; no framing.
fn graphiql_policy() -> String {
    use base64::Engine;
    use sha2::Digest;
    let start = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(GRAPHIQL_START.as_bytes()));
    format!(
        "default-src 'none'; script-src https://unpkg.com 'sha256-{start}'; \
         style-src https://unpkg.com 'unsafe-inline'; font-src https://unpkg.com data:; img-src 'self' data:; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}
