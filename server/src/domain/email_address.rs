//! An e-mail address that has been read once at the boundary: lower-cased, trimmed and of a
//! plausible `local@domain.tld` shape, so code that holds one never checks it again.

use std::fmt;

use super::{DomainError, DomainResult};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Trims and lower-cases `text`; refused on `field` unless it has a non-empty local part
    /// of at most 64 bytes, one `@`, and a dotted domain of letters, digits and inner hyphens,
    /// at most 254 bytes in all and free of white space and control characters.
    pub fn parse(field: &str, text: &str) -> DomainResult<Self> {
        let value = text.trim().to_lowercase();
        let invalid = || DomainError::validation(field, "must be an e-mail address");
        if value.len() > 254 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(invalid)?;
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain.contains('.') || !labels_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_on(text: &str) -> String {
        match EmailAddress::parse("email", text) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("{text:?} should be refused, got {other:?}"),
        }
    }

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        let address = EmailAddress::parse("email", " Zhang@Example.COM ").unwrap();
        assert_eq!(address.as_str(), "zhang@example.com");
        assert_eq!(address.to_string(), "zhang@example.com");
        assert_eq!(
            EmailAddress::parse("email", "李@例子.中国").unwrap().as_str(),
            "李@例子.中国"
        );
        assert_eq!(
            EmailAddress::parse("email", "a.b+tag@mail.example-co.cn")
                .unwrap()
                .into_string(),
            "a.b+tag@mail.example-co.cn"
        );
    }

    #[test]
    fn shapes_that_are_not_addresses_are_refused_on_the_field() {
        for bad in [
            "zhang",
            "a@b",
            "a b@c.com",
            "@c.com",
            "a@-c.com",
            "a@c-.com",
            "a@c..com",
            "a@c.com.",
            "a@b@c.com",
            "a@c_d.com",
            "a\u{0}@c.com",
            "",
        ] {
            assert_eq!(refused_on(bad), "email", "{bad:?}");
        }
    }

    #[test]
    fn length_limits_hold() {
        let local = "a".repeat(64);
        assert!(EmailAddress::parse("email", &format!("{local}@c.com")).is_ok());
        refused_on(&format!("{local}a@c.com"));
        let domain = format!("{}.com", "d".repeat(254 - 4 - 2));
        assert_eq!(format!("a@{domain}").len(), 254);
        assert!(EmailAddress::parse("email", &format!("a@{domain}")).is_ok());
        refused_on(&format!("ab@{domain}"));
    }

    #[test]
    fn an_accepted_address_reads_back_as_itself() {
        for text in [" Zhang@Example.COM ", "ÄÖ@Ü.de", "x@y.z"] {
            let once = EmailAddress::parse("email", text).unwrap();
            assert_eq!(EmailAddress::parse("email", once.as_str()).unwrap(), once);
        }
    }
}
