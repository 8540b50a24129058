//! The transaction a GraphQL request reads through. A query's fields all share one: one
//! BEGIN, one tenant setting, one snapshot for every nested list, committed after the answer
//! is built and before it is sent. A mutation's answer is read in short transactions of its
//! own after each write, since one held open across the operation would hold SQLite's write
//! lock against the operation's next mutation.

use std::ops::Deref;
use std::sync::Arc;

use async_graphql::{Context, Result};
use tokio::sync::OnceCell;

use super::{api, request, scope};
use crate::domain::{DomainResult, ScopedTx};

/// How the fields of one request read.
#[derive(Clone)]
pub enum Reads {
    /// A query: one transaction, opened by the first field that reads.
    Shared(Arc<OnceCell<ScopedTx>>),
    /// A mutation: each read in a transaction of its own.
    PerRead,
}

impl Reads {
    pub fn for_operation(mutation: bool) -> Self {
        if mutation {
            Self::PerRead
        } else {
            Self::Shared(Arc::default())
        }
    }

    /// Commits the request's shared transaction, if a field opened one. Decrypted contact
    /// data is audited inside it, so an answer whose commit failed must not be sent.
    pub async fn finish(self) -> DomainResult<()> {
        let Self::Shared(cell) = self else {
            return Ok(());
        };
        match Arc::try_unwrap(cell) {
            Ok(cell) => match cell.into_inner() {
                Some(tx) => tx.commit().await,
                None => Ok(()),
            },
            Err(_) => Err(crate::domain::DomainError::Internal(anyhow::anyhow!(
                "the request's read transaction outlived the request"
            ))),
        }
    }
}

/// A read transaction of the request: the shared one, or one of its own to commit with `done`.
pub(crate) enum ReadTx<'a> {
    Shared(&'a ScopedTx),
    Own(Box<ScopedTx>),
}

impl Deref for ReadTx<'_> {
    type Target = ScopedTx;
    fn deref(&self) -> &ScopedTx {
        match self {
            Self::Shared(tx) => tx,
            Self::Own(tx) => tx,
        }
    }
}

impl ReadTx<'_> {
    /// Ends a read of its own (the shared one ends with the request).
    pub(crate) async fn done(self) -> Result<()> {
        if let Self::Own(tx) = self {
            tx.commit().await?;
        }
        Ok(())
    }
}

/// The transaction the calling field reads through (UNAUTHENTICATED without a caller).
pub(crate) async fn read_tx<'a>(ctx: &Context<'a>) -> Result<ReadTx<'a>> {
    let scope = scope(ctx)?;
    let store = &api(ctx).store;
    match &request(ctx).reads {
        Reads::Shared(cell) => Ok(ReadTx::Shared(cell.get_or_try_init(|| store.begin_read(scope)).await?)),
        Reads::PerRead => Ok(ReadTx::Own(Box::new(store.begin_scoped(scope).await?))),
    }
}

/// Runs `body` with `tx`, the calling field's read transaction, and ends it:
/// `reading!(ctx, |tx| service::get(&tx, id).await?)`.
///
/// The read runs as a boxed future: async-graphql allocates and moves every field's future at
/// the size of its type's largest resolver, so a database read kept inline would make each
/// plain field of that type (`id`, `name`, …) cost kilobytes.
macro_rules! reading {
    ($ctx:expr, |$tx:ident| $body:expr) => {{
        let read = async {
            let $tx = $crate::graphql::reads::read_tx($ctx).await?;
            let out = $body;
            $tx.done().await?;
            Ok::<_, async_graphql::Error>(out)
        };
        futures_util::FutureExt::boxed(read).await?
    }};
}
pub(crate) use reading;
