//! Builds the application from a `Config` and serves it: `/graphql`, `/health`, `/ready`.
//! Tests start the same thing on port 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use async_graphql_poem::{GraphQLRequest, GraphQLResponse};
use poem::http::{HeaderValue, StatusCode};
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::{Cors, SizeLimit};
use poem::web::{Data, Html, Json};
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server, get, handler};
use tracing::Instrument;

use crate::config::Config;
use crate::domain::Store;
use crate::domain::sessions::Authenticator;
use crate::domain::tenants::SignupPolicy;
use crate::graphql::{self, ApiContext, DossierSchema, Limits, RequestContext};

pub const REQUEST_ID_HEADER: &str = "x-request-id";
pub const PLATFORM_KEY_HEADER: &str = "x-dossier-platform-key";

struct AppState {
    schema: DossierSchema,
    store: Store,
    authenticator: Authenticator,
}

pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    state: Arc<AppState>,
    config: Config,
}

impl Application {
    /// Connects to the database, applies migrations (unless disabled) and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = Store::connect(&config).await?;
        if config.migrate_on_start {
            store.migrate().await?;
        }
        let authenticator = Authenticator::new(config.jwt_secret_or_generate()?, config.token_ttl);
        let api = ApiContext {
            store: store.clone(),
            authenticator: authenticator.clone(),
            signup: SignupPolicy {
                open: config.allow_signup,
                platform_key: config.platform_key.clone(),
            },
            max_page_size: config.max_page_size,
        };
        let limits = Limits {
            max_depth: config.graphql_max_depth,
            max_complexity: config.graphql_max_complexity,
            introspection: config.graphql_introspection,
        };
        let schema = graphql::build_schema(Some(api), limits);
        let acceptor = TcpListener::bind(config.listen_addr)
            .into_acceptor()
            .await
            .with_context(|| format!("Failed to listen on {}", config.listen_addr))?;
        let local_addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .context("Listener has no socket address")?;
        Ok(Self {
            acceptor,
            local_addr,
            state: Arc::new(AppState {
                schema,
                store,
                authenticator,
            }),
            config,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` resolves, then lets in-flight requests finish (up to the configured timeout).
    /// Background re-encryption runs beside it unless its interval is zero.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        let timeout = self.config.shutdown_timeout;
        let interval = self.config.reencrypt_interval;
        let worker = (!interval.is_zero())
            .then(|| tokio::spawn(crate::jobs::reencrypt::run_forever(self.state.store.clone(), interval)));
        let app = routes(self.state, &self.config);
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, signal, Some(timeout))
            .await;
        if let Some(worker) = worker {
            worker.abort();
        }
        served
    }
}

fn routes(state: Arc<AppState>, config: &Config) -> impl Endpoint + 'static {
    let graphql = get(graphiql).post(graphql_handler.with(SizeLimit::new(config.max_body_bytes)));
    let route = Route::new()
        .at("/graphql", graphql)
        .at("/health", get(health))
        .at("/ready", get(ready))
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
    async move {
        let started = Instant::now();
        let mut response = match ep.call(req).await {
            Ok(r) => r.into_response(),
            Err(e) => e.into_response(),
        };
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert(REQUEST_ID_HEADER, value);
        }
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request done"
        );
        Ok(response)
    }
    .instrument(span)
    .await
}

#[derive(Clone)]
struct RequestId(String);

#[handler]
async fn graphql_handler(req: &Request, state: Data<&Arc<AppState>>, gql: GraphQLRequest) -> GraphQLResponse {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_default();
    let bearer = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(|v| match v.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim().to_owned(),
            _ => v.trim().to_owned(),
        });
    let auth = match bearer {
        None => Ok(None),
        Some(token) => state
            .authenticator
            .authenticate(&state.store, &token, Some(request_id.clone()))
            .await
            .map(Some)
            .map_err(async_graphql::Error::from),
    };
    let platform_key = req
        .headers()
        .get(PLATFORM_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let context = RequestContext {
        request_id,
        auth,
        platform_key,
    };
    let mut response = state.schema.execute(gql.0.data(context)).await;
    graphql::errors::finalize(&mut response);
    GraphQLResponse(response)
}

#[handler]
fn graphiql() -> Html<&'static str> {
    Html(GRAPHIQL_PAGE)
}

/// The process is up.
#[handler]
fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// The process can serve: the database answers.
#[handler]
async fn ready(state: Data<&Arc<AppState>>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(serde_json::json!({ "status": "ready", "database": "up" })).into_response(),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness check failed");
            Json(serde_json::json!({ "status": "unavailable", "database": "down" }))
                .with_status(StatusCode::SERVICE_UNAVAILABLE)
                .into_response()
        }
    }
}

async fn shutdown_signal() {
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
    tracing::info!("shutting down: finishing in-flight requests");
}

const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Dossier GraphiQL</title>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
  <script>
    const fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, { fetcher, defaultEditorToolsVisibility: true })
    );
  </script>
</body>
</html>
"#;
