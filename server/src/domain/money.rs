//! Exact money: an integer count of the currency's minor unit plus an ISO 4217 code.
//! Stored as BIGINT, so SQLite and PostgreSQL return the same value; never a float.

use std::fmt;

use super::{DomainError, DomainResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn parse(field: &str, code: &str) -> DomainResult<Self> {
        let code = code.trim().to_ascii_uppercase();
        let bytes = code.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(DomainError::validation(
                field,
                "must be a three-letter ISO 4217 currency code",
            ));
        }
        Ok(Self([bytes[0], bytes[1], bytes[2]]))
    }

    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).expect("currency codes are ASCII")
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn exponent(&self) -> u32 {
        match self.code() {
            "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" | "RWF" => 0,
            "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "LYD" | "IQD" => 3,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub minor: i64,
    pub currency: Currency,
}

impl Money {
    /// Parses a decimal string like `1234.5` into minor units; more fractional digits than
    /// the currency has are refused rather than rounded.
    pub fn parse(field: &str, amount: &str, currency: Currency) -> DomainResult<Self> {
        let invalid = |m: &str| DomainError::validation(field, m.to_owned());
        let amount = amount.trim();
        let (negative, digits) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(invalid("must be a decimal number such as 1234.50"));
        }
        let exponent = currency.exponent() as usize;
        if fraction.len() > exponent {
            return Err(invalid(&format!(
                "{} allows at most {exponent} decimal places",
                currency.code()
            )));
        }
        let scaled = format!("{whole}{fraction:0<exponent$}");
        let magnitude: i64 = scaled.parse().map_err(|_| invalid("is too large"))?;
        Ok(Self {
            minor: if negative { -magnitude } else { magnitude },
            currency,
        })
    }

    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// The same decimal amount in `currency` (a currency correction keeps the figure the
    /// user typed); refused on `field` when it has more places than `currency` allows.
    pub fn in_currency(self, field: &str, currency: Currency) -> DomainResult<Self> {
        let (from, to) = (self.currency.exponent(), currency.exponent());
        let minor = if to >= from {
            self.minor
                .checked_mul(10i64.pow(to - from))
                .ok_or_else(|| DomainError::validation(field, "is too large"))?
        } else {
            let scale = 10i64.pow(from - to);
            if self.minor % scale != 0 {
                return Err(DomainError::validation(
                    field,
                    format!("{} allows at most {to} decimal places", currency.code()),
                ));
            }
            self.minor / scale
        };
        Ok(Self { minor, currency })
    }
}

impl fmt::Display for Money {
    /// The amount as a plain decimal with exactly the currency's number of places.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let sign = if self.minor < 0 { "-" } else { "" };
        let magnitude = self.minor.unsigned_abs();
        if exponent == 0 {
            return write!(f, "{sign}{magnitude}");
        }
        let scale = 10u64.pow(exponent);
        write!(
            f,
            "{sign}{}.{:0width$}",
            magnitude / scale,
            magnitude % scale,
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cny() -> Currency {
        Currency::parse("c", "cny").unwrap()
    }

    #[test]
    fn decimals_become_exact_minor_units_and_print_back() {
        let m = Money::parse("a", "1234.5", cny()).unwrap();
        assert_eq!(m.minor, 123_450);
        assert_eq!(m.to_string(), "1234.50");
        assert_eq!(Money::parse("a", "0.01", cny()).unwrap().to_string(), "0.01");
        assert_eq!(Money::parse("a", "-3", cny()).unwrap().to_string(), "-3.00");
        let jpy = Currency::parse("c", "JPY").unwrap();
        assert_eq!(Money::parse("a", "5000", jpy).unwrap().to_string(), "5000");
    }

    #[test]
    fn too_many_places_or_garbage_is_refused() {
        assert!(Money::parse("a", "1.234", cny()).is_err());
        assert!(Money::parse("a", "1e5", cny()).is_err());
        assert!(Money::parse("a", "", cny()).is_err());
        assert!(Money::parse("a", "99999999999999999999", cny()).is_err());
        assert!(Currency::parse("c", "RMB1").is_err());
    }

    #[test]
    fn a_currency_change_keeps_the_figure_when_it_fits() {
        let jpy = Currency::parse("c", "JPY").unwrap();
        let kwd = Currency::parse("c", "KWD").unwrap();
        let whole = Money::parse("a", "1999", cny()).unwrap();
        assert_eq!(whole.in_currency("a", jpy).unwrap().to_string(), "1999");
        assert_eq!(whole.in_currency("a", kwd).unwrap().to_string(), "1999.000");
        let cents = Money::parse("a", "19.99", cny()).unwrap();
        assert!(cents.in_currency("a", jpy).is_err());
        assert!(Money::from_minor(i64::MAX, jpy).in_currency("a", cny()).is_err());
    }
}
