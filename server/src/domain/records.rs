//! The kinds of record that hang off a customer (sales, contracts, interactions, follow-ups,
//! feedback). Each kind says only what differs — its filter, its orders, its customer column —
//! and gets one generic get / list / count / first-per-customer. `RecordKind` registers every
//! kind for the work that spans them (merge, erasure, custom fields): those match on it
//! exhaustively, so a kind added here and forgotten there does not compile.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, FromQueryResult, Order, QueryFilter, Select, UpdateMany};
use uuid::Uuid;

use super::custom_fields::FieldEntity;
use super::custom_fields::query::{self as custom_query, Carrying, FieldOrder};
use super::kernel::{Ranked, RankedRow};
use super::pagination::{Cursor, Page, PageArgs, PageRequest, SortKind, SortValue};
use super::{DomainError, DomainResult, Scoped, ScopedTx, TenantEntity, access};

/// One way of ordering a kind's list.
pub trait RecordOrder<E: TenantEntity>: Copy + Default + Send + Sync {
    /// Its name in cursors (a cursor of one order is refused by another).
    fn key(self) -> &'static str;
    fn column(self) -> E::Column;
    fn kind(self) -> SortKind;
    fn descending(self) -> bool;
    fn value(self, row: &E::Model) -> SortValue;
}

/// The order of the kinds listed by when they happened: newest first unless asked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OccurredAtOrder {
    #[default]
    OccurredAtDesc,
    OccurredAtAsc,
}

macro_rules! occurred_at_order {
    ($($module:ident),*) => {$(
        impl RecordOrder<entity::$module::Entity> for OccurredAtOrder {
            fn key(self) -> &'static str {
                match self {
                    Self::OccurredAtDesc => "OCCURRED_AT_DESC",
                    Self::OccurredAtAsc => "OCCURRED_AT_ASC",
                }
            }
            fn column(self) -> entity::$module::Column {
                entity::$module::Column::OccurredAt
            }
            fn kind(self) -> SortKind {
                SortKind::Time
            }
            fn descending(self) -> bool {
                self == Self::OccurredAtDesc
            }
            fn value(self, row: &entity::$module::Model) -> SortValue {
                SortValue::Time(row.occurred_at)
            }
        }
    )*};
}

occurred_at_order!(transaction, interaction);

/// Where a kind keeps its custom field values.
pub struct CarriedColumns<E: sea_orm::EntityTrait> {
    pub values: E::Column,
    pub index: E::Column,
    pub key_version: E::Column,
}

/// The custom field columns of `$module`, which every carrying table names alike.
macro_rules! carried_columns {
    ($module:ident) => {
        Some($crate::domain::records::CarriedColumns {
            values: entity::$module::Column::CustomFields,
            index: entity::$module::Column::CustomFieldIndex,
            key_version: entity::$module::Column::CustomFieldsKeyVersion,
        })
    };
}
pub(crate) use carried_columns;

/// The columns and fields every record kind names alike: `id` and `customer_id`.
macro_rules! record_keys {
    ($module:ident) => {
        fn id_column() -> entity::$module::Column {
            entity::$module::Column::Id
        }
        fn customer_column() -> entity::$module::Column {
            entity::$module::Column::CustomerId
        }
        fn id_of(row: &entity::$module::Model) -> uuid::Uuid {
            row.id
        }
        fn customer_of(row: &entity::$module::Model) -> uuid::Uuid {
            row.customer_id
        }
    };
}
pub(crate) use record_keys;

/// A kind of record in customers' files.
pub trait CustomerRecord: TenantEntity
where
    Self::Model: FromQueryResult + Clone + Send + Sync,
{
    /// How errors name a row of this kind, e.g. "transaction".
    const NOUN: &'static str;
    type Filter: Default + Clone + Send + Sync;
    type Order: RecordOrder<Self>;
    /// The columns holding its custom field values, for the kinds that carry some.
    const CARRIES: Option<CarriedColumns<Self>>;

    fn id_column() -> Self::Column;
    fn customer_column() -> Self::Column;
    fn id_of(row: &Self::Model) -> Uuid;
    fn customer_of(row: &Self::Model) -> Uuid;

    /// The rows the caller may see: those of the customers they may see.
    fn visible(tx: &ScopedTx) -> Scoped<Select<Self>> {
        access::records::<Self>(tx, Self::customer_column())
    }

    /// `select` narrowed by `filter`.
    fn narrow(
        tx: &ScopedTx,
        select: Scoped<Select<Self>>,
        filter: &Self::Filter,
    ) -> impl Future<Output = DomainResult<Scoped<Select<Self>>>> + Send;

    /// What a customer's file lists of this kind (e.g. only sales that count).
    fn in_file(select: Scoped<Select<Self>>) -> Scoped<Select<Self>> {
        select
    }

    /// The filter of one customer's file list, for paging past its first rows.
    fn file_filter(customer_id: Uuid) -> Self::Filter;
}

/// Where `row` stands in a list ordered by `order`.
pub fn cursor<K: CustomerRecord>(row: &K::Model, order: K::Order) -> Cursor
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    Cursor {
        sort: order.key().into(),
        value: order.value(row),
        id: K::id_of(row),
    }
}

/// One record the caller may see, or NOT_FOUND.
pub async fn get<K: CustomerRecord>(tx: &ScopedTx, id: Uuid) -> DomainResult<K::Model>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    K::visible(tx)
        .filter(K::id_column().eq(id))
        .one(tx)
        .await?
        .ok_or(DomainError::NotFound(K::NOUN))
}

/// The records matching `filter`, before paging.
pub async fn matching<K: CustomerRecord>(tx: &ScopedTx, filter: &K::Filter) -> DomainResult<Scoped<Select<K>>>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    K::narrow(tx, K::visible(tx), filter).await
}

/// A page of the records matching `filter` in `order`.
pub async fn list<K: CustomerRecord>(
    tx: &ScopedTx,
    filter: &K::Filter,
    order: K::Order,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<K::Model>>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let request = PageRequest::of_kind(args, order.key(), order.kind(), max_page_size)?;
    let select = request.apply(
        matching::<K>(tx, filter).await?,
        order.column(),
        K::id_column(),
        order.descending(),
    );
    let rows = select.all(tx).await?;
    Ok(request.finish(rows, |row| cursor::<K>(row, order)))
}

/// Like `list`, or in the order of a custom field when `by_custom_field` is given, for the
/// kinds that carry custom fields.
pub(crate) async fn list_by<K: CustomerRecord + Carrying>(
    tx: &ScopedTx,
    filter: &K::Filter,
    order: K::Order,
    by_custom_field: Option<&FieldOrder>,
    args: &PageArgs,
    max_page_size: u64,
) -> DomainResult<Page<K::Model>>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    match by_custom_field {
        Some(by) => {
            let select = matching::<K>(tx, filter).await?;
            custom_query::sorted_page(tx, select, by, args, max_page_size).await
        }
        None => list::<K>(tx, filter, order, args, max_page_size).await,
    }
}

/// How many records match `filter`.
pub async fn count<K: CustomerRecord>(tx: &ScopedTx, filter: &K::Filter) -> DomainResult<u64>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    matching::<K>(tx, filter).await?.count(tx).await
}

/// The first rows of each customer's file list of this kind, with how many it holds in all.
pub struct FileRows<M> {
    pub rows: Vec<M>,
    pub total: u64,
}

impl<M> Default for FileRows<M> {
    fn default() -> Self {
        Self {
            rows: Vec::new(),
            total: 0,
        }
    }
}

/// The file lists a page of customers shows: which kinds, and how many rows per customer.
#[derive(Default)]
pub struct FileRequest {
    kinds: Vec<WantedKind>,
}

#[derive(Clone, Copy)]
struct WantedKind {
    kind: TypeId,
    per_customer: u64,
    ranked: fn(&ScopedTx, &[Uuid], u64) -> Ranked,
    group: fn(Vec<RankedRow>) -> Box<dyn Any + Send + Sync>,
}

impl FileRequest {
    /// Asks for the first `per_customer` rows of kind `K` (the most asked for wins).
    pub fn want<K: CustomerRecord>(&mut self, per_customer: u64)
    where
        K::Model: FromQueryResult + Clone + Send + Sync,
    {
        match self.kinds.iter_mut().find(|k| k.kind == TypeId::of::<K>()) {
            Some(wanted) => wanted.per_customer = wanted.per_customer.max(per_customer),
            None => self.kinds.push(WantedKind {
                kind: TypeId::of::<K>(),
                per_customer,
                ranked: ranked_file::<K>,
                group: group_files::<K>,
            }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }
}

/// Each customer's first rows of the kinds a `FileRequest` names, in each kind's default order.
pub struct PageFiles {
    kinds: HashMap<TypeId, (u64, Box<dyn Any + Send + Sync>)>,
}

impl PageFiles {
    /// The files of kind `K`, if it was asked for with at least `per_customer` rows each.
    pub fn of<K: CustomerRecord>(&self, per_customer: u64) -> Option<&HashMap<Uuid, FileRows<K::Model>>>
    where
        K::Model: FromQueryResult + Clone + Send + Sync,
    {
        let (loaded, files) = self.kinds.get(&TypeId::of::<K>())?;
        if *loaded < per_customer {
            return None;
        }
        files.downcast_ref()
    }
}

/// The first rows of every kind `request` names for each of `customer_ids`, with how many
/// each customer has, in one statement for the whole page and every kind.
pub async fn first_per_customer(
    tx: &ScopedTx,
    customer_ids: &[Uuid],
    request: &FileRequest,
) -> DomainResult<PageFiles> {
    let kinds: Vec<WantedKind> = request.kinds.iter().copied().filter(|k| k.per_customer > 0).collect();
    if customer_ids.is_empty() || kinds.is_empty() {
        let empty = kinds
            .into_iter()
            .map(|k| (k.kind, (k.per_customer, (k.group)(Vec::new()))));
        return Ok(PageFiles { kinds: empty.collect() });
    }
    let branches = kinds
        .iter()
        .map(|k| (k.ranked)(tx, customer_ids, k.per_customer))
        .collect();
    let read = tx.first_per_parent(branches).await?;
    Ok(PageFiles {
        kinds: kinds
            .into_iter()
            .zip(read)
            .map(|(k, rows)| (k.kind, (k.per_customer, (k.group)(rows))))
            .collect(),
    })
}

fn ranked_file<K: CustomerRecord>(tx: &ScopedTx, customer_ids: &[Uuid], per_customer: u64) -> Ranked
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let order = K::Order::default();
    let direction = if order.descending() { Order::Desc } else { Order::Asc };
    K::in_file(K::visible(tx))
        .filter(K::customer_column().is_in(customer_ids.iter().copied()))
        .ranked(
            K::customer_column(),
            &[(order.column(), direction.clone()), (K::id_column(), direction)],
            per_customer,
        )
}

fn group_files<K: CustomerRecord>(rows: Vec<RankedRow>) -> Box<dyn Any + Send + Sync>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let mut files: HashMap<Uuid, FileRows<K::Model>> = HashMap::new();
    for row in rows {
        // Each branch's rows are decoded as its own kind's model.
        let Ok(model) = row.model.downcast::<K::Model>() else {
            continue;
        };
        let file = files.entry(K::customer_of(&model)).or_default();
        file.total = row.rows_of_parent;
        file.rows.push(*model);
    }
    Box::new(files)
}

/// Every kind of record in a customer's file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sea_orm::EnumIter)]
pub enum RecordKind {
    Transaction,
    Contract,
    Interaction,
    FollowUp,
    Feedback,
}

impl RecordKind {
    /// Every kind, each once (derived, so a new variant cannot be left out).
    pub fn all() -> impl Iterator<Item = RecordKind> {
        <Self as sea_orm::Iterable>::iter()
    }

    /// Points every record of this kind of customer `from` at customer `to` (a merge).
    pub(crate) async fn move_records(self, tx: &ScopedTx, from: Uuid, to: Uuid) -> DomainResult<()> {
        match self {
            Self::Transaction => move_records::<entity::transaction::Entity>(tx, from, to).await,
            Self::Contract => move_records::<entity::contract::Entity>(tx, from, to).await,
            Self::Interaction => move_records::<entity::interaction::Entity>(tx, from, to).await,
            Self::FollowUp => move_records::<entity::follow_up::Entity>(tx, from, to).await,
            Self::Feedback => move_records::<entity::feedback::Entity>(tx, from, to).await,
        }
    }

    /// Clears the free text of this kind of the customer's records, which may speak of the
    /// person (an erasure); amounts, dates and numbers stay, as the business's own records.
    pub(crate) async fn erase_text(self, tx: &ScopedTx, customer: Uuid) -> DomainResult<()> {
        use entity::{contract, feedback, follow_up, interaction, transaction};
        let erased = || Expr::value("(erased)");
        let cleared = || Expr::value(Option::<String>::None);
        match self {
            Self::Transaction => {
                erase_fields::<transaction::Entity>(tx, customer)
                    .col_expr(transaction::Column::AfterSalesNotes, cleared())
                    .col_expr(transaction::Column::VoidReason, cleared())
                    .exec(tx)
                    .await?
            }
            Self::Contract => {
                erase_fields::<contract::Entity>(tx, customer)
                    .col_expr(contract::Column::Terms, cleared())
                    .col_expr(contract::Column::TerminationReason, cleared())
                    .exec(tx)
                    .await?
            }
            Self::Interaction => {
                erase_fields::<interaction::Entity>(tx, customer)
                    .col_expr(interaction::Column::Summary, erased())
                    .col_expr(interaction::Column::Outcome, cleared())
                    .exec(tx)
                    .await?
            }
            Self::FollowUp => {
                erase_fields::<follow_up::Entity>(tx, customer)
                    .col_expr(follow_up::Column::Note, cleared())
                    .col_expr(follow_up::Column::Outcome, cleared())
                    .exec(tx)
                    .await?
            }
            Self::Feedback => {
                erase_fields::<feedback::Entity>(tx, customer)
                    .col_expr(feedback::Column::Content, erased())
                    .col_expr(feedback::Column::Resolution, cleared())
                    .exec(tx)
                    .await?
            }
        };
        Ok(())
    }

    /// The custom fields this kind carries, if tenants may define any for it.
    pub fn custom_fields(self) -> Option<FieldEntity> {
        match self {
            Self::Transaction => Some(FieldEntity::Transaction),
            Self::Contract => Some(FieldEntity::Contract),
            Self::Interaction => Some(FieldEntity::Interaction),
            Self::FollowUp | Self::Feedback => None,
        }
    }
}

async fn move_records<K: CustomerRecord>(tx: &ScopedTx, from: Uuid, to: Uuid) -> DomainResult<()>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    tx.update::<K>()
        .filter(K::customer_column().eq(from))
        .col_expr(K::customer_column(), Expr::value(to))
        .exec(tx)
        .await?;
    Ok(())
}

/// An update of the customer's records of kind `K` that also empties their custom fields,
/// when the kind carries any.
fn erase_fields<K: CustomerRecord>(tx: &ScopedTx, customer: Uuid) -> Scoped<UpdateMany<K>>
where
    K::Model: FromQueryResult + Clone + Send + Sync,
{
    let update = tx.update::<K>().filter(K::customer_column().eq(customer));
    match K::CARRIES {
        Some(columns) => update
            .col_expr(columns.values, Expr::value(serde_json::json!({})))
            .col_expr(columns.index, Expr::value(serde_json::json!({})))
            .col_expr(columns.key_version, Expr::value(Option::<i32>::None)),
        None => update,
    }
}
