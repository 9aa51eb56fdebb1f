//! The customer's desk: `cargo bench -p server --bench desk [-- --signals N --queries Q
//! --engines sqlite,postgres --render R]`.
//!
//! 1. Rendering cost per signal: a corpus of signal shapes (markdown, mentions, timestamps,
//!    embeds with fields, trade texts) rendered to HTML by the same components the dashboard
//!    uses (`MessageBody`, `Embeds`) plus the trade parse; prints p50 / p99 µs per signal.
//! 2. Search latency over N stored signals (default 1,000,000) on each engine: the real app on
//!    port 0, N signals written in bulk (their index maintained by the database as in
//!    production: FTS5 triggers, the generated `tsvector` and its GIN index), then Q searches of
//!    each kind as a customer runs them — `GET /dashboard?q=…` over HTTP with a session, the
//!    whole server render included. Prints p50 / p95 / p99 ms per kind.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use domain::Config;
use entity::signal;
use leptos::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, DatabaseConnection, EntityTrait};
use server::Application;
use testkit::database::{Backend, TestDatabase};

#[path = "support/setup.rs"]
mod setup;

struct Args {
    signals: u64,
    queries: usize,
    render: usize,
    engines: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        signals: 1_000_000,
        queries: 100,
        render: 20_000,
        engines: vec!["sqlite".into(), "postgres".into()],
    };
    let argv: Vec<String> = std::env::args().collect();
    for w in argv.windows(2) {
        match w[0].as_str() {
            "--signals" => a.signals = w[1].parse().expect("--signals N"),
            "--queries" => a.queries = w[1].parse().expect("--queries N"),
            "--render" => a.render = w[1].parse().expect("--render N"),
            "--engines" => a.engines = w[1].split(',').map(str::to_owned).collect(),
            _ => {}
        }
    }
    a
}

const PAIRS: [&str; 12] = [
    "BTC/USDT",
    "ETH/USDT",
    "SOL/USDT",
    "XRP/USDT",
    "DOGE/USDT",
    "LINK/USDT",
    "AVAX/USDT",
    "ARB/USDT",
    "EUR/USD",
    "GBP/JPY",
    "XAU/USD",
    "ADA/USDT",
];
const CHATTER: [&str; 6] = [
    "Good morning traders, markets are quiet today",
    "Funding is negative, shorts look crowded",
    "Reminder: weekly call at 18:00 UTC <t:1733000000:F>",
    "Closed the last position for +12% ✅ <@123>",
    "Watch the **daily close** on `BTC`, > patience",
    "New video on risk management: ||position sizing|| [link](https://example.com/v)",
];

/// Signal `i`: a trade in one of several formats (a tenth as embeds), or chatter; each carries
/// a unique tag word so a rare-word search has exactly one answer.
fn shape(i: u64, rng: &mut StdRng) -> (String, String) {
    let pair = PAIRS[rng.gen_range(0..PAIRS.len())];
    let side = if rng.gen_bool(0.5) { "LONG" } else { "SHORT" };
    let price = rng.gen_range(1.0..70_000.0f64);
    let tag = format!("tag{i}");
    match i % 10 {
        0 => (
            String::new(),
            serde_json::json!([{"title": format!("{pair} {side}"), "color": 0x2ecc71, "description": format!("**Entry** {price:.2} {tag}"),
                "fields": [{"name": "TP1", "value": format!("{:.2}", price * 1.02), "inline": true},
                           {"name": "TP2", "value": format!("{:.2}", price * 1.05), "inline": true},
                           {"name": "SL", "value": format!("{:.2}", price * 0.97), "inline": true}],
                "footer": {"text": "Signal bot"}}])
            .to_string(),
        ),
        1..=3 => (
            format!("{} {tag}", CHATTER[rng.gen_range(0..CHATTER.len())]),
            "[]".into(),
        ),
        4..=6 => (
            format!(
                "**{pair} {side}**\n> Entry: {price:.2} - {:.2}\n🎯 TP1 {:.2}\n🎯 TP2 {:.2}\n🛑 SL {:.2}\n{tag}",
                price * 1.003,
                price * 1.02,
                price * 1.04,
                price * 0.98
            ),
            "[]".into(),
        ),
        _ => (
            format!(
                "{side} {} @ {price:.2} tp {:.2} sl {:.2} <@42> {tag}",
                pair.replace('/', ""),
                price * 1.03,
                price * 0.98
            ),
            "[]".into(),
        ),
    }
}

fn percentiles(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize];
    (at(0.5), at(0.95), at(0.99))
}

/// Rendering cost: the dashboard's own components to HTML, plus the trade parse.
fn render_cost(n: usize) {
    let mut rng = StdRng::seed_from_u64(7);
    let mut micros = Vec::with_capacity(n);
    let owner = Owner::new();
    owner.with(|| {
        for i in 0..n as u64 {
            let (content, embeds) = shape(i, &mut rng);
            let started = Instant::now();
            let embeds: serde_json::Value = serde_json::from_str(&embeds).unwrap();
            let text = domain::feed::search::searchable_text(&content, &embeds.to_string());
            let _trade = domain::trade::parse(&text);
            let names = app::components::message_body::Names::default();
            let html = view! {
                <app::components::message_body::MessageBody content names=names.clone() />
                <app::components::embed_view::Embeds embeds=app::embed::embeds(&embeds) names />
            }
            .to_html();
            micros.push(started.elapsed().as_secs_f64() * 1e6);
            assert!(!html.is_empty());
        }
    });
    let (p50, _, p99) = percentiles(micros);
    println!(
        "render: {n} signals, per signal (markdown + embeds to HTML + trade parse): p50 {p50:.1} µs, p99 {p99:.1} µs"
    );
}

/// Writes `n` signals into the Source channel in bulk, newest last, as ingest would store them.
async fn fill(db: &DatabaseConnection, connector_id: i64, n: u64) -> Duration {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(15);
    let now = Utc::now();
    let channel: i64 = setup::CHANNEL.parse().unwrap();
    let guild: i64 = setup::GUILD.parse().unwrap();
    let batch = 500;
    let mut i = 0;
    while i < n {
        let rows: Vec<signal::ActiveModel> = (i..(i + batch).min(n))
            .map(|k| {
                let (content, embeds) = shape(k, &mut rng);
                let ix = domain::feed::search::index(&content, &embeds);
                // A week of history, a signal every few seconds up to now.
                let posted = now - chrono::Duration::seconds(((n - k) * 604_800 / n.max(1)) as i64);
                signal::ActiveModel {
                    message_id: Set(1_500_000_000_000_000_000 + k as i64),
                    connector_id: Set(connector_id),
                    guild_id: Set(guild),
                    channel_id: Set(channel),
                    thread_id: Set(None),
                    author_id: Set(Some(42)),
                    author_name: Set("Head Trader".into()),
                    author_avatar: Set(None),
                    content: Set(content),
                    embeds_json: Set(embeds),
                    attachments_json: Set("[]".into()),
                    mentions_json: Set("{}".into()),
                    search_text: Set(ix.search_text),
                    pair: Set(ix.pair),
                    side: Set(ix.side),
                    posted_at: Set(Some(posted)),
                    edited_at: Set(None),
                    deleted_at: Set(None),
                    delete_reason: Set(None),
                    ingested_at: Set(posted),
                    updated_at: Set(posted),
                    ..Default::default()
                }
            })
            .collect();
        signal::Entity::insert_many(rows).exec(db).await.unwrap();
        i += batch;
        if i % 100_000 == 0 {
            eprintln!("  {i} signals stored ({:.0} s)", started.elapsed().as_secs_f64());
        }
    }
    started.elapsed()
}

/// Makes one query string of a kind.
type QueryMaker<'a> = Box<dyn Fn(&mut StdRng) -> String + 'a>;

async fn engine(name: &str, mut settings: BTreeMap<String, String>, a: &Args) {
    settings.insert("BIND_ADDR".to_owned(), "127.0.0.1:0".to_owned());
    let config = Config::from_sources(&BTreeMap::new(), |k| settings.get(k).cloned()).expect("config");
    let app = Application::build(config).await.expect("app");
    let base = format!("http://127.0.0.1:{}", app.port());
    let db = app.context().db.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let source = setup::ApiSource::create(&db, &base).await;
    let connector = domain::connectors::list(&db).await.unwrap().into_iter().last().unwrap();
    drop(source);
    let cookie = setup::customer_cookie(&db).await;
    let took = fill(&db, connector.id, a.signals).await;
    // Statistics as a running database has them (autovacuum / `ANALYZE`), for the planner.
    use sea_orm::ConnectionTrait;
    db.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "{name}: {} signals stored in {:.0} s ({:.0}/s, index kept by the database)",
        a.signals,
        took.as_secs_f64(),
        a.signals as f64 / took.as_secs_f64()
    );
    let http = reqwest::Client::new();
    let mut rng = StdRng::seed_from_u64(3);
    let kinds: [(&str, QueryMaker); 5] = [
        (
            "rare word",
            Box::new(|r: &mut StdRng| format!("q=tag{}", r.gen_range(0..a.signals))),
        ),
        (
            "common word",
            Box::new(|r: &mut StdRng| format!("q={}", ["btc", "eth", "sol", "entry"][r.gen_range(0..4)])),
        ),
        (
            "two words",
            Box::new(|r: &mut StdRng| {
                format!(
                    "q={}%20{}",
                    ["eth", "xau", "link"][r.gen_range(0..3)],
                    ["long", "short"][r.gen_range(0..2)]
                )
            }),
        ),
        (
            "pair + side",
            Box::new(|r: &mut StdRng| {
                format!(
                    "pair={}&side={}",
                    PAIRS[r.gen_range(0..PAIRS.len())].replace('/', "%2F"),
                    ["long", "short"][r.gen_range(0..2)]
                )
            }),
        ),
        (
            "word + pair",
            Box::new(|r: &mut StdRng| {
                format!(
                    "q=weekly&pair={}",
                    PAIRS[r.gen_range(0..PAIRS.len())].replace('/', "%2F")
                )
            }),
        ),
    ];
    for (kind, make) in &kinds {
        let mut ms = Vec::with_capacity(a.queries);
        for _ in 0..a.queries {
            let url = format!("{base}/dashboard?{}", make(&mut rng));
            let started = Instant::now();
            let res = http.get(&url).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(res.status(), 200, "{url}");
            let body = res.text().await.unwrap();
            ms.push(started.elapsed().as_secs_f64() * 1000.0);
            assert!(body.contains("Search results"), "{url}");
        }
        let (p50, p95, p99) = percentiles(ms);
        println!(
            "{name}: search {kind:<12} p50 {p50:6.1} ms  p95 {p95:6.1} ms  p99 {p99:6.1} ms  (page render over HTTP)"
        );
    }
    let _ = tx.send(());
}

fn main() {
    let a = args();
    render_cost(a.render);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // A fresh database per engine (dropped at the end), as the tests make them.
        for (name, backend) in [("sqlite", Backend::Sqlite), ("postgres", Backend::Postgres)] {
            if a.engines.iter().any(|e| e == name) {
                let database = TestDatabase::create(backend).await;
                engine(name, database.settings(), &a).await;
            }
        }
    });
}
