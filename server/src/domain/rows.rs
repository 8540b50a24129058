//! How models are read from the rows of a scoped select.
//!
//! SeaORM's derived reader, asked for an `Option` column that holds NULL, first builds an
//! error naming the column (its name through `{:?}`) and then turns it into `None`. A page of
//! 50 customers with their contacts and contracts reads about 2,000 NULLs, and that
//! formatting was a tenth of the server's CPU on it. The models read most (a customer's file)
//! test their nullable columns for NULL first; the others use the derived reader.

use sea_orm::sqlx::{Row, ValueRef};
use sea_orm::{DbErr, FromQueryResult, QueryResult, TryGetable};

/// A model read from a row whose columns carry `prefix` before their names.
pub trait ReadRow: Sized {
    fn read_row(row: &QueryResult, prefix: &str) -> Result<Self, DbErr>;
}

/// A column name with the row's prefix (allocated only when there is one).
fn column<'a>(prefix: &str, name: &'a str) -> std::borrow::Cow<'a, str> {
    if prefix.is_empty() {
        name.into()
    } else {
        format!("{prefix}{name}").into()
    }
}

/// Whether the named column of the row is NULL (an unknown column reads as NULL, as it does
/// for SeaORM's `Option` columns).
fn is_null(row: &QueryResult, name: &str) -> bool {
    if let Some(row) = row.try_as_pg_row() {
        return row.try_get_raw(name).map_or(true, |value| value.is_null());
    }
    if let Some(row) = row.try_as_sqlite_row() {
        return row.try_get_raw(name).map_or(true, |value| value.is_null());
    }
    false
}

fn required<T: TryGetable>(row: &QueryResult, prefix: &str, name: &str) -> Result<T, DbErr> {
    row.try_get_by(column(prefix, name).as_ref())
}

fn nullable<T: TryGetable>(row: &QueryResult, prefix: &str, name: &str) -> Result<Option<T>, DbErr> {
    let name = column(prefix, name);
    if is_null(row, &name) {
        return Ok(None);
    }
    row.try_get_by::<Option<T>, _>(name.as_ref())
}

/// `ReadRow` through SeaORM's derived reader.
macro_rules! derived_reader {
    ($($module:ident),* $(,)?) => {$(
        impl ReadRow for entity::$module::Model {
            fn read_row(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
                <Self as FromQueryResult>::from_query_result(row, prefix)
            }
        }
    )*};
}

/// `ReadRow` field by field: `field` reads a NOT NULL column, `?field` a nullable one. The
/// struct literal lists every field, so a column added to the entity and not here does not
/// compile; a column's name is its field's name.
macro_rules! null_checking_reader {
    ($module:ident { $($fields:tt)* }) => {
        impl ReadRow for entity::$module::Model {
            fn read_row(row: &QueryResult, prefix: &str) -> Result<Self, DbErr> {
                null_checking_reader!(@fields row, prefix, [] $($fields)*)
            }
        }
    };
    (@fields $row:ident, $prefix:ident, [$($done:tt)*] ? $field:ident, $($rest:tt)*) => {
        null_checking_reader!(@fields $row, $prefix,
            [$($done)* $field: nullable($row, $prefix, stringify!($field))?,] $($rest)*)
    };
    (@fields $row:ident, $prefix:ident, [$($done:tt)*] $field:ident, $($rest:tt)*) => {
        null_checking_reader!(@fields $row, $prefix,
            [$($done)* $field: required($row, $prefix, stringify!($field))?,] $($rest)*)
    };
    (@fields $row:ident, $prefix:ident, [$($done:tt)*]) => {
        Ok(Self { $($done)* })
    };
}

derived_reader!(
    api_key,
    audit_log,
    custom_field_definition,
    customer_status_history,
    customer_tag,
    reminder,
    tag,
    tenant_key,
    user,
);

null_checking_reader!(customer {
    id, tenant_id, code, kind, name, ?company_name, source, first_contact_date, owner_id, status,
    ?gender, ?birthday, ?age_band, ?occupation, ?position, ?industry, ?company_size, ?region, ?city,
    ?budget_min_minor, ?budget_max_minor, ?budget_currency, ?preferred_channel, ?hobbies,
    ?family_notes, ?special_needs, ?notes, ?archived_at, ?merged_into_id, version, created_by,
    created_at, updated_at, custom_fields, custom_field_index, ?custom_fields_key_version,
});

null_checking_reader!(contact {
    id, tenant_id, customer_id, ?name, ?title, is_decision_maker, is_primary, ?preferred_channel,
    ?email, ?email_bidx, ?phone, ?phone_bidx, ?wechat, ?wechat_bidx, ?qq, ?qq_bidx, ?address,
    key_version, created_at, updated_at,
});

null_checking_reader!(contract {
    id, tenant_id, customer_id, number, title, value_minor, currency, start_date, end_date,
    ?signed_date, auto_renew, renewal_state, ?reminder_offsets_days, expiring_from, ?terms,
    ?terminated_at, ?termination_reason, ?predecessor_id, version, created_by, created_at,
    updated_at, ?next_reminder_on, custom_fields, custom_field_index, ?custom_fields_key_version,
});

null_checking_reader!(transaction {
    id, tenant_id, customer_id, occurred_at, product, quantity_milli, unit_price_minor, amount_minor,
    currency, payment_method, ?after_sales_notes, ?voided_at, ?void_reason, version, created_by,
    created_at, updated_at, custom_fields, custom_field_index, ?custom_fields_key_version,
});

null_checking_reader!(interaction {
    id, tenant_id, customer_id, channel, occurred_at, summary, ?outcome, created_by, created_at,
    custom_fields, custom_field_index, ?custom_fields_key_version,
});

null_checking_reader!(follow_up {
    id, tenant_id, customer_id, ?interaction_id, assignee_id, due_at, ?note, ?completed_at,
    ?completed_by, ?outcome, version, created_by, created_at, updated_at, ?remind_at,
});

null_checking_reader!(feedback {
    id, tenant_id, customer_id, kind, content, ?score, received_at, ?resolution, ?resolved_at,
    ?resolved_by, created_by, created_at,
});
