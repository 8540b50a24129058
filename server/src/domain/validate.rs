//! Input rules shared by every service: text limits, dates, e-mail syntax, slugs, and the
//! guard that keeps identity-card and bank-card numbers out of free text.
//!
//! Every string a client sends passes [`plain`] (directly or through the helpers here)
//! before it is stored or reaches a query: control characters are refused (PostgreSQL
//! refuses NUL outright, and the rest only serve to forge logs or terminals), line breaks
//! and tabs only where text may span lines, and every string has a length cap.

use chrono::NaiveDate;
use unicode_normalization::UnicodeNormalization;
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use super::email_address::EmailAddress;
use super::phone_number::PhoneNumber;
use super::time_zone::TimeZone;
use super::{DomainError, DomainResult};

/// Whether a text may span lines (notes, terms) or is one line (names, titles, keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    One,
    Many,
}

/// The longest search or filter term; longer ones are not searches but attacks on the
/// pattern matcher (SQLite refuses LIKE patterns over 50,000 bytes).
pub const TERM_MAX: usize = 200;

/// Refuses control characters (line breaks and tabs are allowed in `Lines::Many` text) and
/// text longer than `max` characters, naming `field`.
pub fn plain(field: &str, value: &str, max: usize, lines: Lines) -> DomainResult<()> {
    // Bytes bound characters from above: a cheap first look at huge input.
    if value.len() > max && value.chars().count() > max {
        return Err(DomainError::validation(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    let allowed = |c: char| lines == Lines::Many && matches!(c, '\n' | '\t' | '\r');
    if value.chars().any(|c| c.is_control() && !allowed(c)) {
        let message = if lines == Lines::One && value.contains(['\n', '\r', '\t']) {
            "must be one line, without tabs"
        } else {
            "must not contain control characters"
        };
        return Err(DomainError::validation(field, message));
    }
    Ok(())
}

/// A client string that is looked up or compared but never shown as text (a key, a slug, a
/// code, a cursor, a password): one line, at most `max` characters.
pub fn token<'a>(field: &str, value: &'a str, max: usize) -> DomainResult<&'a str> {
    plain(field, value, max, Lines::One)?;
    Ok(value)
}

/// A search or filter term: trimmed, one line, at most [`TERM_MAX`] characters; empty
/// becomes `None`.
pub fn search_term(field: &str, value: Option<&str>) -> DomainResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    plain(field, value, TERM_MAX, Lines::One)?;
    Ok(Some(value.to_owned()))
}

/// Trims `value`; empty becomes `None`. Longer than `max` characters, holding control
/// characters (line breaks only in `Lines::Many` text) or a card/ID number is refused,
/// naming `field`.
pub fn text(field: &str, value: Option<String>, max: usize, lines: Lines) -> DomainResult<Option<String>> {
    let Some(value) = value else { return Ok(None) };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    plain(field, trimmed, max, lines)?;
    pii_guard(field, trimmed)?;
    Ok(Some(trimmed.to_owned()))
}

/// Multi-line free text (notes, terms, summaries); see [`text`].
pub fn optional_text(field: &str, value: Option<String>, max: usize) -> DomainResult<Option<String>> {
    text(field, value, max, Lines::Many)
}

pub fn required_text(field: &str, value: Option<String>, max: usize) -> DomainResult<String> {
    optional_text(field, value, max)?.ok_or_else(|| DomainError::validation(field, "is required"))
}

/// One line of free text (names, titles, labels); see [`text`].
pub fn optional_line(field: &str, value: Option<String>, max: usize) -> DomainResult<Option<String>> {
    text(field, value, max, Lines::One)
}

pub fn required_line(field: &str, value: Option<String>, max: usize) -> DomainResult<String> {
    optional_line(field, value, max)?.ok_or_else(|| DomainError::validation(field, "is required"))
}

/// Refuses text that holds a Chinese resident identity number (18 characters, valid
/// checksum) or a payment card number (13–19 digits passing Luhn). People write such numbers
/// in groups ("4111 1111-1111 1111", "110105 19491231 002X") and with full-width digits, and
/// a paste may carry invisible characters between the digits, so the text is first brought
/// to one form (see [`scan_form`]) and every run of adjacent groups is tried, not only
/// whole runs.
pub fn pii_guard(field: &str, text: &str) -> DomainResult<()> {
    for candidate in number_candidates(&scan_form(text)) {
        if is_resident_id(&candidate) {
            return Err(DomainError::validation(
                field,
                "looks like an identity-card number; such numbers may not be stored in free text",
            ));
        }
        let digits_only = candidate.bytes().all(|b| b.is_ascii_digit());
        if digits_only && (13..=19).contains(&candidate.len()) && luhn_valid(&candidate) {
            return Err(DomainError::validation(
                field,
                "looks like a bank-card number; such numbers may not be stored in free text",
            ));
        }
    }
    Ok(())
}

/// The text as the guard reads it: NFKC (full-width, circled and superscript digits become
/// ASCII ones), format characters (zero-width spaces and joiners, word joiners, byte-order
/// marks, soft hyphens, direction marks) dropped, and every white space — no-break, ideographic,
/// line breaks — a plain space.
pub fn scan_form(text: &str) -> String {
    text.nfkc()
        .filter(|c| c.general_category() != GeneralCategory::Format)
        .map(|c| if c.is_whitespace() { ' ' } else { c })
        .collect()
}

fn is_group_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '/' | '\u{2010}'..='\u{2015}' | '\u{2212}')
}

/// How many separators in a row may stand between the groups of one number ("4111 - 1111").
const SEPARATOR_RUN_MAX: usize = 3;

/// Each run of adjacent digit groups (joined) that is short enough to be an ID or card number.
fn number_candidates(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut numbers: Vec<Vec<String>> = Vec::new();
    let mut groups: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_ascii_digit() {
            current.push(c);
            i += 1;
            continue;
        }
        // An ID's check character X ends its group.
        if (c == 'X' || c == 'x') && !current.is_empty() && !next.is_some_and(|n| n.is_alphanumeric()) {
            current.push('X');
            i += 1;
            continue;
        }
        if !current.is_empty() {
            groups.push(std::mem::take(&mut current));
        }
        let run = chars[i..]
            .iter()
            .take(SEPARATOR_RUN_MAX + 1)
            .take_while(|c| is_group_separator(**c))
            .count();
        let continues = (1..=SEPARATOR_RUN_MAX).contains(&run)
            && !groups.is_empty()
            && chars.get(i + run).is_some_and(|n| n.is_ascii_digit());
        if continues {
            i += run;
            continue;
        }
        if !groups.is_empty() {
            numbers.push(std::mem::take(&mut groups));
        }
        i += 1;
    }
    if !current.is_empty() {
        groups.push(current);
    }
    if !groups.is_empty() {
        numbers.push(groups);
    }
    let mut candidates = Vec::new();
    for groups in numbers {
        for start in 0..groups.len() {
            let mut joined = String::new();
            for group in &groups[start..] {
                joined.push_str(group);
                if joined.len() > 19 {
                    break;
                }
                candidates.push(joined.clone());
            }
        }
    }
    candidates
}

/// GB 11643-1999: 17 digits and an ISO 7064 MOD 11-2 check character.
fn is_resident_id(candidate: &str) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let chars: Vec<char> = candidate.chars().collect();
    if chars.len() != 18 || !chars[..17].iter().all(|c| c.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = chars[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    CHECK[(sum % 11) as usize] == chars[17]
}

fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

/// Strict ISO calendar date `YYYY-MM-DD` between 1900 and 2200.
pub fn date(field: &str, value: &str) -> DomainResult<NaiveDate> {
    let value = value.trim();
    let well_formed = value.len() == 10
        && value.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    let parsed = well_formed
        .then(|| NaiveDate::parse_from_str(value, "%Y-%m-%d").ok())
        .flatten();
    match parsed {
        Some(d) if (1900..=2200).contains(&chrono::Datelike::year(&d)) => Ok(d),
        _ => Err(DomainError::validation(field, "must be a date as YYYY-MM-DD")),
    }
}

pub fn optional_date(field: &str, value: Option<&str>) -> DomainResult<Option<NaiveDate>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => date(field, v).map(Some),
    }
}

/// Lower-cases and checks an e-mail address for a plausible `local@domain.tld` shape; see
/// [`EmailAddress::parse`].
pub fn email(field: &str, value: &str) -> DomainResult<String> {
    EmailAddress::parse(field, value).map(EmailAddress::into_string)
}

/// Tenant slugs: 3–40 of `a-z 0-9 -`, not starting or ending with a hyphen.
pub fn slug(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim().to_lowercase();
    let ok = (3..=40).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if ok {
        Ok(value)
    } else {
        Err(DomainError::validation(
            field,
            "must be 3–40 characters of a-z, 0-9 and -, not starting or ending with -",
        ))
    }
}

pub fn password(field: &str, value: &str) -> DomainResult<()> {
    plain(field, value, 256, Lines::One)?;
    let n = value.chars().count();
    if n < 10 {
        return Err(DomainError::validation(field, "must be at least 10 characters"));
    }
    if n > 256 {
        return Err(DomainError::validation(field, "must be at most 256 characters"));
    }
    Ok(())
}

/// The IANA name of a time zone; see [`TimeZone::parse`].
pub fn timezone(field: &str, value: &str) -> DomainResult<String> {
    TimeZone::parse(field, value).map(|zone| zone.name().to_owned())
}

/// An ISO 3166 region that phone numbers can be read in, e.g. `CN`.
pub fn phone_region(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim().to_ascii_uppercase();
    value
        .parse::<phonenumber::country::Id>()
        .map(|_| value.clone())
        .map_err(|_| DomainError::validation(field, "must be a two-letter region code such as CN"))
}

/// A phone number in E.164 (`+8613800138000`), read in `region` when it has no country
/// code; see [`PhoneNumber::parse`].
pub fn phone(field: &str, value: &str, region: &str) -> DomainResult<String> {
    PhoneNumber::parse(field, value, region).map(PhoneNumber::into_string)
}

/// WeChat ids: 6–20 characters, a letter first, then letters, digits, `_` or `-`; lower-cased.
pub fn wechat(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim().to_lowercase();
    let ok = (6..=20).contains(&value.len())
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(value)
    } else {
        Err(DomainError::validation(
            field,
            "must be a WeChat id: 6–20 letters, digits, _ or -, starting with a letter",
        ))
    }
}

/// QQ numbers: 5–11 digits, not starting with 0.
pub fn qq(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim();
    let ok = (5..=11).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(DomainError::validation(field, "must be a QQ number: 5–11 digits"))
    }
}

/// `#rrggbb`, lower-cased.
pub fn color(field: &str, value: &str) -> DomainResult<String> {
    let value = value.trim().to_lowercase();
    let ok = value.len() == 7 && value.starts_with('#') && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(value)
    } else {
        Err(DomainError::validation(field, "must be a colour as #rrggbb"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: DomainError) -> String {
        match err {
            DomainError::Validation { field, .. } => field,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn identity_numbers_with_a_valid_checksum_are_refused() {
        // 11010519491231002X is the standard's published example.
        let err = pii_guard("notes", "ID 11010519491231002X, call after 5").unwrap_err();
        assert_eq!(field_of(err), "notes");
        assert!(
            pii_guard("notes", "id 110105194912310021").is_ok(),
            "wrong check digit is not an ID"
        );
    }

    #[test]
    fn luhn_valid_card_numbers_are_refused_even_when_grouped() {
        assert!(pii_guard("notes", "card 4111111111111111").is_err());
        assert!(pii_guard("notes", "card 4111 1111 1111 1111 thanks").is_err());
        assert!(pii_guard("notes", "card 5555-5555-5555-4444").is_err());
        assert!(pii_guard("notes", "order 4111111111111112").is_ok(), "fails Luhn");
    }

    #[test]
    fn numbers_glued_to_others_or_written_full_width_are_still_found() {
        assert!(pii_guard("notes", "11010519491231002X 1").is_err());
        assert!(pii_guard("notes", "110105 19491231 002X").is_err());
        assert!(pii_guard("notes", "4111111111111111-7").is_err());
        assert!(pii_guard("notes", "卡号４１１１１１１１１１１１１１１１").is_err());
        assert!(pii_guard("notes", "4111.1111.1111.1111").is_err());
    }

    #[test]
    fn numbers_split_by_invisible_characters_or_any_white_space_are_found() {
        for splitter in [
            "\u{200B}", "\u{2060}", "\u{FEFF}", "\u{00AD}", "\u{00A0}", "\u{202F}", "\n", "\r\n", " - ",
        ] {
            let card = ["4111", "1111", "1111", "1111"].join(splitter);
            assert!(pii_guard("notes", &card).is_err(), "{splitter:?}");
            let id = ["110105", "19491231", "002X"].join(splitter);
            assert!(pii_guard("notes", &id).is_err(), "{splitter:?}");
        }
        assert!(pii_guard("notes", "card ④①①①①①①①①①①①①①①①").is_err(), "circled digits");
    }

    #[test]
    fn control_characters_are_refused_and_line_breaks_only_in_multi_line_text() {
        assert!(plain("f", "a\u{0}b", 10, Lines::Many).is_err());
        assert!(plain("f", "a\u{1b}[2J", 10, Lines::Many).is_err());
        assert!(plain("f", "a\nb\tc", 10, Lines::Many).is_ok());
        assert!(plain("f", "a\nb", 10, Lines::One).is_err());
        assert!(plain("f", "a\tb", 10, Lines::One).is_err());
        assert!(search_term("q", Some(&"x".repeat(TERM_MAX + 1))).is_err());
        assert_eq!(search_term("q", Some("  x ")).unwrap(), Some("x".into()));
        assert_eq!(
            field_of(required_line("name", Some("a\nb".into()), 10).unwrap_err()),
            "name"
        );
    }

    #[test]
    fn ordinary_numbers_pass_the_guard() {
        assert!(pii_guard("notes", "phones 13812345678 13912345678 and 010-12345678").is_ok());
        assert!(pii_guard("notes", "order 2026-11-25 total 1234567.89").is_ok());
        assert!(pii_guard("notes", "call 13812345678 on 2026-01-05, budget 500000").is_ok());
        assert!(pii_guard("notes", "客户预算 30 万").is_ok());
    }

    #[test]
    fn text_is_trimmed_limited_and_empty_means_absent() {
        assert_eq!(optional_text("f", Some("  hi ".into()), 5).unwrap(), Some("hi".into()));
        assert_eq!(optional_text("f", Some("   ".into()), 5).unwrap(), None);
        assert_eq!(
            field_of(optional_text("f", Some("toolong".into()), 5).unwrap_err()),
            "f"
        );
        assert_eq!(
            optional_text("f", Some("张三李四".into()), 4).unwrap(),
            Some("张三李四".into())
        );
        assert_eq!(field_of(required_text("name", None, 5).unwrap_err()), "name");
    }

    #[test]
    fn dates_must_be_strict_iso() {
        assert_eq!(
            date("d", "2026-02-28").unwrap(),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        for bad in [
            "2026-02-30",
            "2026-2-3",
            "26-02-03",
            "2026/02/03",
            "1800-01-01",
            "tomorrow",
        ] {
            assert!(date("d", bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_checked() {
        assert_eq!(email("e", " Zhang@Example.COM ").unwrap(), "zhang@example.com");
        for bad in ["zhang", "a@b", "a b@c.com", "@c.com", "a@-c.com"] {
            assert!(email("e", bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn phone_numbers_become_e164() {
        assert_eq!(phone("phone", "138 0013 8000", "CN").unwrap(), "+8613800138000");
        assert_eq!(phone("phone", "(415) 555-0132", "US").unwrap(), "+14155550132");
        assert_eq!(field_of(phone("mobile", "12345", "CN").unwrap_err()), "mobile");
    }

    #[test]
    fn wechat_and_qq_ids_follow_their_formats() {
        assert_eq!(wechat("w", " WXID_Zhang ").unwrap(), "wxid_zhang");
        assert!(wechat("w", "1abcdef").is_err());
        assert!(wechat("w", "abc").is_err());
        assert_eq!(qq("q", "12345678").unwrap(), "12345678");
        assert!(qq("q", "0123456").is_err());
        assert!(qq("q", "12ab5").is_err());
    }

    #[test]
    fn slugs_timezones_and_colours() {
        assert_eq!(slug("s", "Acme-Co").unwrap(), "acme-co");
        assert!(slug("s", "-x-").is_err());
        assert_eq!(timezone("t", "Asia/Shanghai").unwrap(), "Asia/Shanghai");
        assert!(timezone("t", "Mars/Base").is_err());
        assert_eq!(color("c", "#FFaa00").unwrap(), "#ffaa00");
        assert!(color("c", "red").is_err());
    }
}
