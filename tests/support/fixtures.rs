//! The records a test needs on its way to the behaviour it is about: one request helper per
//! operation, each with a plain default input that a test overrides field by field, so that
//! an operation's text and its usual input are written once for the whole suite.
//!
//! Tests of an operation itself select what they check and send it with `gql` or `ok`; the
//! texts here select only what the other tests go on with.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::TestApp;

pub const ARCHIVE_CUSTOMER: &str =
    "mutation($input: ArchiveCustomerInput!) { archiveCustomer(input: $input) { customer { id } } }";
pub const CHANGE_CUSTOMER_STATUS: &str =
    "mutation($input: ChangeCustomerStatusInput!) { changeCustomerStatus(input: $input) { customer { id status } } }";
pub const ERASE_CUSTOMER: &str = "mutation($input: EraseCustomerInput!) { eraseCustomer(input: $input) { erasedId } }";
pub const MERGE_CUSTOMERS: &str =
    "mutation($input: MergeCustomersInput!) { mergeCustomers(input: $input) { mergedIds } }";
pub const CREATE_CONTRACT: &str = "mutation($input: CreateContractInput!) { createContract(input: $input) { \
    contract { id number version status customFields } } }";
pub const RECORD_SALE: &str = "mutation($input: RecordTransactionInput!) { recordTransaction(input: $input) { \
    transaction { id customFields } } }";
pub const VOID_SALE: &str =
    "mutation($input: VoidTransactionInput!) { voidTransaction(input: $input) { transaction { id } } }";
pub const LOG_INTERACTION: &str = "mutation($input: LogInteractionInput!) { logInteraction(input: $input) { \
    interaction { id customFields } followUp { id } } }";
pub const SCHEDULE_FOLLOW_UP: &str =
    "mutation($input: ScheduleFollowUpInput!) { scheduleFollowUp(input: $input) { followUp { id version } } }";
pub const RESCHEDULE_FOLLOW_UP: &str =
    "mutation($input: RescheduleFollowUpInput!) { rescheduleFollowUp(input: $input) { followUp { id version } } }";
pub const COMPLETE_FOLLOW_UP: &str =
    "mutation($input: CompleteFollowUpInput!) { completeFollowUp(input: $input) { followUp { id version } } }";
pub const RECORD_FEEDBACK: &str =
    "mutation($input: RecordFeedbackInput!) { recordFeedback(input: $input) { feedback { id } } }";
pub const CREATE_TAG: &str = "mutation($input: CreateTagInput!) { createTag(input: $input) { tag { id name color } } }";
pub const DEFINE_CUSTOM_FIELD: &str = "mutation($input: DefineCustomFieldInput!) { defineCustomField(input: $input) { \
    customField { id version } } }";
pub const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { user { id email } } }";
pub const ROTATE_TENANT_KEY: &str = "mutation { rotateTenantKey { dataKeyVersion } }";
const AUDIT_OF: &str = "query($id: ID!) { auditLog(filter: { entityId: $id }, first: 50) { \
    edges { node { action entity changedFields actorId } } } }";

/// The text of mutation `op`, which takes one `input` of `input_type`, selecting `selection`.
pub fn mutation(op: &str, input_type: &str, selection: &str) -> String {
    format!("mutation($input: {input_type}!) {{ {op}(input: $input) {{ {selection} }} }}")
}

/// `base` with the fields of `extra` set over it.
pub fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(target), Some(more)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            target.insert(k.clone(), v.clone());
        }
    }
    base
}

/// A year's support contract for `customer_id` in 2026, with `extra` fields over it.
pub fn contract_input(customer_id: impl Serialize, extra: Value) -> Value {
    with(
        json!({ "customerId": customer_id, "title": "Support", "value": "100.00", "currency": "CNY",
            "startDate": "2026-01-01", "endDate": "2026-12-31" }),
        extra,
    )
}

/// A cash sale of one plan at 10.00 CNY on 2026-01-05, with `extra` fields over it.
pub fn sale_input(customer_id: impl Serialize, extra: Value) -> Value {
    with(
        json!({ "customerId": customer_id, "occurredAt": "2026-01-05T10:00:00Z", "product": "Plan",
            "quantity": "1", "unitPrice": "10.00", "currency": "CNY", "paymentMethod": "CASH" }),
        extra,
    )
}

/// A call an hour ago, with `extra` fields over it.
pub fn interaction_input(customer_id: impl Serialize, extra: Value) -> Value {
    with(
        json!({ "customerId": customer_id, "channel": "CALL", "occurredAt": from_now(Duration::hours(-1)),
            "summary": "Discussed the renewal" }),
        extra,
    )
}

/// A complaint about a late delivery, with `extra` fields over it.
pub fn feedback_input(customer_id: impl Serialize, extra: Value) -> Value {
    with(
        json!({ "customerId": customer_id, "kind": "COMPLAINT", "content": "Delivery was late" }),
        extra,
    )
}

/// A custom field of `entity` labelled after its key, with `extra` settings over it.
pub fn custom_field_input(entity: &str, key: &str, field_type: &str, extra: Value) -> Value {
    with(
        json!({ "entity": entity, "key": key, "label": key.replace('_', " "), "type": field_type }),
        extra,
    )
}

/// The string at `pointer` (such as `/id` or `/customer/name`) of every item of `list`: an
/// array, or a connection's `nodes` or `edges { node }`.
pub fn pluck(list: &Value, pointer: &str) -> Vec<String> {
    let items = match (list.get("edges"), list.get("nodes")) {
        (Some(Value::Array(edges)), _) => edges.iter().map(|e| &e["node"]).collect::<Vec<_>>(),
        (_, Some(Value::Array(nodes))) => nodes.iter().collect(),
        _ => list
            .as_array()
            .unwrap_or_else(|| panic!("not a list: {list}"))
            .iter()
            .collect(),
    };
    items
        .into_iter()
        .map(|item| {
            item.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("no text at {pointer} in {item}"))
                .to_owned()
        })
        .collect()
}

/// A moment `offset` from now, as a client sends it.
pub fn from_now(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// `t` to the second, as a client sends it.
pub fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The instant an RFC 3339 text names.
pub fn utc(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text} is not RFC 3339: {e}"))
        .with_timezone(&Utc)
}

/// The instant of a date-time the server answered.
pub fn instant(v: &Value) -> DateTime<Utc> {
    utc(v.as_str().unwrap_or_else(|| panic!("not a date-time: {v}")))
}

/// Today in Asia/Shanghai, where test tenants are unless they move (UTC+8 all year since 1991).
pub fn shanghai_today() -> NaiveDate {
    let shanghai = FixedOffset::east_opt(8 * 3600).expect("valid offset");
    Utc::now().with_timezone(&shanghai).date_naive()
}

/// Shanghai's today shifted by `days` (negative: in the past), as `YYYY-MM-DD`.
pub fn shanghai_day(days: i64) -> String {
    (shanghai_today() + Duration::days(days)).format("%Y-%m-%d").to_string()
}

fn text(data: &Value, pointer: &str) -> String {
    data.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no {pointer} in {data}"))
        .to_owned()
}

impl TestApp {
    /// Creates a customer called `name` and returns its id.
    pub async fn customer_id(&self, token: &str, name: &str) -> String {
        text(&self.create_customer(token, name, json!({})).await, "/id")
    }

    pub async fn archive_customer(&self, token: &str, id: impl Serialize) {
        self.ok(token, ARCHIVE_CUSTOMER, json!({ "input": { "id": id } })).await;
    }

    pub async fn change_customer_status(&self, token: &str, id: impl Serialize, status: &str) {
        self.ok(
            token,
            CHANGE_CUSTOMER_STATUS,
            json!({ "input": { "id": id, "status": status } }),
        )
        .await;
    }

    pub async fn erase_customer(&self, token: &str, id: impl Serialize) {
        self.ok(token, ERASE_CUSTOMER, json!({ "input": { "id": id } })).await;
    }

    /// Merges `duplicate` into `primary`.
    pub async fn merge_customers(&self, token: &str, primary: impl Serialize, duplicate: impl Serialize) {
        self.ok(
            token,
            MERGE_CUSTOMERS,
            json!({ "input": { "primaryId": primary, "duplicateIds": [duplicate] } }),
        )
        .await;
    }

    /// Creates a contract (`contract_input`); returns its id, number, version, status and custom fields.
    pub async fn create_contract(&self, token: &str, customer_id: impl Serialize, extra: Value) -> Value {
        let input = contract_input(customer_id, extra);
        self.ok(token, CREATE_CONTRACT, json!({ "input": input })).await["createContract"]["contract"].clone()
    }

    /// Records a sale (`sale_input`); returns its id and custom fields.
    pub async fn record_sale(&self, token: &str, customer_id: impl Serialize, extra: Value) -> Value {
        let input = sale_input(customer_id, extra);
        self.ok(token, RECORD_SALE, json!({ "input": input })).await["recordTransaction"]["transaction"].clone()
    }

    /// Records the sale of one unit at `amount` at `at`; returns its id.
    pub async fn buy(
        &self,
        token: &str,
        customer_id: impl Serialize,
        at: &str,
        amount: &str,
        currency: &str,
    ) -> String {
        let sale = json!({ "occurredAt": at, "unitPrice": amount, "currency": currency });
        text(&self.record_sale(token, customer_id, sale).await, "/id")
    }

    pub async fn void_sale(&self, token: &str, id: impl Serialize) {
        self.ok(
            token,
            VOID_SALE,
            json!({ "input": { "id": id, "reason": "entered twice" } }),
        )
        .await;
    }

    /// Logs an interaction (`interaction_input`); returns the `interaction` and its `followUp`.
    pub async fn log_interaction(&self, token: &str, customer_id: impl Serialize, extra: Value) -> Value {
        let input = interaction_input(customer_id, extra);
        self.ok(token, LOG_INTERACTION, json!({ "input": input })).await["logInteraction"].clone()
    }

    /// Schedules a follow-up due at `due_at` with `extra` fields; returns its id and version.
    pub async fn schedule_follow_up(
        &self,
        token: &str,
        customer_id: impl Serialize,
        due_at: &str,
        extra: Value,
    ) -> Value {
        let input = with(json!({ "customerId": customer_id, "dueAt": due_at }), extra);
        self.ok(token, SCHEDULE_FOLLOW_UP, json!({ "input": input })).await["scheduleFollowUp"]["followUp"].clone()
    }

    /// Records feedback (`feedback_input`); returns its id.
    pub async fn record_feedback(&self, token: &str, customer_id: impl Serialize, extra: Value) -> String {
        let input = feedback_input(customer_id, extra);
        text(
            &self.ok(token, RECORD_FEEDBACK, json!({ "input": input })).await,
            "/recordFeedback/feedback/id",
        )
    }

    /// Creates a tag and returns its id.
    pub async fn create_tag(&self, token: &str, name: &str) -> String {
        let data = self.ok(token, CREATE_TAG, json!({ "input": { "name": name } })).await;
        text(&data, "/createTag/tag/id")
    }

    /// Defines a custom field (`custom_field_input`); returns its id.
    pub async fn define_custom_field(
        &self,
        token: &str,
        entity: &str,
        key: &str,
        field_type: &str,
        extra: Value,
    ) -> String {
        let input = custom_field_input(entity, key, field_type, extra);
        let data = self.ok(token, DEFINE_CUSTOM_FIELD, json!({ "input": input })).await;
        text(&data, "/defineCustomField/customField/id")
    }

    /// Rotates the tenant's data key; returns the new key's version.
    pub async fn rotate_tenant_key(&self, token: &str) -> Value {
        self.ok(token, ROTATE_TENANT_KEY, json!({})).await["rotateTenantKey"]["dataKeyVersion"].clone()
    }

    /// For each customer on the first page `token` sees, by id: the `field` of the first two
    /// items of its nested `list` and the list's total count.
    pub async fn first_two_of_each_customer(
        &self,
        token: &str,
        list: &str,
        field: &str,
    ) -> std::collections::BTreeMap<String, (Vec<String>, u64)> {
        let query = format!(
            "{{ customers(first: 10) {{ nodes {{ id {list}(first: 2) {{ totalCount nodes {{ {field} }} }} }} }} }}"
        );
        let data = self.ok(token, &query, json!({})).await;
        let nodes = data["customers"]["nodes"].as_array().expect("customers");
        nodes
            .iter()
            .map(|node| {
                let items = pluck(&node[list], &format!("/{field}"));
                let total = node[list]["totalCount"].as_u64().expect("a total count");
                (text(node, "/id"), (items, total))
            })
            .collect()
    }

    /// Every reminder row of the app's database, the earliest due first.
    pub async fn reminder_rows(&self) -> Vec<entity::reminder::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        let db = self.raw_db().await;
        let rows = entity::reminder::Entity::find()
            .order_by_asc(entity::reminder::Column::DueAt)
            .all(&db)
            .await
            .expect("reminders");
        db.close().await.ok();
        rows
    }

    /// Plans reminders once, as the app's background planner would at `clock`'s time;
    /// returns how many it made.
    pub async fn plan_reminders(&self, clock: &dyn dossier::jobs::clock::Clock) -> u64 {
        dossier::jobs::planner::plan_once(&self.store().await, clock)
            .await
            .expect("planning runs")
    }

    /// The audit entries of one record, newest first: action, entity, changed fields and actor.
    pub async fn audit_of(&self, token: &str, entity_id: impl Serialize) -> Vec<Value> {
        let data = self.ok(token, AUDIT_OF, json!({ "id": entity_id })).await;
        let edges = data["auditLog"]["edges"].as_array().expect("audit entries");
        edges.iter().map(|e| e["node"].clone()).collect()
    }

    /// Like `audit_of`, each entry as its action and changed fields.
    pub async fn audit_changes_of(&self, token: &str, entity_id: impl Serialize) -> Vec<(String, Value)> {
        let entries = self.audit_of(token, entity_id).await;
        entries
            .into_iter()
            .map(|e| (text(&e, "/action"), e["changedFields"].clone()))
            .collect()
    }
}
