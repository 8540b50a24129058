//! What replicas share through Redis: rate limits and cache invalidations. Without Redis
//! (embedded mode, or while Redis is down) the same interfaces work in-process, so one binary
//! still runs alone and an outage degrades limits to per-process instead of failing requests.

pub mod invalidation;
pub mod limiter;
pub mod redis_link;
pub mod shared;
pub mod ttl;

pub use invalidation::{Invalidation, Invalidations};
pub use limiter::{Decision, Limit, Limiter};
pub use redis_link::RedisLink;
pub use shared::Shared;
pub use ttl::TtlMap;
