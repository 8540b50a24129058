//! Masked forms of contact values for roles that may not read them. Each mask hides at least
//! half of the value, so a masked value can be recognised but not reconstructed by guessing.

/// Keeps `head` leading and `tail` trailing characters, stars in between.
fn keep_ends(chars: &[char], head: usize, tail: usize, stars: &str) -> String {
    let head: String = chars[..head].iter().collect();
    let tail: String = chars[chars.len() - tail..].iter().collect();
    format!("{head}{stars}{tail}")
}

/// `z***@example.com`; a short local part is hidden entirely.
pub fn email(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain)) if local.chars().count() >= 3 => {
            format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
        }
        Some((_, domain)) => format!("***@{domain}"),
        None => "***".into(),
    }
}

/// `138****5678` for a Chinese mobile number (the customary mask); for other numbers the
/// national number keeps a quarter of its digits at each end.
pub fn phone(e164: &str) -> String {
    let national = phonenumber::parse(None, e164)
        .map(|n| n.national().value().to_string())
        .unwrap_or_else(|_| e164.chars().filter(char::is_ascii_digit).collect());
    let chars: Vec<char> = national.chars().collect();
    if e164.starts_with("+86") && chars.len() == 11 {
        return keep_ends(&chars, 3, 4, "****");
    }
    let keep = chars.len() / 4;
    if keep == 0 {
        return "****".into();
    }
    keep_ends(&chars, keep, keep, "****")
}

/// `wx***ei`: at most two characters at each end, never more than half the value.
pub fn handle(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let keep = (chars.len() / 4).min(2);
    if keep == 0 {
        return "***".into();
    }
    keep_ends(&chars, keep, keep, "***")
}

/// The first characters (usually province and city), at most six and a third of the address.
pub fn address(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let keep = (chars.len() / 3).min(6);
    let head: String = chars[..keep].iter().collect();
    format!("{head}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_recognisable_fragment() {
        assert_eq!(email("zhang.wei@example.com"), "z***@example.com");
        assert_eq!(email("ab@example.com"), "***@example.com");
        assert_eq!(phone("+8613812345678"), "138****5678");
        assert_eq!(phone("+14155550123"), "41****23");
        assert_eq!(handle("wxid_zhangwei"), "wx***ei");
        assert_eq!(handle("12345678"), "12***78");
        assert_eq!(handle("12345"), "1***5");
        assert_eq!(handle("123"), "***");
        assert_eq!(address("上海市浦东新区世纪大道100号"), "上海市浦东***");
        assert_eq!(address("北京市"), "北***");
    }
}
