//! Tenant-defined tags.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::tag;

use super::reads::read_tx;
use super::{api, parse_id, parse_ids, scope};
use crate::domain::tags as service;

pub struct Tag(pub tag::Model);

#[Object]
impl Tag {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// `#rrggbb`
    async fn color(&self) -> &str {
        &self.0.color
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Default)]
pub struct TagQuery;

#[Object]
impl TagQuery {
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let tx = read_tx(ctx).await?;
        let tags = service::list(&tx).await?;
        tx.done().await?;
        Ok(tags.into_iter().map(Tag).collect())
    }
}

#[derive(InputObject)]
pub struct CreateTagInput {
    pub name: String,
    /// `#rrggbb`; grey when not given.
    pub color: Option<String>,
}

#[derive(SimpleObject)]
pub struct TagPayload {
    pub tag: Tag,
}

#[derive(Default)]
pub struct TagMutation;

#[Object]
impl TagMutation {
    /// Managers and above.
    async fn create_tag(&self, ctx: &Context<'_>, input: CreateTagInput) -> Result<TagPayload> {
        let tag = service::create(&api(ctx).store, scope(ctx)?, input.name, input.color).await?;
        Ok(TagPayload { tag: Tag(tag) })
    }
}

#[derive(InputObject)]
pub struct RenameTagInput {
    pub id: ID,
    pub name: Option<String>,
    /// `#rrggbb`
    pub color: Option<String>,
}

#[derive(InputObject)]
pub struct DeleteTagInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct DeleteTagPayload {
    pub deleted_tag_id: ID,
    /// How many customers carried the tag.
    pub untagged_customers: u64,
}

/// Tags and customers of a bulk (un)tagging; at most 500 customers at once.
#[derive(InputObject)]
pub struct TagCustomersInput {
    pub tag_ids: Vec<ID>,
    pub customer_ids: Vec<ID>,
}

#[derive(SimpleObject)]
pub struct TagCustomersPayload {
    /// Customers whose tags changed (a customer that already had them is not listed).
    pub changed_customer_ids: Vec<ID>,
}

#[derive(Default)]
pub struct TagAdminMutation;

#[Object]
impl TagAdminMutation {
    /// Managers and above. Customers keep the tag under its new name.
    async fn rename_tag(&self, ctx: &Context<'_>, input: RenameTagInput) -> Result<TagPayload> {
        let id = parse_id("id", &input.id)?;
        let tag = service::rename(&api(ctx).store, scope(ctx)?, id, input.name, input.color).await?;
        Ok(TagPayload { tag: Tag(tag) })
    }

    /// Managers and above. Takes the tag off every customer.
    async fn delete_tag(&self, ctx: &Context<'_>, input: DeleteTagInput) -> Result<DeleteTagPayload> {
        let id = parse_id("id", &input.id)?;
        let untagged_customers = service::delete(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(DeleteTagPayload {
            deleted_tag_id: input.id,
            untagged_customers,
        })
    }

    /// Adds the tags to every customer listed; each must be in the caller's view.
    async fn tag_customers(&self, ctx: &Context<'_>, input: TagCustomersInput) -> Result<TagCustomersPayload> {
        retag(ctx, input, true).await
    }

    /// Removes the tags from every customer listed; each must be in the caller's view.
    async fn untag_customers(&self, ctx: &Context<'_>, input: TagCustomersInput) -> Result<TagCustomersPayload> {
        retag(ctx, input, false).await
    }
}

async fn retag(ctx: &Context<'_>, input: TagCustomersInput, attach: bool) -> Result<TagCustomersPayload> {
    let tag_ids = parse_ids("tagIds", &input.tag_ids)?;
    let customer_ids = parse_ids("customerIds", &input.customer_ids)?;
    let changed = service::retag(&api(ctx).store, scope(ctx)?, &tag_ids, &customer_ids, attach).await?;
    Ok(TagCustomersPayload {
        changed_customer_ids: changed.into_iter().map(|id| ID(id.to_string())).collect(),
    })
}
