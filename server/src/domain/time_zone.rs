//! A time zone named by its IANA tz database name (`Asia/Shanghai`), read once at the
//! boundary: anything the database does not name is refused rather than taken as UTC, so a
//! typo cannot move a tenant's calendar by hours.

use std::fmt;

use chrono_tz::Tz;

use super::{DomainError, DomainResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZone(Tz);

impl TimeZone {
    /// The zone `text` names (surrounding white space ignored; names are case-sensitive, as
    /// in the tz database), refused on `field` otherwise.
    pub fn parse(field: &str, text: &str) -> DomainResult<Self> {
        text.trim()
            .parse::<Tz>()
            .map(Self)
            .map_err(|_| DomainError::validation(field, "must be an IANA time zone such as Asia/Shanghai"))
    }

    pub fn tz(self) -> Tz {
        self.0
    }

    /// The tz database name, as stored.
    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl From<Tz> for TimeZone {
    fn from(tz: Tz) -> Self {
        Self(tz)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, Offset, TimeZone as _};

    use super::*;

    fn refused_on(text: &str) -> String {
        match TimeZone::parse("timezone", text) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn iana_names_are_zones() {
        let zone = TimeZone::parse("timezone", " Asia/Shanghai ").unwrap();
        assert_eq!(zone.name(), "Asia/Shanghai");
        assert_eq!(zone.tz(), Tz::Asia__Shanghai);
        assert_eq!(zone.to_string(), "Asia/Shanghai");
        assert_eq!(TimeZone::parse("timezone", "UTC").unwrap().tz(), Tz::UTC);
        assert_eq!(
            TimeZone::parse("timezone", "America/New_York").unwrap().name(),
            "America/New_York"
        );
    }

    #[test]
    fn anything_else_is_refused_not_taken_as_utc() {
        for bad in [
            "",
            "Mars/Base",
            "asia/shanghai",
            "+08:00",
            "UTC+8",
            "CST-8",
            "Asia/Shanghai\u{0}",
            "Asia/ Shanghai",
        ] {
            assert_eq!(refused_on(bad), "timezone", "{bad:?}");
        }
    }

    #[test]
    fn the_zone_keeps_its_rules() {
        let zone = TimeZone::parse("timezone", "Asia/Shanghai").unwrap();
        let noon = NaiveDate::from_ymd_opt(2026, 7, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        let offset = zone.tz().from_local_datetime(&noon).unwrap().offset().fix();
        assert_eq!(offset.local_minus_utc(), 8 * 3600);
    }
}
