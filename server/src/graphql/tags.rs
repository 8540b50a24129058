//! Tenant-defined tags.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::tag;

use super::{api, scope};
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
        Ok(service::list(&api(ctx).store, scope(ctx)?)
            .await?
            .into_iter()
            .map(Tag)
            .collect())
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
