//! Feed benchmark: `cargo bench -p server --bench feed [-- --clients N --events E --rate R]`.
//!
//! N websocket clients follow the live feed from a separate process (this same binary, started
//! with `--clients-only`), so the server's memory is measured alone and 10,000 clients fit in the
//! file-descriptor limit. Events are ingested over HTTP at R per second; each client records
//! ingest-request-start → receive latency against the wall clock both processes share. The same
//! load then runs against nchan (Debian's nginx + libnginx-mod-nchan: HTTP publish, websocket
//! subscribe) and the ratio of the p95s is printed. Memory: the server process's RSS growth per
//! connected idle client (ours: this process, which runs the server; nchan: nginx's worker).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const GUILD: &str = "1400000000000000001";
const CHANNEL: &str = "1400000000000000002";
/// Connections opened at once by the client process.
const CONNECT_PARALLEL: usize = 32;

struct Args {
    clients: usize,
    events: usize,
    rate: f64,
    engines: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        events: 200,
        rate: 20.0,
        engines: vec!["sqlite".into(), "postgres".into(), "nchan".into()],
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--clients" => a.clients = w[1].parse().unwrap_or(a.clients),
            "--events" => a.events = w[1].parse().unwrap_or(a.events),
            "--rate" => a.rate = w[1].parse().unwrap_or(a.rate),
            "--engines" => a.engines = w[1].split(',').map(str::to_owned).collect(),
            _ => {}
        }
    }
    a
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

/// The client process: connects `--n` websockets to `--url` (with optional `--origin` and
/// `--cookie`), prints `ready`, records the latency of every message carrying `T0=<µs>`, and
/// prints the figures as one JSON line when its standard input closes.
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
        let lat: Arc<Mutex<Vec<u32>>> = Arc::default();
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
                            && let Some(i) = t.find("T0=")
                        {
                            let digits: String = t[i + 3..].chars().take_while(char::is_ascii_digit).collect();
                            if let Ok(sent) = digits.parse::<u64>() {
                                let us = now_us().saturating_sub(sent).min(u32::MAX as u64) as u32;
                                lat.lock().unwrap().push(us);
                            }
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
        let mut l = lat.lock().unwrap().clone();
        l.sort_unstable();
        let p = |q: f64| l.get(((l.len() as f64 - 1.0) * q).round() as usize).map_or(0, |v| *v);
        println!(
            "{}",
            json!({"count": l.len(), "p50": p(0.5), "p95": p(0.95), "p99": p(0.99), "max": l.last().copied().unwrap_or(0)})
        );
    });
}

struct Clients {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Clients {
    /// Starts the client process and waits until every client is connected.
    fn connect(n: usize, url: &str, origin: Option<&str>, cookie: Option<&str>) -> Self {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--clients-only", "--n", &n.to_string(), "--url", url]);
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

    fn finish(mut self) -> serde_json::Value {
        drop(self.stdin.take());
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let _ = self.child.wait();
        serde_json::from_str(&line).expect("client figures")
    }
}

struct Figures {
    p95_ms: f64,
}

fn report(name: &str, a: &Args, f: &serde_json::Value, kib_per_client: f64) -> Figures {
    let ms = |k: &str| f[k].as_u64().unwrap_or(0) as f64 / 1000.0;
    println!(
        "{name:<9} {:>6} clients  delivered {:>8}/{:<8} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  server {kib_per_client:>5.1} KiB/idle client",
        a.clients,
        f["count"],
        a.clients * a.events,
        ms("p50"),
        ms("p95"),
        ms("p99"),
        ms("max"),
    );
    Figures { p95_ms: ms("p95") }
}

/// Publishes `a.events` messages at `a.rate` per second, each stamped with its start time.
async fn publish<F, Fut>(a: &Args, mut post: F)
where
    F: FnMut(usize, u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    let mut next = tokio::time::Instant::now();
    for i in 0..a.events {
        post(i, now_us()).await;
        next += gap;
        tokio::time::sleep_until(next).await;
    }
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

async fn ours(engine: &str, mut settings: BTreeMap<String, String>, a: &Args) -> Figures {
    // Every simulated client is the same account: lift the per-account cap (and the process cap
    // above the client count) so the benchmark measures fan-out, not the caps.
    settings.insert("FEED_MAX_PER_USER".to_owned(), "1000000".to_owned());
    settings.insert("FEED_MAX_CONNECTIONS".to_owned(), "1000000".to_owned());
    let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = server::Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.context().db.clone();
    let (_, token) = domain::connectors::create(&db, "bench").await.unwrap();
    let token = token.expose().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    http.put(format!("{base}/api/v1/discovery/guilds"))
        .bearer_auth(&token)
        .json(&json!({"guilds": [{"id": GUILD, "name": "B"}]}))
        .send()
        .await
        .unwrap();
    http.put(format!("{base}/api/v1/discovery/guilds/{GUILD}/channels"))
        .bearer_auth(&token)
        .json(&json!({"channels": [{"id": CHANNEL, "name": "signals", "type": 0}]}))
        .send()
        .await
        .unwrap();
    domain::discovery::set_flag(&db, CHANNEL.parse().unwrap(), domain::discovery::Role::Source, true)
        .await
        .unwrap();
    let account = domain::accounts::sign_up(
        &db,
        "bench@example.com",
        domain::Secret::new("correct horse battery staple".into()),
    )
    .await
    .unwrap();
    let tier = domain::entitlements::tiers(&db).await.unwrap()[0].id;
    domain::entitlements::grant(
        &db,
        domain::entitlements::NewGrant {
            user_id: Some(account.id),
            email: account.email.clone(),
            order_id: None,
            tier_id: tier,
            days: 30,
            starts_at: chrono::Utc::now(),
            cause: "admin",
            reason: "bench".into(),
            change_cause: "bench".into(),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    let (session, _) = domain::sessions::start(&db, account.id, "bench").await.unwrap();
    let cookie = format!("sd_session={}", session.expose());
    let ws_url = format!("{}/api/v1/feed/ws", base.replace("http://", "ws://"));

    // Warm the server (first query, first frame) before measuring memory.
    ingest(&http, &base, &token, u64::MAX / 2, 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let me = std::process::id();
    let before = rss_kib(me);
    let clients = Clients::connect(a.clients, &ws_url, Some(&base), Some(&cookie));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = rss_kib(me).saturating_sub(before) as f64 / a.clients as f64;

    publish(a, |i, t0| ingest(&http, &base, &token, i as u64, t0)).await;
    let f = clients.finish();
    let _ = stop.send(());
    let _ = served.await;
    report(engine, a, &f, per_client)
}

async fn ingest(http: &reqwest::Client, base: &str, token: &str, i: u64, t0: u64) {
    let body = json!({"type": "message_create", "guild_id": GUILD, "channel_id": CHANNEL,
        "message_id": (1_400_000_000_000_000_000u64 + i % 1_000_000_000).to_string(),
        "author": {"id": "1400000000000000003", "name": "Bench"}, "content": format!("BTC long T0={t0} "),
        "created_at": "2026-11-27T12:00:00Z"});
    let res = http
        .post(format!("{base}/api/v1/events"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "ingest failed: {}", res.status());
}

async fn nchan(a: &Args) -> Option<Figures> {
    if !std::path::Path::new("/usr/lib/nginx/modules/ngx_nchan_module.so").exists() {
        return None;
    }
    let dir = tempfile::tempdir().ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    // One process serving everything, like ours (and killing it leaves no worker behind).
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_nchan_module.so;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile 65536;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 65536; }}\nhttp {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
         server {{ listen 127.0.0.1:{port};\n location = /pub {{ nchan_publisher; nchan_channel_id feed; }}\n location = /sub {{ nchan_subscriber websocket; nchan_channel_id feed; }} }} }}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).ok()?;
    let mut nginx = Command::new("/usr/sbin/nginx")
        .args([
            "-c",
            &dir.path().join("nginx.conf").display().to_string(),
            "-p",
            &dir.path().display().to_string(),
            "-g",
            "daemon off;",
        ])
        .spawn()
        .ok()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let worker = nginx.id();
    let http = reqwest::Client::new();
    let pub_url = format!("http://127.0.0.1:{port}/pub");
    let post = |_: usize, t0: u64| {
        let req = http
            .post(&pub_url)
            .body(format!("{{\"content\":\"BTC long T0={t0} \"}}"));
        async move {
            let _ = req.send().await;
        }
    };
    // Warm-up without a stamp: nchan hands its newest message to each new subscriber.
    let _ = http.post(&pub_url).body("warm-up").send().await;
    let before = rss_kib(worker);
    let clients = Clients::connect(a.clients, &format!("ws://127.0.0.1:{port}/sub"), None, None);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = rss_kib(worker).saturating_sub(before) as f64 / a.clients as f64;
    publish(a, post).await;
    let f = clients.finish();
    let _ = nginx.kill();
    let _ = nginx.wait();
    Some(report("nchan", a, &f, per_client))
}

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.iter().any(|a| a == "--clients-only") {
        return clients_only(&argv);
    }
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "feed benchmark: {} clients, {} events at {}/s (latency: ingest request start → client receive)",
            a.clients, a.events, a.rate
        );
        let mut p95 = BTreeMap::new();
        if a.engines.iter().any(|e| e == "sqlite") {
            let dir = tempfile::tempdir().unwrap();
            let mut sqlite = BTreeMap::new();
            sqlite.insert("DATA_DIR".to_owned(), dir.path().display().to_string());
            sqlite.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
            p95.insert("sqlite", ours("sqlite", sqlite, &a).await.p95_ms);
        }
        if a.engines.iter().any(|e| e == "postgres") {
            let admin_url = std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
            let name = format!("bench_feed_{}", std::process::id());
            use sea_orm::ConnectionTrait;
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("PostgreSQL must be running");
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await
                .unwrap();
            let mut url = url::Url::parse(&admin_url).unwrap();
            url.set_path(&name);
            let mut pg = BTreeMap::new();
            pg.insert("DATABASE_URL".to_owned(), url.to_string());
            pg.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
            p95.insert("postgres", ours("postgres", pg, &a).await.p95_ms);
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
        if a.engines.iter().any(|e| e == "nchan") {
            match nchan(&a).await {
                Some(n) => {
                    for (engine, ours) in &p95 {
                        println!("p95 ratio to nchan: {engine} {:.2} (target ≤ 1.0)", ours / n.p95_ms);
                    }
                }
                None => println!("nchan not run: install Debian's nginx and libnginx-mod-nchan"),
            }
        }
        std::process::exit(0);
    });
}
