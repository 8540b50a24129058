//! Contact persons, their encrypted details, and the tenant's key rotation.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::customers::ContactChannel;
use super::reads::read_tx;
use super::tenancy::Tenant;
use super::{api, parse_id, patch, scope};
use crate::domain::contacts::{self as service, ContactInput as DomainInput, ContactPatch, ContactView, Field};
use crate::domain::tenants;

pub struct Contact(pub ContactView);

/// The encrypted fields a selection of `Contact` asks for: only those are decrypted.
pub fn requested_fields(contact: async_graphql::Lookahead<'_>) -> Vec<Field> {
    Field::ALL
        .into_iter()
        .filter(|f| contact.field(f.name()).exists())
        .collect()
}

impl Contact {
    fn value(&self, field: Field) -> Option<&str> {
        self.0.values.get(&field).map(String::as_str)
    }
}

#[Object]
impl Contact {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    async fn title(&self) -> Option<&str> {
        self.0.title.as_deref()
    }
    async fn is_decision_maker(&self) -> bool {
        self.0.is_decision_maker
    }
    /// One contact per customer is the primary one.
    async fn is_primary(&self) -> bool {
        self.0.is_primary
    }
    async fn preferred_channel(&self) -> Option<ContactChannel> {
        self.0.preferred_channel.map(Into::into)
    }
    /// Lower-cased.
    async fn email(&self) -> Option<&str> {
        self.value(Field::Email)
    }
    /// E.164, e.g. +8613800138000.
    async fn phone(&self) -> Option<&str> {
        self.value(Field::Phone)
    }
    async fn wechat(&self) -> Option<&str> {
        self.value(Field::Wechat)
    }
    async fn qq(&self) -> Option<&str> {
        self.value(Field::Qq)
    }
    async fn address(&self) -> Option<&str> {
        self.value(Field::Address)
    }
    /// True when the reachable details are masked (`138****5678`) because the caller may
    /// not read them in full.
    async fn masked(&self) -> bool {
        self.0.masked
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A contact person. Give at least a name or one way to reach them.
#[derive(InputObject, Clone)]
pub struct ContactInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub is_decision_maker: Option<bool>,
    /// The first contact is primary unless another is marked.
    pub is_primary: Option<bool>,
    pub preferred_channel: Option<ContactChannel>,
    pub email: Option<String>,
    /// Any common format; numbers without a country code are read in the tenant's phone region.
    pub phone: Option<String>,
    pub wechat: Option<String>,
    pub qq: Option<String>,
    pub address: Option<String>,
}

impl From<ContactInput> for DomainInput {
    fn from(c: ContactInput) -> Self {
        DomainInput {
            name: c.name,
            title: c.title,
            is_decision_maker: c.is_decision_maker,
            is_primary: c.is_primary,
            preferred_channel: c.preferred_channel.map(Into::into),
            email: c.email,
            phone: c.phone,
            wechat: c.wechat,
            qq: c.qq,
            address: c.address,
        }
    }
}

#[derive(InputObject)]
pub struct AddContactInput {
    pub customer_id: ID,
    pub contact: ContactInput,
}

/// Only the fields given change; `null` clears.
#[derive(InputObject)]
pub struct UpdateContactInput {
    pub id: ID,
    pub name: MaybeUndefined<String>,
    pub title: MaybeUndefined<String>,
    pub is_decision_maker: Option<bool>,
    /// `true` makes this the primary contact (the previous one stops being primary).
    pub is_primary: Option<bool>,
    pub preferred_channel: MaybeUndefined<ContactChannel>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub wechat: MaybeUndefined<String>,
    pub qq: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
}

#[derive(InputObject)]
pub struct RemoveContactInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct ContactPayload {
    pub contact: Contact,
}

#[derive(SimpleObject)]
pub struct RemoveContactPayload {
    pub removed_id: ID,
    pub customer_id: ID,
}

#[derive(SimpleObject)]
pub struct RotateTenantKeyPayload {
    /// The new data key version; existing contacts move to it in the background.
    pub data_key_version: i32,
    pub tenant: Tenant,
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    async fn add_contact(&self, ctx: &Context<'_>, input: AddContactInput) -> Result<ContactPayload> {
        let customer_id = parse_id("customerId", &input.customer_id)?;
        let view = service::add(&api(ctx).store, scope(ctx)?, customer_id, input.contact.into()).await?;
        Ok(ContactPayload { contact: Contact(view) })
    }

    async fn update_contact(&self, ctx: &Context<'_>, input: UpdateContactInput) -> Result<ContactPayload> {
        let id = parse_id("id", &input.id)?;
        let changes = ContactPatch {
            name: patch(input.name),
            title: patch(input.title),
            is_decision_maker: input.is_decision_maker,
            is_primary: input.is_primary,
            preferred_channel: patch(input.preferred_channel),
            fields: vec![
                (Field::Email, patch(input.email)),
                (Field::Phone, patch(input.phone)),
                (Field::Wechat, patch(input.wechat)),
                (Field::Qq, patch(input.qq)),
                (Field::Address, patch(input.address)),
            ],
        };
        let view = service::update(&api(ctx).store, scope(ctx)?, id, changes).await?;
        Ok(ContactPayload { contact: Contact(view) })
    }

    async fn remove_contact(&self, ctx: &Context<'_>, input: RemoveContactInput) -> Result<RemoveContactPayload> {
        let id = parse_id("id", &input.id)?;
        let customer_id = service::remove(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(RemoveContactPayload {
            removed_id: input.id,
            customer_id: ID(customer_id.to_string()),
        })
    }

    /// Starts a new version of the tenant's data key (admins). New data uses it at once;
    /// existing contacts are re-encrypted in the background (see `Tenant.encryptionStatus`).
    async fn rotate_tenant_key(&self, ctx: &Context<'_>) -> Result<RotateTenantKeyPayload> {
        let api = api(ctx);
        let scope = scope(ctx)?;
        let version = service::rotate_tenant_key(&api.store, scope).await?;
        let tenant = tenants::current(&api.store, scope).await?;
        Ok(RotateTenantKeyPayload {
            data_key_version: version as i32,
            tenant: Tenant(tenant),
        })
    }
}

/// How far the move of contact data to the newest data key has come.
#[derive(SimpleObject)]
pub struct EncryptionStatus {
    pub data_key_version: i32,
    pub contacts: u64,
    pub contacts_on_older_keys: u64,
    /// Records whose sensitive custom field values still use an older key.
    pub custom_field_records_on_older_keys: u64,
    /// True when every contact and every sensitive custom value uses the newest key.
    pub complete: bool,
}

pub async fn encryption_status(ctx: &Context<'_>) -> Result<EncryptionStatus> {
    let tx = read_tx(ctx).await?;
    let status = service::encryption_status(&tx).await?;
    tx.done().await?;
    Ok(EncryptionStatus {
        data_key_version: status.data_key_version as i32,
        contacts: status.contacts,
        contacts_on_older_keys: status.contacts_on_older_keys,
        custom_field_records_on_older_keys: status.custom_field_records_on_older_keys,
        complete: status.contacts_on_older_keys == 0 && status.custom_field_records_on_older_keys == 0,
    })
}
