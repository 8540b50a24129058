//! Cost of field encryption per value and for a page of 50 customers' contacts.
//! Run: `cargo bench -p dossier --bench field_crypto`.

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use dossier::crypto::blind_index::blind_index;
use dossier::crypto::cipher::DataKeys;
use dossier::crypto::{Aad, Key};
use uuid::Uuid;

const FIELDS: [&str; 5] = ["email", "phone", "wechat", "qq", "address"];
const VALUES: [&str; 5] = [
    "zhang.wei@example.com",
    "+8613800138000",
    "wxid_zhangwei",
    "31415926",
    "上海市浦东新区世纪大道1000号",
];

fn keys() -> DataKeys {
    DataKeys {
        current_version: 1,
        keys: HashMap::from([(1, Arc::new(Key::generate()))]),
    }
}

fn aad(tenant: Uuid, column: &str, row: Uuid) -> Aad<'_> {
    Aad {
        tenant_id: tenant,
        table: "contacts",
        column,
        row_id: row,
    }
}

fn per_field(c: &mut Criterion) {
    let keys = keys();
    let index_key = Key::generate();
    let (tenant, row) = (Uuid::now_v7(), Uuid::now_v7());
    let ciphertext = keys.encrypt(aad(tenant, "email", row), VALUES[0]);
    c.bench_function("encrypt one field", |b| {
        b.iter(|| keys.encrypt(aad(tenant, "email", row), black_box(VALUES[0])))
    });
    c.bench_function("decrypt one field", |b| {
        b.iter(|| keys.decrypt(aad(tenant, "email", row), black_box(&ciphertext)).unwrap())
    });
    c.bench_function("blind index one field", |b| {
        b.iter(|| blind_index(&index_key, "email", black_box(VALUES[0])))
    });
}

fn page_of_50(c: &mut Criterion) {
    let keys = keys();
    let tenant = Uuid::now_v7();
    let rows: Vec<(Uuid, Vec<String>)> = (0..50)
        .map(|_| {
            let row = Uuid::now_v7();
            let cts = FIELDS
                .iter()
                .zip(VALUES)
                .map(|(f, v)| keys.encrypt(aad(tenant, f, row), v))
                .collect();
            (row, cts)
        })
        .collect();
    c.bench_function("decrypt a page of 50 contacts (5 fields each)", |b| {
        b.iter(|| {
            for (row, cts) in &rows {
                for (field, ct) in FIELDS.iter().zip(cts) {
                    black_box(keys.decrypt(aad(tenant, field, *row), ct).unwrap());
                }
            }
        })
    });
}

criterion_group!(benches, per_field, page_of_50);
criterion_main!(benches);
