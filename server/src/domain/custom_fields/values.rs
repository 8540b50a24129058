//! Values of custom fields: checked against the tenant's current definitions on every write,
//! sealed when the field is sensitive, opened (or masked) on read.
//!
//! Stored shapes, chosen so that SQL can compare them: text-like values, dates (`YYYY-MM-DD`),
//! times (UTC, `YYYY-MM-DDTHH:MM:SSZ`) and decimals (canonical, as strings) are JSON strings;
//! integers are JSON numbers; booleans JSON booleans; multi-selects arrays in option order;
//! amounts `{"amount": "12.50", "currency": "CNY"}`. A sensitive value is the ciphertext of
//! that shape, and its blind index (when searchable) sits in `custom_field_index`.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use entity::custom_field_definition as definition;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{ColumnTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect};
use serde_json::{Map, Value as Json};
use uuid::Uuid;

use super::query::Carrying;
use super::{Carrier, Definition, FieldEntity, FieldType, cached_definitions, definitions, query};
use crate::crypto::blind_index::blind_index;
use crate::crypto::{Aad, mask};
use crate::domain::contacts::ReencryptBatch;
use crate::domain::keys::TenantKeys;
use crate::domain::money::{Currency, Money};
use crate::domain::records::RecordKind;
use crate::domain::validate::Lines;
use crate::domain::{DomainError, DomainResult, ScopedTx, Store, TenantTx, locks, validate};
use crate::tenancy::TenantScope;

const TEXT_MAX: usize = 500;
const LONG_TEXT_MAX: usize = 10_000;
const URL_MAX: usize = 2_000;

/// The error name of a field: `customFields.<key>`.
pub fn field_name(key: &str) -> String {
    format!("customFields.{key}")
}

fn invalid(key: &str, message: impl Into<String>) -> DomainError {
    DomainError::validation(field_name(key), message)
}

/// Checks `value` against the field and returns its stored shape; `None` for an empty value
/// (null, blank text, no options chosen), which clears the field.
pub fn normalise(def: &Definition, value: &Json, region: &str) -> DomainResult<Option<Json>> {
    let key = def.key.as_str();
    let name = field_name(key);
    if value.is_null() {
        return Ok(None);
    }
    // Whatever the type, no string in the value may carry control characters (PostgreSQL
    // refuses a NUL in JSON with an internal error); text fields tighten this below.
    for s in strings_in(value) {
        validate::plain(&name, s, LONG_TEXT_MAX, Lines::Many)?;
    }
    let text = |what: &str| -> DomainResult<Option<String>> {
        match value {
            Json::String(s) if s.trim().is_empty() => Ok(None),
            Json::String(s) => Ok(Some(s.trim().to_owned())),
            _ => Err(invalid(key, format!("must be {what}"))),
        }
    };
    let out = match def.field_type {
        FieldType::Text | FieldType::LongText => {
            let max = if def.field_type == FieldType::Text {
                TEXT_MAX
            } else {
                LONG_TEXT_MAX
            };
            let Some(s) = text("text")? else { return Ok(None) };
            if s.chars().count() > max {
                return Err(invalid(key, format!("must be at most {max} characters")));
            }
            if def.field_type == FieldType::Text && s.contains(['\n', '\r']) {
                return Err(invalid(key, "must be one line; use a long text field for more"));
            }
            let lines = if def.field_type == FieldType::Text {
                Lines::One
            } else {
                Lines::Many
            };
            validate::plain(&name, &s, max, lines)?;
            if !def.sensitive {
                validate::pii_guard(&name, &s)?;
            }
            Json::String(s)
        }
        FieldType::Integer => match value.as_i64() {
            Some(n) => Json::from(n),
            None => return Err(invalid(key, "must be a whole number (a JSON integer)")),
        },
        FieldType::Decimal => {
            let raw = match value {
                Json::Number(n) => n.to_string(),
                Json::String(s) => s.trim().to_owned(),
                _ => return Err(invalid(key, "must be a decimal number such as 12.5")),
            };
            Json::String(decimal(key, &raw)?)
        }
        FieldType::Boolean => match value {
            Json::Bool(b) => Json::Bool(*b),
            _ => return Err(invalid(key, "must be true or false")),
        },
        FieldType::Date => {
            let Some(s) = text("a date as YYYY-MM-DD")? else {
                return Ok(None);
            };
            Json::String(validate::date(&name, &s)?.format("%Y-%m-%d").to_string())
        }
        FieldType::Datetime => {
            let Some(s) = text("a date and time such as 2026-11-25T09:30:00+08:00")? else {
                return Ok(None);
            };
            let parsed = DateTime::parse_from_rfc3339(&s).map_err(|_| {
                invalid(
                    key,
                    "must be a date and time with offset, such as 2026-11-25T09:30:00+08:00",
                )
            })?;
            Json::String(datetime_text(parsed.with_timezone(&Utc)))
        }
        FieldType::Select => {
            let Some(s) = text("one of the field's options")? else {
                return Ok(None);
            };
            if !options_of(def).any(|o| o == s) {
                return Err(invalid(key, format!("`{s}` is not one of the field's options")));
            }
            Json::String(s)
        }
        FieldType::MultiSelect => {
            let Json::Array(items) = value else {
                return Err(invalid(key, "must be a list of the field's options"));
            };
            let mut chosen = Vec::new();
            for item in items {
                let Some(s) = item.as_str() else {
                    return Err(invalid(key, "must be a list of the field's options"));
                };
                if !options_of(def).any(|o| o == s) {
                    return Err(invalid(key, format!("`{s}` is not one of the field's options")));
                }
                chosen.push(s.to_owned());
            }
            if chosen.is_empty() {
                return Ok(None);
            }
            // Option order, each once: equal choices are equal values (filters compare them).
            let ordered: Vec<Json> = options_of(def)
                .filter(|o| chosen.iter().any(|c| c == o))
                .map(|o| Json::String(o.to_owned()))
                .collect();
            Json::Array(ordered)
        }
        FieldType::Email => {
            let Some(s) = text("an e-mail address")? else {
                return Ok(None);
            };
            Json::String(validate::email(&name, &s)?)
        }
        FieldType::Phone => {
            let Some(s) = text("a phone number")? else {
                return Ok(None);
            };
            Json::String(validate::phone(&name, &s, region)?)
        }
        FieldType::Url => {
            let Some(s) = text("a web address")? else {
                return Ok(None);
            };
            Json::String(url(key, &s)?)
        }
        FieldType::CurrencyAmount => {
            let (Some(amount), Some(currency)) = (value.get("amount"), value.get("currency").and_then(Json::as_str))
            else {
                return Err(invalid(
                    key,
                    "must be an amount such as {\"amount\": \"12.50\", \"currency\": \"CNY\"}",
                ));
            };
            let amount = match amount {
                Json::String(s) => s.clone(),
                Json::Number(n) => n.to_string(),
                _ => return Err(invalid(key, "amount must be a decimal number")),
            };
            let currency = Currency::parse(&format!("{name}.currency"), currency)?;
            let money = Money::parse(&format!("{name}.amount"), &amount, currency)?;
            serde_json::json!({ "amount": money.to_string(), "currency": currency.code() })
        }
    };
    Ok(Some(out))
}

/// Every string inside `value`, however deeply nested.
fn strings_in(value: &Json) -> Vec<&str> {
    let mut out = Vec::new();
    let mut pending = vec![value];
    while let Some(v) = pending.pop() {
        match v {
            Json::String(s) => out.push(s.as_str()),
            Json::Array(items) => pending.extend(items),
            Json::Object(map) => {
                out.extend(map.keys().map(String::as_str));
                pending.extend(map.values());
            }
            _ => {}
        }
    }
    out
}

fn options_of(def: &Definition) -> impl Iterator<Item = &str> {
    def.options
        .as_ref()
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
}

pub(crate) fn datetime_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A decimal in canonical form (no `+`, no leading zeros, no trailing fractional zeros), so
/// that equal numbers are equal strings.
fn decimal(key: &str, raw: &str) -> DomainResult<String> {
    let bad = || {
        invalid(
            key,
            "must be a decimal number such as 12.5 (at most 18 digits before and 10 after the point)",
        )
    };
    let (negative, digits) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || (digits.contains('.') && fraction.is_empty())
    {
        return Err(bad());
    }
    let whole = whole.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    if whole.len() > 18 || fraction.len() > 10 {
        return Err(bad());
    }
    let whole = if whole.is_empty() { "0" } else { whole };
    let zero = whole == "0" && fraction.is_empty();
    let sign = if negative && !zero { "-" } else { "" };
    Ok(if fraction.is_empty() {
        format!("{sign}{whole}")
    } else {
        format!("{sign}{whole}.{fraction}")
    })
}

/// `http(s)://host…`, no spaces.
fn url(key: &str, value: &str) -> DomainResult<String> {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| invalid(key, "must be a web address starting with http:// or https://"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) || value.len() > URL_MAX {
        return Err(invalid(key, "must be a web address such as https://example.com/page"));
    }
    Ok(value.to_owned())
}

/// Checks a field's default value and returns its stored shape.
pub(crate) fn default_of(def: &Definition, value: &Json) -> DomainResult<Json> {
    if def.sensitive || def.is_unique {
        return Err(DomainError::validation(
            "default",
            "sensitive and unique fields cannot have a default",
        ));
    }
    // A default phone number must carry its country code: no tenant region applies.
    normalise(def, value, "ZZ")
        .map_err(|e| match e {
            DomainError::Validation { message, .. } => DomainError::validation("default", message),
            other => other,
        })?
        .ok_or_else(|| DomainError::validation("default", "must not be empty"))
}

/// What is stored for a sensitive value before sealing: strings as they are, others as JSON.
fn plaintext_of(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn value_of_plaintext(def: &Definition, plaintext: &str) -> Json {
    match def.field_type {
        FieldType::Integer | FieldType::CurrencyAmount => {
            serde_json::from_str(plaintext).unwrap_or_else(|_| Json::String(plaintext.to_owned()))
        }
        _ => Json::String(plaintext.to_owned()),
    }
}

fn aad<'a>(tenant_id: Uuid, entity: FieldEntity, column: &'a str, row_id: Uuid) -> Aad<'a> {
    Aad {
        tenant_id,
        table: entity.table(),
        column,
        row_id,
    }
}

fn column_of(key: &str) -> String {
    format!("custom_fields.{key}")
}

/// The blind index of a sensitive value, as stored and as searched for.
pub(crate) fn index_of(keys: &TenantKeys, def: &Definition, value: &Json) -> String {
    let field = format!("custom_fields.{}.{}", def.entity.table(), def.key);
    blind_index(&keys.index, &field, &plaintext_of(value))
}

/// The record's custom fields after a write, ready to store.
#[derive(Debug)]
pub struct Prepared {
    pub values: Json,
    pub index: Json,
    /// The oldest data key version among the sealed values (`None`: nothing sealed).
    pub key_version: Option<i32>,
    /// Keys whose value changed, for the audit trail (`customFields.<key>`).
    pub changed: Vec<String>,
}

impl Prepared {
    /// The audit names of the changed keys, beside a record's other changed fields.
    pub fn audit_fields<'a>(&'a self, others: &[&'a str]) -> Vec<&'a str> {
        others
            .iter()
            .copied()
            .chain(self.changed.iter().map(String::as_str))
            .collect()
    }
}

/// Checks `input` (a JSON object, key → value; null clears) against the tenant's definitions
/// of `entity` and merges it into `current` (`None` when the record is new: defaults apply and
/// required fields must be there). On update, a required field must not be cleared, but a
/// record that lacks a field made required later can still be changed in its other fields.
pub(crate) async fn prepare(
    tx: &ScopedTx,
    entity: FieldEntity,
    row_id: Uuid,
    current: Option<(&Json, &Json)>,
    input: Option<&Json>,
) -> DomainResult<Prepared> {
    let scope = tx.scope();
    let defs = definitions(tx).await?;
    let creating = current.is_none();
    let mut values = current.and_then(|(v, _)| v.as_object().cloned()).unwrap_or_default();
    let mut index = current.and_then(|(_, i)| i.as_object().cloned()).unwrap_or_default();
    let given: Map<String, Json> = match input {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(map)) => map.clone(),
        Some(_) => {
            return Err(DomainError::validation(
                "customFields",
                "must be an object of field keys and values",
            ));
        }
    };
    if given.is_empty() && !creating {
        return Ok(Prepared {
            key_version: oldest_key(&defs, entity, &values),
            values: Json::Object(values),
            index: Json::Object(index),
            changed: Vec::new(),
        });
    }
    let ours = |d: &&Definition| d.entity == entity;
    let mut wanted: Vec<(&Definition, Option<Json>)> = Vec::new();
    let region = if given.keys().any(|k| {
        defs.iter()
            .any(|d| d.entity == entity && &d.key == k && d.field_type == FieldType::Phone)
    }) {
        tx.context().await?.phone_region.clone()
    } else {
        String::new()
    };
    for (key, value) in &given {
        let def = defs
            .iter()
            .filter(ours)
            .find(|d| &d.key == key)
            .ok_or_else(|| invalid(key, format!("is not a custom field of {}", entity.noun())))?;
        if def.archived_at.is_some() {
            return Err(invalid(key, "is archived; restore the field to write it"));
        }
        let value = normalise(def, value, &region)?;
        if value.is_none() && def.required {
            let message = if creating {
                "is required"
            } else {
                "is required and cannot be cleared"
            };
            return Err(invalid(key, message));
        }
        wanted.push((def, value));
    }
    if creating {
        for def in defs.iter().filter(ours).filter(|d| d.archived_at.is_none()) {
            if given.contains_key(&def.key) {
                continue;
            }
            match &def.default_value {
                Some(default) => wanted.push((def, Some(default.clone()))),
                None if def.required => return Err(invalid(&def.key, "is required")),
                None => {}
            }
        }
    }
    let keys = if wanted.iter().any(|(d, v)| d.sensitive && v.is_some()) {
        Some(tx.store().vault().for_tenant(tx, scope.tenant_id()).await?)
    } else {
        None
    };
    let mut changed = Vec::new();
    let mut unique: Vec<(&Definition, Json)> = Vec::new();
    for (def, value) in wanted {
        let key = def.key.clone();
        let Some(value) = value else {
            let had = values.remove(&key).is_some();
            index.remove(&key);
            if had {
                changed.push(field_name(&key));
            }
            continue;
        };
        let stored = if def.sensitive {
            let keys = keys.as_ref().ok_or_else(keys_missing)?;
            let column = column_of(&key);
            if def.searchable {
                index.insert(key.clone(), Json::String(index_of(keys, def, &value)));
            }
            let unchanged = values.get(&key).is_some_and(|old| {
                old.as_str().is_some_and(|ct| {
                    keys.data
                        .decrypt(aad(scope.tenant_id(), entity, &column, row_id), ct)
                        .is_ok_and(|p| p.expose() == plaintext_of(&value))
                })
            });
            if unchanged {
                continue;
            }
            Json::String(
                keys.data
                    .encrypt(aad(scope.tenant_id(), entity, &column, row_id), &plaintext_of(&value)),
            )
        } else {
            if values.get(&key) == Some(&value) {
                continue;
            }
            value
        };
        if def.is_unique {
            let probe = if def.sensitive {
                index.get(&key).cloned()
            } else {
                Some(stored.clone())
            };
            unique.extend(probe.map(|p| (def, p)));
        }
        values.insert(key.clone(), stored);
        changed.push(field_name(&key));
    }
    ensure_unique(tx, &unique, row_id).await?;
    Ok(Prepared {
        key_version: oldest_key(&defs, entity, &values),
        values: Json::Object(values),
        index: Json::Object(index),
        changed,
    })
}

/// The oldest data key version among the sealed values of a record.
fn oldest_key(defs: &[Definition], entity: FieldEntity, values: &Map<String, Json>) -> Option<i32> {
    values
        .iter()
        .filter(|(key, _)| defs.iter().any(|d| d.entity == entity && &d.key == *key && d.sensitive))
        .filter_map(|(_, v)| v.as_str())
        .filter_map(|ct| crate::crypto::cipher::key_version(ct).ok())
        .min()
        .map(|v| v as i32)
}

/// VALIDATION when another record of the tenant holds the same value of a unique field.
/// Each field is held until COMMIT (all of them in one call, so writers of several unique
/// fields never wait crosswise): two writers of one value would each see no clash otherwise.
async fn ensure_unique(tx: &ScopedTx, probes: &[(&Definition, Json)], row_id: Uuid) -> DomainResult<()> {
    if probes.is_empty() {
        return Ok(());
    }
    let fields: Vec<String> = probes
        .iter()
        .map(|(def, _)| format!("{}:{}", def.entity.table(), def.key))
        .collect();
    let keys: Vec<locks::Key<'_>> = fields.iter().map(|f| locks::Key::new("custom-field", f)).collect();
    locks::hold(tx, &keys).await?;
    for (def, probe) in probes {
        ensure_unique_one(tx, def, row_id, probe).await?;
    }
    Ok(())
}

async fn ensure_unique_one(tx: &ScopedTx, def: &Definition, row_id: Uuid, probe: &Json) -> DomainResult<()> {
    #[derive(FromQueryResult)]
    struct Clash {
        #[allow(dead_code)]
        id: Uuid,
    }
    let backend = tx.backend();
    let table = def.entity.table();
    let clash: Vec<Clash> = query::query_raw(tx, |tenant| {
        Query::select()
            .column(Alias::new("id"))
            .from(Alias::new(table))
            .and_where(Expr::cust(tenant.to_owned()))
            .and_where(Expr::col(Alias::new("id")).ne(row_id))
            .and_where(query::stored_equals(backend, table, def, probe))
            .limit(1)
            .to_owned()
    })
    .await?;
    if !clash.is_empty() {
        return Err(invalid(
            &def.key,
            format!(
                "must be unique: another of the tenant's {} already has this value",
                def.entity.noun()
            ),
        ));
    }
    Ok(())
}

/// The values a renewed record's successor starts with: the non-sensitive ones (a sensitive
/// value is sealed to its own row and is entered again if still wanted).
pub(crate) async fn carried_over(tx: &ScopedTx, entity: FieldEntity, stored: &Json) -> DomainResult<Json> {
    let defs = definitions(tx).await?;
    let kept: Map<String, Json> = stored
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(key, _)| {
            defs.iter()
                .any(|d| d.entity == entity && &d.key == *key && !d.sensitive)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Json::Object(kept))
}

/// Every kind of row that carries custom field values: customers, and the kinds of record in
/// their files that the registration in `records` says carry some, so that a new kind is
/// counted and re-encrypted without being listed here.
fn carrying_kinds() -> impl Iterator<Item = FieldEntity> {
    std::iter::once(FieldEntity::Customer).chain(RecordKind::all().filter_map(RecordKind::custom_fields))
}

/// `$body` with `$table` the entity whose rows carry the custom fields of `$kind`; the match
/// is exhaustive, so a new kind of custom fields asks for its table here.
macro_rules! with_carrying {
    ($kind:expr, $table:ident => $body:expr) => {
        with_carrying!(@tables $kind, $table, $body;
            Customer => customer, Contract => contract, Transaction => transaction, Interaction => interaction)
    };
    (@tables $kind:expr, $table:ident, $body:expr; $($variant:ident => $module:ident),*) => {
        match $kind {
            $(FieldEntity::$variant => {
                type $table = entity::$module::Entity;
                $body
            })*
        }
    };
}

/// How many records of any kind hold sensitive custom values under a key older than `current`.
pub(crate) async fn records_on_older_keys(tx: &ScopedTx, current: i32) -> DomainResult<u64> {
    async fn older<E: Carrying>(tx: &ScopedTx, current: i32) -> DomainResult<u64>
    where
        E::Model: Sync,
    {
        tx.select::<E>()
            .filter(E::key_version_column().lt(current))
            .count(tx)
            .await
    }
    let mut total = 0;
    for kind in carrying_kinds() {
        total += with_carrying!(kind, Table => older::<Table>(tx, current).await?);
    }
    Ok(total)
}

/// One re-encryption batch (up to `limit` records) for each kind of record, summed.
pub async fn reencrypt_batches(store: &Store, tenant_id: Uuid, limit: u64) -> DomainResult<ReencryptBatch> {
    let mut total = ReencryptBatch::default();
    for kind in carrying_kinds() {
        let batch = with_carrying!(kind, Table => reencrypt_batch::<Table>(store, tenant_id, limit).await?);
        total.selected += batch.selected;
        total.moved += batch.moved;
        total.failed += batch.failed;
    }
    Ok(total)
}

/// Moves up to `limit` records of one tenant whose sealed custom values use an older data key
/// to the newest key. Like the contacts' batch, a record is written back only if its values are
/// still those it read, so an edit made meanwhile is never undone.
async fn reencrypt_batch<E: Carrying>(store: &Store, tenant_id: Uuid, limit: u64) -> DomainResult<ReencryptBatch> {
    let tx = store.begin_tenant_job(tenant_id).await?;
    let keys = store.vault().reload(&tx, tenant_id).await?;
    let current = keys.data.current_version as i32;
    let sealed: Vec<String> = tx
        .select::<definition::Entity>()
        .filter(definition::Column::Entity.eq(E::ENTITY))
        .filter(definition::Column::Sensitive.eq(true))
        .all(&tx)
        .await?
        .into_iter()
        .map(|d| d.key)
        .collect();
    let rows = tx
        .select::<E>()
        .filter(E::key_version_column().lt(current))
        .order_by_asc(E::id_column())
        .limit(limit)
        .all(&tx)
        .await?;
    let mut batch = ReencryptBatch {
        selected: rows.len() as u64,
        ..Default::default()
    };
    'rows: for row in rows {
        let (id, old) = (E::id_of(&row), E::values_of(&row));
        let mut values = old.as_object().cloned().unwrap_or_default();
        for key in &sealed {
            let Some(ct) = values.get(key).and_then(Json::as_str) else {
                continue;
            };
            let column = column_of(key);
            let aad = aad(tenant_id, E::ENTITY, &column, id);
            let clear = match keys.data.decrypt(aad, ct) {
                Ok(clear) => clear,
                Err(e) => {
                    tracing::error!(record_id = %id, table = E::ENTITY.table(), field = %key, error = %e,
                        "cannot re-encrypt a custom field value");
                    batch.failed += 1;
                    continue 'rows;
                }
            };
            values.insert(key.clone(), Json::String(keys.data.encrypt(aad, clear.expose())));
        }
        batch.moved += tx
            .update::<E>()
            .col_expr(E::values_column(), Expr::value(Json::Object(values)))
            .col_expr(E::key_version_column(), Expr::value(current))
            .filter(E::id_column().eq(id))
            .filter(E::key_version_column().eq(E::key_version_of(&row)))
            .filter(E::values_column().eq(old.clone()))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(batch)
}

/// One field of a record as a client sees it.
#[derive(Debug, Clone)]
pub struct FieldValue {
    pub definition: Definition,
    pub value: Option<Json>,
    pub masked: bool,
}

/// The record's values of the tenant's active fields of `entity`, in display order; sensitive
/// ones opened for callers with plaintext rights, masked for the others. What is not in
/// memory is read through the caller's transaction.
pub async fn read(
    tx: &ScopedTx,
    entity: FieldEntity,
    row_id: Uuid,
    stored: &Json,
    plaintext: bool,
) -> DomainResult<Vec<FieldValue>> {
    let (defs, keys) = context_in(tx, entity, stored).await?;
    open(tx.scope(), entity, row_id, stored, plaintext, &defs, keys.as_deref())
}

/// `read` from memory alone: `None` when the definitions (or the keys a sensitive value needs)
/// are not cached, and `read` must go to the database. A page of records reads its values one
/// record at a time: after the first, all of them come from here.
pub fn read_cached(
    store: &Store,
    scope: &TenantScope,
    entity: FieldEntity,
    row_id: Uuid,
    stored: &Json,
    plaintext: bool,
) -> Option<DomainResult<Vec<FieldValue>>> {
    let defs = cached_definitions(store, scope.tenant_id())?;
    let keys = match needs_keys(&defs, entity, stored) {
        true => Some(store.vault().cached(scope.tenant_id())?),
        false => None,
    };
    Some(open(scope, entity, row_id, stored, plaintext, &defs, keys.as_deref()))
}

/// `read` of a record inside the caller's transaction, for the answer of a write before its
/// COMMIT.
pub(crate) async fn read_in<M: CarriesFields>(
    tx: &ScopedTx,
    record: &M,
    plaintext: bool,
) -> DomainResult<Vec<FieldValue>> {
    read(tx, M::ENTITY, record.row_id(), record.stored(), plaintext).await
}

/// Whether a caller reads the sensitive values of a contract, transaction or interaction in
/// full: sales staff see those only on their own customers, so whoever sees the record and
/// may write does; viewers get masks.
pub fn record_plaintext(scope: &TenantScope) -> bool {
    scope.is_at_least(entity::enums::Role::Sales)
}

/// A record kind whose row carries custom field values.
pub trait CarriesFields {
    const ENTITY: FieldEntity;
    fn row_id(&self) -> Uuid;
    fn stored(&self) -> &Json;
}

macro_rules! carries_fields {
    ($($module:ident => $entity:ident),* $(,)?) => {
        $(impl CarriesFields for entity::$module::Model {
            const ENTITY: FieldEntity = FieldEntity::$entity;
            fn row_id(&self) -> Uuid {
                self.id
            }
            fn stored(&self) -> &Json {
                &self.custom_fields
            }
        })*
    };
}

carries_fields!(customer => Customer, contract => Contract, transaction => Transaction, interaction => Interaction);

/// A record as a write left it, with its custom field values as the writer sees them, read
/// before the write's COMMIT so that its answer needs the database no more.
pub struct Written<M> {
    pub record: M,
    pub custom_fields: Vec<FieldValue>,
}

/// `record` with its values, read inside the write's transaction. The definitions and keys
/// are those the write itself used, from memory, so this seldom costs a statement.
pub(crate) async fn written<M: CarriesFields>(tx: &ScopedTx, record: M) -> DomainResult<Written<M>> {
    let plaintext = record_plaintext(tx.scope());
    let custom_fields = read(tx, M::ENTITY, record.row_id(), record.stored(), plaintext).await?;
    Ok(Written { record, custom_fields })
}

/// `written`, then COMMIT.
pub(crate) async fn commit_written<M: CarriesFields>(tx: ScopedTx, record: M) -> DomainResult<Written<M>> {
    let out = written(&tx, record).await?;
    tx.commit().await?;
    Ok(out)
}

/// Whether showing `stored` needs the tenant's keys: it holds a sensitive value.
fn needs_keys(defs: &[Definition], entity: FieldEntity, stored: &Json) -> bool {
    defs.iter()
        .any(|d| d.entity == entity && d.sensitive && d.archived_at.is_none() && stored.get(&d.key).is_some())
}

/// The values of `stored` for the active fields of `entity`, opened or masked.
fn open(
    scope: &TenantScope,
    entity: FieldEntity,
    row_id: Uuid,
    stored: &Json,
    plaintext: bool,
    defs: &[Definition],
    keys: Option<&TenantKeys>,
) -> DomainResult<Vec<FieldValue>> {
    let mut out = Vec::new();
    for def in defs.iter().filter(|d| d.entity == entity && d.archived_at.is_none()) {
        let raw = stored.get(&def.key);
        let (value, masked) = match (raw, def.sensitive) {
            (None, _) => (None, false),
            (Some(v), false) => (Some(v.clone()), false),
            (Some(ct), true) => {
                let keys = keys.ok_or_else(keys_missing)?;
                let column = column_of(&def.key);
                let clear = ct
                    .as_str()
                    .ok_or(crate::crypto::CryptoError::Malformed)
                    .and_then(|ct| keys.data.decrypt(aad(scope.tenant_id(), entity, &column, row_id), ct))
                    .map_err(|e| {
                        DomainError::Internal(anyhow::anyhow!(
                            "Failed to decrypt {}.custom_fields.{} of {row_id}: {e}",
                            entity.table(),
                            def.key
                        ))
                    })?;
                if plaintext {
                    (Some(value_of_plaintext(def, clear.expose())), false)
                } else {
                    (Some(Json::String(masked_text(def, clear.expose()))), true)
                }
            }
        };
        out.push(FieldValue {
            definition: def.clone(),
            value,
            masked,
        });
    }
    Ok(out)
}

fn masked_text(def: &Definition, plaintext: &str) -> String {
    match def.field_type {
        FieldType::Email => mask::email(plaintext),
        FieldType::Phone => mask::phone(plaintext),
        _ => mask::handle(plaintext),
    }
}

/// The definitions, and the keys when `stored` holds a sensitive value, read through `tx`
/// when not in memory.
async fn context_in(
    tx: &TenantTx,
    entity: FieldEntity,
    stored: &Json,
) -> DomainResult<(Arc<Vec<Definition>>, Option<Arc<TenantKeys>>)> {
    let defs = definitions(tx).await?;
    let keys = match needs_keys(&defs, entity, stored) {
        true => Some(tx.store().vault().for_tenant(tx, tx.tenant_id()).await?),
        false => None,
    };
    Ok((defs, keys))
}

fn keys_missing() -> DomainError {
    DomainError::Internal(anyhow::anyhow!(
        "the tenant's keys were not loaded for a sensitive value"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_that_may_define_custom_fields_is_counted_and_re_encrypted_once() {
        let mut kinds: Vec<FieldEntity> = carrying_kinds().collect();
        kinds.sort_by_key(|k| k.table());
        kinds.dedup();
        let mut all: Vec<FieldEntity> = <FieldEntity as sea_orm::Iterable>::iter().collect();
        all.sort_by_key(|k| k.table());
        assert_eq!(kinds, all);
        assert_eq!(carrying_kinds().count(), all.len());
    }

    #[test]
    fn decimals_have_one_canonical_form() {
        for (raw, canonical) in [
            ("12.50", "12.5"),
            ("0012", "12"),
            ("-0.0", "0"),
            ("0.25", "0.25"),
            ("-3.100", "-3.1"),
        ] {
            assert_eq!(decimal("x", raw).unwrap(), canonical, "{raw}");
        }
        for bad in [
            "",
            "1.",
            ".5",
            "1e5",
            "12,5",
            "+1",
            "1234567890123456789",
            "0.12345678901",
        ] {
            assert!(decimal("x", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_need_a_scheme_and_a_host() {
        assert!(url("x", "https://example.com/a?b=c").is_ok());
        for bad in ["example.com", "ftp://x", "https://", "https://a b"] {
            assert!(url("x", bad).is_err(), "{bad}");
        }
    }
}
