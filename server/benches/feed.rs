//! Feed benchmark: `cargo bench -p server --bench feed [-- --clients N --events E --rate R]`.
//!
//! N websocket clients follow the live feed from a separate process (`testkit::feed_clients`),
//! so the server's memory is measured alone and 10,000 clients fit in the file-descriptor limit.
//! Events are ingested over HTTP at R per second; each client records
//! ingest-request-start → receive latency against the wall clock both processes share. The same
//! load then runs against nchan (Debian's nginx + libnginx-mod-nchan: HTTP publish, websocket
//! subscribe) and the ratio of the p95s is printed. Memory: the server process's RSS growth per
//! connected idle client (ours: this process, which runs the server; nchan: nginx's worker).
//! Also per run: the time to connect all N clients (from the first connection attempt to the
//! last handshake), and the server's CPU time per delivered event (user + system while events
//! are published and delivered; ours includes the publishing client, which shares the process).
//! Then two reconnect storms, as after a deploy: every client drops its socket and connects again
//! at once while events keep coming — resuming after the last sequence it saw, and in the second
//! storm every tenth client from before 300 signals of history — and the latency of the events
//! published meanwhile, whether they arrive live or in a client's replay, with the count of
//! clients' missing and duplicate events.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use testkit::database::{Backend, TestDatabase};
use testkit::feed_clients::{Clients, Resume, cpu_ms, now_us, rss_kib};

#[path = "support/setup.rs"]
mod setup;

use setup::ApiSource;

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

struct Figures {
    p95_ms: f64,
}

/// What a run measured besides the clients' latencies.
struct Server {
    kib_per_client: f64,
    connect: Duration,
    /// CPU milliseconds the server used while the steady events were published and delivered.
    cpu_ms: u64,
    /// Time for every client to connect again, per storm.
    storms: Vec<Duration>,
}

/// The phases of one run, each with its own tag on the events it publishes.
const STEADY: &str = "";
const STORM: &str = "storm";
const STORM_OLD: &str = "old";
/// Signals of history before the clients connect, which the clients resuming from an old
/// sequence are sent again.
const HISTORY: usize = 300;
/// One client in this many resumes from before the history in the second storm.
const OLD_EVERY: usize = 10;

fn report(name: &str, a: &Args, f: &serde_json::Value, server: &Server) -> Figures {
    let line = |phase: &str, tag: &str, extra: String| {
        let f = &f[tag];
        let ms = |k: &str| f[k].as_u64().unwrap_or(0) as f64 / 1000.0;
        println!(
            "{name:<9} {phase:<14} {:>6} clients  delivered {:>8}/{:<8} (fewest per client {:>4}, dupes {})  p50 {:>7.2} ms  p95 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms  {extra}",
            a.clients,
            f["count"].as_u64().unwrap_or(0),
            a.clients * a.events,
            f["min_per_client"].as_u64().unwrap_or(0),
            f["dupes"].as_u64().unwrap_or(0),
            ms("p50"),
            ms("p95"),
            ms("p99"),
            ms("max"),
        );
        ms("p95")
    };
    let delivered = f[STEADY]["count"].as_u64().unwrap_or(0);
    let p95 = line(
        "steady",
        STEADY,
        format!(
            "server {:.1} KiB/idle client  connect all {:.2} s  CPU {:.1} µs/delivered event",
            server.kib_per_client,
            server.connect.as_secs_f64(),
            server.cpu_ms as f64 * 1000.0 / delivered.max(1) as f64
        ),
    );
    let storm_took = |i: usize| server.storms.get(i).map_or(0.0, Duration::as_secs_f64);
    line("storm", STORM, format!("all reconnected in {:.2} s", storm_took(0)));
    line(
        "storm+10% old",
        STORM_OLD,
        format!(
            "all reconnected in {:.2} s ({HISTORY} old signals resent to every {OLD_EVERY}th)",
            storm_took(1)
        ),
    );
    Figures { p95_ms: p95 }
}

/// Connects the clients and measures what that costs the server (`pid`): time, and resident
/// memory per idle client once they settle.
async fn connect(
    a: &Args,
    pid: u32,
    url: &str,
    origin: Option<&str>,
    cookie: Option<&str>,
    resumable: bool,
) -> (Clients, Duration, f64) {
    let before = rss_kib(pid);
    let started = std::time::Instant::now();
    let clients = Clients::connect_with(a.clients, url, origin, cookie, None, resumable);
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = rss_kib(pid).saturating_sub(before) as f64 / a.clients as f64;
    (clients, took, per_client)
}

/// Publishes `a.events` messages at `a.rate` per second, each stamped with its start time and
/// `tag` (`post` gets the message's number and its stamp).
async fn publish<F, Fut>(a: &Args, tag: &str, mut post: F)
where
    F: FnMut(usize, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let gap = Duration::from_secs_f64(1.0 / a.rate);
    let mut next = tokio::time::Instant::now();
    for i in 0..a.events {
        post(i, format!("T0={}/{tag}", now_us())).await;
        next += gap;
        tokio::time::sleep_until(next).await;
    }
    // Let the last deliveries land.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// The three phases against connected clients: steady delivery (CPU measured), a reconnect
/// storm, and a storm in which every tenth client resumes from `old`.
async fn phases<F, Fut>(a: &Args, pid: u32, clients: &mut Clients, old: i64, post: F) -> (u64, Vec<Duration>)
where
    F: Fn(usize, String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let cpu_before = cpu_ms(pid);
    publish(a, STEADY, &post).await;
    let cpu = cpu_ms(pid).saturating_sub(cpu_before);
    let mut storms = Vec::new();
    for (n, (tag, resume)) in [
        (STORM, None),
        (
            STORM_OLD,
            Some(Resume {
                every: OLD_EVERY,
                after: old,
            }),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        clients.storm(resume);
        let offset = (n + 1) * a.events;
        publish(a, tag, |i, stamp| post(offset + i, stamp)).await;
        storms.push(clients.storm_over());
    }
    (cpu, storms)
}

async fn ours(engine: &str, mut settings: BTreeMap<String, String>, a: &Args) -> Figures {
    setup::lift_feed_caps(&mut settings);
    let config = domain::Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = server::Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.context().db.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let source = ApiSource::create(&db, &base).await;
    let cookie = setup::customer_cookie(&db).await;
    let ws_url = format!("{}/api/v1/feed/ws", base.replace("http://", "ws://"));

    // Warm the server (first query, first frame) before measuring memory; then the history.
    source.ingest(u64::MAX / 2, "warm-up").await;
    let old = domain::feed::view::head(&db).await.expect("feed head");
    for i in 0..HISTORY {
        source.ingest((u64::MAX / 2) + 1 + i as u64, "BTC long (history)").await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let me = std::process::id();
    let (mut clients, connect, kib_per_client) = connect(a, me, &ws_url, Some(&base), Some(&cookie), true).await;
    let (cpu_ms, storms) = phases(a, me, &mut clients, old, |i, stamp| {
        let source = &source;
        async move { source.ingest(i as u64, &format!("BTC long {stamp} ")).await }
    })
    .await;
    let f = clients.finish();
    let _ = stop.send(());
    let _ = served.await;
    let server = Server {
        kib_per_client,
        connect,
        cpu_ms,
        storms,
    };
    report(engine, a, &f, &server)
}

/// nchan through the same clients and phases. Its websocket subscriber takes no resume point, so
/// clients reconnecting in a storm miss what was published meanwhile (fewer delivered), and the
/// "old" storm resends nothing.
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
    // Warm-up without a stamp: nchan hands its newest message to each new subscriber.
    let _ = http.post(&pub_url).body("warm-up").send().await;
    let (mut clients, connect, kib_per_client) =
        connect(a, worker, &format!("ws://127.0.0.1:{port}/sub"), None, None, false).await;
    let (cpu_ms, storms) = phases(a, worker, &mut clients, 0, |_, stamp| {
        let req = http
            .post(&pub_url)
            .body(format!("{{\"content\":\"BTC long {stamp} \"}}"));
        async move {
            let _ = req.send().await;
        }
    })
    .await;
    let f = clients.finish();
    let _ = nginx.kill();
    let _ = nginx.wait();
    let server = Server {
        kib_per_client,
        connect,
        cpu_ms,
        storms,
    };
    Some(report("nchan", a, &f, &server))
}

fn main() {
    if testkit::feed_clients::serve_if_asked() {
        return;
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
        // A fresh database per engine (dropped at the end), as the tests make them.
        for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
            if a.engines.iter().any(|e| e == name) {
                let database = TestDatabase::create(backend).await;
                let mut settings = database.settings();
                settings.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
                p95.insert(name, ours(name, settings, &a).await.p95_ms);
            }
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
