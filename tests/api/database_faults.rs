//! The database under faults: a full disk, a second process on the same SQLite file, a
//! locked table and a database that is away. Nothing acknowledged is lost, and what cannot
//! be done answers UNAVAILABLE (HTTP 503 with Retry-After) instead of hanging or INTERNAL.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dossier_tests::{
    CREATE_CUSTOMER, TestApp, error_code, postgres_base_url, slug, spawn_another, spawn_app, spawn_app_at,
    spawn_app_with, wait_until,
};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

/// Posts a GraphQL request and returns the HTTP status, the Retry-After header and the body.
async fn post(app: &TestApp, token: &str, query: &str, variables: Value) -> (u16, Option<String>, Value) {
    let answer = app.post_graphql(Some(token), query, variables).await;
    (answer.status, answer.header("retry-after"), answer.body)
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
                assert_eq!(
                    error_code(&body),
                    "UNAVAILABLE",
                    "a full disk is a retryable error: {body}"
                );
                assert_eq!(status, 503);
                assert!(retry_after.is_some(), "UNAVAILABLE says when to retry");
                false
            }
        }
    };
    for i in 0..5 {
        assert!(
            create(format!("Before {i}"), &mut acknowledged).await,
            "writes work on a free disk"
        );
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
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(&id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged customers are gone after a restart ({refused} refused)",
        lost.len(),
        acknowledged.len()
    );
    assert_eq!(
        data["customers"]["totalCount"],
        acknowledged.len(),
        "and nothing unacknowledged is stored"
    );
}

/// Tells the test's child process (the ignored test below) which app it is a second process of.
const SECOND_PROCESS_OF: &str = "DOSSIER_TEST_SECOND_PROCESS_OF";

#[tokio::test]
async fn a_second_process_on_the_same_sqlite_file_is_refused_with_a_message() {
    if postgres_base_url().is_some() {
        eprintln!("skipped: one process per database is a SQLite rule, covered by the SQLite run");
        return;
    }
    let app = spawn_app().await;
    let config = app.config();
    let first = json!({
        "dataDir": config.data_dir,
        "databaseUrl": app.database_url,
        "masterKeys": app.master_keys,
    });
    // This test binary again, running only the test that starts a second app.
    let second = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "database_faults::second_process_start",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(SECOND_PROCESS_OF, first.to_string())
        .output()
        .expect("second process runs");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success(),
        "the second process must not start: {stderr} {}",
        String::from_utf8_lossy(&second.stdout)
    );
    assert!(
        stderr.contains(&format!(
            "another Dossier process (pid {}) is using the SQLite database",
            std::process::id()
        )),
        "the refusal names the holder: {stderr}"
    );

    // Within one process a second instance shares the database (a restart in the tests).
    let t = app.signup(&slug("solo")).await;
    let again = spawn_another(&app, &[]).await;
    again.create_customer(&t.token, "Still served", json!({})).await;
}

/// The second process of the test above: builds the app the way `dossier serve` does and
/// exits non-zero with the error, as `main` would.
#[tokio::test]
#[ignore = "started by a_second_process_on_the_same_sqlite_file_is_refused_with_a_message"]
async fn second_process_start() {
    let Ok(first) = std::env::var(SECOND_PROCESS_OF) else {
        return;
    };
    let first: Value = serde_json::from_str(&first).expect("settings of the first process");
    let vars = [
        ("DOSSIER_DATA_DIR", first["dataDir"].as_str().unwrap_or_default()),
        (
            "DOSSIER_DATABASE_URL",
            first["databaseUrl"].as_str().unwrap_or_default(),
        ),
        ("DOSSIER_MASTER_KEYS", first["masterKeys"].as_str().unwrap_or_default()),
        ("DOSSIER_JWT_SECRET", dossier_tests::JWT_SECRET),
        ("DOSSIER_LISTEN_ADDR", "127.0.0.1:0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = dossier::Config::from_vars(&vars).expect("valid settings");
    if let Err(e) = dossier::Application::build(config).await {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
    println!("the second process started");
}

/// A PostgreSQL cluster of the test's own on a free port, to freeze and stop without
/// touching the shared one.
struct OwnPostgres {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
}

impl OwnPostgres {
    /// None where no PostgreSQL binaries or no `postgres` system user are at hand.
    fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .find(|b| b.join("initdb").exists())?;
        let dir = std::env::temp_dir().join(format!("dossier-own-pg-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).ok()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let pg = Self { dir, bin, port };
        let owned = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&pg.dir)
            .status()
            .is_ok_and(|s| s.success());
        let data = pg.dir.join("data");
        let initialised = owned
            && pg.as_postgres(
                "initdb",
                &[
                    "-D",
                    &data.display().to_string(),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                ],
            );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            pg.port,
            pg.dir.display()
        );
        let log = pg.dir.join("log").display().to_string();
        let started = initialised
            && pg.as_postgres(
                "pg_ctl",
                &[
                    "-D",
                    &data.display().to_string(),
                    "-o",
                    &options,
                    "-l",
                    &log,
                    "-w",
                    "start",
                ],
            );
        started.then_some(pg)
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) -> bool {
        std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server process and its children (one per connection and the background workers).
    fn processes(&self) -> Vec<String> {
        let Some(server) = std::fs::read_to_string(self.dir.join("data/postmaster.pid"))
            .ok()
            .and_then(|pid| pid.lines().next().map(str::to_owned))
        else {
            return Vec::new();
        };
        let mut pids = vec![server.clone()];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // `pid (name) state ppid …`; the name may hold spaces, so read after the last ')'.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(server.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        pids
    }

    fn signal(&self, signal: &str) {
        for pid in self.processes() {
            let _ = std::process::Command::new("kill").args([signal, &pid]).status();
        }
    }

    /// Every process of the cluster stops where it is: connections stay open and answer nothing.
    fn freeze(&self) {
        self.signal("-STOP");
    }

    fn thaw(&self) {
        self.signal("-CONT");
    }

    fn stop(&self) {
        self.thaw();
        let data = self.dir.join("data").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `createCustomer` and fails the test, instead of hanging it, if no answer comes in 20 s.
async fn create_within_bound(app: &TestApp, token: &str, name: &str) -> (u16, Option<String>, Value, Duration) {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(20),
        post(app, token, CREATE_CUSTOMER, customer_input(name)),
    )
    .await
    .expect("an answer within 20 s");
    (answer.0, answer.1, answer.2, started.elapsed())
}

fn assert_unavailable(status: u16, retry_after: &Option<String>, body: &Value) {
    assert_eq!(error_code(body), "UNAVAILABLE", "{body}");
    assert_eq!(status, 503);
    assert!(retry_after.is_some(), "UNAVAILABLE says when to retry");
}

#[tokio::test]
async fn a_locked_table_answers_unavailable_within_the_lock_timeout() {
    if postgres_base_url().is_none() {
        eprintln!("skipped: lock_timeout is PostgreSQL's, covered by the PostgreSQL run");
        return;
    }
    let app = spawn_app_with(&[("DOSSIER_DB_LOCK_TIMEOUT_MS", "500")]).await;
    let t = app.signup(&slug("locked")).await;
    let raw = app.raw_db().await;
    let holder = raw.begin().await.expect("raw transaction");
    holder
        .execute_unprepared("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("table locked");

    let (status, retry_after, body, waited) = create_within_bound(&app, &t.token, "Behind a lock").await;
    holder.rollback().await.expect("lock released");
    assert_unavailable(status, &retry_after, &body);
    assert!(
        waited < Duration::from_secs(3),
        "answered after {waited:?}, about the 500 ms lock timeout"
    );
    app.create_customer(&t.token, "After the lock", json!({})).await;
    raw.close().await.ok();
}

#[tokio::test]
async fn a_frozen_or_stopped_database_answers_unavailable_quickly_and_is_not_ready() {
    if postgres_base_url().is_none() {
        eprintln!("skipped: needs a PostgreSQL server of its own, covered by the PostgreSQL run");
        return;
    }
    let Some(pg) = OwnPostgres::start() else {
        eprintln!("skipped: no PostgreSQL cluster of the test's own could be started");
        return;
    };
    let data_dir = std::env::temp_dir().join(format!("dossier-test-{}", Uuid::new_v4().simple()));
    let app = spawn_app_at(
        data_dir,
        pg.url(),
        &[
            ("DOSSIER_DB_ACQUIRE_TIMEOUT_MS", "1000"),
            ("DOSSIER_DB_CONNECT_TIMEOUT_MS", "1000"),
        ],
    )
    .await;
    let t = app.signup(&slug("away")).await;
    app.create_customer(&t.token, "Before", json!({})).await;

    pg.freeze();
    let (status, retry_after, body, waited) = create_within_bound(&app, &t.token, "Frozen").await;
    assert_unavailable(status, &retry_after, &body);
    assert!(waited < Duration::from_secs(3), "frozen: answered after {waited:?}");
    let started = Instant::now();
    let ready = app
        .client
        .get(format!("{}/ready", app.base))
        .send()
        .await
        .expect("ready answers");
    assert_eq!(ready.status(), 503, "not ready while the database is frozen");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "/ready waited {:?}",
        started.elapsed()
    );

    pg.thaw();
    let mut attempt = 0;
    wait_until(
        Duration::from_secs(20),
        "writes work again once the database is back",
        async || {
            attempt += 1;
            let (_, _, body, _) = create_within_bound(&app, &t.token, &format!("Thawed {attempt}")).await;
            body["data"]["createCustomer"]["customer"]["id"].is_string()
        },
    )
    .await;

    pg.stop();
    let (status, retry_after, body, waited) = create_within_bound(&app, &t.token, "Stopped").await;
    assert_unavailable(status, &retry_after, &body);
    assert!(waited < Duration::from_secs(3), "stopped: answered after {waited:?}");
}

#[tokio::test]
async fn a_read_past_its_deadline_answers_unavailable_and_the_lock_holder_is_not_disturbed() {
    if postgres_base_url().is_none() {
        eprintln!("skipped: a table lock that outlasts a read needs PostgreSQL, covered by the PostgreSQL run");
        return;
    }
    // Without database timeouts only the request's own deadline can end the wait.
    let app = spawn_app_with(&[
        ("DOSSIER_DB_LOCK_TIMEOUT_MS", "0"),
        ("DOSSIER_DB_STATEMENT_TIMEOUT_MS", "0"),
        ("DOSSIER_REQUEST_TIMEOUT_SECONDS", "1"),
    ])
    .await;
    let t = app.signup(&slug("deadline")).await;
    app.create_customer(&t.token, "Waiting", json!({})).await;
    let raw = app.raw_db().await;
    let holder = raw.begin().await.expect("raw transaction");
    holder
        .execute_unprepared("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("table locked");

    let started = Instant::now();
    let (status, retry_after, body) = tokio::time::timeout(
        Duration::from_secs(20),
        post(&app, &t.token, "{ customers { totalCount } }", json!({})),
    )
    .await
    .expect("an answer within 20 s");
    let waited = started.elapsed();
    holder.rollback().await.expect("lock released");
    assert_unavailable(status, &retry_after, &body);
    assert!(
        waited < Duration::from_secs(5),
        "answered after {waited:?}, about the 1 s deadline"
    );
    let data = app.ok(&t.token, "{ customers { totalCount } }", json!({})).await;
    assert_eq!(
        data["customers"]["totalCount"], 1,
        "reads work again once the lock is gone"
    );
    raw.close().await.ok();
}
