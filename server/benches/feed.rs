//! Feed benchmark: `cargo bench -p server --bench feed [-- --clients N --events E --rate R]`.
//! N websocket clients follow the live feed; events are ingested over HTTP at R per second; each
//! client records ingest-request-start → receive latency (one process, one clock). The same load
//! then runs against nchan (Debian's nginx + libnginx-mod-nchan: HTTP publish, websocket
//! subscribe) and the ratio of the p95s is printed. Memory: the process RSS growth per
//! connected idle client (server and client ends together, so an upper bound for the server).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const GUILD: &str = "1400000000000000001";
const CHANNEL: &str = "1400000000000000002";

struct Args {
    clients: usize,
    events: usize,
    rate: f64,
}

fn args() -> Args {
    let mut a = Args {
        clients: 1000,
        events: 200,
        rate: 20.0,
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--clients" => a.clients = w[1].parse().unwrap_or(a.clients),
            "--events" => a.events = w[1].parse().unwrap_or(a.events),
            "--rate" => a.rate = w[1].parse().unwrap_or(a.rate),
            _ => {}
        }
    }
    a
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

type Latencies = Arc<Mutex<Vec<Duration>>>;

/// Connects `n` clients; each parses `"t":<micros since start>` out of every text message.
async fn subscribe(
    n: usize,
    make: impl Fn() -> tokio_tungstenite::tungstenite::handshake::client::Request,
    start: Instant,
    lat: Latencies,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut ws, _) = tokio_tungstenite::connect_async(make())
            .await
            .expect("websocket connects");
        let lat = lat.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(m)) = ws.next().await {
                if let Message::Text(t) = m
                    && let Some(i) = t.find("T0=")
                {
                    let digits: String = t[i + 3..].chars().take_while(char::is_ascii_digit).collect();
                    if let Ok(us) = digits.parse::<u64>() {
                        let sent = start + Duration::from_micros(us);
                        lat.lock().unwrap().push(Instant::now().saturating_duration_since(sent));
                    }
                }
            }
        }));
    }
    tasks
}

fn report(name: &str, clients: usize, mut l: Vec<Duration>, expected: usize, mem_per_client: f64) -> f64 {
    l.sort();
    let p = |q: f64| {
        l.get(((l.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{name:<10} {clients:>6} clients  delivered {:>8}/{expected:<8} p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  ~{mem_per_client:.1} KiB/client",
        l.len(),
        p(0.5),
        p(0.95),
        p(0.99),
        l.last().map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0),
    );
    p(0.95)
}

async fn ours(engine: &str, settings: BTreeMap<String, String>, a: &Args) -> f64 {
    let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = server::Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.context().db.clone();
    let (_, token) = domain::connectors::create(&db, "bench").await.unwrap();
    let token = token.expose().clone();
    tokio::spawn(app.run_until(std::future::pending()));
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
        },
    )
    .await
    .unwrap();
    let (session, _) = domain::sessions::start(&db, account.id, "bench").await.unwrap();
    let cookie = format!("sd_session={}", session.expose());
    let ws_url = format!("{}/api/v1/feed/ws", base.replace("http://", "ws://"));

    let start = Instant::now();
    let lat: Latencies = Arc::default();
    let before = rss_kib();
    let tasks = subscribe(
        a.clients,
        || {
            let mut r = ws_url.as_str().into_client_request().unwrap();
            r.headers_mut().insert("origin", base.parse().unwrap());
            r.headers_mut().insert("cookie", cookie.parse().unwrap());
            r
        },
        start,
        lat.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = (rss_kib().saturating_sub(before)) as f64 / a.clients as f64;

    let gap = Duration::from_secs_f64(1.0 / a.rate);
    for i in 0..a.events {
        let t0 = start.elapsed().as_micros();
        let body = json!({"type": "message_create", "guild_id": GUILD, "channel_id": CHANNEL,
            "message_id": (1_400_000_000_000_000_000u64 + i as u64).to_string(),
            "author": {"id": "1400000000000000003", "name": "Bench"}, "content": format!("BTC long T0={t0} "),
            "created_at": "2026-11-27T12:00:00Z"});
        let res = http
            .post(format!("{base}/api/v1/events"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in tasks {
        t.abort();
    }
    let l = lat.lock().unwrap().clone();
    report(engine, a.clients, l, a.clients * a.events, per_client)
}

async fn nchan(a: &Args) -> Option<f64> {
    let dir = tempfile::tempdir().ok()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_nchan_module.so;\nworker_processes 1;\nerror_log {d}/error.log warn;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 65536; }}\nhttp {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d}; fastcgi_temp_path {d}; uwsgi_temp_path {d}; scgi_temp_path {d};\n\
         server {{ listen 127.0.0.1:{port};\n location = /pub {{ nchan_publisher; nchan_channel_id feed; }}\n location = /sub {{ nchan_subscriber websocket; nchan_channel_id feed; }} }} }}\n",
        d = dir.path().display()
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).ok()?;
    let mut child = std::process::Command::new("/usr/sbin/nginx")
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
    let start = Instant::now();
    let lat: Latencies = Arc::default();
    let url = format!("ws://127.0.0.1:{port}/sub");
    let before = rss_kib();
    let tasks = subscribe(
        a.clients,
        || url.as_str().into_client_request().unwrap(),
        start,
        lat.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = (rss_kib().saturating_sub(before)) as f64 / a.clients as f64;
    let http = reqwest::Client::new();
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    for _ in 0..a.events {
        let t0 = start.elapsed().as_micros();
        let _ = http
            .post(format!("http://127.0.0.1:{port}/pub"))
            .body(format!("{{\"content\":\"BTC long T0={t0} \"}}"))
            .send()
            .await;
        tokio::time::sleep(gap).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for t in tasks {
        t.abort();
    }
    let _ = child.kill();
    let l = lat.lock().unwrap().clone();
    Some(report("nchan", a.clients, l, a.clients * a.events, per_client))
}

fn main() {
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
        let dir = tempfile::tempdir().unwrap();
        let mut sqlite = BTreeMap::new();
        sqlite.insert("DATA_DIR".to_owned(), dir.path().display().to_string());
        sqlite.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
        let ours_sqlite = ours("sqlite", sqlite, &a).await;

        let admin_url =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
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
        let ours_pg = ours("postgres", pg, &a).await;

        match nchan(&a).await {
            Some(n) => println!(
                "p95 ratio to nchan: sqlite {:.2}, postgres {:.2} (target ≤ 1.0)",
                ours_sqlite / n,
                ours_pg / n
            ),
            None => println!("nchan not run: install Debian's nginx and libnginx-mod-nchan"),
        }
        let _ = admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
        std::process::exit(0);
    });
}
