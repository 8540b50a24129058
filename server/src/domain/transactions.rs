//! Sales history: what each customer bought, when, for how much and how they paid.
//!
//! Amounts are exact: quantity in thousandths, prices in the currency's minor unit, and the
//! amount always equals quantity × unit price rounded half-up to that unit — a client may
//! send it as a check, never as a different figure. A mistaken sale is voided, not deleted:
//! the row stays on file and counts in no total. Access follows the customer: sales staff
//! reach only the transactions of customers they own.

use crate::domain::ScopedTx;
use std::fmt;

use chrono::{DateTime, SubsecRound, Utc};
use entity::enums::PaymentMethod;
use entity::transaction;
use sea_orm::{ColumnTrait, QueryFilter, Select};
use uuid::Uuid;

use super::custom_fields::query::{self as custom_query, FieldFilter};
use super::custom_fields::values::{self, Written};
use super::money::{Currency, Money};
use super::patch::{Patch, assign, cannot_clear};
use super::patch::{patch_optional, patch_required};
use super::records::{self, CustomerRecord};
use super::{DomainError, DomainResult, Scoped, Store, access, audit, now, record_writes, validate, versioned};
use crate::tenancy::TenantScope;

/// A positive quantity with at most three decimal places, held in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(field: &str, text: &str) -> DomainResult<Self> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(DomainError::validation(field, "must be a decimal number such as 1.5"));
        }
        if fraction.len() > 3 {
            return Err(DomainError::validation(field, "allows at most 3 decimal places"));
        }
        let milli: i64 = format!("{whole}{fraction:0<3}")
            .parse()
            .map_err(|_| DomainError::validation(field, "is too large"))?;
        if negative || milli == 0 {
            return Err(DomainError::validation(field, "must be greater than zero"));
        }
        Ok(Self(milli))
    }

    pub fn from_milli(milli: i64) -> Self {
        Self(milli)
    }

    pub fn milli(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Quantity {
    /// The shortest exact decimal: `2`, `1.5`, `0.125`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let (whole, fraction) = (self.0.unsigned_abs() / 1000, self.0.unsigned_abs() % 1000);
        if fraction == 0 {
            return write!(f, "{sign}{whole}");
        }
        let fraction = format!("{fraction:03}");
        write!(f, "{sign}{whole}.{}", fraction.trim_end_matches('0'))
    }
}

/// `quantity × unit price` in the price's minor unit, rounded half away from zero (half-up
/// for the non-negative figures of a sale); `None` when it does not fit in an i64.
pub fn line_amount(quantity: Quantity, unit_price_minor: i64) -> Option<i64> {
    let product = i128::from(quantity.milli()) * i128::from(unit_price_minor);
    let half = if product < 0 { -500 } else { 500 };
    i64::try_from((product + half) / 1000).ok()
}

/// The amount of a sale: computed, and compared with the one the client sent, if any.
fn settle_amount(quantity: Quantity, unit_price: Money, given: Option<&str>) -> DomainResult<i64> {
    if unit_price.minor < 0 {
        return Err(DomainError::validation("unitPrice", "cannot be negative"));
    }
    let computed = line_amount(quantity, unit_price.minor)
        .ok_or_else(|| DomainError::validation("amount", "quantity × unit price is too large"))?;
    if let Some(text) = given {
        let given = Money::parse("amount", text, unit_price.currency)?;
        if given.minor != computed {
            return Err(DomainError::validation(
                "amount",
                format!(
                    "must equal quantity × unit price rounded to the currency's minor unit ({})",
                    Money::from_minor(computed, unit_price.currency)
                ),
            ));
        }
    }
    Ok(computed)
}

pub struct NewTransaction {
    pub customer_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub product: String,
    pub quantity: String,
    pub unit_price: String,
    /// A check: must equal the computed amount when given.
    pub amount: Option<String>,
    pub currency: String,
    pub payment_method: PaymentMethod,
    pub after_sales_notes: Option<String>,
    /// Custom field values (key → value), checked against the tenant's definitions.
    pub custom_fields: Option<serde_json::Value>,
}

/// Writable fields of a recorded sale. The amount follows quantity, unit price and
/// currency; giving it only checks it.
#[derive(Debug, Clone, Default)]
pub struct TransactionChanges {
    pub occurred_at: Patch<DateTime<Utc>>,
    pub product: Patch<String>,
    pub quantity: Patch<String>,
    pub unit_price: Patch<String>,
    pub amount: Patch<String>,
    pub currency: Patch<String>,
    pub payment_method: Patch<PaymentMethod>,
    pub after_sales_notes: Patch<String>,
    /// Custom field values to set (null clears one); keys not given keep their value.
    pub custom_fields: Option<serde_json::Value>,
}

/// Sales are listed by when they happened.
pub type TransactionOrder = records::OccurredAtOrder;

#[derive(Debug, Clone, Default)]
pub struct TransactionFilter {
    /// Half-open: `from <= occurred_at < to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub customer_id: Option<Uuid>,
    /// Inclusive bounds in `currency`, which they require.
    pub min_amount: Option<String>,
    pub max_amount: Option<String>,
    pub currency: Option<String>,
    pub include_voided: bool,
    /// Conditions on custom field values, all of which must hold.
    pub custom_fields: Vec<FieldFilter>,
}

/// A filter with its amounts in minor units.
struct Bounds {
    currency: Option<Currency>,
    min: Option<i64>,
    max: Option<i64>,
}

impl TransactionFilter {
    fn bounds(&self) -> DomainResult<Bounds> {
        let currency = self
            .currency
            .as_deref()
            .map(|c| Currency::parse("filter.currency", c))
            .transpose()?;
        let amount = |field: &str, value: Option<&str>| -> DomainResult<Option<i64>> {
            let Some(value) = value else { return Ok(None) };
            let currency =
                currency.ok_or_else(|| DomainError::validation("filter.currency", "is required to compare amounts"))?;
            Ok(Some(Money::parse(field, value, currency)?.minor))
        };
        let min = amount("filter.minAmount", self.min_amount.as_deref())?;
        let max = amount("filter.maxAmount", self.max_amount.as_deref())?;
        if let (Some(lo), Some(hi)) = (min, max)
            && lo > hi
        {
            return Err(DomainError::validation(
                "filter.maxAmount",
                "must not be below minAmount",
            ));
        }
        Ok(Bounds { currency, min, max })
    }
}

impl CustomerRecord for transaction::Entity {
    const NOUN: &'static str = "transaction";
    type Filter = TransactionFilter;
    type Order = TransactionOrder;
    const CARRIES: Option<records::CarriedColumns<Self>> = records::carried_columns!(transaction);

    records::record_keys!(transaction);

    async fn narrow(
        tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        f: &TransactionFilter,
    ) -> DomainResult<Scoped<Select<Self>>> {
        let bounds = f.bounds()?;
        let mut select = select;
        if !f.include_voided {
            select = select.filter(transaction::Column::VoidedAt.is_null());
        }
        if let Some(v) = f.from {
            select = select.filter(transaction::Column::OccurredAt.gte(v));
        }
        if let Some(v) = f.to {
            select = select.filter(transaction::Column::OccurredAt.lt(v));
        }
        if let Some(v) = f.customer_id {
            select = select.filter(transaction::Column::CustomerId.eq(v));
        }
        if let Some(c) = bounds.currency {
            select = select.filter(transaction::Column::Currency.eq(c.code()));
        }
        if let Some(v) = bounds.min {
            select = select.filter(transaction::Column::AmountMinor.gte(v));
        }
        if let Some(v) = bounds.max {
            select = select.filter(transaction::Column::AmountMinor.lte(v));
        }
        custom_query::narrowed::<Self, _>(tx, select, &f.custom_fields).await
    }

    /// A customer's file lists the sales that count.
    fn in_file(select: Scoped<Select<Self>>) -> Scoped<Select<Self>> {
        select.filter(transaction::Column::VoidedAt.is_null())
    }

    fn file_filter(customer_id: Uuid) -> TransactionFilter {
        TransactionFilter {
            customer_id: Some(customer_id),
            ..Default::default()
        }
    }
}

/// An occurrence no later than today in the tenant's time zone.
async fn occurred_at(tx: &ScopedTx, at: DateTime<Utc>) -> DomainResult<DateTime<Utc>> {
    let context = tx.context().await?;
    if at.with_timezone(&context.timezone).date_naive() > context.today() {
        return Err(DomainError::validation("occurredAt", "cannot be in the future"));
    }
    Ok(at.trunc_subsecs(6))
}

#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn record(
    store: &Store,
    scope: &TenantScope,
    input: NewTransaction,
) -> DomainResult<Written<transaction::Model>> {
    access::require_writer(scope)?;
    let product = validate::required_line("product", Some(input.product), 200)?;
    let quantity = Quantity::parse("quantity", &input.quantity)?;
    let currency = Currency::parse("currency", &input.currency)?;
    let unit_price = Money::parse("unitPrice", &input.unit_price, currency)?;
    let amount = settle_amount(quantity, unit_price, input.amount.as_deref())?;
    let notes = validate::optional_text("afterSalesNotes", input.after_sales_notes, 5000)?;
    let mut changed = vec![
        "customerId",
        "occurredAt",
        "product",
        "quantity",
        "unitPrice",
        "amount",
        "currency",
        "paymentMethod",
    ];
    if notes.is_some() {
        changed.push("afterSalesNotes");
    }
    let tx = store.begin_scoped(scope).await?;
    let at = occurred_at(&tx, input.occurred_at).await?;
    access::lock_writable(&tx, input.customer_id, "customerId").await?;
    let stamp = now();
    let draft = transaction::Model {
        id: Uuid::now_v7(),
        tenant_id: scope.tenant_id(),
        customer_id: input.customer_id,
        occurred_at: at,
        product,
        quantity_milli: quantity.milli(),
        unit_price_minor: unit_price.minor,
        amount_minor: amount,
        currency: currency.code().to_owned(),
        payment_method: input.payment_method,
        after_sales_notes: notes,
        voided_at: None,
        void_reason: None,
        version: 1,
        created_by: scope.actor().user_id,
        created_at: stamp,
        updated_at: stamp,
        custom_fields: serde_json::json!({}),
        custom_field_index: serde_json::json!({}),
        custom_fields_key_version: None,
    };
    let given = input.custom_fields.as_ref();
    let created =
        record_writes::insert_new::<transaction::Entity>(&tx, draft, given, "transaction.record", &changed).await?;
    values::commit_written(tx, created).await
}

/// Applies `changes` if `version` is still current (else CONFLICT). A voided sale is final.
#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn update(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    version: i32,
    mut changes: TransactionChanges,
) -> DomainResult<Written<transaction::Model>> {
    let (tx, current) = record_writes::open_change::<transaction::Entity>(store, scope, id, version, |t| {
        t.voided_at.map(|_| "is voided and can no longer change")
    })
    .await?;
    let mut next = current.clone();
    let mut changed: Vec<&'static str> = Vec::new();
    let given = changes.custom_fields.as_ref();
    let custom = record_writes::set_custom_fields::<transaction::Entity>(&tx, &mut next, false, given).await?;
    if let Patch::Set(at) = &mut changes.occurred_at {
        *at = occurred_at(&tx, *at).await?;
    }
    patch_required(
        "occurredAt",
        changes.occurred_at,
        &mut next.occurred_at,
        Ok,
        &mut changed,
    )?;
    let product = |v| validate::required_line("product", Some(v), 200);
    patch_required("product", changes.product, &mut next.product, product, &mut changed)?;
    patch_required(
        "paymentMethod",
        changes.payment_method,
        &mut next.payment_method,
        Ok,
        &mut changed,
    )?;
    let notes = |v| validate::optional_text("afterSalesNotes", Some(v), 5000);
    patch_optional(
        "afterSalesNotes",
        changes.after_sales_notes,
        &mut next.after_sales_notes,
        notes,
        &mut changed,
    )?;
    let old_currency = Currency::parse("currency", &current.currency)?;
    let currency = match changes.currency {
        Patch::Keep => old_currency,
        Patch::Clear => return Err(cannot_clear("currency")),
        Patch::Set(v) => Currency::parse("currency", &v)?,
    };
    let quantity = match changes.quantity {
        Patch::Keep => Quantity::from_milli(current.quantity_milli),
        Patch::Clear => return Err(cannot_clear("quantity")),
        Patch::Set(v) => Quantity::parse("quantity", &v)?,
    };
    let unit_price = match changes.unit_price {
        Patch::Keep => Money::from_minor(current.unit_price_minor, old_currency).in_currency("unitPrice", currency)?,
        Patch::Clear => return Err(cannot_clear("unitPrice")),
        Patch::Set(v) => Money::parse("unitPrice", &v, currency)?,
    };
    let given_amount = match &changes.amount {
        Patch::Set(v) => Some(v.as_str()),
        Patch::Keep | Patch::Clear => None,
    };
    let amount = settle_amount(quantity, unit_price, given_amount)?;
    assign("quantity", &mut next.quantity_milli, quantity.milli(), &mut changed);
    assign("unitPrice", &mut next.unit_price_minor, unit_price.minor, &mut changed);
    assign("currency", &mut next.currency, currency.code().to_owned(), &mut changed);
    assign("amount", &mut next.amount_minor, amount, &mut changed);
    if changed.is_empty() && custom.changed.is_empty() {
        return values::commit_written(tx, current).await;
    }
    let saved = versioned::save_if_version::<transaction::Entity>(&tx, next, version, DomainError::from).await?;
    audit::record(&tx, "transaction.update", Some(id), &custom.audit_fields(&changed)).await?;
    values::commit_written(tx, saved).await
}

/// Flags a sale as void: it stays on file with the reason and leaves every total.
#[tracing::instrument(skip_all, fields(tenant_id = %scope.tenant_id()))]
pub async fn void(
    store: &Store,
    scope: &TenantScope,
    id: Uuid,
    reason: Option<String>,
) -> DomainResult<Written<transaction::Model>> {
    access::require_writer(scope)?;
    let reason = validate::optional_text("reason", reason, 1000)?;
    let tx = store.begin_scoped(scope).await?;
    let current = record_writes::open_record::<transaction::Entity>(&tx, id).await?;
    if current.voided_at.is_some() {
        return Err(DomainError::validation("id", "is already voided"));
    }
    let version = current.version;
    let mut next = current;
    next.voided_at = Some(now());
    next.void_reason = reason;
    let mut changed = vec!["voidedAt"];
    if next.void_reason.is_some() {
        changed.push("voidReason");
    }
    let saved = versioned::save_if_version::<transaction::Entity>(&tx, next, version, DomainError::from).await?;
    audit::record(&tx, "transaction.void", Some(id), &changed).await?;
    values::commit_written(tx, saved).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("currency", "CNY").unwrap()
    }

    fn field_of(err: DomainError) -> String {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn quantities_are_exact_thousandths_and_print_shortest() {
        assert_eq!(Quantity::parse("q", "1.5").unwrap().milli(), 1500);
        assert_eq!(Quantity::parse("q", "2").unwrap().milli(), 2000);
        assert_eq!(Quantity::parse("q", " 0.125 ").unwrap().milli(), 125);
        assert_eq!(Quantity::parse("q", "1.5").unwrap().to_string(), "1.5");
        assert_eq!(Quantity::parse("q", "2.000").unwrap().to_string(), "2");
        assert_eq!(Quantity::from_milli(10).to_string(), "0.01");
    }

    #[test]
    fn quantities_must_be_positive_with_at_most_three_places() {
        for bad in [
            "0",
            "0.000",
            "-1",
            "-0.5",
            "1.2345",
            "",
            "abc",
            "1e3",
            ".5",
            "99999999999999999",
        ] {
            let err = Quantity::parse("quantity", bad).expect_err(bad);
            assert_eq!(field_of(err), "quantity", "{bad}");
        }
    }

    #[test]
    fn amounts_round_half_up_to_the_minor_unit() {
        let q = |s| Quantity::parse("q", s).unwrap();
        // 1.5 × 19.99 = 29.985 → 29.99
        assert_eq!(line_amount(q("1.5"), 1999), Some(2999));
        // 0.001 × 4.99 = 0.00499 → 0.00
        assert_eq!(line_amount(q("0.001"), 499), Some(0));
        // 0.001 × 5.00 = 0.005 → 0.01
        assert_eq!(line_amount(q("0.001"), 500), Some(1));
        // 0.333 × 0.01 = 0.00333 → 0.00
        assert_eq!(line_amount(q("0.333"), 1), Some(0));
        assert_eq!(line_amount(q("3"), 1999), Some(5997));
        assert_eq!(line_amount(q("1.5"), 0), Some(0));
    }

    #[test]
    fn amounts_past_i64_are_refused_not_wrapped() {
        let big = Quantity::parse("q", "9000000000000").unwrap();
        assert_eq!(line_amount(big, i64::MAX), None);
        let err = settle_amount(big, Money::from_minor(i64::MAX, cny()), None).unwrap_err();
        assert_eq!(field_of(err), "amount");
    }

    #[test]
    fn a_given_amount_must_match_the_computed_one() {
        let q = Quantity::parse("q", "1.5").unwrap();
        let price = Money::parse("unitPrice", "19.99", cny()).unwrap();
        assert_eq!(settle_amount(q, price, None).unwrap(), 2999);
        assert_eq!(settle_amount(q, price, Some("29.99")).unwrap(), 2999);
        assert_eq!(field_of(settle_amount(q, price, Some("29.98")).unwrap_err()), "amount");
        assert_eq!(field_of(settle_amount(q, price, Some("29.985")).unwrap_err()), "amount");
        let negative = Money::parse("unitPrice", "-1", cny()).unwrap();
        assert_eq!(field_of(settle_amount(q, negative, None).unwrap_err()), "unitPrice");
    }
}
