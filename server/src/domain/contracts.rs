//! Contracts with customers: their terms, their renewal chain and where each stands today.
//!
//! The status (draft, active, expiring, expired, terminated, renewed) is never stored: it is
//! derived from the dates against today in the tenant's time zone, by one ordered list of
//! rules that is read both in Rust (`status`) and as SQL conditions (the `status` filter), so
//! a contract shows the status it is filtered by. The one stored derivative is
//! `expiring_from` (end date minus the largest reminder offset in force), kept on every write
//! so "expiring" is an indexed date comparison. Access follows the customer.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use entity::enums::{ReminderKind, RenewalState};
use entity::{contract, customer};
use sea_orm::sea_query::{Condition, Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, IntoActiveModel, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

use super::custom_fields::query::{self as custom_query, FieldFilter};
use super::custom_fields::values::Written;
use super::custom_fields::{FieldEntity, values};
use super::error::unique_or;
use super::money::{Currency, Money};
use super::pagination::{SortKind, SortValue};
use super::patch::{Patch, assign, cannot_clear};
use super::patch::{patch_optional, patch_required};
use super::records::{self, CustomerRecord, RecordOrder};
use super::reminders;
use super::tenant_context::TenantContext;
use super::{
    DomainError, DomainResult, Scoped, ScopedTx, Store, access, audit, locks, now, record_writes, validate, versioned,
};
use crate::tenancy::TenantScope;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractStatus {
    /// Not started yet.
    Draft,
    Active,
    /// Running, and within the largest reminder offset of its end.
    Expiring,
    /// Past its end date without renewal or termination.
    Expired,
    Terminated,
    /// Succeeded by a renewal (or marked renewed).
    Renewed,
}

/// What a contract's status is derived from.
#[derive(Debug, Clone, Copy)]
pub struct StatusFacts {
    pub terminated: bool,
    pub renewed: bool,
    pub start_date: NaiveDate,
    /// The last day the contract runs.
    pub end_date: NaiveDate,
    pub expiring_from: NaiveDate,
}

impl From<&contract::Model> for StatusFacts {
    fn from(c: &contract::Model) -> Self {
        Self {
            terminated: c.terminated_at.is_some(),
            renewed: c.renewal_state == RenewalState::Renewed,
            start_date: c.start_date,
            end_date: c.end_date,
            expiring_from: c.expiring_from,
        }
    }
}

/// The status rules in order of precedence: the first that holds decides, and a contract
/// for which none holds is ACTIVE.
const RULES: [ContractStatus; 5] = [
    ContractStatus::Terminated,
    ContractStatus::Renewed,
    ContractStatus::Draft,
    ContractStatus::Expired,
    ContractStatus::Expiring,
];

fn rule_holds(rule: ContractStatus, f: &StatusFacts, today: NaiveDate) -> bool {
    match rule {
        ContractStatus::Terminated => f.terminated,
        ContractStatus::Renewed => f.renewed,
        ContractStatus::Draft => today < f.start_date,
        ContractStatus::Expired => today > f.end_date,
        ContractStatus::Expiring => today >= f.expiring_from,
        ContractStatus::Active => false,
    }
}

/// `rule_holds` as a condition on the contracts table.
fn rule_condition(rule: ContractStatus, today: NaiveDate) -> Condition {
    let condition = Condition::all();
    match rule {
        ContractStatus::Terminated => condition.add(contract::Column::TerminatedAt.is_not_null()),
        ContractStatus::Renewed => condition.add(contract::Column::RenewalState.eq(RenewalState::Renewed)),
        ContractStatus::Draft => condition.add(contract::Column::StartDate.gt(today)),
        ContractStatus::Expired => condition.add(contract::Column::EndDate.lt(today)),
        ContractStatus::Expiring => condition.add(contract::Column::ExpiringFrom.lte(today)),
        ContractStatus::Active => condition.add(Expr::val(1).eq(0)),
    }
}

/// A contract's status on `today` (the tenant's date).
pub fn status(facts: &StatusFacts, today: NaiveDate) -> ContractStatus {
    RULES
        .into_iter()
        .find(|rule| rule_holds(*rule, facts, today))
        .unwrap_or(ContractStatus::Active)
}

/// Contracts whose `status` on `today` is `wanted`: its rule holds and no earlier one does.
fn status_condition(wanted: ContractStatus, today: NaiveDate) -> Condition {
    let mut condition = Condition::all();
    for rule in RULES {
        if rule == wanted {
            return condition.add(rule_condition(rule, today));
        }
        condition = condition.add(rule_condition(rule, today).not());
    }
    condition
}

pub fn status_of(c: &contract::Model, today: NaiveDate) -> ContractStatus {
    status(&StatusFacts::from(c), today)
}

/// Days from `today` to the last day (negative once it has passed).
pub fn days_until_end(c: &contract::Model, today: NaiveDate) -> i64 {
    (c.end_date - today).num_days()
}

/// Reminder offsets in force, largest first: the contract's own, else the tenant's default.
pub fn reminder_offsets(c: &contract::Model, calendar: &TenantContext) -> Vec<u16> {
    own_offsets(c).unwrap_or_else(|| calendar.contract_offsets_days.clone())
}

fn own_offsets(c: &contract::Model) -> Option<Vec<u16>> {
    c.reminder_offsets_days
        .as_ref()
        .and_then(|json| serde_json::from_value(json.clone()).ok())
}

/// Whether reminders are still to come: neither terminated nor renewed.
fn live(c: &contract::Model) -> bool {
    c.terminated_at.is_none() && c.renewal_state != RenewalState::Renewed
}

/// The first day a contract counts as expiring: `end` minus the largest offset in force
/// (no offsets: the last day only).
pub(crate) fn expiring_from(end: NaiveDate, offsets: &[u16]) -> NaiveDate {
    let largest = offsets.iter().copied().max().unwrap_or(0);
    end.checked_sub_days(Days::new(u64::from(largest)))
        .unwrap_or(NaiveDate::MIN)
}

/// After the tenant's default offsets changed: contracts without offsets of their own start
/// EXPIRING at their end minus the new largest offset. One UPDATE, whatever the number.
pub(crate) async fn follow_new_default_offsets(tx: &ScopedTx, offsets: &[u16]) -> DomainResult<u64> {
    let largest = i32::from(offsets.iter().copied().max().unwrap_or(0));
    let moved = if tx.backend() == sea_orm::DbBackend::Postgres {
        Expr::cust_with_values("end_date - CAST($1 AS integer)", [largest])
    } else {
        Expr::cust_with_values("date(end_date, '-' || ? || ' days')", [largest])
    };
    let result = tx
        .update::<contract::Entity>()
        .filter(contract::Column::ReminderOffsetsDays.is_null())
        .col_expr(contract::Column::ExpiringFrom, moved.clone())
        .exec(tx)
        .await?;
    tx.update::<contract::Entity>()
        .filter(contract::Column::ReminderOffsetsDays.is_null())
        .filter(contract::Column::TerminatedAt.is_null())
        .filter(contract::Column::RenewalState.ne(RenewalState::Renewed))
        .col_expr(contract::Column::NextReminderOn, moved)
        .exec(tx)
        .await?;
    Ok(result)
}

/// Checked offsets: 0–365 days each, at most 10 distinct, stored largest first.
pub(crate) fn offsets(field: &str, days: Vec<i32>) -> DomainResult<Vec<u16>> {
    let mut out = Vec::with_capacity(days.len());
    for d in days {
        if !(0..=365).contains(&d) {
            return Err(DomainError::validation(
                field,
                "each offset must be between 0 and 365 days",
            ));
        }
        out.push(d as u16);
    }
    out.sort_unstable_by(|a, b| b.cmp(a));
    out.dedup();
    if out.len() > 10 {
        return Err(DomainError::validation(field, "allows at most 10 offsets"));
    }
    Ok(out)
}

fn contract_number(field: &str, value: String) -> DomainResult<String> {
    validate::required_line(field, Some(value), 64)
}

fn non_negative(field: &str, value: &str, currency: Currency) -> DomainResult<Money> {
    let m = Money::parse(field, value, currency)?;
    if m.minor < 0 {
        return Err(DomainError::validation(field, "cannot be negative"));
    }
    Ok(m)
}

pub struct NewContract {
    pub customer_id: Uuid,
    /// Generated as CT-000001 when not given.
    pub number: Option<String>,
    pub title: String,
    pub value: String,
    pub currency: String,
    pub start_date: String,
    pub end_date: String,
    pub signed_date: Option<String>,
    pub auto_renew: bool,
    pub renewal_state: RenewalState,
    /// Overrides the tenant's default offsets when given.
    pub reminder_offsets_days: Option<Vec<i32>>,
    pub terms: Option<String>,
    /// Custom field values (key → value), checked against the tenant's definitions.
    pub custom_fields: Option<serde_json::Value>,
}

/// Writable fields of a contract; clearing the offsets returns it to the tenant's default.
#[derive(Debug, Clone, Default)]
pub struct ContractChanges {
    pub number: Patch<String>,
    pub title: Patch<String>,
    pub value: Patch<String>,
    pub currency: Patch<String>,
    pub start_date: Patch<String>,
    pub end_date: Patch<String>,
    pub signed_date: Patch<String>,
    pub auto_renew: Patch<bool>,
    pub renewal_state: Patch<RenewalState>,
    pub reminder_offsets_days: Patch<Vec<i32>>,
    pub terms: Patch<String>,
    /// Custom field values to set (null clears one); keys not given keep their value.
    pub custom_fields: Option<serde_json::Value>,
}

impl From<NewContract> for ContractChanges {
    fn from(n: NewContract) -> Self {
        let optional = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
        Self {
            number: optional(n.number),
            title: Patch::Set(n.title),
            value: Patch::Set(n.value),
            currency: Patch::Set(n.currency),
            start_date: Patch::Set(n.start_date),
            end_date: Patch::Set(n.end_date),
            signed_date: optional(n.signed_date),
            auto_renew: Patch::Set(n.auto_renew),
            renewal_state: Patch::Set(n.renewal_state),
            reminder_offsets_days: n.reminder_offsets_days.map_or(Patch::Keep, Patch::Set),
            terms: optional(n.terms),
            custom_fields: n.custom_fields,
        }
    }
}

pub struct Renewal {
    /// The successor's last day; it starts the day after the predecessor's end.
    pub new_end_date: String,
    /// Defaults to the predecessor's value.
    pub new_value: Option<String>,
    /// Defaults to `<first contract's number>-R<n>`, n counting the renewals.
    pub new_number: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContractOrder {
    #[default]
    EndDateAsc,
    EndDateDesc,
    CreatedAtDesc,
}

impl RecordOrder<contract::Entity> for ContractOrder {
    fn key(self) -> &'static str {
        match self {
            Self::EndDateAsc => "END_DATE_ASC",
            Self::EndDateDesc => "END_DATE_DESC",
            Self::CreatedAtDesc => "CREATED_AT_DESC",
        }
    }

    fn column(self) -> contract::Column {
        match self {
            Self::EndDateAsc | Self::EndDateDesc => contract::Column::EndDate,
            Self::CreatedAtDesc => contract::Column::CreatedAt,
        }
    }

    fn kind(self) -> SortKind {
        match self {
            Self::EndDateAsc | Self::EndDateDesc => SortKind::Date,
            Self::CreatedAtDesc => SortKind::Time,
        }
    }

    fn descending(self) -> bool {
        self != Self::EndDateAsc
    }

    fn value(self, c: &contract::Model) -> SortValue {
        match self {
            Self::EndDateAsc | Self::EndDateDesc => SortValue::Date(c.end_date),
            Self::CreatedAtDesc => SortValue::Time(c.created_at),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ContractFilter {
    /// Running contracts ending between today and today + N days (inclusive), neither
    /// terminated nor renewed.
    pub expiring_within_days: Option<i32>,
    pub status: Option<ContractStatus>,
    /// Contracts of customers this user owns.
    pub owner_id: Option<Uuid>,
    pub customer_id: Option<Uuid>,
    /// Conditions on custom field values, all of which must hold.
    pub custom_fields: Vec<FieldFilter>,
}

/// A contract the caller may see, holding the row until the transaction ends (renewals of one
/// contract queue up behind each other on PostgreSQL; SQLite transactions are serialised anyway).
async fn lock_visible(tx: &ScopedTx, id: Uuid) -> DomainResult<contract::Model> {
    contract::Entity::visible(tx)
        .filter(contract::Column::Id.eq(id))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound("contract"))
}

/// The contract and its customer, both locked, the customer first as everywhere else (a
/// merge locks customers, then moves their contracts): locking the other way round could
/// deadlock with it. A contract moved by a merge meanwhile is a CONFLICT.
async fn lock_with_customer(tx: &ScopedTx, id: Uuid) -> DomainResult<contract::Model> {
    let seen = record_writes::open_record::<contract::Entity>(tx, id).await?;
    let current = lock_visible(tx, id).await?;
    if current.customer_id != seen.customer_id {
        return Err(DomainError::Conflict(
            "the contract moved to another customer meanwhile; reload it".into(),
        ));
    }
    Ok(current)
}

async fn successor_in(tx: &ScopedTx, id: Uuid) -> DomainResult<Option<contract::Model>> {
    tx.select::<contract::Entity>()
        .filter(contract::Column::PredecessorId.eq(id))
        .one(tx)
        .await
}

/// A contract as a write left it, with what its answer shows read before COMMIT: its custom
/// field values, and the tenant's calendar on which its status and reminder days depend.
pub struct WrittenContract {
    pub contract: Written<contract::Model>,
    pub calendar: Arc<TenantContext>,
}

/// A renewal as written: the new contract and the one it renewed, now RENEWED.
pub struct Renewed {
    pub successor: Written<contract::Model>,
    pub predecessor: Written<contract::Model>,
    pub calendar: Arc<TenantContext>,
}

/// Reads what the answer shows of the contract (the calendar unless the write had it), then
/// commits.
async fn commit_answering(
    tx: ScopedTx,
    contract: contract::Model,
    calendar: Option<Arc<TenantContext>>,
) -> DomainResult<WrittenContract> {
    let calendar = match calendar {
        Some(calendar) => calendar,
        None => tx.context().await?.clone(),
    };
    let contract = values::written(&tx, contract).await?;
    tx.commit().await?;
    Ok(WrittenContract { contract, calendar })
}

/// Visible contracts among `ids`.
pub async fn by_ids(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, contract::Model>> {
    record_writes::visible_keyed::<contract::Entity>(tx, contract::Column::Id, ids, |c| Some(c.id)).await
}

/// The renewal of each of `ids` that has one, keyed by the renewed contract's id.
pub async fn successors_of(tx: &ScopedTx, ids: &[Uuid]) -> DomainResult<HashMap<Uuid, contract::Model>> {
    let predecessor = |c: &contract::Model| c.predecessor_id;
    record_writes::visible_keyed::<contract::Entity>(tx, contract::Column::PredecessorId, ids, predecessor).await
}

#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn create(store: &Store, scope: &TenantScope, input: NewContract) -> DomainResult<WrittenContract> {
    access::require_writer(scope)?;
    let customer_id = input.customer_id;
    let tx = store.begin_scoped(scope).await?;
    let calendar = tx.context().await?.clone();
    access::lock_writable(&tx, customer_id, "customerId").await?;
    let at = now();
    let mut draft = contract::Model {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        customer_id,
        number: String::new(),
        title: String::new(),
        value_minor: 0,
        currency: String::new(),
        start_date: NaiveDate::MIN,
        end_date: NaiveDate::MIN,
        signed_date: None,
        auto_renew: false,
        renewal_state: RenewalState::None,
        reminder_offsets_days: None,
        expiring_from: NaiveDate::MIN,
        next_reminder_on: None,
        terms: None,
        terminated_at: None,
        termination_reason: None,
        predecessor_id: None,
        version: 1,
        created_by: scope.actor().user_id,
        created_at: at,
        updated_at: at,
        custom_fields: serde_json::json!({}),
        custom_field_index: serde_json::json!({}),
        custom_fields_key_version: None,
    };
    let mut changed = vec!["customerId"];
    let generate_number = input.number.is_none();
    let mut changes: ContractChanges = input.into();
    let given = changes.custom_fields.take();
    let custom = record_writes::set_custom_fields::<contract::Entity>(&tx, &mut draft, true, given.as_ref()).await?;
    apply_changes(&tx, changes, &mut draft, &mut changed, &calendar).await?;
    if generate_number {
        draft.number = next_contract_number(&tx).await?;
        changed.insert(1, "number");
    }
    let created = insert(&tx, draft, "number").await?;
    audit::record(&tx, "contract.create", Some(created.id), &custom.audit_fields(&changed)).await?;
    commit_answering(tx, created, Some(calendar)).await
}

/// Applies `changes` if `version` is still current (else CONFLICT). A terminated contract
/// is final; a renewed one keeps its end date and state, which its successor relies on.
#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn update(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: i32,
    changes: ContractChanges,
) -> DomainResult<WrittenContract> {
    let (tx, current) = record_writes::open_change::<contract::Entity>(store, scope, id, version, |c| {
        c.terminated_at.map(|_| "is terminated and can no longer change")
    })
    .await?;
    let calendar = tx.context().await?.clone();
    let mut next = current.clone();
    let mut changed = Vec::new();
    let mut changes = changes;
    let given = changes.custom_fields.take();
    let custom = record_writes::set_custom_fields::<contract::Entity>(&tx, &mut next, false, given.as_ref()).await?;
    apply_changes(&tx, changes, &mut next, &mut changed, &calendar).await?;
    if changed.is_empty() && custom.changed.is_empty() {
        return commit_answering(tx, current, Some(calendar)).await;
    }
    if successor_in(&tx, id).await?.is_some() {
        if next.end_date != current.end_date {
            return Err(DomainError::validation(
                "endDate",
                "cannot change: the contract was renewed and its successor starts the day after",
            ));
        }
        if next.renewal_state != RenewalState::Renewed {
            return Err(DomainError::validation(
                "renewalState",
                "stays RENEWED while the contract has a successor",
            ));
        }
    }
    // Reminders planned for another end date or offsets, or for a contract now renewed, go.
    let replan = next.end_date != current.end_date
        || next.reminder_offsets_days != current.reminder_offsets_days
        || !live(&next);
    let saved = save_if_version(&tx, next, version).await?;
    if replan {
        reminders::cancel_pending(&tx, ReminderKind::ContractExpiry, id).await?;
    }
    audit::record(&tx, "contract.update", Some(id), &custom.audit_fields(&changed)).await?;
    commit_answering(tx, saved, Some(calendar)).await
}

/// Ends a contract early. Its renewal state becomes CHURNED unless it was renewed.
#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn terminate(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    reason: Option<String>,
) -> DomainResult<WrittenContract> {
    access::require_writer(scope)?;
    let reason = validate::optional_text("reason", reason, 1000)?;
    let tx = store.begin_scoped(scope).await?;
    let current = lock_with_customer(&tx, id).await?;
    if current.terminated_at.is_some() {
        return Err(DomainError::validation("id", "is already terminated"));
    }
    let version = current.version;
    let mut next = current;
    let mut changed = vec!["terminatedAt"];
    next.terminated_at = Some(now());
    if reason.is_some() {
        changed.push("terminationReason");
    }
    next.termination_reason = reason;
    if !matches!(next.renewal_state, RenewalState::Renewed | RenewalState::Churned) {
        next.renewal_state = RenewalState::Churned;
        changed.push("renewalState");
    }
    next.next_reminder_on = None;
    let saved = save_if_version(&tx, next, version).await?;
    reminders::cancel_pending(&tx, ReminderKind::ContractExpiry, id).await?;
    audit::record(&tx, "contract.terminate", Some(id), &changed).await?;
    commit_answering(tx, saved, None).await
}

/// Creates the successor of a contract and marks the contract RENEWED. A contract is renewed at most once, and never once terminated.
#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn renew(store: &Store, scope: &TenantScope, id: Uuid, renewal: Renewal) -> DomainResult<Renewed> {
    access::require_writer(scope)?;
    let tx = store.begin_scoped(scope).await?;
    let current = lock_with_customer(&tx, id).await?;
    if current.terminated_at.is_some() {
        return Err(DomainError::validation("id", "is terminated and cannot be renewed"));
    }
    if successor_in(&tx, id).await?.is_some() {
        return Err(DomainError::validation("id", "was already renewed"));
    }
    let start = current
        .end_date
        .checked_add_days(Days::new(1))
        .ok_or_else(|| DomainError::validation("newEndDate", "is out of range"))?;
    let end = validate::date("newEndDate", &renewal.new_end_date)?;
    if end <= start {
        return Err(DomainError::validation(
            "newEndDate",
            format!("must be after the renewal's start date {start}"),
        ));
    }
    let currency = Currency::parse("currency", &current.currency)?;
    let value = match renewal.new_value.as_deref() {
        Some(v) => non_negative("newValue", v, currency)?.minor,
        None => current.value_minor,
    };
    let number = match renewal.new_number {
        Some(n) => contract_number("newNumber", n)?,
        None => {
            let (root, depth) = chain_root(&tx, &current).await?;
            let generated = format!("{}-R{}", root.number, depth + 1);
            if generated.chars().count() > 64 {
                return Err(DomainError::validation(
                    "newNumber",
                    format!("is needed: the generated number {generated} is longer than 64 characters"),
                ));
            }
            generated
        }
    };
    ensure_number_free(&tx, &number, "newNumber").await?;
    let calendar = tx.context().await?.clone();
    let offsets = own_offsets(&current).unwrap_or_else(|| calendar.contract_offsets_days.clone());
    let at = now();
    // The same customer, title, currency, terms, reminder offsets and auto-renewal.
    let successor = contract::Model {
        id: Uuid::now_v7(),
        number,
        value_minor: value,
        start_date: start,
        end_date: end,
        signed_date: None,
        renewal_state: RenewalState::None,
        expiring_from: expiring_from(end, &offsets),
        next_reminder_on: Some(expiring_from(end, &offsets)),
        terminated_at: None,
        termination_reason: None,
        predecessor_id: Some(current.id),
        version: 1,
        created_by: scope.actor().user_id,
        created_at: at,
        updated_at: at,
        custom_fields: values::carried_over(&tx, FieldEntity::Contract, &current.custom_fields).await?,
        custom_field_index: serde_json::json!({}),
        custom_fields_key_version: None,
        ..current.clone()
    };
    let successor = insert(&tx, successor, "newNumber").await?;
    let version = current.version;
    let mut renewed = current;
    renewed.renewal_state = RenewalState::Renewed;
    renewed.next_reminder_on = None;
    let renewed = save_if_version(&tx, renewed, version).await?;
    reminders::cancel_pending(&tx, ReminderKind::ContractExpiry, renewed.id).await?;
    audit::record_with_subjects(&tx, "contract.renew", Some(id), &["renewalState"], &[successor.id]).await?;
    audit::record(
        &tx,
        "contract.create",
        Some(successor.id),
        &[
            "customerId",
            "number",
            "title",
            "value",
            "currency",
            "startDate",
            "endDate",
            "autoRenew",
            "predecessorId",
        ],
    )
    .await?;
    let out = Renewed {
        successor: values::written(&tx, successor).await?,
        predecessor: values::written(&tx, renewed).await?,
        calendar,
    };
    tx.commit().await?;
    Ok(out)
}

/// The next free generated number `CT-000123`. Generators take turns, so two contracts
/// created at once do not draw the same number; each number drawn is held like a given one.
/// (A lock on the tenant's row would also block every insert that checks its foreign key.)
async fn next_contract_number(tx: &ScopedTx) -> DomainResult<String> {
    locks::hold(tx, &[locks::Key::new("contract-number-generator", "")]).await?;
    let mut seq = tx.select::<contract::Entity>().count(tx).await? + 1;
    for _ in 0..1000 {
        let number = format!("CT-{seq:06}");
        hold_number(tx, &number).await?;
        let taken = tx
            .select::<contract::Entity>()
            .filter(contract::Column::Number.eq(&number))
            .one(tx)
            .await?
            .is_some();
        if !taken {
            return Ok(number);
        }
        seq += 1;
    }
    Err(DomainError::Internal(anyhow::anyhow!(
        "no free contract number after 1000 tries"
    )))
}

/// The first contract of `c`'s renewal chain and how many renewals lead from it to `c`.
async fn chain_root(tx: &ScopedTx, c: &contract::Model) -> DomainResult<(contract::Model, u32)> {
    let mut root = c.clone();
    let mut depth = 0;
    while let Some(previous) = root.predecessor_id {
        let Some(found) = tx
            .select::<contract::Entity>()
            .filter(contract::Column::Id.eq(previous))
            .one(tx)
            .await?
        else {
            break;
        };
        root = found;
        depth += 1;
        if depth > 10_000 {
            return Err(DomainError::Internal(anyhow::anyhow!(
                "renewal chain of {} loops",
                c.id
            )));
        }
    }
    Ok((root, depth))
}

impl CustomerRecord for contract::Entity {
    const NOUN: &'static str = "contract";
    type Filter = ContractFilter;
    type Order = ContractOrder;
    const CARRIES: Option<records::CarriedColumns<Self>> = records::carried_columns!(contract);

    records::record_keys!(contract);

    async fn narrow(
        tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        f: &ContractFilter,
    ) -> DomainResult<Scoped<Select<Self>>> {
        let mut select = select;
        let today = tx.context().await?.today();
        if let Some(days) = f.expiring_within_days {
            if !(0..=3650).contains(&days) {
                return Err(DomainError::validation(
                    "filter.expiringWithinDays",
                    "must be between 0 and 3650",
                ));
            }
            let until = today.checked_add_days(Days::new(days as u64)).unwrap_or(NaiveDate::MAX);
            select = select
                .filter(contract::Column::EndDate.gte(today))
                .filter(contract::Column::EndDate.lte(until))
                .filter(contract::Column::TerminatedAt.is_null())
                .filter(contract::Column::RenewalState.ne(RenewalState::Renewed));
        }
        if let Some(status) = f.status {
            select = select.filter(status_condition(status, today));
        }
        if let Some(owner) = f.owner_id {
            let owned = tx
                .select::<customer::Entity>()
                .select_only()
                .column(customer::Column::Id)
                .filter(customer::Column::OwnerId.eq(owner))
                .into_subquery();
            select = select.filter(contract::Column::CustomerId.in_subquery(owned));
        }
        if let Some(customer) = f.customer_id {
            select = select.filter(contract::Column::CustomerId.eq(customer));
        }
        custom_query::narrowed::<Self, _>(tx, select, &f.custom_fields).await
    }

    fn file_filter(customer_id: Uuid) -> ContractFilter {
        ContractFilter {
            customer_id: Some(customer_id),
            ..Default::default()
        }
    }
}

/// Validates `changes`, applies them to `c` noting each changed field by its API name, and
/// re-derives `expiring_from`.
async fn apply_changes(
    tx: &ScopedTx,
    changes: ContractChanges,
    c: &mut contract::Model,
    changed: &mut Vec<&'static str>,
    calendar: &TenantContext,
) -> DomainResult<()> {
    match changes.number {
        Patch::Keep => {}
        Patch::Clear => return Err(cannot_clear("number")),
        Patch::Set(v) => {
            let number = contract_number("number", v)?;
            if number != c.number {
                ensure_number_free(tx, &number, "number").await?;
            }
            assign("number", &mut c.number, number, changed);
        }
    }
    let title = |v| validate::required_line("title", Some(v), 200);
    patch_required("title", changes.title, &mut c.title, title, changed)?;
    let currency = match changes.currency {
        Patch::Keep => Currency::parse("currency", &c.currency)?,
        Patch::Clear => return Err(cannot_clear("currency")),
        Patch::Set(v) => Currency::parse("currency", &v)?,
    };
    let value = match changes.value {
        Patch::Keep => Money::from_minor(c.value_minor, Currency::parse("currency", &c.currency)?)
            .in_currency("value", currency)?,
        Patch::Clear => return Err(cannot_clear("value")),
        Patch::Set(v) => non_negative("value", &v, currency)?,
    };
    assign("value", &mut c.value_minor, value.minor, changed);
    assign("currency", &mut c.currency, currency.code().to_owned(), changed);
    let start = match changes.start_date {
        Patch::Keep => c.start_date,
        Patch::Clear => return Err(cannot_clear("startDate")),
        Patch::Set(v) => validate::date("startDate", &v)?,
    };
    let end = match changes.end_date {
        Patch::Keep => c.end_date,
        Patch::Clear => return Err(cannot_clear("endDate")),
        Patch::Set(v) => validate::date("endDate", &v)?,
    };
    if end < start {
        return Err(DomainError::validation("endDate", "must not be before startDate"));
    }
    assign("startDate", &mut c.start_date, start, changed);
    assign("endDate", &mut c.end_date, end, changed);
    let signed = |v: String| validate::date("signedDate", &v).map(Some);
    patch_optional("signedDate", changes.signed_date, &mut c.signed_date, signed, changed)?;
    patch_required("autoRenew", changes.auto_renew, &mut c.auto_renew, Ok, changed)?;
    patch_required("renewalState", changes.renewal_state, &mut c.renewal_state, Ok, changed)?;
    let days = |days| Ok(Some(serde_json::json!(offsets("reminderOffsetsDays", days)?)));
    let target = &mut c.reminder_offsets_days;
    patch_optional(
        "reminderOffsetsDays",
        changes.reminder_offsets_days,
        target,
        days,
        changed,
    )?;
    let terms = |v| validate::optional_text("terms", Some(v), 20_000);
    patch_optional("terms", changes.terms, &mut c.terms, terms, changed)?;
    c.expiring_from = expiring_from(c.end_date, &reminder_offsets(c, calendar));
    c.next_reminder_on = live(c).then_some(c.expiring_from);
    Ok(())
}

/// Holds a contract number until COMMIT, so that a number checked as free stays free. Lock
/// order within a transaction: the customer's row, custom field values, then numbers.
async fn hold_number(tx: &ScopedTx, number: &str) -> DomainResult<()> {
    locks::hold(tx, &[locks::Key::new("contract-number", number)]).await
}

/// A number in use is a DUPLICATE on `field`; only those who may see the holder learn its id.
async fn ensure_number_free(tx: &ScopedTx, number: &str, field: &str) -> DomainResult<()> {
    hold_number(tx, number).await?;
    let Some(holder) = tx
        .select::<contract::Entity>()
        .filter(contract::Column::Number.eq(number))
        .one(tx)
        .await?
    else {
        return Ok(());
    };
    let visible = contract::Entity::visible(tx)
        .filter(contract::Column::Id.eq(holder.id))
        .one(tx)
        .await?
        .is_some();
    Err(number_taken(
        field,
        number,
        if visible { vec![holder.id] } else { vec![] },
    ))
}

fn number_taken(field: &str, number: &str, candidates: Vec<Uuid>) -> DomainError {
    DomainError::Duplicate {
        field: field.into(),
        message: format!("contract number {number} is already in use"),
        candidates,
    }
}

/// Inserts a contract; a lost race on the number is a DUPLICATE on `number_field`, on the
/// one-successor index a CONFLICT.
async fn insert(tx: &ScopedTx, c: contract::Model, number_field: &str) -> DomainResult<contract::Model> {
    let number = c.number.clone();
    tx.try_insert(c.into_active_model().reset_all())
        .await
        .map_err(|e| match e.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(m)) if m.contains("predecessor_id") => {
                DomainError::Conflict("the contract was renewed concurrently; reload it".into())
            }
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => number_taken(number_field, &number, vec![]),
            _ => e.into(),
        })
}

/// Writes `next` over `read_version` only (see `versioned`); a taken number is a DUPLICATE.
async fn save_if_version(tx: &ScopedTx, next: contract::Model, read_version: i32) -> DomainResult<contract::Model> {
    let number = next.number.clone();
    let taken = unique_or(|| number_taken("number", &number, vec![]));
    versioned::save_if_version::<contract::Entity>(tx, next, read_version, taken).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// Runs 2026-03-01 to 2026-12-31 and is expiring from 2026-10-02 (90 days before its end).
    fn running() -> StatusFacts {
        StatusFacts {
            terminated: false,
            renewed: false,
            start_date: day("2026-03-01"),
            end_date: day("2026-12-31"),
            expiring_from: expiring_from(day("2026-12-31"), &[90, 30, 7]),
        }
    }

    #[test]
    fn expiring_from_is_the_end_minus_the_largest_offset() {
        assert_eq!(running().expiring_from, day("2026-10-02"));
        assert_eq!(expiring_from(day("2026-12-31"), &[7, 30]), day("2026-12-01"));
        assert_eq!(expiring_from(day("2026-12-31"), &[]), day("2026-12-31"));
    }

    #[test]
    fn status_changes_exactly_at_each_boundary_day() {
        let f = running();
        let cases = [
            ("2026-02-28", ContractStatus::Draft),
            ("2026-03-01", ContractStatus::Active),
            ("2026-10-01", ContractStatus::Active),
            ("2026-10-02", ContractStatus::Expiring),
            ("2026-12-31", ContractStatus::Expiring),
            ("2027-01-01", ContractStatus::Expired),
        ];
        for (today, expected) in cases {
            assert_eq!(status(&f, day(today)), expected, "on {today}");
        }
    }

    #[test]
    fn termination_beats_renewal_and_renewal_beats_the_dates() {
        let renewed = StatusFacts {
            renewed: true,
            ..running()
        };
        for today in ["2026-02-28", "2026-06-01", "2026-12-31", "2027-01-01"] {
            assert_eq!(status(&renewed, day(today)), ContractStatus::Renewed, "on {today}");
        }
        let terminated = StatusFacts {
            terminated: true,
            ..renewed
        };
        for today in ["2026-02-28", "2026-06-01", "2027-01-01"] {
            assert_eq!(
                status(&terminated, day(today)),
                ContractStatus::Terminated,
                "on {today}"
            );
        }
    }

    #[test]
    fn a_short_contract_inside_its_offset_is_expiring_from_its_first_day() {
        let f = StatusFacts {
            start_date: day("2026-12-20"),
            ..running()
        };
        assert_eq!(status(&f, day("2026-12-19")), ContractStatus::Draft);
        assert_eq!(status(&f, day("2026-12-20")), ContractStatus::Expiring);
    }

    #[test]
    fn offsets_are_bounded_deduplicated_and_largest_first() {
        assert_eq!(offsets("o", vec![7, 30, 7, 0, 365]).unwrap(), vec![365, 30, 7, 0]);
        assert!(offsets("o", vec![366]).is_err());
        assert!(offsets("o", vec![-1]).is_err());
        assert!(offsets("o", (1..=11).collect()).is_err());
        assert_eq!(offsets("o", (1..=10).chain(1..=10).collect()).unwrap().len(), 10);
    }

    /// The SQL conditions of the `status` filter, run on SQLite, pick exactly the contracts
    /// that `status` gives that status, on every boundary day.
    #[tokio::test]
    async fn the_status_filter_agrees_with_the_status_function() {
        use sea_orm::{ConnectionTrait, Database, EntityTrait, Schema};

        let db = Database::connect("sqlite::memory:").await.unwrap();
        let backend = db.get_database_backend();
        db.execute(&Schema::new(backend).create_table_from_entity(contract::Entity))
            .await
            .unwrap();
        let base = running();
        let variants = [
            base,
            StatusFacts { renewed: true, ..base },
            StatusFacts {
                terminated: true,
                ..base
            },
            StatusFacts {
                terminated: true,
                renewed: true,
                ..base
            },
            StatusFacts {
                start_date: day("2026-12-20"),
                ..base
            },
            StatusFacts {
                expiring_from: base.end_date,
                ..base
            },
        ];
        let mut contracts = Vec::new();
        for (i, f) in variants.iter().enumerate() {
            let at = now();
            let c = contract::Model {
                id: Uuid::now_v7(),
                tenant_id: Uuid::nil(),
                customer_id: Uuid::nil(),
                number: format!("N-{i}"),
                title: "t".into(),
                value_minor: 0,
                currency: "CNY".into(),
                start_date: f.start_date,
                end_date: f.end_date,
                signed_date: None,
                auto_renew: false,
                renewal_state: if f.renewed {
                    RenewalState::Renewed
                } else {
                    RenewalState::Negotiating
                },
                reminder_offsets_days: None,
                expiring_from: f.expiring_from,
                next_reminder_on: None,
                terms: None,
                terminated_at: f.terminated.then_some(at),
                termination_reason: None,
                predecessor_id: None,
                version: 1,
                created_by: Uuid::nil(),
                created_at: at,
                updated_at: at,
                custom_fields: serde_json::json!({}),
                custom_field_index: serde_json::json!({}),
                custom_fields_key_version: None,
            };
            contract::Entity::insert(c.clone().into_active_model())
                .exec(&db)
                .await
                .unwrap();
            contracts.push(c);
        }
        let statuses = [RULES.as_slice(), &[ContractStatus::Active]].concat();
        let days = [
            "2026-02-28",
            "2026-03-01",
            "2026-10-01",
            "2026-10-02",
            "2026-12-19",
            "2026-12-20",
            "2026-12-30",
            "2026-12-31",
            "2027-01-01",
        ];
        for today in days.map(day) {
            for wanted in &statuses {
                let mut expected: Vec<Uuid> = contracts
                    .iter()
                    .filter(|c| status_of(c, today) == *wanted)
                    .map(|c| c.id)
                    .collect();
                let mut found: Vec<Uuid> = contract::Entity::find()
                    .filter(status_condition(*wanted, today))
                    .all(&db)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                expected.sort();
                found.sort();
                assert_eq!(found, expected, "{wanted:?} on {today}");
            }
        }
    }
}
