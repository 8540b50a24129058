//! Keyset (cursor) pagination for Relay connections: stable under inserts, no OFFSET scans.
//! A cursor holds the sort value and id of a row; pages are "rows after/before that pair".

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Condition, Expr, Value};
use sea_orm::{ColumnTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{DomainError, DomainResult};

/// Relay arguments as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(first: Option<i32>, after: Option<String>, last: Option<i32>, before: Option<String>) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", content = "v")]
pub enum SortValue {
    Text(String),
    Time(DateTime<Utc>),
    Date(NaiveDate),
    /// A custom field's value (text, or true/false); `None` for records without one.
    Field(Option<serde_json::Value>),
}

/// The type of value an ordering sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    Text,
    Time,
    Date,
    Field,
}

/// An ordering by an SQL expression that may be NULL (records without a value come last in
/// either direction). `param` is the SQL of a cursor's value, with one placeholder.
#[derive(Debug, Clone)]
pub struct ExprSort {
    /// The ordering's name, which its cursors carry.
    pub name: String,
    pub expr: String,
    pub param: String,
}

/// The longest cursor we hand out: a sort value of a few hundred characters, its id and
/// ordering, in base64.
const CURSOR_MAX: usize = 4096;

impl SortValue {
    /// The text a cursor compares with, if any.
    fn text(&self) -> Option<&str> {
        match self {
            Self::Text(s) | Self::Field(Some(serde_json::Value::String(s))) => Some(s),
            _ => None,
        }
    }

    fn kind(&self) -> SortKind {
        match self {
            Self::Text(_) => SortKind::Text,
            Self::Time(_) => SortKind::Time,
            Self::Date(_) => SortKind::Date,
            Self::Field(_) => SortKind::Field,
        }
    }
}

impl From<SortValue> for Value {
    fn from(v: SortValue) -> Self {
        match v {
            SortValue::Text(s) => s.into(),
            SortValue::Time(t) => t.into(),
            SortValue::Date(d) => d.into(),
            SortValue::Field(Some(serde_json::Value::Bool(b))) => b.into(),
            SortValue::Field(Some(serde_json::Value::String(s))) => s.into(),
            SortValue::Field(other) => other.map(|v| v.to_string()).into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Which ordering the cursor belongs to; a cursor of another ordering is refused.
    pub sort: String,
    pub value: SortValue,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor serializes"))
    }

    /// `kind` is the type of the ordering's values; a cursor whose value has another type
    /// was not made by us and is refused before it reaches the database.
    pub fn decode(field: &str, raw: &str, sort: &str, kind: SortKind) -> DomainResult<Self> {
        let not_ours = || DomainError::validation(field, "is not a cursor of this list");
        if raw.len() > CURSOR_MAX {
            return Err(not_ours());
        }
        let cursor: Cursor = URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(not_ours)?;
        if cursor.sort != sort || cursor.value.kind() != kind {
            return Err(DomainError::validation(field, "belongs to a different ordering"));
        }
        // Text we never wrote: the database would refuse a NUL with an internal error.
        if cursor.value.text().is_some_and(|t| t.chars().any(char::is_control)) {
            return Err(not_ours());
        }
        Ok(cursor)
    }
}

/// A validated page request for one ordering.
#[derive(Debug, Clone)]
pub struct PageRequest {
    pub limit: u64,
    backward: bool,
    after: Option<Cursor>,
    before: Option<Cursor>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 20;

impl PageRequest {
    /// `time_valued`: the ordering sorts by timestamps, else by text.
    pub fn new(args: &PageArgs, sort: &str, time_valued: bool, max_page_size: u64) -> DomainResult<Self> {
        let kind = if time_valued { SortKind::Time } else { SortKind::Text };
        Self::of_kind(args, sort, kind, max_page_size)
    }

    pub fn of_kind(args: &PageArgs, sort: &str, kind: SortKind, max_page_size: u64) -> DomainResult<Self> {
        let size = |field: &str, n: i32| -> DomainResult<u64> {
            if n < 0 || n as u64 > max_page_size {
                return Err(DomainError::validation(
                    field,
                    format!("must be between 0 and {max_page_size}"),
                ));
            }
            Ok(n as u64)
        };
        let (limit, backward) = match (args.first, args.last) {
            (Some(_), Some(_)) => return Err(DomainError::validation("last", "give either first or last, not both")),
            (Some(n), None) => (size("first", n)?, false),
            (None, Some(n)) => (size("last", n)?, true),
            (None, None) => (
                DEFAULT_PAGE_SIZE.min(max_page_size),
                args.before.is_some() && args.after.is_none(),
            ),
        };
        Ok(Self {
            limit,
            backward,
            after: args
                .after
                .as_deref()
                .map(|c| Cursor::decode("after", c, sort, kind))
                .transpose()?,
            before: args
                .before
                .as_deref()
                .map(|c| Cursor::decode("before", c, sort, kind))
                .transpose()?,
        })
    }

    /// Refuses a cursor whose value could not have come from the ordering (`fits` says which
    /// values can), naming `after` or `before`: a forged value would otherwise reach the
    /// database as, say, text to cast to a number.
    pub fn check_values(&self, fits: impl Fn(&SortValue) -> bool) -> DomainResult<()> {
        for (field, cursor) in [("after", &self.after), ("before", &self.before)] {
            if cursor.as_ref().is_some_and(|c| !fits(&c.value)) {
                return Err(DomainError::validation(field, "is not a cursor of this list"));
            }
        }
        Ok(())
    }

    /// Adds the cursor bounds, the ordering (reversed when paging backwards) and the limit.
    pub fn apply<S, C>(&self, mut select: S, sort: C, id: C, descending: bool) -> S
    where
        S: QueryFilter + QueryOrder + QuerySelect,
        C: ColumnTrait,
    {
        if let Some(after) = &self.after {
            select = select.filter(beyond(sort, id, after, descending));
        }
        if let Some(before) = &self.before {
            select = select.filter(beyond(sort, id, before, !descending));
        }
        let forward = if descending { Order::Desc } else { Order::Asc };
        let order = if self.backward { reverse(forward) } else { forward };
        select
            .order_by(sort, order.clone())
            .order_by(id, order)
            .limit(self.limit + 1)
    }

    /// Like `apply`, ordering by `sort.expr`, nulls last: `(expr IS NULL), expr, id`.
    pub fn apply_nullable<S, C>(&self, mut select: S, sort: &ExprSort, id: C, descending: bool) -> S
    where
        S: QueryFilter + QueryOrder + QuerySelect,
        C: ColumnTrait,
    {
        if let Some(after) = &self.after {
            select = select.filter(past_nullable(sort, id, after, descending, true));
        }
        if let Some(before) = &self.before {
            select = select.filter(past_nullable(sort, id, before, descending, false));
        }
        let forward = if descending { Order::Desc } else { Order::Asc };
        let (nulls, order) = if self.backward {
            (Order::Desc, reverse(forward))
        } else {
            (Order::Asc, forward)
        };
        select
            .order_by(Expr::cust(format!("({} IS NULL)", sort.expr)), nulls)
            .order_by(Expr::cust(sort.expr.clone()), order.clone())
            .order_by(id, order)
            .limit(self.limit + 1)
    }

    /// Turns the fetched rows (one more than the limit, if there are more) into a page.
    pub fn finish<T>(&self, mut rows: Vec<T>, cursor_of: impl Fn(&T) -> Cursor) -> Page<T> {
        let has_more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        if self.backward {
            rows.reverse();
        }
        let (has_next_page, has_previous_page) = if self.backward {
            (self.before.is_some(), has_more)
        } else {
            (has_more, self.after.is_some())
        };
        Page {
            items: rows.into_iter().map(|row| (cursor_of(&row).encode(), row)).collect(),
            has_next_page,
            has_previous_page,
        }
    }
}

fn reverse(order: Order) -> Order {
    match order {
        Order::Asc => Order::Desc,
        _ => Order::Asc,
    }
}

/// Rows strictly past `cursor` in the given direction of `(sort, id)`.
/// Rows past `cursor` in the order `(sort, id)`, as one row comparison: an index ending in
/// `(sort, id)` serves it as a range, so a page deep in a list costs what the first one does
/// (the same condition spelled `sort < v OR (sort = v AND id < i)` is read row by row).
fn beyond<C: ColumnTrait>(sort: C, id: C, cursor: &Cursor, descending: bool) -> Condition {
    let value: Value = cursor.value.clone().into();
    let row = Expr::tuple([sort.into_expr(), id.into_expr()]);
    let at = Expr::tuple([Expr::val(value), Expr::val(cursor.id)]);
    use sea_orm::sea_query::ExprTrait;
    Condition::all().add(if descending { row.lt(at) } else { row.gt(at) })
}

/// Rows after (`later`) or before `cursor` in the order `(expr IS NULL), expr, id`, where
/// expr and id run `descending` or not.
fn past_nullable<C: ColumnTrait>(sort: &ExprSort, id: C, cursor: &Cursor, descending: bool, later: bool) -> Condition {
    let (e, p) = (&sort.expr, &sort.param);
    let is_null = || Expr::cust(format!("{e} IS NULL"));
    let not_null = || Expr::cust(format!("{e} IS NOT NULL"));
    let beyond = if descending == later { "<" } else { ">" };
    let past_id = if descending == later {
        id.lt(cursor.id)
    } else {
        id.gt(cursor.id)
    };
    let value: Option<Value> = match &cursor.value {
        SortValue::Field(Some(_)) => Some(cursor.value.clone().into()),
        _ => None,
    };
    match (value, later) {
        (None, true) => Condition::all().add(is_null()).add(past_id),
        (None, false) => Condition::any()
            .add(not_null())
            .add(Condition::all().add(is_null()).add(past_id)),
        (Some(v), later) => {
            let ahead = Condition::all().add(not_null()).add(
                Condition::any()
                    .add(Expr::cust_with_values(format!("{e} {beyond} {p}"), [v.clone()]))
                    .add(
                        Condition::all()
                            .add(Expr::cust_with_values(format!("{e} = {p}"), [v]))
                            .add(past_id),
                    ),
            );
            if later {
                Condition::any().add(ahead).add(is_null())
            } else {
                ahead
            }
        }
    }
}

#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_after_a_cursor_is_one_row_comparison_an_index_serves() {
        use sea_orm::{DbBackend, EntityTrait, QueryTrait};
        let cursor = Cursor {
            sort: "NAME_DESC".into(),
            value: SortValue::Text("Customer 42".into()),
            id: Uuid::nil(),
        };
        let sql = |descending| {
            entity::customer::Entity::find()
                .filter(beyond(
                    entity::customer::Column::Name,
                    entity::customer::Column::Id,
                    &cursor,
                    descending,
                ))
                .build(DbBackend::Postgres)
                .to_string()
        };
        let expected = |op: &str| {
            format!(
                r#"WHERE ("customers"."name", "customers"."id") {op} ('Customer 42', '00000000-0000-0000-0000-000000000000')"#
            )
        };
        assert!(sql(true).ends_with(&expected("<")), "{}", sql(true));
        assert!(sql(false).ends_with(&expected(">")), "{}", sql(false));
    }

    #[test]
    fn cursors_round_trip_and_are_tied_to_their_ordering() {
        let c = Cursor {
            sort: "NAME_ASC".into(),
            value: SortValue::Text("张三".into()),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode("after", &c.encode(), "NAME_ASC", SortKind::Text).unwrap(),
            c
        );
        assert!(Cursor::decode("after", &c.encode(), "CREATED_AT_DESC", SortKind::Text).is_err());
        assert!(Cursor::decode("after", "garbage", "NAME_ASC", SortKind::Text).is_err());
        assert!(
            Cursor::decode("after", &c.encode(), "NAME_ASC", SortKind::Time).is_err(),
            "text value for a time ordering"
        );
    }

    #[test]
    fn date_cursors_are_refused_by_orderings_of_another_type() {
        let c = Cursor {
            sort: "END_DATE_ASC".into(),
            value: SortValue::Date(NaiveDate::from_ymd_opt(2026, 12, 31).unwrap()),
            id: Uuid::now_v7(),
        };
        assert_eq!(
            Cursor::decode("after", &c.encode(), "END_DATE_ASC", SortKind::Date).unwrap(),
            c
        );
        assert!(Cursor::decode("after", &c.encode(), "END_DATE_ASC", SortKind::Text).is_err());
        assert!(Cursor::decode("after", &c.encode(), "END_DATE_ASC", SortKind::Time).is_err());
        assert!(Cursor::decode("after", &c.encode(), "END_DATE_DESC", SortKind::Date).is_err());
    }

    #[test]
    fn page_sizes_are_bounded() {
        let args = |first, last| PageArgs {
            first,
            last,
            ..Default::default()
        };
        assert_eq!(PageRequest::new(&args(None, None), "x", false, 100).unwrap().limit, 20);
        assert_eq!(
            PageRequest::new(&args(Some(100), None), "x", false, 100).unwrap().limit,
            100
        );
        assert!(PageRequest::new(&args(Some(101), None), "x", false, 100).is_err());
        assert!(PageRequest::new(&args(Some(-1), None), "x", false, 100).is_err());
        assert!(PageRequest::new(&args(Some(1), Some(1)), "x", false, 100).is_err());
    }
}
