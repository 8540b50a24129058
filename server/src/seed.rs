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
