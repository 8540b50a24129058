//! Tenants: signup creates the tenant and its owner in one transaction; admins change its
//! settings; operator commands find tenants by slug and visit every tenant.

use entity::enums::{Locale, Role};
use entity::{tenant, user};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use super::error::UniqueKey;
use super::patch::{Patch, assign};
use super::{DomainError, DomainResult, ScopedTx, Store, TenantTx, audit, contracts, now, validate};
use crate::cache::{Invalidation, Limit};
use crate::secret::Secret;
use crate::tenancy::auth::{hash_password, sha256_hex};
use crate::tenancy::{Actor, TenantScope};

/// Days before a contract ends at which its owner is reminded, unless the tenant or the contract says otherwise.
pub use super::tenant_context::DEFAULT_CONTRACT_REMINDER_OFFSETS;
pub const DEFAULT_FOLLOW_UP_LEAD_MINUTES: i32 = 60;

/// Who may open a new tenant: anyone when signup is open, else only holders of the platform key.
#[derive(Clone)]
pub struct SignupPolicy {
    pub open: bool,
    pub platform_key: Option<Secret>,
}

impl SignupPolicy {
    fn permits(&self, presented: Option<&str>) -> bool {
        if self.open {
            return true;
        }
        // Comparing digests keeps the comparison independent of where the strings differ.
        match (&self.platform_key, presented) {
            (Some(key), Some(given)) => sha256_hex(key.expose()) == sha256_hex(given),
            _ => false,
        }
    }
}

pub struct NewTenant {
    pub name: String,
    pub slug: String,
    pub admin_email: String,
    pub admin_name: Option<String>,
    pub admin_password: Secret,
    pub timezone: Option<String>,
    pub locale: Option<Locale>,
    /// Region for phone numbers written without a country code (ISO 3166, e.g. CN).
    pub phone_region: Option<String>,
}

/// Creates a tenant with its first user, the owner. Returns both.
pub async fn create(
    store: &Store,
    policy: &SignupPolicy,
    presented_platform_key: Option<&str>,
    input: NewTenant,
    request_id: Option<String>,
) -> DomainResult<(tenant::Model, user::Model)> {
    if !policy.permits(presented_platform_key) {
        return Err(DomainError::Forbidden("signup is closed on this server"));
    }
    let name = validate::required_line("name", Some(input.name), 200)?;
    let slug = validate::slug("slug", &input.slug)?;
    let admin_email = validate::email("adminEmail", &input.admin_email)?;
    validate::password("adminPassword", input.admin_password.expose())?;
    let admin_name = validate::optional_line("adminName", input.admin_name, 200)?
        .unwrap_or_else(|| admin_email.split('@').next().unwrap_or("admin").to_owned());
    let timezone = match input.timezone {
        Some(tz) => validate::timezone("timezone", &tz)?,
        None => "Asia/Shanghai".to_owned(),
    };
    let phone_region = match input.phone_region {
        Some(region) => validate::phone_region("phoneRegion", &region)?,
        None => "CN".to_owned(),
    };
    if find_by_slug(store, &slug).await?.is_some() {
        return Err(DomainError::validation("slug", "is already taken"));
    }
    let password_hash = hash_password(input.admin_password).await?;

    let tenant_id = Uuid::now_v7();
    let user_id = Uuid::now_v7();
    let at = now();
    // The new owner acts from the start: the tenant's first rows are theirs.
    let scope = TenantScope::new(
        tenant_id,
        Actor {
            user_id,
            api_key_id: None,
            role: Role::Owner,
        },
        request_id,
    );
    let tx = store.begin_scoped(&scope).await?;
    let tenant = tx
        .insert_tenant(tenant::ActiveModel {
            id: Set(tenant_id),
            name: Set(name),
            slug: Set(slug),
            timezone: Set(timezone),
            locale: Set(input.locale.unwrap_or(Locale::ZhCn)),
            phone_region: Set(phone_region),
            rate_limit_per_second: Set(None),
            rate_limit_burst: Set(None),
            customer_seq: Set(0),
            contract_reminder_offsets_days: Set(serde_json::json!(DEFAULT_CONTRACT_REMINDER_OFFSETS)),
            follow_up_reminder_lead_minutes: Set(DEFAULT_FOLLOW_UP_LEAD_MINUTES),
            daily_digest_hour: Set(None),
            reminder_sender_name: Set(None),
            reminder_reply_to: Set(None),
            reminder_extra_recipient: Set(None),
            created_at: Set(at),
            updated_at: Set(at),
        })
        .await
        // A signup of the same slug a moment before won the race.
        .on_unique(|| DomainError::validation("slug", "is already taken"))?;
    let owner = tx
        .insert(user::ActiveModel {
            id: Set(user_id),
            email: Set(admin_email),
            name: Set(admin_name),
            role: Set(Role::Owner),
            password_hash: Set(password_hash),
            active: Set(true),
            created_at: Set(at),
            updated_at: Set(at),
            ..Default::default()
        })
        .await?;
    store.vault().create_for_tenant(&tx, tenant_id).await?;
    audit::record(
        &tx,
        "tenant.create",
        Some(tenant_id),
        &["name", "slug", "timezone", "locale"],
    )
    .await?;
    audit::record(&tx, "user.create", Some(user_id), &["email", "name", "role"]).await?;
    tx.commit().await?;
    tracing::info!(%tenant_id, "tenant created");
    Ok((tenant, owner))
}

/// The caller's own tenant, read in the caller's transaction.
pub async fn get(tx: &ScopedTx) -> DomainResult<tenant::Model> {
    tx.tenant().await
}

/// The caller's own tenant, in a transaction of its own (after a write committed).
pub async fn current(store: &Store, scope: &TenantScope) -> DomainResult<tenant::Model> {
    let tx = store.begin_scoped(scope).await?;
    let found = get(&tx).await?;
    tx.commit().await?;
    Ok(found)
}

/// Changes to how a tenant works and is reminded; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsChanges {
    pub timezone: Option<String>,
    pub locale: Option<Locale>,
    pub contract_reminder_offsets_days: Option<Vec<i32>>,
    pub follow_up_reminder_lead_minutes: Option<i32>,
    pub daily_digest_hour: Patch<i32>,
    pub sender_name: Patch<String>,
    pub reply_to: Patch<String>,
    pub extra_recipient: Patch<String>,
}

/// Admins change the tenant's settings. New default contract offsets move the EXPIRING
/// start of every contract that follows the default, in the same transaction.
pub async fn update_settings(
    store: &Store,
    scope: &TenantScope,
    changes: SettingsChanges,
) -> DomainResult<tenant::Model> {
    if !scope.is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may change the tenant's settings"));
    }
    let tx = store.begin_scoped(scope).await?;
    let current = tx.tenant().await?;
    let mut next = current.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    if let Some(tz) = changes.timezone {
        assign(
            "timezone",
            &mut next.timezone,
            validate::timezone("timezone", &tz)?,
            &mut changed,
        );
    }
    if let Some(locale) = changes.locale {
        assign("locale", &mut next.locale, locale, &mut changed);
    }
    let mut new_offsets = None;
    if let Some(days) = changes.contract_reminder_offsets_days {
        let days = contracts::offsets("contractReminderOffsetsDays", days)?;
        if days.is_empty() {
            return Err(DomainError::validation(
                "contractReminderOffsetsDays",
                "needs at least one offset",
            ));
        }
        let json = serde_json::json!(days);
        if json != current.contract_reminder_offsets_days {
            new_offsets = Some(days);
        }
        assign(
            "contractReminderOffsetsDays",
            &mut next.contract_reminder_offsets_days,
            json,
            &mut changed,
        );
    }
    if let Some(minutes) = changes.follow_up_reminder_lead_minutes {
        if !(0..=MAX_LEAD_MINUTES).contains(&minutes) {
            return Err(DomainError::validation(
                "followUpReminderLeadMinutes",
                format!("must be between 0 and {MAX_LEAD_MINUTES} (one week)"),
            ));
        }
        assign(
            "followUpReminderLeadMinutes",
            &mut next.follow_up_reminder_lead_minutes,
            minutes,
            &mut changed,
        );
    }
    let hour = match changes.daily_digest_hour {
        Patch::Keep => current.daily_digest_hour,
        Patch::Clear => None,
        Patch::Set(h) if (0..=23).contains(&h) => Some(h),
        Patch::Set(_) => {
            return Err(DomainError::validation(
                "dailyDigestHour",
                "must be an hour from 0 to 23",
            ));
        }
    };
    assign("dailyDigestHour", &mut next.daily_digest_hour, hour, &mut changed);
    let sender = match changes.sender_name {
        Patch::Keep => current.reminder_sender_name.clone(),
        Patch::Clear => None,
        // A display name goes into a mail header: one line, no angle brackets or quotes.
        Patch::Set(v) => {
            let v = validate::required_line("senderName", Some(v), 100)?;
            if v.contains(['\r', '\n', '<', '>', '"']) {
                return Err(DomainError::validation(
                    "senderName",
                    "must be one line without < > or \"",
                ));
            }
            Some(v)
        }
    };
    assign("senderName", &mut next.reminder_sender_name, sender, &mut changed);
    for (field, patch, target) in [
        ("replyTo", changes.reply_to, &mut next.reminder_reply_to),
        (
            "extraRecipient",
            changes.extra_recipient,
            &mut next.reminder_extra_recipient,
        ),
    ] {
        let value = match patch {
            Patch::Keep => target.clone(),
            Patch::Clear => None,
            Patch::Set(v) => Some(validate::email(field, &v)?),
        };
        assign(field, target, value, &mut changed);
    }
    if changed.is_empty() {
        tx.commit().await?;
        return Ok(current);
    }
    next.updated_at = now();
    let saved = tx
        .update_tenant()
        .set(next.into_active_model().reset_all())
        .exec_with_returning(&tx)
        .await?
        .pop()
        .ok_or(DomainError::NotFound("tenant"))?;
    if let Some(days) = new_offsets {
        contracts::follow_new_default_offsets(&tx, &days).await?;
    }
    if saved.follow_up_reminder_lead_minutes != current.follow_up_reminder_lead_minutes {
        super::follow_ups::follow_new_lead(&tx, saved.follow_up_reminder_lead_minutes).await?;
    }
    audit::record(&tx, "tenant.update_settings", Some(scope.tenant_id()), &changed).await?;
    tx.commit().await?;
    store.invalidate(Invalidation::Tenant(scope.tenant_id())).await;
    Ok(saved)
}

/// The longest lead time of a follow-up reminder: a week.
const MAX_LEAD_MINUTES: i32 = 7 * 24 * 60;

/// The tenant's rate-limit plan, if it has one (cached briefly; a change invalidates it).
pub async fn limit_override(store: &Store, tenant_id: Uuid) -> DomainResult<Option<Limit>> {
    if let Some(context) = store.cached_context(tenant_id) {
        return Ok(context.limit);
    }
    let tx = store.begin_tenant_job(tenant_id).await?;
    let limit = match tx.context().await {
        Ok(context) => context.limit,
        Err(DomainError::NotFound(_)) => None,
        Err(other) => return Err(other),
    };
    tx.commit().await?;
    Ok(limit)
}

/// Sets (or, with `None`, removes) a tenant's rate-limit plan: an operator command. Every
/// replica applies it at once.
/// Returns whether running replicas were told (else they pick it up within 30 s).
pub async fn set_limits(store: &Store, slug: &str, per_second: Option<u32>, burst: Option<u32>) -> DomainResult<bool> {
    let Some(tenant) = find_by_slug(store, slug).await? else {
        return Err(DomainError::NotFound("tenant"));
    };
    let tx = store.begin_tenant_job(tenant.id).await?;
    tx.update_tenant()
        .set(tenant::ActiveModel {
            rate_limit_per_second: Set(per_second.map(|v| v as i32)),
            rate_limit_burst: Set(burst.map(|v| v as i32)),
            updated_at: Set(now()),
            ..Default::default()
        })
        .exec(&tx)
        .await?;
    tx.commit().await?;
    Ok(store.invalidate(Invalidation::Tenant(tenant.id)).await)
}

/// Every tenant's id, for operator commands and background jobs that visit each tenant (each
/// then in a transaction of that tenant's own).
pub(crate) async fn all_ids(store: &Store) -> DomainResult<Vec<Uuid>> {
    // The lookup handle is a plain connection on purpose: it reads the tenants table across
    // tenants, and on PostgreSQL nothing else.
    let tx = store.begin_tenant_lookup().await?;
    let ids = tenant::Entity::find()
        .select_only()
        .column(tenant::Column::Id)
        .into_tuple()
        .all(&tx)
        .await?;
    tx.commit().await?;
    Ok(ids)
}

/// Re-wraps every tenant's keys with the newest master key (`dossier keys rotate-master`).
/// Returns how many keys were re-wrapped; running it again finds nothing left to do.
pub async fn rewrap_all_keys(store: &Store) -> DomainResult<u64> {
    let mut count = 0;
    for tenant_id in all_ids(store).await? {
        let tx = store.begin_tenant_job(tenant_id).await?;
        count += store.vault().rewrap(&tx, tenant_id).await?;
        tx.commit().await?;
    }
    Ok(count)
}

/// Finds a tenant by slug before anyone is signed in (login, signup).
pub(crate) async fn find_by_slug(store: &Store, slug: &str) -> DomainResult<Option<tenant::Model>> {
    // See `all_ids`: the lookup handle reads tenants before any tenant is known.
    let tx = store.begin_tenant_lookup().await?;
    let found = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug.trim().to_lowercase()))
        .one(&tx)
        .await?;
    tx.commit().await?;
    Ok(found)
}

/// Acts as the owner of the tenant with `slug`: for operator commands run on the server
/// itself (`dossier seed-demo`), never reachable from the API.
pub async fn owner_scope(store: &Store, slug: &str) -> DomainResult<Option<TenantScope>> {
    let Some(tenant) = find_by_slug(store, slug).await? else {
        return Ok(None);
    };
    let tx = store.begin_tenant_job(tenant.id).await?;
    let owner = tx
        .select::<user::Entity>()
        .filter(user::Column::Role.eq(Role::Owner))
        .filter(user::Column::Active.eq(true))
        .one(&tx)
        .await?;
    tx.commit().await?;
    Ok(owner.map(|u| {
        TenantScope::new(
            tenant.id,
            Actor {
                user_id: u.id,
                api_key_id: None,
                role: Role::Owner,
            },
            None,
        )
    }))
}

/// The tenant's clock and calendar: its time zone, today's date there, and the contract
/// reminder offsets in force by default.
#[derive(Debug, Clone)]
pub struct TenantCalendar {
    pub timezone: chrono_tz::Tz,
    pub today: chrono::NaiveDate,
    /// Days before a contract's end, largest first.
    pub contract_offsets_days: Vec<u16>,
    /// Minutes before a follow-up's due time at which its reminder goes out.
    pub follow_up_lead_minutes: i32,
}

/// The tenant's calendar, from the tenant context of the caller's transaction.
pub(crate) async fn calendar(tx: &TenantTx) -> DomainResult<TenantCalendar> {
    let context = tx.context().await?;
    Ok(TenantCalendar {
        timezone: context.timezone,
        today: context.today(),
        contract_offsets_days: context.contract_offsets_days.clone(),
        follow_up_lead_minutes: context.follow_up_lead_minutes,
    })
}
