//! Upgrades: what is pending is reported (`dossier migrate --check`), replicas migrating
//! one database at once apply each migration once, and every migration keeps the rows
//! written before it.

use std::collections::{BTreeMap, BTreeSet};

use dossier::domain::Store;
use dossier_tests::{empty_database, postgres_base_url};
use migration::rls::APP_ROLE;
use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use uuid::Uuid;

fn data_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dossier-migrations-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("data dir");
    dir
}

async fn store_over(database_url: &str) -> Store {
    let vars = [
        ("DOSSIER_DATABASE_URL", database_url.to_owned()),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET.to_owned()),
        ("DOSSIER_MASTER_KEYS", dossier::crypto::MasterKeyRing::generate_spec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let config = dossier::Config::from_vars(&vars).expect("valid settings");
    Store::connect(&config).await.expect("store connects")
}

fn every_migration() -> Vec<String> {
    Migrator::migrations().iter().map(|m| m.name().to_owned()).collect()
}

#[tokio::test]
async fn pending_migrations_are_listed_until_they_are_applied() {
    let dir = data_dir();
    let (url, _database) = empty_database(&dir).await;
    let store = store_over(&url).await;

    let pending = store.pending_migrations().await.expect("pending migrations");
    assert!(!pending.is_empty());
    assert_eq!(pending, every_migration(), "an empty database lacks every migration");

    store.migrate().await.expect("migrated");
    assert_eq!(
        store.pending_migrations().await.expect("pending migrations"),
        Vec::<String>::new()
    );
    // Migrating again changes nothing.
    store.migrate().await.expect("migrated again");
    assert_eq!(
        store.pending_migrations().await.expect("pending migrations"),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn replicas_migrating_one_database_at_once_apply_each_migration_once() {
    // SQLite admits one Dossier process per database file; replicas share PostgreSQL only.
    if postgres_base_url().is_none() {
        return;
    }
    let dir = data_dir();
    let (url, _database) = empty_database(&dir).await;
    let replicas = [store_over(&url).await, store_over(&url).await, store_over(&url).await];

    let outcomes = futures_util::future::join_all(replicas.iter().map(|store| store.migrate())).await;
    for outcome in outcomes {
        outcome.expect("every replica's migrate succeeds");
    }

    let db = Database::connect(&url).await.expect("raw connection");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, COUNT(*) FROM seaql_migrations GROUP BY version ORDER BY version",
        ))
        .await
        .expect("applied migrations");
    let applied: Vec<(String, i64)> = rows
        .iter()
        .map(|row| {
            (
                row.try_get_by_index::<String>(0).expect("version"),
                row.try_get_by_index::<i64>(1).expect("count"),
            )
        })
        .collect();
    let once: Vec<(String, i64)> = every_migration().into_iter().map(|name| (name, 1)).collect();
    assert_eq!(applied, once, "each migration recorded exactly once");
    for store in &replicas {
        assert!(store.pending_migrations().await.expect("pending").is_empty());
    }
}

/// What one migration brings to [`every_migration_keeps_the_rows_written_before_it`].
struct Seed {
    /// The migration's name, as `Migrator::migrations()` gives it.
    migration: &'static str,
    /// Run right after the migration, before the next one, so they are valid for the schema
    /// of that moment. Each writes one row: `INSERT INTO <table> ...` (which the row counts
    /// count) or `UPDATE ...`. `{name}` stands for the id of that name in [`IDS`].
    writes: &'static [&'static str],
    /// Run after the last migration: a query returning one text value, and that value. They
    /// cover every table the migration creates or alters, the defaults its new columns gave
    /// the rows already there included.
    checks: &'static [(&'static str, &'static str)],
}

/// The ids of the seeded rows. In the SQL, `{name}` becomes the id as the server stores it:
/// a 16-byte blob on SQLite, a quoted string (cast to uuid) on PostgreSQL.
const IDS: &[(&str, &str)] = &[
    ("tenant", "d0551e70-0000-4000-8000-000000000001"),
    ("owner", "d0551e70-0000-4000-8000-000000000002"),
    ("api_key", "d0551e70-0000-4000-8000-000000000003"),
    ("audit_key_created", "d0551e70-0000-4000-8000-000000000004"),
    ("audit_status_changed", "d0551e70-0000-4000-8000-000000000005"),
    ("audit_contact_revealed", "d0551e70-0000-4000-8000-000000000006"),
    ("customer", "d0551e70-0000-4000-8000-000000000010"),
    ("duplicate", "d0551e70-0000-4000-8000-000000000011"),
    ("tag", "d0551e70-0000-4000-8000-000000000012"),
    ("status_created", "d0551e70-0000-4000-8000-000000000013"),
    ("status_changed", "d0551e70-0000-4000-8000-000000000014"),
    ("contact", "d0551e70-0000-4000-8000-000000000020"),
    ("sale", "d0551e70-0000-4000-8000-000000000030"),
    ("contract", "d0551e70-0000-4000-8000-000000000031"),
    ("renewal", "d0551e70-0000-4000-8000-000000000032"),
    ("interaction", "d0551e70-0000-4000-8000-000000000033"),
    ("follow_up", "d0551e70-0000-4000-8000-000000000034"),
    ("feedback", "d0551e70-0000-4000-8000-000000000035"),
    ("field_tier", "d0551e70-0000-4000-8000-000000000040"),
    ("field_tax_id", "d0551e70-0000-4000-8000-000000000041"),
    ("customer_with_fields", "d0551e70-0000-4000-8000-000000000042"),
    ("later_follow_up", "d0551e70-0000-4000-8000-000000000050"),
    ("contract_reminder", "d0551e70-0000-4000-8000-000000000051"),
    ("follow_up_reminder", "d0551e70-0000-4000-8000-000000000052"),
];

/// One entry per migration, in order. A new migration adds its entry here: rows of the tables
/// it creates, rows using the columns it adds, and checks of both and of the defaults it gave
/// the rows of the entries before.
///
/// JSON read back from a jsonb column is as PostgreSQL prints it (`{"key": "value"}`, shorter
/// keys first); SQLite keeps the text as written, so the seeds are written that way.
const SEEDS: &[Seed] = &[
    Seed {
        migration: "m20261125_000001_tenancy",
        writes: &[
            "INSERT INTO tenants (id, name, slug, timezone, locale, created_at, updated_at) \
             VALUES ({tenant}, 'Acme Trading', 'acme', 'Asia/Shanghai', 'zh-CN', \
             '2026-11-25T10:00:00+00:00', '2026-11-25T10:00:00+00:00')",
            "INSERT INTO users (id, tenant_id, email, name, role, password_hash, created_at, updated_at) \
             VALUES ({owner}, {tenant}, 'li.wei@acme.example', 'Li Wei', 'owner', \
             '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo', \
             '2026-11-25T10:00:00+00:00', '2026-11-25T10:00:00+00:00')",
            "INSERT INTO api_keys (id, tenant_id, name, role, prefix, secret_hash, created_by, created_at, \
             last_used_at) \
             VALUES ({api_key}, {tenant}, 'ERP sync', 'sales', 'dsk_3f9a', \
             '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', {owner}, \
             '2026-11-25T10:05:00+00:00', '2026-11-25T11:00:00+00:00')",
            "INSERT INTO audit_log (id, tenant_id, actor_user_id, actor_api_key_id, action, entity, entity_id, \
             changed_fields, request_id, created_at) \
             VALUES ({audit_key_created}, {tenant}, {owner}, NULL, 'api_key.create', 'api_key', {api_key}, \
             '[\"name\",\"role\"]', 'req-0001', '2026-11-25T10:05:00+00:00')",
        ],
        checks: &[
            (
                "SELECT name || ' | ' || slug || ' | ' || timezone || ' | ' || locale FROM tenants \
                 WHERE id = {tenant} AND created_at = '2026-11-25T10:00:00+00:00'",
                "Acme Trading | acme | Asia/Shanghai | zh-CN",
            ),
            (
                "SELECT email || ' ' || name || ' ' || role || CASE WHEN active THEN ' active' ELSE ' inactive' END \
                 FROM users WHERE id = {owner} AND tenant_id = {tenant}",
                "li.wei@acme.example Li Wei owner active",
            ),
            (
                "SELECT password_hash FROM users WHERE id = {owner}",
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
            ),
            (
                "SELECT k.name || ' ' || k.role || ' ' || k.prefix || ' by ' || u.name FROM api_keys k \
                 JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.created_by \
                 WHERE k.id = {api_key} AND k.created_at = '2026-11-25T10:05:00+00:00' \
                 AND k.last_used_at = '2026-11-25T11:00:00+00:00' AND k.revoked_at IS NULL",
                "ERP sync sales dsk_3f9a by Li Wei",
            ),
            (
                "SELECT name FROM api_keys WHERE tenant_id = {tenant} \
                 AND secret_hash = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'",
                "ERP sync",
            ),
            (
                "SELECT action || ' ' || entity || ' ' || CAST(changed_fields AS TEXT) || ' ' || request_id \
                 FROM audit_log WHERE id = {audit_key_created} AND tenant_id = {tenant} AND actor_user_id = {owner} \
                 AND actor_api_key_id IS NULL AND entity_id = {api_key} AND created_at = '2026-11-25T10:05:00+00:00'",
                "api_key.create api_key [\"name\",\"role\"] req-0001",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000002_customers",
        writes: &[
            "INSERT INTO customers (id, tenant_id, code, kind, name, company_name, source, first_contact_date, \
             owner_id, status, gender, birthday, age_band, occupation, position, industry, company_size, region, \
             city, budget_min_minor, budget_max_minor, budget_currency, preferred_channel, hobbies, family_notes, \
             special_needs, notes, created_by, created_at, updated_at) \
             VALUES ({customer}, {tenant}, 'C-0000001', 'company', 'Wang Fang', 'Beijing Tea House', 'referral', \
             '2026-11-01', {owner}, 'potential', 'female', '1980-05-17', '45_54', 'Buyer', 'Head of purchasing', \
             'Retail', 'small', 'North China', 'Beijing', 5000000, 20000000, 'CNY', 'wechat', 'Tea ceremony', \
             'Two children', 'Invoices in English', 'Met at the autumn fair', {owner}, \
             '2026-11-25T10:10:00+00:00', '2026-11-25T10:10:00+00:00')",
            "INSERT INTO customers (id, tenant_id, code, kind, name, source, first_contact_date, owner_id, status, \
             created_by, created_at, updated_at) \
             VALUES ({duplicate}, {tenant}, 'C-0000002', 'individual', 'Wang Fang', 'online', '2026-11-20', \
             {owner}, 'potential', {owner}, '2026-11-25T10:20:00+00:00', '2026-11-25T10:20:00+00:00')",
            "UPDATE tenants SET customer_seq = 2, updated_at = '2026-11-25T10:20:00+00:00' WHERE id = {tenant}",
            "INSERT INTO tags (id, tenant_id, name, color, created_at) \
             VALUES ({tag}, {tenant}, 'VIP', '#d4af37', '2026-11-25T10:11:00+00:00')",
            "INSERT INTO customer_tags (tenant_id, customer_id, tag_id) VALUES ({tenant}, {customer}, {tag})",
            "INSERT INTO customer_status_history (id, tenant_id, customer_id, from_status, to_status, \
             actor_user_id, note, changed_at) \
             VALUES ({status_created}, {tenant}, {customer}, NULL, 'potential', {owner}, NULL, \
             '2026-11-25T10:10:00+00:00')",
        ],
        checks: &[
            (
                "SELECT code || ' ' || kind || ' ' || name || ' (' || company_name || ') ' || source \
                 FROM customers WHERE id = {customer} AND tenant_id = {tenant}",
                "C-0000001 company Wang Fang (Beijing Tea House) referral",
            ),
            (
                "SELECT CAST(first_contact_date AS TEXT) || ' ' || CAST(birthday AS TEXT) || ' ' || gender || ' ' \
                 || age_band FROM customers WHERE id = {customer}",
                "2026-11-01 1980-05-17 female 45_54",
            ),
            (
                "SELECT occupation || ' | ' || position || ' | ' || industry || ' | ' || company_size || ' | ' \
                 || region || ' | ' || city FROM customers WHERE id = {customer}",
                "Buyer | Head of purchasing | Retail | small | North China | Beijing",
            ),
            (
                "SELECT CAST(budget_min_minor AS TEXT) || '..' || CAST(budget_max_minor AS TEXT) || ' ' \
                 || budget_currency || ' via ' || preferred_channel FROM customers WHERE id = {customer}",
                "5000000..20000000 CNY via wechat",
            ),
            (
                "SELECT hobbies || ' | ' || family_notes || ' | ' || special_needs || ' | ' || notes \
                 FROM customers WHERE id = {customer}",
                "Tea ceremony | Two children | Invoices in English | Met at the autumn fair",
            ),
            (
                "SELECT u.name FROM customers c JOIN users u ON u.tenant_id = c.tenant_id AND u.id = c.owner_id \
                 WHERE c.id = {customer} AND c.created_by = {owner} AND c.created_at = '2026-11-25T10:10:00+00:00' \
                 AND c.archived_at IS NULL",
                "Li Wei",
            ),
            (
                "SELECT code || ' ' || kind || ' ' || source || ' ' || CAST(first_contact_date AS TEXT) \
                 FROM customers WHERE id = {duplicate} AND company_name IS NULL AND birthday IS NULL \
                 AND budget_min_minor IS NULL AND notes IS NULL",
                "C-0000002 individual online 2026-11-20",
            ),
            (
                "SELECT c.code || ' ' || t.name || ' ' || t.color FROM customer_tags ct \
                 JOIN customers c ON c.tenant_id = ct.tenant_id AND c.id = ct.customer_id \
                 JOIN tags t ON t.tenant_id = ct.tenant_id AND t.id = ct.tag_id \
                 WHERE t.created_at = '2026-11-25T10:11:00+00:00'",
                "C-0000001 VIP #d4af37",
            ),
            (
                "SELECT COALESCE(from_status, '-') || ' > ' || to_status FROM customer_status_history \
                 WHERE id = {status_created} AND customer_id = {customer} AND actor_user_id = {owner} \
                 AND note IS NULL AND changed_at = '2026-11-25T10:10:00+00:00'",
                "- > potential",
            ),
        ],
    },
    Seed {
        // No new columns: the first rows written once the tables have row-level security (PostgreSQL).
        migration: "m20261125_000003_row_level_security",
        writes: &[
            "UPDATE customers SET status = 'intent', version = 2, updated_at = '2026-11-26T09:00:00+00:00' \
             WHERE id = {customer}",
            "INSERT INTO customer_status_history (id, tenant_id, customer_id, from_status, to_status, \
             actor_user_id, note, changed_at) \
             VALUES ({status_changed}, {tenant}, {customer}, 'potential', 'intent', {owner}, 'Asked for a quote', \
             '2026-11-26T09:00:00+00:00')",
            "INSERT INTO audit_log (id, tenant_id, actor_user_id, action, entity, entity_id, changed_fields, \
             request_id, created_at) \
             VALUES ({audit_status_changed}, {tenant}, {owner}, 'customer.update', 'customer', {customer}, \
             '[\"status\"]', 'req-0002', '2026-11-26T09:00:00+00:00')",
        ],
        checks: &[
            (
                "SELECT status || ' v' || CAST(version AS TEXT) FROM customers \
                 WHERE id = {customer} AND updated_at = '2026-11-26T09:00:00+00:00'",
                "intent v2",
            ),
            (
                "SELECT from_status || ' > ' || to_status || ': ' || note FROM customer_status_history \
                 WHERE id = {status_changed} AND changed_at = '2026-11-26T09:00:00+00:00'",
                "potential > intent: Asked for a quote",
            ),
            (
                "SELECT action || ' ' || CAST(changed_fields AS TEXT) FROM audit_log \
                 WHERE id = {audit_status_changed} AND entity_id = {customer} AND actor_api_key_id IS NULL",
                "customer.update [\"status\"]",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000004_contacts",
        writes: &[
            "INSERT INTO tenant_keys (tenant_id, purpose, version, wrapped, master_version, created_at) \
             VALUES ({tenant}, 'data', 1, 'djE6d3JhcHBlZC1kYXRhLWtleQ==', 1, '2026-11-27T08:00:00+00:00')",
            "INSERT INTO tenant_keys (tenant_id, purpose, version, wrapped, master_version, created_at) \
             VALUES ({tenant}, 'index', 1, 'djE6d3JhcHBlZC1pbmRleC1rZXk=', 1, '2026-11-27T08:00:00+00:00')",
            "INSERT INTO contacts (id, tenant_id, customer_id, name, title, is_decision_maker, preferred_channel, \
             email, email_bidx, phone, phone_bidx, wechat, wechat_bidx, qq, qq_bidx, address, key_version, \
             created_at, updated_at) \
             VALUES ({contact}, {tenant}, {customer}, 'Wang Fang', 'Owner', TRUE, 'wechat', \
             'v1:ZW1haWwtY2lwaGVy', '0f3c6a1e9b2d4c5f8a7e6d5c4b3a2910', \
             'v1:cGhvbmUtY2lwaGVy', '1a2b3c4d5e6f708192a3b4c5d6e7f801', \
             'v1:d2VjaGF0LWNpcGhlcg', '2b3c4d5e6f708192a3b4c5d6e7f80112', NULL, NULL, \
             'v1:YWRkcmVzcy1jaXBoZXI', 1, '2026-11-27T08:05:00+00:00', '2026-11-27T08:05:00+00:00')",
            "UPDATE customers SET merged_into_id = {customer}, archived_at = '2026-11-27T09:00:00+00:00', \
             version = 2, updated_at = '2026-11-27T09:00:00+00:00' WHERE id = {duplicate}",
            "INSERT INTO audit_log (id, tenant_id, actor_user_id, action, entity, changed_fields, request_id, \
             created_at, subject_ids) \
             VALUES ({audit_contact_revealed}, {tenant}, {owner}, 'contact.reveal', 'contact', '[\"phone\"]', \
             'req-0003', '2026-11-27T08:10:00+00:00', '[\"d0551e70-0000-4000-8000-000000000010\"]')",
        ],
        checks: &[
            ("SELECT phone_region FROM tenants WHERE id = {tenant}", "CN"),
            (
                "SELECT CASE WHEN merged_into_id IS NULL THEN 'not merged' ELSE 'merged' END FROM customers \
                 WHERE id = {customer}",
                "not merged",
            ),
            (
                "SELECT m.code || ' merged into ' || c.code || ', v' || CAST(m.version AS TEXT) FROM customers m \
                 JOIN customers c ON c.tenant_id = m.tenant_id AND c.id = m.merged_into_id \
                 WHERE m.id = {duplicate} AND m.archived_at = '2026-11-27T09:00:00+00:00'",
                "C-0000002 merged into C-0000001, v2",
            ),
            (
                "SELECT CASE WHEN subject_ids IS NULL THEN 'no subjects' ELSE CAST(subject_ids AS TEXT) END \
                 FROM audit_log WHERE id = {audit_key_created}",
                "no subjects",
            ),
            (
                "SELECT action || ' ' || CAST(changed_fields AS TEXT) || ' ' || CAST(subject_ids AS TEXT) \
                 FROM audit_log WHERE id = {audit_contact_revealed} AND entity_id IS NULL",
                "contact.reveal [\"phone\"] [\"d0551e70-0000-4000-8000-000000000010\"]",
            ),
            (
                "SELECT wrapped || ' under master v' || CAST(master_version AS TEXT) FROM tenant_keys \
                 WHERE tenant_id = {tenant} AND purpose = 'data' AND version = 1 \
                 AND created_at = '2026-11-27T08:00:00+00:00'",
                "djE6d3JhcHBlZC1kYXRhLWtleQ== under master v1",
            ),
            (
                "SELECT wrapped FROM tenant_keys WHERE tenant_id = {tenant} AND purpose = 'index' AND version = 1",
                "djE6d3JhcHBlZC1pbmRleC1rZXk=",
            ),
            (
                "SELECT c.code || ': ' || k.name || ', ' || k.title || ', ' || k.preferred_channel || ', ' \
                 || CASE WHEN k.is_decision_maker THEN 'decides' ELSE 'does not decide' END || ', ' \
                 || CASE WHEN k.is_primary THEN 'primary' ELSE 'not primary' END \
                 FROM contacts k JOIN customers c ON c.tenant_id = k.tenant_id AND c.id = k.customer_id \
                 WHERE k.id = {contact} AND k.created_at = '2026-11-27T08:05:00+00:00'",
                "C-0000001: Wang Fang, Owner, wechat, decides, not primary",
            ),
            (
                "SELECT email || ' ' || email_bidx || ' ' || phone || ' ' || phone_bidx FROM contacts \
                 WHERE id = {contact}",
                "v1:ZW1haWwtY2lwaGVy 0f3c6a1e9b2d4c5f8a7e6d5c4b3a2910 \
                 v1:cGhvbmUtY2lwaGVy 1a2b3c4d5e6f708192a3b4c5d6e7f801",
            ),
            (
                "SELECT wechat || ' ' || wechat_bidx || ' ' || address || ', key v' || CAST(key_version AS TEXT) \
                 FROM contacts WHERE id = {contact} AND qq IS NULL AND qq_bidx IS NULL",
                "v1:d2VjaGF0LWNpcGhlcg 2b3c4d5e6f708192a3b4c5d6e7f80112 v1:YWRkcmVzcy1jaXBoZXI, key v1",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000005_tenant_plans",
        writes: &["UPDATE tenants SET rate_limit_per_second = 50, rate_limit_burst = 100 WHERE id = {tenant}"],
        checks: &[(
            "SELECT CAST(rate_limit_per_second AS TEXT) || '/s, burst ' || CAST(rate_limit_burst AS TEXT) \
             FROM tenants WHERE id = {tenant}",
            "50/s, burst 100",
        )],
    },
    Seed {
        migration: "m20261125_000006_customer_file",
        writes: &[
            "INSERT INTO transactions (id, tenant_id, customer_id, occurred_at, product, quantity_milli, \
             unit_price_minor, amount_minor, currency, payment_method, after_sales_notes, created_by, created_at, \
             updated_at) \
             VALUES ({sale}, {tenant}, {customer}, '2026-12-01T06:30:00+00:00', 'Longjing tea, 250 g', 12000, \
             18800, 225600, 'CNY', 'bank_transfer', 'Deliver before the new year', {owner}, \
             '2026-12-01T07:00:00+00:00', '2026-12-01T07:00:00+00:00')",
            "INSERT INTO contracts (id, tenant_id, customer_id, number, title, value_minor, currency, start_date, \
             end_date, signed_date, auto_renew, renewal_state, reminder_offsets_days, expiring_from, terms, \
             created_by, created_at, updated_at) \
             VALUES ({contract}, {tenant}, {customer}, 'HT-2026-001', 'Supply 2026', 12000000, 'CNY', \
             '2026-01-01', '2026-12-31', '2025-12-20', TRUE, 'renewed', '[60,14]', '2026-11-01', \
             'Monthly delivery', {owner}, '2026-12-01T08:00:00+00:00', '2026-12-01T08:00:00+00:00')",
            "INSERT INTO contracts (id, tenant_id, customer_id, number, title, value_minor, currency, start_date, \
             end_date, renewal_state, expiring_from, predecessor_id, created_by, created_at, updated_at) \
             VALUES ({renewal}, {tenant}, {customer}, 'HT-2027-001', 'Supply 2027', 13000000, 'CNY', \
             '2027-01-01', '2027-12-31', 'none', '2027-10-02', {contract}, {owner}, \
             '2026-12-01T08:30:00+00:00', '2026-12-01T08:30:00+00:00')",
            "INSERT INTO interactions (id, tenant_id, customer_id, channel, occurred_at, summary, outcome, \
             created_by, created_at) \
             VALUES ({interaction}, {tenant}, {customer}, 'meeting', '2026-12-02T02:00:00+00:00', \
             'Tasting of the spring harvest', 'Wants a sample box', {owner}, '2026-12-02T03:00:00+00:00')",
            "INSERT INTO follow_ups (id, tenant_id, customer_id, interaction_id, assignee_id, due_at, note, \
             created_by, created_at, updated_at) \
             VALUES ({follow_up}, {tenant}, {customer}, {interaction}, {owner}, '2026-12-09T01:00:00+00:00', \
             'Send the sample box', {owner}, '2026-12-02T03:00:00+00:00', '2026-12-02T03:00:00+00:00')",
            "INSERT INTO feedback (id, tenant_id, customer_id, kind, content, score, received_at, resolution, \
             resolved_at, resolved_by, created_by, created_at) \
             VALUES ({feedback}, {tenant}, {customer}, 'complaint', 'One box arrived crushed', 2, \
             '2026-12-05T03:00:00+00:00', 'Replaced the box', '2026-12-06T03:00:00+00:00', {owner}, {owner}, \
             '2026-12-05T03:10:00+00:00')",
        ],
        checks: &[
            (
                "SELECT CAST(contract_reminder_offsets_days AS TEXT) FROM tenants WHERE id = {tenant}",
                "[90,30,7]",
            ),
            (
                "SELECT product || ': ' || CAST(quantity_milli AS TEXT) || ' x ' || CAST(unit_price_minor AS TEXT) \
                 || ' = ' || CAST(amount_minor AS TEXT) || ' ' || currency || ' by ' || payment_method \
                 FROM transactions WHERE id = {sale} AND customer_id = {customer} \
                 AND occurred_at = '2026-12-01T06:30:00+00:00' AND created_by = {owner}",
                "Longjing tea, 250 g: 12000 x 18800 = 225600 CNY by bank_transfer",
            ),
            (
                "SELECT after_sales_notes || ', v' || CAST(version AS TEXT) FROM transactions \
                 WHERE id = {sale} AND voided_at IS NULL AND void_reason IS NULL",
                "Deliver before the new year, v1",
            ),
            (
                "SELECT number || ' ' || title || ' ' || CAST(value_minor AS TEXT) || ' ' || currency \
                 FROM contracts WHERE id = {contract} AND customer_id = {customer}",
                "HT-2026-001 Supply 2026 12000000 CNY",
            ),
            (
                "SELECT CAST(start_date AS TEXT) || '..' || CAST(end_date AS TEXT) || ', signed ' \
                 || CAST(signed_date AS TEXT) || ', expiring from ' || CAST(expiring_from AS TEXT) \
                 FROM contracts WHERE id = {contract}",
                "2026-01-01..2026-12-31, signed 2025-12-20, expiring from 2026-11-01",
            ),
            (
                "SELECT CASE WHEN auto_renew THEN 'auto-renews' ELSE 'ends' END || ', ' || renewal_state || ', ' \
                 || CAST(reminder_offsets_days AS TEXT) || ', ' || terms || ', v' || CAST(version AS TEXT) \
                 FROM contracts WHERE id = {contract} AND terminated_at IS NULL AND predecessor_id IS NULL",
                "auto-renews, renewed, [60,14], Monthly delivery, v1",
            ),
            (
                "SELECT c.number || ' renews ' || p.number || CASE WHEN c.auto_renew THEN ', auto-renews' \
                 ELSE ', ends' END || CASE WHEN c.reminder_offsets_days IS NULL THEN ', tenant offsets' \
                 ELSE '' END FROM contracts c JOIN contracts p ON p.tenant_id = c.tenant_id AND p.id = c.predecessor_id \
                 WHERE c.id = {renewal} AND c.signed_date IS NULL",
                "HT-2027-001 renews HT-2026-001, ends, tenant offsets",
            ),
            (
                "SELECT channel || ': ' || summary || ' -> ' || outcome FROM interactions \
                 WHERE id = {interaction} AND customer_id = {customer} AND occurred_at = '2026-12-02T02:00:00+00:00'",
                "meeting: Tasting of the spring harvest -> Wants a sample box",
            ),
            (
                "SELECT f.note || ' after ' || i.summary || ', v' || CAST(f.version AS TEXT) FROM follow_ups f \
                 JOIN interactions i ON i.tenant_id = f.tenant_id AND i.id = f.interaction_id \
                 WHERE f.id = {follow_up} AND f.assignee_id = {owner} AND f.due_at = '2026-12-09T01:00:00+00:00' \
                 AND f.completed_at IS NULL",
                "Send the sample box after Tasting of the spring harvest, v1",
            ),
            (
                "SELECT kind || ' ' || CAST(score AS TEXT) || ': ' || content || ' -> ' || resolution \
                 FROM feedback WHERE id = {feedback} AND received_at = '2026-12-05T03:00:00+00:00' \
                 AND resolved_at = '2026-12-06T03:00:00+00:00' AND resolved_by = {owner}",
                "complaint 2: One box arrived crushed -> Replaced the box",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000007_custom_fields",
        writes: &[
            "INSERT INTO custom_field_definitions (id, tenant_id, entity, key, label, field_type, required, \
             options, default_value, sensitive, searchable, is_unique, position, help_text, created_at, \
             updated_at) \
             VALUES ({field_tier}, {tenant}, 'customer', 'tier', 'Tier', 'select', FALSE, \
             '[\"bronze\",\"silver\",\"gold\"]', '\"bronze\"', FALSE, TRUE, FALSE, 1, \
             'Price list the customer buys from', '2026-12-03T01:00:00+00:00', '2026-12-03T01:00:00+00:00')",
            "INSERT INTO custom_field_definitions (id, tenant_id, entity, key, label, field_type, required, \
             sensitive, searchable, is_unique, position, created_at, updated_at) \
             VALUES ({field_tax_id}, {tenant}, 'customer', 'tax_id', 'Tax ID', 'text', TRUE, TRUE, TRUE, TRUE, 2, \
             '2026-12-03T01:05:00+00:00', '2026-12-03T01:05:00+00:00')",
            "INSERT INTO customers (id, tenant_id, code, kind, name, source, first_contact_date, owner_id, status, \
             custom_fields, custom_field_index, custom_fields_key_version, created_by, created_at, updated_at) \
             VALUES ({customer_with_fields}, {tenant}, 'C-0000003', 'company', 'Zhang Min', 'advertising', \
             '2026-12-03', {owner}, 'potential', '{\"tier\": \"gold\", \"tax_id\": \"v1:OTExMTAwMDA=\"}', \
             '{\"tax_id\": \"5b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e\"}', 1, {owner}, \
             '2026-12-03T02:00:00+00:00', '2026-12-03T02:00:00+00:00')",
            "UPDATE tenants SET customer_seq = 3, updated_at = '2026-12-03T02:00:00+00:00' WHERE id = {tenant}",
        ],
        checks: &[
            (
                "SELECT CAST(custom_fields AS TEXT) || ' ' || CAST(custom_field_index AS TEXT) \
                 || CASE WHEN custom_fields_key_version IS NULL THEN ', no key' ELSE ', a key' END \
                 FROM customers WHERE id = {customer}",
                "{} {}, no key",
            ),
            (
                "SELECT CAST(custom_fields AS TEXT) || ' ' || CAST(custom_field_index AS TEXT) \
                 || CASE WHEN custom_fields_key_version IS NULL THEN ', no key' ELSE ', a key' END \
                 FROM contracts WHERE id = {contract}",
                "{} {}, no key",
            ),
            (
                "SELECT CAST(custom_fields AS TEXT) || ' ' || CAST(custom_field_index AS TEXT) \
                 || CASE WHEN custom_fields_key_version IS NULL THEN ', no key' ELSE ', a key' END \
                 FROM transactions WHERE id = {sale}",
                "{} {}, no key",
            ),
            (
                "SELECT CAST(custom_fields AS TEXT) || ' ' || CAST(custom_field_index AS TEXT) \
                 || CASE WHEN custom_fields_key_version IS NULL THEN ', no key' ELSE ', a key' END \
                 FROM interactions WHERE id = {interaction}",
                "{} {}, no key",
            ),
            (
                "SELECT entity || '.' || key || ' ' || label || ' ' || field_type || ' ' || CAST(options AS TEXT) \
                 || ' default ' || CAST(default_value AS TEXT) || ': ' || help_text \
                 FROM custom_field_definitions WHERE id = {field_tier} AND created_at = '2026-12-03T01:00:00+00:00'",
                "customer.tier Tier select [\"bronze\",\"silver\",\"gold\"] default \"bronze\": \
                 Price list the customer buys from",
            ),
            (
                "SELECT entity || '.' || key || ' ' || CASE WHEN required THEN 'required' ELSE 'optional' END \
                 || CASE WHEN sensitive THEN ' sensitive' ELSE '' END \
                 || CASE WHEN searchable THEN ' searchable' ELSE '' END \
                 || CASE WHEN is_unique THEN ' unique' ELSE '' END \
                 || ' at ' || CAST(position AS TEXT) || ', v' || CAST(version AS TEXT) \
                 FROM custom_field_definitions WHERE id = {field_tax_id} AND options IS NULL \
                 AND default_value IS NULL AND help_text IS NULL AND archived_at IS NULL",
                "customer.tax_id required sensitive searchable unique at 2, v1",
            ),
            (
                "SELECT code || ' ' || CAST(custom_fields AS TEXT) || ' ' || CAST(custom_field_index AS TEXT) \
                 || ', key v' || CAST(custom_fields_key_version AS TEXT) || ', v' || CAST(version AS TEXT) \
                 FROM customers WHERE id = {customer_with_fields}",
                "C-0000003 {\"tier\": \"gold\", \"tax_id\": \"v1:OTExMTAwMDA=\"} \
                 {\"tax_id\": \"5b0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e\"}, key v1, v1",
            ),
            (
                "SELECT CAST(customer_seq AS TEXT) FROM tenants WHERE id = {tenant} \
                 AND updated_at = '2026-12-03T02:00:00+00:00'",
                "3",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000008_tenant_reminder_settings",
        writes: &[
            "UPDATE tenants SET daily_digest_hour = 8, reminder_sender_name = 'Acme CRM', \
                   reminder_reply_to = 'crm@acme.example' WHERE id = {tenant}",
        ],
        checks: &[
            (
                "SELECT CAST(follow_up_reminder_lead_minutes AS TEXT) FROM tenants WHERE id = {tenant}",
                "60",
            ),
            (
                "SELECT CAST(daily_digest_hour AS TEXT) || 'h, ' || reminder_sender_name || ' <' \
                 || reminder_reply_to || '>' FROM tenants WHERE id = {tenant} AND reminder_extra_recipient IS NULL",
                "8h, Acme CRM <crm@acme.example>",
            ),
        ],
    },
    Seed {
        migration: "m20261125_000009_reminders",
        writes: &[
            "UPDATE contracts SET next_reminder_on = '2027-10-02' WHERE id = {renewal}",
            "INSERT INTO follow_ups (id, tenant_id, customer_id, assignee_id, due_at, note, remind_at, \
             created_by, created_at, updated_at) \
             VALUES ({later_follow_up}, {tenant}, {customer}, {owner}, '2027-01-15T01:00:00+00:00', \
             'Ask about the spring order', '2027-01-15T00:00:00+00:00', {owner}, \
             '2026-12-10T01:00:00+00:00', '2026-12-10T01:00:00+00:00')",
            "INSERT INTO reminders (id, tenant_id, kind, subject_id, customer_id, occasion, offset_days, \
             recipient_user_id, due_at, status, next_attempt_at, created_at, updated_at) \
             VALUES ({contract_reminder}, {tenant}, 'contract_expiry', {renewal}, {customer}, \
             'end:2027-12-31/offset:90', 90, {owner}, '2027-10-02T01:00:00+00:00', 'pending', \
             '2027-10-02T01:00:00+00:00', '2026-12-10T02:00:00+00:00', '2026-12-10T02:00:00+00:00')",
            "INSERT INTO reminders (id, tenant_id, kind, subject_id, customer_id, occasion, recipient_user_id, \
             due_at, status, attempts, next_attempt_at, sent_at, message_id, created_at, updated_at) \
             VALUES ({follow_up_reminder}, {tenant}, 'follow_up', {follow_up}, {customer}, \
             'due:2026-12-09T01:00:00Z', {owner}, '2026-12-09T00:00:00+00:00', 'sent', 1, \
             '2026-12-09T00:00:00+00:00', '2026-12-09T00:00:05+00:00', '<r1.follow-up@acme.example>', \
             '2026-12-02T03:00:00+00:00', '2026-12-09T00:00:05+00:00')",
        ],
        checks: &[
            (
                "SELECT CASE WHEN next_reminder_on IS NULL THEN 'none' ELSE CAST(next_reminder_on AS TEXT) END \
                 FROM contracts WHERE id = {contract}",
                "none",
            ),
            (
                "SELECT CAST(next_reminder_on AS TEXT) FROM contracts WHERE id = {renewal}",
                "2027-10-02",
            ),
            (
                "SELECT CASE WHEN remind_at IS NULL THEN 'none' ELSE 'set' END FROM follow_ups \
                 WHERE id = {follow_up}",
                "none",
            ),
            (
                "SELECT note FROM follow_ups WHERE id = {later_follow_up} AND interaction_id IS NULL \
                 AND due_at = '2027-01-15T01:00:00+00:00' AND remind_at = '2027-01-15T00:00:00+00:00'",
                "Ask about the spring order",
            ),
            (
                "SELECT r.kind || ' ' || r.occasion || ' ' || r.status || ' after ' || CAST(r.attempts AS TEXT) \
                 || ' attempts, ' || CAST(r.offset_days AS TEXT) || ' days before the end of ' || c.number \
                 FROM reminders r JOIN contracts c ON c.tenant_id = r.tenant_id AND c.id = r.subject_id \
                 WHERE r.id = {contract_reminder} AND r.customer_id = {customer} AND r.recipient_user_id = {owner} \
                 AND r.due_at = '2027-10-02T01:00:00+00:00' AND r.next_attempt_at = '2027-10-02T01:00:00+00:00' \
                 AND r.lease_until IS NULL AND r.sent_at IS NULL AND r.message_id IS NULL",
                "contract_expiry end:2027-12-31/offset:90 pending after 0 attempts, 90 days before the end of \
                 HT-2027-001",
            ),
            (
                "SELECT r.kind || ' ' || r.occasion || ' ' || r.status || ' after ' || CAST(r.attempts AS TEXT) \
                 || ' attempt, ' || r.message_id || ', for: ' || f.note \
                 FROM reminders r JOIN follow_ups f ON f.tenant_id = r.tenant_id AND f.id = r.subject_id \
                 WHERE r.id = {follow_up_reminder} AND r.sent_at = '2026-12-09T00:00:05+00:00' \
                 AND r.last_error IS NULL AND r.offset_days IS NULL",
                "follow_up due:2026-12-09T01:00:00Z sent after 1 attempt, <r1.follow-up@acme.example>, \
                 for: Send the sample box",
            ),
        ],
    },
];

/// Expand and contract: a release's migrations run while the previous release's rows are in
/// the database (and its replicas may still be writing them), so a migration must apply over
/// those rows and keep them: new NOT NULL columns need defaults, nothing may be dropped or
/// rewritten that the previous release still wrote. Each migration is applied in turn to a
/// database holding rows written under the schema of the migrations before it, and after the
/// last one every row is read back as it was written, with the defaults later migrations gave it.
#[tokio::test]
async fn every_migration_keeps_the_rows_written_before_it() {
    let migrations = every_migration();
    let seeded: Vec<String> = SEEDS.iter().map(|seed| seed.migration.to_owned()).collect();
    let unseeded: Vec<&String> = migrations.iter().filter(|m| !seeded.contains(m)).collect();
    assert!(
        unseeded.is_empty(),
        "migrations without an entry in SEEDS: {unseeded:?}"
    );
    let unknown: Vec<&String> = seeded.iter().filter(|s| !migrations.contains(s)).collect();
    assert!(
        unknown.is_empty(),
        "SEEDS names migrations that do not exist: {unknown:?}"
    );
    assert_eq!(
        seeded, migrations,
        "SEEDS lists the migrations once each, in their order"
    );

    let dir = data_dir();
    let (url, _database) = empty_database(&dir).await;
    // One connection: the migrations, the seeds and the reads run in one session, in turn.
    let mut options = ConnectOptions::new(&url);
    options.max_connections(1).min_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("connect to the empty database");
    let backend = db.get_database_backend();

    let mut inserted: BTreeMap<&str, i64> = BTreeMap::new();
    for seed in SEEDS {
        Migrator::up(&db, Some(1))
            .await
            .unwrap_or_else(|e| panic!("{} does not apply over the rows before it: {e}", seed.migration));
        let tx = in_the_tenant(&db, false).await;
        for sql in seed.writes {
            if let Some(table) = inserted_into(sql) {
                *inserted.entry(table).or_default() += 1;
            } else {
                assert!(sql.starts_with("UPDATE "), "a seed inserts or updates one row: {sql}");
            }
            let written = tx
                .execute_unprepared(&with_ids(sql, backend))
                .await
                .unwrap_or_else(|e| panic!("after {}: {e}\n{sql}", seed.migration));
            assert_eq!(
                written.rows_affected(),
                1,
                "after {}, one row written by\n{sql}",
                seed.migration
            );
        }
        tx.commit().await.expect("commit the seed");
    }
    assert!(
        Migrator::get_pending_migrations(&db).await.expect("pending").is_empty(),
        "every migration applied"
    );

    let tables = tables_of(&db).await;
    let seeded_tables: BTreeSet<String> = inserted.keys().map(|t| (*t).to_owned()).collect();
    assert_eq!(
        seeded_tables, tables,
        "SEEDS writes rows into every table of the schema"
    );

    let tx = in_the_tenant(&db, true).await;
    let mut wrong = Vec::new();
    for (table, expected) in &inserted {
        let count = value_of(&tx, &format!("SELECT COUNT(*) FROM {table}")).await;
        let count: i64 = count.try_get_by_index(0).expect("a count");
        if count != *expected {
            wrong.push(format!("{table}: {count} rows, {expected} written"));
        }
    }
    for seed in SEEDS {
        for (sql, expected) in seed.checks {
            let found = match tx
                .query_one_raw(Statement::from_string(backend, with_ids(sql, backend)))
                .await
                .unwrap_or_else(|e| panic!("check of {}: {e}\n{sql}", seed.migration))
            {
                None => "no row".to_owned(),
                Some(row) => row
                    .try_get_by_index::<Option<String>>(0)
                    .unwrap_or_else(|e| panic!("check of {}: not text: {e}\n{sql}", seed.migration))
                    .unwrap_or_else(|| "NULL".to_owned()),
            };
            if found != *expected {
                wrong.push(format!(
                    "{}: {sql}\n    expected {expected:?}\n    found    {found:?}",
                    seed.migration
                ));
            }
        }
    }
    tx.rollback().await.ok();
    assert!(
        wrong.is_empty(),
        "rows changed by the migrations after them:\n{}",
        wrong.join("\n")
    );
}

/// A transaction inside the seed tenant. On PostgreSQL row-level security binds the tables'
/// owner too (unless it is a superuser), so `app.tenant_id` is set; `as_app` further switches
/// to the application role, which the policies always bind, so that the reads see what the
/// server would (and a policy hiding the rows fails the counts).
async fn in_the_tenant(db: &DatabaseConnection, as_app: bool) -> DatabaseTransaction {
    let tx = db.begin().await.expect("begin");
    if tx.get_database_backend() == DbBackend::Postgres {
        if as_app {
            tx.execute_unprepared(&format!("SET LOCAL ROLE {APP_ROLE}"))
                .await
                .expect("switch to the application role");
        }
        tx.execute_unprepared(&format!("SELECT set_config('app.tenant_id', '{}', true)", id("tenant")))
            .await
            .expect("set the tenant");
    }
    tx
}

fn id(name: &str) -> Uuid {
    let (_, id) = IDS
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no id named {name:?} in IDS"));
    Uuid::parse_str(id).expect("a UUID")
}

/// `sql` with every `{name}` replaced by that id as a literal of `backend`. JSON objects are
/// left alone: what follows their `{` is a quote or `}`.
fn with_ids(sql: &str, backend: DbBackend) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('}') {
            let id = id(&after[..len]);
            out.push_str(&match backend {
                DbBackend::Sqlite => format!("X'{}'", id.simple()),
                _ => format!("'{id}'"),
            });
            rest = &after[len + 1..];
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The table a seed statement inserts into, if it is an insert.
fn inserted_into(sql: &str) -> Option<&str> {
    let rest = sql.strip_prefix("INSERT INTO ")?;
    rest.split([' ', '(']).next()
}

async fn value_of(conn: &impl ConnectionTrait, sql: &str) -> sea_orm::QueryResult {
    conn.query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .unwrap_or_else(|| panic!("no row\n{sql}"))
}

/// The tables of the schema, but the migrations' own.
async fn tables_of(db: &DatabaseConnection) -> BTreeSet<String> {
    let sql = match db.get_database_backend() {
        DbBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        _ => "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema()",
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("the tables");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a table name"))
        .filter(|name| name != "seaql_migrations")
        .collect()
}
