//! Customers: the file itself, its lists and its changes.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{contract, customer, customer_status_history, feedback, follow_up, interaction, tag, transaction, user};
use serde_json::Value as Json;
use uuid::Uuid;

use super::contacts::{Contact, ContactInput};
use super::contracts::ContractConnection;
use super::custom_fields::{self, CustomFieldFilter, CustomFieldOrder, CustomFieldValue};
use super::feedback::FeedbackConnection;
use super::follow_ups::FollowUpConnection;
use super::interactions::InteractionConnection;
use super::loading::Batch;
use super::reads::{read_tx, reading};
use super::records::{self, CustomerFiles};
use super::scalars::{Date, Decimal, Money};
use super::tags::Tag;
use super::tenancy::User;
use super::transactions::TransactionConnection;
use super::{api, parse_id, parse_ids, parse_optional_id, patch, scope};
use crate::domain::contacts::{self as contact_service, ContactView, Field as ContactField};
use crate::domain::custom_fields::query::FieldOrder;
use crate::domain::custom_fields::values::{self, FieldValue};
use crate::domain::customers::{self as service, BudgetInput as DomainBudget, CustomerChanges};
use crate::domain::history_totals::{self, Activity};
use crate::domain::pagination::PageArgs;
use crate::domain::patch::Patch;
use crate::domain::records::FileRequest;
use crate::domain::{tags as tag_service, users};

macro_rules! remote_enum {
    ($(#[$meta:meta])* $name:ident => $remote:literal { $($variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Enum, Copy, Clone, Eq, PartialEq)]
        #[graphql(remote = $remote)]
        pub enum $name { $($variant),* }
    };
}

remote_enum!(CustomerKind => "entity::enums::CustomerKind" { Individual, Company });
remote_enum!(CustomerSource => "entity::enums::CustomerSource" { Online, Referral, OfflineEvent, Advertising, Other });
remote_enum!(
    /// 潜在 potential, 意向 intent, 成交 customer, 流失 lost.
    CustomerStatus => "entity::enums::CustomerStatus" { Potential, Intent, Customer, Lost }
);
remote_enum!(Gender => "entity::enums::Gender" { Female, Male, Other, Undisclosed });
remote_enum!(AgeBand => "entity::enums::AgeBand" {
    Under18, From18To24, From25To34, From35To44, From45To54, From55To64, From65
});
remote_enum!(CompanySize => "entity::enums::CompanySize" { Micro, Small, Medium, Large, Enterprise });
remote_enum!(ContactChannel => "entity::enums::ContactChannel" { Phone, Email, Wechat, Qq, Sms, Visit, Other });

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(remote = "crate::domain::customers::CustomerOrder")]
pub enum CustomerOrder {
    #[default]
    CreatedAtDesc,
    CreatedAtAsc,
    UpdatedAtDesc,
    UpdatedAtAsc,
    NameAsc,
    NameDesc,
    CodeAsc,
    CodeDesc,
}

/// A budget range in one currency; either bound may be open.
#[derive(SimpleObject)]
pub struct Budget {
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub currency: String,
}

#[derive(InputObject)]
pub struct BudgetInput {
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    /// ISO 4217, e.g. CNY.
    pub currency: String,
}

impl From<BudgetInput> for DomainBudget {
    fn from(b: BudgetInput) -> Self {
        DomainBudget {
            min: b.min.map(|d| d.0),
            max: b.max.map(|d| d.0),
            currency: b.currency,
        }
    }
}

#[derive(SimpleObject)]
pub struct StatusChange {
    pub from: Option<CustomerStatus>,
    pub to: CustomerStatus,
    pub actor_id: Option<ID>,
    pub note: Option<String>,
    pub changed_at: DateTime<Utc>,
}

impl From<customer_status_history::Model> for StatusChange {
    fn from(h: customer_status_history::Model) -> Self {
        StatusChange {
            from: h.from_status.map(Into::into),
            to: h.to_status.into(),
            actor_id: h.actor_user_id.map(|id| ID(id.to_string())),
            note: h.note,
            changed_at: h.changed_at,
        }
    }
}

/// The parts of the customer's file that a write's payload selects under `customer`.
fn selected_parts(ctx: &Context<'_>) -> service::FileParts {
    let customer = ctx.look_ahead().field("customer");
    let contacts = customer.field("contacts");
    service::FileParts {
        contacts: contacts.exists().then(|| super::contacts::requested_fields(contacts)),
        tags: customer.field("tags").exists(),
        status_history: customer.field("statusHistory").exists(),
        owner: customer.field("owner").exists(),
        custom_fields: customer.field("customFields").exists() || customer.field("customFieldValues").exists(),
    }
}

pub struct Customer {
    model: customer::Model,
    /// What the customers loaded with this one share, each part loaded for all on first use.
    together: Arc<Together>,
}

/// The parts of the files of customers loaded together (a page, the customers of a list of
/// records, a write's answer): each part is read for all of them, in one statement, by the
/// first customer whose field asks for it.
#[derive(Default)]
pub(crate) struct Together {
    customers: HashMap<Uuid, customer::Model>,
    /// The contact fields to decrypt, when the page's query said; else the asking field's.
    contact_fields: Option<Vec<ContactField>>,
    contacts: Batch<Vec<ContactView>>,
    tags: Batch<Vec<tag::Model>>,
    owners: Batch<user::Model>,
    history: Batch<Vec<customer_status_history::Model>>,
    activity: Batch<Activity>,
    /// Known only when a write read them before its COMMIT.
    custom_fields: Option<HashMap<Uuid, Vec<FieldValue>>>,
    files: Arc<CustomerFiles>,
}

impl Together {
    /// Customers loaded together, whose nested record lists `request` names.
    pub(crate) fn of(
        customers: &[customer::Model],
        contact_fields: Option<Vec<ContactField>>,
        request: FileRequest,
    ) -> Arc<Self> {
        let ids = || customers.iter().map(|c| c.id);
        Arc::new(Self {
            customers: customers.iter().map(|c| (c.id, c.clone())).collect(),
            contact_fields,
            contacts: Batch::over(ids()),
            tags: Batch::over(ids()),
            owners: Batch::over(customers.iter().map(|c| c.owner_id)),
            history: Batch::over(ids()),
            activity: Batch::over(ids()),
            custom_fields: None,
            files: CustomerFiles::over(ids().collect(), request),
        })
    }

    /// Customers loaded together, each as a node of its own.
    pub(crate) fn nodes(customers: Vec<customer::Model>) -> Vec<Customer> {
        let together = Self::of(&customers, None, FileRequest::default());
        customers
            .into_iter()
            .map(|model| Customer::in_batch(model, together.clone()))
            .collect()
    }
}

impl Customer {
    /// A customer of customers loaded together.
    pub(crate) fn in_batch(model: customer::Model, together: Arc<Together>) -> Self {
        Self { model, together }
    }

    pub(crate) fn single(model: customer::Model) -> Self {
        let together = Together::of(std::slice::from_ref(&model), None, FileRequest::default());
        Self { model, together }
    }

    /// A customer as a write answered it: the parts of its file the payload selects were read
    /// before the write's COMMIT, so its fields do not read the database again.
    fn answered(file: service::CustomerFile) -> Self {
        let id = file.customer.id;
        let owner = file.customer.owner_id;
        let together = Together {
            customers: HashMap::from([(id, file.customer.clone())]),
            contacts: Batch::of_one(id, file.contacts),
            tags: Batch::of_one(id, file.tags),
            history: Batch::of_one(id, file.status_history),
            owners: match file.owner {
                Some(found) => Batch::settled(owner, found),
                None => Batch::over([owner]),
            },
            activity: Batch::over([id]),
            custom_fields: file.custom_fields.map(|values| HashMap::from([(id, values)])),
            files: CustomerFiles::over(vec![id], FileRequest::default()),
            contact_fields: None,
        };
        Self {
            model: file.customer,
            together: Arc::new(together),
        }
    }

    async fn custom_field_values_of(&self, ctx: &Context<'_>) -> Result<Vec<FieldValue>> {
        if let Some(map) = &self.together.custom_fields {
            return Ok(map.get(&self.model.id).cloned().unwrap_or_default());
        }
        let plaintext = contact_service::may_read_plaintext(scope(ctx)?, self.model.owner_id);
        Ok(reading!(ctx, |tx| {
            values::read_in(&tx, &self.model, plaintext).await?
        }))
    }

    async fn activity(&self, ctx: &Context<'_>) -> Result<Activity> {
        let load =
            |ids: Vec<Uuid>| async move { Ok(reading!(ctx, |tx| history_totals::for_customers(&tx, &ids).await?)) };
        Ok(self
            .together
            .activity
            .get(&self.model.id, load)
            .await?
            .unwrap_or_default())
    }
}

#[Object]
impl Customer {
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// 客户编号, unique in the tenant, e.g. C-000123.
    async fn code(&self) -> &str {
        &self.model.code
    }
    async fn kind(&self) -> CustomerKind {
        self.model.kind.into()
    }
    /// Person's name, or the company's name for companies.
    async fn name(&self) -> &str {
        &self.model.name
    }
    async fn company_name(&self) -> Option<&str> {
        self.model.company_name.as_deref()
    }
    async fn source(&self) -> CustomerSource {
        self.model.source.into()
    }
    async fn first_contact_date(&self) -> Date {
        self.model.first_contact_date.into()
    }
    async fn status(&self) -> CustomerStatus {
        self.model.status.into()
    }
    async fn owner_id(&self) -> ID {
        ID(self.model.owner_id.to_string())
    }
    async fn owner(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let load = |ids: Vec<Uuid>| async move { Ok(reading!(ctx, |tx| users::by_ids_in(&tx, &ids).await?)) };
        Ok(self.together.owners.get(&self.model.owner_id, load).await?.map(User))
    }
    async fn gender(&self) -> Option<Gender> {
        self.model.gender.map(Into::into)
    }
    async fn birthday(&self) -> Option<Date> {
        self.model.birthday.map(Into::into)
    }
    async fn age_band(&self) -> Option<AgeBand> {
        self.model.age_band.map(Into::into)
    }
    async fn occupation(&self) -> Option<&str> {
        self.model.occupation.as_deref()
    }
    async fn position(&self) -> Option<&str> {
        self.model.position.as_deref()
    }
    async fn industry(&self) -> Option<&str> {
        self.model.industry.as_deref()
    }
    async fn company_size(&self) -> Option<CompanySize> {
        self.model.company_size.map(Into::into)
    }
    async fn region(&self) -> Option<&str> {
        self.model.region.as_deref()
    }
    async fn city(&self) -> Option<&str> {
        self.model.city.as_deref()
    }
    async fn budget(&self) -> Option<Budget> {
        let (min, max) = service::budget_of(&self.model)?;
        Some(Budget {
            currency: self.model.budget_currency.clone().unwrap_or_default(),
            min: min.map(|m| Decimal(m.to_string())),
            max: max.map(|m| Decimal(m.to_string())),
        })
    }
    async fn preferred_channel(&self) -> Option<ContactChannel> {
        self.model.preferred_channel.map(Into::into)
    }
    async fn hobbies(&self) -> Option<&str> {
        self.model.hobbies.as_deref()
    }
    async fn family_notes(&self) -> Option<&str> {
        self.model.family_notes.as_deref()
    }
    async fn special_needs(&self) -> Option<&str> {
        self.model.special_needs.as_deref()
    }
    async fn notes(&self) -> Option<&str> {
        self.model.notes.as_deref()
    }
    /// Contact persons, primary first. Masked for callers who may not read them in full.
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<Contact>> {
        let together = &self.together;
        let load = |ids: Vec<Uuid>| async move {
            let wanted = (together.contact_fields.clone())
                .unwrap_or_else(|| super::contacts::requested_fields(ctx.look_ahead()));
            let customers: Vec<customer::Model> = ids
                .iter()
                .filter_map(|id| together.customers.get(id).cloned())
                .collect();
            Ok(reading!(ctx, |tx| contact_service::for_customers(
                &tx, &customers, &wanted
            )
            .await?))
        };
        let contacts = together.contacts.get(&self.model.id, load).await?.unwrap_or_default();
        Ok(contacts.into_iter().map(Contact).collect())
    }
    /// Set when this customer was merged into another.
    async fn merged_into_id(&self) -> Option<ID> {
        self.model.merged_into_id.map(|id| ID(id.to_string()))
    }
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<Tag>> {
        let load = |ids: Vec<Uuid>| async move { Ok(reading!(ctx, |tx| tag_service::for_customers(&tx, &ids).await?)) };
        let tags = self.together.tags.get(&self.model.id, load).await?.unwrap_or_default();
        Ok(tags.into_iter().map(Tag).collect())
    }
    /// Every status the customer has had, oldest first.
    async fn status_history(&self, ctx: &Context<'_>) -> Result<Vec<StatusChange>> {
        let load = |ids: Vec<Uuid>| async move { Ok(reading!(ctx, |tx| service::status_history(&tx, &ids).await?)) };
        let rows = self
            .together
            .history
            .get(&self.model.id, load)
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Into::into).collect())
    }
    /// Sales that count (voided ones are listed by `transactions(filter: {includeVoided: true})`), newest first.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn transactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        after: Option<String>,
    ) -> Result<TransactionConnection> {
        records::file::<transaction::Entity, _, _, _>(ctx, &self.together.files, self.model.id, first, after, |rows| {
            rows.into_iter().map(super::transactions::Transaction::new).collect()
        })
        .await
    }
    /// Contracts by end date, soonest first, whatever their status.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn contracts(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        after: Option<String>,
    ) -> Result<ContractConnection> {
        records::file::<contract::Entity, _, _, _>(
            ctx,
            &self.together.files,
            self.model.id,
            first,
            after,
            super::contracts::Contract::batch,
        )
        .await
    }
    /// Conversations with the customer, newest first.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn interactions(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        after: Option<String>,
    ) -> Result<InteractionConnection> {
        records::file::<interaction::Entity, _, _, _>(
            ctx,
            &self.together.files,
            self.model.id,
            first,
            after,
            super::interactions::Interaction::batch,
        )
        .await
    }
    /// Follow-ups not done yet, soonest due first.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn open_follow_ups(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        after: Option<String>,
    ) -> Result<FollowUpConnection> {
        records::file::<follow_up::Entity, _, _, _>(
            ctx,
            &self.together.files,
            self.model.id,
            first,
            after,
            super::follow_ups::FollowUp::batch,
        )
        .await
    }
    /// Praise, suggestions and complaints, newest first.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn feedback(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 10)] first: i32,
        after: Option<String>,
    ) -> Result<FeedbackConnection> {
        records::file::<feedback::Entity, _, _, _>(
            ctx,
            &self.together.files,
            self.model.id,
            first,
            after,
            super::feedback::Feedback::batch,
        )
        .await
    }
    /// What the customer bought, per currency: the sum of transactions not voided.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn lifetime_value(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        Ok(self
            .activity(ctx)
            .await?
            .lifetime_value
            .iter()
            .map(|m| (*m).into())
            .collect())
    }
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn last_interaction_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(self.activity(ctx).await?.last_interaction_at)
    }
    /// When the earliest open follow-up is due.
    /// In a mutation's answer this is read after the write committed: an error at this
    /// field does not mean the write failed.
    async fn next_follow_up_at(&self, ctx: &Context<'_>) -> Result<Option<DateTime<Utc>>> {
        Ok(self.activity(ctx).await?.next_follow_up_at)
    }
    async fn archived(&self) -> bool {
        self.model.archived_at.is_some()
    }
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.model.archived_at
    }
    /// The tenant's custom fields of customers, key → value (sensitive ones masked for
    /// callers who may not read contact data).
    async fn custom_fields(&self, ctx: &Context<'_>) -> Result<Json> {
        Ok(custom_fields::as_object(&self.custom_field_values_of(ctx).await?))
    }
    /// Every active custom field with its definition and value, in display order.
    async fn custom_field_values(&self, ctx: &Context<'_>) -> Result<Vec<CustomFieldValue>> {
        Ok(self
            .custom_field_values_of(ctx)
            .await?
            .into_iter()
            .map(CustomFieldValue)
            .collect())
    }
    /// Send this back with an update; a stale version is refused with CONFLICT.
    async fn version(&self) -> i32 {
        self.model.version
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.model.updated_at
    }
}

#[derive(InputObject, Default)]
pub struct CustomerFilter {
    pub status: Option<CustomerStatus>,
    pub kind: Option<CustomerKind>,
    pub owner_id: Option<ID>,
    pub tag_id: Option<ID>,
    pub source: Option<CustomerSource>,
    pub industry: Option<String>,
    pub region: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub updated_from: Option<DateTime<Utc>>,
    pub updated_to: Option<DateTime<Utc>>,
    /// false (default): active customers; true: archived ones.
    #[graphql(default)]
    pub archived: bool,
    /// Case-insensitive match on name, company name or code.
    pub search: Option<String>,
    /// A contact's exact e-mail address (any letter case).
    pub email: Option<String>,
    /// A contact's exact phone number, in any common format.
    pub phone: Option<String>,
    /// Lifetime value in that currency (non-voided transactions) at least this much.
    pub min_lifetime_value: Option<MoneyInput>,
    /// Lifetime value in that currency at most this much; no transactions count as zero.
    pub max_lifetime_value: Option<MoneyInput>,
    /// Stale records: no interaction at or after this time, including never contacted.
    pub last_interaction_before: Option<DateTime<Utc>>,
    /// true: with at least one open follow-up; false: with none.
    pub has_open_follow_up: Option<bool>,
    /// Conditions on custom fields, all of which must hold.
    pub custom_fields: Option<Vec<CustomFieldFilter>>,
}

#[derive(InputObject)]
pub struct MoneyInput {
    pub amount: Decimal,
    /// ISO 4217, e.g. CNY.
    pub currency: String,
}

impl From<MoneyInput> for service::MoneyInput {
    fn from(m: MoneyInput) -> Self {
        service::MoneyInput {
            amount: m.amount.0,
            currency: m.currency,
        }
    }
}

impl CustomerFilter {
    fn into_domain(self) -> Result<service::CustomerFilter> {
        Ok(service::CustomerFilter {
            status: self.status.map(Into::into),
            kind: self.kind.map(Into::into),
            owner_id: parse_optional_id("filter.ownerId", &self.owner_id)?,
            tag_id: parse_optional_id("filter.tagId", &self.tag_id)?,
            source: self.source.map(Into::into),
            industry: self.industry,
            region: self.region,
            created_from: self.created_from,
            created_to: self.created_to,
            updated_from: self.updated_from,
            updated_to: self.updated_to,
            archived: self.archived,
            search: self.search,
            email: self.email,
            phone: self.phone,
            min_lifetime_value: self.min_lifetime_value.map(Into::into),
            max_lifetime_value: self.max_lifetime_value.map(Into::into),
            last_interaction_before: self.last_interaction_before,
            has_open_follow_up: self.has_open_follow_up,
            custom_fields: custom_fields::filters(self.custom_fields),
        })
    }
}

/// Extra fields of a customer list.
pub struct CustomerListInfo {
    filter: service::CustomerFilter,
}

#[Object]
impl CustomerListInfo {
    /// Customers matching the filter, over all pages (one COUNT query, run only when asked).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<u64> {
        Ok(reading!(ctx, |tx| service::count(&tx, &self.filter).await?))
    }
}

pub type CustomerConnection = Connection<String, Customer, CustomerListInfo>;

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> Result<Customer> {
        let id = parse_id("id", &id)?;
        Ok(Customer::single(reading!(ctx, |tx| service::get(&tx, id).await?)))
    }

    /// Active customers that share an e-mail or phone with this one, or its name and company.
    async fn duplicate_candidates(&self, ctx: &Context<'_>, customer_id: ID) -> Result<Vec<Customer>> {
        let id = parse_id("customerId", &customer_id)?;
        let found = reading!(ctx, |tx| service::duplicate_candidates(&tx, id).await?);
        Ok(Together::nodes(found))
    }

    /// Relay connection over the customers the caller may see.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<CustomerFilter>,
        #[graphql(default)] order_by: CustomerOrder,
        #[graphql(desc = "Sorts by a custom field instead of `orderBy`.")] order_by_custom_field: Option<
            CustomFieldOrder,
        >,
    ) -> Result<CustomerConnection> {
        let api = api(ctx);
        let filter = filter.unwrap_or_default().into_domain()?;
        let args = PageArgs::new(first, after, last, before);
        let by_custom_field = order_by_custom_field.map(FieldOrder::from);
        let tx = read_tx(ctx).await?;
        let page = service::list(
            &tx,
            &filter,
            order_by.into(),
            by_custom_field.as_ref(),
            &args,
            api.max_page_size,
        )
        .await?;

        tx.done().await?;
        let look = ctx.look_ahead();
        let mut contact_fields = Vec::new();
        let mut request = FileRequest::default();
        for node in [look.field("edges").field("node"), look.field("nodes")] {
            contact_fields.extend(super::contacts::requested_fields(node.field("contacts")));
            records::want_file::<transaction::Entity>(&mut request, node.field("transactions"));
            records::want_file::<contract::Entity>(&mut request, node.field("contracts"));
            records::want_file::<interaction::Entity>(&mut request, node.field("interactions"));
            records::want_file::<follow_up::Entity>(&mut request, node.field("openFollowUps"));
            records::want_file::<feedback::Entity>(&mut request, node.field("feedback"));
        }
        contact_fields.sort();
        contact_fields.dedup();
        let customers: Vec<customer::Model> = page.items.iter().map(|(_, c)| c.clone()).collect();
        let together = Together::of(&customers, Some(contact_fields), request);
        Ok(super::page_connection(page, CustomerListInfo { filter }, |model| {
            Customer::in_batch(model, together.clone())
        }))
    }
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    /// Generated as C-000123 when not given.
    pub code: Option<String>,
    pub kind: CustomerKind,
    pub name: String,
    pub company_name: Option<String>,
    pub source: CustomerSource,
    /// Defaults to today in the tenant's time zone.
    pub first_contact_date: Option<Date>,
    /// Defaults to the caller. Sales staff may only own customers themselves.
    pub owner_id: Option<ID>,
    /// Defaults to POTENTIAL.
    pub status: Option<CustomerStatus>,
    pub gender: Option<Gender>,
    pub birthday: Option<Date>,
    pub age_band: Option<AgeBand>,
    pub occupation: Option<String>,
    pub position: Option<String>,
    pub industry: Option<String>,
    pub company_size: Option<CompanySize>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub budget: Option<BudgetInput>,
    pub preferred_channel: Option<ContactChannel>,
    pub hobbies: Option<String>,
    pub family_notes: Option<String>,
    pub special_needs: Option<String>,
    pub notes: Option<String>,
    pub tag_ids: Option<Vec<ID>>,
    pub contacts: Option<Vec<ContactInput>>,
    /// Create even if a customer with the same contact details or name exists.
    #[graphql(default)]
    pub allow_duplicate: bool,
    /// Custom field values, key → value; defaults fill the fields not given.
    pub custom_fields: Option<Json>,
}

/// Only the fields given change; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdateCustomerInput {
    pub id: ID,
    /// The version you read.
    pub version: i32,
    pub code: MaybeUndefined<String>,
    pub kind: MaybeUndefined<CustomerKind>,
    pub name: MaybeUndefined<String>,
    pub company_name: MaybeUndefined<String>,
    pub source: MaybeUndefined<CustomerSource>,
    pub first_contact_date: MaybeUndefined<Date>,
    pub owner_id: MaybeUndefined<ID>,
    pub gender: MaybeUndefined<Gender>,
    pub birthday: MaybeUndefined<Date>,
    pub age_band: MaybeUndefined<AgeBand>,
    pub occupation: MaybeUndefined<String>,
    pub position: MaybeUndefined<String>,
    pub industry: MaybeUndefined<String>,
    pub company_size: MaybeUndefined<CompanySize>,
    pub region: MaybeUndefined<String>,
    pub city: MaybeUndefined<String>,
    pub budget: MaybeUndefined<BudgetInput>,
    pub preferred_channel: MaybeUndefined<ContactChannel>,
    pub hobbies: MaybeUndefined<String>,
    pub family_notes: MaybeUndefined<String>,
    pub special_needs: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
    /// Replaces the customer's tags.
    pub tag_ids: MaybeUndefined<Vec<ID>>,
    /// Replaces all the customer's contacts.
    pub contacts: Option<Vec<ContactInput>>,
    /// Custom field values to set, key → value; null clears one, keys not given stay.
    pub custom_fields: Option<Json>,
}

fn set<T, U: From<T>>(value: Option<T>) -> Patch<U> {
    value.map_or(Patch::Keep, |v| Patch::Set(v.into()))
}

impl From<Date> for String {
    fn from(d: Date) -> Self {
        d.0
    }
}

impl CreateCustomerInput {
    fn into_domain(self) -> Result<(CustomerChanges, Option<entity::enums::CustomerStatus>)> {
        let changes = CustomerChanges {
            code: set(self.code),
            kind: Patch::Set(self.kind.into()),
            name: Patch::Set(self.name),
            company_name: set(self.company_name),
            source: Patch::Set(self.source.into()),
            first_contact_date: set(self.first_contact_date),
            owner_id: self
                .owner_id
                .map(|id| parse_id("ownerId", &id))
                .transpose()?
                .map_or(Patch::Keep, Patch::Set),
            gender: set(self.gender),
            birthday: set(self.birthday),
            age_band: set(self.age_band),
            occupation: set(self.occupation),
            position: set(self.position),
            industry: set(self.industry),
            company_size: set(self.company_size),
            region: set(self.region),
            city: set(self.city),
            budget: set(self.budget),
            preferred_channel: set(self.preferred_channel),
            hobbies: set(self.hobbies),
            family_notes: set(self.family_notes),
            special_needs: set(self.special_needs),
            notes: set(self.notes),
            tag_ids: self
                .tag_ids
                .map(|ids| parse_ids("tagIds", &ids))
                .transpose()?
                .map_or(Patch::Keep, Patch::Set),
            contacts: self.contacts.map(|list| list.into_iter().map(Into::into).collect()),
            custom_fields: self.custom_fields,
        };
        Ok((changes, self.status.map(Into::into)))
    }
}

impl UpdateCustomerInput {
    fn into_domain(self) -> Result<(Uuid, i32, CustomerChanges)> {
        let id = parse_id("id", &self.id)?;
        let owner_id = match self.owner_id {
            MaybeUndefined::Undefined => Patch::Keep,
            MaybeUndefined::Null => Patch::Clear,
            MaybeUndefined::Value(v) => Patch::Set(parse_id("ownerId", &v)?),
        };
        let tag_ids = match self.tag_ids {
            MaybeUndefined::Undefined => Patch::Keep,
            MaybeUndefined::Null => Patch::Clear,
            MaybeUndefined::Value(v) => Patch::Set(parse_ids("tagIds", &v)?),
        };
        let changes = CustomerChanges {
            code: patch(self.code),
            kind: patch(self.kind),
            name: patch(self.name),
            company_name: patch(self.company_name),
            source: patch(self.source),
            first_contact_date: patch(self.first_contact_date),
            owner_id,
            gender: patch(self.gender),
            birthday: patch(self.birthday),
            age_band: patch(self.age_band),
            occupation: patch(self.occupation),
            position: patch(self.position),
            industry: patch(self.industry),
            company_size: patch(self.company_size),
            region: patch(self.region),
            city: patch(self.city),
            budget: patch(self.budget),
            preferred_channel: patch(self.preferred_channel),
            hobbies: patch(self.hobbies),
            family_notes: patch(self.family_notes),
            special_needs: patch(self.special_needs),
            notes: patch(self.notes),
            tag_ids,
            contacts: self.contacts.map(|list| list.into_iter().map(Into::into).collect()),
            custom_fields: self.custom_fields,
        };
        Ok((id, self.version, changes))
    }
}

#[derive(InputObject)]
pub struct ArchiveCustomerInput {
    pub id: ID,
    /// When given, the change is refused with CONFLICT if the customer changed since.
    pub version: Option<i32>,
}

#[derive(InputObject)]
pub struct ChangeCustomerStatusInput {
    pub id: ID,
    pub status: CustomerStatus,
    /// When given, the change is refused with CONFLICT if the customer changed since.
    pub version: Option<i32>,
    pub note: Option<String>,
}

#[derive(SimpleObject)]
pub struct CustomerPayload {
    pub customer: Customer,
}

fn payload(file: service::CustomerFile) -> CustomerPayload {
    CustomerPayload {
        customer: Customer::answered(file),
    }
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    async fn create_customer(&self, ctx: &Context<'_>, input: CreateCustomerInput) -> Result<CustomerPayload> {
        let allow_duplicate = input.allow_duplicate;
        let (changes, status) = input.into_domain()?;
        Ok(payload(
            service::create(
                &api(ctx).store,
                scope(ctx)?,
                changes,
                status,
                allow_duplicate,
                &selected_parts(ctx),
            )
            .await?,
        ))
    }

    async fn update_customer(&self, ctx: &Context<'_>, input: UpdateCustomerInput) -> Result<CustomerPayload> {
        let (id, version, changes) = input.into_domain()?;
        Ok(payload(
            service::update(&api(ctx).store, scope(ctx)?, id, version, changes, &selected_parts(ctx)).await?,
        ))
    }

    async fn archive_customer(&self, ctx: &Context<'_>, input: ArchiveCustomerInput) -> Result<CustomerPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::archive(&api(ctx).store, scope(ctx)?, id, input.version, &selected_parts(ctx)).await?,
        ))
    }

    async fn restore_customer(&self, ctx: &Context<'_>, input: ArchiveCustomerInput) -> Result<CustomerPayload> {
        let id = parse_id("id", &input.id)?;
        Ok(payload(
            service::restore(&api(ctx).store, scope(ctx)?, id, input.version, &selected_parts(ctx)).await?,
        ))
    }

    async fn change_customer_status(
        &self,
        ctx: &Context<'_>,
        input: ChangeCustomerStatusInput,
    ) -> Result<CustomerPayload> {
        let id = parse_id("id", &input.id)?;
        let changed = service::change_status(
            &api(ctx).store,
            scope(ctx)?,
            id,
            input.status.into(),
            input.version,
            input.note,
            &selected_parts(ctx),
        )
        .await?;
        Ok(payload(changed))
    }
}

#[derive(InputObject)]
pub struct MergeCustomersInput {
    /// The customer that remains.
    pub primary_id: ID,
    /// Customers folded into the primary and archived.
    pub duplicate_ids: Vec<ID>,
    /// Compute and return the merged customer without writing anything.
    #[graphql(default)]
    pub dry_run: bool,
}

#[derive(SimpleObject)]
pub struct MergeCustomersPayload {
    /// The primary customer as merged (for a dry run: as it would be).
    pub customer: Customer,
    pub merged_ids: Vec<ID>,
    pub dry_run: bool,
}

#[derive(InputObject)]
pub struct EraseCustomerInput {
    pub id: ID,
}

#[derive(SimpleObject)]
pub struct EraseCustomerPayload {
    pub erased_id: ID,
}

#[derive(Default)]
pub struct CustomerMergeMutation;

#[Object]
impl CustomerMergeMutation {
    /// Merges duplicates into a primary customer in one transaction: contacts, status history
    /// and tags move over, empty fields are filled from the duplicates, which are archived.
    async fn merge_customers(&self, ctx: &Context<'_>, input: MergeCustomersInput) -> Result<MergeCustomersPayload> {
        let primary = parse_id("primaryId", &input.primary_id)?;
        let duplicates = parse_ids("duplicateIds", &input.duplicate_ids)?;
        let parts = selected_parts(ctx);
        let outcome = service::merge(
            &api(ctx).store,
            scope(ctx)?,
            primary,
            &duplicates,
            input.dry_run,
            &parts,
        )
        .await?;
        Ok(MergeCustomersPayload {
            customer: Customer::answered(outcome.file),
            merged_ids: outcome.merged_ids.iter().map(|id| ID(id.to_string())).collect(),
            dry_run: input.dry_run,
        })
    }

    /// Erases a customer's personal data for good (admins): contacts, their ciphertexts and
    /// indexes, personal profile fields. The archived record and an audit tombstone remain.
    async fn erase_customer(&self, ctx: &Context<'_>, input: EraseCustomerInput) -> Result<EraseCustomerPayload> {
        let id = parse_id("id", &input.id)?;
        let erased = service::erase(&api(ctx).store, scope(ctx)?, id).await?;
        Ok(EraseCustomerPayload {
            erased_id: ID(erased.to_string()),
        })
    }
}
