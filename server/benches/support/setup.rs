//! What the feed benchmarks share (`server/benches/feed.rs`, and `bot/benches/capture.rs`, which
//! includes this file by path): an ingest-API connector with one Source channel, a customer with
//! access and a signed-in session, and the ingest call.

// Each benchmark uses some of these.
#![allow(dead_code)]

use sea_orm::DatabaseConnection;
use serde_json::json;

pub const GUILD: &str = "1400000000000000001";
pub const CHANNEL: &str = "1400000000000000002";

/// An ingest-API connector of the running app at `base`, owning #signals of guild [`GUILD`],
/// which is flagged Source.
pub struct ApiSource {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl ApiSource {
    pub async fn create(db: &DatabaseConnection, base: &str) -> Self {
        let (_, token) = domain::connectors::create(db, "bench").await.unwrap();
        let source = ApiSource {
            base: base.to_owned(),
            token: token.expose().clone(),
            http: reqwest::Client::new(),
        };
        source
            .send(
                reqwest::Method::PUT,
                "discovery/guilds",
                json!({"guilds": [{"id": GUILD, "name": "B"}]}),
            )
            .await;
        source
            .send(
                reqwest::Method::PUT,
                &format!("discovery/guilds/{GUILD}/channels"),
                json!({"channels": [{"id": CHANNEL, "name": "signals", "type": 0}]}),
            )
            .await;
        domain::discovery::set_flag(db, CHANNEL.parse().unwrap(), domain::discovery::Role::Source, true)
            .await
            .unwrap();
        source
    }

    /// Sends `body` to `/api/v1/{path}` as the connector; the benchmark stops on any error.
    async fn send(&self, method: reqwest::Method, path: &str, body: serde_json::Value) {
        let res = self
            .http
            .request(method, format!("{}/api/v1/{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
    }

    /// Posts message `i` of the Source channel with `content` through `POST /api/v1/events`.
    pub async fn ingest(&self, i: u64, content: &str) {
        let body = json!({"type": "message_create", "guild_id": GUILD, "channel_id": CHANNEL,
            "message_id": (1_400_000_000_000_000_000u64 + i % 1_000_000_000).to_string(),
            "author": {"id": "1400000000000000003", "name": "Bench"}, "content": content,
            "created_at": "2026-11-27T12:00:00Z"});
        self.send(reqwest::Method::POST, "events", body).await;
    }
}

/// A customer with 30 days of the first tier, signed in: the `Cookie` header of their session.
pub async fn customer_cookie(db: &DatabaseConnection) -> String {
    let account = domain::accounts::sign_up(
        db,
        "bench@example.com",
        domain::Secret::new("correct horse battery staple".into()),
    )
    .await
    .unwrap();
    let tier = domain::entitlements::tiers(db).await.unwrap()[0].id;
    domain::entitlements::grant(
        db,
        domain::entitlements::NewGrant {
            user_id: Some(account.id),
            email: account.email.clone(),
            order_id: None,
            tier_id: tier,
            days: 30,
            starts_at: chrono::Utc::now(),
            cause: domain::entitlements::GrantCause::Admin,
            reason: "bench".into(),
            actor: Some("bench".into()),
            amount_minor: None,
            currency: None,
        },
    )
    .await
    .unwrap();
    let (session, _) = domain::sessions::start(db, account.id, "bench").await.unwrap();
    format!("sd_session={}", session.expose())
}

/// The settings that let one account hold every simulated client: the per-account cap (and the
/// process cap above the client count) lifted, so the benchmarks measure fan-out, not the caps.
pub fn lift_feed_caps(settings: &mut std::collections::BTreeMap<String, String>) {
    settings.insert("FEED_MAX_PER_USER".to_owned(), "1000000".to_owned());
    settings.insert("FEED_MAX_CONNECTIONS".to_owned(), "1000000".to_owned());
}
