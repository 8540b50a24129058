//! The database under faults: a full disk, a second process on the same SQLite file, a
//! locked table and a database that is away. Nothing acknowledged is lost, and what cannot
//! be done answers UNAVAILABLE (HTTP 503 with Retry-After) instead of hanging or INTERNAL.

use std::path::PathBuf;

use dossier_tests::{CREATE_CUSTOMER, TestApp, error_code, postgres_base_url, slug, spawn_another, spawn_app_at};
use serde_json::{Value, json};
use uuid::Uuid;

/// Posts a GraphQL request and returns the HTTP status, the Retry-After header and the body.
async fn post(app: &TestApp, token: &str, query: &str, variables: Value) -> (u16, Option<String>, Value) {
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, retry_after, resp.json().await.expect("JSON body"))
}

fn customer_input(name: &str) -> Value {
    json!({ "input": { "kind": "INDIVIDUAL", "name": name, "source": "ONLINE" } })
}

/// A tmpfs of a few megabytes mounted for one test, so that its disk can run full and be freed.
struct TinyDisk {
    path: PathBuf,
}

impl TinyDisk {
    /// None where mounting is not allowed (not root).
    fn mount(megabytes: u32) -> Option<Self> {
        let path = std::env::temp_dir().join(format!("dossier-tiny-disk-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&path).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(&path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            let _ = std::fs::remove_dir(&path);
            return None;
        }
        Some(Self { path })
    }

    fn filler(&self) -> PathBuf {
        self.path.join("filler")
    }

    /// Takes every free byte of the disk.
    fn fill(&self) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.filler()).expect("filler file");
        for chunk in [1 << 16, 1 << 12, 1] {
            let block = vec![0u8; chunk];
            while file.write_all(&block).and_then(|()| file.flush()).is_ok() {}
        }
    }

    fn free(&self) {
        std::fs::remove_file(self.filler()).expect("filler removed");
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        // Lazily: the app's connections may still hold files open until the runtime ends.
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
        let _ = std::fs::remove_dir(&self.path);
    }
}

#[tokio::test]
async fn every_acknowledged_write_survives_a_full_disk_and_a_restart() {
    if postgres_base_url().is_some() {
        eprintln!("skipped: the SQLite run of the suite covers a full disk under SQLite");
        return;
    }
    let Some(disk) = TinyDisk::mount(16) else {
        eprintln!("skipped: no tmpfs could be mounted (needs root) to fill a disk");
        return;
    };
    let url = format!("sqlite://{}?mode=rwc", disk.path.join("dossier.db").display());
    let app = spawn_app_at(disk.path.clone(), url, &[]).await;
    let t = app.signup(&slug("full")).await;
    let mut acknowledged = Vec::new();
    let create = async |name: String, acknowledged: &mut Vec<String>| {
        let (status, retry_after, body) = post(&app, &t.token, CREATE_CUSTOMER, customer_input(&name)).await;
        match body["data"]["createCustomer"]["customer"]["id"].as_str() {
            Some(id) => {
                acknowledged.push(id.to_owned());
                true
            }
            None => {
                assert_eq!(error_code(&body), "UNAVAILABLE", "a full disk is a retryable error: {body}");
                assert_eq!(status, 503);
                assert!(retry_after.is_some(), "UNAVAILABLE says when to retry");
                false
            }
        }
    };
    for i in 0..5 {
        assert!(create(format!("Before {i}"), &mut acknowledged).await, "writes work on a free disk");
    }

    disk.fill();
    let mut refused = 0;
    for i in 0..40 {
        if !create(format!("While full {i}"), &mut acknowledged).await {
            refused += 1;
        }
    }
    assert!(refused > 0, "a full disk refuses writes");

    disk.free();
    for i in 0..5 {
        assert!(
            create(format!("After {i}"), &mut acknowledged).await,
            "writes commit again once there is space"
        );
    }

    let restarted = spawn_another(&app, &[]).await;
    let data = restarted
        .ok(
            &t.token,
            "{ customers(first: 100) { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    let stored: Vec<&str> = data["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["id"].as_str())
        .collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !stored.contains(&id.as_str())).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged customers are gone after a restart ({refused} refused)",
        lost.len(),
        acknowledged.len()
    );
    assert_eq!(data["customers"]["totalCount"], acknowledged.len(), "and nothing unacknowledged is stored");
}
