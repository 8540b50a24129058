//! Sends e-mails over SMTP with lettre, or writes them to the log when no SMTP server is
//! configured (embedded mode). Failures come back classified: a permanent refusal (5xx) is not
//! worth retrying; everything else (4xx, connection trouble, timeouts) is. What a failure says
//! is short and fixed (the reply code and its meaning, or the kind of trouble), since admins
//! read it; the server's own words and the cause chain go to the log.

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

/// Why a message did not go out, in a short reason fit for people to read.
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
            .map_err(|e| {
                tracing::error!(message_id = %envelope.message_id, error = %e, "cannot build an e-mail");
                SendError::Permanent("the message could not be built".into())
            })?;
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
                Ok(Err(e)) => {
                    tracing::warn!(message_id = %envelope.message_id, error = %e, "the mail server did not take an e-mail");
                    if e.is_permanent() {
                        Err(SendError::Permanent(reason(&e)))
                    } else {
                        Err(SendError::Transient(reason(&e)))
                    }
                }
                Err(_) => Err(SendError::Transient(format!(
                    "smtp: the mail server did not finish within {} s",
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

/// A failed exchange as people may read it: the reply code with its meaning in RFC 5321, or
/// the kind of trouble. Never the server's text, which can name its hosts and users.
fn reason(err: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = err.status() {
        let code = code.to_string();
        return format!("smtp: {code} {}", meaning(&code));
    }
    let trouble = if err.is_timeout() {
        "timed out"
    } else if err.is_tls() {
        "TLS failed"
    } else if err.is_response() {
        "unreadable reply"
    } else if err.is_client() {
        "client error"
    } else {
        "connection failed"
    };
    format!("smtp: {trouble}")
}

/// The meaning RFC 5321 gives a reply code.
fn meaning(code: &str) -> &'static str {
    match code {
        "421" => "service not available",
        "450" | "550" => "mailbox unavailable",
        "451" => "local error in processing",
        "452" => "insufficient system storage",
        "455" | "555" => "parameters not accommodated",
        "500" => "command not recognised",
        "501" => "syntax error in parameters",
        "502" | "504" => "command not implemented",
        "503" => "bad sequence of commands",
        "551" => "user not local",
        "552" => "exceeded storage allocation",
        "553" => "mailbox name not allowed",
        "554" => "transaction failed",
        c if c.starts_with('4') => "temporary failure",
        _ => "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_codes_read_as_their_meaning_and_unknown_ones_by_their_class() {
        assert_eq!(meaning("550"), "mailbox unavailable");
        assert_eq!(meaning("421"), "service not available");
        assert_eq!(meaning("447"), "temporary failure");
        assert_eq!(meaning("599"), "refused");
    }
}
