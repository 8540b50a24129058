//! An admin's test e-mail, which shows that reminders reach people: who may send one, how
//! often, and its audit entry. It goes out the way reminders do, through the mail server and
//! sender of the reminder delivery, which provides the transport.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::cache::Limit;
use crate::domain::{DomainError, DomainResult, Store, audit, tenants};
use crate::tenancy::{Role, TenantScope};

/// What a test e-mail says and where it goes: the tenant's language, name, sender name and
/// reply-to, as its reminders carry them.
#[derive(Debug, Clone)]
pub struct TestLetter {
    pub locale: entity::enums::Locale,
    pub tenant_name: String,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    pub to: String,
}

/// How a test e-mail went.
#[derive(Debug, Clone)]
pub struct TestEmail {
    pub message_id: String,
    /// False when no SMTP server is configured: the message went to the log.
    pub via_smtp: bool,
    /// Why it did not go out: the reply code and its meaning, or the kind of trouble.
    pub error: Option<String>,
}

/// Sends test e-mails the way reminders go out.
pub trait TestEmailTransport: Send + Sync {
    /// Whether the mail server can be given `address` as a recipient.
    fn takes_address(&self, address: &str) -> bool;

    /// Renders and sends the letter. A refusal is part of the answer, not an error: the
    /// admin is told what the server said.
    fn send<'a>(&'a self, letter: &'a TestLetter) -> BoxFuture<'a, TestEmail>;
}

/// Test e-mails a tenant may send: 5 at once, then one every 12 s.
const TEST_EMAILS: Limit = Limit {
    per_second: 1.0 / 12.0,
    burst: 5,
};

/// The API's sender of test e-mails.
#[derive(Clone)]
pub struct TestEmails {
    transport: Arc<dyn TestEmailTransport>,
}

impl TestEmails {
    pub fn new(transport: Arc<dyn TestEmailTransport>) -> Self {
        Self { transport }
    }

    /// Sends a test e-mail in the tenant's language, with its sender name and reply-to, to
    /// `to`. Admins only, a few per minute per tenant; audited without the address.
    pub async fn send(&self, store: &Store, scope: &TenantScope, to: &str) -> DomainResult<TestEmail> {
        if !scope.is_at_least(Role::Admin) {
            return Err(DomainError::Forbidden("only admins send test e-mails"));
        }
        let to = to.trim();
        if !self.transport.takes_address(to) {
            return Err(DomainError::validation("to", "is not an e-mail address"));
        }
        let decision = store
            .shared()
            .limiter
            .check(&format!("test-email:{}", scope.tenant_id()), TEST_EMAILS, 1)
            .await;
        if !decision.allowed {
            return Err(DomainError::RateLimited {
                retry_after: decision.retry_after,
            });
        }
        let tenant = tenants::current(store, scope).await?;
        let letter = TestLetter {
            locale: tenant.locale,
            tenant_name: tenant.name,
            sender_name: tenant.reminder_sender_name,
            reply_to: tenant.reminder_reply_to,
            to: to.to_owned(),
        };
        let sent = self.transport.send(&letter).await;
        let tx = store.begin_scoped(scope).await?;
        audit::record(&tx, "tenant.test_email_sent", None, &[]).await?;
        tx.commit().await?;
        Ok(sent)
    }
}
