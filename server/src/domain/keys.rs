//! Per-tenant keys: made with the tenant, stored wrapped by the master key ring, unwrapped on
//! demand and kept in memory for a short while. Rows are immutable once written, so a cached
//! key is never wrong; the short lifetime only bounds how long a replica keeps encrypting
//! under a data key that another replica has since rotated away from.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use entity::tenant_key;
use sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter};
use uuid::Uuid;

use super::{DomainError, DomainResult, TenantTx, now};
use crate::crypto::cipher::DataKeys;
use crate::crypto::{Key, MasterKeyRing};

const DATA: &str = "data";
const INDEX: &str = "index";
const CACHE_LIFETIME: Duration = Duration::from_secs(30);

/// Everything needed to encrypt, decrypt and index one tenant's fields.
#[derive(Debug)]
pub struct TenantKeys {
    pub data: DataKeys,
    pub index: Arc<Key>,
}

pub struct KeyVault {
    ring: MasterKeyRing,
    /// Entries are whole, immutable values swapped in and out, so a holder that panicked
    /// cannot have left one half-written: a poisoned lock is used as it is (see `cache`).
    cache: RwLock<HashMap<Uuid, (Instant, Arc<TenantKeys>)>>,
}

fn wrap_aad(tenant_id: Uuid, purpose: &str, version: i32) -> Vec<u8> {
    format!("{tenant_id}|{purpose}|{version}").into_bytes()
}

impl KeyVault {
    pub fn new(ring: MasterKeyRing) -> Self {
        Self {
            ring,
            cache: RwLock::new(HashMap::new()),
        }
    }

    pub fn newest_master_version(&self) -> u32 {
        self.ring.newest_version()
    }

    fn read_cache(&self) -> RwLockReadGuard<'_, HashMap<Uuid, (Instant, Arc<TenantKeys>)>> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write_cache(&self) -> RwLockWriteGuard<'_, HashMap<Uuid, (Instant, Arc<TenantKeys>)>> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Generates and stores version 1 of a new tenant's data and index keys.
    pub(crate) async fn create_for_tenant(&self, tx: &TenantTx, tenant_id: Uuid) -> DomainResult<()> {
        let tenant_id = same_tenant(tx, tenant_id)?;
        let rows = [DATA, INDEX]
            .map(|purpose| self.new_key(tenant_id, purpose, 1))
            .to_vec();
        tx.insert_many(rows, None).await
    }

    fn new_key(&self, tenant_id: Uuid, purpose: &str, version: i32) -> tenant_key::ActiveModel {
        let key = Key::generate();
        let (master_version, wrapped) = self.ring.wrap(&key, &wrap_aad(tenant_id, purpose, version));
        tenant_key::ActiveModel {
            tenant_id: Set(tenant_id),
            purpose: Set(purpose.to_owned()),
            version: Set(version),
            wrapped: Set(wrapped),
            master_version: Set(master_version as i32),
            created_at: Set(now()),
        }
    }

    /// The tenant's keys, from memory when fresh, else unwrapped from the database.
    pub(crate) async fn for_tenant(&self, tx: &TenantTx, tenant_id: Uuid) -> DomainResult<Arc<TenantKeys>> {
        let tenant_id = same_tenant(tx, tenant_id)?;
        match self.cached(tenant_id) {
            Some(keys) => Ok(keys),
            None => self.reload(tx, tenant_id).await,
        }
    }

    /// The tenant's keys if they are in memory and fresh: no transaction needed.
    pub(crate) fn cached(&self, tenant_id: Uuid) -> Option<Arc<TenantKeys>> {
        let cache = self.read_cache();
        let (loaded, keys) = cache.get(&tenant_id)?;
        (loaded.elapsed() < CACHE_LIFETIME).then(|| keys.clone())
    }

    /// Reads and unwraps the tenant's keys afresh (after a rotation, or an unknown version).
    pub(crate) async fn reload(&self, tx: &TenantTx, tenant_id: Uuid) -> DomainResult<Arc<TenantKeys>> {
        let tenant_id = same_tenant(tx, tenant_id)?;
        let mut rows = tx.select::<tenant_key::Entity>().all(tx).await?;
        if rows.is_empty() {
            // A tenant from before field encryption existed gets its keys on first use.
            self.create_for_tenant(tx, tenant_id).await?;
            rows = tx.select::<tenant_key::Entity>().all(tx).await?;
        }
        let mut data = HashMap::new();
        let mut index: Option<(i32, Arc<Key>)> = None;
        for row in rows {
            let key = self
                .ring
                .unwrap(
                    row.master_version as u32,
                    &row.wrapped,
                    &wrap_aad(tenant_id, &row.purpose, row.version),
                )
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Failed to unwrap {} key v{} of tenant {tenant_id}: {e}",
                        row.purpose,
                        row.version
                    )
                })?;
            match row.purpose.as_str() {
                DATA => {
                    data.insert(row.version as u32, Arc::new(key));
                }
                INDEX if index.as_ref().is_none_or(|(v, _)| row.version > *v) => {
                    index = Some((row.version, Arc::new(key)))
                }
                _ => {}
            }
        }
        let (Some(current_version), Some((_, index))) = (data.keys().max().copied(), index) else {
            return Err(DomainError::Internal(anyhow::anyhow!("tenant {tenant_id} has no keys")));
        };
        let keys = Arc::new(TenantKeys {
            data: DataKeys {
                current_version,
                keys: data,
            },
            index,
        });
        self.write_cache().insert(tenant_id, (Instant::now(), keys.clone()));
        Ok(keys)
    }

    /// Drops the cached keys of a tenant (after its keys changed and the change committed).
    pub(crate) fn forget(&self, tenant_id: Uuid) {
        self.write_cache().remove(&tenant_id);
    }

    pub(crate) fn forget_all(&self) {
        self.write_cache().clear();
    }

    /// Adds the next data key version; new writes use it, old versions keep decrypting.
    pub(crate) async fn rotate_data_key(&self, tx: &TenantTx, tenant_id: Uuid) -> DomainResult<u32> {
        let tenant_id = same_tenant(tx, tenant_id)?;
        let current = self.reload(tx, tenant_id).await?.data.current_version;
        let next = current as i32 + 1;
        tx.insert_many(vec![self.new_key(tenant_id, DATA, next)], None).await?;
        self.forget(tenant_id);
        Ok(next as u32)
    }

    /// Re-wraps every key of the tenant still wrapped by an older master key; returns how many.
    pub(crate) async fn rewrap(&self, tx: &TenantTx, tenant_id: Uuid) -> DomainResult<u64> {
        let tenant_id = same_tenant(tx, tenant_id)?;
        let newest = self.ring.newest_version() as i32;
        let stale = tx
            .select::<tenant_key::Entity>()
            .filter(tenant_key::Column::MasterVersion.lt(newest))
            .all(tx)
            .await?;
        let mut count = 0;
        for row in stale {
            let aad = wrap_aad(tenant_id, &row.purpose, row.version);
            let key = self
                .ring
                .unwrap(row.master_version as u32, &row.wrapped, &aad)
                .map_err(|e| anyhow::anyhow!("Failed to unwrap a key of tenant {tenant_id}: {e}"))?;
            let (master_version, wrapped) = self.ring.wrap(&key, &aad);
            tx.update::<tenant_key::Entity>()
                .filter(tenant_key::Column::Purpose.eq(&row.purpose))
                .filter(tenant_key::Column::Version.eq(row.version))
                .set(tenant_key::ActiveModel {
                    wrapped: Set(wrapped),
                    master_version: Set(master_version as i32),
                    ..Default::default()
                })
                .exec(tx)
                .await?;
            count += 1;
        }
        Ok(count)
    }
}

/// The tenant of `tx`, which must be the one the caller names: a key is never read or
/// written through another tenant's transaction.
fn same_tenant(tx: &TenantTx, tenant_id: Uuid) -> DomainResult<Uuid> {
    if tx.tenant_id() == tenant_id {
        Ok(tenant_id)
    } else {
        Err(DomainError::Internal(anyhow::anyhow!(
            "keys of tenant {tenant_id} asked for through a transaction of tenant {}",
            tx.tenant_id()
        )))
    }
}
