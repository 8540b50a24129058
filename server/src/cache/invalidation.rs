//! Cache invalidation across replicas. A change is applied to this process's caches at once
//! and published on `<namespace>:invalidate`; every replica (this one included) applies what
//! it hears. If Redis is down, remote replicas rely on their caches' short lifetimes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use uuid::Uuid;

use super::RedisLink;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// A user was changed or deactivated: cached sign-ins of that user go.
    User(Uuid),
    /// An API key was revoked.
    ApiKey(Uuid),
    /// A tenant's settings or keys changed.
    Tenant(Uuid),
    /// A tenant's custom field definitions changed.
    CustomFields(Uuid),
    /// Anything may have changed (changes could have been missed while Redis was away).
    All,
}

impl Invalidation {
    fn encode(&self) -> String {
        match self {
            Invalidation::User(id) => format!("user:{id}"),
            Invalidation::ApiKey(id) => format!("api_key:{id}"),
            Invalidation::Tenant(id) => format!("tenant:{id}"),
            Invalidation::CustomFields(id) => format!("custom_fields:{id}"),
            Invalidation::All => "all:".into(),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        if text == "all:" {
            return Some(Invalidation::All);
        }
        let (kind, id) = text.split_once(':')?;
        let id = Uuid::try_parse(id).ok()?;
        match kind {
            "user" => Some(Invalidation::User(id)),
            "api_key" => Some(Invalidation::ApiKey(id)),
            "tenant" => Some(Invalidation::Tenant(id)),
            "custom_fields" => Some(Invalidation::CustomFields(id)),
            _ => None,
        }
    }
}

type Listener = Box<dyn Fn(&Invalidation) + Send + Sync>;

const KEEPALIVE: Duration = Duration::from_secs(10);

/// Delivers invalidations to the caches that registered for them.
#[derive(Default)]
pub struct Invalidations {
    listeners: Mutex<Vec<Listener>>,
    link: Option<Arc<RedisLink>>,
}

impl Invalidations {
    pub fn local() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn shared(link: Arc<RedisLink>) -> Arc<Self> {
        Arc::new(Self {
            listeners: Mutex::new(Vec::new()),
            link: Some(link),
        })
    }

    pub fn listen(&self, listener: impl Fn(&Invalidation) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(listener));
    }

    fn apply(&self, change: &Invalidation) {
        for listener in self.listeners.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            listener(change);
        }
    }

    /// Applies `change` here and tells the other replicas. Returns whether the others were
    /// told (always true without Redis, where there are no others); if not, their copies
    /// expire within the cache lifetime.
    pub async fn publish(&self, change: Invalidation) -> bool {
        self.apply(&change);
        let Some(link) = &self.link else { return true };
        let mut conn = match link.connection().await {
            Some(conn) => conn,
            // Not connected yet (a command-line run, right after start): try once directly.
            None => match tokio::time::timeout(
                link.timeout.max(Duration::from_secs(1)),
                link.client().get_connection_manager(),
            )
            .await
            {
                Ok(Ok(conn)) => conn,
                _ => {
                    link.record_failure("publish");
                    return false;
                }
            },
        };
        let channel = link.key("invalidate");
        let mut command = redis::cmd("PUBLISH");
        command.arg(&channel).arg(change.encode());
        let sent = command.query_async::<i64>(&mut conn);
        match tokio::time::timeout(link.timeout, sent).await {
            Ok(Ok(_)) => {
                link.record_success();
                true
            }
            _ => {
                link.record_failure("publish");
                false
            }
        }
    }

    /// Listens on the channel for as long as the process runs, resubscribing after outages.
    /// After a gap every listener is told to drop everything, since changes may have been missed.
    pub async fn subscribe_forever(self: Arc<Self>) {
        let Some(link) = self.link.clone() else { return };
        let channel = link.key("invalidate");
        loop {
            match link.client().get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if pubsub.subscribe(&channel).await.is_ok() {
                        self.apply(&Invalidation::All);
                        let (mut sink, mut messages) = pubsub.split();
                        // A connection can die without closing; a regular ping notices.
                        let mut keepalive = tokio::time::interval(KEEPALIVE);
                        keepalive.tick().await;
                        loop {
                            tokio::select! {
                                message = messages.next() => {
                                    let Some(message) = message else { break };
                                    let payload = message.get_payload::<String>().ok();
                                    if let Some(change) = payload.as_deref().and_then(Invalidation::decode) {
                                        self.apply(&change);
                                    }
                                }
                                _ = keepalive.tick() => {
                                    let ping = tokio::time::timeout(link.timeout.max(Duration::from_secs(1)), sink.ping::<redis::Value>());
                                    if !matches!(ping.await, Ok(Ok(_))) {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                    link.record_failure("subscribe");
                }
                Err(_) => link.record_failure("subscribe"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalidations_round_trip_as_text() {
        for change in [
            Invalidation::User(Uuid::now_v7()),
            Invalidation::ApiKey(Uuid::now_v7()),
            Invalidation::Tenant(Uuid::now_v7()),
            Invalidation::All,
        ] {
            assert_eq!(Invalidation::decode(&change.encode()), Some(change));
        }
        assert_eq!(Invalidation::decode("nonsense"), None);
    }
}
