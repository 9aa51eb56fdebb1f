//! Durable attachments (issue 13, item 4): each attachment is fetched once from the allowed
//! source into the blob store and served from our origin, only to customers who may read its
//! signal. S7 for fetched files: an SVG or HTML file dressed as a PNG, a redirect to another
//! host, a 50 MB file and a slow server are never stored nor served; a failing source is retried.
//! The CDN is a local HTTP server (the network edge); everything else is the real app.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::capture::{GENERAL, GUILD, SIGNALS, Source};
use crate::helpers::{Backend, PASSWORD};
use crate::on_both_databases;

on_both_databases!(
    s7_only_checked_files_from_allowed_sources_are_stored_and_served,
    a_customer_who_may_not_read_the_signal_gets_403_for_its_files,
    a_file_stored_after_its_copy_was_made_is_mirrored_too,
    s7_an_allowed_name_that_resolves_to_loopback_is_refused_without_the_setting,
);

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0\x90wS\xde";

/// The fake CDN: one route per case.
struct Cdn {
    origin: String,
    port: u16,
    flaky_calls: Arc<AtomicUsize>,
    /// Every request the CDN was sent, whatever its path.
    hits: Arc<AtomicUsize>,
}

async fn cdn() -> Cdn {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let flaky_calls = Arc::new(AtomicUsize::new(0));
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let png = |bytes: &'static [u8]| move || async move { ([(header::CONTENT_TYPE, "image/png")], bytes) };
    let app = axum::Router::new()
        .route("/a/1/chart.png", get(png(PNG)))
        .route(
            "/a/2/logo.png",
            get(png(
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>",
            )),
        )
        .route(
            "/a/3/page.png",
            get(png(b"<!DOCTYPE html><html><script>alert(1)</script></html>")),
        )
        .route(
            "/a/4/moved.png",
            get(move || async move {
                // Same server, another host name: not on the allowlist.
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("http://localhost:{port}/a/1/chart.png"))],
                )
            }),
        )
        .route(
            "/a/5/huge.png",
            get(|| async {
                // 50 MB, streamed without a declared length: cut off at the cap, not read whole.
                let chunk = axum::body::Bytes::from(vec![0u8; 1024 * 1024]);
                let mut first = PNG.to_vec();
                first.resize(1024 * 1024, 0);
                let chunks = std::iter::once(axum::body::Bytes::from(first))
                    .chain(std::iter::repeat_n(chunk, 49))
                    .map(Ok::<_, std::io::Error>);
                Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
            }),
        )
        .route(
            "/a/6/slow.png",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(20)).await;
                ([(header::CONTENT_TYPE, "image/png")], PNG)
            }),
        )
        .route(
            "/a/7/flaky.png",
            get(|State(calls): State<Arc<AtomicUsize>>| async move {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    StatusCode::SERVICE_UNAVAILABLE.into_response()
                } else {
                    ([(header::CONTENT_TYPE, "image/png")], PNG).into_response()
                }
            }),
        )
        .with_state(flaky_calls.clone())
        .layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: axum::middleware::Next| {
                counted.fetch_add(1, Ordering::SeqCst);
                next.run(req)
            },
        ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Cdn {
        origin: format!("http://127.0.0.1:{port}"),
        port,
        flaky_calls,
        hits,
    }
}

fn attachment(cdn: &Cdn, id: u64, path: &str, filename: &str) -> Value {
    json!({"id": id.to_string(), "filename": filename, "url": format!("{}{path}", cdn.origin),
        "content_type": "image/png", "size": 1000})
}

/// A signal with one attachment per case.
fn post_with_files(cdn: &Cdn, message_id: u64) -> Value {
    json!({
        "type": "message_create", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": message_id.to_string(),
        "author": {"id": "1100000000000000050", "name": "Head Trader"}, "content": "charts",
        "attachments": [
            attachment(cdn, 901, "/a/1/chart.png", "chart.png"),
            attachment(cdn, 902, "/a/2/logo.png", "logo.png"),
            attachment(cdn, 903, "/a/3/page.png", "page.png"),
            attachment(cdn, 904, "/a/4/moved.png", "moved.png"),
            attachment(cdn, 905, "/a/5/huge.png", "huge.png"),
            attachment(cdn, 906, "/a/6/slow.png", "slow.png"),
            attachment(cdn, 907, "/a/7/flaky.png", "flaky.png"),
        ],
        "created_at": "2026-11-27T12:00:00Z",
    })
}

async fn start(backend: Backend, cdn: &Cdn) -> Source {
    Source::start_with(
        backend,
        &[
            ("ATTACHMENT_SOURCES", cdn.origin.as_str()),
            ("ATTACHMENT_FETCH_TIMEOUT", "2"),
            // The fake CDN listens on loopback, which real fetches never reach.
            ("ATTACHMENT_ALLOW_PRIVATE", "true"),
        ],
    )
    .await
}

/// Waits until no attachment is pending and the flaky one was retried into the store.
async fn settled(s: &Source) -> Vec<entity::attachment_blob::Model> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = entity::attachment_blob::Entity::find()
            .all(&s.app.ctx.db)
            .await
            .unwrap();
        let flaky_stored = rows.iter().any(|r| r.attachment_id == 907 && r.state == "stored");
        if !rows.is_empty() && rows.iter().all(|r| r.state != "pending") && flaky_stored {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attachments never settled: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn fetch(s: &Source, path: &str, session: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(s.app.url(path));
    if let Some(session) = session {
        req = req.header("cookie", format!("sd_session={session}"));
    }
    req.send().await.unwrap()
}

async fn s7_only_checked_files_from_allowed_sources_are_stored_and_served(backend: Backend) {
    let cdn = cdn().await;
    let s = start(backend, &cdn).await;
    assert_eq!(s.event(post_with_files(&cdn, 1)).await["status"], "accepted");
    let rows = settled(&s).await;
    let by_id = |id: i64| rows.iter().find(|r| r.attachment_id == id).unwrap();
    let chart = by_id(901);
    assert_eq!(
        (chart.state.as_str(), chart.content_type.as_deref()),
        ("stored", Some("image/png"))
    );
    for (id, why) in [
        (902, "markup"),
        (903, "markup"),
        (904, "not an allowed attachment source"),
        (905, "larger than the"),
        (906, "timed out"),
    ] {
        let r = by_id(id);
        assert_eq!(r.state, "unavailable", "{id}");
        assert!(
            r.error.as_deref().unwrap_or_default().contains(why),
            "{id}: {:?}",
            r.error
        );
        assert_eq!(r.sha256, None, "{id}: nothing stored");
    }
    assert!(
        cdn.flaky_calls.load(Ordering::SeqCst) >= 2,
        "the failed fetch was retried"
    );
    // Only the two real PNGs' bytes are in the blob store (one blob: the same bytes).
    let data_dir = s.app.database_settings()["DATA_DIR"].clone();
    let blobs: Vec<_> = walk(std::path::Path::new(&data_dir).join("blobs"));
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert_eq!(by_id(907).sha256, chart.sha256);

    // The dashboard links to our copy; what was refused has no link at all.
    let session = crate::feed::customer_with_access(&s.app, "reader@example.com", chrono::Duration::hours(1)).await;
    let view: Value = s
        .app
        .call("/rpc/dashboard", &[], Some(&session))
        .await
        .json()
        .await
        .unwrap();
    let files = view["signals"][0]["attachments"].as_array().unwrap().clone();
    let signal_id = view["signals"][0]["id"].as_i64().unwrap();
    let file = |name: &str| files.iter().find(|f| f["filename"] == name).unwrap().clone();
    assert_eq!(file("chart.png")["url"], json!(format!("/attachments/{signal_id}/901")));
    assert_eq!(file("chart.png")["display"], "inline");
    assert_eq!(
        (file("logo.png")["url"].clone(), file("logo.png")["state"].clone()),
        (Value::Null, json!("unavailable"))
    );
    let page = s.app.get_with_session("/dashboard", &session).await;
    assert!(page.contains(&format!("src=\"/attachments/{signal_id}/901\"")));
    assert!(!page.contains(&cdn.origin), "no page links to the source");

    // Served from our origin, with headers that let nothing run.
    let res = fetch(&s, &format!("/attachments/{signal_id}/901"), Some(&session)).await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(h["content-disposition"], "inline; filename*=UTF-8''chart.png");
    assert_eq!(h["cache-control"], "private, max-age=86400");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    for id in [902, 903, 904, 905, 906, 999] {
        let res = fetch(&s, &format!("/attachments/{signal_id}/{id}"), Some(&session)).await;
        assert_eq!(res.status(), 404, "{id}");
    }
    assert_eq!(fetch(&s, "/attachments/x/901", Some(&session)).await.status(), 404);
    assert_eq!(
        fetch(&s, &format!("/attachments/{signal_id}/901"), None).await.status(),
        401
    );

    // Deleted at source: the file goes with it.
    s.event(json!({"type": "message_delete", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": "1"}))
        .await;
    assert_eq!(
        fetch(&s, &format!("/attachments/{signal_id}/901"), Some(&session))
            .await
            .status(),
        404
    );
}

fn walk(dir: std::path::PathBuf) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(path));
        } else {
            files.push(path);
        }
    }
    files
}

async fn a_customer_who_may_not_read_the_signal_gets_403_for_its_files(backend: Backend) {
    let cdn = cdn().await;
    let s = start(backend, &cdn).await;
    s.event(post_with_files(&cdn, 1)).await;
    settled(&s).await;
    let signal_id = entity::signal::Entity::find()
        .one(&s.app.ctx.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let path = format!("/attachments/{signal_id}/901");
    let reader = crate::feed::customer_with_access(&s.app, "basic@example.com", chrono::Duration::hours(1)).await;
    assert_eq!(fetch(&s, &path, Some(&reader)).await.status(), 200);

    // No access at all.
    let free = s.app.sign_up("free@example.com", PASSWORD).await;
    let res = fetch(&s, &path, Some(&free)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "no_access");

    // The channel opens from Pro up: a Basic customer is refused its files.
    let pro = s.app.tier_id("pro").await;
    domain::channel_tiers::set_min_tier(&s.app.ctx.db, SIGNALS.parse().unwrap(), Some(pro))
        .await
        .unwrap();
    let res = fetch(&s, &path, Some(&reader)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "channel_closed");

    // A channel no longer Source delivers nothing, files included.
    domain::channel_tiers::set_min_tier(&s.app.ctx.db, SIGNALS.parse().unwrap(), None)
        .await
        .unwrap();
    domain::discovery::set_flag(
        &s.app.ctx.db,
        SIGNALS.parse().unwrap(),
        domain::discovery::Role::Source,
        false,
    )
    .await
    .unwrap();
    assert_eq!(fetch(&s, &path, Some(&reader)).await.status(), 403);
}

/// The copy went out while its file could not be fetched (the source answered 503); when the
/// retry stores it, the copy's mirror job runs again so the file reaches Discord too.
async fn a_file_stored_after_its_copy_was_made_is_mirrored_too(backend: Backend) {
    let cdn = cdn().await;
    let s = start(backend, &cdn).await;
    let db = &s.app.ctx.db;
    domain::discovery::set_flag(db, GENERAL.parse().unwrap(), domain::discovery::Role::Target, true)
        .await
        .unwrap();
    domain::discovery::create_mapping(db, SIGNALS.parse().unwrap(), GENERAL.parse().unwrap())
        .await
        .unwrap();
    domain::connectors::set_forwarding(db, &s.connector.pid, true)
        .await
        .unwrap();
    let mut event = post_with_files(&cdn, 1);
    event["attachments"] = json!([attachment(&cdn, 907, "/a/7/flaky.png", "flaky.png")]);
    assert_eq!(s.event(event).await["status"], "accepted");
    let record = || async { entity::attachment_blob::Entity::find().one(db).await.unwrap().unwrap() };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while record().await.state != "unavailable" {
        assert!(tokio::time::Instant::now() < deadline, "the first fetch never failed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Meanwhile the bot made the copy without the file (recorded as its worker records it).
    let copy = entity::mirror_copy::Entity::find().one(db).await.unwrap().unwrap();
    assert_eq!(copy.last_op, "create");
    domain::mirror::update_copy(
        db,
        copy.id,
        domain::mirror::CopyUpdate {
            state: Some(domain::mirror::state::LIVE),
            answered_at: Some(chrono::Utc::now()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while record().await.state != "stored" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry never stored the file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The file is stored first, then the copy's job is queued again: wait for the second step.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let copy = entity::mirror_copy::Entity::find().one(db).await.unwrap().unwrap();
        if copy.last_op == "update" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the copy is brought in line again, now with its file (last op: {})",
            copy.last_op
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// S7, no SSRF through the fetcher: an allowlisted host name that resolves to a loopback address
/// is refused before any connection (the fetcher resolves once and connects only to what it
/// checked), and so is an allowlisted address literal; with `ATTACHMENT_ALLOW_PRIVATE` the same
/// file is fetched, so the refusal is the address rule and nothing else.
async fn s7_an_allowed_name_that_resolves_to_loopback_is_refused_without_the_setting(backend: Backend) {
    let cdn = cdn().await;
    let by_name = format!("http://localhost:{}", cdn.port);
    let sources = format!("{by_name},{}", cdn.origin);
    let s = Source::start_with(backend, &[("ATTACHMENT_SOURCES", sources.as_str())]).await;
    let post = json!({
        "type": "message_create", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": "1500000000000000001",
        "author": {"id": "1100000000000000050", "name": "Head Trader"}, "content": "charts",
        "attachments": [
            {"id": "911", "filename": "chart.png", "url": format!("{by_name}/a/1/chart.png"),
             "content_type": "image/png", "size": 1000},
            {"id": "912", "filename": "chart.png", "url": format!("{}/a/1/chart.png", cdn.origin),
             "content_type": "image/png", "size": 1000},
        ],
        "created_at": "2026-11-27T12:00:00Z",
    });
    assert_eq!(s.event(post).await["status"], "accepted");
    let rows = settled_without_retries(&s).await;
    for r in &rows {
        assert_eq!(r.state, "unavailable", "{r:?}");
        assert!(
            r.error
                .as_deref()
                .unwrap_or_default()
                .contains("loopback, private or link-local"),
            "{r:?}"
        );
    }
    assert_eq!(cdn.hits.load(Ordering::SeqCst), 0, "nothing ever connected to the CDN");

    let allowed = Source::start_with(
        backend,
        &[
            ("ATTACHMENT_SOURCES", sources.as_str()),
            ("ATTACHMENT_ALLOW_PRIVATE", "true"),
        ],
    )
    .await;
    let post = json!({
        "type": "message_create", "guild_id": GUILD, "channel_id": SIGNALS, "message_id": "1500000000000000002",
        "author": {"id": "1100000000000000050", "name": "Head Trader"}, "content": "charts",
        "attachments": [{"id": "913", "filename": "chart.png", "url": format!("{by_name}/a/1/chart.png"),
             "content_type": "image/png", "size": 1000}],
        "created_at": "2026-11-27T12:00:00Z",
    });
    assert_eq!(allowed.event(post).await["status"], "accepted");
    let rows = settled_without_retries(&allowed).await;
    assert_eq!(rows[0].state, "stored", "{rows:?}");
    assert!(cdn.hits.load(Ordering::SeqCst) >= 1);
}

/// Waits until no attachment of `s` is pending.
async fn settled_without_retries(s: &Source) -> Vec<entity::attachment_blob::Model> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = entity::attachment_blob::Entity::find()
            .all(&s.app.ctx.db)
            .await
            .unwrap();
        if !rows.is_empty() && rows.iter().all(|r| r.state != "pending") {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "attachments never settled: {rows:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
