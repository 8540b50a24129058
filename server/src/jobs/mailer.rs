//! Sends e-mails over SMTP with lettre, or writes them to the log when no SMTP server is
//! configured (embedded mode). Failures come back classified: a permanent refusal (5xx) is not
//! worth retrying; everything else (4xx, connection trouble, timeouts) is.

use std::time::Duration;

use anyhow::Context;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;
use crate::config::Config;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
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

impl Mailer {
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.smtp_url {
            None => Ok(Mailer::Log),
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("DOSSIER_SMTP_URL is not a valid smtp:// or smtps:// URL")?
                    .timeout(Some(config.smtp_timeout))
                    .build();
                Ok(Mailer::Smtp(transport))
            }
        }
    }

    /// For tests and tools: plain SMTP on `host:port`.
    pub fn plain(host: &str, port: u16, timeout: Duration) -> Self {
        Mailer::Smtp(
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .timeout(Some(timeout))
                .build(),
        )
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
        match self {
            Mailer::Log => {
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
            Mailer::Smtp(transport) => transport.send(message).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
        }
    }
}

/// A mailbox from a display name and an address; `None` for an address that does not parse.
pub fn mailbox(name: &str, address: &str) -> Option<Mailbox> {
    let address = address.parse().ok()?;
    let name = (!name.trim().is_empty()).then(|| name.trim().to_owned());
    Some(Mailbox::new(name, address))
}
