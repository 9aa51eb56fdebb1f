//! Feed benchmark: `cargo bench -p server --bench feed [-- --clients N --events E --rate R]`.
//!
//! N websocket clients follow the live feed from a separate process (`testkit::feed_clients`),
//! so the server's memory is measured alone and 10,000 clients fit in the file-descriptor limit.
//! Events are ingested over HTTP at R per second; each client records
//! ingest-request-start → receive latency against the wall clock both processes share. The same
//! load then runs against nchan (Debian's nginx + libnginx-mod-nchan: HTTP publish, websocket
//! subscribe) and the ratio of the p95s is printed. Memory: the server process's RSS growth per
//! connected idle client (ours: this process, which runs the server; nchan: nginx's worker).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use testkit::database::{Backend, TestDatabase};
use testkit::feed_clients::{Clients, now_us, rss_kib};

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

fn report(name: &str, a: &Args, f: &serde_json::Value, kib_per_client: f64) -> Figures {
    let f = &f[""];
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

    // Warm the server (first query, first frame) before measuring memory.
    source.ingest(u64::MAX / 2, "warm-up").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let me = std::process::id();
    let before = rss_kib(me);
    let clients = Clients::connect(a.clients, &ws_url, Some(&base), Some(&cookie));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_client = rss_kib(me).saturating_sub(before) as f64 / a.clients as f64;

    publish(a, |i, t0| {
        let source = &source;
        async move { source.ingest(i as u64, &format!("BTC long T0={t0} ")).await }
    })
    .await;
    let f = clients.finish();
    let _ = stop.send(());
    let _ = served.await;
    report(engine, a, &f, per_client)
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
