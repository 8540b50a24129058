//! Added latency of one rate-limit check, as a request pays it: the in-process limiter, and
//! with `DOSSIER_REDIS_URL` set the Redis one (one EVALSHA round trip on loopback).
//! Run: `cargo run --release -p dossier --example limiter_latency` (10 000 checks each, then stops).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dossier::cache::limiter::{LocalLimiter, RedisLimiter};
use dossier::cache::{Limit, Limiter, RedisLink};
use dossier::config::Secret;

const CHECKS: usize = 10_000;

async fn measure(name: &str, limiter: &Limiter) {
    let limit = Limit {
        per_second: 1e9,
        burst: 1_000_000,
    };
    for i in 0..200 {
        limiter.check(&format!("warmup:{}", i % 10), limit, 1).await;
    }
    let mut samples = Vec::with_capacity(CHECKS);
    for i in 0..CHECKS {
        let key = format!("tenant:{}", i % 100);
        let started = Instant::now();
        let decision = limiter.check(&key, limit, 1).await;
        samples.push(started.elapsed());
        assert!(decision.allowed);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1e6;
    println!(
        "{name}: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs over {CHECKS} checks",
        at(0.50),
        at(0.99),
        at(1.0)
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    measure("local limiter", &Limiter::Local(LocalLimiter::new())).await;
    if let Ok(url) = std::env::var("DOSSIER_REDIS_URL") {
        let link = RedisLink::new(
            &Secret::new(url),
            &format!("bench-{}", std::process::id()),
            Duration::from_millis(200),
        )?;
        link.clone().keep_connected().await;
        measure("redis limiter", &Limiter::Redis(RedisLimiter::new(Arc::clone(&link)))).await;
        assert!(link.is_up(), "Redis answered throughout");
    } else {
        println!("(set DOSSIER_REDIS_URL=redis://127.0.0.1:6379 to measure the Redis limiter too)");
    }
    Ok(())
}
