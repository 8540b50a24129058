//! Relay pagination across 250 customers, forwards and backwards, without gaps or repeats.

use std::collections::HashSet;

use dossier_tests::{slug, spawn_app};
use serde_json::{Value, json};

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String, $order: CustomerOrder!) {
    customers(first: $first, after: $after, last: $last, before: $before, orderBy: $order) {
        totalCount
        edges { cursor node { id name } }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
}";

fn ids(page: &Value) -> Vec<String> {
    page["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn pages_cover_250_customers_exactly_once_in_both_directions() {
    let app = spawn_app().await;
    let t = app.signup(&slug("pages")).await;
    // 5 requests of 50 aliased mutations each.
    for batch in 0..5 {
        let mutations: String = (0..50)
            .map(|i| {
                let n = batch * 50 + i;
                // Names repeat so that ordering by name needs the id tie-breaker.
                format!("c{n}: createCustomer(input: {{ kind: INDIVIDUAL, source: ONLINE, allowDuplicate: true, name: \"Customer {:02}\" }}) {{ customer {{ id }} }} ", n % 40)
            })
            .collect();
        app.ok(&t.token, &format!("mutation {{ {mutations} }}"), json!({}))
            .await;
    }

    for order in ["CREATED_AT_DESC", "NAME_ASC", "CODE_DESC"] {
        let mut forward = Vec::new();
        let mut after: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = app
                .ok(&t.token, PAGE, json!({ "first": 37, "after": after, "order": order }))
                .await;
            assert_eq!(page["customers"]["totalCount"], 250);
            assert_eq!(page["customers"]["pageInfo"]["hasPreviousPage"], after.is_some());
            forward.extend(ids(&page));
            pages += 1;
            if page["customers"]["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = page["customers"]["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            assert!(pages < 20, "pagination does not end");
        }
        assert_eq!(pages, 7, "{order}: 250 / 37 rounds up to 7 pages");
        assert_eq!(forward.len(), 250, "{order}");
        assert_eq!(forward.iter().collect::<HashSet<_>>().len(), 250, "{order}: no repeats");

        let mut backward = Vec::new();
        let mut before: Option<String> = None;
        loop {
            let page = app
                .ok(&t.token, PAGE, json!({ "last": 37, "before": before, "order": order }))
                .await;
            let mut chunk = ids(&page);
            chunk.extend(backward);
            backward = chunk;
            if page["customers"]["pageInfo"]["hasPreviousPage"] == false {
                break;
            }
            before = page["customers"]["pageInfo"]["startCursor"].as_str().map(str::to_owned);
        }
        assert_eq!(backward, forward, "{order}: backwards gives the same sequence");
    }
}

#[tokio::test]
async fn names_are_ordered_and_a_cursor_of_another_order_is_refused() {
    let app = spawn_app().await;
    let t = app.signup(&slug("pages")).await;
    for name in ["Charlie", "alpha", "Bravo"] {
        app.create_customer(&t.token, name, json!({})).await;
    }
    let page = app
        .ok(&t.token, PAGE, json!({ "first": 2, "order": "CREATED_AT_ASC" }))
        .await;
    let names: Vec<&str> = page["customers"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Charlie", "alpha"]);
    let cursor = page["customers"]["pageInfo"]["endCursor"].clone();
    let wrong = app
        .gql(
            Some(&t.token),
            PAGE,
            json!({ "first": 2, "after": cursor, "order": "NAME_ASC" }),
        )
        .await;
    assert_eq!(dossier_tests::error_code(&wrong), "VALIDATION");
}
