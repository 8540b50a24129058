//! Tenants, users, sign-in and API keys.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{api_key, tenant, user};

use super::reads::reading;
use super::{api, parse_id, patch, request, scope};
use crate::domain::{api_keys, tenants, users};
use crate::secret::Secret;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::Role")]
pub enum Role {
    Viewer,
    Sales,
    Manager,
    Admin,
    Owner,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::Locale")]
pub enum Locale {
    ZhCn,
    En,
}

pub struct Tenant(pub tenant::Model);

#[Object]
impl Tenant {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn slug(&self) -> &str {
        &self.0.slug
    }
    /// IANA time zone used for dates and reminders.
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
    async fn locale(&self) -> Locale {
        self.0.locale.into()
    }
    /// Region in which phone numbers without a country code are read (ISO 3166, e.g. CN).
    async fn phone_region(&self) -> &str {
        &self.0.phone_region
    }
    /// Days before a contract's end at which reminders go out (contracts may override them).
    async fn contract_reminder_offsets_days(&self) -> Vec<i32> {
        serde_json::from_value(self.0.contract_reminder_offsets_days.clone()).unwrap_or_default()
    }
    /// How long before a follow-up falls due its reminder goes out.
    async fn follow_up_reminder_lead_minutes(&self) -> i32 {
        self.0.follow_up_reminder_lead_minutes
    }
    /// Local hour at which each user's contract reminders of the day go out together in one
    /// e-mail (follow-up reminders keep their own time); null: one e-mail per reminder.
    async fn daily_digest_hour(&self) -> Option<i32> {
        self.0.daily_digest_hour
    }
    /// Display name on reminder e-mails; the tenant's name when null.
    async fn sender_name(&self) -> Option<&str> {
        self.0.reminder_sender_name.as_deref()
    }
    async fn reply_to(&self) -> Option<&str> {
        self.0.reminder_reply_to.as_deref()
    }
    /// Receives a copy of every reminder.
    async fn extra_recipient(&self) -> Option<&str> {
        self.0.reminder_extra_recipient.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Admins: progress of moving contact data to the newest data key.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn encryption_status(&self, ctx: &Context<'_>) -> Result<super::contacts::EncryptionStatus> {
        super::contacts::encryption_status(ctx).await
    }
}

pub struct User(pub user::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn email(&self) -> &str {
        &self.0.email
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    async fn active(&self) -> bool {
        self.0.active
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

pub struct ApiKey(pub api_key::Model);

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn role(&self) -> Role {
        self.0.role.into()
    }
    /// Enough of the key to recognise it; the secret itself is never shown again.
    async fn prefix(&self) -> &str {
        &self.0.prefix
    }
    async fn created_by_id(&self) -> ID {
        ID(self.0.created_by.to_string())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }
}

/// The caller: the user (for an API key, the user who made it), the tenant and the effective role.
pub struct Me {
    user_id: uuid::Uuid,
    role: entity::enums::Role,
    api_key_id: Option<uuid::Uuid>,
}

/// The caller: `id`, `role` and `apiKeyId` come with the credential; `user` and `tenant` are
/// read when asked for.
#[Object]
impl Me {
    /// The caller's user id (known from the credential, no read).
    async fn id(&self) -> ID {
        ID(self.user_id.to_string())
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = request(ctx)
            .facts
            .me_user
            .get_or_try_init(|| async {
                Ok::<_, async_graphql::Error>(reading!(ctx, |tx| users::get(&tx, self.user_id).await?))
            })
            .await?;
        Ok(User(user.clone()))
    }
    async fn tenant(&self, ctx: &Context<'_>) -> Result<Tenant> {
        let tenant = request(ctx)
            .facts
            .me_tenant
            .get_or_try_init(|| async { Ok::<_, async_graphql::Error>(reading!(ctx, |tx| tenants::get(&tx).await?)) })
            .await?;
        Ok(Tenant(tenant.clone()))
    }
    async fn role(&self) -> Role {
        self.role.into()
    }
    /// Set when the caller authenticated with an API key.
    async fn api_key_id(&self) -> Option<ID> {
        self.api_key_id.map(|id| ID(id.to_string()))
    }
}

#[derive(Default)]
pub struct TenancyQuery;

#[Object]
impl TenancyQuery {
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        let scope = scope(ctx)?;
        Ok(Me {
            user_id: scope.actor().user_id,
            role: scope.role(),
            api_key_id: scope.actor().api_key_id,
        })
    }

    /// Everyone in the tenant (to pick owners and assignees).
    async fn users(&self, ctx: &Context<'_>) -> Result<Vec<User>> {
        let list = request(ctx)
            .facts
            .users
            .get_or_try_init(|| async { Ok::<_, async_graphql::Error>(reading!(ctx, |tx| users::list(&tx).await?)) })
            .await?;
        Ok(list.iter().cloned().map(User).collect())
    }

    /// Admins only.
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Vec<ApiKey>> {
        let list = reading!(ctx, |tx| api_keys::list(&tx).await?);
        Ok(list.into_iter().map(ApiKey).collect())
    }
}

#[derive(InputObject)]
pub struct CreateTenantInput {
    pub name: String,
    /// 3–40 of a-z, 0-9 and -; used to sign in.
    pub slug: String,
    pub admin_email: String,
    pub admin_password: String,
    pub admin_name: Option<String>,
    /// IANA time zone; defaults to Asia/Shanghai.
    pub timezone: Option<String>,
    /// Defaults to zh-CN.
    pub locale: Option<Locale>,
    /// Region for phone numbers written without a country code; defaults to CN.
    pub phone_region: Option<String>,
}

#[derive(SimpleObject)]
pub struct CreateTenantPayload {
    pub tenant: Tenant,
    /// The owner account created with the tenant.
    pub user: User,
    /// A bearer token for the owner.
    pub token: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    pub tenant_slug: String,
    pub email: String,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct LoginPayload {
    pub token: String,
    pub user: User,
}

#[derive(InputObject)]
pub struct CreateUserInput {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password: String,
}

#[derive(SimpleObject)]
pub struct CreateUserPayload {
    pub user: User,
}

#[derive(InputObject)]
pub struct UserIdInput {
    pub user_id: ID,
}

#[derive(InputObject)]
pub struct ChangeUserRoleInput {
    pub user_id: ID,
    pub role: Role,
}

#[derive(InputObject)]
pub struct UpdateProfileInput {
    pub name: String,
}

#[derive(SimpleObject)]
pub struct UserPayload {
    pub user: User,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub name: String,
    pub role: Role,
}

#[derive(SimpleObject)]
pub struct CreateApiKeyPayload {
    pub api_key: ApiKey,
    /// The key to send as `Authorization: Bearer …`. Shown this once; store it now.
    pub secret: String,
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct RevokeApiKeyPayload {
    pub api_key: ApiKey,
}

/// Settings to change; fields left out stay as they are, null clears an optional one.
#[derive(InputObject)]
pub struct UpdateTenantSettingsInput {
    /// IANA time zone, e.g. Asia/Shanghai.
    pub timezone: Option<String>,
    pub locale: Option<Locale>,
    /// 0–365 days each, at most 10; contracts without their own offsets follow at once.
    pub contract_reminder_offsets_days: Option<Vec<i32>>,
    /// 0–10080 minutes.
    pub follow_up_reminder_lead_minutes: Option<i32>,
    /// 0–23, in the tenant's time zone; null turns the digest off. Reminders planned already
    /// keep their time.
    pub daily_digest_hour: MaybeUndefined<i32>,
    pub sender_name: MaybeUndefined<String>,
    pub reply_to: MaybeUndefined<String>,
    pub extra_recipient: MaybeUndefined<String>,
}

#[derive(SimpleObject)]
pub struct UpdateTenantSettingsPayload {
    pub tenant: Tenant,
}

#[derive(Default)]
pub struct TenancyMutation;

#[Object]
impl TenancyMutation {
    /// Admins and owners.
    async fn update_tenant_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateTenantSettingsInput,
    ) -> Result<UpdateTenantSettingsPayload> {
        let changes = tenants::SettingsChanges {
            timezone: input.timezone,
            locale: input.locale.map(Into::into),
            contract_reminder_offsets_days: input.contract_reminder_offsets_days,
            follow_up_reminder_lead_minutes: input.follow_up_reminder_lead_minutes,
            daily_digest_hour: patch(input.daily_digest_hour),
            sender_name: patch(input.sender_name),
            reply_to: patch(input.reply_to),
            extra_recipient: patch(input.extra_recipient),
        };
        let tenant = tenants::update_settings(&api(ctx).store, scope(ctx)?, changes).await?;
        Ok(UpdateTenantSettingsPayload { tenant: Tenant(tenant) })
    }

    /// Opens a new tenant with its owner. Open to anyone only where signup is enabled.
    async fn create_tenant(&self, ctx: &Context<'_>, input: CreateTenantInput) -> Result<CreateTenantPayload> {
        let api = api(ctx);
        let req = request(ctx);
        let (tenant, owner) = tenants::create(
            &api.store,
            &api.signup,
            req.platform_key.as_deref(),
            tenants::NewTenant {
                name: input.name,
                slug: input.slug,
                admin_email: input.admin_email,
                admin_name: input.admin_name,
                admin_password: Secret::new(input.admin_password),
                timezone: input.timezone,
                locale: input.locale.map(Into::into),
                phone_region: input.phone_region,
            },
            Some(req.request_id.clone()),
        )
        .await?;
        let token = api.authenticator.issue(&owner)?;
        Ok(CreateTenantPayload {
            tenant: Tenant(tenant),
            user: User(owner),
            token,
        })
    }

    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<LoginPayload> {
        let api = api(ctx);
        let req = request(ctx);
        let outcome = api
            .authenticator
            .login(
                &api.store,
                &input.tenant_slug,
                &input.email,
                Secret::new(input.password),
                req.client_ip,
                Some(req.request_id.clone()),
            )
            .await;
        if let Err(crate::domain::DomainError::RateLimited { retry_after }) = &outcome {
            ctx.append_http_header("retry-after", retry_after.as_secs_f64().ceil().max(1.0).to_string());
        }
        let (token, user) = outcome?;
        Ok(LoginPayload {
            token,
            user: User(user),
        })
    }

    /// Admins add users with a role no higher than their own.
    async fn create_user(&self, ctx: &Context<'_>, input: CreateUserInput) -> Result<CreateUserPayload> {
        let new = users::NewUser {
            email: input.email,
            name: input.name,
            role: input.role.into(),
            password: Secret::new(input.password),
        };
        let user = users::create(&api(ctx).store, scope(ctx)?, new).await?;
        Ok(CreateUserPayload { user: User(user) })
    }

    /// Admins deactivate a user: their records stay, their sign-ins and API keys stop at once.
    /// The tenant's last active owner cannot be deactivated.
    async fn deactivate_user(&self, ctx: &Context<'_>, input: UserIdInput) -> Result<UserPayload> {
        change_user(ctx, &input.user_id, users::Change::Deactivate).await
    }

    async fn reactivate_user(&self, ctx: &Context<'_>, input: UserIdInput) -> Result<UserPayload> {
        change_user(ctx, &input.user_id, users::Change::Reactivate).await
    }

    /// Admins give a user another role, no higher than their own; an owner is changed only by
    /// an owner, and the last active owner stays one.
    async fn change_user_role(&self, ctx: &Context<'_>, input: ChangeUserRoleInput) -> Result<UserPayload> {
        change_user(ctx, &input.user_id, users::Change::Role(input.role.into())).await
    }

    /// The caller's own name.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<UserPayload> {
        let user = users::update_profile(&api(ctx).store, scope(ctx)?, input.name).await?;
        Ok(UserPayload { user: User(user) })
    }

    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> Result<CreateApiKeyPayload> {
        let (key, secret) = api_keys::create(&api(ctx).store, scope(ctx)?, input.name, input.role.into()).await?;
        Ok(CreateApiKeyPayload {
            api_key: ApiKey(key),
            secret: secret.expose().to_owned(),
        })
    }

    async fn revoke_api_key(&self, ctx: &Context<'_>, input: RevokeApiKeyInput) -> Result<RevokeApiKeyPayload> {
        let id = parse_id("id", &input.id)?;
        let key = api_keys::revoke(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(RevokeApiKeyPayload { api_key: ApiKey(key) })
    }
}

async fn change_user(ctx: &Context<'_>, user_id: &ID, change: users::Change) -> Result<UserPayload> {
    let id = parse_id("userId", user_id)?;
    let user = users::change(&api(ctx).store, scope(ctx)?, id, change).await?;
    Ok(UserPayload { user: User(user) })
}
