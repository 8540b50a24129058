//! The shared-state handles one process holds, built from the configuration.

use std::sync::Arc;

use super::limiter::{LocalLimiter, RedisLimiter};
use super::{Invalidations, Limiter, RedisLink};
use crate::config::Config;

pub struct Shared {
    pub link: Option<Arc<RedisLink>>,
    pub limiter: Arc<Limiter>,
    pub invalidations: Arc<Invalidations>,
}

impl Shared {
    /// With `DOSSIER_REDIS_URL`, Redis-backed (connecting in the background); else in-process.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.redis_url else {
            return Ok(Self {
                link: None,
                limiter: Arc::new(Limiter::Local(LocalLimiter::new())),
                invalidations: Invalidations::local(),
            });
        };
        let link = RedisLink::new(url, &config.redis_namespace, config.redis_timeout)?;
        tokio::spawn(link.clone().keep_connected());
        Ok(Self {
            limiter: Arc::new(Limiter::Redis(RedisLimiter::new(link.clone()))),
            invalidations: Invalidations::shared(link.clone()),
            link: Some(link),
        })
    }
}
