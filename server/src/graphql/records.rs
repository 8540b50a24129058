//! One connection builder for every kind of record in a customer's file: the Relay lists at
//! the root, and the nested lists of a customer, whose first rows are loaded for a whole
//! page of customers in one statement. Cursors come from the domain only.

use std::collections::HashMap;
use std::marker::PhantomData;

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ObjectType, OutputType, Result};
use sea_orm::FromQueryResult;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::reads::read_tx;
use super::{api, custom_fields::CustomFieldOrder};
use crate::domain::custom_fields::query::{Carrying, FieldOrder};
use crate::domain::pagination::{Page, PageArgs};
use crate::domain::records::{self, CustomerRecord, FileRows};

/// Nested lists show at most this many rows.
const NESTED_MAX: usize = 100;

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
        let tx = read_tx(ctx).await?;
        let n = records::count::<K>(&tx, &self.filter).await?;
        tx.done().await?;
        Ok(n)
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
    let tx = read_tx(ctx).await?;
    let page = records::list::<K>(&tx, &filter, order, &args, api(ctx).max_page_size).await?;
    tx.done().await?;
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
    let tx = read_tx(ctx).await?;
    let page = records::list_by::<K>(&tx, &filter, order, by.as_ref(), &args, api(ctx).max_page_size).await?;
    tx.done().await?;
    Ok(page_connection(page, filter, None, nodes))
}

/// One record by id, or NOT_FOUND.
pub(crate) async fn get<K>(ctx: &Context<'_>, id: Uuid) -> Result<K::Model>
where
    K: CustomerRecord,
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let tx = read_tx(ctx).await?;
    let found = records::get::<K>(&tx, id).await?;
    tx.done().await?;
    Ok(found)
}

/// How many rows per customer a batch loaded, and each customer's rows.
type Loaded<M> = (usize, HashMap<Uuid, FileRows<M>>);

/// The first rows of one kind's list in each customer's file of a page, loaded for all the
/// page's customers by the first customer that asks.
pub(crate) struct FileLists<K: CustomerRecord>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    customers: Vec<Uuid>,
    /// How many rows per customer were loaded, and the rows.
    loaded: OnceCell<Loaded<K::Model>>,
    kind: PhantomData<K>,
}

impl<K: CustomerRecord> FileLists<K>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    pub(crate) fn over(customers: Vec<Uuid>) -> Self {
        Self {
            customers,
            loaded: OnceCell::new(),
            kind: PhantomData,
        }
    }

    /// `customer`'s first `per_customer` rows, unless the batch was loaded with fewer.
    async fn of(&self, ctx: &Context<'_>, customer: Uuid, per_customer: usize) -> Result<Option<FileRows<K::Model>>> {
        let (loaded_per, files) = self
            .loaded
            .get_or_try_init(|| async {
                let tx = read_tx(ctx).await?;
                let files = records::first_per_customer::<K>(&tx, &self.customers, per_customer as u64).await?;
                tx.done().await?;
                Ok::<_, async_graphql::Error>((per_customer, files))
            })
            .await?;
        if *loaded_per < per_customer {
            return Ok(None);
        }
        Ok(Some(files.get(&customer).map_or_else(FileRows::default, |f| {
            FileRows {
                rows: f.rows.iter().take(per_customer).cloned().collect(),
                total: f.total,
            }
        })))
    }
}

/// A customer's nested list of kind `K`: the first `first` rows from the page's batch, or a
/// page of its own when a cursor asks for rows further on.
pub(crate) async fn file<K, N, I>(
    ctx: &Context<'_>,
    lists: &FileLists<K>,
    customer: Uuid,
    first: i32,
    after: Option<String>,
    nodes: impl FnOnce(Vec<K::Model>) -> Vec<N>,
) -> Result<Connection<String, N, I>>
where
    K: CustomerRecord,
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
        && let Some(file) = lists.of(ctx, customer, first + 1).await?
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

/// The nested record lists of a page of customers, one batch per kind.
pub(crate) struct CustomerFiles {
    pub transactions: FileLists<entity::transaction::Entity>,
    pub contracts: FileLists<entity::contract::Entity>,
    pub interactions: FileLists<entity::interaction::Entity>,
    pub follow_ups: FileLists<entity::follow_up::Entity>,
    pub feedback: FileLists<entity::feedback::Entity>,
}

impl CustomerFiles {
    pub(crate) fn over(customers: Vec<Uuid>) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            transactions: FileLists::over(customers.clone()),
            contracts: FileLists::over(customers.clone()),
            interactions: FileLists::over(customers.clone()),
            follow_ups: FileLists::over(customers.clone()),
            feedback: FileLists::over(customers),
        })
    }
}
