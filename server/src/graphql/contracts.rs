//! Contracts in the API: their terms, derived status, renewal chain and lists.

use super::custom_fields::{self, CustomFieldFilter, CustomFieldOrder, CustomFieldValue};
use crate::domain::custom_fields::values::{FieldValue, Written};
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::contract;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::loading::Batch;
use super::reads::reading;
use super::records::{self, list_info};
use super::scalars::{Date, Decimal, Money};
use super::{api, parse_id, parse_optional_id, patch, scope};
use crate::domain::contracts::{self as service, ContractChanges, NewContract, Renewal, WrittenContract};
use crate::domain::money::{Currency, Money as Exact};
use crate::domain::pagination::PageArgs;
use crate::domain::tenant_context::TenantContext;

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::RenewalState")]
pub enum RenewalState {
    None,
    Upcoming,
    Negotiating,
    Renewed,
    Churned,
}

/// Where a contract stands today (in the tenant's time zone); derived, never stored.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "crate::domain::contracts::ContractStatus")]
pub enum ContractStatus {
    /// Starts in the future.
    Draft,
    Active,
    /// Within the largest reminder offset of its end date.
    Expiring,
    /// Past its end date.
    Expired,
    Terminated,
    Renewed,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::contracts::ContractOrder")]
pub enum ContractOrder {
    #[default]
    EndDateAsc,
    EndDateDesc,
    CreatedAtDesc,
}

/// What contracts loaded together share, so that nested fields cost one query per batch,
/// not one per contract: the tenant's calendar, and the renewal neighbours of every member,
/// each read on first use.
struct Shared {
    context: OnceCell<Arc<TenantContext>>,
    /// By the id of the contract they were renewed by.
    predecessors: Batch<contract::Model>,
    /// By the id of the contract they renew.
    successors: Batch<contract::Model>,
}

impl Shared {
    fn of(models: &[contract::Model], context: Option<Arc<TenantContext>>) -> Arc<Self> {
        Arc::new(Self {
            context: OnceCell::new_with(context),
            predecessors: Batch::over(models.iter().filter_map(|m| m.predecessor_id)),
            successors: Batch::over(models.iter().map(|m| m.id)),
        })
    }
}

pub struct Contract {
    model: contract::Model,
    shared: Arc<Shared>,
    /// The custom field values its write read before COMMIT.
    answered_fields: Option<Vec<FieldValue>>,
}

impl Contract {
    /// Contracts loaded together (a page, a customer's list): their nested fields are read
    /// for all of them at once.
    pub fn batch(models: Vec<contract::Model>) -> Vec<Self> {
        Self::batch_with(models, None)
    }

    fn batch_with(models: Vec<contract::Model>, context: Option<Arc<TenantContext>>) -> Vec<Self> {
        let shared = Shared::of(&models, context);
        models
            .into_iter()
            .map(|model| Self {
                model,
                shared: shared.clone(),
                answered_fields: None,
            })
            .collect()
    }

    /// A contract as a write answered it: its custom field values and the tenant's calendar
    /// were read before the write's COMMIT.
    fn answered(written: Written<contract::Model>, context: &Arc<TenantContext>) -> Self {
        let mut batch = Self::batch_with(vec![written.record], Some(context.clone()));
        let mut contract = batch.remove(0);
        contract.answered_fields = Some(written.custom_fields);
        contract
    }

    /// A related contract, sharing this one's calendar.
    fn neighbour(&self, model: contract::Model) -> Self {
        let mut batch = Self::batch_with(vec![model], self.shared.context.get().cloned());
        batch.remove(0)
    }

    async fn context<'a>(&'a self, ctx: &Context<'_>) -> Result<&'a TenantContext> {
        let context = self
            .shared
            .context
            .get_or_try_init(|| async {
                Ok::<_, async_graphql::Error>(reading!(ctx, |tx| tx.context().await?.clone()))
            })
            .await?;
        Ok(context)
    }
}

#[Object]
impl Contract {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.model.customer_id.to_string())
    }
    /// Unique in the tenant.
    async fn number(&self) -> &str {
        &self.model.number
    }
    async fn title(&self) -> &str {
        &self.model.title
    }
    async fn value(&self) -> Result<Money> {
        let currency = Currency::parse("currency", &self.model.currency)?;
        Ok(Exact::from_minor(self.model.value_minor, currency).into())
    }
    async fn start_date(&self) -> Date {
        self.model.start_date.into()
    }
    /// The last day the contract runs.
    async fn end_date(&self) -> Date {
        self.model.end_date.into()
    }
    async fn signed_date(&self) -> Option<Date> {
        self.model.signed_date.map(Into::into)
    }
    async fn auto_renew(&self) -> bool {
        self.model.auto_renew
    }
    async fn renewal_state(&self) -> RenewalState {
        self.model.renewal_state.into()
    }
    /// Days before the end date on which reminders go out, largest first: the contract's
    /// own, else the tenant's default.
    async fn reminder_offsets_days(&self, ctx: &Context<'_>) -> Result<Vec<i32>> {
        let context = self.context(ctx).await?;
        Ok(service::reminder_offsets(&self.model, context)
            .into_iter()
            .map(i32::from)
            .collect())
    }
    /// From this day on the contract is EXPIRING: the end date minus the largest offset.
    async fn expiring_from(&self) -> Date {
        self.model.expiring_from.into()
    }
    async fn status(&self, ctx: &Context<'_>) -> Result<ContractStatus> {
        let today = self.context(ctx).await?.today();
        Ok(service::status_of(&self.model, today).into())
    }
    /// End date minus today in the tenant's time zone; negative once the end has passed.
    async fn days_until_end(&self, ctx: &Context<'_>) -> Result<i32> {
        let today = self.context(ctx).await?.today();
        let days = service::days_until_end(&self.model, today);
        Ok(i32::try_from(days).unwrap_or(if days < 0 { i32::MIN } else { i32::MAX }))
    }
    async fn terms(&self) -> Option<&str> {
        self.model.terms.as_deref()
    }
    async fn terminated_at(&self) -> Option<DateTime<Utc>> {
        self.model.terminated_at
    }
    async fn termination_reason(&self) -> Option<&str> {
        self.model.termination_reason.as_deref()
    }
    /// The contract this one renewed.
    async fn predecessor_id(&self) -> Option<ID> {
        self.model.predecessor_id.map(|id| ID(id.to_string()))
    }
    /// In a mutation's answer (but renewContract's) this is read after the write committed:
    /// an error at this field does not mean the write failed.
    async fn predecessor(&self, ctx: &Context<'_>) -> Result<Option<Contract>> {
        let Some(id) = self.model.predecessor_id else {
            return Ok(None);
        };
        let found = self
            .shared
            .predecessors
            .get(&id, |ids| neighbours(ctx, ids, false))
            .await?;
        Ok(found.map(|m| self.neighbour(m)))
    }
    /// The contract that renewed this one.
    /// In a mutation's answer (but renewContract's) this is read after the write committed:
    /// an error at this field does not mean the write failed.
    async fn successor(&self, ctx: &Context<'_>) -> Result<Option<Contract>> {
        let found = self
            .shared
            .successors
            .get(&self.model.id, |ids| neighbours(ctx, ids, true))
            .await?;
        Ok(found.map(|m| self.neighbour(m)))
    }
    /// The tenant's custom fields of this kind of record, key → value.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json> {
        let values = custom_fields::read_record(ctx, &self.model, self.answered_fields.as_ref()).await?;
        Ok(custom_fields::as_object(&values))
    }
    /// Every active custom field with its definition and value, in display order.
    async fn custom_field_values(&self, ctx: &Context<'_>) -> Result<Vec<CustomFieldValue>> {
        let values = custom_fields::read_record(ctx, &self.model, self.answered_fields.as_ref()).await?;
        Ok(values.into_iter().map(CustomFieldValue).collect())
    }
    /// Send this back with an update; a stale version is refused with CONFLICT.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

#[derive(InputObject, Default)]
pub struct ContractFilter {
    /// Running contracts whose end date is between today and today + N days (inclusive),
    /// neither terminated nor renewed.
    pub expiring_within_days: Option<i32>,
    pub status: Option<ContractStatus>,
    /// Contracts of customers this user owns.
    pub owner_id: Option<ID>,
    pub customer_id: Option<ID>,
    /// Conditions on custom fields, all of which must hold.
    pub custom_fields: Option<Vec<CustomFieldFilter>>,
}

impl ContractFilter {
    fn into_domain(self) -> Result<service::ContractFilter> {
        Ok(service::ContractFilter {
            expiring_within_days: self.expiring_within_days,
            status: self.status.map(Into::into),
            owner_id: parse_optional_id("filter.ownerId", &self.owner_id)?,
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
            custom_fields: custom_fields::filters(self.custom_fields),
        })
    }
}

list_info!(
    ContractListInfo,
    contract::Entity,
    "Contracts matching the filter, over all pages."
);

pub type ContractConnection = Connection<String, Contract, ContractListInfo>;

#[derive(Default)]
pub struct ContractQuery;

#[Object]
impl ContractQuery {
    async fn contract(&self, ctx: &Context<'_>, id: ID) -> Result<Contract> {
        let id = parse_id("id", &id)?;
        Ok(Contract::batch(vec![records::get::<contract::Entity>(ctx, id).await?]).remove(0))
    }

    /// Relay connection over the contracts of customers the caller may see.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn contracts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ContractFilter>,
        #[graphql(default)] order_by: ContractOrder,
        #[graphql(desc = "Sorts by a custom field instead of `orderBy`.")] order_by_custom_field: Option<
            CustomFieldOrder,
        >,
    ) -> Result<ContractConnection> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        records::list_by::<contract::Entity, _, _>(
            ctx,
            args,
            filter,
            order_by.into(),
            order_by_custom_field,
            Contract::batch,
        )
        .await
    }
}

#[derive(InputObject)]
pub struct CreateContractInput {
    pub customer_id: ID,
    /// Unique in the tenant; generated as CT-000001 when not given.
    pub number: Option<String>,
    pub title: String,
    /// Not negative, in the currency's minor digits.
    pub value: Decimal,
    /// ISO 4217, e.g. CNY.
    pub currency: String,
    pub start_date: Date,
    /// The last day the contract runs; not before the start date.
    pub end_date: Date,
    pub signed_date: Option<Date>,
    #[graphql(default)]
    pub auto_renew: bool,
    #[graphql(default_with = "RenewalState::None")]
    pub renewal_state: RenewalState,
    /// Days before the end date to remind on (each 0–365, at most 10); overrides the
    /// tenant's default.
    pub reminder_offsets_days: Option<Vec<i32>>,
    pub terms: Option<String>,
    /// Custom field values, key → value; null clears one, keys not given stay.
    pub custom_fields: Option<Json>,
}

/// Only the fields given change; `null` clears an optional field (for
/// `reminderOffsetsDays`: back to the tenant's default).
#[derive(InputObject)]
pub struct UpdateContractInput {
    pub id: ID,
    /// The version you read.
    pub version: i32,
    pub number: MaybeUndefined<String>,
    pub title: MaybeUndefined<String>,
    /// In the (new) currency. When only the currency changes, the same figure is kept.
    pub value: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub start_date: MaybeUndefined<Date>,
    pub end_date: MaybeUndefined<Date>,
    pub signed_date: MaybeUndefined<Date>,
    pub auto_renew: MaybeUndefined<bool>,
    pub renewal_state: MaybeUndefined<RenewalState>,
    pub reminder_offsets_days: MaybeUndefined<Vec<i32>>,
    pub terms: MaybeUndefined<String>,
    /// Custom field values, key → value; null clears one, keys not given stay.
    pub custom_fields: Option<Json>,
}

#[derive(InputObject)]
pub struct TerminateContractInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[derive(InputObject)]
pub struct RenewContractInput {
    /// The contract to renew.
    pub id: ID,
    /// The renewal's last day; it starts the day after this contract's end date.
    pub new_end_date: Date,
    /// Defaults to this contract's value.
    pub new_value: Option<Decimal>,
    /// Defaults to the first contract's number with `-R<n>`, n counting the renewals.
    pub new_number: Option<String>,
}

#[derive(SimpleObject)]
pub struct ContractPayload {
    pub contract: Contract,
}

#[derive(SimpleObject)]
pub struct RenewContractPayload {
    /// The new contract.
    pub contract: Contract,
    /// The renewed contract, now RENEWED.
    pub predecessor: Contract,
}

fn payload(written: WrittenContract) -> ContractPayload {
    ContractPayload {
        contract: Contract::answered(written.contract, &written.calendar),
    }
}

#[derive(Default)]
pub struct ContractMutation;

#[Object]
impl ContractMutation {
    async fn create_contract(&self, ctx: &Context<'_>, input: CreateContractInput) -> Result<ContractPayload> {
        let input = NewContract {
            customer_id: parse_id("customerId", &input.customer_id)?,
            number: input.number,
            title: input.title,
            value: input.value.0,
            currency: input.currency,
            start_date: input.start_date.0,
            end_date: input.end_date.0,
            signed_date: input.signed_date.map(|d| d.0),
            auto_renew: input.auto_renew,
            renewal_state: input.renewal_state.into(),
            reminder_offsets_days: input.reminder_offsets_days,
            terms: input.terms,
            custom_fields: input.custom_fields,
        };
        Ok(payload(service::create(&api(ctx).store, scope(ctx)?, input).await?))
    }

    async fn update_contract(&self, ctx: &Context<'_>, input: UpdateContractInput) -> Result<ContractPayload> {
        let id = parse_id("id", &input.id)?;
        let changes = ContractChanges {
            number: patch(input.number),
            title: patch(input.title),
            value: patch(input.value.map_value(|d| d.0)),
            currency: patch(input.currency),
            start_date: patch(input.start_date),
            end_date: patch(input.end_date),
            signed_date: patch(input.signed_date),
            auto_renew: patch(input.auto_renew),
            renewal_state: patch(input.renewal_state),
            reminder_offsets_days: patch(input.reminder_offsets_days),
            terms: patch(input.terms),
            custom_fields: input.custom_fields,
        };
        Ok(payload(
            service::update(&api(ctx).store, scope(ctx)?, id, input.version, changes).await?,
        ))
    }

    /// Ends a contract early; its renewal state becomes CHURNED unless it was renewed.
    async fn terminate_contract(&self, ctx: &Context<'_>, input: TerminateContractInput) -> Result<ContractPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::terminate(&api(ctx).store, scope(ctx)?, id, input.reason).await?,
        ))
    }

    /// Creates the successor of a contract (same customer, title, currency, terms, reminder
    /// offsets and auto-renewal) starting the day after its end, and marks it RENEWED.
    async fn renew_contract(&self, ctx: &Context<'_>, input: RenewContractInput) -> Result<RenewContractPayload> {
        let id = parse_id("id", &input.id)?;
        let renewal = Renewal {
            new_end_date: input.new_end_date.0,
            new_value: input.new_value.map(|d| d.0),
            new_number: input.new_number,
        };
        let renewed = service::renew(&api(ctx).store, scope(ctx)?, id, renewal).await?;
        let (successor, predecessor) = (renewed.successor.record.clone(), renewed.predecessor.record.clone());
        // Each is the other's neighbour: known already, not read again.
        let shared = |predecessors, successors| {
            Arc::new(Shared {
                context: OnceCell::new_with(Some(renewed.calendar.clone())),
                predecessors: Batch::known(predecessors),
                successors: Batch::known(successors),
            })
        };
        let contract = Contract {
            shared: shared(HashMap::from([(predecessor.id, predecessor.clone())]), HashMap::new()),
            ..Contract::answered(renewed.successor, &renewed.calendar)
        };
        let predecessor_contract = Contract {
            shared: shared(HashMap::new(), HashMap::from([(predecessor.id, successor)])),
            ..Contract::answered(renewed.predecessor, &renewed.calendar)
        };
        Ok(RenewContractPayload {
            contract,
            predecessor: predecessor_contract,
        })
    }
}

/// The renewal neighbours of `ids`: their successors, or their predecessors.
async fn neighbours(ctx: &Context<'_>, ids: Vec<Uuid>, successors: bool) -> Result<HashMap<Uuid, contract::Model>> {
    Ok(reading!(ctx, |tx| if successors {
        service::successors_of(&tx, &ids).await?
    } else {
        service::by_ids(&tx, &ids).await?
    }))
}
