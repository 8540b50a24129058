//! Rate limiting with GCRA (generic cell rate algorithm): each key has a "theoretical arrival
//! time"; a request of cost `c` pushes it `c` emission intervals ahead and is refused if that
//! would put it more than the burst tolerance beyond now. Executed atomically in one Lua
//! script on Redis, so concurrent replicas never race on a read-modify-write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::RedisLink;

pub use crate::config::Limit;

/// A limit as the generic cell rate algorithm reads it.
trait Cells {
    fn interval_us(&self) -> f64;
    fn tolerance_us(&self) -> f64;
}

impl Cells for Limit {
    fn interval_us(&self) -> f64 {
        1_000_000.0 / self.per_second.max(0.001)
    }

    fn tolerance_us(&self) -> f64 {
        self.interval_us() * f64::from(self.burst.max(1))
    }
}

/// The outcome of a check, with what the `RateLimit-*` headers need.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// When refused: how long until the same request would pass.
    pub retry_after: Duration,
    /// Requests of cost 1 still possible right now.
    pub remaining: u32,
    /// Until the key is back to a full burst.
    pub reset: Duration,
}

/// Whichever implementation runs, it answers the same question for a key.
pub trait RateLimiter: Send + Sync {
    /// Whether a request of `cost` may pass now; it is counted only if `spend`.
    fn check(&self, key: &str, limit: Limit, cost: u32, spend: bool) -> impl Future<Output = Decision> + Send;
}

/// The part of a client address that identifies one client: the address itself for IPv4,
/// the /64 network for IPv6 (one subscriber usually holds a whole /64).
pub fn address_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Pure GCRA step: the new arrival time and the decision, times in microseconds.
fn gcra(now: f64, tat: Option<f64>, limit: Limit, cost: u32) -> (f64, Decision) {
    let interval = limit.interval_us();
    let tolerance = limit.tolerance_us();
    let tat = tat.unwrap_or(now).max(now);
    let new_tat = tat + interval * f64::from(cost);
    let allow_at = new_tat - tolerance;
    let to_duration = |us: f64| Duration::from_micros(us.max(0.0).ceil() as u64);
    if allow_at > now {
        let remaining = ((tolerance - (tat - now)) / interval).floor().max(0.0) as u32;
        return (
            tat,
            Decision {
                allowed: false,
                retry_after: to_duration(allow_at - now),
                remaining,
                reset: to_duration(tat - now),
            },
        );
    }
    let remaining = ((tolerance - (new_tat - now)) / interval).floor().max(0.0) as u32;
    (
        new_tat,
        Decision {
            allowed: true,
            retry_after: Duration::ZERO,
            remaining,
            reset: to_duration(new_tat - now),
        },
    )
}

/// In-process limiter: embedded mode, and the fallback while Redis is down.
pub struct LocalLimiter {
    started: Instant,
    state: Mutex<HashMap<String, f64>>,
}

impl Default for LocalLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalLimiter {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            state: Mutex::new(HashMap::new()),
        }
    }

    fn now_us(&self) -> f64 {
        self.started.elapsed().as_micros() as f64
    }

    fn check_now(&self, key: &str, limit: Limit, cost: u32, spend: bool) -> Decision {
        let now = self.now_us();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tat, decision) = gcra(now, state.get(key).copied(), limit, cost);
        if spend {
            state.insert(key.to_owned(), tat);
        }
        // Forget keys that are back to a full burst, so the map does not grow without bound;
        // swept only once the map doubled, so the cost stays amortised.
        if state.len() > 10_000 && state.len().is_power_of_two() {
            state.retain(|_, t| *t > now);
        }
        decision
    }
}

impl RateLimiter for LocalLimiter {
    async fn check(&self, key: &str, limit: Limit, cost: u32, spend: bool) -> Decision {
        self.check_now(key, limit, cost, spend)
    }
}

/// GCRA in Redis; Redis' own clock is used so that replicas with skewed clocks agree.
const GCRA_LUA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - tolerance
if allow_at > now then
  return {0, math.ceil(allow_at - now), math.floor((tolerance - (tat - now)) / interval), math.ceil(tat - now)}
end
if ARGV[4] == '1' then
  redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
end
return {1, 0, math.floor((tolerance - (new_tat - now)) / interval), math.ceil(new_tat - now)}
"#;

/// Shared limiter in Redis, with a local one to fall back on.
pub struct RedisLimiter {
    link: Arc<RedisLink>,
    script: redis::Script,
    fallback: LocalLimiter,
}

impl RedisLimiter {
    pub fn new(link: Arc<RedisLink>) -> Self {
        Self {
            link,
            script: redis::Script::new(GCRA_LUA),
            fallback: LocalLimiter::new(),
        }
    }

    async fn check_redis(&self, key: &str, limit: Limit, cost: u32, spend: bool) -> Option<Decision> {
        // While Redis is down, only an occasional request probes it; the rest do not wait.
        if !self.link.is_up() && !self.link.may_probe() {
            return None;
        }
        let mut conn = self.link.connection().await?;
        let mut invocation = self.script.key(self.link.key(&format!("rl:{key}")));
        invocation
            .arg(limit.interval_us())
            .arg(limit.tolerance_us())
            .arg(cost)
            .arg(if spend { "1" } else { "0" });
        let call = invocation.invoke_async::<(i64, i64, i64, i64)>(&mut conn);
        match tokio::time::timeout(self.link.timeout, call).await {
            Ok(Ok((allowed, retry_us, remaining, reset_us))) => {
                self.link.record_success();
                let us = |v: i64| Duration::from_micros(v.max(0) as u64);
                Some(Decision {
                    allowed: allowed == 1,
                    retry_after: us(retry_us),
                    remaining: remaining.max(0) as u32,
                    reset: us(reset_us),
                })
            }
            _ => {
                self.link.record_failure("rate limit");
                None
            }
        }
    }
}

impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, limit: Limit, cost: u32, spend: bool) -> Decision {
        match self.check_redis(key, limit, cost, spend).await {
            Some(decision) => decision,
            None => self.fallback.check_now(key, limit, cost, spend),
        }
    }
}

/// The limiter a server runs with.
pub enum Limiter {
    Local(LocalLimiter),
    Redis(RedisLimiter),
}

impl Limiter {
    /// Spends `cost` if the key can take it now. A cost above the burst is charged as the
    /// burst, or such a request could never pass.
    pub async fn check(&self, key: &str, limit: Limit, cost: u32) -> Decision {
        let cost = cost.min(limit.burst.max(1));
        match self {
            Limiter::Local(l) => l.check(key, limit, cost, true).await,
            Limiter::Redis(r) => r.check(key, limit, cost, true).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_allows_a_burst_then_one_per_interval() {
        let limit = Limit {
            per_second: 10.0,
            burst: 3,
        };
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..5 {
            let (t, d) = gcra(0.0, tat, limit, 1);
            tat = Some(t);
            allowed += u32::from(d.allowed);
        }
        assert_eq!(allowed, 3, "the burst");
        let (_, refused) = gcra(0.0, tat, limit, 1);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        let (_, later) = gcra(100_000.0, tat, limit, 1);
        assert!(later.allowed, "one interval later one more passes");
    }

    #[tokio::test]
    async fn a_peek_tells_without_spending() {
        let limiter = LocalLimiter::new();
        let limit = Limit {
            per_second: 1.0,
            burst: 1,
        };
        assert!(limiter.check("k", limit, 1, false).await.allowed);
        assert!(limiter.check("k", limit, 1, false).await.allowed, "nothing was spent");
        assert!(limiter.check("k", limit, 1, true).await.allowed);
        assert!(
            !limiter.check("k", limit, 1, false).await.allowed,
            "now the budget is spent"
        );
    }

    #[tokio::test]
    async fn the_local_limiter_keeps_keys_apart() {
        let limiter = LocalLimiter::new();
        let limit = Limit {
            per_second: 1.0,
            burst: 2,
        };
        assert!(limiter.check("a", limit, 1, true).await.allowed);
        assert!(limiter.check("a", limit, 1, true).await.allowed);
        assert!(!limiter.check("a", limit, 1, true).await.allowed);
        assert!(limiter.check("b", limit, 1, true).await.allowed);
    }
}
