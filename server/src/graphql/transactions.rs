//! Sales history in the API: recording, correcting and voiding sales, and listing them.

use super::custom_fields::{self, CustomFieldFilter, CustomFieldOrder, CustomFieldValue};
use crate::domain::custom_fields::values::{FieldValue, Written};
use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::transaction;
use serde_json::Value as Json;

use super::records::{self, list_info};
use super::scalars::{Decimal, Money};
use super::{api, parse_id, parse_optional_id, patch, scope};
use crate::domain::money::{Currency, Money as Exact};
use crate::domain::pagination::PageArgs;
use crate::domain::transactions::{self as service, NewTransaction, Quantity, TransactionChanges};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::PaymentMethod")]
pub enum PaymentMethod {
    Cash,
    Card,
    BankTransfer,
    Alipay,
    WechatPay,
    Other,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::transactions::TransactionOrder")]
pub enum TransactionOrder {
    #[default]
    OccurredAtDesc,
    OccurredAtAsc,
}

/// One sale of a customer's history, with its custom field values when its write read them.
pub struct Transaction(pub transaction::Model, Option<Vec<FieldValue>>);

impl Transaction {
    pub fn new(model: transaction::Model) -> Self {
        Self(model, None)
    }

    fn money(&self, minor: i64) -> Result<Money> {
        let currency = Currency::parse("currency", &self.0.currency)?;
        Ok(Exact::from_minor(minor, currency).into())
    }
}

#[Object]
impl Transaction {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn customer_id(&self) -> ID {
        ID(self.0.customer_id.to_string())
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    /// Product or service sold.
    async fn product(&self) -> &str {
        &self.0.product
    }
    /// Exact, up to 3 decimal places, e.g. "1.5" or "2".
    async fn quantity(&self) -> Decimal {
        Decimal(Quantity::from_milli(self.0.quantity_milli).to_string())
    }
    async fn unit_price(&self) -> Result<Money> {
        self.money(self.0.unit_price_minor)
    }
    /// Quantity × unit price, rounded half-up to the currency's minor unit.
    async fn amount(&self) -> Result<Money> {
        self.money(self.0.amount_minor)
    }
    async fn payment_method(&self) -> PaymentMethod {
        self.0.payment_method.into()
    }
    async fn after_sales_notes(&self) -> Option<&str> {
        self.0.after_sales_notes.as_deref()
    }
    /// A voided sale stays on file and counts in no total.
    async fn voided(&self) -> bool {
        self.0.voided_at.is_some()
    }
    async fn voided_at(&self) -> Option<DateTime<Utc>> {
        self.0.voided_at
    }
    async fn void_reason(&self) -> Option<&str> {
        self.0.void_reason.as_deref()
    }
    /// The tenant's custom fields of this kind of record, key → value.
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json> {
        let values = custom_fields::read_record(ctx, &self.0, self.1.as_ref()).await?;
        Ok(custom_fields::as_object(&values))
    }
    /// Every active custom field with its definition and value, in display order.
    async fn custom_field_values(&self, ctx: &Context<'_>) -> Result<Vec<CustomFieldValue>> {
        let values = custom_fields::read_record(ctx, &self.0, self.1.as_ref()).await?;
        Ok(values.into_iter().map(CustomFieldValue).collect())
    }
    /// Send this back with an update; a stale version is refused with CONFLICT.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

#[derive(InputObject, Default)]
pub struct TransactionFilter {
    /// Sales at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Sales before this instant (exclusive).
    pub to: Option<DateTime<Utc>>,
    pub customer_id: Option<ID>,
    /// Inclusive lower bound of the amount; needs `currency`.
    pub min_amount: Option<Decimal>,
    /// Inclusive upper bound of the amount; needs `currency`.
    pub max_amount: Option<Decimal>,
    /// ISO 4217: only sales in this currency.
    pub currency: Option<String>,
    /// Also list voided sales.
    #[graphql(default)]
    pub include_voided: bool,
    /// Conditions on custom fields, all of which must hold.
    pub custom_fields: Option<Vec<CustomFieldFilter>>,
}

impl TransactionFilter {
    fn into_domain(self) -> Result<service::TransactionFilter> {
        Ok(service::TransactionFilter {
            from: self.from,
            to: self.to,
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
            min_amount: self.min_amount.map(|d| d.0),
            max_amount: self.max_amount.map(|d| d.0),
            currency: self.currency,
            include_voided: self.include_voided,
            custom_fields: custom_fields::filters(self.custom_fields),
        })
    }
}

list_info!(
    TransactionListInfo,
    transaction::Entity,
    "Sales matching the filter, over all pages."
);

pub type TransactionConnection = Connection<String, Transaction, TransactionListInfo>;

#[derive(Default)]
pub struct TransactionQuery;

#[Object]
impl TransactionQuery {
    async fn transaction(&self, ctx: &Context<'_>, id: ID) -> Result<Transaction> {
        let id = parse_id("id", &id)?;
        Ok(Transaction::new(records::get::<transaction::Entity>(ctx, id).await?))
    }

    /// Relay connection over the sales of customers the caller may see; voided sales only
    /// with `includeVoided`.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn transactions(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<TransactionFilter>,
        #[graphql(default)] order_by: TransactionOrder,
        #[graphql(desc = "Sorts by a custom field instead of `orderBy`.")] order_by_custom_field: Option<
            CustomFieldOrder,
        >,
    ) -> Result<TransactionConnection> {
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        records::list_by::<transaction::Entity, _, _>(
            ctx,
            args,
            filter,
            order_by.into(),
            order_by_custom_field,
            |rows| rows.into_iter().map(Transaction::new).collect(),
        )
        .await
    }
}

#[derive(InputObject)]
pub struct RecordTransactionInput {
    pub customer_id: ID,
    /// Not after today in the tenant's time zone.
    pub occurred_at: DateTime<Utc>,
    pub product: String,
    /// Greater than zero, at most 3 decimal places.
    pub quantity: Decimal,
    /// Not negative, in the currency's minor digits.
    pub unit_price: Decimal,
    /// Optional check: must equal quantity × unit price rounded half-up to the currency's
    /// minor unit, which is what is stored either way.
    pub amount: Option<Decimal>,
    /// ISO 4217, e.g. CNY.
    pub currency: String,
    pub payment_method: PaymentMethod,
    pub after_sales_notes: Option<String>,
    /// Custom field values, key → value; null clears one, keys not given stay.
    pub custom_fields: Option<Json>,
}

/// Only the fields given change; `null` clears an optional field. The amount follows
/// quantity, unit price and currency.
#[derive(InputObject)]
pub struct UpdateTransactionInput {
    pub id: ID,
    /// The version you read.
    pub version: i32,
    pub occurred_at: MaybeUndefined<DateTime<Utc>>,
    pub product: MaybeUndefined<String>,
    pub quantity: MaybeUndefined<Decimal>,
    /// In the (new) currency. When only the currency changes, the same figure is kept.
    pub unit_price: MaybeUndefined<Decimal>,
    /// Optional check against the recomputed amount.
    pub amount: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub payment_method: MaybeUndefined<PaymentMethod>,
    pub after_sales_notes: MaybeUndefined<String>,
    /// Custom field values, key → value; null clears one, keys not given stay.
    pub custom_fields: Option<Json>,
}

#[derive(InputObject)]
pub struct VoidTransactionInput {
    pub id: ID,
    pub reason: Option<String>,
}

#[derive(SimpleObject)]
pub struct TransactionPayload {
    pub transaction: Transaction,
}

fn payload(written: Written<transaction::Model>) -> TransactionPayload {
    TransactionPayload {
        transaction: Transaction(written.record, Some(written.custom_fields)),
    }
}

#[derive(Default)]
pub struct TransactionMutation;

#[Object]
impl TransactionMutation {
    async fn record_transaction(&self, ctx: &Context<'_>, input: RecordTransactionInput) -> Result<TransactionPayload> {
        let input = NewTransaction {
            customer_id: parse_id("customerId", &input.customer_id)?,
            occurred_at: input.occurred_at,
            product: input.product,
            quantity: input.quantity.0,
            unit_price: input.unit_price.0,
            amount: input.amount.map(|d| d.0),
            currency: input.currency,
            payment_method: input.payment_method.into(),
            after_sales_notes: input.after_sales_notes,
            custom_fields: input.custom_fields,
        };
        Ok(payload(service::record(&api(ctx).store, scope(ctx)?, input).await?))
    }

    async fn update_transaction(&self, ctx: &Context<'_>, input: UpdateTransactionInput) -> Result<TransactionPayload> {
        let id = parse_id("id", &input.id)?;
        let changes = TransactionChanges {
            occurred_at: patch(input.occurred_at),
            product: patch(input.product),
            quantity: patch(input.quantity.map_value(|d| d.0)),
            unit_price: patch(input.unit_price.map_value(|d| d.0)),
            amount: patch(input.amount.map_value(|d| d.0)),
            currency: patch(input.currency),
            payment_method: patch(input.payment_method),
            after_sales_notes: patch(input.after_sales_notes),
            custom_fields: input.custom_fields,
        };
        Ok(payload(
            service::update(&api(ctx).store, scope(ctx)?, id, input.version, changes).await?,
        ))
    }

    /// Keeps the sale on file, flagged, and out of every total. Final.
    async fn void_transaction(&self, ctx: &Context<'_>, input: VoidTransactionInput) -> Result<TransactionPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::void(&api(ctx).store, scope(ctx)?, id, input.reason).await?,
        ))
    }
}
