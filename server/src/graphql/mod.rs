//! The GraphQL API: schema assembly and the per-request context. Resolvers here are thin:
//! take the caller's scope, call a domain service, convert the result.

mod analytics;
mod audit;
mod contacts;
mod contracts;
pub mod cost;
mod custom_fields;
mod customers;
pub mod errors;
mod feedback;
mod follow_ups;
mod interactions;
mod loading;
pub mod reads;
mod records;
mod reminders;
mod scalars;
mod tags;
mod tenancy;
mod transactions;

use async_graphql::{Context, EmptySubscription, MergedObject, Schema};

use crate::domain::Store;
use crate::domain::authentication::Authenticator;
use crate::domain::tenants::SignupPolicy;
use crate::tenancy::TenantScope;

#[derive(MergedObject, Default)]
pub struct QueryRoot(
    tenancy::TenancyQuery,
    customers::CustomerQuery,
    tags::TagQuery,
    audit::AuditQuery,
    analytics::AnalyticsQuery,
    interactions::InteractionQuery,
    follow_ups::FollowUpQuery,
    feedback::FeedbackQuery,
    transactions::TransactionQuery,
    contracts::ContractQuery,
    custom_fields::CustomFieldQuery,
    reminders::ReminderQuery,
);

#[derive(MergedObject, Default)]
pub struct MutationRoot(
    tenancy::TenancyMutation,
    customers::CustomerMutation,
    customers::CustomerMergeMutation,
    contacts::ContactMutation,
    tags::TagMutation,
    tags::TagAdminMutation,
    interactions::InteractionMutation,
    follow_ups::FollowUpMutation,
    feedback::FeedbackMutation,
    transactions::TransactionMutation,
    contracts::ContractMutation,
    custom_fields::CustomFieldMutation,
    reminders::ReminderMutation,
);

pub type DossierSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// Shared by every request.
pub struct ApiContext {
    pub store: Store,
    pub authenticator: Authenticator,
    pub signup: SignupPolicy,
    pub max_page_size: u64,
    /// Sends admins' test e-mails the way reminders go out.
    pub test_emails: crate::domain::reminders::test_email::TestEmails,
}

/// Known for one request: its id, who is calling, and a platform key if one was sent.
pub struct RequestContext {
    pub request_id: String,
    /// `Ok(None)` for anonymous requests; `Err` when a credential was sent but refused.
    pub auth: Result<Option<TenantScope>, async_graphql::Error>,
    pub platform_key: Option<String>,
    /// The caller's address (from `X-Forwarded-For` only behind a trusted proxy), for limits
    /// on anonymous callers.
    pub client_ip: Option<std::net::IpAddr>,
    /// Facts about the caller read at most once per request, however many fields ask.
    pub facts: RequestFacts,
    /// The transaction (or transactions) the request's fields read through.
    pub reads: reads::Reads,
}

/// What several fields of one request may ask for: loaded once, shared by all of them.
#[derive(Default)]
pub struct RequestFacts {
    pub me_user: tokio::sync::OnceCell<entity::user::Model>,
    pub me_tenant: tokio::sync::OnceCell<entity::tenant::Model>,
    pub users: tokio::sync::OnceCell<Vec<entity::user::Model>>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

pub fn build_schema(api: Option<ApiContext>, limits: Limits) -> DossierSchema {
    let mut builder = Schema::build(QueryRoot::default(), MutationRoot::default(), EmptySubscription)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        // Suggestions ("Did you mean …") would leak the schema that introspection hides.
        builder = builder.disable_introspection().disable_suggestions();
    }
    if let Some(api) = api {
        builder = builder.data(api);
    }
    builder.finish()
}

/// The schema in SDL, as `dossier export-schema` prints it and `schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(
        None,
        Limits {
            max_depth: usize::MAX,
            max_complexity: usize::MAX,
            introspection: true,
        },
    )
    .sdl()
}

fn api<'a>(ctx: &Context<'a>) -> &'a ApiContext {
    ctx.data_unchecked::<ApiContext>()
}

fn request<'a>(ctx: &Context<'a>) -> &'a RequestContext {
    ctx.data_unchecked::<RequestContext>()
}

/// The caller's scope, or UNAUTHENTICATED.
fn scope<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a TenantScope> {
    match &request(ctx).auth {
        Ok(Some(scope)) => Ok(scope),
        Ok(None) => Err(crate::domain::DomainError::Unauthenticated("sign in first").into()),
        Err(e) => Err(e.clone()),
    }
}

/// Parses a client-given id; a malformed one is a VALIDATION error on `field`.
fn parse_id(field: &str, id: &async_graphql::ID) -> async_graphql::Result<uuid::Uuid> {
    uuid::Uuid::try_parse(id.as_str())
        .map_err(|_| crate::domain::DomainError::validation(field, "is not a valid id").into())
}

/// Parses an optional client-given id; a malformed one is a VALIDATION error on `field`.
fn parse_optional_id(field: &str, id: &Option<async_graphql::ID>) -> async_graphql::Result<Option<uuid::Uuid>> {
    id.as_ref().map(|id| parse_id(field, id)).transpose()
}

/// Parses a list of client-given ids; any malformed one is a VALIDATION error on `field`.
fn parse_ids(field: &str, ids: &[async_graphql::ID]) -> async_graphql::Result<Vec<uuid::Uuid>> {
    ids.iter().map(|id| parse_id(field, id)).collect()
}

/// An optional input field as a change: absent keeps, `null` clears, a value sets.
fn patch<T, U: From<T>>(value: async_graphql::MaybeUndefined<T>) -> crate::domain::patch::Patch<U> {
    use crate::domain::patch::Patch;
    match value {
        async_graphql::MaybeUndefined::Undefined => Patch::Keep,
        async_graphql::MaybeUndefined::Null => Patch::Clear,
        async_graphql::MaybeUndefined::Value(v) => Patch::Set(v.into()),
    }
}

/// A connection over a page of a list, each row made a node by `node`.
fn page_connection<M, T, I>(
    page: crate::domain::pagination::Page<M>,
    info: I,
    node: impl Fn(M) -> T,
) -> async_graphql::connection::Connection<String, T, I>
where
    T: async_graphql::OutputType,
    I: async_graphql::ObjectType,
{
    let mut connection =
        async_graphql::connection::Connection::with_additional_fields(page.has_previous_page, page.has_next_page, info);
    connection.edges.extend(
        page.items
            .into_iter()
            .map(|(cursor, model)| async_graphql::connection::Edge::new(cursor, node(model))),
    );
    connection
}
