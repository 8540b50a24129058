//! Scalars whose text form is part of the API contract.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;

/// A calendar date, `YYYY-MM-DD` (ISO 8601). Inputs are checked by the service, so a bad
/// date is reported as a VALIDATION error naming its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Date(pub String);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Date(s)),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

impl From<NaiveDate> for Date {
    fn from(d: NaiveDate) -> Self {
        Date(d.format("%Y-%m-%d").to_string())
    }
}

/// An exact decimal amount as a string, e.g. `"1234.50"`; never a float.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal(pub String);

#[Scalar(name = "Decimal")]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Decimal(s)),
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Decimal(n.to_string())),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}

/// An exact amount of one currency.
#[derive(async_graphql::SimpleObject, Debug, Clone)]
pub struct Money {
    /// Decimal with the currency's minor digits, e.g. `"1234.50"` for CNY, `"1200"` for JPY.
    pub amount: Decimal,
    /// ISO 4217, e.g. CNY.
    pub currency: String,
}

impl From<crate::domain::money::Money> for Money {
    fn from(m: crate::domain::money::Money) -> Self {
        Money {
            amount: Decimal(m.to_string()),
            currency: m.currency.code().to_owned(),
        }
    }
}
