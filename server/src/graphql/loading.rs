//! The one way nested fields load: the nodes loaded together (a page, a customer's list, a
//! write's answer) share a `Batch` per related kind, which the first node asking loads for
//! all of them in one statement, through the request's read transaction. Nothing is loaded
//! that no field asks for, and no look-ahead is needed.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;

use std::sync::Arc;

use async_graphql::{Context, Result};
use sea_orm::{ColumnTrait, QueryFilter};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::customers::{Customer, Together};
use super::follow_ups::FollowUp;
use super::reads::reading;
use super::tenancy::User;
use crate::domain::records::FileRequest;
use crate::domain::{access, follow_ups, users};

/// Rows keyed like `K` for every member of a batch, loaded on first use.
pub(crate) struct Batch<V, K = Uuid> {
    keys: Vec<K>,
    loaded: OnceCell<HashMap<K, V>>,
}

impl<V, K> Batch<V, K>
where
    K: Eq + Hash + Clone,
{
    /// A batch over `keys` (repeats are dropped).
    pub(crate) fn over(keys: impl IntoIterator<Item = K>) -> Self {
        let mut seen = std::collections::HashSet::new();
        let keys = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
        Self {
            keys,
            loaded: OnceCell::new(),
        }
    }

    /// A batch whose rows are known already (a write read them before its COMMIT).
    pub(crate) fn known(rows: HashMap<K, V>) -> Self {
        Self {
            keys: rows.keys().cloned().collect(),
            loaded: OnceCell::new_with(Some(rows)),
        }
    }

    /// A batch of one key, whose row is known already when `known` gives it.
    pub(crate) fn of_one(key: K, known: Option<V>) -> Self {
        match known {
            Some(row) => Self::settled(key, Some(row)),
            None => Self::over([key]),
        }
    }

    /// A batch of one key whose row is known, or known to be absent.
    pub(crate) fn settled(key: K, row: Option<V>) -> Self {
        let rows = row.map(|row| HashMap::from([(key.clone(), row)])).unwrap_or_default();
        Self {
            keys: vec![key],
            loaded: OnceCell::new_with(Some(rows)),
        }
    }

    /// The row of `key`, loading the whole batch's with `load` the first time any is asked
    /// (a key outside the batch is loaded alone).
    pub(crate) async fn get<F, Fut>(&self, key: &K, load: F) -> Result<Option<V>>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>>>,
        V: Clone,
    {
        if !self.keys.contains(key) && self.loaded.get().is_none_or(|l| !l.contains_key(key)) {
            return Ok(load(vec![key.clone()]).await?.remove(key));
        }
        let loaded = self.loaded.get_or_try_init(|| load(self.keys.clone())).await?;
        Ok(loaded.get(key).cloned())
    }

    /// The rows of the whole batch, if loaded.
    pub(crate) fn loaded(&self) -> Option<&HashMap<K, V>> {
        self.loaded.get()
    }

    /// The rows of the whole batch, loading them with `load` if no member asked yet.
    pub(crate) async fn all<F, Fut>(&self, load: F) -> Result<&HashMap<K, V>>
    where
        F: FnOnce(Vec<K>) -> Fut,
        Fut: Future<Output = Result<HashMap<K, V>>>,
    {
        self.loaded.get_or_try_init(|| load(self.keys.clone())).await
    }
}

impl<V, K> Default for Batch<V, K> {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            loaded: OnceCell::new(),
        }
    }
}

/// What records of customers' files loaded together point at — their customers, the users
/// they name (assignee, recipient) and, for interactions, the follow-ups they opened — each
/// loaded for all of them on first use.
#[derive(Default)]
pub struct Related {
    customers: Batch<entity::customer::Model>,
    /// What the batch's customers share, once they are loaded.
    together: OnceCell<Arc<Together>>,
    users: Batch<entity::user::Model>,
    /// By the id of the interaction that opened them.
    follow_ups: Batch<entity::follow_up::Model>,
    /// What the opened follow-ups point at, once they are loaded.
    opened: OnceCell<Arc<Related>>,
}

impl Related {
    pub(crate) fn of(customer_ids: Vec<Uuid>, user_ids: Vec<Uuid>, interaction_ids: Vec<Uuid>) -> Arc<Self> {
        Arc::new(Self {
            customers: Batch::over(customer_ids),
            together: OnceCell::new(),
            users: Batch::over(user_ids),
            follow_ups: Batch::over(interaction_ids),
            opened: OnceCell::new(),
        })
    }

    /// Follow-ups an interaction's write opened, known already.
    pub(crate) fn opened_known(follow_ups: HashMap<Uuid, entity::follow_up::Model>) -> Arc<Self> {
        Arc::new(Self {
            follow_ups: Batch::known(follow_ups),
            ..Default::default()
        })
    }

    /// The customer, if the caller may see it; the customers of a batch share their files'
    /// parts, so their nested fields load once for all.
    pub(crate) async fn customer(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Customer>> {
        let load = |ids: Vec<Uuid>| async move {
            Ok(reading!(ctx, |tx| {
                access::customers(&tx)
                    .filter(entity::customer::Column::Id.is_in(ids))
                    .all(&tx)
                    .await?
            }))
            .map(|rows: Vec<entity::customer::Model>| rows.into_iter().map(|c| (c.id, c)).collect())
        };
        let Some(found) = self.customers.get(&id, load).await? else {
            return Ok(None);
        };
        let together = match self.customers.loaded() {
            Some(all) if all.contains_key(&id) => {
                let all: Vec<entity::customer::Model> = all.values().cloned().collect();
                self.together
                    .get_or_init(|| async { Together::of(&all, None, FileRequest::default()) })
                    .await
                    .clone()
            }
            _ => return Ok(Some(Customer::single(found))),
        };
        Ok(Some(Customer::in_batch(found, together)))
    }

    pub(crate) async fn user(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<User>> {
        let found = self
            .users
            .get(&id, |ids| async move {
                Ok(reading!(ctx, |tx| users::by_ids_in(&tx, &ids).await?))
            })
            .await?;
        Ok(found.map(User))
    }

    /// The follow-up the interaction `interaction_id` opened, as a node sharing what the
    /// other opened follow-ups of the batch point at.
    pub(crate) async fn opened_by(&self, ctx: &Context<'_>, interaction_id: Uuid) -> Result<Option<FollowUp>> {
        let load =
            |ids: Vec<Uuid>| async move { Ok(reading!(ctx, |tx| follow_ups::for_interactions(&tx, &ids).await?)) };
        let opened = self.follow_ups.all(load).await?;
        let Some(found) = opened.get(&interaction_id).cloned() else {
            return Ok(None);
        };
        let related = self.opened.get_or_init(|| async {
            Related::of(
                opened.values().map(|f| f.customer_id).collect(),
                opened.values().map(|f| f.assignee_id).collect(),
                Vec::new(),
            )
        });
        Ok(Some(FollowUp::new(found, related.await.clone())))
    }
}
