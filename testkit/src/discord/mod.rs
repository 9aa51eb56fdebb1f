//! A fake Discord that speaks the real v10 wire format (`../shared/reference/discord-api.md`):
//! REST under `/api/v10` (current user, gateway, guild roles and members, member roles, channel
//! messages), OAuth2 (an authorize page and a form-encoded token endpoint that checks PKCE), real
//! a gateway websocket (HELLO, IDENTIFY/READY, heartbeats, dispatches tests push, RESUME,
//! INVALID_SESSION, RECONNECT, close codes on demand), real rate-limit behaviour (per-route buckets with `X-RateLimit-*` headers, a global limit, 429 with
//! `retry_after`, a count of invalid requests), scripted faults, a role hierarchy, and a log of
//! every call for tests to assert on.
//!
//! serenity and `oauth2` reach it through their own HTTP clients: point serenity's
//! `HttpBuilder::proxy` (limiter disabled) and the OAuth URLs at [`FakeDiscord::url`].

mod cdn;
mod gateway;
mod oauth;
mod ratelimit;
mod rest;
mod world;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use gateway::{GUILD_MEMBERS, GUILD_MESSAGES, GUILDS, Gateway, MESSAGE_CONTENT};
pub use ratelimit::Limits;
pub use world::{Call, Channel, Fault, Role, World, snowflake_time};

/// A running fake; it stops when dropped.
pub struct FakeDiscord {
    addr: SocketAddr,
    world: Arc<Mutex<World>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The bot token the fake accepts (`Authorization: Bot <token>`).
pub const BOT_TOKEN: &str = "fake-bot-token";
pub const BOT_USER_ID: u64 = 900_000_000_000_000_001;
pub const CLIENT_ID: &str = "900000000000000001";
pub const CLIENT_SECRET: &str = "fake-client-secret";

impl FakeDiscord {
    /// Listens on 127.0.0.1:`port` (0 picks a free port) with Discord's own limits.
    pub async fn start(port: u16) -> std::io::Result<Self> {
        Self::start_with(port, Limits::discord()).await
    }

    pub async fn start_with(port: u16, limits: Limits) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let world = Arc::new(Mutex::new(World::new(limits)));
        let app = rest::router(world.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeDiscord { addr, world, task })
    }

    /// `http://127.0.0.1:PORT`: serenity's proxy, and the base of the OAuth URLs.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The gateway's websocket URL (also handed out by `GET /api/v10/gateway/bot`).
    pub fn gateway_url(&self) -> String {
        format!("ws://{}/gateway", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Reads or changes the fake's state.
    pub fn with<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.world.lock().unwrap())
    }

    /// A member's current roles (`None` when not a member).
    pub fn member_roles(&self, guild: u64, user: u64) -> Option<Vec<u64>> {
        self.with(|w| w.member_roles(guild, user))
    }

    pub fn calls(&self) -> Vec<Call> {
        self.with(|w| w.calls.clone())
    }

    /// Waits until `cond` holds (checked every 20 ms) or `within` passes; returns whether it held.
    pub async fn wait_for(&self, within: Duration, mut cond: impl FnMut(&World) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.with(|w| cond(w)) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
