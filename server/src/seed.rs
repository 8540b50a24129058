//! `dossier seed-demo`: a demo tenant with an admin, a salesperson, tags and customers,
//! so the API can be tried at once. Run again, it only issues a fresh API key.

use entity::enums::{CustomerKind, CustomerSource, CustomerStatus, Role};

use crate::domain::customers::{self, BudgetInput, CustomerChanges};
use crate::domain::patch::Patch;
use crate::domain::{DomainError, DomainResult, Store, api_keys, tags, tenants, users};
use crate::secret::{Secret, random_token};

pub const DEMO_SLUG: &str = "demo";
pub const DEMO_ADMIN: &str = "admin@demo.example.com";
pub const DEMO_SALES: &str = "sales@demo.example.com";

pub struct SeedOutcome {
    pub created: bool,
    /// Printed once; only when the tenant was created now.
    pub admin_password: Option<Secret>,
    pub api_key: Secret,
}

struct DemoCustomer {
    name: &'static str,
    kind: CustomerKind,
    source: CustomerSource,
    status: CustomerStatus,
    by_sales: bool,
    tags: Vec<uuid::Uuid>,
}

pub async fn seed_demo(store: &Store) -> DomainResult<SeedOutcome> {
    if let Some(scope) = tenants::owner_scope(store, DEMO_SLUG).await? {
        let (_, secret) = api_keys::create(store, &scope, "demo key".into(), Role::Admin).await?;
        return Ok(SeedOutcome {
            created: false,
            admin_password: None,
            api_key: secret,
        });
    }
    let password = Secret::new(random_token(12));
    let policy = tenants::SignupPolicy {
        open: true,
        platform_key: None,
    };
    let (_, owner) = tenants::create(
        store,
        &policy,
        None,
        tenants::NewTenant {
            name: "Demo Trading Co.".into(),
            slug: DEMO_SLUG.into(),
            admin_email: DEMO_ADMIN.into(),
            admin_name: Some("Demo Admin".into()),
            admin_password: password.clone(),
            timezone: Some("Asia/Shanghai".into()),
            locale: None,
            phone_region: None,
        },
        None,
    )
    .await?;
    let scope = tenants::owner_scope(store, DEMO_SLUG)
        .await?
        .ok_or(DomainError::NotFound("the demo tenant's owner"))?;
    let sales = users::create(
        store,
        &scope,
        users::NewUser {
            email: DEMO_SALES.into(),
            name: "Li Na".into(),
            role: Role::Sales,
            password: Secret::new(random_token(12)),
        },
    )
    .await?;
    let key_account = tags::create(store, &scope, "key account".into(), Some("#d4380d".into())).await?;
    let high_intent = tags::create(store, &scope, "high intent".into(), Some("#fa8c16".into())).await?;

    use CustomerKind::{Company, Individual};
    use CustomerSource::{Advertising, OfflineEvent, Online, Referral};
    use CustomerStatus::{Customer, Intent, Lost, Potential};
    let demo = [
        DemoCustomer {
            name: "上海云图科技有限公司",
            kind: Company,
            source: Referral,
            status: Customer,
            by_sales: false,
            tags: vec![key_account.id],
        },
        DemoCustomer {
            name: "张伟",
            kind: Individual,
            source: Online,
            status: Intent,
            by_sales: true,
            tags: vec![high_intent.id],
        },
        DemoCustomer {
            name: "Northwind Traders",
            kind: Company,
            source: OfflineEvent,
            status: Potential,
            by_sales: false,
            tags: vec![],
        },
        DemoCustomer {
            name: "王芳",
            kind: Individual,
            source: Advertising,
            status: Customer,
            by_sales: true,
            tags: vec![],
        },
        DemoCustomer {
            name: "深圳海川贸易",
            kind: Company,
            source: Online,
            status: Lost,
            by_sales: true,
            tags: vec![],
        },
        DemoCustomer {
            name: "Contoso Ltd",
            kind: Company,
            source: Referral,
            status: Intent,
            by_sales: false,
            tags: vec![key_account.id, high_intent.id],
        },
    ];
    for c in demo {
        let changes = CustomerChanges {
            kind: Patch::Set(c.kind),
            name: Patch::Set(c.name.into()),
            source: Patch::Set(c.source),
            owner_id: Patch::Set(if c.by_sales { sales.id } else { owner.id }),
            first_contact_date: Patch::Set("2026-03-15".into()),
            region: Patch::Set(if c.name.is_ascii() { "Europe" } else { "华东" }.into()),
            budget: Patch::Set(BudgetInput {
                min: Some("50000".into()),
                max: Some("200000".into()),
                currency: "CNY".into(),
            }),
            tag_ids: Patch::Set(c.tags),
            ..Default::default()
        };
        customers::create(store, &scope, changes, Some(c.status), false, &Default::default()).await?;
    }
    let (_, secret) = api_keys::create(store, &scope, "demo key".into(), Role::Admin).await?;
    Ok(SeedOutcome {
        created: true,
        admin_password: Some(password),
        api_key: secret,
    })
}

/// What `dossier seed-bench` made: the tenant and an API key of each of its two callers.
pub struct BenchSeed {
    pub tenant_id: uuid::Uuid,
    pub admin_key: Secret,
    /// A viewer's key: it sees the contact data masked.
    pub viewer_key: Secret,
}

/// Customers written per transaction while seeding.
const BENCH_BATCH: usize = 250;

/// `dossier seed-bench`: a tenant `slug` with `customers` customers, each with two contacts
/// (an e-mail and a phone number, sealed under the tenant's key as any write seals them),
/// one contract, five sales and two interactions, written in batches rather than one request
/// per record, for the benchmark.
pub async fn seed_bench(store: &Store, slug: &str, customers: usize) -> DomainResult<BenchSeed> {
    use chrono::Duration;
    use entity::enums::{InteractionChannel, PaymentMethod, RenewalState};
    use entity::{contract, customer_status_history, interaction, transaction};
    use sea_orm::IntoActiveModel;

    use crate::domain::{contacts, contracts, now};

    if tenants::owner_scope(store, slug).await?.is_some() {
        return Err(DomainError::validation(
            "slug",
            "is seeded already; seed an empty database",
        ));
    }
    let policy = tenants::SignupPolicy {
        open: true,
        platform_key: None,
    };
    let new = tenants::NewTenant {
        name: "Benchmark Trading Co.".into(),
        slug: slug.into(),
        admin_email: format!("admin@{slug}.example.com"),
        admin_name: Some("Bench Admin".into()),
        admin_password: Secret::new(random_token(16)),
        timezone: Some("Asia/Shanghai".into()),
        locale: None,
        phone_region: None,
    };
    tenants::create(store, &policy, None, new, None).await?;
    let scope = tenants::owner_scope(store, slug)
        .await?
        .ok_or(DomainError::NotFound("the benchmark tenant's owner"))?;
    let (_, admin_key) = api_keys::create(store, &scope, "benchmark admin".into(), Role::Admin).await?;
    let (_, viewer_key) = api_keys::create(store, &scope, "benchmark viewer".into(), Role::Viewer).await?;
    let owner = scope.actor().user_id;

    let mut n = 0;
    // Statistics refreshed each time the book doubled (from 1,000 on): a handful of ANALYZEs
    // for any size, and no plan outlives the table size it was made for by more than twice.
    let mut analyzed_at = 500;
    while n < customers {
        let tx = store.begin_scoped(&scope).await?;
        let context = tx.context().await?.clone();
        let keys = store.vault().for_tenant(&tx, tx.tenant_id()).await?;
        let (today, at) = (context.today(), now());
        let (mut rows, mut history, mut people) = (Vec::new(), Vec::new(), Vec::new());
        let (mut deals, mut sales, mut calls) = (Vec::new(), Vec::new(), Vec::new());
        for i in n..customers.min(n + BENCH_BATCH) {
            let mut c = customers::blank(tx.tenant_id(), owner, CustomerStatus::Customer);
            c.code = format!("C-{i:07}");
            c.name = format!("Customer {i:07}");
            c.source = CustomerSource::Online;
            c.first_contact_date = today - Duration::days((i % 1000) as i64);
            let reach = [
                contacts::ContactInput {
                    name: Some(format!("Buyer {i}")),
                    email: Some(format!("buyer{i}@bench.example.com")),
                    ..Default::default()
                },
                contacts::ContactInput {
                    name: Some(format!("Office {i}")),
                    phone: Some(format!("+8613{i:09}")),
                    ..Default::default()
                },
            ];
            people.extend(contacts::sealed_rows(
                tx.tenant_id(),
                &keys,
                &context.phone_region,
                c.id,
                &reach,
            )?);
            history.push(customer_status_history::Model {
                id: uuid::Uuid::now_v7(),
                tenant_id: tx.tenant_id(),
                customer_id: c.id,
                from_status: None,
                to_status: c.status,
                actor_user_id: Some(owner),
                note: None,
                changed_at: at,
            });
            let end = today + Duration::days((i % 400) as i64 + 1);
            let expiring = contracts::expiring_from(end, &context.contract_offsets_days);
            deals.push(contract::Model {
                id: uuid::Uuid::now_v7(),
                tenant_id: tx.tenant_id(),
                customer_id: c.id,
                number: format!("HT-{i:07}"),
                title: "Annual service".into(),
                value_minor: 1_200_000,
                currency: "CNY".into(),
                start_date: end - Duration::days(365),
                end_date: end,
                signed_date: Some(end - Duration::days(365)),
                auto_renew: false,
                renewal_state: RenewalState::None,
                reminder_offsets_days: None,
                expiring_from: expiring,
                terms: None,
                terminated_at: None,
                termination_reason: None,
                predecessor_id: None,
                version: 1,
                created_by: owner,
                created_at: at,
                updated_at: at,
                next_reminder_on: Some(expiring),
                custom_fields: serde_json::json!({}),
                custom_field_index: serde_json::json!({}),
                custom_fields_key_version: None,
            });
            for k in 1..=5 {
                sales.push(transaction::Model {
                    id: uuid::Uuid::now_v7(),
                    tenant_id: tx.tenant_id(),
                    customer_id: c.id,
                    occurred_at: at - Duration::days(k * 30),
                    product: "Plan".into(),
                    quantity_milli: 1000,
                    unit_price_minor: 10_000,
                    amount_minor: 10_000,
                    currency: "CNY".into(),
                    payment_method: PaymentMethod::BankTransfer,
                    after_sales_notes: None,
                    voided_at: None,
                    void_reason: None,
                    version: 1,
                    created_by: owner,
                    created_at: at,
                    updated_at: at,
                    custom_fields: serde_json::json!({}),
                    custom_field_index: serde_json::json!({}),
                    custom_fields_key_version: None,
                });
            }
            for k in 1..=2 {
                calls.push(interaction::Model {
                    id: uuid::Uuid::now_v7(),
                    tenant_id: tx.tenant_id(),
                    customer_id: c.id,
                    channel: InteractionChannel::Call,
                    occurred_at: at - Duration::days(k * 7),
                    summary: "Talked about the renewal".into(),
                    outcome: None,
                    created_by: owner,
                    created_at: at,
                    custom_fields: serde_json::json!({}),
                    custom_field_index: serde_json::json!({}),
                    custom_fields_key_version: None,
                });
            }
            rows.push(c);
        }
        n += rows.len();
        tx.insert_many(rows.into_iter().map(|c| c.into_active_model()).collect(), None)
            .await?;
        tx.insert_many(history.into_iter().map(|h| h.into_active_model()).collect(), None)
            .await?;
        tx.insert_many(people, None).await?;
        tx.insert_many(deals.into_iter().map(|d| d.into_active_model()).collect(), None)
            .await?;
        tx.insert_many(sales.into_iter().map(|s| s.into_active_model()).collect(), None)
            .await?;
        tx.insert_many(calls.into_iter().map(|i| i.into_active_model()).collect(), None)
            .await?;
        tx.commit().await?;
        if n >= analyzed_at * 2 {
            store.refresh_statistics().await;
            analyzed_at = n;
        }
    }
    Ok(BenchSeed {
        tenant_id: scope.tenant_id(),
        admin_key,
        viewer_key,
    })
}
