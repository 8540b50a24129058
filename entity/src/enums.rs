//! Closed sets stored as short strings, identical on SQLite and PostgreSQL.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Roles from most to least privileged; the order is used for comparisons.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    #[sea_orm(string_value = "viewer")]
    Viewer,
    #[sea_orm(string_value = "sales")]
    Sales,
    #[sea_orm(string_value = "manager")]
    Manager,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "owner")]
    Owner,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Locale {
    #[sea_orm(string_value = "zh-CN")]
    ZhCn,
    #[sea_orm(string_value = "en")]
    En,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CustomerKind {
    #[sea_orm(string_value = "individual")]
    Individual,
    #[sea_orm(string_value = "company")]
    Company,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CustomerSource {
    #[sea_orm(string_value = "online")]
    Online,
    #[sea_orm(string_value = "referral")]
    Referral,
    #[sea_orm(string_value = "offline_event")]
    OfflineEvent,
    #[sea_orm(string_value = "advertising")]
    Advertising,
    #[sea_orm(string_value = "other")]
    Other,
}

/// 潜在 potential, 意向 intent, 成交 customer, 流失 lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CustomerStatus {
    #[sea_orm(string_value = "potential")]
    Potential,
    #[sea_orm(string_value = "intent")]
    Intent,
    #[sea_orm(string_value = "customer")]
    Customer,
    #[sea_orm(string_value = "lost")]
    Lost,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Gender {
    #[sea_orm(string_value = "female")]
    Female,
    #[sea_orm(string_value = "male")]
    Male,
    #[sea_orm(string_value = "other")]
    Other,
    #[sea_orm(string_value = "undisclosed")]
    Undisclosed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AgeBand {
    #[sea_orm(string_value = "under_18")]
    Under18,
    #[sea_orm(string_value = "18_24")]
    From18To24,
    #[sea_orm(string_value = "25_34")]
    From25To34,
    #[sea_orm(string_value = "35_44")]
    From35To44,
    #[sea_orm(string_value = "45_54")]
    From45To54,
    #[sea_orm(string_value = "55_64")]
    From55To64,
    #[sea_orm(string_value = "65_plus")]
    From65,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CompanySize {
    /// 1–9 people
    #[sea_orm(string_value = "micro")]
    Micro,
    /// 10–49
    #[sea_orm(string_value = "small")]
    Small,
    /// 50–249
    #[sea_orm(string_value = "medium")]
    Medium,
    /// 250–999
    #[sea_orm(string_value = "large")]
    Large,
    /// 1000 and more
    #[sea_orm(string_value = "enterprise")]
    Enterprise,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ContactChannel {
    #[sea_orm(string_value = "phone")]
    Phone,
    #[sea_orm(string_value = "email")]
    Email,
    #[sea_orm(string_value = "wechat")]
    Wechat,
    #[sea_orm(string_value = "qq")]
    Qq,
    #[sea_orm(string_value = "sms")]
    Sms,
    #[sea_orm(string_value = "visit")]
    Visit,
    #[sea_orm(string_value = "other")]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum PaymentMethod {
    #[sea_orm(string_value = "cash")]
    Cash,
    #[sea_orm(string_value = "card")]
    Card,
    #[sea_orm(string_value = "bank_transfer")]
    BankTransfer,
    #[sea_orm(string_value = "alipay")]
    Alipay,
    #[sea_orm(string_value = "wechat_pay")]
    WechatPay,
    #[sea_orm(string_value = "other")]
    Other,
}

/// Where a contract stands with its renewal, as the salesperson records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RenewalState {
    #[sea_orm(string_value = "none")]
    None,
    #[sea_orm(string_value = "upcoming")]
    Upcoming,
    #[sea_orm(string_value = "negotiating")]
    Negotiating,
    #[sea_orm(string_value = "renewed")]
    Renewed,
    #[sea_orm(string_value = "churned")]
    Churned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InteractionChannel {
    #[sea_orm(string_value = "call")]
    Call,
    #[sea_orm(string_value = "email")]
    Email,
    #[sea_orm(string_value = "meeting")]
    Meeting,
    #[sea_orm(string_value = "visit")]
    Visit,
    #[sea_orm(string_value = "wechat")]
    Wechat,
    #[sea_orm(string_value = "other")]
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum FeedbackKind {
    #[sea_orm(string_value = "praise")]
    Praise,
    #[sea_orm(string_value = "suggestion")]
    Suggestion,
    #[sea_orm(string_value = "complaint")]
    Complaint,
}

/// The kinds of record a tenant can add its own fields to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CustomFieldEntity {
    #[sea_orm(string_value = "customer")]
    Customer,
    #[sea_orm(string_value = "contract")]
    Contract,
    #[sea_orm(string_value = "transaction")]
    Transaction,
    #[sea_orm(string_value = "interaction")]
    Interaction,
}

/// What a custom field holds; fixed when the field is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CustomFieldType {
    #[sea_orm(string_value = "text")]
    Text,
    #[sea_orm(string_value = "long_text")]
    LongText,
    #[sea_orm(string_value = "integer")]
    Integer,
    #[sea_orm(string_value = "decimal")]
    Decimal,
    #[sea_orm(string_value = "boolean")]
    Boolean,
    #[sea_orm(string_value = "date")]
    Date,
    #[sea_orm(string_value = "datetime")]
    Datetime,
    #[sea_orm(string_value = "select")]
    Select,
    #[sea_orm(string_value = "multi_select")]
    MultiSelect,
    #[sea_orm(string_value = "email")]
    Email,
    #[sea_orm(string_value = "phone")]
    Phone,
    #[sea_orm(string_value = "url")]
    Url,
    #[sea_orm(string_value = "currency_amount")]
    CurrencyAmount,
}

/// What a reminder e-mail is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReminderKind {
    /// A contract ends in N days.
    #[sea_orm(string_value = "contract_expiry")]
    ContractExpiry,
    /// A follow-up falls due.
    #[sea_orm(string_value = "follow_up")]
    FollowUp,
}

/// Where a reminder is on its way out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReminderStatus {
    /// Waiting for its time, or for its next attempt.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Claimed by a worker until its lease ends.
    #[sea_orm(string_value = "sending")]
    Sending,
    #[sea_orm(string_value = "sent")]
    Sent,
    /// Gave up: a permanent refusal, or too many attempts.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Its subject changed (renewed, terminated, done, rescheduled) or someone cancelled it.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}
