//! Reminder e-mails as people see them: the list with each one's delivery state, the
//! tenant's delivery figures, sending one again, cancelling one, and a test e-mail.

use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::enums::ReminderKind as Kind;
use entity::reminder;

use super::customers::Customer;
use super::interactions::gql_id;
use super::loading::Related;
use super::reads::reading;
use super::tenancy::User;
use super::{api, parse_id, parse_optional_id, scope};
use crate::domain::pagination::PageArgs;
use crate::domain::reminders::manage::{self as service, ReminderFilter as DomainFilter};

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::ReminderKind")]
pub enum ReminderKind {
    /// A contract ends in N days.
    ContractExpiry,
    /// A follow-up falls due.
    FollowUp,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(remote = "entity::enums::ReminderStatus")]
pub enum ReminderStatus {
    /// Waiting for its time, or for its next attempt.
    Pending,
    /// A worker is sending it now.
    Sending,
    Sent,
    /// Given up on: refused for good, or too many attempts (see `lastError`).
    Failed,
    Cancelled,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::reminders::manage::ReminderOrder")]
pub enum ReminderOrder {
    DueAtAsc,
    #[default]
    DueAtDesc,
}

/// One reminder e-mail and how its delivery went.
pub struct Reminder {
    model: reminder::Model,
    related: Arc<Related>,
}

impl Reminder {
    fn from_model(model: reminder::Model) -> Self {
        Self {
            model,
            related: Arc::default(),
        }
    }
}

#[Object]
impl Reminder {
    async fn id(&self) -> ID {
        gql_id(self.model.id)
    }
    async fn kind(&self) -> ReminderKind {
        self.model.kind.into()
    }
    async fn status(&self) -> ReminderStatus {
        self.model.status.into()
    }
    /// The contract, for a contract reminder.
    async fn contract_id(&self) -> Option<ID> {
        (self.model.kind == Kind::ContractExpiry).then(|| gql_id(self.model.subject_id))
    }
    /// The follow-up, for a follow-up reminder.
    async fn follow_up_id(&self) -> Option<ID> {
        (self.model.kind == Kind::FollowUp).then(|| gql_id(self.model.subject_id))
    }
    async fn customer_id(&self) -> ID {
        gql_id(self.model.customer_id)
    }
    /// Null when the caller may not see the customer.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn customer(&self, ctx: &Context<'_>) -> Result<Option<Customer>> {
        self.related.customer(ctx, self.model.customer_id).await
    }
    /// For a contract reminder: how many days before the end it is.
    async fn offset_days(&self) -> Option<i32> {
        self.model.offset_days
    }
    /// The user it is addressed to; the tenant's admins receive it when that user is gone.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn recipient(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        match self.model.recipient_user_id {
            Some(id) => self.related.user(ctx, id).await,
            None => Ok(None),
        }
    }
    /// When it is meant to go out.
    async fn due_at(&self) -> DateTime<Utc> {
        self.model.due_at
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.model.attempts
    }
    /// While pending: when the next attempt is made.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.model.status == entity::enums::ReminderStatus::Pending).then_some(self.model.next_attempt_at)
    }
    /// Why the last attempt did not go through (the mail server's words).
    async fn last_error(&self) -> Option<&str> {
        self.model.last_error.as_deref()
    }
    async fn sent_at(&self) -> Option<DateTime<Utc>> {
        self.model.sent_at
    }
    /// The e-mail's Message-ID; the same on every attempt, so a resend is recognisable.
    async fn message_id(&self) -> Option<&str> {
        self.model.message_id.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

#[derive(InputObject, Default)]
pub struct ReminderFilter {
    pub status: Option<ReminderStatus>,
    pub kind: Option<ReminderKind>,
    /// Due at or after this moment.
    pub from: Option<DateTime<Utc>>,
    /// Due strictly before this moment.
    pub to: Option<DateTime<Utc>>,
    pub contract_id: Option<ID>,
    pub customer_id: Option<ID>,
}

impl ReminderFilter {
    fn into_domain(self) -> Result<DomainFilter> {
        Ok(DomainFilter {
            status: self.status.map(Into::into),
            kind: self.kind.map(Into::into),
            from: self.from,
            to: self.to,
            contract_id: parse_optional_id("filter.contractId", &self.contract_id)?,
            customer_id: parse_optional_id("filter.customerId", &self.customer_id)?,
        })
    }
}

pub struct ReminderListInfo {
    filter: DomainFilter,
}

#[Object]
impl ReminderListInfo {
    /// Reminders matching the filter, over all pages (counted only when asked).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(reading!(ctx, |tx| service::count(&tx, &self.filter).await?))
    }
}

pub type ReminderConnection = Connection<String, Reminder, ReminderListInfo>;

/// How the tenant's reminder e-mails are doing.
#[derive(SimpleObject)]
pub struct ReminderStats {
    /// Reminders planned so far, whatever became of them.
    pub planned: u64,
    pub pending: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Attempts beyond the first.
    pub retries: u64,
    /// How long the oldest due, unsent reminder has waited; null when none waits.
    pub oldest_due_age_seconds: Option<i64>,
}

impl From<service::ReminderStats> for ReminderStats {
    fn from(s: service::ReminderStats) -> Self {
        Self {
            planned: s.planned(),
            pending: s.pending,
            sending: s.sending,
            sent: s.sent,
            failed: s.failed,
            cancelled: s.cancelled,
            retries: s.retries,
            oldest_due_age_seconds: s.oldest_due_age_seconds,
        }
    }
}

#[derive(Default)]
pub struct ReminderQuery;

#[Object]
impl ReminderQuery {
    async fn reminder(&self, ctx: &Context<'_>, id: ID) -> Result<Reminder> {
        let id = parse_id("id", &id)?;
        Ok(Reminder::from_model(reading!(ctx, |tx| service::get(&tx, id).await?)))
    }

    /// Reminder e-mails, latest due first unless `orderBy` says otherwise. Admins and
    /// managers see all of the tenant's; others those addressed to them.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn reminders(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ReminderFilter>,
        #[graphql(default)] order_by: ReminderOrder,
    ) -> Result<ReminderConnection> {
        let api = api(ctx);
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        let page = reading!(ctx, |tx| service::list(
            &tx,
            &filter,
            order_by.into(),
            &args,
            api.max_page_size
        )
        .await?);
        let related = Related::of(
            page.items.iter().map(|(_, r)| r.customer_id).collect(),
            page.items.iter().filter_map(|(_, r)| r.recipient_user_id).collect(),
            Vec::new(),
        );
        let info = ReminderListInfo { filter };
        Ok(super::page_connection(page, info, |model| Reminder {
            model,
            related: related.clone(),
        }))
    }

    /// Delivery figures of the tenant (managers and above).
    async fn reminder_stats(&self, ctx: &Context<'_>) -> Result<ReminderStats> {
        Ok(reading!(ctx, |tx| service::stats(&tx).await?).into())
    }
}

#[derive(SimpleObject)]
pub struct ReminderPayload {
    pub reminder: Reminder,
}

#[derive(SimpleObject)]
pub struct SendTestEmailPayload {
    /// True when the mail server accepted it (or, without one, it was written to the log).
    pub delivered: bool,
    /// False when no SMTP server is configured and e-mails go to the server's log.
    pub via_smtp: bool,
    pub message_id: String,
    /// The mail server's or the connection's words when it was not accepted.
    pub error: Option<String>,
}

#[derive(Default)]
pub struct ReminderMutation;

#[Object]
impl ReminderMutation {
    /// Sends a failed or cancelled reminder again now, with a fresh budget of attempts (a
    /// pending one waiting out a backoff goes now). CONFLICT once sent or while sending.
    async fn retry_reminder(&self, ctx: &Context<'_>, id: ID) -> Result<ReminderPayload> {
        let id = parse_id("id", &id)?;
        let reminder = service::retry(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(ReminderPayload {
            reminder: Reminder::from_model(reminder),
        })
    }

    /// Withdraws a reminder that has not gone out. CONFLICT once sent or while sending.
    async fn cancel_reminder(&self, ctx: &Context<'_>, id: ID) -> Result<ReminderPayload> {
        let id = parse_id("id", &id)?;
        let reminder = service::cancel(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(ReminderPayload {
            reminder: Reminder::from_model(reminder),
        })
    }

    /// Sends a test e-mail the way reminders go out (admins; a few per minute).
    async fn send_test_email(&self, ctx: &Context<'_>, to: String) -> Result<SendTestEmailPayload> {
        let api = api(ctx);
        let sent = api.test_emails.send(&api.store, scope(ctx)?, &to).await?;
        Ok(SendTestEmailPayload {
            delivered: sent.error.is_none(),
            via_smtp: sent.via_smtp,
            message_id: sent.message_id,
            error: sent.error,
        })
    }
}
