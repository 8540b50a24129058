//! Contact persons of a customer. Their reachable details (e-mail, phone, WeChat, QQ,
//! address) are stored only as ciphertexts bound to their row, with blind indexes beside
//! the searchable ones; callers without plaintext rights get masked values.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use entity::enums::{ContactChannel, Role};
use entity::{contact, customer};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::access::{self, require_writer};
use super::error::UniqueKey;
use super::keys::TenantKeys;
use super::patch::Patch;
use super::{DomainError, DomainResult, ScopedTx, Store, audit, now, validate};
use crate::crypto::blind_index::blind_index;
use crate::crypto::{Aad, CryptoError, Plaintext, mask};
use crate::tenancy::TenantScope;

const TABLE: &str = "contacts";

/// The encrypted fields, in the order they are shown and audited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Email,
    Phone,
    Wechat,
    Qq,
    Address,
}

impl Field {
    pub const ALL: [Field; 5] = [Field::Email, Field::Phone, Field::Wechat, Field::Qq, Field::Address];

    pub fn name(self) -> &'static str {
        match self {
            Field::Email => "email",
            Field::Phone => "phone",
            Field::Wechat => "wechat",
            Field::Qq => "qq",
            Field::Address => "address",
        }
    }

    /// Whether exact search and duplicate detection use this field.
    fn indexed(self) -> bool {
        self != Field::Address
    }

    /// Checks and normalises a value (`region` reads phone numbers without a country code).
    pub fn normalise(self, field: &str, value: &str, region: &str) -> DomainResult<String> {
        match self {
            Field::Email => validate::email(field, value),
            Field::Phone => validate::phone(field, value, region),
            Field::Wechat => validate::wechat(field, value),
            Field::Qq => validate::qq(field, value),
            Field::Address => validate::required_text(field, Some(value.to_owned()), 500),
        }
    }

    fn mask(self, value: &str) -> String {
        match self {
            Field::Email => mask::email(value),
            Field::Phone => mask::phone(value),
            Field::Wechat | Field::Qq => mask::handle(value),
            Field::Address => mask::address(value),
        }
    }

    fn get(self, row: &contact::Model) -> Option<&str> {
        match self {
            Field::Email => row.email.as_deref(),
            Field::Phone => row.phone.as_deref(),
            Field::Wechat => row.wechat.as_deref(),
            Field::Qq => row.qq.as_deref(),
            Field::Address => row.address.as_deref(),
        }
    }

    /// Stores ciphertext and blind index (`None` clears both).
    fn set(self, row: &mut contact::Model, sealed: Option<(String, Option<String>)>) {
        let (ct, bidx) = sealed.map_or((None, None), |(c, b)| (Some(c), b));
        match self {
            Field::Email => (row.email, row.email_bidx) = (ct, bidx),
            Field::Phone => (row.phone, row.phone_bidx) = (ct, bidx),
            Field::Wechat => (row.wechat, row.wechat_bidx) = (ct, bidx),
            Field::Qq => (row.qq, row.qq_bidx) = (ct, bidx),
            Field::Address => row.address = ct,
        }
    }

    fn column(self) -> contact::Column {
        match self {
            Field::Email => contact::Column::Email,
            Field::Phone => contact::Column::Phone,
            Field::Wechat => contact::Column::Wechat,
            Field::Qq => contact::Column::Qq,
            Field::Address => contact::Column::Address,
        }
    }

    pub(crate) fn bidx_column(self) -> Option<contact::Column> {
        match self {
            Field::Email => Some(contact::Column::EmailBidx),
            Field::Phone => Some(contact::Column::PhoneBidx),
            Field::Wechat => Some(contact::Column::WechatBidx),
            Field::Qq => Some(contact::Column::QqBidx),
            Field::Address => None,
        }
    }
}

/// A new contact as the client gave it. Its Debug output hides the reachable details.
#[derive(Clone, Default)]
pub struct ContactInput {
    pub name: Option<String>,
    pub title: Option<String>,
    pub is_decision_maker: Option<bool>,
    pub is_primary: Option<bool>,
    pub preferred_channel: Option<ContactChannel>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub wechat: Option<String>,
    pub qq: Option<String>,
    pub address: Option<String>,
}

impl ContactInput {
    fn value(&self, field: Field) -> Option<&str> {
        match field {
            Field::Email => self.email.as_deref(),
            Field::Phone => self.phone.as_deref(),
            Field::Wechat => self.wechat.as_deref(),
            Field::Qq => self.qq.as_deref(),
            Field::Address => self.address.as_deref(),
        }
        .map(str::trim)
        .filter(|v| !v.is_empty())
    }
}

/// Changes to a contact; encrypted fields are given in plaintext and sealed here.
#[derive(Clone, Default)]
pub struct ContactPatch {
    pub name: Patch<String>,
    pub title: Patch<String>,
    pub is_decision_maker: Option<bool>,
    pub is_primary: Option<bool>,
    pub preferred_channel: Patch<ContactChannel>,
    pub fields: Vec<(Field, Patch<String>)>,
}

/// What a caller gets to see of a contact: plaintext, or masked values.
#[derive(Clone)]
pub struct ContactView {
    pub id: Uuid,
    pub customer_id: Uuid,
    pub name: Option<String>,
    pub title: Option<String>,
    pub is_decision_maker: bool,
    pub is_primary: bool,
    pub preferred_channel: Option<ContactChannel>,
    pub values: HashMap<Field, String>,
    pub masked: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

// Contact values must never reach a log line, even through `{:?}`.
impl std::fmt::Debug for ContactInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given: Vec<&str> = Field::ALL
            .into_iter()
            .filter(|x| self.value(*x).is_some())
            .map(Field::name)
            .collect();
        f.debug_struct("ContactInput")
            .field("given", &given)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ContactPatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let touched: Vec<&str> = self
            .fields
            .iter()
            .filter(|(_, p)| *p != Patch::Keep)
            .map(|(field, _)| field.name())
            .collect();
        f.debug_struct("ContactPatch")
            .field("touched", &touched)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ContactView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<&str> = self.values.keys().map(|x| x.name()).collect();
        f.debug_struct("ContactView")
            .field("id", &self.id)
            .field("customer_id", &self.customer_id)
            .field("masked", &self.masked)
            .field("fields", &shown)
            .finish_non_exhaustive()
    }
}

/// Owner, admin and manager read plaintext; sales staff for their own customers; viewers never.
pub fn may_read_plaintext(scope: &TenantScope, owner_id: Uuid) -> bool {
    scope.is_at_least(Role::Manager) || (scope.role() == Role::Sales && owner_id == scope.actor().user_id)
}

fn aad(tenant_id: Uuid, field: Field, row_id: Uuid) -> Aad<'static> {
    Aad {
        tenant_id,
        table: TABLE,
        column: field.name(),
        row_id,
    }
}

/// Encrypts `value` for `field` of `row` and computes its blind index.
fn seal(keys: &TenantKeys, row: &contact::Model, field: Field, value: &str) -> (String, Option<String>) {
    let ct = keys.data.encrypt(aad(row.tenant_id, field, row.id), value);
    let bidx = field.indexed().then(|| blind_index(&keys.index, field.name(), value));
    (ct, bidx)
}

/// The blind index of a value a client searches for, after the same normalisation as on write.
pub(crate) fn search_index(
    keys: &TenantKeys,
    field: Field,
    name: &str,
    value: &str,
    region: &str,
) -> DomainResult<String> {
    let normalised = field.normalise(name, value, region)?;
    Ok(blind_index(&keys.index, field.name(), &normalised))
}

/// Decrypts one field of a row; a failure names the row and field, never the value.
fn decrypt_field(keys: &TenantKeys, row: &contact::Model, field: Field, ciphertext: &str) -> DomainResult<Plaintext> {
    keys.data
        .decrypt(aad(row.tenant_id, field, row.id), ciphertext)
        .map_err(|e| decrypt_error(row, field, e))
}

fn decrypt_error(row: &contact::Model, field: Field, err: CryptoError) -> DomainError {
    // The row id and the kind of failure, never the value.
    DomainError::Internal(anyhow::anyhow!(
        "Failed to decrypt contacts.{} of contact {}: {err}",
        field.name(),
        row.id
    ))
}

/// Decrypts the `wanted` fields of a row for someone who may or may not read plaintext.
fn open(keys: &TenantKeys, row: &contact::Model, plaintext: bool, wanted: &[Field]) -> DomainResult<ContactView> {
    let mut values = HashMap::new();
    for &field in wanted {
        if let Some(ct) = field.get(row) {
            let clear = decrypt_field(keys, row, field, ct)?;
            let shown = if plaintext {
                clear.expose().to_owned()
            } else {
                field.mask(clear.expose())
            };
            values.insert(field, shown);
        }
    }
    Ok(ContactView {
        id: row.id,
        customer_id: row.customer_id,
        name: row.name.clone(),
        title: row.title.clone(),
        is_decision_maker: row.is_decision_maker,
        is_primary: row.is_primary,
        preferred_channel: row.preferred_channel,
        values,
        masked: !plaintext,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// A blank contact row for `customer_id`, sealed with the tenant's current data key.
fn new_row(tenant_id: Uuid, keys: &TenantKeys, customer_id: Uuid) -> contact::Model {
    let at = now();
    contact::Model {
        id: Uuid::now_v7(),
        tenant_id,
        customer_id,
        name: None,
        title: None,
        is_decision_maker: false,
        is_primary: false,
        preferred_channel: None,
        email: None,
        email_bidx: None,
        phone: None,
        phone_bidx: None,
        wechat: None,
        wechat_bidx: None,
        qq: None,
        qq_bidx: None,
        address: None,
        key_version: keys.data.current_version as i32,
        created_at: at,
        updated_at: at,
    }
}

/// Validates a new contact into a sealed row. `prefix` names fields in errors (`contacts.0.`).
fn build_row(
    tenant_id: Uuid,
    keys: &TenantKeys,
    region: &str,
    customer_id: Uuid,
    input: &ContactInput,
    prefix: &str,
) -> DomainResult<contact::Model> {
    let mut row = new_row(tenant_id, keys, customer_id);
    row.name = validate::optional_line(&format!("{prefix}name"), input.name.clone(), 200)?;
    row.title = validate::optional_line(&format!("{prefix}title"), input.title.clone(), 100)?;
    row.is_decision_maker = input.is_decision_maker.unwrap_or(false);
    row.is_primary = input.is_primary.unwrap_or(false);
    row.preferred_channel = input.preferred_channel;
    let mut any = row.name.is_some();
    for field in Field::ALL {
        if let Some(value) = input.value(field) {
            let normalised = field.normalise(&format!("{prefix}{}", field.name()), value, region)?;
            let sealed = seal(keys, &row, field, &normalised);
            field.set(&mut row, Some(sealed));
            any = true;
        }
    }
    if !any {
        return Err(DomainError::validation(
            format!("{prefix}name"),
            "a contact needs a name or a way to reach them",
        ));
    }
    Ok(row)
}

/// Blind indexes (field, index) of the searchable values among `inputs`, for duplicate checks.
pub(crate) fn indexes_of(
    keys: &TenantKeys,
    region: &str,
    inputs: &[ContactInput],
) -> DomainResult<Vec<(Field, String)>> {
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        for field in [Field::Email, Field::Phone] {
            if let Some(value) = input.value(field) {
                out.push((
                    field,
                    search_index(keys, field, &format!("contacts.{i}.{}", field.name()), value, region)?,
                ));
            }
        }
    }
    Ok(out)
}

/// Inserts `inputs` as the contacts of a customer that has none (new, or replacing all).
pub(crate) async fn insert_for_new_customer(
    tx: &ScopedTx,
    keys: &TenantKeys,
    region: &str,
    customer_id: Uuid,
    inputs: &[ContactInput],
) -> DomainResult<()> {
    let rows = sealed_rows(tx.tenant_id(), keys, region, customer_id, inputs)?;
    tx.insert_many(rows, None).await
}

/// `inputs` validated and sealed as the contacts of a customer that has none, the first
/// primary unless one says it is.
pub(crate) fn sealed_rows(
    tenant_id: Uuid,
    keys: &TenantKeys,
    region: &str,
    customer_id: Uuid,
    inputs: &[ContactInput],
) -> DomainResult<Vec<contact::ActiveModel>> {
    let mut rows = inputs
        .iter()
        .enumerate()
        .map(|(i, input)| build_row(tenant_id, keys, region, customer_id, input, &format!("contacts.{i}.")))
        .collect::<DomainResult<Vec<_>>>()?;
    if rows.iter().filter(|r| r.is_primary).count() > 1 {
        return Err(DomainError::validation(
            "contacts",
            "only one contact can be the primary one",
        ));
    }
    if !rows.iter().any(|r| r.is_primary)
        && let Some(first) = rows.first_mut()
    {
        first.is_primary = true;
    }
    Ok(rows.into_iter().map(to_active).collect())
}

fn to_active(row: contact::Model) -> contact::ActiveModel {
    sea_orm::IntoActiveModel::into_active_model(row).reset_all()
}

/// Contacts of many customers, decrypted or masked per customer, in one query. Writes one
/// audit row naming the customers whose plaintext contact data was returned.
/// Only the `wanted` fields are decrypted (and audited): what the client asked for.
pub async fn for_customers(
    tx: &ScopedTx,
    customers: &[customer::Model],
    wanted: &[Field],
) -> DomainResult<HashMap<Uuid, Vec<ContactView>>> {
    let mut out: HashMap<Uuid, Vec<ContactView>> = HashMap::new();
    if customers.is_empty() {
        return Ok(out);
    }
    let owners: HashMap<Uuid, Uuid> = customers.iter().map(|c| (c.id, c.owner_id)).collect();
    let rows = tx
        .select::<contact::Entity>()
        .filter(contact::Column::CustomerId.is_in(owners.keys().copied()))
        .order_by_asc(contact::Column::CustomerId)
        .order_by_desc(contact::Column::IsPrimary)
        .order_by_asc(contact::Column::CreatedAt)
        .order_by_asc(contact::Column::Id)
        .all(tx)
        .await?;
    let keys = keys_for(tx, &rows).await?;
    let mut revealed_customers = BTreeSet::new();
    let mut revealed_fields = BTreeSet::new();
    for row in &rows {
        let plaintext = owners
            .get(&row.customer_id)
            .is_some_and(|owner| may_read_plaintext(tx.scope(), *owner));
        let view = open(&keys, row, plaintext, wanted)?;
        if plaintext && !view.values.is_empty() {
            revealed_customers.insert(row.customer_id);
            revealed_fields.extend(view.values.keys().copied());
        }
        out.entry(row.customer_id).or_default().push(view);
    }
    if !revealed_customers.is_empty() {
        let fields: Vec<&str> = revealed_fields.iter().map(|f| f.name()).collect();
        let ids: Vec<Uuid> = revealed_customers.into_iter().collect();
        audit::record_reveal(tx, None, &fields, &ids).await?;
    }
    Ok(out)
}

/// The tenant's keys, reloaded when a row is sealed with a version this process has not
/// seen yet (rotated on another replica).
async fn keys_for(tx: &ScopedTx, rows: &[contact::Model]) -> DomainResult<std::sync::Arc<TenantKeys>> {
    let vault = tx.store().vault();
    let keys = vault.for_tenant(tx, tx.tenant_id()).await?;
    if rows
        .iter()
        .all(|r| keys.data.keys.contains_key(&(r.key_version as u32)))
    {
        return Ok(keys);
    }
    vault.reload(tx, tx.tenant_id()).await
}

pub async fn add(
    store: &Store,
    scope: &TenantScope,
    customer_id: Uuid,
    input: ContactInput,
) -> DomainResult<ContactView> {
    require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let owner = writable_customer(&tx, customer_id).await?;
    let keys = store.vault().for_tenant(&tx, tx.tenant_id()).await?;
    let region = &tx.context().await?.phone_region;
    let mut row = build_row(tx.tenant_id(), &keys, region, customer_id, &input, "")?;
    let existing = tx
        .select::<contact::Entity>()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .count(&tx)
        .await?;
    if existing == 0 {
        row.is_primary = true;
    } else if row.is_primary {
        clear_primary(&tx, customer_id).await?;
    }
    let fields = filled_fields(&row);
    let row = tx.insert(to_active(row)).await?;
    audit::record(&tx, "contact.create", Some(row.id), &fields).await?;
    let view = open(&keys, &row, may_read_plaintext(scope, owner.owner_id), &Field::ALL)?;
    audit_reveal(&tx, &view).await?;
    tx.commit().await?;
    Ok(view)
}

pub async fn update(store: &Store, scope: &TenantScope, id: Uuid, patch: ContactPatch) -> DomainResult<ContactView> {
    require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let found = find(&tx, id).await?;
    let owner = writable_customer(&tx, found.customer_id).await?;
    // Re-read under the customer's lock: a merge may have moved the contact meanwhile.
    let mut row = find(&tx, id).await?;
    let read_at = row.updated_at;
    let keys = keys_for(&tx, std::slice::from_ref(&row)).await?;
    let region = &tx.context().await?.phone_region;
    let mut changed: Vec<&str> = Vec::new();
    apply_text(&mut row.name, patch.name, "name", 200, &mut changed)?;
    apply_text(&mut row.title, patch.title, "title", 100, &mut changed)?;
    if let Some(v) = patch.is_decision_maker
        && v != row.is_decision_maker
    {
        row.is_decision_maker = v;
        changed.push("isDecisionMaker");
    }
    match patch.preferred_channel {
        Patch::Keep => {}
        Patch::Clear => row.preferred_channel = None,
        Patch::Set(c) => row.preferred_channel = Some(c),
    }
    // A row keeps one key version for all its fields: re-seal what stays under the current key.
    let current = keys.data.current_version as i32;
    if row.key_version != current {
        for field in Field::ALL {
            if let Some(ct) = field.get(&row).map(str::to_owned) {
                let clear = decrypt_field(&keys, &row, field, &ct)?;
                let sealed = seal(&keys, &row, field, clear.expose());
                field.set(&mut row, Some(sealed));
            }
        }
        row.key_version = current;
    }
    for (field, change) in patch.fields {
        match change {
            Patch::Keep => {}
            Patch::Clear => {
                if field.get(&row).is_some() {
                    field.set(&mut row, None);
                    changed.push(field.name());
                }
            }
            Patch::Set(value) => {
                let normalised = field.normalise(field.name(), &value, region)?;
                let sealed = seal(&keys, &row, field, &normalised);
                field.set(&mut row, Some(sealed));
                changed.push(field.name());
            }
        }
    }
    if patch.is_primary == Some(true) && !row.is_primary {
        clear_primary(&tx, row.customer_id).await?;
        row.is_primary = true;
        changed.push("isPrimary");
    }
    row.updated_at = now();
    let written = tx
        .update::<contact::Entity>()
        .filter(contact::Column::Id.eq(id))
        .filter(contact::Column::UpdatedAt.eq(read_at))
        .set(to_active(row.clone()))
        .exec(&tx)
        .await?;
    if written == 0 {
        return Err(DomainError::Conflict(
            "the contact changed meanwhile; reload and retry".into(),
        ));
    }
    audit::record(&tx, "contact.update", Some(id), &changed).await?;
    let view = open(&keys, &row, may_read_plaintext(scope, owner.owner_id), &Field::ALL)?;
    audit_reveal(&tx, &view).await?;
    tx.commit().await?;
    Ok(view)
}

/// Removes a contact for good; if it was the primary one, the oldest remaining takes over.
pub async fn remove(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<Uuid> {
    require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let row = find(&tx, id).await?;
    access::lock_customer(&tx, row.customer_id).await?;
    tx.delete::<contact::Entity>()
        .filter(contact::Column::Id.eq(id))
        .exec(&tx)
        .await?;
    if row.is_primary {
        promote_oldest(&tx, row.customer_id).await?;
    }
    audit::record(&tx, "contact.remove", Some(id), &[]).await?;
    tx.commit().await?;
    Ok(row.customer_id)
}

/// The customer whose contacts are about to change, locked; archived (or erased) customers
/// take no new contact data.
async fn writable_customer(tx: &ScopedTx, id: Uuid) -> DomainResult<customer::Model> {
    let customer = access::lock_customer(tx, id).await?;
    if customer.archived_at.is_some() {
        return Err(DomainError::Conflict(
            "the customer is archived; restore it before changing its contacts".into(),
        ));
    }
    Ok(customer)
}

/// The encrypted fields a set of views shows in plaintext.
pub(crate) fn revealed_fields(views: &[ContactView]) -> Vec<&'static str> {
    let fields: BTreeSet<Field> = views
        .iter()
        .filter(|v| !v.masked)
        .flat_map(|v| v.values.keys().copied())
        .collect();
    fields.into_iter().map(Field::name).collect()
}

/// Records that a response carries this contact's plaintext.
async fn audit_reveal(tx: &ScopedTx, view: &ContactView) -> DomainResult<()> {
    let fields = revealed_fields(std::slice::from_ref(view));
    if fields.is_empty() {
        return Ok(());
    }
    audit::record_reveal(tx, Some(view.id), &fields, &[view.customer_id]).await
}

async fn find(tx: &ScopedTx, id: Uuid) -> DomainResult<contact::Model> {
    tx.select::<contact::Entity>()
        .filter(contact::Column::Id.eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("contact"))
}

async fn clear_primary(tx: &ScopedTx, customer_id: Uuid) -> DomainResult<()> {
    tx.update::<contact::Entity>()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .set(contact::ActiveModel {
            is_primary: Set(false),
            ..Default::default()
        })
        .exec(tx)
        .await?;
    Ok(())
}

pub(crate) async fn promote_oldest(tx: &ScopedTx, customer_id: Uuid) -> DomainResult<()> {
    let has_primary = tx
        .select::<contact::Entity>()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .filter(contact::Column::IsPrimary.eq(true))
        .count(tx)
        .await?
        > 0;
    if has_primary {
        return Ok(());
    }
    let oldest = tx
        .select::<contact::Entity>()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .order_by_asc(contact::Column::CreatedAt)
        .order_by_asc(contact::Column::Id)
        .limit(1)
        .one(tx)
        .await?;
    if let Some(row) = oldest {
        tx.update::<contact::Entity>()
            .filter(contact::Column::Id.eq(row.id))
            .set(contact::ActiveModel {
                is_primary: Set(true),
                ..Default::default()
            })
            .exec(tx)
            .await?;
    }
    Ok(())
}

fn filled_fields(row: &contact::Model) -> Vec<&'static str> {
    Field::ALL
        .into_iter()
        .filter(|f| f.get(row).is_some())
        .map(Field::name)
        .collect()
}

fn apply_text(
    target: &mut Option<String>,
    patch: Patch<String>,
    field: &'static str,
    max: usize,
    changed: &mut Vec<&str>,
) -> DomainResult<()> {
    let next = match patch {
        Patch::Keep => return Ok(()),
        Patch::Clear => None,
        Patch::Set(v) => validate::optional_line(field, Some(v), max)?,
    };
    if *target != next {
        *target = next;
        changed.push(field);
    }
    Ok(())
}

/// How far re-encryption under the tenant's newest data key has come.
#[derive(Debug, Clone)]
pub struct EncryptionStatus {
    pub data_key_version: u32,
    pub contacts: u64,
    pub contacts_on_older_keys: u64,
    /// Customers, contracts, transactions and interactions with sensitive custom values on an older key.
    pub custom_field_records_on_older_keys: u64,
}

pub async fn encryption_status(tx: &ScopedTx) -> DomainResult<EncryptionStatus> {
    if !tx.scope().is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may see the encryption status"));
    }
    let keys = tx.store().vault().reload(tx, tx.tenant_id()).await?;
    let current = keys.data.current_version as i32;
    let contacts = tx.select::<contact::Entity>().count(tx).await?;
    let older = tx
        .select::<contact::Entity>()
        .filter(contact::Column::KeyVersion.lt(current))
        .count(tx)
        .await?;
    let custom_older = super::custom_fields::values::records_on_older_keys(tx, current).await?;
    Ok(EncryptionStatus {
        data_key_version: current as u32,
        contacts,
        contacts_on_older_keys: older,
        custom_field_records_on_older_keys: custom_older,
    })
}

/// Starts a new data key version for the tenant (admins); existing rows move to it in the background.
pub async fn rotate_tenant_key(store: &Store, scope: &TenantScope) -> DomainResult<u32> {
    if !scope.is_at_least(Role::Admin) || scope.actor().api_key_id.is_some() {
        return Err(DomainError::Forbidden(
            "only an admin, signed in, may rotate the tenant's key",
        ));
    }
    let tx = store.begin_scoped(scope).await?;
    let version = store
        .vault()
        .rotate_data_key(&tx, scope.tenant_id())
        .await
        .on_unique(|| DomainError::Conflict("another rotation of this tenant's key is under way".into()))?;
    audit::record(&tx, "tenant.rotate_key", Some(scope.tenant_id()), &["dataKeyVersion"]).await?;
    tx.commit().await?;
    store
        .invalidate(crate::cache::Invalidation::Tenant(scope.tenant_id()))
        .await;
    store.reencrypt_wanted.notify_one();
    Ok(version)
}

/// What one re-encryption batch did.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReencryptBatch {
    /// Rows on an older key that the batch looked at.
    pub selected: u64,
    /// Rows it moved to the newest key.
    pub moved: u64,
    /// Rows it could not decrypt (logged; left as they are).
    pub failed: u64,
}

/// Re-encrypts up to `limit` contacts of one tenant that still use an older data key.
/// A row is written back only if none of its ciphertexts changed since it was read, so an
/// edit made meanwhile is never undone and its blind indexes stay right; any number of
/// workers may run at once, and a crash loses nothing: the next run finds what is left.
pub async fn reencrypt_batch(store: &Store, tenant_id: Uuid, limit: u64) -> DomainResult<ReencryptBatch> {
    let tx = store.begin_tenant_job(tenant_id).await?;
    let keys = store.vault().reload(&tx, tenant_id).await?;
    let current = keys.data.current_version as i32;
    let rows = tx
        .select::<contact::Entity>()
        .filter(contact::Column::KeyVersion.lt(current))
        .order_by_asc(contact::Column::Id)
        .limit(limit)
        .all(&tx)
        .await?;
    let mut batch = ReencryptBatch {
        selected: rows.len() as u64,
        ..Default::default()
    };
    'rows: for row in rows {
        let mut update = contact::ActiveModel {
            key_version: Set(current),
            ..Default::default()
        };
        let mut unchanged = Condition::all()
            .add(contact::Column::Id.eq(row.id))
            .add(contact::Column::KeyVersion.eq(row.key_version));
        for field in Field::ALL {
            let column = field.column();
            let Some(ct) = field.get(&row) else {
                unchanged = unchanged.add(column.is_null());
                continue;
            };
            let clear = match keys.data.decrypt(aad(tenant_id, field, row.id), ct) {
                Ok(clear) => clear,
                Err(e) => {
                    tracing::error!(contact_id = %row.id, field = field.name(), error = %e, "cannot re-encrypt a contact");
                    batch.failed += 1;
                    continue 'rows;
                }
            };
            unchanged = unchanged.add(column.eq(ct));
            update.set(
                column,
                keys.data.encrypt(aad(tenant_id, field, row.id), clear.expose()).into(),
            );
        }
        batch.moved += tx
            .update::<contact::Entity>()
            .filter(unchanged)
            .set(update)
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(batch)
}

/// Deletes every contact of a customer: ciphertexts and blind indexes go with the rows.
pub(crate) async fn erase_for_customer(tx: &ScopedTx, customer_id: Uuid) -> DomainResult<u64> {
    tx.delete::<contact::Entity>()
        .filter(contact::Column::CustomerId.eq(customer_id))
        .exec(tx)
        .await
}
