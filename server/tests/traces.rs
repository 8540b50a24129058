//! Trace export, end to end: the real binary with `DOSSIER_OTLP_ENDPOINT` pointing at an
//! OTLP/HTTP receiver started here, a caller's `traceparent` continued, the request id on
//! the root span, and the last spans sent when the process is stopped.

use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::web::Data;
use poem::{EndpointExt, Route, Server, handler, post};
use serde_json::Value;

type Received = Arc<Mutex<Vec<Value>>>;

#[handler]
fn collect(body: String, received: Data<&Received>) -> &'static str {
    let parsed = serde_json::from_str(&body).unwrap_or(Value::String(body));
    received.lock().unwrap().push(parsed);
    "{}"
}

/// An OTLP/HTTP trace receiver on 127.0.0.1; returns its address and what it received.
async fn receiver() -> (SocketAddr, Received) {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let routes = Route::new().at("/v1/traces", post(collect)).data(received.clone());
    tokio::spawn(Server::new(poem::listener::TcpListener::bind(addr)).run(routes));
    (addr, received)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Dossier {
    child: Child,
    data_dir: std::path::PathBuf,
}

impl Drop for Dossier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

fn start(port: u16, otlp: Option<SocketAddr>) -> Dossier {
    let data_dir = std::env::temp_dir().join(format!("dossier-traces-{}", uuid::Uuid::new_v4().simple()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_dossier"));
    command
        .arg("serve")
        .env_clear()
        .env("DOSSIER_DATA_DIR", &data_dir)
        .env("DOSSIER_LISTEN_ADDR", format!("127.0.0.1:{port}"))
        .env("DOSSIER_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(addr) = otlp {
        command.env("DOSSIER_OTLP_ENDPOINT", format!("http://{addr}"));
    }
    Dossier {
        child: command.spawn().expect("the dossier binary starts"),
        data_dir,
    }
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = client.get(format!("{base}/health")).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("dossier did not come up at {base}");
}

fn spans(received: &Received) -> Vec<Value> {
    received
        .lock()
        .unwrap()
        .iter()
        .flat_map(|body| body["resourceSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|resource| {
            let service = resource["resource"]["attributes"]
                .as_array()
                .and_then(|a| a.iter().find(|kv| kv["key"] == "service.name"))
                .map(|kv| kv["value"]["stringValue"].clone())
                .unwrap_or(Value::Null);
            resource["scopeSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
                .map(move |mut span| {
                    span["service"] = service.clone();
                    span
                })
        })
        .collect()
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"]["stringValue"])
}

async fn graphql(client: &reqwest::Client, base: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/graphql"))
        .json(&serde_json::json!({ "query": "{ __typename }" }));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn spans_reach_an_otlp_receiver_continuing_the_callers_trace_with_the_request_id() {
    let (otlp, received) = receiver().await;
    let port = free_port();
    let mut dossier = start(port, Some(otlp));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traced = graphql(
        &client,
        &base,
        &[
            ("traceparent", &format!("00-{trace_id}-{caller_span}-01")),
            ("x-request-id", "trace-test-1"),
        ],
    )
    .await;
    let answered = traced.headers()["traceresponse"].to_str().unwrap().to_owned();
    assert!(answered.starts_with(&format!("00-{trace_id}-")), "{answered}");
    assert!(!answered.contains(caller_span), "the server's own span id: {answered}");

    let fresh = graphql(&client, &base, &[("x-request-id", "trace-test-2")]).await;
    let fresh_trace = fresh.headers()["traceresponse"].to_str().unwrap().to_owned();
    assert!(!fresh_trace.contains(trace_id), "a new trace: {fresh_trace}");
    // A malformed traceparent starts a new trace rather than failing the request.
    let garbled = graphql(&client, &base, &[("traceparent", "00-nothex-zz-01")]).await;
    assert!(!garbled.headers()["traceresponse"].to_str().unwrap().contains("nothex"));

    // SIGTERM: the process sends what it still holds before it exits.
    let stopped = Command::new("kill")
        .args(["-TERM", &dossier.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = dossier.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "dossier did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{status}");

    let spans = spans(&received);
    let root = spans
        .iter()
        .find(|s| s["name"] == "request" && attribute(s, "request_id") == Some(&Value::from("trace-test-1")))
        .unwrap_or_else(|| panic!("the traced request's span: {spans:#?}"));
    assert_eq!(root["traceId"], trace_id);
    assert_eq!(root["parentSpanId"], caller_span);
    assert_eq!(root["service"], "dossier");
    assert_eq!(attribute(root, "path"), Some(&Value::from("/graphql")));
    let second = spans
        .iter()
        .find(|s| attribute(s, "request_id") == Some(&Value::from("trace-test-2")))
        .expect("the untraced request's span");
    assert_ne!(second["traceId"], trace_id);
    assert!(fresh_trace.contains(second["traceId"].as_str().unwrap()));
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_no_trace_header_is_sent() {
    let port = free_port();
    let _dossier = start(port, None);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_healthy(&client, &base).await;
    let response = graphql(
        &client,
        &base,
        &[("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
    )
    .await;
    assert!(response.headers().get("traceresponse").is_none());
}
