//! What every request of a tenant needs to know about the tenant itself: its clock and
//! calendar, phone region, locale, reminder offsets and plan. Read once per transaction, kept
//! per process between requests, and dropped on every replica when the tenant changes.

use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use chrono_tz::Tz;
use entity::enums::Locale;

use super::kernel::TenantTx;
use super::{DomainError, DomainResult, Store};
use crate::cache::Limit;

/// Days before a contract's end at which its reminders go out, unless the tenant says otherwise.
pub const DEFAULT_CONTRACT_REMINDER_OFFSETS: [u16; 3] = [90, 30, 7];

#[derive(Debug, Clone)]
pub struct TenantContext {
    pub name: String,
    pub timezone: Tz,
    pub locale: Locale,
    /// ISO 3166 region for phone numbers written without a country code.
    pub phone_region: String,
    /// Days before a contract's end, largest first.
    pub contract_offsets_days: Vec<u16>,
    /// Minutes before a follow-up's due time at which its reminder goes out.
    pub follow_up_lead_minutes: i32,
    /// The tenant's rate-limit plan, when it differs from the server default.
    pub limit: Option<Limit>,
}

impl TenantContext {
    /// Today's date where the tenant is.
    pub fn today(&self) -> NaiveDate {
        Utc::now().with_timezone(&self.timezone).date_naive()
    }

    /// From the cache, or read through `tx` and cached unless a change came in meanwhile.
    pub(super) async fn load(store: &Store, tx: &TenantTx) -> DomainResult<Arc<Self>> {
        let cache = store.tenant_contexts();
        let generation = cache.generation();
        if let Some(cached) = cache.get(&tx.tenant_id()) {
            return Ok(cached);
        }
        let context = Arc::new(Self::of(tx.tenant().await?)?);
        cache.insert_unless_invalidated(generation, tx.tenant_id(), context.clone());
        Ok(context)
    }

    fn of(tenant: entity::tenant::Model) -> DomainResult<Self> {
        // A zone that no longer parses is a broken row, not a reason to run on UTC.
        let timezone: Tz = tenant
            .timezone
            .parse()
            .map_err(|_| DomainError::Internal(anyhow::anyhow!("tenant {} has an unknown time zone", tenant.id)))?;
        let mut contract_offsets_days: Vec<u16> =
            serde_json::from_value(tenant.contract_reminder_offsets_days).unwrap_or_default();
        if contract_offsets_days.is_empty() {
            contract_offsets_days = DEFAULT_CONTRACT_REMINDER_OFFSETS.to_vec();
        }
        contract_offsets_days.sort_unstable_by(|a, b| b.cmp(a));
        let limit = tenant.rate_limit_per_second.map(|rate| Limit {
            per_second: f64::from(rate.max(1)),
            burst: tenant.rate_limit_burst.unwrap_or(rate * 2).max(1) as u32,
        });
        Ok(Self {
            name: tenant.name,
            timezone,
            locale: tenant.locale,
            phone_region: tenant.phone_region,
            contract_offsets_days,
            follow_up_lead_minutes: tenant.follow_up_reminder_lead_minutes,
            limit,
        })
    }
}
