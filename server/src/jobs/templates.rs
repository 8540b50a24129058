//! The words of reminder e-mails, in the tenant's language: a subject, a plain-text body and
//! an HTML body saying the same. Dates are in the tenant's time zone.

use chrono::NaiveDate;
use entity::enums::Locale;

use crate::domain::reminders::Letter;

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `letter`; `today` (in the tenant's zone) says how many days are left.
pub fn render(letter: &Letter, today: NaiveDate, frontend_url: &str) -> Rendered {
    let link = format!("{frontend_url}/customers/{}", letter.customer_id);
    let zh = letter.locale == Locale::ZhCn;
    let (subject, lines) = if let Some(c) = &letter.contract {
        let left = (c.end_date - today).num_days().max(0);
        let end = c.end_date.format("%Y-%m-%d");
        if zh {
            (
                format!("合同将于 {left} 天后到期：{} · {}", c.number, letter.customer_name),
                vec![
                    format!(
                        "客户「{}」的合同 {}（{}）将于 {end} 到期，还有 {left} 天。",
                        letter.customer_name, c.number, c.title
                    ),
                    "请及时跟进续约事宜。".to_owned(),
                ],
            )
        } else {
            (
                format!(
                    "Contract {} with {} ends in {left} days",
                    c.number, letter.customer_name
                ),
                vec![
                    format!(
                        "Contract {} ({}) with {} ends on {end}, in {left} days.",
                        c.number, c.title, letter.customer_name
                    ),
                    "Time to talk about the renewal.".to_owned(),
                ],
            )
        }
    } else {
        let due = letter
            .follow_up
            .as_ref()
            .map(|f| {
                f.due_at
                    .with_timezone(&letter.timezone)
                    .format("%Y-%m-%d %H:%M")
                    .to_string()
            })
            .unwrap_or_default();
        let note = letter.follow_up.as_ref().and_then(|f| f.note.clone());
        let mut lines = if zh {
            vec![format!(
                "您对客户「{}」的跟进将于 {due}（{}）到期。",
                letter.customer_name,
                letter.timezone.name()
            )]
        } else {
            vec![format!(
                "Your follow-up with {} is due at {due} ({}).",
                letter.customer_name,
                letter.timezone.name()
            )]
        };
        if let Some(note) = note {
            lines.push(if zh {
                format!("备注：{note}")
            } else {
                format!("Note: {note}")
            });
        }
        let subject = if zh {
            format!("跟进提醒：{} · {due}", letter.customer_name)
        } else {
            format!("Follow-up with {} due {due}", letter.customer_name)
        };
        (subject, lines)
    };
    let open = if zh {
        "打开客户档案"
    } else {
        "Open the customer's file"
    };
    let text = format!("{}\n\n{open}: {link}\n", lines.join("\n"));
    let paragraphs: String = lines.iter().map(|l| format!("<p>{}</p>", escape(l))).collect();
    let html = format!(
        "<!DOCTYPE html><html><body>{paragraphs}<p><a href=\"{}\">{open}</a></p></body></html>",
        escape(&link)
    );
    Rendered { subject, text, html }
}

/// One e-mail for several contract reminders of the same recipient (a tenant's daily digest):
/// a line per contract with its end date, days left and link.
pub fn render_digest(letters: &[Letter], today: NaiveDate, frontend_url: &str) -> Rendered {
    let zh = letters.first().is_some_and(|l| l.locale == Locale::ZhCn);
    let items: Vec<(String, String)> = letters
        .iter()
        .filter_map(|l| {
            let c = l.contract.as_ref()?;
            let left = (c.end_date - today).num_days().max(0);
            let end = c.end_date.format("%Y-%m-%d");
            let line = if zh {
                format!(
                    "{} · {}（{}）· {end} 到期，还有 {left} 天",
                    c.number, l.customer_name, c.title
                )
            } else {
                format!(
                    "{} · {} ({}) · ends {end}, in {left} days",
                    c.number, l.customer_name, c.title
                )
            };
            Some((line, format!("{frontend_url}/customers/{}", l.customer_id)))
        })
        .collect();
    let (subject, intro) = if zh {
        (
            format!("{} 份合同即将到期", items.len()),
            "以下合同即将到期，请及时跟进续约事宜：",
        )
    } else {
        (
            format!("{} contracts end soon", items.len()),
            "These contracts end soon; time to talk about renewals:",
        )
    };
    let text_items: String = items
        .iter()
        .map(|(line, link)| format!("- {line}\n  {link}\n"))
        .collect();
    let html_items: String = items
        .iter()
        .map(|(line, link)| format!("<li><a href=\"{}\">{}</a></li>", escape(link), escape(line)))
        .collect();
    Rendered {
        subject,
        text: format!("{intro}\n\n{text_items}"),
        html: format!(
            "<!DOCTYPE html><html><body><p>{}</p><ul>{html_items}</ul></body></html>",
            escape(intro)
        ),
    }
}

/// The e-mail an admin sends to check the tenant's mail settings.
pub fn render_test(locale: Locale, tenant_name: &str) -> Rendered {
    let (subject, line) = if locale == Locale::ZhCn {
        (
            format!("测试邮件：{tenant_name} 的提醒邮件设置"),
            format!("这是一封测试邮件。{tenant_name} 的合同到期和跟进提醒将以同样方式发出。"),
        )
    } else {
        (
            format!("Test e-mail: reminder settings of {tenant_name}"),
            format!("This is a test. Contract and follow-up reminders of {tenant_name} will reach you the same way."),
        )
    };
    Rendered {
        subject,
        text: format!("{line}\n"),
        html: format!("<!DOCTYPE html><html><body><p>{}</p></body></html>", escape(&line)),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::reminders::{ContractFacts, Letter};
    use entity::enums::ReminderKind;
    use uuid::Uuid;

    fn letter(locale: Locale) -> Letter {
        Letter {
            reminder_id: Uuid::nil(),
            kind: ReminderKind::ContractExpiry,
            locale,
            timezone: "Asia/Shanghai".parse().unwrap(),
            tenant_name: "Acme".into(),
            sender_name: None,
            reply_to: None,
            digest: false,
            recipients: vec![],
            customer_id: Uuid::nil(),
            customer_name: "云图 <Cloud>".into(),
            contract: Some(ContractFacts {
                number: "CT-000007".into(),
                title: "Support".into(),
                end_date: NaiveDate::from_ymd_opt(2026, 12, 31).unwrap(),
                offset_days: 7,
            }),
            follow_up: None,
        }
    }

    #[test]
    fn contract_reminders_name_the_contract_customer_end_and_link_in_both_languages() {
        let today = NaiveDate::from_ymd_opt(2026, 12, 24).unwrap();
        let zh = render(&letter(Locale::ZhCn), today, "https://app.example.com");
        assert_eq!(zh.subject, "合同将于 7 天后到期：CT-000007 · 云图 <Cloud>");
        let en = render(&letter(Locale::En), today, "https://app.example.com");
        assert_eq!(en.subject, "Contract CT-000007 with 云图 <Cloud> ends in 7 days");
        for r in [&zh, &en] {
            for part in [&r.text, &r.html] {
                assert!(part.contains("CT-000007") && part.contains("2026-12-31"), "{part}");
                assert!(part.contains("https://app.example.com/customers/00000000-0000-0000-0000-000000000000"));
            }
            assert!(r.html.contains("云图 &lt;Cloud&gt;"), "HTML escapes names: {}", r.html);
        }
    }
}
