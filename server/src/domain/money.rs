//! Exact money: an integer count of the currency's minor unit plus an ISO 4217 code.
//! Stored as BIGINT, so SQLite and PostgreSQL return the same value; never a float.

use std::fmt;

use super::{DomainError, DomainResult};

/// A currency of the ISO 4217 table that has a minor unit. Codes outside the table, and
/// units the table gives no minor unit (gold, SDRs, the testing code XTS, "no currency"
/// XXX), cannot be counted in minor units and are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    iso: iso_currency::Currency,
    exponent: u8,
}

impl Currency {
    pub fn parse(field: &str, code: &str) -> DomainResult<Self> {
        let code = code.trim().to_ascii_uppercase();
        let iso = iso_currency::Currency::from_code(&code)
            .ok_or_else(|| DomainError::validation(field, "is not an ISO 4217 currency code"))?;
        let exponent = iso
            .exponent()
            .and_then(|e| u8::try_from(e).ok())
            .filter(|e| u32::from(*e) <= MAX_EXPONENT)
            .ok_or_else(|| DomainError::validation(field, "has no minor unit, so it cannot hold an amount"))?;
        Ok(Self { iso, exponent })
    }

    pub fn code(&self) -> &str {
        self.iso.code()
    }

    /// Digits after the decimal point (ISO 4217 minor unit).
    pub fn exponent(&self) -> u32 {
        u32::from(self.exponent)
    }
}

/// ISO 4217 has at most 4 places today (CLF, UYW); past 18, `10^exponent` would overflow
/// the `i64` arithmetic on minor units.
const MAX_EXPONENT: u32 = 18;

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

    fn places(code: &str) -> u32 {
        Currency::parse("c", code).unwrap().exponent()
    }

    fn refusal(code: &str) -> (String, String) {
        match Currency::parse("currency", code).unwrap_err() {
            DomainError::Validation { field, message } => (field, message),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn only_iso_4217_codes_are_currencies() {
        let (field, message) = refusal("XYZ");
        assert_eq!(field, "currency");
        assert!(message.contains("ISO 4217"), "{message}");
        for bad in ["", "US", "USDX", "U$D", "€"] {
            assert_eq!(refusal(bad).0, "currency", "{bad:?}");
        }
        assert_eq!(Currency::parse("c", " usd ").unwrap().code(), "USD");
    }

    #[test]
    fn units_without_a_minor_unit_cannot_hold_money() {
        for code in ["XAU", "XXX", "XDR", "XTS"] {
            let (field, message) = refusal(code);
            assert_eq!(field, "currency");
            assert!(message.contains("minor unit"), "{code}: {message}");
        }
    }

    #[test]
    fn minor_units_come_from_the_iso_table() {
        for code in ["JPY", "KRW", "ISK", "XPF", "VUV"] {
            assert_eq!(places(code), 0, "{code}");
        }
        for code in ["BHD", "KWD", "TND", "OMR", "IQD"] {
            assert_eq!(places(code), 3, "{code}");
        }
        for code in ["CNY", "USD", "EUR", "GBP"] {
            assert_eq!(places(code), 2, "{code}");
        }
        assert_eq!(places("CLF"), 4);
    }

    #[test]
    fn four_place_currencies_parse_print_and_convert() {
        let clf = Currency::parse("c", "CLF").unwrap();
        let m = Money::parse("a", "1.2345", clf).unwrap();
        assert_eq!(m.minor, 12_345);
        assert_eq!(m.to_string(), "1.2345");
        assert_eq!(Money::parse("a", "-7.5", clf).unwrap().to_string(), "-7.5000");
        assert!(Money::parse("a", "1.23456", clf).is_err());
        assert!(m.in_currency("a", cny()).is_err(), "four places do not fit in two");
        let whole = Money::parse("a", "12", cny()).unwrap();
        assert_eq!(whole.in_currency("a", clf).unwrap().to_string(), "12.0000");
        let kwd = Currency::parse("c", "KWD").unwrap();
        assert_eq!(Money::parse("a", "1.005", kwd).unwrap().minor, 1_005);
        let jpy = Currency::parse("c", "JPY").unwrap();
        assert!(Money::parse("a", "1.5", jpy).is_err());
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
