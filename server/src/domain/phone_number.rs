//! A phone number in E.164 (`+8613800138000`), read once at the boundary in whatever common
//! format a person types it; what is stored and searched is always this one form.

use std::fmt;

use phonenumber::Mode;

use super::{DomainError, DomainResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Reads `text` as a phone number, in `default_region` (an ISO 3166 code such as `CN`)
    /// when it carries no country code; an unknown region means only numbers with a country
    /// code are read. Refused on `field` unless the number is valid and its E.164 form reads
    /// back as itself.
    pub fn parse(field: &str, text: &str, default_region: &str) -> DomainResult<Self> {
        let invalid = || DomainError::validation(field, "must be a valid phone number");
        let region = default_region.parse::<phonenumber::country::Id>().ok();
        let number = phonenumber::parse(region, text.trim()).map_err(|_| invalid())?;
        if !number.is_valid() {
            return Err(invalid());
        }
        let e164 = number.format().mode(Mode::E164).to_string();
        // Some odd inputs read as a valid number whose E.164 form is not one (a national
        // leading zero lost on the way): what is stored and searched must read back as itself.
        let reread = phonenumber::parse(region, &e164)
            .ok()
            .filter(phonenumber::PhoneNumber::is_valid);
        if reread.is_none_or(|n| n.format().mode(Mode::E164).to_string() != e164) {
            return Err(invalid());
        }
        Ok(Self(e164))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e164(text: &str, region: &str) -> String {
        PhoneNumber::parse("phone", text, region).unwrap().into_string()
    }

    fn refused_on(text: &str, region: &str) -> String {
        match PhoneNumber::parse("phone", text, region) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn common_formats_become_e164() {
        for written in [
            "+86 138-0013-8000",
            "13800138000",
            "138 0013 8000",
            "+8613800138000",
            "0086 138 0013 8000",
            " 13800138000 ",
        ] {
            assert_eq!(e164(written, "CN"), "+8613800138000", "{written}");
        }
        assert_eq!(e164("(415) 555-0132", "US"), "+14155550132");
        assert_eq!(
            e164("+14155550132", "CN"),
            "+14155550132",
            "a country code wins over the region"
        );
    }

    #[test]
    fn the_region_only_reads_numbers_without_a_country_code() {
        assert_eq!(e164("+8613800138000", "ZZ"), "+8613800138000");
        refused_on("13800138000", "ZZ");
    }

    #[test]
    fn invalid_numbers_are_refused_on_the_field() {
        assert_eq!(refused_on("12345", "CN"), "phone");
        assert_eq!(refused_on("not a number", "CN"), "phone");
        assert_eq!(refused_on("", "CN"), "phone");
        // Found by fuzzing: read as valid, but its E.164 form was not.
        assert_eq!(refused_on("0051011[10BJ20", "CN"), "phone");
    }

    #[test]
    fn an_accepted_number_reads_back_as_itself() {
        for (text, region) in [
            ("138 0013 8000", "CN"),
            ("(415) 555-0132", "US"),
            ("020 7946 0958", "GB"),
        ] {
            let once = PhoneNumber::parse("phone", text, region).unwrap();
            assert_eq!(PhoneNumber::parse("phone", once.as_str(), region).unwrap(), once);
        }
    }
}
