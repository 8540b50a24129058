//! One connection builder for every kind of record in a customer's file: the Relay lists at
//! the root, and the nested lists of a customer, whose first rows are loaded for a whole
//! page of customers in one statement. Cursors come from the domain only.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ObjectType, OutputType, Result};
use sea_orm::FromQueryResult;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::reads::reading;
use super::{api, custom_fields::CustomFieldOrder};
use crate::domain::custom_fields::query::{Carrying, FieldOrder};
use crate::domain::pagination::{Page, PageArgs};
use crate::domain::records::{self, CustomerRecord, FileRequest, FileRows, PageFiles};

/// Nested lists show at most this many rows.
const NESTED_MAX: usize = 100;
/// How many rows a nested list shows when its query does not say.
const DEFAULT_FIRST: u64 = 10;

/// What a list's `totalCount` counts: known already for a customer's first rows, else
/// counted when asked.
pub struct ListTotal<K: CustomerRecord>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    filter: K::Filter,
    known: Option<u64>,
}

impl<K: CustomerRecord> ListTotal<K>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    pub(crate) async fn total(&self, ctx: &Context<'_>) -> Result<u64> {
        if let Some(n) = self.known {
            return Ok(n);
        }
        Ok(reading!(ctx, |tx| records::count::<K>(&tx, &self.filter).await?))
    }
}

/// The `…ListInfo` object of a kind: its list's `totalCount`, described in the kind's words.
macro_rules! list_info {
    ($name:ident, $kind:ty, $description:literal) => {
        pub struct $name(pub(crate) $crate::graphql::records::ListTotal<$kind>);

        #[async_graphql::Object]
        impl $name {
            #[doc = $description]
            async fn total_count(&self, ctx: &async_graphql::Context<'_>) -> async_graphql::Result<u64> {
                self.0.total(ctx).await
            }
        }

        impl From<$crate::graphql::records::ListTotal<$kind>> for $name {
            fn from(total: $crate::graphql::records::ListTotal<$kind>) -> Self {
                Self(total)
            }
        }
    };
}
pub(crate) use list_info;

/// A Relay connection over one page of a kind's list; `nodes` makes the page's nodes (as a
/// batch, so their nested fields load once for all).
fn page_connection<K, N, I>(
    page: Page<K::Model>,
    filter: K::Filter,
    known: Option<u64>,
    nodes: impl FnOnce(Vec<K::Model>) -> Vec<N>,
) -> Connection<String, N, I>
where
    K: CustomerRecord,
    K::Model: FromQueryResult + Clone + Send + Sync,
    N: OutputType,
    I: ObjectType + From<ListTotal<K>>,
{
    let mut connection = Connection::with_additional_fields(
        page.has_previous_page,
        page.has_next_page,
        I::from(ListTotal { filter, known }),
    );
    let (cursors, models): (Vec<String>, Vec<K::Model>) = page.items.into_iter().unzip();
    connection
        .edges
        .extend(cursors.into_iter().zip(nodes(models)).map(|(c, n)| Edge::new(c, n)));
    connection
}

/// The root list of a kind: a page of the records the caller may see that match `filter`.
pub(crate) async fn list<K, N, I>(
    ctx: &Context<'_>,
    args: PageArgs,
    filter: K::Filter,
    order: K::Order,
    nodes: impl FnOnce(Vec<K::Model>) -> Vec<N>,
) -> Result<Connection<String, N, I>>
where
    K: CustomerRecord,
    K::Model: FromQueryResult + Clone + Send + Sync,
    N: OutputType,
    I: ObjectType + From<ListTotal<K>>,
{
    let page = reading!(ctx, |tx| records::list::<K>(
        &tx,
        &filter,
        order,
        &args,
        api(ctx).max_page_size
    )
    .await?);
    Ok(page_connection(page, filter, None, nodes))
}

/// Like `list`, for the kinds that can also be sorted by a custom field.
pub(crate) async fn list_by<K, N, I>(
    ctx: &Context<'_>,
    args: PageArgs,
    filter: K::Filter,
    order: K::Order,
    by_custom_field: Option<CustomFieldOrder>,
    nodes: impl FnOnce(Vec<K::Model>) -> Vec<N>,
) -> Result<Connection<String, N, I>>
where
    K: CustomerRecord + Carrying,
    K::Model: FromQueryResult + Clone + Send + Sync,
    N: OutputType,
    I: ObjectType + From<ListTotal<K>>,
{
    let by = by_custom_field.map(FieldOrder::from);
    let page = reading!(ctx, |tx| records::list_by::<K>(
        &tx,
        &filter,
        order,
        by.as_ref(),
        &args,
        api(ctx).max_page_size
    )
    .await?);
    Ok(page_connection(page, filter, None, nodes))
}

/// One record by id, or NOT_FOUND.
pub(crate) async fn get<K>(ctx: &Context<'_>, id: Uuid) -> Result<K::Model>
where
    K: CustomerRecord,
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    Ok(reading!(ctx, |tx| records::get::<K>(&tx, id).await?))
}

/// The first rows of the nested record lists of customers loaded together (a page, the
/// customers of a list of records), loaded for all of them by the first customer that asks:
/// every kind the query named up front in one statement, any other kind on its first use.
#[derive(Default)]
pub(crate) struct CustomerFiles {
    customers: Vec<Uuid>,
    request: FileRequest,
    loaded: OnceCell<PageFiles>,
    /// Kinds the query did not name up front, by kind.
    later: std::sync::Mutex<HashMap<TypeId, Arc<OnceCell<PageFiles>>>>,
}

impl CustomerFiles {
    /// The files of `customers`, of the kinds and lengths `request` names.
    pub(crate) fn over(customers: Vec<Uuid>, request: FileRequest) -> Arc<Self> {
        Arc::new(Self {
            customers,
            request,
            ..Default::default()
        })
    }

    /// `customer`'s first `per_customer` rows of kind `K`, unless they were loaded for fewer
    /// rows (then the list reads a page of its own).
    async fn of<K: CustomerRecord>(
        &self,
        ctx: &Context<'_>,
        customer: Uuid,
        per_customer: usize,
    ) -> Result<Option<FileRows<K::Model>>>
    where
        K::Model: FromQueryResult + Clone + Send + Sync,
    {
        let per = per_customer as u64;
        let named = self.loaded.get_or_try_init(|| self.load(ctx, &self.request)).await?;
        if let Some(files) = named.of::<K>(per) {
            return Ok(Some(first_rows(files.get(&customer), per_customer)));
        }
        let cell = {
            let mut later = self.later.lock().unwrap_or_else(|e| e.into_inner());
            later.entry(TypeId::of::<K>()).or_default().clone()
        };
        let later = cell
            .get_or_try_init(|| async move {
                let mut request = FileRequest::default();
                request.want::<K>(per);
                self.load(ctx, &request).await
            })
            .await?;
        Ok(later
            .of::<K>(per)
            .map(|files| first_rows(files.get(&customer), per_customer)))
    }

    async fn load(&self, ctx: &Context<'_>, request: &FileRequest) -> Result<PageFiles> {
        Ok(reading!(ctx, |tx| records::first_per_customer(
            &tx,
            &self.customers,
            request
        )
        .await?))
    }
}

/// The first `n` of a customer's loaded rows, with its total.
fn first_rows<M: Clone>(file: Option<&FileRows<M>>, n: usize) -> FileRows<M> {
    file.map_or_else(FileRows::default, |f| FileRows {
        rows: f.rows.iter().take(n).cloned().collect(),
        total: f.total,
    })
}

/// Adds to `request` the nested list of kind `K` that `fields` (a customer's field, as the
/// query selects it, perhaps several times) shows without a cursor.
pub(crate) fn want_file<K: CustomerRecord>(request: &mut FileRequest, fields: async_graphql::Lookahead<'_>)
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    for field in fields.selection_fields() {
        let arguments = field.arguments().unwrap_or_default();
        let argument = |name: &str| arguments.iter().find(|(n, _)| n.as_str() == name).map(|(_, v)| v);
        if argument("after").is_some_and(|v| *v != async_graphql::Value::Null) {
            continue;
        }
        let first = match argument("first") {
            Some(async_graphql::Value::Number(n)) => n.as_u64().unwrap_or(0),
            _ => DEFAULT_FIRST,
        };
        if (1..=NESTED_MAX as u64).contains(&first) {
            // One more than shown tells whether there is a next page.
            request.want::<K>(first + 1);
        }
    }
}

/// A customer's nested list of kind `K`: the first `first` rows from the page's batch, or a
/// page of its own when a cursor asks for rows further on.
pub(crate) async fn file<K, N, I, F>(
    ctx: &Context<'_>,
    lists: &CustomerFiles,
    customer: Uuid,
    first: i32,
    after: Option<String>,
    nodes: F,
) -> Result<Connection<String, N, I>>
where
    K: CustomerRecord,
    F: FnOnce(Vec<K::Model>) -> Vec<N>,
    K::Model: FromQueryResult + Clone + Send + Sync,
    N: OutputType,
    I: ObjectType + From<ListTotal<K>>,
{
    let first = match usize::try_from(first) {
        Ok(n) if (1..=NESTED_MAX).contains(&n) => n,
        _ => {
            return Err(
                crate::domain::DomainError::validation("first", format!("must be between 1 and {NESTED_MAX}")).into(),
            );
        }
    };
    let filter = K::file_filter(customer);
    if after.is_none()
        && let Some(file) = lists.of::<K>(ctx, customer, first + 1).await?
    {
        let has_next = file.rows.len() > first;
        let order = K::Order::default();
        let rows: Vec<K::Model> = file.rows.into_iter().take(first).collect();
        let page = Page {
            items: rows
                .into_iter()
                .map(|row| (records::cursor::<K>(&row, order).encode(), row))
                .collect(),
            has_previous_page: false,
            has_next_page: has_next,
        };
        return Ok(page_connection(page, filter, Some(file.total), nodes));
    }
    let args = PageArgs {
        first: Some(first as i32),
        after,
        last: None,
        before: None,
    };
    list::<K, N, I>(ctx, args, filter, K::Order::default(), nodes).await
}
