//! Redis for the tests that share it between instances: the run's server, a relay that can
//! play an outage, and a look at who listens for invalidations.

use std::time::Duration;

use crate::wait_until;

/// The Redis URL of the test run, if Redis tests are to run.
pub fn redis_url() -> Option<String> {
    std::env::var("DOSSIER_TEST_REDIS_URL").ok().filter(|u| !u.is_empty())
}

/// A TCP relay in front of Redis that a test can cut and restore, to play an outage.
pub struct RedisRelay {
    pub port: u16,
    target: String,
    tasks: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl RedisRelay {
    pub async fn start(redis_url: &str) -> Self {
        let target = redis_url
            .trim_start_matches("redis://")
            .trim_end_matches('/')
            .to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("relay binds");
        let port = listener.local_addr().unwrap().port();
        let relay = Self {
            port,
            target,
            tasks: Default::default(),
        };
        relay.serve(listener);
        relay
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Closes every relayed connection and stops accepting new ones.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// Accepts connections again on the same port.
    pub async fn restore(&self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("relay rebinds");
        self.serve(listener);
    }
}

impl Drop for RedisRelay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Waits until `count` instances listen on the invalidation channel of `namespace`, so that
/// what one of them publishes from now on reaches the others.
pub async fn wait_for_subscribers(redis_url: &str, namespace: &str, count: i64) {
    let client = redis::Client::open(redis_url).expect("a Redis URL");
    let mut conn = client.get_multiplexed_async_connection().await.expect("Redis answers");
    let channel = format!("{namespace}:invalidate");
    wait_until(
        Duration::from_secs(5),
        &format!("{count} instances subscribed to {channel}"),
        async || {
            let (_, listening): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg(&channel)
                .query_async(&mut conn)
                .await
                .expect("PUBSUB NUMSUB answers");
            listening >= count
        },
    )
    .await;
}
