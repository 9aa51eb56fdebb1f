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
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Connections opened at once by the client process.
const CONNECT_PARALLEL: usize = 32;
/// Connections opened at once in a reconnect storm (browsers after a deploy do not queue politely).
const STORM_PARALLEL: usize = 256;
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

/// What one client saw.
#[derive(Default)]
struct Log {
    /// Latency per tag of every stamped message the first time it arrived.
    latency: BTreeMap<String, Vec<u32>>,
    /// Messages sent again on a connection that had them already, or before the sequence the
    /// connection resumed after.
    dupes: u64,
}

/// The sequence number of an event frame: `{"type":"event","seq":N,…}` (or with the keys sorted,
/// `{"op":…,"seq":N,…,"type":"event"}`; either way the first `"seq":` is the envelope's, before
/// any signal text). Heartbeats and resyncs carry a `seq` too, of the last event; they are not
/// events.
fn seq_of(text: &str) -> Option<i64> {
    if !(text.starts_with("{\"type\":\"event\"") || text.ends_with("\"type\":\"event\"}")) {
        return None;
    }
    let rest = &text[text.find("\"seq\":")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// One storm: every client drops its socket and connects again at once; every `every`-th (when
/// set) resumes from `old` instead of the last sequence it saw.
#[derive(Clone, Copy, Debug, Default)]
struct Storm {
    old: Option<(usize, i64)>,
}

struct Target {
    url: String,
    origin: Option<String>,
    cookie: Option<String>,
    /// Reconnections say where to resume (`?after=`): our feed; nchan's has no such parameter.
    resumable: bool,
}

impl Target {
    async fn connect(
        &self,
        after: Option<i64>,
    ) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
        let url = match after {
            Some(a) if self.resumable => format!("{}?after={a}", self.url),
            _ => self.url.clone(),
        };
        let mut r = url.into_client_request().unwrap();
        if let Some(o) = &self.origin {
            r.headers_mut().insert("origin", o.parse().unwrap());
        }
        if let Some(c) = &self.cookie {
            r.headers_mut().insert("cookie", c.parse().unwrap());
        }
        // A small read buffer: the default (128 KiB) is zeroed on every read, and with 10,000
        // clients on the server's machine that memset was the client process's largest cost —
        // CPU taken from the server under test (and from nchan) — by the profile.
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4 * 1024);
        tokio_tungstenite::connect_async_with_config(r, Some(config), false)
            .await
            .expect("websocket connects")
            .0
    }
}

/// Follows the feed until `stop`, reconnecting on each storm.
async fn follow(
    index: usize,
    target: Arc<Target>,
    first_after: Option<i64>,
    mut storms: tokio::sync::watch::Receiver<Storm>,
    mut stop: tokio::sync::watch::Receiver<bool>,
    gates: Arc<(tokio::sync::Semaphore, tokio::sync::Semaphore)>,
    back: Arc<std::sync::atomic::AtomicUsize>,
) -> Log {
    let mut log = Log::default();
    let mut ws = {
        let _turn = gates.0.acquire().await.unwrap();
        target.connect(first_after).await
    };
    back.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    // Newest sequence ever seen (a stamped message newer than it is recorded), the last on this
    // connection, and where this connection resumed.
    let mut newest = first_after.unwrap_or(i64::MIN);
    let mut on_connection = i64::MIN;
    let mut resumed = first_after.unwrap_or(i64::MIN);
    // Messages without a sequence (nchan's) are told apart by their stamp: nchan hands a
    // reconnecting subscriber its buffered messages again.
    let mut stamps_seen = std::collections::HashSet::new();
    loop {
        tokio::select! {
            m = ws.next() => {
                let Some(Ok(m)) = m else { break };
                let Message::Text(t) = m else { continue };
                let seq = seq_of(&t);
                if let Some(s) = seq {
                    if s <= on_connection || s <= resumed {
                        log.dupes += 1;
                        continue;
                    }
                    on_connection = s;
                    if s <= newest {
                        // Replayed history this client asked for again.
                        continue;
                    }
                    newest = s;
                }
                if let Some((sent, tag)) = stamp(&t) {
                    if seq.is_none() && !stamps_seen.insert(sent) {
                        log.dupes += 1;
                        continue;
                    }
                    let us = now_us().saturating_sub(sent).min(u32::MAX as u64) as u32;
                    log.latency.entry(tag).or_default().push(us);
                }
            }
            changed = storms.changed() => {
                if changed.is_err() { break }
                let storm = *storms.borrow_and_update();
                let _ = ws.close(None).await;
                let after = match storm.old {
                    Some((every, old)) if index.is_multiple_of(every) => Some(old),
                    _ => (newest > i64::MIN).then_some(newest),
                };
                ws = {
                    let _turn = gates.1.acquire().await.unwrap();
                    target.connect(after).await
                };
                back.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                on_connection = i64::MIN;
                resumed = after.unwrap_or(i64::MIN);
            }
            _ = stop.changed() => break,
        }
    }
    log
}

/// Connects `--n` websockets to `--url` (with optional `--origin` and `--cookie`; every
/// `--resume-every`-th resuming after `--resume-after`), prints `ready`, and records the latency
/// of every stamped message. Each standard-input line `storm [EVERY OLD]` makes every client drop
/// its socket and connect again at once, resuming after the last sequence it saw (every
/// `EVERY`-th from `OLD`); `reconnected <ms>` is printed when all are back. When standard input
/// closes, the figures per tag are printed as one JSON line.
fn clients_only(argv: &[String]) {
    let get = |name: &str| argv.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let n: usize = get("--n").and_then(|v| v.parse().ok()).unwrap_or(1);
    let target = Arc::new(Target {
        url: get("--url").expect("--url"),
        origin: get("--origin"),
        cookie: get("--cookie"),
        resumable: argv.iter().any(|a| a == "--resumable"),
    });
    let resume_every: Option<usize> = get("--resume-every").and_then(|v| v.parse().ok());
    let resume_after: Option<i64> = get("--resume-after").and_then(|v| v.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (storm_tx, storms) = tokio::sync::watch::channel(Storm::default());
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        let gates = Arc::new((
            tokio::sync::Semaphore::new(CONNECT_PARALLEL),
            tokio::sync::Semaphore::new(STORM_PARALLEL),
        ));
        let back = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let first_after = match (resume_every, resume_after) {
                    (Some(every), Some(old)) if i.is_multiple_of(every) => Some(old),
                    _ => None,
                };
                tokio::spawn(follow(
                    i,
                    target.clone(),
                    first_after,
                    storms.clone(),
                    stop.clone(),
                    gates.clone(),
                    back.clone(),
                ))
            })
            .collect();
        let all_back = |target: usize| {
            let back = back.clone();
            async move {
                while back.load(std::sync::atomic::Ordering::SeqCst) < target {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        };
        all_back(n).await;
        println!("ready");
        std::io::stdout().flush().unwrap();
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut connections = n;
        while let Some(line) = lines.recv().await {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"storm") {
                let old = match (words.get(1), words.get(2)) {
                    (Some(e), Some(o)) => Some((e.parse().unwrap(), o.parse().unwrap())),
                    _ => None,
                };
                let started = std::time::Instant::now();
                storm_tx.send_replace(Storm { old });
                connections += n;
                all_back(connections).await;
                println!("reconnected {}", started.elapsed().as_millis());
                std::io::stdout().flush().unwrap();
            }
        }
        stop_tx.send_replace(true);
        let mut logs = Vec::with_capacity(n);
        for t in tasks {
            logs.push(t.await.unwrap());
        }
        println!("{}", figures(&logs));
    });
}

/// Per tag: `count`, latency quantiles and `max` (µs), the fewest messages any client got
/// (`min_per_client`), and `dupes` (over all tags).
fn figures(logs: &[Log]) -> Value {
    let mut all: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for log in logs {
        for (tag, l) in &log.latency {
            all.entry(tag).or_default().extend(l);
        }
    }
    let dupes: u64 = logs.iter().map(|l| l.dupes).sum();
    let figures: serde_json::Map<String, Value> = all
        .into_iter()
        .map(|(tag, mut l)| {
            l.sort_unstable();
            let p = |q: f64| l.get(((l.len() as f64 - 1.0) * q).round() as usize).map_or(0, |v| *v);
            let fewest = logs
                .iter()
                .map(|log| log.latency.get(tag).map_or(0, Vec::len))
                .min()
                .unwrap_or(0);
            let f = json!({"count": l.len(), "p50": p(0.5), "p95": p(0.95), "p99": p(0.99),
                "max": l.last().copied().unwrap_or(0), "min_per_client": fewest, "dupes": dupes});
            (tag.to_owned(), f)
        })
        .collect();
    Value::Object(figures)
}

/// How the client process connects: every `every`-th client resumes after `after` at first.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resume {
    pub every: usize,
    pub after: i64,
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
        Self::connect_with(n, url, origin, cookie, None, true)
    }

    /// As [`Clients::connect`]; `resume` makes some clients start from an old sequence, and
    /// `resumable` says whether the server takes `?after=` (ours does, nchan does not).
    pub fn connect_with(
        n: usize,
        url: &str,
        origin: Option<&str>,
        cookie: Option<&str>,
        resume: Option<Resume>,
        resumable: bool,
    ) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([FLAG, "--n", &n.to_string(), "--url", url]);
        if let Some(o) = origin {
            cmd.args(["--origin", o]);
        }
        if let Some(c) = cookie {
            cmd.args(["--cookie", c]);
        }
        if let Some(r) = resume {
            cmd.args([
                "--resume-every",
                &r.every.to_string(),
                "--resume-after",
                &r.after.to_string(),
            ]);
        }
        if resumable {
            cmd.arg("--resumable");
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

    /// Starts a reconnect storm: every client drops its socket and connects again at once,
    /// resuming after the last sequence it saw — or, when `old` is set, every `old.every`-th
    /// from `old.after`. Returns at once; [`Clients::storm_over`] waits until all are back.
    pub fn storm(&mut self, old: Option<Resume>) {
        let line = match old {
            Some(r) => format!("storm {} {}\n", r.every, r.after),
            None => "storm\n".to_owned(),
        };
        let stdin = self.stdin.as_mut().expect("clients running");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// Blocks until every client of the last storm is connected again; how long that took.
    pub fn storm_over(&mut self) -> std::time::Duration {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let ms = line
            .trim()
            .strip_prefix("reconnected ")
            .and_then(|v| v.parse().ok())
            .expect("the client process reports the storm");
        std::time::Duration::from_millis(ms)
    }

    /// Stops the clients; their figures per tag (the untagged ones under `""`), each
    /// `{"count", "p50", "p95", "p99", "max", "min_per_client", "dupes"}`, times in µs.
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
    use super::{cpu_ms, seq_of, stamp};

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
    fn the_envelope_sequence_is_read_before_any_signal_text() {
        assert_eq!(
            seq_of(r#"{"op":"message_created","seq":42,"signal":{"content":""seq":7"},"type":"event"}"#),
            Some(42)
        );
        assert_eq!(seq_of(r#"{"type":"access"}"#), None);
        assert_eq!(seq_of(r#"{"seq":42,"type":"heartbeat"}"#), None);
        assert_eq!(
            seq_of(r#"{"type":"event","seq":43,"op":"message_created","signal":{}}"#),
            Some(43)
        );
    }

    #[test]
    fn a_stamp_and_its_tag_are_read_from_anywhere_in_the_text() {
        assert_eq!(stamp(r#"{"content":"BTC long T0=123 "}"#), Some((123, String::new())));
        assert_eq!(stamp(r#"{"content":"T0=42/gw rest"}"#), Some((42, "gw".into())));
        assert_eq!(stamp("no stamp"), None);
    }
}
