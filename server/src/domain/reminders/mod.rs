//! Reminder e-mails: planned into the `reminders` outbox once per occasion, sent by workers.
//!
//! Contracts and follow-ups carry the moment their next reminder falls due
//! (`contracts.next_reminder_on`, a local day; `follow_ups.remind_at`), kept on every write,
//! so planning reads only what is due through a per-tenant index. A unique key per
//! (tenant, kind, subject, occasion) makes planning safe to repeat and to run on every replica.

pub mod manage;
pub mod test_email;

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use entity::enums::{ReminderKind, ReminderStatus, RenewalState};
use entity::{contract, customer, follow_up, reminder};
use sea_orm::sea_query::{Condition, Expr, OnConflict};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::{DomainError, DomainResult, Store, TenantTx, now, tenants};

/// Subjects planned per tenant and pass; what is left waits for the next pass.
const PLAN_BATCH: u64 = 1000;

/// Reminders inserted per statement: well within both databases' limits on bound values.
const INSERT_CHUNK: usize = 500;

/// The occasion of a contract reminder: its end date and the offset, so that a moved end
/// date plans its reminders anew.
pub fn contract_occasion(end: NaiveDate, offset_days: u16) -> String {
    format!("end:{end}/offset:{offset_days}")
}

/// The occasion of a follow-up reminder: the due time it announces.
pub fn follow_up_occasion(due_at: DateTime<Utc>) -> String {
    format!("due:{}", due_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// When a follow-up due at `due_at` is announced.
pub(crate) fn remind_at(due_at: DateTime<Utc>, lead_minutes: i32) -> DateTime<Utc> {
    due_at - chrono::Duration::minutes(i64::from(lead_minutes))
}

/// Cancels the reminders of a subject still waiting to go out (one being sent right now
/// finishes). Returns how many were cancelled.
pub(crate) async fn cancel_pending(tx: &TenantTx, kind: ReminderKind, subject_id: Uuid) -> DomainResult<u64> {
    let of_subject = Condition::all()
        .add(reminder::Column::Kind.eq(kind))
        .add(reminder::Column::SubjectId.eq(subject_id));
    cancel_waiting(tx, of_subject).await
}

/// Cancels the waiting reminders of every subject of a customer (archived customers get none).
pub(crate) async fn cancel_pending_for_customer(tx: &TenantTx, customer_id: Uuid) -> DomainResult<u64> {
    cancel_waiting(tx, Condition::all().add(reminder::Column::CustomerId.eq(customer_id))).await
}

async fn cancel_waiting(tx: &TenantTx, which: Condition) -> DomainResult<u64> {
    tx.update::<reminder::Entity>()
        .filter(which)
        .filter(reminder::Column::Status.eq(ReminderStatus::Pending))
        .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Cancelled))
        .col_expr(reminder::Column::UpdatedAt, Expr::value(now()))
        .exec(tx)
        .await
}

/// The first instant of a local day; on a day that starts inside a DST gap, the first
/// instant that exists.
pub fn start_of_day(tz: chrono_tz::Tz, day: NaiveDate) -> DateTime<Utc> {
    let mut local = day.and_time(NaiveTime::MIN);
    for _ in 0..4 {
        if let Some(t) = tz.from_local_datetime(&local).earliest() {
            return t.with_timezone(&Utc);
        }
        local += chrono::Duration::minutes(30);
    }
    tz.from_utc_datetime(&local).with_timezone(&Utc)
}

/// When a contract reminder of `day` goes out: at the start of the day, or at the tenant's
/// digest hour, with the recipient's other contract reminders of the day.
pub fn contract_reminder_due(tz: chrono_tz::Tz, day: NaiveDate, digest_hour: Option<i32>) -> DateTime<Utc> {
    let start = start_of_day(tz, day);
    match digest_hour {
        Some(hour) => {
            let hour = hour.clamp(0, 23);
            NaiveTime::from_hms_opt(hour as u32, 0, 0)
                .and_then(|time| tz.from_local_datetime(&day.and_time(time)).earliest())
                .map_or(start + chrono::Duration::hours(i64::from(hour)), |t| {
                    t.with_timezone(&Utc)
                })
        }
        None => start,
    }
}

/// What a due contract gets: the reminder of the smallest offset whose day has come (larger
/// ones missed meanwhile are superseded by it), and the day the next smaller offset comes.
/// `None` when the contract has ended.
pub fn contract_step(end: NaiveDate, offsets_desc: &[u16], today: NaiveDate) -> Option<(u16, Option<NaiveDate>)> {
    if end < today {
        return None;
    }
    let day_of = |o: u16| end.checked_sub_days(Days::new(u64::from(o))).unwrap_or(NaiveDate::MIN);
    let arrived = offsets_desc.iter().copied().filter(|o| day_of(*o) <= today).min()?;
    let next = offsets_desc.iter().copied().filter(|o| *o < arrived).max().map(day_of);
    Some((arrived, next))
}

/// Plans the reminders of one tenant that are due at `at`: contracts whose next reminder day
/// has come in the tenant's time zone, and open follow-ups whose reminder time has come.
/// Returns how many reminders it created (zero when every one existed already).
pub async fn plan_tenant(store: &Store, tenant_id: Uuid, at: DateTime<Utc>) -> DomainResult<u64> {
    let tx = store.begin_tenant_job(tenant_id).await?;
    let calendar = tenants::calendar(&tx).await?;
    let digest_hour = tx.tenant().await?.daily_digest_hour;
    let tz = calendar.timezone;
    let today = at.with_timezone(&tz).date_naive();
    let default_offsets = calendar.contract_offsets_days;
    let stamp = now();
    let mut planned: Vec<reminder::ActiveModel> = Vec::new();

    let contracts = tx
        .select::<contract::Entity>()
        .filter(contract::Column::NextReminderOn.lte(today))
        .limit(PLAN_BATCH)
        .all(&tx)
        .await?;
    let owners = owners_of(&tx, contracts.iter().map(|c| c.customer_id)).await?;
    for c in &contracts {
        let mut offsets: Vec<u16> = c
            .reminder_offsets_days
            .as_ref()
            .and_then(|j| serde_json::from_value(j.clone()).ok())
            .unwrap_or_else(|| default_offsets.clone());
        offsets.sort_unstable_by(|a, b| b.cmp(a));
        let live = c.terminated_at.is_none() && c.renewal_state != RenewalState::Renewed;
        let owner = owners.get(&c.customer_id);
        let step = match owner {
            Some(Some(owner)) if live => contract_step(c.end_date, &offsets, today).map(|s| (s, *owner)),
            // Archived customers, ended or finished contracts: nothing more to remind of.
            _ => None,
        };
        let next = step.and_then(|((_, next), _)| next);
        if let Some(((offset, _), owner)) = step {
            let day = c.end_date - Days::new(u64::from(offset));
            planned.push(new_reminder(
                ReminderKind::ContractExpiry,
                c.id,
                c.customer_id,
                contract_occasion(c.end_date, offset),
                Some(i32::from(offset)),
                Some(owner),
                contract_reminder_due(tz, day, digest_hour),
                stamp,
            ));
        }
        tx.update::<contract::Entity>()
            .filter(contract::Column::Id.eq(c.id))
            .col_expr(contract::Column::NextReminderOn, Expr::value(next))
            .exec(&tx)
            .await?;
    }

    let follow_ups = tx
        .select::<follow_up::Entity>()
        .filter(follow_up::Column::RemindAt.lte(at))
        .limit(PLAN_BATCH)
        .all(&tx)
        .await?;
    for f in &follow_ups {
        if f.completed_at.is_none()
            && let Some(remind_at) = f.remind_at
        {
            planned.push(new_reminder(
                ReminderKind::FollowUp,
                f.id,
                f.customer_id,
                follow_up_occasion(f.due_at),
                None,
                Some(f.assignee_id),
                remind_at,
                stamp,
            ));
        }
        tx.update::<follow_up::Entity>()
            .filter(follow_up::Column::Id.eq(f.id))
            .col_expr(follow_up::Column::RemindAt, Expr::value(Option::<DateTime<Utc>>::None))
            .exec(&tx)
            .await?;
    }

    let created = insert_new(&tx, planned).await?;
    tx.commit().await?;
    Ok(created)
}

/// Inserts reminders, skipping those whose occasion is already planned (by this or another
/// planner: the occasion's unique key); returns how many were new, which are those whose
/// fresh ids made it in.
async fn insert_new(tx: &TenantTx, rows: Vec<reminder::ActiveModel>) -> DomainResult<u64> {
    let mut created = 0;
    for chunk in rows.chunks(INSERT_CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().filter_map(|r| r.id.try_as_ref().copied()).collect();
        tx.insert_many(chunk.to_vec(), Some(OnConflict::new().do_nothing().to_owned()))
            .await?;
        created += tx
            .select::<reminder::Entity>()
            .filter(reminder::Column::Id.is_in(ids))
            .count(tx)
            .await?;
    }
    Ok(created)
}

/// The owner of each customer, `None` for an archived customer.
async fn owners_of(tx: &TenantTx, ids: impl Iterator<Item = Uuid>) -> DomainResult<HashMap<Uuid, Option<Uuid>>> {
    let mut ids: Vec<Uuid> = ids.collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx
        .select::<customer::Entity>()
        .filter(customer::Column::Id.is_in(ids))
        .all(tx)
        .await?;
    Ok(rows
        .into_iter()
        .map(|c| (c.id, c.archived_at.is_none().then_some(c.owner_id)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
fn new_reminder(
    kind: ReminderKind,
    subject_id: Uuid,
    customer_id: Uuid,
    occasion: String,
    offset_days: Option<i32>,
    recipient: Option<Uuid>,
    due_at: DateTime<Utc>,
    stamp: DateTime<Utc>,
) -> reminder::ActiveModel {
    use sea_orm::ActiveValue::Set;
    reminder::ActiveModel {
        id: Set(Uuid::now_v7()),
        kind: Set(kind),
        subject_id: Set(subject_id),
        customer_id: Set(customer_id),
        occasion: Set(occasion),
        offset_days: Set(offset_days),
        recipient_user_id: Set(recipient),
        due_at: Set(due_at),
        status: Set(ReminderStatus::Pending),
        attempts: Set(0),
        next_attempt_at: Set(due_at),
        lease_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        message_id: Set(None),
        created_at: Set(stamp),
        updated_at: Set(stamp),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn the_smallest_arrived_offset_is_planned_and_the_next_one_scheduled() {
        let end = day("2026-12-31");
        let offsets = [90, 30, 7];
        assert_eq!(
            contract_step(end, &offsets, day("2026-10-01")),
            None,
            "90 days before is 10-02"
        );
        assert_eq!(
            contract_step(end, &offsets, day("2026-10-02")),
            Some((90, Some(day("2026-12-01"))))
        );
        assert_eq!(
            contract_step(end, &offsets, day("2026-12-01")),
            Some((30, Some(day("2026-12-24"))))
        );
        assert_eq!(contract_step(end, &offsets, day("2026-12-24")), Some((7, None)));
        assert_eq!(
            contract_step(end, &offsets, day("2026-12-28")),
            Some((7, None)),
            "a contract found late gets its nearest reminder only"
        );
        assert_eq!(contract_step(end, &offsets, day("2027-01-01")), None, "ended");
    }

    #[test]
    fn a_day_starts_at_its_first_existing_instant() {
        let ny: chrono_tz::Tz = "America/New_York".parse().unwrap();
        assert_eq!(
            start_of_day(ny, day("2026-03-08")).to_rfc3339(),
            "2026-03-08T05:00:00+00:00"
        );
        assert_eq!(
            start_of_day(ny, day("2026-03-09")).to_rfc3339(),
            "2026-03-09T04:00:00+00:00"
        );
        let sh: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        assert_eq!(
            start_of_day(sh, day("2026-12-01")).to_rfc3339(),
            "2026-11-30T16:00:00+00:00"
        );
    }
}

/// Claims up to `batch` reminders that are due at `at` (or whose lease ran out: their worker
/// died mid-send) for `lease`. On PostgreSQL concurrent claimers skip each other's rows
/// (`FOR UPDATE SKIP LOCKED`); on SQLite the write lock makes claiming one at a time.
pub async fn claim(
    store: &Store,
    at: DateTime<Utc>,
    lease: std::time::Duration,
    batch: u64,
) -> DomainResult<Vec<reminder::Model>> {
    // The worker's handle is a plain connection on purpose: claims cross tenants, and on
    // PostgreSQL it sees the reminders table and nothing else.
    let tx = store.begin_reminder_worker().await?;
    let backend = tx.get_database_backend();
    let until = at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5));
    let sql = if backend == sea_orm::DbBackend::Postgres {
        "UPDATE reminders SET status = 'sending', attempts = attempts + 1, lease_until = $1, updated_at = $2
         WHERE id IN (
             SELECT id FROM reminders
             WHERE (status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND lease_until < $2)
             ORDER BY next_attempt_at, tenant_id, recipient_user_id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING *"
    } else {
        "UPDATE reminders SET status = 'sending', attempts = attempts + 1, lease_until = $1, updated_at = $2
         WHERE id IN (
             SELECT id FROM reminders
             WHERE (status = 'pending' AND next_attempt_at <= $2) OR (status = 'sending' AND lease_until < $2)
             ORDER BY next_attempt_at, tenant_id, recipient_user_id LIMIT $3)
         RETURNING *"
    };
    let claimed = reminder::Model::find_by_statement(sea_orm::Statement::from_sql_and_values(
        backend,
        sql,
        [until.into(), at.into(), (batch as i64).into()],
    ))
    .all(&tx)
    .await?;
    tx.commit().await?;
    Ok(claimed)
}

/// The rows a worker still holds: the same claim (attempt and lease) and still sending. A
/// worker that took a reminder over after its lease ran out counted another attempt and set a
/// lease of its own, so the first worker's fence no longer matches.
fn still_held(held: &reminder::Model) -> Condition {
    Condition::all()
        .add(reminder::Column::Id.eq(held.id))
        .add(reminder::Column::Status.eq(ReminderStatus::Sending))
        .add(reminder::Column::Attempts.eq(held.attempts))
        .add(match held.lease_until {
            Some(lease) => reminder::Column::LeaseUntil.eq(lease),
            None => reminder::Column::LeaseUntil.is_null(),
        })
}

/// Extends, just before their e-mail goes out, the lease of the claimed reminders this worker
/// still holds, to `lease` from `at`. Returns those, with their new lease; one missing from the
/// answer was taken over (or handed back) and must not be sent.
pub async fn renew(
    store: &Store,
    held: &[reminder::Model],
    at: DateTime<Utc>,
    lease: std::time::Duration,
) -> DomainResult<Vec<reminder::Model>> {
    use chrono::SubsecRound;
    // PostgreSQL keeps microseconds: the value written is the one the next fence compares.
    let until = (at + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::minutes(5))).trunc_subsecs(6);
    let tx = store.begin_reminder_worker().await?;
    let mut renewed = Vec::with_capacity(held.len());
    for r in held {
        let extended = reminder::Entity::update_many()
            .filter(still_held(r))
            .col_expr(reminder::Column::LeaseUntil, Expr::value(Some(until)))
            .col_expr(reminder::Column::UpdatedAt, Expr::value(at))
            .exec(&tx)
            .await?
            .rows_affected
            == 1;
        if extended {
            renewed.push(reminder::Model {
                lease_until: Some(until),
                updated_at: at,
                ..r.clone()
            });
        }
    }
    tx.commit().await?;
    Ok(renewed)
}

/// How a claimed reminder's attempt ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    Sent {
        message_id: String,
    },
    /// Try again at this time (a transient failure).
    RetryAt {
        at: DateTime<Utc>,
        error: String,
    },
    /// Give up (a permanent refusal, too many attempts, or nobody to send it to).
    Failed {
        error: String,
    },
}

/// Records how an attempt ended, if the reminder is still this worker's (same attempt and
/// lease, still sending): a worker whose lease ran out and was overtaken records nothing.
/// Returns whether it was recorded.
pub async fn settle(
    store: &Store,
    claimed: &reminder::Model,
    outcome: Outcome,
    at: DateTime<Utc>,
) -> DomainResult<bool> {
    use sea_orm::sea_query::Expr;
    let tx = store.begin_reminder_worker().await?;
    let mut update = reminder::Entity::update_many()
        .filter(still_held(claimed))
        .col_expr(reminder::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
        .col_expr(reminder::Column::UpdatedAt, Expr::value(at));
    update = match outcome {
        Outcome::Sent { message_id } => update
            .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Sent))
            .col_expr(reminder::Column::SentAt, Expr::value(Some(at)))
            .col_expr(reminder::Column::MessageId, Expr::value(Some(message_id)))
            .col_expr(reminder::Column::LastError, Expr::value(Option::<String>::None)),
        Outcome::RetryAt { at: next, error } => update
            .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Pending))
            .col_expr(reminder::Column::NextAttemptAt, Expr::value(next))
            .col_expr(reminder::Column::LastError, Expr::value(Some(error))),
        Outcome::Failed { error } => update
            .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Failed))
            .col_expr(reminder::Column::LastError, Expr::value(Some(error))),
    };
    let done = update.exec(&tx).await?.rows_affected == 1;
    tx.commit().await?;
    Ok(done)
}

/// Hands claimed reminders back untried (a worker stopping): due again at once, the attempt
/// not counted.
pub async fn release(store: &Store, claimed: &[reminder::Model]) -> DomainResult<u64> {
    use sea_orm::sea_query::Expr;
    let tx = store.begin_reminder_worker().await?;
    let mut released = 0;
    for r in claimed {
        released += reminder::Entity::update_many()
            .filter(still_held(r))
            .col_expr(reminder::Column::Status, Expr::value(ReminderStatus::Pending))
            .col_expr(reminder::Column::Attempts, Expr::value(r.attempts - 1))
            .col_expr(reminder::Column::LeaseUntil, Expr::value(Option::<DateTime<Utc>>::None))
            .exec(&tx)
            .await?
            .rows_affected;
    }
    tx.commit().await?;
    Ok(released)
}

/// Everything a reminder e-mail says, read in its tenant's scope.
#[derive(Debug, Clone)]
pub struct Letter {
    pub reminder_id: Uuid,
    pub kind: ReminderKind,
    pub locale: entity::enums::Locale,
    pub timezone: chrono_tz::Tz,
    pub tenant_name: String,
    pub sender_name: Option<String>,
    pub reply_to: Option<String>,
    /// The tenant sends a recipient's contract reminders of a day together, at its digest hour.
    pub digest: bool,
    /// (name, address) of each recipient: the responsible user, or the admins if they are gone;
    /// the tenant's extra recipient too.
    pub recipients: Vec<(String, String)>,
    pub customer_id: Uuid,
    pub customer_name: String,
    pub contract: Option<ContractFacts>,
    pub follow_up: Option<FollowUpFacts>,
}

#[derive(Debug, Clone)]
pub struct ContractFacts {
    pub number: String,
    pub title: String,
    pub end_date: NaiveDate,
    pub offset_days: i32,
}

#[derive(Debug, Clone)]
pub struct FollowUpFacts {
    pub due_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Reads what the e-mail of a claimed reminder needs, in a transaction of its tenant. `None`
/// when its subject is gone.
pub async fn letter(store: &Store, r: &reminder::Model) -> DomainResult<Option<Letter>> {
    use entity::enums::Role;
    use entity::user;
    let tx = store.begin_tenant_job(r.tenant_id).await?;
    let tenant = match tx.tenant().await {
        Ok(tenant) => tenant,
        Err(DomainError::NotFound(_)) => return Ok(None),
        Err(other) => return Err(other),
    };
    let Some(customer) = tx
        .select::<customer::Entity>()
        .filter(customer::Column::Id.eq(r.customer_id))
        .one(&tx)
        .await?
    else {
        return Ok(None);
    };
    let (contract, follow_up, responsible) = match r.kind {
        ReminderKind::ContractExpiry => {
            let Some(c) = tx
                .select::<contract::Entity>()
                .filter(contract::Column::Id.eq(r.subject_id))
                .one(&tx)
                .await?
            else {
                return Ok(None);
            };
            let facts = ContractFacts {
                number: c.number,
                title: c.title,
                end_date: c.end_date,
                offset_days: r.offset_days.unwrap_or_default(),
            };
            (Some(facts), None, customer.owner_id)
        }
        ReminderKind::FollowUp => {
            let Some(f) = tx
                .select::<follow_up::Entity>()
                .filter(follow_up::Column::Id.eq(r.subject_id))
                .one(&tx)
                .await?
            else {
                return Ok(None);
            };
            let facts = FollowUpFacts {
                due_at: f.due_at,
                note: f.note,
            };
            (None, Some(facts), f.assignee_id)
        }
    };
    // The responsible user, or when they are gone the tenant's admins; never the customer.
    let active = || tx.select::<user::Entity>().filter(user::Column::Active.eq(true));
    let mut users = active().filter(user::Column::Id.eq(responsible)).all(&tx).await?;
    if users.is_empty() {
        let admins = <Role as sea_orm::Iterable>::iter().filter(|role| *role >= Role::Admin);
        users = active().filter(user::Column::Role.is_in(admins)).all(&tx).await?;
    }
    // A zone that no longer parses fails the letter (retried, then failed) rather than
    // telling the recipients UTC dates.
    let timezone = tx.context().await?.timezone;
    tx.commit().await?;
    let mut recipients: Vec<(String, String)> = users.into_iter().map(|u| (u.name, u.email)).collect();
    if let Some(extra) = &tenant.reminder_extra_recipient
        && !recipients.iter().any(|(_, a)| a == extra)
    {
        recipients.push((String::new(), extra.clone()));
    }
    Ok(Some(Letter {
        reminder_id: r.id,
        kind: r.kind,
        locale: tenant.locale,
        timezone,
        tenant_name: tenant.name,
        sender_name: tenant.reminder_sender_name,
        reply_to: tenant.reminder_reply_to,
        digest: tenant.daily_digest_hour.is_some(),
        recipients,
        customer_id: customer.id,
        customer_name: customer.name,
        contract,
        follow_up,
    }))
}
