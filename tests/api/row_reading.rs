//! The readers that test nullable columns for NULL before decoding them (`domain/rows.rs`)
//! read every row exactly as SeaORM's derived reader does, with and without a column prefix.

use std::collections::BTreeSet;
use std::fmt::Debug;

use dossier::domain::rows::ReadRow;
use dossier_tests::fixtures::from_now;
use dossier_tests::spawn_app;
use sea_orm::sqlx::{Row, ValueRef};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, IdenStatic, Iterable, QueryResult,
    Statement,
};
use serde_json::json;

/// Reads every row of `E` with both readers, as stored and with its columns prefixed;
/// returns the nullable columns that held a value in some row and those NULL in some row.
async fn both_readers_agree<E>(db: &DatabaseConnection) -> (BTreeSet<String>, BTreeSet<String>)
where
    E: EntityTrait + Default,
    E::Model: ReadRow + PartialEq + Debug,
{
    let columns: Vec<E::Column> = E::Column::iter().collect();
    let (mut set, mut null) = (BTreeSet::new(), BTreeSet::new());
    for prefix in ["", "b1_"] {
        let list = columns
            .iter()
            .map(|c| format!("\"{0}\" AS \"{prefix}{0}\"", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("SELECT {list} FROM \"{}\"", E::default().table_name());
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("rows");
        assert!(rows.len() >= 2, "{} has rows to read", E::default().table_name());
        for row in rows {
            let derived = E::Model::from_query_result(&row, prefix).expect("derived reader");
            let checked = E::Model::read_row(&row, prefix).expect("null-checking reader");
            assert_eq!(checked, derived, "{}", E::default().table_name());
            for column in columns.iter().filter(|c| c.def().is_null()) {
                let name = format!("{prefix}{}", column.as_str());
                if is_null(&row, &name) {
                    null.insert(column.as_str().to_owned());
                } else {
                    set.insert(column.as_str().to_owned());
                }
            }
        }
    }
    (set, null)
}

/// Whether the named column of the row holds NULL, as the database driver reports it.
fn is_null(row: &QueryResult, name: &str) -> bool {
    if let Some(row) = row.try_as_pg_row() {
        return row.try_get_raw(name).expect("column").is_null();
    }
    row.try_as_sqlite_row()
        .expect("a PostgreSQL or SQLite row")
        .try_get_raw(name)
        .expect("column")
        .is_null()
}

#[tokio::test]
async fn the_null_checking_readers_read_what_seaorm_reads() {
    let app = spawn_app().await;
    let tenant = app.signup("rows").await;
    let token = tenant.token.as_str();
    let full = app
        .create_customer(
            token,
            "Full File",
            json!({
                "kind": "COMPANY", "companyName": "Acme", "gender": "FEMALE", "birthday": "1990-02-03",
                "ageBand": "FROM_35_TO_44", "occupation": "Buyer", "position": "Head of purchasing",
                "industry": "Retail", "companySize": "SMALL", "region": "Zhejiang", "city": "Hangzhou",
                "budget": { "min": "100.00", "max": "900.00", "currency": "CNY" },
                "preferredChannel": "WECHAT", "hobbies": "Tea", "familyNotes": "Two children",
                "specialNeeds": "Invoices in English", "notes": "Met at the fair",
                "contacts": [
                    { "name": "Li Lei", "title": "Buyer", "preferredChannel": "EMAIL",
                      "email": "li.lei@acme.example.com", "phone": "+8613800138000",
                      "wechat": "lilei-wx", "qq": "123456789", "address": "1 West Lake Road" },
                    { "email": "office@acme.example.com" },
                ],
            }),
        )
        .await;
    let full_id = full["id"].as_str().expect("id").to_owned();
    let bare = app
        .create_customer(
            token,
            "Bare File",
            json!({ "contacts": [{ "phone": "+8613900139000" }] }),
        )
        .await;
    let bare_id = bare["id"].as_str().expect("id").to_owned();
    let other = app
        .create_customer(token, "Bare File Twin", json!({ "allowDuplicate": true }))
        .await;
    app.merge_customers(token, &full_id, other["id"].as_str().expect("id"))
        .await;

    app.create_contract(
        token,
        &full_id,
        json!({ "signedDate": "2025-12-20", "terms": "Net 30", "reminderOffsetsDays": [30, 7] }),
    )
    .await;
    app.create_contract(token, &bare_id, json!({})).await;
    app.record_sale(token, &full_id, json!({ "afterSalesNotes": "Delivered" }))
        .await;
    app.record_sale(token, &bare_id, json!({})).await;
    app.log_interaction(token, &full_id, json!({ "outcome": "Interested" }))
        .await;
    app.log_interaction(token, &bare_id, json!({})).await;
    app.schedule_follow_up(
        token,
        &full_id,
        &from_now(chrono::Duration::days(2)),
        json!({ "note": "Call back" }),
    )
    .await;
    app.schedule_follow_up(token, &bare_id, &from_now(chrono::Duration::days(3)), json!({}))
        .await;
    app.record_feedback(token, &full_id, json!({ "score": 4 })).await;
    app.record_feedback(token, &bare_id, json!({})).await;
    app.archive_customer(token, &bare_id).await;

    let db = app.raw_db().await;
    let (set, null) = both_readers_agree::<entity::customer::Entity>(&db).await;
    let nullable: BTreeSet<String> = entity::customer::Column::iter()
        .filter(|c| c.def().is_null())
        .map(|c| c.as_str().to_owned())
        .collect();
    let never_set: Vec<&String> = nullable.difference(&set).collect();
    assert_eq!(
        never_set,
        vec!["custom_fields_key_version"],
        "customer columns read only as NULL"
    );
    assert_eq!(null, nullable, "every nullable customer column read as NULL somewhere");

    let (set, null) = both_readers_agree::<entity::contact::Entity>(&db).await;
    let nullable: BTreeSet<String> = entity::contact::Column::iter()
        .filter(|c| c.def().is_null())
        .map(|c| c.as_str().to_owned())
        .collect();
    assert_eq!(set, nullable, "every nullable contact column read with a value");
    assert_eq!(null, nullable, "every nullable contact column read as NULL");

    both_readers_agree::<entity::contract::Entity>(&db).await;
    both_readers_agree::<entity::transaction::Entity>(&db).await;
    both_readers_agree::<entity::interaction::Entity>(&db).await;
    both_readers_agree::<entity::follow_up::Entity>(&db).await;
    both_readers_agree::<entity::feedback::Entity>(&db).await;
}
