//! Sends the reminders the planner put in the outbox. A worker claims a batch of due ones
//! (each for a lease), sends each, and records how it went; failures retry with exponential
//! backoff and jitter up to a limit. Every reminder keeps one Message-ID whatever the number of
//! attempts, so a resend after a crash is recognisable as the same e-mail.
//!
//! Exactly once, with workers in parallel and a slow mail server: a worker claims only what it
//! can send within a lease, and just before each e-mail extends the lease of its reminders if
//! they are still its own (fenced on attempt and lease), skipping any another worker took over.
//! The lease outlasts a whole exchange, so none runs out while its e-mail is going out.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use lettre::message::Mailbox;
use rand_core::{OsRng, RngCore};

use super::clock::Clock;
use super::mailer::{Envelope, Mailer, SendError, mailbox};
use super::templates::{render, render_digest, render_test};
use crate::config::Config;
use crate::domain::reminders::test_email::{TestEmail, TestEmailTransport, TestLetter};
use crate::domain::reminders::{self, Letter, Outcome};
use crate::domain::{DomainError, Store};
use entity::reminder;

/// E-mails a worker has in flight at once. Each SMTP exchange mostly waits (on the network,
/// and on lettre's two writes per message meeting the server's delayed ACK: about 40 ms), so a
/// few at once multiply a worker's rate without loading the server much.
const PARALLEL_SENDS: usize = 4;

/// Most reminders claimed in one round.
const MAX_BATCH: u64 = 50;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub claimed: u64,
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
    /// Claimed but handed back untried because the worker is stopping.
    pub released: u64,
    /// Claimed but not sent: another worker had taken them over when their turn came.
    pub taken_over: u64,
}

pub struct Delivery {
    store: Store,
    mailer: Arc<Mailer>,
    from: Mailbox,
    /// The right-hand side of Message-IDs.
    domain: String,
    frontend_url: String,
    max_attempts: i32,
    lease: Duration,
    retry_base: Duration,
    batch: u64,
    stopping: Arc<AtomicBool>,
}

impl Delivery {
    pub fn from_config(store: Store, config: &Config) -> anyhow::Result<Self> {
        Self::with_mailer(store, Mailer::from_config(config)?, config)
    }

    pub fn with_mailer(store: Store, mailer: Mailer, config: &Config) -> anyhow::Result<Self> {
        let from = sender(config)?;
        let lease = config.reminder_lease;
        let exchange = mailer.exchange_timeout();
        if lease <= exchange {
            anyhow::bail!(
                "the reminder lease ({} s) must be longer than one SMTP exchange may take ({} s)",
                lease.as_secs_f64(),
                exchange.as_secs_f64()
            );
        }
        Ok(Self {
            store,
            mailer: Arc::new(mailer),
            domain: from.email.domain().to_owned(),
            from,
            frontend_url: config.frontend_url.clone(),
            max_attempts: config.reminder_max_attempts.max(1),
            lease,
            retry_base: config.reminder_retry_base,
            batch: batch_within(lease, exchange),
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The transport of the API's test e-mails: the same server and sender as reminders.
    pub fn postbox(&self) -> Postbox {
        Postbox {
            mailer: self.mailer.clone(),
            from: self.from.clone(),
        }
    }

    /// A flag that, once set, makes the worker stop claiming and hand back what it holds.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stopping.clone()
    }

    /// The Message-ID of a reminder's e-mail, the same on every attempt.
    pub fn message_id(&self, reminder_id: uuid::Uuid) -> String {
        format!("<reminder-{reminder_id}@{}>", self.domain)
    }

    /// Claims one batch of due reminders at the clock's time and sends them.
    pub async fn deliver_once(&self, clock: &dyn Clock) -> anyhow::Result<Round> {
        let mut round = Round::default();
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(round);
        }
        let claimed = reminders::claim(&self.store, clock.now(), self.lease, self.batch)
            .await
            .map_err(|e| anyhow::anyhow!("Failed to claim reminders: {e:?}"))?;
        round.claimed = claimed.len() as u64;
        let mails = self.compose(claimed).await;
        let done: Vec<anyhow::Result<Round>> = futures_util::stream::iter(mails)
            .map(|mail| self.deliver_mail(mail, clock))
            .buffer_unordered(PARALLEL_SENDS)
            .collect()
            .await;
        for one in done {
            let one = one?;
            round.sent += one.sent;
            round.retried += one.retried;
            round.failed += one.failed;
            round.released += one.released;
            round.taken_over += one.taken_over;
        }
        crate::monitoring::record_reminder_round(round.sent, round.retried, round.failed);
        Ok(round)
    }

    /// Sends one e-mail and records the outcome for each of its reminders; hands them back
    /// untried instead if the worker is stopping. Only the reminders still this worker's when
    /// their turn comes go out, under a fresh lease.
    async fn deliver_mail(&self, mut mail: Mail, clock: &dyn Clock) -> anyhow::Result<Round> {
        let mut round = Round::default();
        if self.stopping.load(Ordering::SeqCst) {
            round.released = reminders::release(&self.store, &mail.reminders)
                .await
                .map_err(|e| anyhow::anyhow!("Failed to release reminders: {e:?}"))?;
            return Ok(round);
        }
        let held = reminders::renew(&self.store, &mail.reminders, clock.now(), self.lease)
            .await
            .map_err(|e| anyhow::anyhow!("Failed to renew the lease of reminders: {e:?}"))?;
        for r in mail.reminders.iter().filter(|r| !held.iter().any(|h| h.id == r.id)) {
            round.taken_over += 1;
            tracing::warn!(reminder_id = %r.id, attempt = r.attempts, "another worker took this reminder over after its lease ran out; not sending it");
        }
        if !mail.keep_only(held) {
            return Ok(round);
        }
        let outcome = self.attempt(&mail, clock.now()).await;
        for r in &mail.reminders {
            match &outcome {
                Outcome::Sent { .. } => round.sent += 1,
                Outcome::RetryAt { error, .. } => {
                    round.retried += 1;
                    tracing::warn!(reminder_id = %r.id, attempt = r.attempts, error = %error, "reminder not sent; will retry");
                }
                Outcome::Failed { error } => {
                    round.failed += 1;
                    tracing::error!(reminder_id = %r.id, attempt = r.attempts, error = %error, "reminder failed");
                }
            }
            let recorded = reminders::settle(&self.store, r, outcome.clone(), clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("Failed to record a reminder's outcome: {e:?}"))?;
            if !recorded {
                tracing::warn!(reminder_id = %r.id, "another worker took this reminder over after its lease ran out");
            }
        }
        Ok(round)
    }

    /// Reads what each claimed reminder's e-mail says and puts together the contract reminders
    /// of a tenant with a daily digest that go to the same people: one e-mail for them all.
    async fn compose(&self, claimed: Vec<reminder::Model>) -> Vec<Mail> {
        let mut mails: Vec<Mail> = Vec::new();
        for r in claimed {
            let letter = reminders::letter(&self.store, &r).await;
            if let Ok(Some(letter)) = &letter
                && letter.digest
                && letter.contract.is_some()
                && let Some(mail) = mails.iter_mut().find(|m| m.joins(&r, letter))
            {
                mail.letters.push(letter.clone());
                mail.reminders.push(r);
                continue;
            }
            let (letters, problem) = match letter {
                Ok(Some(letter)) => (vec![letter], None),
                Ok(None) => (Vec::new(), Some(Problem::SubjectGone)),
                Err(e) => {
                    tracing::warn!(reminder_id = %r.id, error = ?e, "cannot read what a reminder says");
                    (Vec::new(), Some(Problem::Unreadable(unreadable_reason(&e))))
                }
            };
            mails.push(Mail {
                reminders: vec![r],
                letters,
                problem,
            });
        }
        mails
    }

    /// One attempt at an e-mail of one reminder or a digest of several.
    async fn attempt(&self, mail: &Mail, at: DateTime<Utc>) -> Outcome {
        match &mail.problem {
            Some(Problem::SubjectGone) => {
                return Outcome::Failed {
                    error: "its contract, follow-up or customer no longer exists".into(),
                };
            }
            Some(Problem::Unreadable(reason)) => {
                return self.retry_or_fail(mail, at, format!("cannot read the reminder's subject: {reason}"));
            }
            None => {}
        }
        let (Some(first), Some(letter)) = (mail.reminders.first(), mail.letters.first()) else {
            return Outcome::Failed {
                error: "nothing to send".into(),
            };
        };
        let to: Vec<Mailbox> = letter
            .recipients
            .iter()
            .filter_map(|(name, address)| mailbox(name, address))
            .collect();
        if to.is_empty() {
            return Outcome::Failed {
                error: "nobody to send it to: the responsible user is gone and the tenant has no admin".into(),
            };
        }
        let today = at.with_timezone(&letter.timezone).date_naive();
        let (rendered, message_id) = if mail.letters.len() == 1 {
            (render(letter, today, &self.frontend_url), self.message_id(first.id))
        } else {
            (
                render_digest(&mail.letters, today, &self.frontend_url),
                format!("<digest-{}@{}>", first.id, self.domain),
            )
        };
        let envelope = Envelope::for_tenant(
            &self.from,
            letter.sender_name.as_deref().unwrap_or(&letter.tenant_name),
            letter.reply_to.as_deref(),
            to,
            message_id,
        );
        match self.mailer.send(&envelope, &rendered).await {
            Ok(()) => Outcome::Sent {
                message_id: envelope.message_id,
            },
            Err(SendError::Permanent(error)) => Outcome::Failed { error },
            Err(SendError::Transient(error)) => self.retry_or_fail(mail, at, error),
        }
    }

    /// One retry time for the whole e-mail, so that a digest comes back together.
    fn retry_or_fail(&self, mail: &Mail, at: DateTime<Utc>, error: String) -> Outcome {
        let attempts = mail.reminders.iter().map(|r| r.attempts).max().unwrap_or(1);
        if attempts >= self.max_attempts {
            return Outcome::Failed {
                error: format!("gave up after {attempts} attempts: {error}"),
            };
        }
        Outcome::RetryAt {
            at: at + backoff(self.retry_base, attempts),
            error,
        }
    }

    /// Runs rounds every `interval` (at once again while there is more to send) until the
    /// stop flag is set; then hands back whatever it still holds.
    pub async fn run_forever(self, clock: Arc<dyn Clock>, interval: Duration) {
        while !self.stopping.load(Ordering::SeqCst) {
            let busy = match self.deliver_once(clock.as_ref()).await {
                Ok(round) => round.claimed == self.batch,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "reminder delivery round failed; will retry");
                    false
                }
            };
            if !busy {
                self.pause(interval).await;
            }
        }
    }

    /// Waits `interval`, or less if the stop flag is set meanwhile (a stop need not wait out
    /// the pause between rounds).
    async fn pause(&self, interval: Duration) {
        let until = tokio::time::Instant::now() + interval;
        while !self.stopping.load(Ordering::SeqCst) && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(100).min(interval)).await;
        }
    }
}

/// One e-mail to send: a reminder, or a digest of a recipient's contract reminders.
struct Mail {
    reminders: Vec<reminder::Model>,
    /// What each reminder says, in the same order; empty when `problem` is set.
    letters: Vec<Letter>,
    problem: Option<Problem>,
}

enum Problem {
    SubjectGone,
    /// Its subject could not be read, for this short reason (the cause is in the log).
    Unreadable(&'static str),
}

/// What a reminder's `lastError` says when its subject could not be read: the kind of trouble,
/// never the database's words (they name tables and hosts; the log has them).
fn unreadable_reason(err: &DomainError) -> &'static str {
    match err {
        DomainError::Unavailable(_) => "database unavailable",
        DomainError::Conflict(_) => "database busy",
        _ if err.db_err().is_some() => "database error",
        _ => "internal error",
    }
}

impl Mail {
    /// Narrows the e-mail to the reminders (renewed) in `held`, with their letters. False when
    /// none is left.
    fn keep_only(&mut self, held: Vec<reminder::Model>) -> bool {
        let mut letters = std::mem::take(&mut self.letters).into_iter();
        let mut kept = Vec::with_capacity(held.len());
        for r in std::mem::take(&mut self.reminders) {
            let letter = letters.next();
            if let Some(renewed) = held.iter().find(|h| h.id == r.id) {
                kept.push(renewed.clone());
                self.letters.extend(letter);
            }
        }
        self.reminders = kept;
        !self.reminders.is_empty()
    }

    /// Whether the contract reminder `r` (of a digest tenant) goes in this e-mail.
    fn joins(&self, r: &reminder::Model, letter: &Letter) -> bool {
        self.letters.first().is_some_and(|first| {
            first.digest
                && first.contract.is_some()
                && self.reminders.first().is_some_and(|f| f.tenant_id == r.tenant_id)
                && first.recipients == letter.recipients
        })
    }
}

/// The reminders' mail server and sender, as the API's test e-mails use them.
pub struct Postbox {
    mailer: Arc<Mailer>,
    from: Mailbox,
}

impl TestEmailTransport for Postbox {
    fn takes_address(&self, address: &str) -> bool {
        mailbox("", address).is_some()
    }

    fn send<'a>(&'a self, letter: &'a TestLetter) -> BoxFuture<'a, TestEmail> {
        Box::pin(async move {
            let rendered = render_test(letter.locale, &letter.tenant_name);
            let envelope = Envelope::for_tenant(
                &self.from,
                letter.sender_name.as_deref().unwrap_or(&letter.tenant_name),
                letter.reply_to.as_deref(),
                mailbox("", &letter.to).into_iter().collect(),
                format!("<test-{}@{}>", uuid::Uuid::now_v7(), self.from.email.domain()),
            );
            let error = match self.mailer.send(&envelope, &rendered).await {
                Ok(()) => None,
                Err(SendError::Permanent(e) | SendError::Transient(e)) => Some(e),
            };
            TestEmail {
                message_id: envelope.message_id,
                via_smtp: self.mailer.is_smtp(),
                error,
            }
        })
    }
}

fn sender(config: &Config) -> anyhow::Result<Mailbox> {
    config
        .smtp_from
        .parse()
        .map_err(|e| anyhow::anyhow!("DOSSIER_SMTP_FROM is not a mailbox: {e}"))
}

/// What a worker can surely send within one lease: each of its parallel sends finishes at
/// least `lease / exchange` e-mails in it, however slow the server. Reminders left waiting
/// longer would see their lease run out and be taken over before their turn.
fn batch_within(lease: Duration, exchange: Duration) -> u64 {
    let rounds = lease.as_millis() / exchange.as_millis().max(1);
    (PARALLEL_SENDS as u64)
        .saturating_mul(rounds as u64)
        .clamp(1, MAX_BATCH)
}

/// `base · 2^(attempt−1)`, at most an hour, times a random factor in [0.8, 1.2) so that
/// reminders failing together do not all come back at the same moment.
fn backoff(base: Duration, attempt: i32) -> chrono::Duration {
    let exponent = attempt.clamp(1, 20) as u32 - 1;
    let plain = base.as_millis().saturating_mul(1u128 << exponent).min(3_600_000) as f64;
    let jitter = 0.8 + f64::from(OsRng.next_u32() % 400) / 1000.0;
    chrono::Duration::milliseconds((plain * jitter) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_to_read_a_reminder_reads_as_its_kind_never_the_databases_text() {
        use sea_orm::{DbErr, RuntimeErr};
        let away = DomainError::from(DbErr::Conn(RuntimeErr::Internal(
            "connection to 10.1.2.3:5432 refused".into(),
        )));
        assert_eq!(unreadable_reason(&away), "database unavailable");
        let broken = DomainError::from(DbErr::Custom("relation \"contracts\" does not exist".into()));
        assert_eq!(unreadable_reason(&broken), "database error");
        let bug = DomainError::Internal(anyhow::anyhow!("tenant 42 has an unknown time zone"));
        assert_eq!(unreadable_reason(&bug), "internal error");
    }

    #[test]
    fn a_batch_is_what_the_parallel_sends_surely_finish_within_a_lease() {
        let s = Duration::from_secs;
        assert_eq!(batch_within(s(300), s(30)), 40);
        assert_eq!(batch_within(s(4), s(3)), 4);
        assert_eq!(batch_within(s(3600), s(3)), MAX_BATCH);
    }

    #[test]
    fn backoff_doubles_within_its_jitter_and_stops_growing_at_an_hour() {
        let base = Duration::from_secs(30);
        for (attempt, plain) in [(1, 30_000), (2, 60_000), (3, 120_000), (12, 3_600_000)] {
            let ms = backoff(base, attempt).num_milliseconds();
            assert!(
                (plain * 8 / 10..plain * 12 / 10).contains(&ms),
                "attempt {attempt}: {ms} ms"
            );
        }
    }
}
