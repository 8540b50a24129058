//! Sends e-mails over SMTP with lettre, or writes them to the log when no SMTP server is
//! configured (embedded mode). Failures come back classified: a permanent refusal (5xx) is not
//! worth retrying; everything else (4xx, connection trouble, timeouts) is.

use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;
use crate::config::{Config, SMTP_EXCHANGE_TIMEOUTS};

pub struct Mailer {
    /// `None`: no SMTP server configured, messages go to the log.
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    /// For a whole message. lettre bounds only the connect, so a server that stops answering
    /// mid-conversation would otherwise hold a worker forever.
    exchange_timeout: Duration,
}

/// Why a message did not go out.
#[derive(Debug)]
pub enum SendError {
    /// The server refused it for good (5xx), or the message cannot be built.
    Permanent(String),
    /// Worth another try later.
    Transient(String),
}

/// An outgoing message: from, to, reply-to and the fixed Message-ID.
pub struct Envelope {
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    pub reply_to: Option<Mailbox>,
    pub message_id: String,
}

impl Envelope {
    /// From the configured address under the tenant's display name, with its reply-to (an
    /// address that does not parse is left out).
    pub fn for_tenant(
        address: &Mailbox,
        display_name: &str,
        reply_to: Option<&str>,
        to: Vec<Mailbox>,
        message_id: String,
    ) -> Self {
        Self {
            from: Mailbox::new(Some(display_name.to_owned()), address.email.clone()),
            to,
            reply_to: reply_to.and_then(|a| mailbox("", a)),
            message_id,
        }
    }
}

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let smtp = match &config.smtp_url {
            None => {
                tracing::warn!("DOSSIER_SMTP_URL is not set: reminder e-mails are written to the log, not sent");
                None
            }
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("DOSSIER_SMTP_URL is not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(config.smtp_timeout))
                    .build(),
            ),
        };
        Ok(Self {
            smtp,
            exchange_timeout: config.smtp_timeout * SMTP_EXCHANGE_TIMEOUTS,
        })
    }

    /// For tests and tools: plain SMTP on `host:port`.
    pub fn plain(host: &str, port: u16, timeout: Duration) -> Self {
        Self {
            smtp: Some(
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                    .port(port)
                    .timeout(Some(timeout))
                    .build(),
            ),
            exchange_timeout: timeout * SMTP_EXCHANGE_TIMEOUTS,
        }
    }

    /// The longest one message may take to send.
    pub fn exchange_timeout(&self) -> Duration {
        self.exchange_timeout
    }

    /// False when messages go to the log.
    pub fn is_smtp(&self) -> bool {
        self.smtp.is_some()
    }

    pub async fn send(&self, envelope: &Envelope, rendered: &Rendered) -> Result<(), SendError> {
        let mut builder = Message::builder()
            .from(envelope.from.clone())
            .subject(rendered.subject.clone())
            .message_id(Some(envelope.message_id.clone()));
        for to in &envelope.to {
            builder = builder.to(to.clone());
        }
        if let Some(reply_to) = &envelope.reply_to {
            builder = builder.reply_to(reply_to.clone());
        }
        let message = builder
            .multipart(MultiPart::alternative_plain_html(
                rendered.text.clone(),
                rendered.html.clone(),
            ))
            .map_err(|e| SendError::Permanent(format!("cannot build the message: {e}")))?;
        match &self.smtp {
            None => {
                let to: Vec<String> = envelope.to.iter().map(|m| m.email.to_string()).collect();
                tracing::info!(
                    message_id = %envelope.message_id,
                    to = ?to,
                    subject = %rendered.subject,
                    body = %rendered.text,
                    "e-mail (no SMTP server configured; written to the log instead)"
                );
                Ok(())
            }
            Some(transport) => match tokio::time::timeout(self.exchange_timeout, transport.send(message)).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Ok(Err(e)) => Err(SendError::Transient(e.to_string())),
                Err(_) => Err(SendError::Transient(format!(
                    "the mail server did not finish within {} s",
                    self.exchange_timeout.as_secs()
                ))),
            },
        }
    }
}

/// A mailbox from a display name and an address; `None` for an address that does not parse.
pub fn mailbox(name: &str, address: &str) -> Option<Mailbox> {
    let address = address.parse().ok()?;
    let name = (!name.trim().is_empty()).then(|| name.trim().to_owned());
    Some(Mailbox::new(name, address))
}
