//! Masked forms of contact values for roles that may not read them.

/// `z***@example.com`
pub fn email(value: &str) -> String {
    match value.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".into(),
    }
}

/// `138****5678` for a Chinese mobile; otherwise the first three and last four digits.
pub fn phone(e164: &str) -> String {
    let digits: String = e164.chars().filter(char::is_ascii_digit).collect();
    let national = digits
        .strip_prefix("86")
        .filter(|_| e164.starts_with("+86"))
        .unwrap_or(&digits);
    let chars: Vec<char> = national.chars().collect();
    if chars.len() < 8 {
        return "****".into();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// `wx***id`: the first two and last two characters.
pub fn handle(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "***".into();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}***{tail}")
}

/// The first six characters (usually province and city) and then nothing.
pub fn address(value: &str) -> String {
    let head: String = value.chars().take(6).collect();
    format!("{head}***")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_a_recognisable_fragment() {
        assert_eq!(email("zhang.wei@example.com"), "z***@example.com");
        assert_eq!(phone("+8613812345678"), "138****5678");
        assert_eq!(phone("+14155550123"), "141****0123");
        assert_eq!(handle("wxid_zhangwei"), "wx***ei");
        assert_eq!(handle("12345678"), "12***78");
        assert_eq!(address("上海市浦东新区世纪大道100号"), "上海市浦东新***");
    }
}
