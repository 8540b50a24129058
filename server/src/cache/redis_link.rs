//! The Redis connection: connects (and reconnects) in the background, answers within a short
//! timeout, and remembers whether Redis is up so that the switch to and from the local
//! fallback is logged once, not on every request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::RwLock;

use crate::secret::Secret;

pub struct RedisLink {
    client: redis::Client,
    manager: RwLock<Option<ConnectionManager>>,
    /// Unknown until the first call, then up or down; only changes are logged.
    state: AtomicU8,
    created: std::time::Instant,
    last_probe_ms: AtomicU64,
    /// Times a request had to fall back because Redis did not answer.
    pub fallbacks: AtomicU64,
    pub namespace: String,
    pub timeout: Duration,
}

impl RedisLink {
    /// Validates the URL; the connection itself is made in the background (see `keep_connected`).
    pub fn new(url: &Secret, namespace: &str, timeout: Duration) -> anyhow::Result<Arc<Self>> {
        let client = redis::Client::open(url.expose())
            .map_err(|_| anyhow::anyhow!("DOSSIER_REDIS_URL is not a valid Redis URL"))?;
        Ok(Arc::new(Self {
            client,
            manager: RwLock::new(None),
            state: AtomicU8::new(UNKNOWN),
            created: std::time::Instant::now(),
            last_probe_ms: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            namespace: namespace.to_owned(),
            timeout,
        }))
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn key(&self, parts: &str) -> String {
        format!("{}:{parts}", self.namespace)
    }

    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Relaxed) == UP
    }

    /// While Redis is down: at most one caller a second may try it.
    pub fn may_probe(&self) -> bool {
        let now = self.created.elapsed().as_millis() as u64;
        let last = self.last_probe_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 1000
            && self
                .last_probe_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// A connection if one is established; `None` means "use the fallback".
    pub async fn connection(&self) -> Option<ConnectionManager> {
        self.manager.read().await.clone()
    }

    /// Establishes the connection manager, retrying until it succeeds; it then reconnects by itself.
    pub async fn keep_connected(self: Arc<Self>) {
        loop {
            if self.manager.read().await.is_some() {
                return;
            }
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(self.timeout.max(Duration::from_millis(500))))
                .set_response_timeout(Some(self.timeout))
                .set_number_of_retries(1)
                .set_max_delay(Duration::from_millis(500));
            match self.client.get_connection_manager_with_config(config).await {
                Ok(manager) => {
                    *self.manager.write().await = Some(manager);
                    self.record_success();
                    return;
                }
                Err(_) => {
                    self.record_failure("connect");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    pub fn record_success(&self) {
        if self.state.swap(UP, Ordering::Relaxed) != UP {
            tracing::info!("Redis is reachable: rate limits and cache invalidation are shared across replicas");
        }
    }

    /// Notes a failed call; logs only the transition from up to down. The error text of the
    /// client is not logged, as a URL with a password could appear in it.
    pub fn record_failure(&self, what: &str) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
        if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
            tracing::warn!(
                operation = what,
                "Redis is unreachable: falling back to per-process rate limits and cache lifetimes"
            );
        }
    }
}
