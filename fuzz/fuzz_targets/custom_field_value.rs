//! The custom-field value validator never panics on any JSON for any field type, and what it
//! accepts is accepted again as the same stored shape.
#![no_main]

use chrono::Utc;
use dossier::domain::custom_fields::values::normalise;
use dossier::domain::custom_fields::{Definition, FieldEntity, FieldType};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};
use uuid::Uuid;

const TYPES: [FieldType; 13] = [
    FieldType::Text,
    FieldType::LongText,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::Datetime,
    FieldType::Select,
    FieldType::MultiSelect,
    FieldType::Email,
    FieldType::Phone,
    FieldType::Url,
    FieldType::CurrencyAmount,
];

fn definition(field_type: FieldType) -> Definition {
    Definition {
        id: Uuid::nil(),
        tenant_id: Uuid::nil(),
        entity: FieldEntity::Customer,
        key: "field".into(),
        label: "Field".into(),
        field_type,
        required: false,
        options: Some(json!(["a", "b", "选项"])),
        default_value: None,
        sensitive: false,
        searchable: false,
        is_unique: false,
        position: 0,
        help_text: None,
        archived_at: None,
        version: 1,
        created_at: Utc::now(),
        updated_at: Utc::now(),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    // JSON when it parses, else the bytes as a JSON string.
    let value: Json = serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.to_owned()));
    let def = definition(TYPES[usize::from(selector) % TYPES.len()]);
    if let Ok(Some(stored)) = normalise(&def, &value, "CN") {
        let again = normalise(&def, &stored, "CN");
        assert!(
            matches!(&again, Ok(Some(v)) if *v == stored),
            "{:?}: {value} became {stored}, then {again:?}",
            def.field_type
        );
    }
});
