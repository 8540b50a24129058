//! The audit trail, for admins.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::audit_log;

use super::reads::reading;
use super::{api, parse_optional_id};
use crate::domain::audit as service;
use crate::domain::pagination::PageArgs;

pub struct AuditEntry(audit_log::Model);

#[Object]
impl AuditEntry {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// `entity.verb`, e.g. `customer.update`.
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn entity(&self) -> &str {
        &self.0.entity
    }
    async fn entity_id(&self) -> Option<ID> {
        self.0.entity_id.map(|id| ID(id.to_string()))
    }
    /// Names of the fields that changed; values are never recorded.
    async fn changed_fields(&self) -> Vec<String> {
        serde_json::from_value(self.0.changed_fields.clone()).unwrap_or_default()
    }
    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|id| ID(id.to_string()))
    }
    async fn api_key_id(&self) -> Option<ID> {
        self.0.actor_api_key_id.map(|id| ID(id.to_string()))
    }
    async fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(InputObject, Default)]
pub struct AuditLogFilter {
    pub entity_id: Option<ID>,
    pub actor_id: Option<ID>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// How long the audit log waits for decrypt audit rows still being written.
const AUDIT_LOG_WAITS_FOR_REVEALS: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Default)]
pub struct AuditQuery;

#[Object]
impl AuditQuery {
    /// Newest first. Admins and owners only.
    #[graphql(complexity = "first.unwrap_or(20).max(1) as usize * child_complexity")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditLogFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, AuditEntry>> {
        let api = api(ctx);
        let f = filter.unwrap_or_default();
        let filter = service::AuditFilter {
            entity_id: parse_optional_id("filter.entityId", &f.entity_id)?,
            actor_id: parse_optional_id("filter.actorId", &f.actor_id)?,
            from: f.from,
            to: f.to,
        };
        let args = PageArgs {
            first,
            after,
            ..Default::default()
        };
        // Reads on this replica audit their decryption behind them: show what they queued.
        api.store.reveals_written(AUDIT_LOG_WAITS_FOR_REVEALS).await;
        let page = reading!(ctx, |tx| service::list(&tx, filter, &args, api.max_page_size).await?);
        let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
        connection.edges.extend(
            page.items
                .into_iter()
                .map(|(cursor, row)| Edge::new(cursor, AuditEntry(row))),
        );
        Ok(connection)
    }
}
