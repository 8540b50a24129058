//! Waiting for something the server does in the background (a worker, a replica, Redis):
//! polled until it shows, within a bound, instead of sleeping for a guessed time.

use std::time::{Duration, Instant};

/// How often a condition is looked at again.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Polls `check` until it holds; panics saying what did not happen if it still does not
/// after `within`.
pub async fn wait_until(within: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    loop {
        if check().await {
            return;
        }
        if started.elapsed() >= within {
            panic!("waited {within:?} for: {what}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
