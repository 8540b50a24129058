//! Customers: identity, profile, status lifecycle and owner-based access.
//!
//! Sales staff see and change only the customers they own; managers and above see the whole
//! book; viewers read only. A customer outside the caller's view is NOT_FOUND, whether it
//! belongs to a colleague or to another tenant, so ids reveal nothing.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::enums::{AgeBand, CompanySize, ContactChannel, CustomerKind, CustomerSource, CustomerStatus, Gender, Role};
use entity::{contact, customer, customer_status_history, customer_tag, tenant, user};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect,
    Select,
};
use uuid::Uuid;

use super::contacts::{self, ContactInput};
use super::custom_fields::query::{self as custom_query, FieldFilter, FieldOrder};
use super::custom_fields::{FieldEntity, values};
use super::error::{UniqueKey, unique_or};
use super::money::{Currency, Money};
use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortValue};
use super::patch::{Patch, assign, patch_optional, patch_required};
use super::records::RecordKind;
use super::validate::Lines;
use super::{
    DomainError, DomainResult, Scoped, ScopedTx, Store, access, audit, history_totals, locks, now, tags, validate,
    versioned,
};
use crate::tenancy::TenantScope;

#[derive(Debug, Clone, PartialEq)]
pub struct BudgetInput {
    pub min: Option<String>,
    pub max: Option<String>,
    pub currency: String,
}

/// Every writable field of a customer except its status, which changes only through
/// `change_status` so that each change is recorded.
#[derive(Debug, Clone, Default)]
pub struct CustomerChanges {
    pub code: Patch<String>,
    pub kind: Patch<CustomerKind>,
    pub name: Patch<String>,
    pub company_name: Patch<String>,
    pub source: Patch<CustomerSource>,
    pub first_contact_date: Patch<String>,
    pub owner_id: Patch<Uuid>,
    pub gender: Patch<Gender>,
    pub birthday: Patch<String>,
    pub age_band: Patch<AgeBand>,
    pub occupation: Patch<String>,
    pub position: Patch<String>,
    pub industry: Patch<String>,
    pub company_size: Patch<CompanySize>,
    pub region: Patch<String>,
    pub city: Patch<String>,
    pub budget: Patch<BudgetInput>,
    pub preferred_channel: Patch<ContactChannel>,
    pub hobbies: Patch<String>,
    pub family_notes: Patch<String>,
    pub special_needs: Patch<String>,
    pub notes: Patch<String>,
    pub tag_ids: Patch<Vec<Uuid>>,
    /// The customer's full list of contacts: replaces whatever it had.
    pub contacts: Option<Vec<ContactInput>>,
    /// Custom field values to set (null clears one); on update, keys not given keep their value.
    pub custom_fields: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CustomerOrder {
    #[default]
    CreatedAtDesc,
    CreatedAtAsc,
    UpdatedAtDesc,
    UpdatedAtAsc,
    NameAsc,
    NameDesc,
    CodeAsc,
    CodeDesc,
}

impl CustomerOrder {
    fn key(self) -> &'static str {
        match self {
            Self::CreatedAtDesc => "CREATED_AT_DESC",
            Self::CreatedAtAsc => "CREATED_AT_ASC",
            Self::UpdatedAtDesc => "UPDATED_AT_DESC",
            Self::UpdatedAtAsc => "UPDATED_AT_ASC",
            Self::NameAsc => "NAME_ASC",
            Self::NameDesc => "NAME_DESC",
            Self::CodeAsc => "CODE_ASC",
            Self::CodeDesc => "CODE_DESC",
        }
    }

    fn column(self) -> customer::Column {
        match self {
            Self::CreatedAtDesc | Self::CreatedAtAsc => customer::Column::CreatedAt,
            Self::UpdatedAtDesc | Self::UpdatedAtAsc => customer::Column::UpdatedAt,
            Self::NameAsc | Self::NameDesc => customer::Column::Name,
            Self::CodeAsc | Self::CodeDesc => customer::Column::Code,
        }
    }

    fn time_valued(self) -> bool {
        matches!(
            self,
            Self::CreatedAtDesc | Self::CreatedAtAsc | Self::UpdatedAtDesc | Self::UpdatedAtAsc
        )
    }

    fn descending(self) -> bool {
        matches!(
            self,
            Self::CreatedAtDesc | Self::UpdatedAtDesc | Self::NameDesc | Self::CodeDesc
        )
    }

    fn value(self, c: &customer::Model) -> SortValue {
        match self {
            Self::CreatedAtDesc | Self::CreatedAtAsc => SortValue::Time(c.created_at),
            Self::UpdatedAtDesc | Self::UpdatedAtAsc => SortValue::Time(c.updated_at),
            Self::NameAsc | Self::NameDesc => SortValue::Text(c.name.clone()),
            Self::CodeAsc | Self::CodeDesc => SortValue::Text(c.code.clone()),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct CustomerFilter {
    pub status: Option<CustomerStatus>,
    pub kind: Option<CustomerKind>,
    pub owner_id: Option<Uuid>,
    pub tag_id: Option<Uuid>,
    pub source: Option<CustomerSource>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    /// `false` (the default) lists active customers, `true` archived ones.
    pub archived: bool,
    /// Case-insensitive substring of name, company name or code.
    pub search: Option<String>,
    /// Exact e-mail of a contact (any letter case), found through its blind index.
    pub email: Option<String>,
    /// Exact phone number of a contact, in any common format.
    pub phone: Option<String>,
    /// Lifetime value (non-voided transactions in that currency) at least this much.
    pub min_lifetime_value: Option<MoneyInput>,
    /// Lifetime value at most this much; customers without transactions count as zero.
    pub max_lifetime_value: Option<MoneyInput>,
    /// Stale records: no interaction at or after this time (never contacted included).
    pub last_interaction_before: Option<DateTime<Utc>>,
    pub has_open_follow_up: Option<bool>,
    /// Conditions on custom field values, all of which must hold.
    pub custom_fields: Vec<FieldFilter>,
}

/// An amount as the client wrote it, checked when the filter is built.
#[derive(Debug, Clone)]
pub struct MoneyInput {
    pub amount: String,
    pub currency: String,
}

impl MoneyInput {
    fn parse(&self, field: &str) -> DomainResult<Money> {
        let currency = Currency::parse(&format!("{field}.currency"), &self.currency)?;
        Money::parse(&format!("{field}.amount"), &self.amount, currency)
    }
}

/// Marks customers as changed by something other than `update` (bulk tagging), so an update
/// made from an earlier read of them is refused as stale.
pub(crate) async fn bump_versions(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<()> {
    tx.update::<customer::Entity>()
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .col_expr(customer::Column::Version, Expr::col(customer::Column::Version).add(1))
        .col_expr(customer::Column::UpdatedAt, Expr::value(now()))
        .exec(tx)
        .await?;
    Ok(())
}

/// The customers of `ids` the caller may see, in one query (unknown or hidden ids are left out).
pub async fn by_ids(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, customer::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let found = access::customers(tx)
        .filter(customer::Column::Id.is_in(ids.iter().copied()))
        .all(tx)
        .await?;
    Ok(found.into_iter().map(|c| (c.id, c)).collect())
}

pub async fn get(tx: &ScopedTx, id: Uuid) -> DomainResult<customer::Model> {
    access::find_customer(tx, id).await
}

/// Creates a customer with its contacts. A likely duplicate of an existing customer (same
/// e-mail or phone, or same name and company) is refused unless `allow_duplicate`.
/// A new customer row of `owner`, named and dated by the caller (a create, a seed).
pub(crate) fn blank(tenant_id: Uuid, owner: Uuid, status: CustomerStatus) -> customer::Model {
    let at = now();
    customer::Model {
        id: Uuid::now_v7(),
        tenant_id,
        code: String::new(),
        kind: CustomerKind::Individual,
        name: String::new(),
        company_name: None,
        source: CustomerSource::Other,
        first_contact_date: NaiveDate::MIN,
        owner_id: owner,
        status,
        gender: None,
        birthday: None,
        age_band: None,
        occupation: None,
        position: None,
        industry: None,
        company_size: None,
        region: None,
        city: None,
        budget_min_minor: None,
        budget_max_minor: None,
        budget_currency: None,
        preferred_channel: None,
        hobbies: None,
        family_notes: None,
        special_needs: None,
        notes: None,
        archived_at: None,
        merged_into_id: None,
        version: 1,
        created_by: owner,
        created_at: at,
        updated_at: at,
        custom_fields: serde_json::json!({}),
        custom_field_index: serde_json::json!({}),
        custom_fields_key_version: None,
    }
}

pub async fn create(
    store: &Store,
    scope: &TenantScope,
    mut changes: CustomerChanges,
    status: Option<CustomerStatus>,
    allow_duplicate: bool,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    access::require_writer(scope)?;
    for (field, missing) in [
        ("kind", !matches!(changes.kind, Patch::Set(_))),
        ("name", !matches!(changes.name, Patch::Set(_))),
        ("source", !matches!(changes.source, Patch::Set(_))),
    ] {
        if missing {
            return Err(DomainError::validation(field, "is required"));
        }
    }
    let mut draft = blank(
        scope.tenant_id(),
        scope.actor().user_id,
        status.unwrap_or(CustomerStatus::Potential),
    );
    let tag_ids = match &changes.tag_ids {
        Patch::Set(ids) => dedup(ids),
        _ => Vec::new(),
    };
    let contact_inputs = changes.contacts.take().unwrap_or_default();
    let custom_input = changes.custom_fields.take();
    // Before the create's transaction: on SQLite a second one would wait for its lock.
    let generated_code = match changes.code {
        Patch::Keep => Some(take_customer_code(store, scope).await?),
        _ => None,
    };
    let tx = store.begin_scoped(scope).await?;
    let context = tx.context().await?.clone();
    let (today, region) = (context.today(), &context.phone_region);
    draft.first_contact_date = today;
    let custom = values::prepare(&tx, FieldEntity::Customer, draft.id, None, custom_input.as_ref()).await?;
    (draft.custom_fields, draft.custom_field_index) = (custom.values.clone(), custom.index.clone());
    draft.custom_fields_key_version = custom.key_version;
    let mut changed = Vec::new();
    apply_changes(&tx, changes, &mut draft, &mut changed, today).await?;
    if let Some(code) = generated_code {
        draft.code = free_code_from(&tx, code).await?;
    }
    let keys = store.vault().for_tenant(&tx, tx.tenant_id()).await?;
    let indexes = contacts::indexes_of(&keys, region, &contact_inputs)?;
    if !allow_duplicate {
        // Held from before the check until COMMIT: a parallel create of the same person waits
        // here and then sees this one.
        let name_key = name_key(&draft);
        let mut held: Vec<locks::Key<'_>> = indexes
            .iter()
            .map(|(f, bidx)| locks::Key::new(f.name(), bidx))
            .collect();
        held.push(locks::Key::new("customer-name", &name_key));
        locks::hold(&tx, &held).await?;
        let found = duplicates_of(&tx, &draft, &indexes).await?;
        if !found.is_empty() {
            return Err(DomainError::Duplicate {
                field: if indexes.is_empty() { "name" } else { "contacts" }.into(),
                message: "a customer with the same contact details or name already exists; \
                          pass allowDuplicate to create it anyway"
                    .into(),
                candidates: found.iter().filter(|c| visible_to(scope, c)).map(|c| c.id).collect(),
            });
        }
    }
    tags::ensure_exist(&tx, "tagIds", &tag_ids).await?;
    let created = tx
        .insert(draft.clone().into_active_model().reset_all())
        .await
        .on_unique(|| code_taken(&draft.code))?;
    record_status(&tx, created.id, None, created.status, None).await?;
    set_tags(&tx, created.id, &tag_ids).await?;
    contacts::insert_for_new_customer(&tx, &keys, region, created.id, &contact_inputs).await?;
    if !contact_inputs.is_empty() {
        changed.push("contacts");
    }
    audit::record(&tx, "customer.create", Some(created.id), &custom.audit_fields(&changed)).await?;
    commit_answering(tx, created, parts).await
}

/// Applies `changes` if `version` is still current; a stale version is a CONFLICT.
pub async fn update(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: i32,
    changes: CustomerChanges,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    access::require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = access::find_customer(&tx, id).await?;
    if current.archived_at.is_some() {
        return Err(DomainError::Conflict(
            "the customer is archived; restore it before changing it".into(),
        ));
    }
    if current.version != version {
        return Err(versioned::stale::<customer::Entity>(&current));
    }
    let new_tags = match &changes.tag_ids {
        Patch::Set(ids) => Some(dedup(ids)),
        Patch::Clear => Some(Vec::new()),
        Patch::Keep => None,
    };
    let mut changes = changes;
    let new_contacts = changes.contacts.take();
    let mut next = current.clone();
    let mut changed = Vec::new();
    let context = tx.context().await?.clone();
    let (today, region) = (context.today(), &context.phone_region);
    let custom = values::prepare(
        &tx,
        FieldEntity::Customer,
        id,
        Some((&current.custom_fields, &current.custom_field_index)),
        changes.custom_fields.take().as_ref(),
    )
    .await?;
    (next.custom_fields, next.custom_field_index) = (custom.values.clone(), custom.index.clone());
    next.custom_fields_key_version = custom.key_version;
    apply_changes(&tx, changes, &mut next, &mut changed, today).await?;
    if let Some(inputs) = &new_contacts {
        // Replaced as a whole: validated and sealed before the old ones go.
        let keys = store.vault().for_tenant(&tx, tx.tenant_id()).await?;
        contacts::erase_for_customer(&tx, id).await?;
        contacts::insert_for_new_customer(&tx, &keys, region, id, inputs).await?;
        changed.push("contacts");
    }
    if let Some(ids) = &new_tags {
        tags::ensure_exist(&tx, "tagIds", ids).await?;
        let mut before = tag_ids_of(&tx, id).await?;
        let mut after = ids.clone();
        before.sort();
        after.sort();
        if before != after {
            changed.push("tags");
        }
    }
    if changed.is_empty() && custom.changed.is_empty() {
        return commit_answering(tx, current, parts).await;
    }
    let saved = save_if_version(&tx, next, version).await?;
    if let Some(ids) = &new_tags {
        tx.delete::<customer_tag::Entity>()
            .filter(customer_tag::Column::CustomerId.eq(id))
            .exec(&tx)
            .await?;
        set_tags(&tx, id, ids).await?;
    }
    audit::record(&tx, "customer.update", Some(id), &custom.audit_fields(&changed)).await?;
    commit_answering(tx, saved, parts).await
}

/// Archives a customer (kept with its history, hidden from default lists). With `version`,
/// refused as CONFLICT if the customer changed since it was read.
pub async fn archive(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: Option<i32>,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    set_archived(store, scope, id, version, true, parts).await
}

pub async fn restore(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: Option<i32>,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    set_archived(store, scope, id, version, false, parts).await
}

async fn set_archived(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: Option<i32>,
    archive: bool,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    access::require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = access::find_customer(&tx, id).await?;
    if let Some(v) = version
        && v != current.version
    {
        return Err(versioned::stale::<customer::Entity>(&current));
    }
    if current.archived_at.is_some() == archive {
        return commit_answering(tx, current, parts).await;
    }
    let version = current.version;
    let mut next = current;
    next.archived_at = if archive { Some(now()) } else { None };
    let saved = save_if_version(&tx, next, version).await?;
    if archive {
        super::reminders::cancel_pending_for_customer(&tx, id).await?;
    }
    let action = if archive {
        "customer.archive"
    } else {
        "customer.restore"
    };
    audit::record(&tx, action, Some(id), &["archivedAt"]).await?;
    commit_answering(tx, saved, parts).await
}

/// Moves a customer to another status and records the change with its actor and time.
pub async fn change_status(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    status: CustomerStatus,
    version: Option<i32>,
    note: Option<String>,
    parts: &FileParts,
) -> DomainResult<CustomerFile> {
    access::require_writer(scope)?;
    let note = validate::optional_text("note", note, 1000)?;
    let tx = store.begin_scoped(scope).await?;
    let current = access::find_customer(&tx, id).await?;
    if let Some(v) = version
        && v != current.version
    {
        return Err(versioned::stale::<customer::Entity>(&current));
    }
    if current.archived_at.is_some() {
        return Err(DomainError::Conflict(
            "the customer is archived; restore it before changing it".into(),
        ));
    }
    if current.status == status {
        return commit_answering(tx, current, parts).await;
    }
    let (from, read_version) = (current.status, current.version);
    let mut next = current;
    next.status = status;
    let saved = save_if_version(&tx, next, read_version).await?;
    record_status(&tx, id, Some(from), status, note).await?;
    audit::record(&tx, "customer.change_status", Some(id), &["status"]).await?;
    commit_answering(tx, saved, parts).await
}

/// The status changes of each customer of `customer_ids`, oldest first.
pub async fn status_history(
    tx: &ScopedTx,
    customer_ids: &[Uuid],
) -> DomainResult<HashMap<Uuid, Vec<customer_status_history::Model>>> {
    let mut out: HashMap<Uuid, Vec<customer_status_history::Model>> = HashMap::new();
    if customer_ids.is_empty() {
        return Ok(out);
    }
    let rows = tx
        .select::<customer_status_history::Entity>()
        .filter(customer_status_history::Column::CustomerId.is_in(customer_ids.iter().copied()))
        .order_by_asc(customer_status_history::Column::ChangedAt)
        .order_by_asc(customer_status_history::Column::Id)
        .all(tx)
        .await?;
    for row in rows {
        out.entry(row.customer_id).or_default().push(row);
    }
    Ok(out)
}

/// The parts of a customer's file a write's answer shows besides the customer's row.
#[derive(Debug, Clone, Default)]
pub struct FileParts {
    /// The contact fields to open, when the contacts are shown.
    pub contacts: Option<Vec<contacts::Field>>,
    pub tags: bool,
    pub status_history: bool,
    pub owner: bool,
    pub custom_fields: bool,
}

/// A customer as a write left it, with the parts of its file that `FileParts` asked for
/// (`None`: not asked), all read before the write's COMMIT.
pub struct CustomerFile {
    pub customer: customer::Model,
    pub contacts: Option<Vec<contacts::ContactView>>,
    pub tags: Option<Vec<entity::tag::Model>>,
    pub status_history: Option<Vec<customer_status_history::Model>>,
    /// `Some(None)`: the owner is no longer a user the caller may see.
    pub owner: Option<Option<user::Model>>,
    pub custom_fields: Option<Vec<values::FieldValue>>,
}

/// The entry of one customer in a map loaded for several.
fn entry_of<T: Default>(mut loaded: HashMap<Uuid, T>, id: Uuid) -> T {
    loaded.remove(&id).unwrap_or_default()
}

/// Reads the `parts` of the customer's file inside the write's transaction.
async fn file_of(tx: &ScopedTx, customer: customer::Model, parts: &FileParts) -> DomainResult<CustomerFile> {
    let id = customer.id;
    let contacts = match &parts.contacts {
        Some(wanted) => Some(entry_of(
            contacts::for_customers(tx, std::slice::from_ref(&customer), wanted).await?,
            id,
        )),
        None => None,
    };
    let tags = match parts.tags {
        true => Some(entry_of(tags::for_customers(tx, &[id]).await?, id)),
        false => None,
    };
    let status_history = match parts.status_history {
        true => Some(entry_of(status_history(tx, &[id]).await?, id)),
        false => None,
    };
    let owner = match parts.owner {
        true => Some(
            super::users::by_ids_in(tx, &[customer.owner_id])
                .await?
                .remove(&customer.owner_id),
        ),
        false => None,
    };
    let custom_fields = match parts.custom_fields {
        true => {
            let plaintext = contacts::may_read_plaintext(tx.scope(), customer.owner_id);
            Some(values::read_in(tx, &customer, plaintext).await?)
        }
        false => None,
    };
    Ok(CustomerFile {
        customer,
        contacts,
        tags,
        status_history,
        owner,
        custom_fields,
    })
}

/// Reads the `parts` of the customer's file, then commits: the answer of a write that
/// committed needs the database no more.
async fn commit_answering(tx: ScopedTx, customer: customer::Model, parts: &FileParts) -> DomainResult<CustomerFile> {
    let file = file_of(&tx, customer, parts).await?;
    tx.commit().await?;
    Ok(file)
}

/// A page of customers; `by_custom_field`, when given, sorts instead of `order`.
pub async fn list(
    tx: &ScopedTx,
    filter: &CustomerFilter,
    order: CustomerOrder,
    by_custom_field: Option<&FieldOrder>,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<customer::Model>> {
    let select = matching(tx, filter).await?;
    if let Some(by) = by_custom_field {
        return custom_query::sorted_page(tx, select, by, args, max_page_size).await;
    }
    let request = PageRequest::new(args, order.key(), order.time_valued(), max_page_size)?;
    let rows = request
        .apply(select, order.column(), customer::Column::Id, order.descending())
        .all(tx)
        .await?;
    Ok(request.finish(rows, |c| Cursor {
        sort: order.key().into(),
        value: order.value(c),
        id: c.id,
    }))
}

pub async fn count(tx: &ScopedTx, filter: &CustomerFilter) -> DomainResult<u64> {
    matching(tx, filter).await?.count(tx).await
}

/// The customers `filter` selects, with contact and custom field searches resolved.
async fn matching(tx: &ScopedTx, filter: &CustomerFilter) -> DomainResult<Scoped<Select<customer::Entity>>> {
    let contact_search = contact_search(tx, filter).await?;
    let select = filtered(tx, filter, &contact_search)?;
    custom_query::narrowed::<customer::Entity, _>(tx, select, &filter.custom_fields).await
}

/// Blind indexes of the contact values the filter asks for.
async fn contact_search(tx: &ScopedTx, f: &CustomerFilter) -> DomainResult<Vec<(contact::Column, String)>> {
    let wanted: Vec<(contacts::Field, &str, &str)> = [
        (contacts::Field::Email, "filter.email", f.email.as_deref()),
        (contacts::Field::Phone, "filter.phone", f.phone.as_deref()),
    ]
    .into_iter()
    .filter_map(|(field, name, value)| value.map(|v| (field, name, v)))
    .collect();
    for (_, name, value) in &wanted {
        validate::search_term(name, Some(value))?;
    }
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    if tx.scope().role() == Role::Viewer {
        // Enough guesses against a masked value would otherwise reveal it in full.
        return Err(DomainError::Forbidden("viewers cannot search by contact details"));
    }
    let keys = tx.store().vault().for_tenant(tx, tx.tenant_id()).await?;
    let region = &tx.context().await?.phone_region;
    let mut out = Vec::with_capacity(wanted.len());
    for (field, name, value) in wanted {
        let column = field
            .bidx_column()
            .ok_or_else(|| DomainError::Internal(anyhow::anyhow!("{} has no blind index", field.name())))?;
        out.push((column, contacts::search_index(&keys, field, name, value, region)?));
    }
    Ok(out)
}

fn filtered(
    tx: &ScopedTx,
    f: &CustomerFilter,
    contact_search: &[(contact::Column, String)],
) -> DomainResult<Scoped<Select<customer::Entity>>> {
    let mut select = access::customers(tx);
    for (column, bidx) in contact_search {
        let matching = tx
            .select::<contact::Entity>()
            .select_only()
            .column(contact::Column::CustomerId)
            .filter(column.eq(bidx.clone()))
            .into_subquery();
        select = select.filter(customer::Column::Id.in_subquery(matching));
    }
    select = if f.archived {
        select.filter(customer::Column::ArchivedAt.is_not_null())
    } else {
        select.filter(customer::Column::ArchivedAt.is_null())
    };
    if let Some(v) = f.status {
        select = select.filter(customer::Column::Status.eq(v));
    }
    if let Some(v) = f.kind {
        select = select.filter(customer::Column::Kind.eq(v));
    }
    if let Some(v) = f.owner_id {
        select = select.filter(customer::Column::OwnerId.eq(v));
    }
    if let Some(v) = f.source {
        select = select.filter(customer::Column::Source.eq(v));
    }
    if let Some(v) = validate::search_term("filter.industry", f.industry.as_deref())? {
        select = select.filter(customer::Column::Industry.eq(v));
    }
    if let Some(v) = validate::search_term("filter.region", f.region.as_deref())? {
        select = select.filter(customer::Column::Region.eq(v));
    }
    if let Some(v) = f.created_from {
        select = select.filter(customer::Column::CreatedAt.gte(v));
    }
    if let Some(v) = f.created_to {
        select = select.filter(customer::Column::CreatedAt.lt(v));
    }
    if let Some(v) = f.updated_from {
        select = select.filter(customer::Column::UpdatedAt.gte(v));
    }
    if let Some(v) = f.updated_to {
        select = select.filter(customer::Column::UpdatedAt.lt(v));
    }
    if let Some(tag_id) = f.tag_id {
        let tagged = tx
            .select::<customer_tag::Entity>()
            .select_only()
            .column(customer_tag::Column::CustomerId)
            .filter(customer_tag::Column::TagId.eq(tag_id))
            .into_subquery();
        select = select.filter(customer::Column::Id.in_subquery(tagged));
    }
    if let Some(term) = validate::search_term("filter.search", f.search.as_deref())? {
        let escaped = term
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = || LikeExpr::new(format!("%{escaped}%")).escape('\\');
        let lower = |c: customer::Column| Expr::expr(Func::lower(Expr::col((customer::Entity, c))));
        select = select.filter(
            Condition::any()
                .add(lower(customer::Column::Name).like(pattern()))
                .add(lower(customer::Column::CompanyName).like(pattern()))
                .add(lower(customer::Column::Code).like(pattern())),
        );
    }
    if let Some(min) = &f.min_lifetime_value {
        let min = min.parse("filter.minLifetimeValue")?;
        // Everyone has at least nothing: a bound of zero or less excludes no one.
        if min.minor > 0 {
            let valuable = history_totals::customers_with_value(tx, min.currency, min.minor, true);
            select = select.filter(customer::Column::Id.in_subquery(valuable));
        }
    }
    if let Some(max) = &f.max_lifetime_value {
        let max = max.parse("filter.maxLifetimeValue")?;
        let above = history_totals::customers_with_value(tx, max.currency, max.minor, false);
        select = select.filter(customer::Column::Id.not_in_subquery(above));
    }
    if let Some(before) = f.last_interaction_before {
        let recent = history_totals::customers_contacted_since(tx, before);
        select = select.filter(customer::Column::Id.not_in_subquery(recent));
    }
    if let Some(wanted) = f.has_open_follow_up {
        let open = history_totals::customers_with_open_follow_up(tx);
        select = select.filter(if wanted {
            customer::Column::Id.in_subquery(open)
        } else {
            customer::Column::Id.not_in_subquery(open)
        });
    }
    Ok(select)
}

/// The ids sorted, each once.
pub(crate) fn dedup(ids: &[Uuid]) -> Vec<Uuid> {
    let mut out = ids.to_vec();
    out.sort();
    out.dedup();
    out
}

/// Writes `next` over `read_version` only (see `versioned`); a taken code is a DUPLICATE.
async fn save_if_version(tx: &ScopedTx, next: customer::Model, read_version: i32) -> DomainResult<customer::Model> {
    let code = next.code.clone();
    versioned::save_if_version::<customer::Entity>(tx, next, read_version, unique_or(|| code_taken(&code))).await
}

/// DUPLICATE for a customer code already in use (a race lost to a concurrent write; who holds
/// it may be out of the caller's view, so no candidate is named).
fn code_taken(code: &str) -> DomainError {
    DomainError::duplicate("code", format!("customer code {code} is already in use"))
}

async fn record_status(
    tx: &ScopedTx,
    customer_id: Uuid,
    from: Option<CustomerStatus>,
    to: CustomerStatus,
    note: Option<String>,
) -> DomainResult<()> {
    tx.insert(customer_status_history::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id()),
        customer_id: Set(customer_id),
        from_status: Set(from),
        to_status: Set(to),
        actor_user_id: Set(Some(tx.scope().actor().user_id)),
        note: Set(note),
        changed_at: Set(now()),
    })
    .await?;
    Ok(())
}

async fn tag_ids_of(tx: &ScopedTx, customer_id: Uuid) -> DomainResult<Vec<Uuid>> {
    tx.select::<customer_tag::Entity>()
        .select_only()
        .column(customer_tag::Column::TagId)
        .filter(customer_tag::Column::CustomerId.eq(customer_id))
        .tuples(tx)
        .await
}

async fn set_tags(tx: &ScopedTx, customer_id: Uuid, ids: &[Uuid]) -> DomainResult<()> {
    let rows = ids
        .iter()
        .map(|tag_id| customer_tag::ActiveModel {
            tenant_id: Set(tx.tenant_id()),
            customer_id: Set(customer_id),
            tag_id: Set(*tag_id),
        })
        .collect();
    tx.insert_many(rows, None).await
}

/// Holds a customer code until COMMIT, so that a code checked as free stays free. Lock order
/// within a transaction: custom field values, then codes, then the duplicate check.
async fn hold_code(tx: &ScopedTx, code: &str) -> DomainResult<()> {
    locks::hold(tx, &[locks::Key::new("customer-code", code)]).await
}

/// What the duplicate check compares names by: the name in any letter case, and the company.
fn name_key(c: &customer::Model) -> String {
    match &c.company_name {
        Some(company) => format!("{}\u{0}{company}", c.name.to_lowercase()),
        None => c.name.to_lowercase(),
    }
}

/// The next number of the tenant's code sequence, as a code `C-000123`, taken in a
/// transaction of its own: the tenant's sequence row is locked for one statement and a commit,
/// not for the whole create, so that the creates of one tenant do not take turns. A create that
/// fails afterwards leaves a gap in the numbers.
async fn take_customer_code(store: &Store, scope: &TenantScope) -> DomainResult<String> {
    let tx = store.begin_scoped(scope).await?;
    let code = next_code(&tx).await?;
    tx.commit().await?;
    super::statements::bookkeeping_ended();
    Ok(code)
}

/// `code`, or the next number after it that nobody used by hand, held until `tx` ends. Past
/// the first, numbers are taken in `tx`, which then holds the sequence row: that happens only
/// when a code was given by hand to the number the sequence reached.
async fn free_code_from(tx: &ScopedTx, mut code: String) -> DomainResult<String> {
    for _ in 0..1000 {
        hold_code(tx, &code).await?;
        if !code_is_taken(tx, &code).await? {
            return Ok(code);
        }
        code = next_code(tx).await?;
    }
    Err(DomainError::Internal(anyhow::anyhow!(
        "no free customer code after 1000 tries"
    )))
}

async fn next_code(tx: &ScopedTx) -> DomainResult<String> {
    let seq = tx
        .update_tenant()
        .col_expr(
            tenant::Column::CustomerSeq,
            Expr::col(tenant::Column::CustomerSeq).add(1),
        )
        .exec_with_returning(tx)
        .await?
        .first()
        .map(|t| t.customer_seq)
        .ok_or(DomainError::NotFound("tenant"))?;
    Ok(format!("C-{seq:06}"))
}

async fn code_is_taken(tx: &ScopedTx, code: &str) -> DomainResult<bool> {
    Ok(tx
        .select::<customer::Entity>()
        .filter(customer::Column::Code.eq(code))
        .count(tx)
        .await?
        > 0)
}

/// A past or present date; `today` is the tenant's, so a date is never "in the future"
/// merely because UTC has not reached it yet.
fn past_date(field: &'static str, value: &str, today: NaiveDate) -> DomainResult<NaiveDate> {
    let d = validate::date(field, value)?;
    if d > today {
        return Err(DomainError::validation(field, "cannot be in the future"));
    }
    Ok(d)
}

/// The check of an optional free-text field of at most `max` characters.
fn text(field: &'static str, max: usize, lines: Lines) -> impl FnOnce(String) -> DomainResult<Option<String>> {
    move |v| validate::text(field, Some(v), max, lines)
}

fn visible_to(scope: &TenantScope, c: &customer::Model) -> bool {
    !scope.sees_only_own_customers() || c.owner_id == scope.actor().user_id
}

/// Active customers other than `candidate` that share an e-mail or phone (by blind index) with
/// `indexes`, or its name and company.
async fn duplicates_of(
    tx: &ScopedTx,
    candidate: &customer::Model,
    indexes: &[(contacts::Field, String)],
) -> DomainResult<Vec<customer::Model>> {
    let mut same_contact = Condition::any();
    for (field, bidx) in indexes {
        if let Some(column) = field.bidx_column() {
            same_contact = same_contact.add(column.eq(bidx.clone()));
        }
    }
    let mut ids: Vec<Uuid> = if indexes.is_empty() {
        Vec::new()
    } else {
        tx.select::<contact::Entity>()
            .select_only()
            .column(contact::Column::CustomerId)
            .filter(same_contact)
            .tuples(tx)
            .await?
    };
    let lower_name = Expr::expr(Func::lower(Expr::col((customer::Entity, customer::Column::Name))));
    let mut same_name = tx
        .select::<customer::Entity>()
        .select_only()
        .column(customer::Column::Id)
        .filter(lower_name.eq(candidate.name.to_lowercase()));
    same_name = match &candidate.company_name {
        Some(company) => same_name.filter(customer::Column::CompanyName.eq(company.clone())),
        None => same_name.filter(customer::Column::CompanyName.is_null()),
    };
    ids.extend(same_name.tuples::<Uuid>(tx).await?);
    ids.retain(|id| *id != candidate.id);
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tx.select::<customer::Entity>()
        .filter(customer::Column::Id.is_in(ids))
        .filter(customer::Column::ArchivedAt.is_null())
        .order_by_asc(customer::Column::CreatedAt)
        .all(tx)
        .await
}

/// Customers that look like duplicates of `id`, among those the caller may see.
pub async fn duplicate_candidates(tx: &ScopedTx, id: Uuid) -> DomainResult<Vec<customer::Model>> {
    let customer = access::find_customer(tx, id).await?;
    let mut indexes = Vec::new();
    let stored: Vec<(Option<String>, Option<String>)> = tx
        .select::<contact::Entity>()
        .select_only()
        .column(contact::Column::EmailBidx)
        .column(contact::Column::PhoneBidx)
        .filter(contact::Column::CustomerId.eq(id))
        .tuples(tx)
        .await?;
    for (email, phone) in stored {
        indexes.extend(email.map(|b| (contacts::Field::Email, b)));
        indexes.extend(phone.map(|b| (contacts::Field::Phone, b)));
    }
    let found = duplicates_of(tx, &customer, &indexes).await?;
    Ok(found.into_iter().filter(|c| visible_to(tx.scope(), c)).collect())
}

fn customer_code(value: &str) -> DomainResult<String> {
    let value = value.trim();
    let ok = (1..=32).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && value.as_bytes()[0].is_ascii_alphanumeric();
    if !ok {
        return Err(DomainError::validation(
            "code",
            "must be 1–32 letters, digits, - or _, starting with a letter or digit",
        ));
    }
    validate::pii_guard("code", value)?;
    Ok(value.to_owned())
}

fn budget(input: BudgetInput) -> DomainResult<(Option<i64>, Option<i64>, Currency)> {
    let currency = Currency::parse("budget.currency", &input.currency)?;
    let parse = |field: &str, v: Option<String>| -> DomainResult<Option<i64>> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => {
                let m = Money::parse(field, s, currency)?;
                if m.minor < 0 {
                    return Err(DomainError::validation(field, "cannot be negative"));
                }
                Ok(Some(m.minor))
            }
        }
    };
    let min = parse("budget.min", input.min)?;
    let max = parse("budget.max", input.max)?;
    if min.is_none() && max.is_none() {
        return Err(DomainError::validation("budget", "give a minimum, a maximum or both"));
    }
    if let (Some(lo), Some(hi)) = (min, max)
        && lo > hi
    {
        return Err(DomainError::validation("budget.max", "must not be below the minimum"));
    }
    Ok((min, max, currency))
}

/// Validates `changes` and applies them to `c`, noting each changed field by its API name.
async fn apply_changes(
    tx: &ScopedTx,
    changes: CustomerChanges,
    c: &mut customer::Model,
    changed: &mut Vec<&'static str>,
    today: NaiveDate,
) -> DomainResult<()> {
    let scope = tx.scope();
    match changes.code {
        Patch::Keep => {}
        Patch::Clear => return Err(DomainError::validation("code", "cannot be cleared")),
        Patch::Set(v) => {
            let code = customer_code(&v)?;
            if code != c.code {
                hold_code(tx, &code).await?;
                let clash = tx
                    .select::<customer::Entity>()
                    .filter(customer::Column::Code.eq(&code))
                    .one(tx)
                    .await?;
                if let Some(other) = clash {
                    // The code is taken tenant-wide, but only those who may see the other customer learn its id.
                    return Err(DomainError::Duplicate {
                        field: "code".into(),
                        message: format!("customer code {code} is already in use"),
                        candidates: if visible_to(scope, &other) {
                            vec![other.id]
                        } else {
                            vec![]
                        },
                    });
                }
            }
            assign("code", &mut c.code, code, changed);
        }
    }
    patch_required("kind", changes.kind, &mut c.kind, Ok, changed)?;
    match changes.name {
        Patch::Set(v) => assign(
            "name",
            &mut c.name,
            validate::required_line("name", Some(v), 200)?,
            changed,
        ),
        other => patch_required("name", other, &mut c.name, Ok, changed)?,
    }
    patch_optional(
        "companyName",
        changes.company_name,
        &mut c.company_name,
        text("companyName", 200, Lines::One),
        changed,
    )?;
    if c.kind == CustomerKind::Company && c.company_name.is_none() {
        c.company_name = Some(c.name.clone());
    }
    patch_required("source", changes.source, &mut c.source, Ok, changed)?;
    let past = |field| move |v: String| past_date(field, &v, today);
    let first_contact = past("firstContactDate");
    patch_required(
        "firstContactDate",
        changes.first_contact_date,
        &mut c.first_contact_date,
        first_contact,
        changed,
    )?;
    match changes.owner_id {
        Patch::Keep => {}
        Patch::Clear => return Err(DomainError::validation("ownerId", "every customer needs an owner")),
        Patch::Set(owner) => {
            if owner != c.owner_id && scope.sees_only_own_customers() && owner != scope.actor().user_id {
                return Err(DomainError::Forbidden(
                    "sales staff cannot give customers to someone else",
                ));
            }
            let exists = tx
                .select::<user::Entity>()
                .filter(user::Column::Id.eq(owner))
                .filter(user::Column::Active.eq(true))
                .count(tx)
                .await?
                > 0;
            if !exists {
                return Err(DomainError::validation(
                    "ownerId",
                    "is not an active user of this tenant",
                ));
            }
            assign("ownerId", &mut c.owner_id, owner, changed);
        }
    }
    patch_optional("gender", changes.gender, &mut c.gender, |v| Ok(Some(v)), changed)?;
    patch_optional(
        "birthday",
        changes.birthday,
        &mut c.birthday,
        |v| past("birthday")(v).map(Some),
        changed,
    )?;
    patch_optional("ageBand", changes.age_band, &mut c.age_band, |v| Ok(Some(v)), changed)?;
    patch_optional(
        "occupation",
        changes.occupation,
        &mut c.occupation,
        text("occupation", 100, Lines::One),
        changed,
    )?;
    patch_optional(
        "position",
        changes.position,
        &mut c.position,
        text("position", 100, Lines::One),
        changed,
    )?;
    patch_optional(
        "industry",
        changes.industry,
        &mut c.industry,
        text("industry", 100, Lines::One),
        changed,
    )?;
    patch_optional(
        "companySize",
        changes.company_size,
        &mut c.company_size,
        |v| Ok(Some(v)),
        changed,
    )?;
    patch_optional(
        "region",
        changes.region,
        &mut c.region,
        text("region", 100, Lines::One),
        changed,
    )?;
    patch_optional(
        "city",
        changes.city,
        &mut c.city,
        text("city", 100, Lines::One),
        changed,
    )?;
    match changes.budget {
        Patch::Keep => {}
        Patch::Clear => {
            let cleared = (None, None, None);
            let current = (c.budget_min_minor, c.budget_max_minor, c.budget_currency.clone());
            if current != cleared {
                (c.budget_min_minor, c.budget_max_minor, c.budget_currency) = cleared;
                changed.push("budget");
            }
        }
        Patch::Set(input) => {
            let (min, max, currency) = budget(input)?;
            let next = (min, max, Some(currency.code().to_owned()));
            if (c.budget_min_minor, c.budget_max_minor, c.budget_currency.clone()) != next {
                (c.budget_min_minor, c.budget_max_minor, c.budget_currency) = next;
                changed.push("budget");
            }
        }
    }
    patch_optional(
        "preferredChannel",
        changes.preferred_channel,
        &mut c.preferred_channel,
        |v| Ok(Some(v)),
        changed,
    )?;
    patch_optional(
        "hobbies",
        changes.hobbies,
        &mut c.hobbies,
        text("hobbies", 1000, Lines::Many),
        changed,
    )?;
    patch_optional(
        "familyNotes",
        changes.family_notes,
        &mut c.family_notes,
        text("familyNotes", 2000, Lines::Many),
        changed,
    )?;
    patch_optional(
        "specialNeeds",
        changes.special_needs,
        &mut c.special_needs,
        text("specialNeeds", 2000, Lines::Many),
        changed,
    )?;
    patch_optional(
        "notes",
        changes.notes,
        &mut c.notes,
        text("notes", 5000, Lines::Many),
        changed,
    )?;
    Ok(())
}

/// The budget of a customer as exact money values, if one is recorded.
pub fn budget_of(c: &customer::Model) -> Option<(Option<Money>, Option<Money>)> {
    let currency = Currency::parse("budgetCurrency", c.budget_currency.as_deref()?).ok()?;
    Some((
        c.budget_min_minor.map(|m| Money::from_minor(m, currency)),
        c.budget_max_minor.map(|m| Money::from_minor(m, currency)),
    ))
}

/// What a merge produced (or would produce, for a dry run).
pub struct MergeOutcome {
    pub file: CustomerFile,
    pub merged_ids: Vec<Uuid>,
}

/// Folds `duplicate_ids` into `primary_id` in one transaction: contacts, status history and
/// tags move to the primary; the primary's empty fields take the duplicates' values; the
/// duplicates are archived pointing at the primary. `dry_run` computes all of it and
/// writes nothing.
pub async fn merge(
    store: &Store,
    scope: &TenantScope,
    primary_id: Uuid,
    duplicate_ids: &[Uuid],
    dry_run: bool,
    parts: &FileParts,
) -> DomainResult<MergeOutcome> {
    access::require_writer(scope)?;
    let duplicate_ids = dedup(duplicate_ids);
    if duplicate_ids.is_empty() {
        return Err(DomainError::validation(
            "duplicateIds",
            "name at least one customer to merge",
        ));
    }
    if duplicate_ids.contains(&primary_id) {
        return Err(DomainError::validation(
            "duplicateIds",
            "cannot contain the primary customer",
        ));
    }
    let tx = store.begin_scoped(scope).await?;
    // Every customer of the merge, locked in id order before anything else: two merges of the
    // same customers (A into B, B into A) queue up instead of deadlocking.
    let mut touched = duplicate_ids.clone();
    touched.push(primary_id);
    let mut locked: HashMap<Uuid, customer::Model> = access::lock_customers(&tx, &dedup(&touched))
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let primary = locked.remove(&primary_id).ok_or(DomainError::NotFound("customer"))?;
    if primary.archived_at.is_some() {
        return Err(DomainError::validation("primaryId", "is archived; restore it first"));
    }
    let read_version = primary.version;
    let mut merged = primary.clone();
    let mut filled: Vec<&'static str> = Vec::new();
    for dup_id in &duplicate_ids {
        let dup = locked.remove(dup_id).ok_or(DomainError::NotFound("customer"))?;
        if dup.archived_at.is_some() {
            return Err(DomainError::validation("duplicateIds", "contains an archived customer"));
        }
        fill_empty_fields(&mut merged, &dup, &mut filled);
        tx.update::<contact::Entity>()
            .filter(contact::Column::CustomerId.eq(dup.id))
            .set(contact::ActiveModel {
                customer_id: Set(primary_id),
                is_primary: Set(false),
                // A contact edit that read the row before the move must not undo it.
                updated_at: Set(now()),
                ..Default::default()
            })
            .exec(&tx)
            .await?;
        // The duplicate's whole history joins the primary's file.
        tx.update::<customer_status_history::Entity>()
            .filter(customer_status_history::Column::CustomerId.eq(dup.id))
            .col_expr(customer_status_history::Column::CustomerId, Expr::value(primary_id))
            .exec(&tx)
            .await?;
        for kind in RecordKind::all() {
            kind.move_records(&tx, dup.id, primary_id).await?;
        }
        let mut tags = tag_ids_of(&tx, primary_id).await?;
        let new_tags: Vec<Uuid> = tag_ids_of(&tx, dup.id)
            .await?
            .into_iter()
            .filter(|t| !tags.contains(t))
            .collect();
        set_tags(&tx, primary_id, &new_tags).await?;
        tags.extend(new_tags);
        tx.delete::<customer_tag::Entity>()
            .filter(customer_tag::Column::CustomerId.eq(dup.id))
            .exec(&tx)
            .await?;
        let dup_version = dup.version;
        let mut archived = dup;
        archived.archived_at = Some(now());
        archived.merged_into_id = Some(primary_id);
        save_if_version(&tx, archived, dup_version).await?;
    }
    contacts::promote_oldest(&tx, primary_id).await?;
    let saved = save_if_version(&tx, merged, read_version).await?;
    filled.sort();
    filled.dedup();
    audit::record_with_subjects(&tx, "customer.merge", Some(primary_id), &filled, &duplicate_ids).await?;
    let outcome = MergeOutcome {
        file: file_of(&tx, saved, parts).await?,
        merged_ids: duplicate_ids,
    };
    if dry_run {
        tx.rollback().await?;
        // The rollback took the decrypt audit row with it; the plaintext still goes out.
        let shown: Vec<&str> = contacts::revealed_fields(outcome.file.contacts.as_deref().unwrap_or_default());
        if !shown.is_empty() {
            let tx = store.begin_scoped(scope).await?;
            audit::record_reveal(&tx, None, &shown, &[primary_id]).await?;
            tx.commit().await?;
        }
    } else {
        tx.commit().await?;
    }
    Ok(outcome)
}

/// Takes each optional field of `from` that `into` lacks.
fn fill_empty_fields(into: &mut customer::Model, from: &customer::Model, filled: &mut Vec<&'static str>) {
    macro_rules! fill {
        ($($field:ident => $name:literal),* $(,)?) => {
            $(if into.$field.is_none() && from.$field.is_some() {
                into.$field = from.$field.clone();
                filled.push($name);
            })*
        };
    }
    fill!(
        company_name => "companyName", gender => "gender", birthday => "birthday", age_band => "ageBand",
        occupation => "occupation", position => "position", industry => "industry", company_size => "companySize",
        region => "region", city => "city", preferred_channel => "preferredChannel", hobbies => "hobbies",
        family_notes => "familyNotes", special_needs => "specialNeeds", notes => "notes",
    );
    if into.budget_currency.is_none() && from.budget_currency.is_some() {
        into.budget_min_minor = from.budget_min_minor;
        into.budget_max_minor = from.budget_max_minor;
        into.budget_currency = from.budget_currency.clone();
        filled.push("budget");
    }
}

/// Erases a customer's personal data for good (right to erasure): contacts with their
/// ciphertexts and blind indexes are deleted, personal profile fields and status notes
/// cleared, the name replaced; the record stays archived so history and totals hold, and the
/// audit log keeps a tombstone without values. Admins only.
pub async fn erase(store: &Store, scope: &TenantScope, id: Uuid) -> DomainResult<Uuid> {
    if !scope.is_at_least(Role::Admin) {
        return Err(DomainError::Forbidden("only admins may erase a customer's data"));
    }
    let tx = store.begin_scoped(scope).await?;
    access::lock_customer(&tx, id).await?;
    // Customers merged into this one (directly or through a chain) hold the same person's data.
    let mut targets = vec![id];
    let mut frontier = vec![id];
    while !frontier.is_empty() {
        let merged: Vec<Uuid> = tx
            .select::<customer::Entity>()
            .select_only()
            .column(customer::Column::Id)
            .filter(customer::Column::MergedIntoId.is_in(frontier.clone()))
            .tuples::<Uuid>(&tx)
            .await?
            .into_iter()
            .filter(|c| !targets.contains(c))
            .collect();
        targets.extend(&merged);
        frontier = merged;
    }
    for target in &targets {
        let current = access::lock_customer(&tx, *target).await?;
        let removed = contacts::erase_for_customer(&tx, *target).await?;
        let version = current.version;
        let mut erased = current;
        erased.name = "(erased)".into();
        if erased.kind == CustomerKind::Individual {
            // A person's employer, whereabouts and means are theirs too; a company's are not.
            erased.company_name = None;
            erased.region = None;
            erased.city = None;
            erased.budget_min_minor = None;
            erased.budget_max_minor = None;
            erased.budget_currency = None;
        }
        erased.gender = None;
        erased.birthday = None;
        erased.age_band = None;
        erased.occupation = None;
        erased.position = None;
        erased.preferred_channel = None;
        erased.hobbies = None;
        erased.family_notes = None;
        erased.special_needs = None;
        erased.notes = None;
        // Custom fields may hold anything about the person.
        erased.custom_fields = serde_json::json!({});
        erased.custom_field_index = serde_json::json!({});
        erased.custom_fields_key_version = None;
        erased.archived_at = erased.archived_at.or(Some(now()));
        save_if_version(&tx, erased, version).await?;
        tx.update::<customer_status_history::Entity>()
            .filter(customer_status_history::Column::CustomerId.eq(*target))
            .set(customer_status_history::ActiveModel {
                note: Set(None),
                ..Default::default()
            })
            .exec(&tx)
            .await?;
        // The free text of the customer's history may speak of the person.
        for kind in RecordKind::all() {
            kind.erase_text(&tx, *target).await?;
        }
        let fields: &[&str] = if removed > 0 {
            &["contacts", "profile", "name", "history_text"]
        } else {
            &["profile", "name", "history_text"]
        };
        audit::record(&tx, "customer.erase", Some(*target), fields).await?;
    }
    tx.commit().await?;
    Ok(id)
}
