//! A real SMTP server for the tests (mailin-embedded) on 127.0.0.1, which keeps what it
//! receives and can answer the next messages' DATA command with chosen codes (421, 550…),
//! stall before answering, or take its time over every message (a slow server).

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use base64::Engine;
use mailin_embedded::{Handler, Response, Server, SslConfig};

/// One message as received: its raw text and envelope recipients.
#[derive(Debug, Clone)]
pub struct Received {
    pub raw: String,
    pub to: Vec<String>,
}

impl Received {
    /// A header's value (first occurrence, folded lines joined), RFC 2047 words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(v) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    v.push_str(line.trim_start());
                    continue;
                }
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case(name)
            {
                value = Some(v.trim().to_owned());
            }
        }
        value.map(|v| decode_words(&v))
    }

    pub fn message_id(&self) -> String {
        self.header("Message-ID").unwrap_or_default()
    }

    /// The text of every part, transfer encodings undone.
    pub fn bodies(&self) -> String {
        let mut out = String::new();
        for part in self.raw.split("\r\n--") {
            let Some((head, body)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            let head = head.to_ascii_lowercase();
            if head.contains("content-transfer-encoding: base64") {
                let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                let compact = compact.split("--").next().unwrap_or_default();
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(compact) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            } else if head.contains("content-transfer-encoding: quoted-printable") {
                out.push_str(&decode_quoted_printable(body));
            } else {
                out.push_str(body);
            }
            out.push('\n');
        }
        out
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let joined = s.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `=?utf-8?b?…?=` words (as lettre writes non-ASCII headers) to text. Words may sit inside
/// other text or follow each other; whitespace between two encoded words is dropped
/// (RFC 2047 §6.2), and their bytes are joined before decoding since a character may be split.
fn decode_words(value: &str) -> String {
    const OPEN: &str = "=?utf-8?b?";
    let lower = value.to_ascii_lowercase();
    let mut out = String::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut rest = 0;
    while let Some(found) = lower[rest..].find(OPEN) {
        let start = rest + found;
        let Some(len) = value[start + OPEN.len()..].find("?=") else {
            break;
        };
        let gap = &value[rest..start];
        let joins_encoded_words = gap.trim().is_empty() && !pending.is_empty();
        if !joins_encoded_words {
            out.push_str(&String::from_utf8_lossy(&std::mem::take(&mut pending)));
            out.push_str(gap);
        }
        let inner = &value[start + OPEN.len()..start + OPEN.len() + len];
        match base64::engine::general_purpose::STANDARD.decode(inner) {
            Ok(bytes) => pending.extend(bytes),
            Err(_) => out.push_str(&value[start..start + OPEN.len() + len + 2]),
        }
        rest = start + OPEN.len() + len + 2;
    }
    out.push_str(&String::from_utf8_lossy(&pending));
    out.push_str(&value[rest..]);
    out
}

#[derive(Default)]
struct SinkState {
    received: Vec<Received>,
    /// Codes to answer the next messages' DATA command with; go ahead once empty.
    script: VecDeque<u16>,
    /// Stall this long before answering each of the next this many DATA commands.
    stall: Option<(std::time::Duration, usize)>,
    /// How long every message takes to accept, on top of any stall.
    per_message: std::time::Duration,
    /// DATA commands begun, answered or not yet.
    data_started: usize,
}

#[derive(Clone)]
struct SinkHandler {
    state: Arc<Mutex<SinkState>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for SinkHandler {
    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        let (code, stall, per_message) = {
            let mut state = self.state.lock().unwrap();
            state.data_started += 1;
            let stall = state.stall.map(|(pause, _)| pause);
            state.stall = state.stall.and_then(|(pause, n)| (n > 1).then_some((pause, n - 1)));
            (state.script.pop_front(), stall, state.per_message)
        };
        // A stalled or slow server: the time passing is what the tests play.
        if let Some(pause) = stall {
            std::thread::sleep(pause);
        }
        std::thread::sleep(per_message);
        if let Some(code) = code.filter(|c| *c >= 400) {
            // Refused at DATA, so the session stays usable (mailin keeps a session refused
            // after the message in the data state, where QUIT would go unanswered).
            return Response::custom(code, format!("scripted answer {code}"));
        }
        self.to = to.to_vec();
        self.data.clear();
        mailin_embedded::response::START_DATA
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let received = Received {
            raw: String::from_utf8_lossy(&self.data).into_owned(),
            to: std::mem::take(&mut self.to),
        };
        self.state.lock().unwrap().received.push(received);
        mailin_embedded::response::OK
    }
}

/// The SMTP server of a test. It runs until the test process ends.
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<SinkState>>,
}

impl SmtpSink {
    pub fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").expect("SMTP sink binds"))
    }

    /// On a listener the test bound earlier (to play a server that comes up late).
    pub fn start_on(listener: TcpListener) -> Self {
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(SinkState::default()));
        let handler = SinkHandler {
            state: state.clone(),
            to: Vec::new(),
            data: Vec::new(),
        };
        let mut server = Server::new(handler);
        server
            .with_name("sink.test")
            .with_ssl(SslConfig::None)
            .expect("no TLS")
            // One thread per connection: enough for three workers' parallel sends to a slow server.
            .with_num_threads(16)
            .with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        Self { port, state }
    }

    /// The next messages' DATA commands are answered with these codes, in order.
    pub fn answer_next(&self, codes: &[u16]) {
        self.state.lock().unwrap().script.extend(codes.iter().copied());
    }

    /// The next `count` DATA commands are each answered only after `pause`.
    pub fn stall_next(&self, pause: std::time::Duration, count: usize) {
        self.state.lock().unwrap().stall = Some((pause, count));
    }

    /// Every message from now on takes `pause` before its DATA command is answered.
    pub fn slow_down(&self, pause: std::time::Duration) {
        self.state.lock().unwrap().per_message = pause;
    }

    /// Messages whose DATA command has begun, including those still stalled.
    pub fn data_started(&self) -> usize {
        self.state.lock().unwrap().data_started
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}
