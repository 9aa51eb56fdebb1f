//! Dashboard clients in bulk, for the latency benchmarks: N websockets following a feed from a
//! **second process** (the benchmark binary started again with `--clients-only`), so the server's
//! memory can be measured alone and 10,000 clients fit in the file-descriptor limit.
//!
//! A message is timed when its text carries `T0=<µs since the epoch>`, optionally followed by
//! `/<tag>` (letters): the figures are grouped by tag, so one run can compare delivery paths
//! under exactly the same load. Both processes read the same wall clock.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Connections opened at once by the client process.
const CONNECT_PARALLEL: usize = 32;
const FLAG: &str = "--clients-only";

pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

/// A process's resident memory in KiB (0 when unknown).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// CPU time a process has used, user + system, in milliseconds (0 when unknown). Linux counts it
/// in clock ticks of 10 ms (`USER_HZ` = 100 on every architecture it reports to user space with).
pub fn cpu_ms(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // The command name (field 2) may hold spaces: count from the closing parenthesis.
            let after = &s[s.rfind(')')? + 2..];
            let fields: Vec<&str> = after.split_whitespace().collect();
            // Fields 14 and 15 of the file (utime, stime) are the 12th and 13th after the name.
            let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
            Some((ticks(11)? + ticks(12)?) * 10)
        })
        .unwrap_or(0)
}

/// The stamp and tag a message carries, if any.
fn stamp(text: &str) -> Option<(u64, String)> {
    let rest = &text[text.find("T0=")? + 3..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let sent = digits.parse().ok()?;
    let tag = rest[digits.len()..]
        .strip_prefix('/')
        .map(|t| t.chars().take_while(char::is_ascii_alphabetic).collect())
        .unwrap_or_default();
    Some((sent, tag))
}

/// Call first thing in `main`: in the client process this runs the clients and returns `true`
/// (the caller then returns); in the benchmark itself it returns `false` at once.
pub fn serve_if_asked() -> bool {
    let argv: Vec<String> = std::env::args().collect();
    if !argv.iter().any(|a| a == FLAG) {
        return false;
    }
    clients_only(&argv);
    true
}

/// Connects `--n` websockets to `--url` (with optional `--origin` and `--cookie`), prints
/// `ready`, records the latency of every stamped message, and prints the figures per tag as one
/// JSON line when its standard input closes.
fn clients_only(argv: &[String]) {
    let get = |name: &str| argv.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let n: usize = get("--n").and_then(|v| v.parse().ok()).unwrap_or(1);
    let url = get("--url").expect("--url");
    let origin = get("--origin");
    let cookie = get("--cookie");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let lat: Arc<Mutex<BTreeMap<String, Vec<u32>>>> = Arc::default();
        let connects = futures_util::stream::iter(0..n)
            .map(|_| {
                let mut r = url.as_str().into_client_request().unwrap();
                if let Some(o) = &origin {
                    r.headers_mut().insert("origin", o.parse().unwrap());
                }
                if let Some(c) = &cookie {
                    r.headers_mut().insert("cookie", c.parse().unwrap());
                }
                tokio_tungstenite::connect_async(r)
            })
            .buffer_unordered(CONNECT_PARALLEL);
        let sockets: Vec<_> = connects.map(|r| r.expect("websocket connects").0).collect().await;
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                let lat = lat.clone();
                tokio::spawn(async move {
                    while let Some(Ok(m)) = ws.next().await {
                        if let Message::Text(t) = m
                            && let Some((sent, tag)) = stamp(&t)
                        {
                            let us = now_us().saturating_sub(sent).min(u32::MAX as u64) as u32;
                            lat.lock().unwrap().entry(tag).or_default().push(us);
                        }
                    }
                })
            })
            .collect();
        println!("ready");
        std::io::stdout().flush().unwrap();
        // The parent closes our stdin when it has published everything and waited.
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            while std::io::stdin().read_line(&mut sink).map(|n| n > 0).unwrap_or(false) {}
        })
        .await
        .unwrap();
        for t in tasks {
            t.abort();
        }
        let figures: serde_json::Map<String, Value> = lat
            .lock()
            .unwrap()
            .iter_mut()
            .map(|(tag, l)| {
                l.sort_unstable();
                let p = |q: f64| l.get(((l.len() as f64 - 1.0) * q).round() as usize).map_or(0, |v| *v);
                let f = json!({"count": l.len(), "p50": p(0.5), "p95": p(0.95), "p99": p(0.99), "max": l.last().copied().unwrap_or(0)});
                (tag.clone(), f)
            })
            .collect();
        println!("{}", Value::Object(figures));
    });
}

/// The client process, seen from the benchmark.
pub struct Clients {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Clients {
    /// Starts the client process and waits until every client is connected.
    pub fn connect(n: usize, url: &str, origin: Option<&str>, cookie: Option<&str>) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([FLAG, "--n", &n.to_string(), "--url", url]);
        if let Some(o) = origin {
            cmd.args(["--origin", o]);
        }
        if let Some(c) = cookie {
            cmd.args(["--cookie", c]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("client process starts");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "client process failed to connect its clients");
        Self { child, stdin, stdout }
    }

    /// Stops the clients; their figures per tag (the untagged ones under `""`), each
    /// `{"count", "p50", "p95", "p99", "max"}` in µs.
    pub fn finish(mut self) -> Value {
        drop(self.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        serde_json::from_str(&line).expect("client figures")
    }
}

#[cfg(test)]
mod tests {
    use super::{cpu_ms, stamp};

    #[test]
    fn cpu_time_grows_while_a_process_works() {
        let me = std::process::id();
        let start = cpu_ms(me);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        while cpu_ms(me) < start + 50 && std::time::Instant::now() < deadline {
            for i in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(cpu_ms(me) >= start + 50, "{} ms after {} ms", cpu_ms(me), start);
        assert_eq!(cpu_ms(u32::MAX), 0, "an unknown process");
    }

    #[test]
    fn a_stamp_and_its_tag_are_read_from_anywhere_in_the_text() {
        assert_eq!(stamp(r#"{"content":"BTC long T0=123 "}"#), Some((123, String::new())));
        assert_eq!(stamp(r#"{"content":"T0=42/gw rest"}"#), Some((42, "gw".into())));
        assert_eq!(stamp("no stamp"), None);
    }
}
