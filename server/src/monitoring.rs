//! Figures for Prometheus, recorded through the `metrics` facade and served on a listener of
//! their own (`DOSSIER_METRICS_LISTEN_ADDR`), apart from the public API, so an ingress that
//! routes the API never exposes them. No label carries tenant data: operation names are the
//! clients' own identifiers (bounded in number), codes and states are closed sets.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use poem::listener::TcpAcceptor;
use poem::web::{Data, Json};
use poem::{EndpointExt, IntoResponse, Response, Route, Server, get, handler};

use crate::domain::Store;
use crate::domain::reminders::manage::installation_stats;

/// Bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Distinct operation names kept as labels; later ones are counted as `other`, so a client
/// inventing names cannot grow the exposition without bound.
const MAX_OPERATION_NAMES: usize = 200;
/// Histograms are folded this often when nobody scrapes, so their samples never pile up.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
static OPERATION_NAMES: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();

/// Installs the process-wide recorder once (the first listener asks for it); until then the
/// `metrics` macros cost nothing.
fn recorder() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .and_then(PrometheusBuilder::install_recorder);
            match installed {
                Ok(handle) => {
                    describe();
                    gauge!("dossier_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
                    let upkeep = handle.clone();
                    // A thread rather than a task: it outlives whichever runtime installed it.
                    std::thread::spawn(move || {
                        loop {
                            std::thread::sleep(UPKEEP_INTERVAL);
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::error!(error = %e, "metrics: could not install the recorder; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    describe_counter!(
        "dossier_graphql_requests_total",
        "GraphQL requests by operation and outcome"
    );
    describe_histogram!(
        "dossier_graphql_request_duration_seconds",
        metrics::Unit::Seconds,
        "Time to answer a GraphQL request, by operation and outcome"
    );
    describe_counter!("dossier_graphql_errors_total", "Errors in GraphQL answers, by code");
    describe_counter!(
        "dossier_rate_limit_refusals_total",
        "Requests refused by a rate limit, by budget"
    );
    describe_gauge!("dossier_db_pool_connections", "Pooled database connections by state");
    describe_gauge!("dossier_db_pool_max_connections", "Largest size of the connection pool");
    describe_gauge!(
        "dossier_db_pool_waiting",
        "Transactions waiting for a pooled connection"
    );
    describe_gauge!(
        "dossier_database_up",
        "Whether the database answered the last scrape's ping"
    );
    describe_gauge!(
        "dossier_redis_up",
        "Whether Redis answers (absent when Redis is not configured)"
    );
    describe_counter!(
        "dossier_redis_fallbacks_total",
        "Redis calls that failed (limits and caches then fall back to this process)"
    );
    describe_counter!(
        "dossier_reencrypted_rows_total",
        "Rows moved to their tenant's newest data key"
    );
    describe_gauge!(
        "dossier_reencryption_backlog_rows",
        "Rows left on an older data key after the latest re-encryption round"
    );
    describe_counter!("dossier_reminders_planned_total", "Reminders this process planned");
    describe_counter!("dossier_reminders_sent_total", "Reminder e-mails this process sent");
    describe_counter!(
        "dossier_reminders_retried_total",
        "Reminder attempts this process will retry"
    );
    describe_counter!("dossier_reminders_failed_total", "Reminders this process gave up on");
    describe_gauge!(
        "dossier_reminders",
        "Reminders in the outbox by status, over all tenants"
    );
    describe_gauge!(
        "dossier_reminders_oldest_due_age_seconds",
        "How long the oldest due, unsent reminder has waited"
    );
    describe_gauge!("dossier_build_info", "The running build");
}

/// The label of an operation: its name when it has a plain one, else `anonymous` (and nothing
/// at all while no recorder is installed).
pub fn operation_label(name: Option<&str>) -> String {
    // Without a recorder nothing is counted: spare every request the shared set.
    if !RECORDER.get().is_some_and(Option::is_some) {
        return String::new();
    }
    let Some(name) = name.filter(|n| {
        !n.is_empty()
            && n.len() <= 64
            && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            && !n.as_bytes()[0].is_ascii_digit()
    }) else {
        return "anonymous".to_owned();
    };
    let mut known = OPERATION_NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if known.contains(name) || (known.len() < MAX_OPERATION_NAMES && known.insert(name.to_owned())) {
        name.to_owned()
    } else {
        "other".to_owned()
    }
}

/// One answered GraphQL request: `outcome` is `OK` or the code of its first error.
pub fn record_request(operation: &str, outcome: &str, error_codes: &[&str], elapsed: Duration) {
    let labels = [("operation", operation.to_owned()), ("outcome", outcome.to_owned())];
    counter!("dossier_graphql_requests_total", &labels).increment(1);
    histogram!("dossier_graphql_request_duration_seconds", &labels).record(elapsed.as_secs_f64());
    for code in error_codes {
        counter!("dossier_graphql_errors_total", "code" => (*code).to_owned()).increment(1);
    }
}

/// A request refused by the `budget` (`tenant`, `actor` or `anonymous`) rate limit.
pub fn record_rate_limit_refusal(budget: &'static str) {
    counter!("dossier_rate_limit_refusals_total", "budget" => budget).increment(1);
}

pub(crate) fn record_reminders_planned(n: u64) {
    counter!("dossier_reminders_planned_total").increment(n);
}

pub(crate) fn record_reminder_round(sent: u64, retried: u64, failed: u64) {
    counter!("dossier_reminders_sent_total").increment(sent);
    counter!("dossier_reminders_retried_total").increment(retried);
    counter!("dossier_reminders_failed_total").increment(failed);
}

pub(crate) fn record_reencryption_round(moved: u64, left: u64) {
    counter!("dossier_reencrypted_rows_total").increment(moved);
    gauge!("dossier_reencryption_backlog_rows").set(left as f64);
}

/// Counts a transaction waiting for a pooled connection while it is alive.
pub(crate) struct WaitingForConnection;

impl WaitingForConnection {
    pub(crate) fn start() -> Self {
        gauge!("dossier_db_pool_waiting").increment(1.0);
        Self
    }
}

impl Drop for WaitingForConnection {
    fn drop(&mut self) {
        gauge!("dossier_db_pool_waiting").decrement(1.0);
    }
}

/// Reads what is measured at scrape time (pool, dependencies, the outbox), then the exposition.
async fn exposition(store: &Store) -> String {
    let Some(handle) = recorder() else {
        return String::new();
    };
    let pool = store.pool_stats();
    gauge!("dossier_db_pool_connections", "state" => "in_use").set(pool.in_use as f64);
    gauge!("dossier_db_pool_connections", "state" => "idle").set(pool.idle as f64);
    gauge!("dossier_db_pool_max_connections").set(f64::from(pool.max));
    let shared = store.shared();
    if let Some(link) = &shared.link {
        gauge!("dossier_redis_up").set(if link.is_up() { 1.0 } else { 0.0 });
        counter!("dossier_redis_fallbacks_total").absolute(link.fallbacks.load(std::sync::atomic::Ordering::Relaxed));
    }
    let database_up = store.ping().await.is_ok();
    gauge!("dossier_database_up").set(if database_up { 1.0 } else { 0.0 });
    if database_up {
        match installation_stats(store).await {
            Ok(stats) => {
                for (status, n) in [
                    ("pending", stats.pending),
                    ("sending", stats.sending),
                    ("sent", stats.sent),
                    ("failed", stats.failed),
                    ("cancelled", stats.cancelled),
                ] {
                    gauge!("dossier_reminders", "status" => status).set(n as f64);
                }
                gauge!("dossier_reminders_oldest_due_age_seconds")
                    .set(stats.oldest_due_age_seconds.unwrap_or(0) as f64);
            }
            Err(e) => tracing::warn!(error = ?e, "metrics: could not read the reminder outbox"),
        }
    }
    handle.run_upkeep();
    handle.render()
}

/// The operations listener of a process: `GET /metrics` and `GET /health`.
pub struct MetricsListener {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
}

impl MetricsListener {
    /// The listener `DOSSIER_METRICS_LISTEN_ADDR` asks for, bound now, if any.
    pub async fn from_config(config: &crate::Config) -> anyhow::Result<Option<Self>> {
        match config.metrics_listen_addr {
            Some(addr) => Ok(Some(Self::bind(addr).await?)),
            None => Ok(None),
        }
    }

    /// Binds `addr` (installing the recorder), so that a taken port stops the start.
    pub async fn bind(addr: SocketAddr) -> anyhow::Result<Self> {
        recorder();
        let (acceptor, local_addr) = crate::app::bind(addr, "Failed to listen for metrics on").await?;
        Ok(Self { acceptor, local_addr })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves in the background until `ServingMetrics::stop`.
    pub fn spawn(self, store: Store) -> ServingMetrics {
        tracing::info!(address = %self.local_addr, "serving /metrics and /health");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let routes = Route::new()
            .at("/metrics", get(scrape))
            .at("/health", get(health))
            .data(store);
        let server = Server::new_with_acceptor(self.acceptor).run_with_graceful_shutdown(
            routes,
            async {
                let _ = stopped.await;
            },
            Some(Duration::from_secs(1)),
        );
        ServingMetrics {
            stop,
            task: tokio::spawn(server),
        }
    }
}

/// A metrics listener serving in the background.
pub struct ServingMetrics {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl ServingMetrics {
    /// Stops serving (scrapes under way get a second to finish).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics listener failed"),
            Err(e) => tracing::warn!(error = %e, "metrics listener panicked"),
        }
    }
}

#[handler]
async fn scrape(store: Data<&Store>) -> Response {
    exposition(&store)
        .await
        .with_content_type("text/plain; version=0.0.4")
        .into_response()
}

/// The process is up.
#[handler]
pub(crate) fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_are_plain_identifiers_and_bounded_in_number() {
        assert!(recorder().is_some());
        assert_eq!(operation_label(None), "anonymous");
        for odd in ["", "with space", "quote\"", "9lives", &"x".repeat(65)] {
            assert_eq!(operation_label(Some(odd)), "anonymous", "{odd}");
        }
        assert_eq!(operation_label(Some("ListCustomers")), "ListCustomers");
        let labels: Vec<String> = (0..MAX_OPERATION_NAMES + 50)
            .map(|i| operation_label(Some(&format!("Invented{i}"))))
            .collect();
        let kept = labels.iter().filter(|l| l.starts_with("Invented")).count();
        // ListCustomers took one place.
        assert_eq!(kept, MAX_OPERATION_NAMES - 1);
        assert_eq!(labels.iter().filter(|l| *l == "other").count(), 51);
        // A name kept before the bound stays itself.
        assert_eq!(operation_label(Some("ListCustomers")), "ListCustomers");
        assert_eq!(operation_label(Some("Invented0")), "Invented0");
    }
}
