//! Filters and sorts on custom field values, written as SQL over the JSON column: JSONB
//! operators on PostgreSQL (equality as containment, which the GIN index serves), JSON
//! functions on SQLite. Keys come from definitions (validated snake_case), never from input.

use sea_orm::sea_query::{Condition, Expr, SimpleExpr, Value};
use sea_orm::{DbBackend, FromQueryResult, QueryFilter, Select, StatementBuilder};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::values::{index_of, normalise};
use super::{Carrier, Definition, FieldEntity, FieldType, definitions};
use crate::domain::pagination::{Cursor, ExprSort, Page, PageArgs, PageRequest, SortKind, SortValue};
use crate::domain::{DomainError, DomainResult, Scoped, ScopedTx, TenantEntity, TenantTx, validate};
use crate::tenancy::Role;

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOp {
    Eq,
    Neq,
    In,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    IsEmpty,
}

#[derive(Debug, Clone)]
pub struct FieldFilter {
    pub key: String,
    pub op: FilterOp,
    pub value: Option<Json>,
}

#[derive(Debug, Clone)]
pub struct FieldOrder {
    pub key: String,
    pub descending: bool,
}

const IN_MAX: usize = 100;
/// Keys are snake_case of at most 64 characters (see the definitions).
const KEY_MAX: usize = 64;

fn column(table: &str, column: &str) -> String {
    format!("\"{table}\".\"{column}\"")
}

/// The value of `key` (or `key.sub`) as SQL text: `->>` on PostgreSQL, `json_extract` on SQLite.
fn text_at(backend: DbBackend, table: &str, key: &str, sub: Option<&str>) -> String {
    let col = column(table, "custom_fields");
    match (backend, sub) {
        (DbBackend::Postgres, None) => format!("({col} ->> '{key}')"),
        (DbBackend::Postgres, Some(sub)) => format!("({col} -> '{key}' ->> '{sub}')"),
        (_, None) => format!("json_extract({col}, '$.{key}')"),
        (_, Some(sub)) => format!("json_extract({col}, '$.{key}.{sub}')"),
    }
}

fn placeholder(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Postgres { "$1" } else { "?" }
}

fn numeric(backend: DbBackend, sql: &str) -> String {
    if backend == DbBackend::Postgres {
        format!("CAST({sql} AS numeric)")
    } else {
        format!("CAST({sql} AS REAL)")
    }
}

/// Byte order on PostgreSQL too, so both databases sort and compare text alike.
fn bytewise(backend: DbBackend, sql: &str) -> String {
    if backend == DbBackend::Postgres {
        format!("({sql} COLLATE \"C\")")
    } else {
        sql.to_owned()
    }
}

fn one(expr: SimpleExpr) -> Condition {
    Condition::all().add(expr)
}

fn bound(sql: String, value: impl Into<Value>) -> SimpleExpr {
    Expr::cust_with_values(sql, [value.into()])
}

/// Rows whose JSON `column` holds exactly `value` under `key`.
fn json_equals(backend: DbBackend, table: &str, json_column: &str, key: &str, value: &Json) -> SimpleExpr {
    let col = column(table, json_column);
    if backend == DbBackend::Postgres {
        return bound(format!("{col} @> $1"), json!({ key: value }));
    }
    let at = format!("json_extract({col}, '$.{key}')");
    match value {
        Json::String(s) => bound(format!("{at} = ?"), s.clone()),
        Json::Bool(b) => bound(format!("{at} = ?"), *b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => bound(format!("{at} = ?"), i),
            None => bound(format!("{at} = ?"), n.as_f64().unwrap_or_default()),
        },
        other => bound(format!("{at} = json(?)"), other.to_string()),
    }
}

/// Rows holding `probe` for the field: the stored value, or the blind index of a sensitive one.
pub(crate) fn stored_equals(backend: DbBackend, table: &str, def: &Definition, probe: &Json) -> SimpleExpr {
    if backend == DbBackend::Postgres && def.field_type == FieldType::MultiSelect {
        // Containment would also match supersets: a list is equal only as a whole.
        let col = column(table, "custom_fields");
        return bound(format!("({col} -> '{}') = $1", def.key), probe.clone());
    }
    let json_column = if def.sensitive {
        "custom_field_index"
    } else {
        "custom_fields"
    };
    json_equals(backend, table, json_column, &def.key, probe)
}

/// SQL over a carrying table, which the query builder cannot say with an entity (the table is
/// a definition's): `statement` is given the tenant's predicate to put in its WHERE clause.
/// The predicate binds nothing, so the values are those of the statement built with any.
fn raw<S: StatementBuilder>(tx: &TenantTx, statement: impl Fn(&str) -> S) -> (impl FnOnce(&str) -> String, Vec<Value>) {
    let backend = tx.backend();
    let values = backend
        .build(&statement("TRUE"))
        .values
        .map(|v| v.0)
        .unwrap_or_default();
    (move |tenant: &str| backend.build(&statement(tenant)).sql, values)
}

/// Rows of a raw statement made by `statement` (see `raw`), confined to the tenant.
pub(crate) async fn query_raw<M: FromQueryResult, S: StatementBuilder>(
    tx: &TenantTx,
    statement: impl Fn(&str) -> S,
) -> DomainResult<Vec<M>> {
    let (sql, values) = raw(tx, statement);
    tx.query_raw(sql, values).await
}

/// Runs a raw statement made by `statement` (see `raw`), confined to the tenant.
pub(crate) async fn execute_raw<S: StatementBuilder>(tx: &TenantTx, statement: impl Fn(&str) -> S) -> DomainResult<()> {
    let (sql, values) = raw(tx, statement);
    tx.execute_raw(sql, values).await
}

/// Rows with any value (or blind index) for `key`.
pub(crate) fn has_value(backend: DbBackend, table: &str, key: &str) -> SimpleExpr {
    let (values, index) = (column(table, "custom_fields"), column(table, "custom_field_index"));
    Expr::cust(if backend == DbBackend::Postgres {
        format!("(({values} -> '{key}') IS NOT NULL OR ({index} -> '{key}') IS NOT NULL)")
    } else {
        format!("(json_extract({values}, '$.{key}') IS NOT NULL OR json_extract({index}, '$.{key}') IS NOT NULL)")
    })
}

/// The JSON column without `key`.
pub(crate) fn without_key(backend: DbBackend, json_column: &str, key: &str) -> SimpleExpr {
    Expr::cust(if backend == DbBackend::Postgres {
        format!("(\"{json_column}\" - '{key}')")
    } else {
        format!("json_remove(\"{json_column}\", '$.{key}')")
    })
}

fn is_empty(backend: DbBackend, table: &str, key: &str, empty: bool) -> SimpleExpr {
    let col = column(table, "custom_fields");
    let at = if backend == DbBackend::Postgres {
        format!("({col} -> '{key}')")
    } else {
        format!("json_extract({col}, '$.{key}')")
    };
    Expr::cust(format!("{at} IS {}NULL", if empty { "" } else { "NOT " }))
}

/// The active definition of `key`, or VALIDATION naming it.
fn active<'a>(defs: &'a [Definition], entity: FieldEntity, key: &str, field: &str) -> DomainResult<&'a Definition> {
    let def = defs
        .iter()
        .find(|d| d.entity == entity && d.key == key)
        .ok_or_else(|| DomainError::validation(field, format!("`{key}` is not a custom field of {}", entity.noun())))?;
    if def.archived_at.is_some() {
        return Err(DomainError::validation(field, format!("`{key}` is archived")));
    }
    Ok(def)
}

/// The SQL conditions of `filters` on `entity`'s table, all of which must hold.
pub(crate) async fn conditions(
    tx: &ScopedTx,
    entity: FieldEntity,
    filters: &[FieldFilter],
) -> DomainResult<Vec<Condition>> {
    if filters.is_empty() {
        return Ok(Vec::new());
    }
    let scope = tx.scope();
    let defs = definitions(tx).await?;
    let region = tx.context().await?.phone_region.clone();
    let backend = tx.backend();
    let mut out = Vec::with_capacity(filters.len());
    for filter in filters {
        validate::token("filter.customFields.key", &filter.key, KEY_MAX)?;
        let field = format!("filter.customFields.{}", filter.key);
        let def = active(&defs, entity, &filter.key, &field)?;
        let keys = if def.sensitive && def.searchable && filter.op != FilterOp::IsEmpty {
            if scope.role() == Role::Viewer {
                // Enough guesses against a masked value would otherwise reveal it.
                return Err(DomainError::Forbidden("viewers cannot search by sensitive fields"));
            }
            Some(tx.store().vault().for_tenant(tx, scope.tenant_id()).await?)
        } else {
            None
        };
        let probe = |value: &Json| -> DomainResult<Json> {
            let normal = normalise(def, value, &region)
                .map_err(|e| rename(e, &field))?
                .ok_or_else(|| DomainError::validation(&field, "needs a value (use IS_EMPTY to find empty ones)"))?;
            Ok(match &keys {
                Some(keys) => Json::String(index_of(keys, def, &normal)),
                None => normal,
            })
        };
        let table = entity.table();
        if def.sensitive
            && !matches!(filter.op, FilterOp::IsEmpty)
            && !(def.searchable && matches!(filter.op, FilterOp::Eq | FilterOp::In))
        {
            return Err(DomainError::validation(
                &field,
                "a sensitive field can only be matched exactly (EQ, IN), and only when it is searchable",
            ));
        }
        let value = || {
            filter
                .value
                .as_ref()
                .filter(|v| !v.is_null())
                .ok_or_else(|| DomainError::validation(&field, "this operator needs a value"))
        };
        let condition: Condition = match filter.op {
            FilterOp::IsEmpty => {
                let empty = match &filter.value {
                    None | Some(Json::Null) => true,
                    Some(Json::Bool(b)) => *b,
                    Some(_) => return Err(DomainError::validation(&field, "IS_EMPTY takes true or false")),
                };
                one(is_empty(backend, table, &def.key, empty))
            }
            FilterOp::Eq => one(stored_equals(backend, table, def, &probe(value()?)?)),
            FilterOp::Neq => {
                let equal = one(stored_equals(backend, table, def, &probe(value()?)?));
                // Records without a value differ from it too.
                Condition::any()
                    .add(equal.not())
                    .add(is_empty(backend, table, &def.key, true))
            }
            FilterOp::In => {
                let Some(items) = value()?.as_array() else {
                    return Err(DomainError::validation(&field, "IN takes a list of values"));
                };
                if items.is_empty() || items.len() > IN_MAX {
                    return Err(DomainError::validation(
                        &field,
                        format!("IN takes 1 to {IN_MAX} values"),
                    ));
                }
                let mut any = Condition::any();
                for item in items {
                    any = any.add(if def.field_type == FieldType::MultiSelect {
                        has_option(backend, table, def, item, &field)?
                    } else {
                        stored_equals(backend, table, def, &probe(item)?)
                    });
                }
                any
            }
            FilterOp::Contains => match def.field_type {
                FieldType::MultiSelect => one(has_option(backend, table, def, value()?, &field)?),
                FieldType::Text | FieldType::LongText | FieldType::Email | FieldType::Url => {
                    let Some(term) = validate::search_term(&field, value()?.as_str())? else {
                        return Err(DomainError::validation(&field, "CONTAINS takes some text"));
                    };
                    let escaped = term
                        .to_lowercase()
                        .replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_");
                    let at = text_at(backend, table, &def.key, None);
                    one(bound(
                        format!("lower({at}) LIKE {} ESCAPE '\\'", placeholder(backend)),
                        format!("%{escaped}%"),
                    ))
                }
                _ => {
                    return Err(DomainError::validation(
                        &field,
                        "CONTAINS works on text, e-mail, web address and multi-select fields",
                    ));
                }
            },
            FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte => {
                let op = match filter.op {
                    FilterOp::Gt => ">",
                    FilterOp::Gte => ">=",
                    FilterOp::Lt => "<",
                    _ => "<=",
                };
                range(backend, table, def, op, &probe(value()?)?, &field)?
            }
        };
        out.push(condition);
    }
    Ok(out)
}

fn rename(err: DomainError, field: &str) -> DomainError {
    match err {
        DomainError::Validation { message, .. } => DomainError::validation(field, message),
        other => other,
    }
}

/// Multi-select rows that chose `option`.
fn has_option(
    backend: DbBackend,
    table: &str,
    def: &Definition,
    option: &Json,
    field: &str,
) -> DomainResult<SimpleExpr> {
    let normal = normalise(def, &Json::Array(vec![option.clone()]), "")
        .map_err(|e| rename(e, field))?
        .ok_or_else(|| DomainError::validation(field, "needs an option"))?;
    let col = column(table, "custom_fields");
    Ok(if backend == DbBackend::Postgres {
        bound(format!("{col} @> $1"), json!({ &def.key: normal }))
    } else {
        let option = normal[0].as_str().unwrap_or_default().to_owned();
        bound(
            format!(
                "EXISTS (SELECT 1 FROM json_each({col}, '$.{}') AS chosen WHERE chosen.value = ?)",
                def.key
            ),
            option,
        )
    })
}

/// `value op probe` for numbers, amounts (in the probe's currency), dates and times.
fn range(
    backend: DbBackend,
    table: &str,
    def: &Definition,
    op: &str,
    probe: &Json,
    field: &str,
) -> DomainResult<Condition> {
    let p = placeholder(backend);
    Ok(match def.field_type {
        FieldType::Integer | FieldType::Decimal => {
            let at = numeric(backend, &text_at(backend, table, &def.key, None));
            let number = match probe {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            one(bound(format!("{at} {op} {}", numeric(backend, p)), number))
        }
        FieldType::CurrencyAmount => {
            let amount = probe["amount"].as_str().unwrap_or_default().to_owned();
            let currency = probe["currency"].as_str().unwrap_or_default().to_owned();
            let at = numeric(backend, &text_at(backend, table, &def.key, Some("amount")));
            let of_currency = bound(
                format!("{} = {p}", text_at(backend, table, &def.key, Some("currency"))),
                currency,
            );
            let compared = bound(format!("{at} {op} {}", numeric(backend, p)), amount);
            Condition::all().add(of_currency).add(compared)
        }
        FieldType::Date | FieldType::Datetime => {
            let at = bytewise(backend, &text_at(backend, table, &def.key, None));
            one(bound(
                format!("{at} {op} {p}"),
                probe.as_str().unwrap_or_default().to_owned(),
            ))
        }
        _ => {
            return Err(DomainError::validation(
                field,
                "GT, GTE, LT and LTE work on integer, decimal, amount, date and date-time fields",
            ));
        }
    })
}

/// How to sort by a custom field: the SQL of its value and of a cursor's value.
pub(crate) async fn sort(
    tx: &ScopedTx,
    entity: FieldEntity,
    order: &FieldOrder,
) -> DomainResult<(Definition, ExprSort)> {
    validate::token("orderByCustomField.key", &order.key, KEY_MAX)?;
    let defs = definitions(tx).await?;
    let def = active(&defs, entity, &order.key, "orderByCustomField.key")?.clone();
    let backend = tx.backend();
    let table = entity.table();
    let p = placeholder(backend);
    let (expr, param) = match def.field_type {
        _ if def.sensitive => {
            return Err(DomainError::validation(
                "orderByCustomField.key",
                "sensitive fields are stored encrypted and cannot be sorted by",
            ));
        }
        FieldType::MultiSelect => {
            return Err(DomainError::validation(
                "orderByCustomField.key",
                "multi-select fields cannot be sorted by",
            ));
        }
        FieldType::Integer | FieldType::Decimal => (
            numeric(backend, &text_at(backend, table, &def.key, None)),
            numeric(backend, p),
        ),
        FieldType::CurrencyAmount => (
            numeric(backend, &text_at(backend, table, &def.key, Some("amount"))),
            numeric(backend, p),
        ),
        FieldType::Boolean if backend == DbBackend::Postgres => (
            format!("CAST({} AS boolean)", text_at(backend, table, &def.key, None)),
            p.to_owned(),
        ),
        _ => (
            bytewise(backend, &text_at(backend, table, &def.key, None)),
            p.to_owned(),
        ),
    };
    let name = format!(
        "CUSTOM_FIELD_{}_{}",
        def.key.to_uppercase(),
        if order.descending { "DESC" } else { "ASC" }
    );
    Ok((def, ExprSort { name, expr, param }))
}

/// Whether `value` is a sort value [`sort_value`] could have made for the field: a decimal
/// in a string for numbers and amounts, a boolean for yes/no fields, text for the rest.
pub fn cursor_fits(def: &Definition, value: &SortValue) -> bool {
    let SortValue::Field(value) = value else { return false };
    match (def.field_type, value) {
        (_, None) => true,
        (FieldType::Integer | FieldType::Decimal | FieldType::CurrencyAmount, Some(Json::String(s))) => {
            is_plain_decimal(s)
        }
        (FieldType::Boolean, Some(Json::Bool(_))) => true,
        (FieldType::Integer | FieldType::Decimal | FieldType::CurrencyAmount | FieldType::Boolean, _) => false,
        (_, Some(Json::String(_))) => true,
        _ => false,
    }
}

/// `-?digits(.digits)?`, short enough for any stored number: what both databases cast.
fn is_plain_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    s.len() <= 40
        && !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// A record's sort value for a cursor: what the sort expression computes for it.
pub(crate) fn sort_value(def: &Definition, stored: &Json) -> Option<Json> {
    let value = stored.get(&def.key)?;
    Some(match (def.field_type, value) {
        (FieldType::CurrencyAmount, v) => v.get("amount")?.clone(),
        (_, Json::Number(n)) => Json::String(n.to_string()),
        (_, v) => v.clone(),
    })
}

/// Tables whose rows carry custom field values.
pub(crate) trait Carrying: TenantEntity {
    const ENTITY: FieldEntity;
    fn id_column() -> Self::Column;
    fn values_column() -> Self::Column;
    fn key_version_column() -> Self::Column;
    fn id_of(row: &Self::Model) -> Uuid;
    fn values_of(row: &Self::Model) -> &Json;
    fn key_version_of(row: &Self::Model) -> Option<i32>;
}

macro_rules! carrying {
    ($($module:ident => $entity:ident),* $(,)?) => {
        $(impl Carrying for entity::$module::Entity {
            const ENTITY: FieldEntity = FieldEntity::$entity;
            fn id_column() -> Self::Column {
                entity::$module::Column::Id
            }
            fn values_column() -> Self::Column {
                entity::$module::Column::CustomFields
            }
            fn key_version_column() -> Self::Column {
                entity::$module::Column::CustomFieldsKeyVersion
            }
            fn id_of(row: &Self::Model) -> Uuid {
                row.id
            }
            fn values_of(row: &Self::Model) -> &Json {
                &row.custom_fields
            }
            fn key_version_of(row: &Self::Model) -> Option<i32> {
                row.custom_fields_key_version
            }
        })*
    };
}

carrying!(
    customer => Customer,
    contract => Contract,
    transaction => Transaction,
    interaction => Interaction,
);

/// `select` narrowed to the records that meet every custom field filter.
pub(crate) async fn narrowed<E: Carrying, S: QueryFilter>(
    tx: &ScopedTx,
    mut select: S,
    filters: &[FieldFilter],
) -> DomainResult<S> {
    for condition in conditions(tx, E::ENTITY, filters).await? {
        select = select.filter(condition);
    }
    Ok(select)
}

/// One page of `select` in the order of a custom field (records without a value last).
pub(crate) async fn sorted_page<E: Carrying>(
    tx: &ScopedTx,
    select: Scoped<Select<E>>,
    by: &FieldOrder,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<E::Model>> {
    let (def, sort) = self::sort(tx, E::ENTITY, by).await?;
    let request = PageRequest::of_kind(args, &sort.name, SortKind::Field, max_page_size)?;
    request.check_values(|value| cursor_fits(&def, value))?;
    let rows = request
        .apply_nullable(select, &sort, E::id_column(), by.descending)
        .all(tx)
        .await?;
    Ok(request.finish(rows, |row| Cursor {
        sort: sort.name.clone(),
        value: SortValue::Field(sort_value(&def, E::values_of(row))),
        id: E::id_of(row),
    }))
}
