//! Ingest benchmark: `cargo bench -p server --bench ingest [-- --events N --clients C --batch B --seconds S
//! --engines sqlite,postgres]`.
//! Starts the real application in-process on port 0 (a fresh SQLite file, then a fresh
//! PostgreSQL database), registers a connector and a source channel, and posts message events
//! over real HTTP from C concurrent clients. Prints throughput (events/s) and request latency
//! percentiles for single-event requests and for batches, then holds C clients of single events
//! for S seconds (sustained rate), and finally counts the stored signals against every
//! acknowledged one.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use domain::Config;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use server::Application;

const GUILD: &str = "1200000000000000001";
const CHANNEL: &str = "1200000000000000002";

struct Args {
    events: usize,
    clients: usize,
    batch: usize,
    seconds: u64,
    engines: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        events: 4000,
        clients: 16,
        batch: 100,
        seconds: 60,
        engines: vec!["sqlite".into(), "postgres".into()],
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        if argv[i] == "--engines"
            && let Some(list) = argv.get(i + 1)
        {
            a.engines = list.split(',').map(str::to_owned).collect();
            i += 2;
            continue;
        }
        let value = argv.get(i + 1).and_then(|v| v.parse().ok());
        match (argv[i].as_str(), value) {
            ("--events", Some(v)) => a.events = v,
            ("--clients", Some(v)) => a.clients = v,
            ("--batch", Some(v)) => a.batch = v,
            ("--seconds", Some(v)) => a.seconds = v as u64,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    a
}

fn event(id: u64) -> Value {
    json!({
        "type": "message_create",
        "guild_id": GUILD, "channel_id": CHANNEL, "message_id": id.to_string(),
        "author": {"id": "1200000000000000003", "name": "Bench Trader"},
        "content": format!("BTC long {id} | TP 93,500 | SL 89,800"),
        "attachments": [{"id": "1200000000000000004", "filename": "chart.png",
            "url": "https://cdn.discordapp.com/attachments/1/2/chart.png", "content_type": "image/png",
            "size": 48213, "width": 1200, "height": 800}],
        "created_at": "2026-11-27T12:00:00Z"
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn start(
    settings: BTreeMap<String, String>,
) -> (
    String,
    String,
    tokio::sync::oneshot::Sender<()>,
    sea_orm::DatabaseConnection,
) {
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.context().db.clone();
    let (connector, token) = domain::connectors::create(&db, "bench").await.unwrap();
    let client = reqwest::Client::new();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let token = token.expose().clone();
    client
        .put(format!("{base}/api/v1/discovery/guilds"))
        .bearer_auth(&token)
        .json(&json!({"guilds": [{"id": GUILD, "name": "Bench"}]}))
        .send()
        .await
        .unwrap();
    client
        .put(format!("{base}/api/v1/discovery/guilds/{GUILD}/channels"))
        .bearer_auth(&token)
        .json(&json!({"channels": [{"id": CHANNEL, "name": "signals", "type": 0}]}))
        .send()
        .await
        .unwrap();
    domain::discovery::set_flag(&db, CHANNEL.parse().unwrap(), domain::discovery::Role::Source, true)
        .await
        .unwrap();
    let _ = connector;
    (base, token, tx, db)
}

/// What a load run measured.
struct Run {
    wall: Duration,
    latencies: Vec<Duration>,
    /// Events the server acknowledged as accepted.
    accepted: u64,
}

/// When a load run stops: after a number of events, or at a moment.
#[derive(Clone, Copy)]
enum Until {
    Events(usize),
    Deadline(Instant),
}

/// Posts events as requests of `per_request` events from `clients` clients until `until`.
async fn load(base: &str, token: &str, first_id: u64, until: Until, per_request: usize, clients: usize) -> Run {
    let (requests, events) = match until {
        Until::Events(e) => (e.div_ceil(per_request), e),
        Until::Deadline(_) => (usize::MAX, usize::MAX),
    };
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let next = next.clone();
        let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
        let (base, token) = (base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut accepted = 0;
            loop {
                let r = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if r >= requests || matches!(until, Until::Deadline(d) if Instant::now() >= d) {
                    return (latencies, accepted);
                }
                let ids = (r * per_request)..((r + 1) * per_request).min(events);
                let (url, body) = if per_request == 1 {
                    (format!("{base}/api/v1/events"), event(first_id + r as u64))
                } else {
                    (
                        format!("{base}/api/v1/events/batch"),
                        json!({"events": ids.map(|i| event(first_id + i as u64)).collect::<Vec<_>>()}),
                    )
                };
                let t = Instant::now();
                let res = client.post(url).bearer_auth(&token).json(&body).send().await.unwrap();
                assert!(res.status().is_success(), "{}", res.status());
                let answer: Value = res.json().await.unwrap();
                latencies.push(t.elapsed());
                accepted += if per_request == 1 {
                    u64::from(answer["status"] == "accepted")
                } else {
                    answer["accepted"].as_u64().unwrap_or(0)
                };
            }
        }));
    }
    let mut run = Run {
        wall: Duration::ZERO,
        latencies: Vec::new(),
        accepted: 0,
    };
    for t in tasks {
        let (latencies, accepted) = t.await.unwrap();
        run.latencies.extend(latencies);
        run.accepted += accepted;
    }
    run.wall = started.elapsed();
    run
}

fn report(engine: &str, mode: &str, run: &mut Run) {
    let latencies = &mut run.latencies;
    latencies.sort();
    let events = run.accepted;
    println!(
        "{engine:<9} {mode:<30} {events:>7} events  {:>8.0} events/s   request p50 {:>6.2} ms  p95 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms",
        events as f64 / run.wall.as_secs_f64(),
        percentile(latencies, 0.50),
        percentile(latencies, 0.95),
        percentile(latencies, 0.99),
        latencies.last().unwrap().as_secs_f64() * 1000.0,
    );
}

async fn run(engine: &str, settings: BTreeMap<String, String>, a: &Args) {
    let (base, token, stop, db) = start(settings).await;
    let mut accepted = 0;
    // Warm-up: connections, prepared statements, page cache.
    accepted += load(&base, &token, 1, Until::Events(200), 1, a.clients).await.accepted;
    let unloaded = (a.events / 4).max(1);
    let mut r = load(&base, &token, 500_000, Until::Events(unloaded), 1, 1).await;
    report(engine, "single, 1 client", &mut r);
    accepted += r.accepted;
    let mut r = load(&base, &token, 1_000_000, Until::Events(a.events), 1, a.clients).await;
    report(engine, &format!("single, {} clients", a.clients), &mut r);
    accepted += r.accepted;
    let batched = a.clients.min(4);
    let mut r = load(&base, &token, 10_000_000, Until::Events(a.events * 5), a.batch, batched).await;
    report(engine, &format!("batch of {}, {batched} clients", a.batch), &mut r);
    accepted += r.accepted;
    if a.seconds > 0 {
        let until = Until::Deadline(Instant::now() + Duration::from_secs(a.seconds));
        let mut r = load(&base, &token, 100_000_000, until, 1, a.clients).await;
        report(
            engine,
            &format!("single, {} clients, {} s", a.clients, a.seconds),
            &mut r,
        );
        accepted += r.accepted;
    }
    use sea_orm::{EntityTrait, PaginatorTrait};
    let stored = entity::signal::Entity::find().count(&db).await.unwrap();
    println!(
        "{engine:<9} stored {stored} signals for {accepted} acknowledged{}",
        if stored == accepted {
            " (nothing lost)"
        } else {
            "  *** MISMATCH ***"
        }
    );
    let _ = stop.send(());
}

fn main() {
    let a = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "ingest benchmark: {} single-event requests from 1 client, {} from {} clients, then {} events in batches of {}, then {} s of single events from {} clients",
            (a.events / 4).max(1),
            a.events,
            a.clients,
            a.events * 5,
            a.batch,
            a.seconds,
            a.clients
        );
        let dir = tempfile::tempdir().unwrap();
        let mut sqlite = BTreeMap::new();
        sqlite.insert("DATA_DIR".to_owned(), dir.path().display().to_string());
        sqlite.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
        sqlite.insert("RUST_LOG".to_owned(), "warn".to_owned());
        if a.engines.iter().any(|e| e == "sqlite") {
            run("sqlite", sqlite, &a).await;
        }
        if !a.engines.iter().any(|e| e == "postgres") {
            return;
        }

        let admin_url =
            std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("bench_{}", std::process::id());
        let admin = Database::connect(&admin_url).await.expect("PostgreSQL must be running");
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        let mut url = url::Url::parse(&admin_url).unwrap();
        url.set_path(&name);
        let mut pg = BTreeMap::new();
        pg.insert("DATABASE_URL".to_owned(), url.to_string());
        pg.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
        run("postgres", pg, &a).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .unwrap();
    });
}
